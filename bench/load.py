"""The load generator: simulated players replaying real drawings against a server.

A *player* is one session that draws the drawings of :mod:`bench.drawings` one after
another: at ``human`` pace each points message is sent when its animation frame was
drawn (the raw data's timing, pauses between strokes included) and a drawing is
followed by ``between_drawings_s`` of thinking; at ``full`` pace nothing waits.  After
every stroke the player sends ``pen_up`` and waits for the guesses; the time from
sending ``pen_up`` to receiving the guesses is the latency recorded (client-measured).

Two clients:

* ``ours``: WebSocket + msgpack (protocol v1): ``points`` per animation frame, then
  ``pen_up``; ``clear`` between drawings.
* ``baseline``: what :mod:`bench.baseline` serves: on pen-up the client renders the
  canvas as a browser would (:func:`render_canvas`: the client-pixel strokes drawn
  with OpenCV on a white RGBA canvas), PNG-encodes it, base64s it into JSON and POSTs
  it (one connection per request, as the original's server did).  The latency is from sending the request to
  the response; the encoding time is recorded apart (``encode_ms``).

Bytes sent per guess are read from the kernel (``TCP_INFO`` bytes acknowledged) on the
player's socket: for ours the frames of points + pen_up since the last guess, for the
baseline the HTTP request.  :func:`run` splits the players over client processes so
the client is not the bottleneck, and reports their CPU time to show it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import cv2
import msgpack
import numpy as np
from websockets.asyncio.client import connect

from bench import drawings as bench_drawings
from bench.metrics import load_summary, summarize, tcp_bytes_acked
from server.quickdraw import Drawing, Stroke

#: Spacing of player start offsets into the drawing list (a prime, so players draw different drawings).
DRAWING_STRIDE = 7_919
#: Line width of the baseline client's canvas, in canvas pixels (a typical drawing app's pen).
BROWSER_LINE_PX = 3
#: Margin right/below the drawing on the baseline client's canvas, in pixels.
BROWSER_MARGIN_PX = 16
#: Smallest side of the baseline client's canvas, in pixels.
BROWSER_MIN_PX = 256
#: zlib level of the baseline client's PNG (libpng's default, like a browser's toDataURL).
PNG_LEVEL = 6
#: Seconds between every client process being ready and the first player starting.
START_LEAD_S = 0.5
#: Longest a player waits for one reply before giving its session up, in seconds.
REPLY_TIMEOUT_S = 30.0
#: Longest a client process may take to load its drawings, in seconds.
CLIENT_TIMEOUT_S = 120.0

PEN_UP = msgpack.packb({"type": "pen_up"})
CLEAR = msgpack.packb({"type": "clear"})


@dataclass(frozen=True)
class LoadSpec:
    """One load run (see module docstring)."""

    url: str
    kind: str = "ours"  # "ours" or "baseline"
    players: int = 1
    pace: str = "full"  # "human" or "full"
    duration_s: float = 10.0
    ramp_s: float = 0.0
    per_word: int = 1
    words: int | None = None
    guesses_per_player: int | None = None
    between_drawings_s: float = 1.0
    compression: bool = False


@dataclass
class PlayerResult:
    """What one player measured."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (completed at, latency ms)
    bytes_sent: list[int] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)
    errors: int = 0
    failed: str | None = None


# ---------------------------------------------------------------- the baseline client's canvas


def canvas_size(d: Drawing) -> tuple[int, int]:
    """Width and height of the canvas a drawing was made on (its extent plus a margin), in client pixels."""
    w = round(max(max(s.x) for s in d.strokes)) + BROWSER_MARGIN_PX
    h = round(max(max(s.y) for s in d.strokes)) + BROWSER_MARGIN_PX
    return max(BROWSER_MIN_PX, w), max(BROWSER_MIN_PX, h)


def blank_browser_canvas(d: Drawing) -> np.ndarray:
    w, h = canvas_size(d)
    return np.full((h, w, 4), 255, np.uint8)


def draw_browser_stroke(canvas: np.ndarray, stroke: Stroke) -> None:
    """Draw one client-pixel stroke in black, antialiased, as a canvas 2D context would."""
    pts = np.rint(np.stack([np.asarray(stroke.x), np.asarray(stroke.y)], axis=1)).astype(np.int32)
    if len(pts) == 1:
        pts = np.concatenate([pts, pts])
    cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, (0, 0, 0, 255), BROWSER_LINE_PX, cv2.LINE_AA)


