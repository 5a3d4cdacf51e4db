"""Helpers shared by test modules (no test module imports another): a fake model, a hook recorder, waits."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from server.history.store import NewDoodle
from server.plugin import Registry
from server.session import Session

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
