"""Reading Quick, Draw! drawings and streaming them through a server at recorded speed.

Data: ndjson files, one drawing per line (``{"word": ..., "drawing": [[x...], [y...], [t...]?]}``),
plain or gzipped, raw (with ``t``, ms since the drawing began) or simplified (without).
A path is one file or a folder of ``*.ndjson`` / ``*.ndjson.gz``.

Selection (:func:`select`): the first ``per_word`` drawings of every file, interleaved
file by file (word 1's first, word 2's first, ..., word 1's second, ...) so that a
``limit`` still spans the words; ``seed`` shuffles that selection.  Deterministic.

Timing: raw drawings are replayed at their recorded times divided by ``speed`` (``0``:
no waiting).  Simplified drawings carry no times, so :func:`synthesise_times` gives
them plausible ones measured on the raw set (coordinates scaled to 0..255): the pen
moves at :data:`SYNTH_PEN_UNITS_PER_MS` along each stroke and rests
:data:`SYNTH_PEN_UP_MS` between strokes (the medians of raw drawings).

Streaming (:func:`play`): one player = one connection; each drawing starts with
``clear``, sends its points one per ``points`` message (or grouped by ``batch_ms`` of
recorded time, like a browser's animation frame), and a numbered ``pen_up`` after each
stroke, whose reply is awaited and timed.  The player paces itself under the
server's advertised message rate (``welcome.limits``) so that speed 0 never trips the
rate limit.  Every drawing yields a :class:`DrawingResult`; errors, timeouts and lost
connections are recorded in it, never raised.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from replay_client.client import DoodleClient, Msg
from replay_client.metrics import DrawingResult

#: Pen speed given to drawings without times, in 0..255-frame units per ms (raw-set median).
SYNTH_PEN_UNITS_PER_MS = 0.19
#: Pause between strokes given to drawings without times, in ms (raw-set median).
SYNTH_PEN_UP_MS = 436
#: Longest wait for one reply before the drawing is counted as rejected, in seconds.
REPLY_TIMEOUT_S = 30.0
#: Share of the server's message rate and burst a player allows itself.
RATE_MARGIN = 0.9

Stroke = tuple[list[float], list[float], list[int]]


@dataclass(frozen=True)
class Drawing:
    """One drawing to replay; ``timed`` is False when its times were synthesised."""

    word: str
    strokes: list[Stroke]
    timed: bool
    source: str

    @property
    def duration_ms(self) -> int:
        """Recorded time from the first point to the last."""
        if not self.strokes:
            return 0
        return self.strokes[-1][2][-1] - self.strokes[0][2][0]


class DataError(ValueError):
    """A data file or line that is not Quick, Draw! ndjson."""


# ------------------------------------------------------------------ reading


def data_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.ndjson``/``*.ndjson.gz`` files of a folder, sorted."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith((".ndjson", ".ndjson.gz")))
        if not files:
            raise DataError(f"{path} holds no .ndjson or .ndjson.gz files")
        return files
    raise DataError(f"{path} does not exist")


def synthesise_times(xy: list[tuple[list[float], list[float]]]) -> list[Stroke]:
    """Plausible times for strokes without them (see module docstring)."""
    xs = [x for sx, _ in xy for x in sx]
    ys = [y for _, sy in xy for y in sy]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9) if xs else 1.0
    to_units = 255.0 / span
    out: list[Stroke] = []
    t = 0.0
    for k, (sx, sy) in enumerate(xy):
        if k:
            t += SYNTH_PEN_UP_MS
        ts = [round(t)]
        for i in range(1, len(sx)):
            t += math.hypot(sx[i] - sx[i - 1], sy[i] - sy[i - 1]) * to_units / SYNTH_PEN_UNITS_PER_MS
            ts.append(round(t))
        out.append((list(map(float, sx)), list(map(float, sy)), ts))
    return out


def parse_drawing(line: str, source: str, fallback_word: str) -> Drawing:
    """One ndjson line -> :class:`Drawing`, or :class:`DataError` saying what is wrong."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{source}: not JSON ({e.msg})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("drawing"), list):
        raise DataError(f"{source}: no 'drawing' list")
    word = obj.get("word", fallback_word)
    if not isinstance(word, str) or not word:
        raise DataError(f"{source}: 'word' must be a non-empty string")
    strokes = obj["drawing"]
    timed = bool(strokes) and all(isinstance(s, list) and len(s) == 3 for s in strokes)
    xy: list[tuple[list[float], list[float]]] = []
    for j, s in enumerate(strokes):
        if not isinstance(s, list) or len(s) not in (2, 3) or (len(s) == 3) != timed:
            raise DataError(f"{source}: stroke {j + 1} must be [x, y] or [x, y, t] like the others")
        if not all(isinstance(v, list) and len(v) == len(s[0]) for v in s) or not s[0]:
            raise DataError(f"{source}: stroke {j + 1} has lists of different lengths or no points")
        if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for v in s for n in v):
            raise DataError(f"{source}: stroke {j + 1} holds a value that is not a number")
        xy.append((s[0], s[1]))
    if timed:
        out = [(list(map(float, s[0])), list(map(float, s[1])), [round(t) for t in s[2]]) for s in strokes]
        return Drawing(word, out, True, source)
    return Drawing(word, synthesise_times(xy), False, source)


def read_file(path: Path) -> Iterator[Drawing]:
    """The drawings of one file, in order; ``source`` is ``name#line``."""
    fallback = path.name.removesuffix(".gz").removesuffix(".ndjson")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield parse_drawing(line, f"{path.name}#{n}", fallback)