def render_canvas(canvas: np.ndarray) -> bytes:
    """The canvas as a PNG (what ``canvas.toDataURL('image/png')`` carries)."""
    ok, png = cv2.imencode(".png", canvas, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return bytes(png)


def http_request(host: str, port: int, png: bytes) -> bytes:
    """The baseline's request: JSON with the canvas as a base64 data URL, POSTed to /predict.

    One connection per request, as the original's Flask development server (HTTP/1.0)
    served it; the latency is timed from sending the request, so connecting is not counted."""
    body = json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}).encode()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


async def read_http_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


# ---------------------------------------------------------------- players


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class _Player:
    def __init__(
        self, spec: LoadSpec, idx: int, drawings: list[bench_drawings.Script], start_at: float, end_at: float
    ) -> None:
        self.spec, self.idx, self.drawings = spec, idx, drawings
        self.start_at, self.end_at = start_at, end_at
        self.res = PlayerResult()
        self.human = spec.pace == "human"

    def done(self) -> bool:
        limit = self.spec.guesses_per_player
        return time.monotonic() >= self.end_at or (limit is not None and len(self.res.samples) >= limit)

    def order(self) -> Any:
        k = self.idx * DRAWING_STRIDE
        while True:
            yield self.drawings[k % len(self.drawings)]
            k += 1

    async def run(self) -> PlayerResult:
        await _sleep_until(self.start_at)
        try:
            if self.spec.kind == "ours":
                await self._ours()
            else:
                await self._baseline()
        except Exception as e:  # a failed session is reported, not fatal to the run
            self.res.failed = f"{type(e).__name__}: {e}"[:200]
        return self.res

    async def _ours(self) -> None:
        async with connect(
            self.spec.url,
            compression="deflate" if self.spec.compression else None,
            max_size=None,
            open_timeout=120,
            ping_interval=None,
        ) as ws:
            await ws.recv()  # welcome
            sock = ws.transport.get_extra_info("socket")
            for d in self.order():
                t0 = time.monotonic()
                for chunks in d.chunks:
                    if self.done():
                        return
                    b0 = tcp_bytes_acked(sock)
                    for ch in chunks:
                        if self.human:
                            await _sleep_until(t0 + ch.at_ms / 1000.0)
                        await ws.send(msgpack.packb({"type": "points", "x": ch.x, "y": ch.y, "t": ch.t}))
                    sent = time.perf_counter()
                    await ws.send(PEN_UP)
                    async with asyncio.timeout(REPLY_TIMEOUT_S):
                        reply = msgpack.unpackb(await ws.recv())
                    lat = (time.perf_counter() - sent) * 1000.0
                    if reply.get("type") == "guesses" and len(reply.get("guesses", ())) == 5:
                        self.res.samples.append((time.monotonic(), lat))
                        self.res.bytes_sent.append(tcp_bytes_acked(sock) - b0)
                    else:
                        self.res.errors += 1
                await ws.send(CLEAR)
                await ws.recv()
                if self.human:
                    await asyncio.sleep(self.spec.between_drawings_s)

    async def _baseline(self) -> None:
        u = urlsplit(self.spec.url)
        host, port = u.hostname or "127.0.0.1", int(u.port or 80)
        for d in self.order():
            t0 = time.monotonic()
            canvas = blank_browser_canvas(d.drawing)
            for stroke, chunks in zip(d.drawing.strokes, d.chunks, strict=True):
                if self.done():
                    return
                if self.human:
                    await _sleep_until(t0 + chunks[-1].at_ms / 1000.0)
                draw_browser_stroke(canvas, stroke)
                enc = time.perf_counter()
                req = http_request(host, port, render_canvas(canvas))
                async with asyncio.timeout(REPLY_TIMEOUT_S):  # connecting too: an overloaded server's backlog fills
                    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
                    try:
                        sock = writer.get_extra_info("socket")
                        sent = time.perf_counter()
                        writer.write(req)
                        await writer.drain()
                        status, body = await read_http_response(reader)
                        lat = (time.perf_counter() - sent) * 1000.0
                        acked = tcp_bytes_acked(sock)
                    finally:
                        writer.close()
                if status == 200 and len(json.loads(body).get("guesses", ())) == 5:
                    self.res.samples.append((time.monotonic(), lat))
                    self.res.encode_ms.append((sent - enc) * 1000.0)
                    self.res.bytes_sent.append(acked)
                else:
                    self.res.errors += 1
            if self.human:
                await asyncio.sleep(self.spec.between_drawings_s)


async def _players(
    spec: LoadSpec, ids: list[int], t0: float, drawings: list[bench_drawings.Script]
) -> list[PlayerResult]:
    end_at = t0 + spec.ramp_s + spec.duration_s
    step = spec.ramp_s / spec.players if spec.players else 0.0
    players = [_Player(spec, i, drawings, t0 + i * step, end_at) for i in ids]
    return list(await asyncio.gather(*(p.run() for p in players)))


