"""Streaming Quick, Draw! drawings through a server at recorded speed.

Drawings come from :mod:`server.quickdraw` (formats, reading, selection with
``per_word``/``limit``/``seed``); this module only plays them.

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
import dataclasses
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed

from replay_client.client import DoodleClient, Msg
from replay_client.metrics import DrawingResult
from server.quickdraw import Drawing, Stroke

#: Pen speed given to drawings without times, in 0..255-frame units per ms (raw-set median).
SYNTH_PEN_UNITS_PER_MS = 0.19
#: Pause between strokes given to drawings without times, in ms (raw-set median).
SYNTH_PEN_UP_MS = 436
#: Longest wait for one reply before the drawing is counted as rejected, in seconds.
REPLY_TIMEOUT_S = 30.0
#: ``--target`` value meaning "each drawing's own word".
AUTO_TARGET = "auto"
#: Share of the server's message rate and burst a player allows itself.
RATE_MARGIN = 0.9


# ------------------------------------------------------------------ timing


def synthesise_times(drawing: Drawing) -> Drawing:
    """``drawing`` itself when it has times, else a copy with plausible ones (see module docstring)."""
    if drawing.timed:
        return drawing
    xs = [x for s in drawing.strokes for x in s.x]
    ys = [y for s in drawing.strokes for y in s.y]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    to_units = 255.0 / span
    out: list[Stroke] = []
    t = 0.0
    for k, s in enumerate(drawing.strokes):
        if k:
            t += SYNTH_PEN_UP_MS
        ts = [round(t)]
        for i in range(1, len(s)):
            t += math.hypot(s.x[i] - s.x[i - 1], s.y[i] - s.y[i - 1]) * to_units / SYNTH_PEN_UNITS_PER_MS
            ts.append(round(t))
        out.append(Stroke(s.x, s.y, tuple(ts)))
    return dataclasses.replace(drawing, strokes=tuple(out))


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


def batches(ts: tuple[int, ...], batch_ms: float, max_points: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` index ranges of a stroke's times ``ts``: one point each, or runs within ``batch_ms``."""
    i = 0
    while i < len(ts):
        j = i + 1
        if batch_ms > 0:
            while j < len(ts) and j - i < max_points and ts[j] - ts[i] < batch_ms:
                j += 1
        yield i, j
        i = j


async def stream(
    send: Callable[[Msg], Awaitable[Any]],
    pacer: Pacer,
    drawing: Drawing,
    *,
    speed: float,
    batch_ms: float,
    max_points: int,
    end_stroke: Callable[[], Awaitable[Any]],
) -> None:
    """Send the timed ``drawing``'s points with ``send`` as ``points`` messages, each when its last point was
    drawn (divided by ``speed``; ``0``: at once) and under ``pacer``, and ``await end_stroke()`` after each stroke."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    t_first = drawing.strokes[0].t[0] if drawing.strokes and drawing.strokes[0].t else 0
    for stroke in drawing.strokes:
        xs, ys, ts = stroke.x, stroke.y, stroke.t or ()
        for i, j in batches(ts, batch_ms, max_points):
            if speed > 0:
                delay = start + (ts[j - 1] - t_first) / 1000.0 / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await pacer.take()
            await send({"type": "points", "x": list(xs[i:j]), "y": list(ys[i:j]), "t": list(ts[i:j])})
        await pacer.take()
        await end_stroke()


def describe(reply: Msg) -> str:
    if reply.get("type") == "error":
        return f"{reply.get('code')}: {reply.get('message')}"
    return f"unexpected reply {reply.get('type')!r}"


async def play(
    client: DoodleClient,
    pacer: Pacer,
    drawing: Drawing,
    *,
    speed: float,
    batch_ms: float,
    target: str | None = None,
    live_ms: int = 0,
) -> DrawingResult:
    """Stream ``drawing`` through ``client``'s session; what the server answered.

    A drawing without times gets :func:`synthesise_times`.  ``ConnectionClosed``
    propagates (the caller records it and reconnects); errors and timeouts are
    recorded in the result.  With a ``target`` (:data:`AUTO_TARGET`: the drawing's own
    word) the session is told it before the drawing, and the server's ``recognized``
    (if any) is recorded: a last ``hello`` repeating the target makes sure it arrived.
    """
    drawing = synthesise_times(drawing)
    word = drawing.word if target == AUTO_TARGET else target
    result = DrawingResult(word=drawing.word, strokes=len(drawing.strokes), source=drawing.source, target=word)
    max_points = int(client.welcome.get("limits", {}).get("max_points_per_message", 2048))
    client.live.clear()
    client.errors.clear()
    await pacer.take()
    async with asyncio.timeout(REPLY_TIMEOUT_S):
        cleared = await client.call({"type": "clear"})
    if cleared.get("type") != "cleared":
        result.errors.append(f"clear: {describe(cleared)}")
    if word is not None:
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            hello = await client.call({"type": "hello", "live_ms": live_ms, "target": word})
        if hello.get("type") != "hello":
            result.errors.append(f"hello target: {describe(hello)}")
    client.recognized.clear()

    async def pen_up() -> None:
        sent = time.perf_counter()
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            reply = await client.call({"type": "pen_up"})
        if reply.get("type") == "guesses":
            result.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
            result.guesses.append([str(g["word"]) for g in reply.get("guesses", [])])
            result.scores = [float(g["score"]) for g in reply.get("guesses", [])]
        else:
            result.errors.append(f"pen-up {len(result.guesses) + 1}: {describe(reply)}")

    await stream(client.send, pacer, drawing, speed=speed, batch_ms=batch_ms, max_points=max_points, end_stroke=pen_up)
    if word is not None:
        async with asyncio.timeout(REPLY_TIMEOUT_S):  # every recognized of this drawing arrives before its reply
            await client.call({"type": "hello", "live_ms": live_ms, "target": word})
        mine = [m for m in client.recognized if m.get("word") == word]
        result.recognized_ms = int(mine[0]["ms"]) if mine else None
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
    #: ``hello.words`` (``None``: every word).
    words: list[str] | None = None
    #: ``hello.target`` for every drawing; :data:`AUTO_TARGET`: each drawing's own word.
    target: str | None = None


async def open_player(url: str, opts: RunOptions) -> tuple[DoodleClient, Pacer]:
    """A connected client (``hello`` sent) and its pacer."""
    client = DoodleClient(url, open_timeout_s=opts.open_timeout_s)
    await client.connect()
    pacer = Pacer(client.welcome.get("limits", {}))
    await pacer.take()
    msg: Msg = {"type": "hello", "client": "replay", "live_ms": opts.live_ms}
    if opts.words is not None:
        msg["words"] = opts.words
    hello = await client.call(msg)
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
                res = await play(
                    client,
                    pacer,
                    d,
                    speed=opts.speed,
                    batch_ms=opts.batch_ms,
                    target=opts.target,
                    live_ms=opts.live_ms,
                )
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
