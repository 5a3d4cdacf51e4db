"""Helpers shared by test modules (no test module imports another): a fake model, a hook recorder, waits, and
the server in this process (:class:`InProcessServer`, :func:`serving`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import logging
import os
import re
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from server.__main__ import config_from_args, parse_args
from server.app import DoodleServer
from server.assembly import create_server
from server.history.store import NewDoodle
from server.plugin import Registry
from server.session import Session
from server.spawn import Loopback

WORDS = [f"word{i}" for i in range(10)]
#: An ES module's imports: ``import x from "s"``, ``import "s"``, ``export {x} from "s"``, ``import("s")`` (groups
#: ``what``: what is imported; ``spec`` or ``dynamic``: the specifier).
JS_IMPORT = re.compile(
    r"""(?:^|;|\s)(?:import|export)\s+(?P<what>[\w*\s{},$]*?)\s*(?:from\s+)?["'](?P<spec>[^"']+)["']"""
    r"""|import\(\s*["'](?P<dynamic>[^"']+)["']\s*\)""",
    re.MULTILINE,
)


def js_imports(text: str) -> list[tuple[str, str]]:
    """(what is imported, specifier) for each import in an ES module's source."""
    return [((m.group("what") or "").strip(), m.group("spec") or m.group("dynamic")) for m in JS_IMPORT.finditer(text)]


class FakeModel:
    """Deterministic model: scores from the image's ink; fails on dense ink or while ``fail`` is set."""

    name = "fake"

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.labels = WORDS
        self.fail = False
        self.delay_s = delay_s

    def predict(self, images: np.ndarray) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s)
        ink = images.reshape(len(images), -1).astype(np.float64).mean(axis=1)
        if self.fail or (ink > 40).any():
            raise RuntimeError("model exploded")
        probs = np.zeros((len(images), len(self.labels)), np.float32)
        probs[np.arange(len(images)), (ink * 7).astype(int) % len(self.labels)] = 1.0
        return probs


class DrawingRecorder:
    """A feature that records every drawing handed to the drawing hooks: (session id, reason, strokes)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def install(self, registry: Registry) -> None:
        registry.drawing_hook(self.hook)

    async def hook(self, session: Session, reason: str) -> None:
        self.seen.append((session.id, reason, session.strokes))


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15, what: str = "condition") -> None:
    """Poll ``condition`` every 50 ms until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_idle(http: str, timeout_s: float = 30) -> dict[str, Any]:
    """``/healthz`` once no session is open and no drawing is waiting to be stored."""
    health: dict[str, Any] = {}

    def idle() -> bool:
        nonlocal health
        health = get_json(http + "/healthz")
        return health["sessions"] == 0 and health["pending_drawings"] == 0

    await wait_for(idle, timeout_s, "no sessions and no pending drawings")
    return health


def doodle(i: int = 0, *, word: str | None = "cat", guess: str = "cat") -> NewDoodle:
    """A small drawing record (two strokes, two guess lists) for store tests; ``i`` varies it."""
    return NewDoodle(
        session=f"s{i}",
        client="pytest",
        word=word,
        reason="submit",
        started_at=1_700_000_000.25 + i,
        drawing=[[[0, 10.5, 20 + i], [1, 2, 3.125], [0, 16, 40]], [[5], [5], [60]]],
        guesses=[
            {"strokes": 1, "guesses": [{"word": "dog", "score": 0.5}]},
            {"strokes": 2, "guesses": [{"word": guess, "score": 0.123456789}, {"word": "dog", "score": 0.1}]},
        ],
        final=[{"word": guess, "score": 0.123456789}, {"word": "dog", "score": 0.1}],
    )


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """GET ``path``: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


class _Captured(logging.Handler):
    """The server's log lines (as its stderr would show them), kept in memory."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class InProcessServer(Loopback):
    """The server ``python -m server FLAGS`` runs, built from the same flags in this process: no interpreter to
    start and nothing to import again, for tests that are not about processes (workers, signals, SIGKILL, exit
    codes keep :class:`tests.conftest.ServerProcess`).  It runs on an event loop of its own thread, so sync tests
    (blocking HTTP) and asyncio tests use it alike; it offers what those tests use of ``ServerProcess``
    (``port``, ``url``, ``http``, ``healthz``, ``stderr``, ``stop``, ``with``).  For server and client in one event
    loop, as python-websockets' own tests do, use :func:`serving` in an asyncio test."""

    def __init__(self, *flags: str, env: dict[str, str] | None = None) -> None:
        args = server_args(flags, env)
        self._log = _Captured()
        logging.getLogger("doodlestream").addHandler(self._log)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="in-process-server", daemon=True)
        self._thread.start()
        self._stopped = False
        try:
            self.server: DoodleServer = asyncio.run_coroutine_threadsafe(_started(args), self._loop).result(120)
        except BaseException:
            self._shut()
            raise
        self.port = self.server.port

    def stderr(self, *, tail_chars: int = 4000) -> str:
        return "\n".join(self._log.lines)[-tail_chars:]

    def stop(self, *, timeout_s: float = 20.0, check: bool = False) -> int:
        """Close the server as SIGTERM would (every drawing handed to the hooks); 0 once it closed."""
        if not self._stopped:
            self._stopped = True
            asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(timeout_s)
            self._shut()
        return 0

    def _shut(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        logging.getLogger("doodlestream").removeHandler(self._log)

    def __enter__(self) -> InProcessServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_args(flags: tuple[str, ...], env: dict[str, str] | None = None) -> argparse.Namespace:
    """``python -m server --port 0 FLAGS`` parsed with ``env`` set (flags' defaults read it), in memory by default."""
    if "--db" not in flags:
        flags = (*flags, "--db", ":memory:")
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        return parse_args(["--port", "0", *flags])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def _started(args: argparse.Namespace) -> DoodleServer:
    """The server ``python -m server`` runs for ``args``, started in the running loop."""
    server = create_server(config_from_args(args), db=args.db, keep=args.keep)
    try:
        await server.start()
    except BaseException:
        await server.close()
        raise
    return server


class Served(Loopback):
    """A server :func:`serving` runs: its addresses (``url``, ``http``) and the :class:`DoodleServer` itself."""

    def __init__(self, server: DoodleServer) -> None:
        self.server = server
        self.port = server.port


@contextlib.asynccontextmanager
async def serving(*flags: str) -> AsyncIterator[Served]:
    """``python -m server FLAGS``'s server in the running event loop (the test's own): server and client in one
    loop.  The test must not block the loop (no ``urllib``; use ``asyncio.to_thread`` for blocking calls)."""
    server = await _started(server_args(flags))
    try:
        yield Served(server)
    finally:
        await server.close()