def _client_process(spec: LoadSpec, ids: list[int], q: Any, go: Any, t0: Any) -> None:
    """Entry of one client process: load the drawings, say ready, wait for the start, play."""
    drawings = bench_drawings.load(spec.per_word, words=spec.words)
    q.put(("ready", None))
    go.wait()
    cpu0 = os.times()
    results = asyncio.run(_players(spec, ids, t0.value, drawings))
    cpu1 = os.times()
    q.put(
        (
            "done",
            {"players": [asdict(r) for r in results], "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)},
        )
    )


def play(spec: LoadSpec, processes: int = 1) -> tuple[list[dict[str, Any]], float, float]:
    """Run the players over ``processes`` client processes: their outputs, the start and the end time."""
    processes = max(1, min(processes, spec.players))
    groups = [list(range(p, spec.players, processes)) for p in range(processes)]
    ctx = mp.get_context("spawn")
    q, go, t0 = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_client_process, args=(spec, g, q, go, t0), daemon=True) for g in groups]
    for pr in procs:
        pr.start()
    outs: list[dict[str, Any]] = []
    try:
        ready = 0
        while ready < processes:
            kind, _ = q.get(timeout=CLIENT_TIMEOUT_S)
            ready += kind == "ready"
        t0.value = start = time.monotonic() + START_LEAD_S
        go.set()
        while len(outs) < processes:
            kind, out = q.get(timeout=CLIENT_TIMEOUT_S + spec.ramp_s + spec.duration_s)
            if kind == "done":
                outs.append(out)
    finally:
        for pr in procs:
            pr.join(10)
            if pr.is_alive():
                pr.kill()
    return outs, start, time.monotonic()


def run(spec: LoadSpec, processes: int = 1) -> dict[str, Any]:
    """Run ``spec`` with its players split over ``processes`` client processes; the summary.

    The window measured starts when the last player has started (``ramp_s``) and ends
    ``duration_s`` later; with ``guesses_per_player`` it is the whole run."""
    outs, t0, wall_end = play(spec, processes)
    players = [PlayerResult(**p) for o in outs for p in o["players"]]
    sessions = [[(float(t), float(lat)) for t, lat in p.samples] for p in players]
    if spec.guesses_per_player is not None:
        every = [s for ss in sessions for s in ss]
        start = min((t - lat / 1000.0 for t, lat in every), default=t0)
        end = max((t for t, _ in every), default=wall_end) + 1e-6
    else:
        start, end = t0 + spec.ramp_s, t0 + spec.ramp_s + spec.duration_s
    out = load_summary(sessions, start, max(end, start + 1e-6))
    out["bytes_per_guess"] = summarize([float(b) for p in players for b in p.bytes_sent])
    if spec.kind == "baseline":
        out["encode_ms"] = summarize([e for p in players for e in p.encode_ms])
    out["guesses_total"] = sum(len(p.samples) for p in players)
    out["errors"] = sum(p.errors for p in players)
    out["failed_sessions"] = [p.failed for p in players if p.failed][:5]
    out["failed_count"] = sum(1 for p in players if p.failed)
    out["client_processes"] = len(outs)
    out["client_cpu_s"] = sum(o["cpu_s"] for o in outs)
    out["latencies_ms"] = [lat for ss in sessions for t, lat in ss if start <= t < end]
    out["spec"] = asdict(spec)
    return out


# ---------------------------------------------------------------- idle sessions (memory)


async def _hold(url: str, n: int, compression: bool, conn: Connection) -> None:
    sem = asyncio.Semaphore(64)
    sockets = []

    async def one() -> None:
        async with sem:
            ws = await connect(
                url, compression="deflate" if compression else None, open_timeout=120, ping_interval=None
            )
            await ws.recv()
            sockets.append(ws)

    got = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    failures = [repr(g) for g in got if isinstance(g, BaseException)]
    conn.send({"open": len(sockets), "failures": failures[:5]})
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def _hold_process(url: str, n: int, compression: bool, conn: Connection) -> None:
    asyncio.run(_hold(url, n, compression, conn))


class IdleSessions:
    """``n`` idle sessions held open by a client process until :meth:`close`."""

    def __init__(self, url: str, n: int, *, compression: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_hold_process, args=(url, n, compression, child), daemon=True)
        self.proc.start()

    def wait_open(self, timeout_s: float = 300) -> dict[str, Any]:
        if not self.conn.poll(timeout_s):
            raise TimeoutError("idle sessions did not open in time")
        out: dict[str, Any] = self.conn.recv()
        return out

    def close(self) -> None:
        self.conn.send("close")
        self.proc.join(60)
        if self.proc.is_alive():
            self.proc.kill()
