"""``python -m server``: run the doodlestream server on the shipped model.

Prints one line ``doodlestream listening on http://HOST:PORT`` once it accepts
connections (``--port 0`` picks a free port; scripts and tests read the line).
SIGTERM and SIGINT stop it: it stops accepting, lets in-flight replies go out, hands
every open drawing to the drawing hooks, closes every socket with 1001, and exits 0.
It needs no privileges and writes nothing but its logs (stderr); as root it warns.
``--workers N`` runs N such processes on one port (:mod:`server.workers`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import fields
from pathlib import Path

from server import logfilter
from server.app import ServerConfig
from server.assembly import create_server
from server.errors import StartupFailed
from server.history.store import DEFAULT_DB
from server.infer import DEFAULT_MODEL_DIR
from server.limits import BATCH_WAIT_MS, MAX_BATCH, RENDER_THREADS, Limits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m server", description="Real-time doodle recognition over WebSocket.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model directory (default: the shipped model)")
    p.add_argument("--max-batch", type=int, default=MAX_BATCH, help="micro-batch size cap, in requests")
    p.add_argument("--batch-wait-ms", type=float, default=BATCH_WAIT_MS, help="micro-batch deadline, in ms")
    p.add_argument("--model-threads", type=int, default=1, help="threads of the model interpreter")
    p.add_argument(
        "--render-threads",
        type=int,
        default=RENDER_THREADS,
        help=f"threads rendering strokes and pictures off the event loop (default {RENDER_THREADS})",
    )
    p.add_argument(
        "--origin",
        action="append",
        dest="origins",
        help="browser Origin allowed on /ws besides the server's own host (repeatable; '*' allows any)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("DOODLESTREAM_TOKEN") or None,
        help="shared token /ws requires (?token= or Authorization: Bearer); default $DOODLESTREAM_TOKEN, else none",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        help="address of a reverse proxy whose X-Forwarded-For names the client (repeatable)",
    )
    p.add_argument(
        "--db",
        default=DEFAULT_DB,
        help=f"history database: a SQLite file, or :memory: to keep nothing after exit (default {DEFAULT_DB})",
    )
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--reuse-port", action="store_true", help="bind with SO_REUSEPORT (set for each worker)")
    p.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument(
        "--compression", action="store_true", help="offer permessage-deflate (off: costs memory, saves little)"
    )
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    for f in fields(Limits):
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            type=type(f.default),
            default=f.default,
            help=f"limit {f.name} (default {f.default})",
        )
    return p.parse_args(argv)


async def main_async(args: argparse.Namespace) -> int:
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    config = ServerConfig(
        host=args.host,
        port=args.port,
        model_dir=args.model,
        limits=limits,
        max_batch=args.max_batch,
        batch_wait_ms=args.batch_wait_ms,
        model_threads=args.model_threads,
        render_threads=args.render_threads,
        origins=args.origins,
        token=args.token,
        trusted_proxies=args.trusted_proxies,
        reuse_port=args.reuse_port,
        compression=args.compression,
        worker=args.worker_index,
    )
    log = logging.getLogger("doodlestream.server")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        log.warning("running as root: it needs no privileges; run it as an unprivileged user (docs/OPERATIONS.md)")
    server = create_server(config, db=args.db)
    try:
        await server.start()
    except StartupFailed as e:
        print(e, file=sys.stderr)
        await server.close()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host = config.host if ":" not in config.host else f"[{config.host}]"
    print(f"doodlestream listening on http://{host}:{server.port} (model {server.model.name})", flush=True)
    await stop.wait()
    log.info("stopping: %d sessions open", len(server.sessions))
    await server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logfilter.install()  # repeated identical lines are rate-limited: no client can flood the log
    if args.workers < 1:
        print("python -m server: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        from server.workers import supervise

        return supervise(sys.argv[1:] if argv is None else argv, workers=args.workers, host=args.host, port=args.port)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
