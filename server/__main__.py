"""``python -m server``: run the doodlestream server on the shipped model.

Prints one line ``doodlestream listening on http://HOST:PORT`` once it accepts
connections (``--port 0`` picks a free port; scripts and tests read the line).
SIGTERM and SIGINT stop it: it stops accepting, lets in-flight replies go out, hands
every open drawing to the drawing hooks, closes every socket with 1001, and exits 0.
The exit keeps to ``--shutdown-grace-s`` even when a thread cannot finish (a write stuck on
a frozen disk): the stop waits at most the grace for replies and at most
``--store-timeout-s`` more for the history, plus ``SHUTDOWN_MARGIN_S``; past that, or at
a second SIGTERM/SIGINT, the process leaves at once with status 1, and when every socket
is closed but the interpreter's exit still waits for a thread after ``SHUTDOWN_MARGIN_S``,
with status 0 (``os._exit``), logging why.
It needs no privileges and writes nothing but its logs (stderr); as root it warns.
At start it raises its soft open-file limit to the hard one (``RLIMIT_NOFILE``); a
failed ``accept`` (out of descriptors all the same) is logged as one line, at most
once per :data:`server.admission.REFUSAL_LOG_S`, never as a traceback per attempt.
``--workers N`` runs N such processes on one port (:mod:`server.workers`), without rooms.
``--event-loop`` picks uvloop (the default where installed) or asyncio's own loop; the
server behaves the same on both (the test suite runs on the default, and a test on each).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import fields
from pathlib import Path
from typing import Any

from server import logfilter
from server.admission import REFUSAL_LOG_S, raise_open_file_limit
from server.app import ServerConfig
from server.assembly import create_server
from server.errors import StartupFailed
from server.history.service import KEEP_CHOICES
from server.history.store import DEFAULT_DB
from server.infer import DEFAULT_MODEL_DIR
from server.limits import (
    BATCH_WAIT_MS,
    MAX_BATCH,
    RENDER_THREADS,
    SHUTDOWN_MARGIN_S,
    WORKER_HEARTBEAT_S,
    WORKER_HUNG_S,
    WORKER_RESTART_MAX_S,
    WORKER_RESTART_MIN_S,
    WORKER_STABLE_S,
    Limits,
)
from server.rooms.codes import ALPHABET

EVENT_LOOPS = ("uvloop", "asyncio")


def default_event_loop() -> str:
    """``uvloop`` where it is installed (a dependency except on Windows), else ``asyncio``."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def run_on(event_loop: str, main: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run(main)`` on the event loop named (one of :data:`EVENT_LOOPS`)."""
    if event_loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


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
        "--admin-token",
        default=os.environ.get("DOODLESTREAM_ADMIN_TOKEN") or None,
        help="token that teach/forget with scope 'server' must carry (admin_token); default"
        " $DOODLESTREAM_ADMIN_TOKEN, else none (server-scope words are refused)",
    )
    p.add_argument(
        "--public-gallery",
        action="store_true",
        help="with a token: the gallery, /api/doodles and the drawings' pictures answer without it too",
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
        help="history database: a SQLite file, :memory: to keep nothing after exit, or postgresql://USER@HOST:PORT/DB"
        f" shared by several instances (the postgres extra) (default {DEFAULT_DB})",
    )
    p.add_argument(
        "--keep",
        choices=KEEP_CHOICES,
        default="all",
        help="which drawings the history keeps: all (submitted, cleared, left at disconnect or shutdown; default)"
        " or submitted (only those the player submits)",
    )
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    p.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default=default_event_loop(),
        help="uvloop (libuv; the default where installed: about a tenth less CPU per guess) or asyncio's own",
    )
    p.add_argument("--reuse-port", action="store_true", help="bind with SO_REUSEPORT (set for each worker)")
    # Set by the supervisor for each worker (whose --workers is the whole set's count); None: not a worker.
    p.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--heartbeat-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--worker-hung-s",
        type=float,
        default=WORKER_HUNG_S,
        help=f"--workers: a worker without a heartbeat this long is killed and replaced (default {WORKER_HUNG_S})",
    )
    p.add_argument(
        "--worker-restart-min-s",
        type=float,
        default=WORKER_RESTART_MIN_S,
        help=f"--workers: first wait before replacing a failed worker, doubling (default {WORKER_RESTART_MIN_S})",
    )
    p.add_argument(
        "--worker-restart-max-s",
        type=float,
        default=WORKER_RESTART_MAX_S,
        help=f"--workers: longest wait before replacing a failed worker (default {WORKER_RESTART_MAX_S})",
    )
    p.add_argument(
        "--worker-stable-s",
        type=float,
        default=WORKER_STABLE_S,
        help=f"--workers: a worker up this long resets the back-off (default {WORKER_STABLE_S})",
    )
    p.add_argument(
        "--compression", action="store_true", help="offer permessage-deflate (off: costs memory, saves little)"
    )
    p.add_argument(
        "--room-prefix",
        default=None,
        help="first character of every room code this instance makes (one of "
        f"{ALPHABET}), so that a balancer sends each room's players here (deploy/haproxy.cfg: s1=2, s2=3, s3=4)",
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


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server's options from its flags; :class:`ValueError` for flags that contradict each other."""
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    if args.room_prefix is not None and (len(args.room_prefix) != 1 or args.room_prefix not in ALPHABET):
        raise ValueError(f"--room-prefix must be one character of {ALPHABET}")
    if limits.history_max_bytes < limits.max_record_bytes:
        raise ValueError(
            f"--history-max-bytes ({limits.history_max_bytes}) must be at least"
            f" --max-record-bytes ({limits.max_record_bytes})"
        )
    return ServerConfig(
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
        admin_token=args.admin_token,
        public_gallery=args.public_gallery,
        trusted_proxies=args.trusted_proxies,
        reuse_port=args.reuse_port,
        compression=args.compression,
        worker=args.worker_index or 0,
        workers=args.workers,
        room_prefix=args.room_prefix,
    )


async def main_async(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ValueError as e:
        print(f"python -m server: {e}", file=sys.stderr)
        return 2
    log = logging.getLogger("doodlestream.server")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        log.warning("running as root: it needs no privileges; run it as an unprivileged user (docs/OPERATIONS.md)")
    soft, hard = raise_open_file_limit()
    log.info("open-file limit %d (hard %d)", soft, hard)
    asyncio.get_running_loop().set_exception_handler(_quiet_accept_failures())
    server = create_server(config, db=args.db, keep=args.keep)
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
    beating = asyncio.create_task(_heartbeat(args.heartbeat_fd)) if args.heartbeat_fd is not None else None
    await stop.wait()
    if beating is not None:
        beating.cancel()
    log.info("stopping: %d sessions open", len(server.sessions))
    limit_s = config.limits.shutdown_grace_s + config.limits.store_timeout_s + SHUTDOWN_MARGIN_S
    watchdog = threading.Timer(limit_s, _leave_now, args=(1, f"the stop took more than {limit_s:g} s"))
    watchdog.daemon = True
    watchdog.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _leave_now, 1, "a second signal during the stop")
    await server.close()
    watchdog.cancel()
    # Every socket is closed. The interpreter's exit waits for its threads (one stuck in a write on a frozen disk
    # would hold it until the thaw): if the exit takes longer than the margin, leave without them.
    leaving = threading.Timer(SHUTDOWN_MARGIN_S, _leave_now, args=(0, "a thread still busy after every socket closed"))
    leaving.daemon = True
    leaving.start()
    return 0


def _leave_now(code: int, why: str) -> None:
    """Exit the process at once with ``code`` (no thread is waited for), after logging ``why``."""
    logging.getLogger("doodlestream.server").error("exiting now: %s", why)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _heartbeat(fd: int) -> None:
    """Tell the ``--workers`` supervisor this event loop runs: one byte every ``WORKER_HEARTBEAT_S``."""
    os.set_blocking(fd, False)
    while True:
        try:
            os.write(fd, b".")
        except BlockingIOError:  # the supervisor is behind; it has heard from us recently enough
            pass
        except OSError:  # the supervisor is gone
            return
        await asyncio.sleep(WORKER_HEARTBEAT_S)


def _quiet_accept_failures() -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event-loop exception handler: ``accept`` failures (EMFILE, ...) as one rate-limited line."""
    log = logging.getLogger("doodlestream.server")
    last = -REFUSAL_LOG_S
    skipped = 0

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal last, skipped
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and "accept" in str(context.get("message", ""))):
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - last < REFUSAL_LOG_S:
            skipped += 1
            return
        log.error("accepting a connection failed: %s (%d more since the last report)", exc, skipped)
        last, skipped = now, 0

    return handle


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logfilter.install()  # repeated identical lines are rate-limited: no client can flood the log
    if args.workers < 1:
        print("python -m server: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and args.worker_index is None:
        from server.workers import Health, supervise

        health = Health(args.worker_hung_s, args.worker_restart_min_s, args.worker_restart_max_s, args.worker_stable_s)
        argv = sys.argv[1:] if argv is None else argv
        return supervise(argv, workers=args.workers, host=args.host, port=args.port, health=health)
    try:
        return run_on(args.event_loop, main_async(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