def select(
    path: Path, *, per_word: int | None = None, limit: int | None = None, seed: int | None = None
) -> list[Drawing]:
    """The drawings to replay (see module docstring: selection)."""
    streams = [itertools.islice(read_file(f), per_word) for f in data_files(path)]
    order: Iterator[Drawing] = (d for group in itertools.zip_longest(*streams) for d in group if d is not None)
    if seed is None:
        return list(itertools.islice(order, limit))
    chosen = list(order)
    random.Random(seed).shuffle(chosen)
    return chosen[:limit]


# ------------------------------------------------------------------ streaming


class Pacer:
    """Client-side token bucket below the server's message rate limit."""

    def __init__(self, limits: dict[str, Any]) -> None:
        self.rate = float(limits.get("max_messages_per_second", 1000)) * RATE_MARGIN
        self.burst = max(1.0, float(limits.get("message_burst", 1)) * RATE_MARGIN / 2)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self.tokens) / self.rate)


def batches(stroke: Stroke, batch_ms: float, max_points: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` index ranges: one point each, or runs within ``batch_ms`` of recorded time."""
    _, _, ts = stroke
    i = 0
    while i < len(ts):
        j = i + 1
        if batch_ms > 0:
            while j < len(ts) and j - i < max_points and ts[j] - ts[i] < batch_ms:
                j += 1
        yield i, j
        i = j


def describe(reply: Msg) -> str:
    if reply.get("type") == "error":
        return f"{reply.get('code')}: {reply.get('message')}"
    return f"unexpected reply {reply.get('type')!r}"


async def play(client: DoodleClient, pacer: Pacer, drawing: Drawing, *, speed: float, batch_ms: float) -> DrawingResult:
    """Stream ``drawing`` through ``client``'s session; what the server answered.

    ``ConnectionClosed`` propagates (the caller records it and reconnects); errors and
    timeouts are recorded in the result.
    """
    result = DrawingResult(word=drawing.word, strokes=len(drawing.strokes), source=drawing.source)
    max_points = int(client.welcome.get("limits", {}).get("max_points_per_message", 2048))
    client.live.clear()
    client.errors.clear()
    await pacer.take()
    async with asyncio.timeout(REPLY_TIMEOUT_S):
        cleared = await client.call({"type": "clear"})
    if cleared.get("type") != "cleared":
        result.errors.append(f"clear: {describe(cleared)}")
    loop = asyncio.get_running_loop()
    start = loop.time()
    t_first = drawing.strokes[0][2][0] if drawing.strokes else 0
    for stroke in drawing.strokes:
        xs, ys, ts = stroke
        for i, j in batches(stroke, batch_ms, max_points):
            if speed > 0:
                delay = start + (ts[j - 1] - t_first) / 1000.0 / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await pacer.take()
            await client.send({"type": "points", "x": xs[i:j], "y": ys[i:j], "t": ts[i:j]})
        await pacer.take()
        sent = time.perf_counter()
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            reply = await client.call({"type": "pen_up"})
        if reply.get("type") == "guesses":
            result.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
            result.guesses.append([str(g["word"]) for g in reply.get("guesses", [])])
            result.scores = [float(g["score"]) for g in reply.get("guesses", [])]
        else:
            result.errors.append(f"pen-up {len(result.guesses) + 1}: {describe(reply)}")
    result.errors.extend(describe(e) for e in client.errors)
    result.live = len(client.live)
    return result


@dataclass
class RunOptions:
    """How to replay (the CLI's options)."""

    speed: float = 0.0
    concurrency: int = 1
    batch_ms: float = 0.0
    live_ms: int = 0
    open_timeout_s: float = 10.0


async def open_player(url: str, opts: RunOptions) -> tuple[DoodleClient, Pacer]:
    """A connected client (``hello`` sent) and its pacer."""
    client = DoodleClient(url, open_timeout_s=opts.open_timeout_s)
    await client.connect()
    pacer = Pacer(client.welcome.get("limits", {}))
    await pacer.take()
    hello = await client.call({"type": "hello", "client": "replay", "live_ms": opts.live_ms})
    if hello.get("type") != "hello":
        await client.close()
        raise ConnectionError(f"hello refused: {describe(hello)}")
    return client, pacer


async def replay_all(
    url: str,
    drawings: list[Drawing],
    opts: RunOptions,
    on_result: Callable[[int, DrawingResult], None] | None = None,
) -> list[DrawingResult]:
    """Replay every drawing with ``opts.concurrency`` players; one result per drawing, in order."""
    results: list[DrawingResult | None] = [None] * len(drawings)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(drawings)):
        queue.put_nowait(i)

    async def player() -> None:
        client: DoodleClient | None = None
        pacer: Pacer | None = None
        while not queue.empty():
            i = queue.get_nowait()
            d = drawings[i]
            try:
                if client is None or pacer is None:
                    client, pacer = await open_player(url, opts)
                res = await play(client, pacer, d, speed=opts.speed, batch_ms=opts.batch_ms)
            except (ConnectionClosed, OSError, TimeoutError) as e:
                res = DrawingResult(word=d.word, strokes=len(d.strokes), source=d.source)
                why = f"no reply within {REPLY_TIMEOUT_S:g} s" if isinstance(e, TimeoutError) else str(e)
                res.errors.append(f"connection: {type(e).__name__}: {why}")
                if client is not None:
                    await client.close()
                client = pacer = None
            results[i] = res
            if on_result is not None:
                on_result(i, res)
        if client is not None:
            await client.close()

    await asyncio.gather(*(player() for _ in range(max(1, min(opts.concurrency, len(drawings))))))
    assert all(r is not None for r in results), "every drawing yields a result"
    return [r for r in results if r is not None]
