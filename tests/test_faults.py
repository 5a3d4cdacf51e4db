"""Faults: a failing model, SIGTERM with drawings open, abrupt disconnects (server/app.py, server/infer.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from replay_client.client import DoodleClient
from server.app import DoodleServer, ServerConfig
from server.session import Session
from tests.conftest import ServerProcess, raw_sample
from tests.fakes import WORDS, FakeModel


@pytest.fixture
async def inproc() -> AsyncIterator[tuple[DoodleServer, FakeModel]]:
    model = FakeModel()
    srv = DoodleServer(ServerConfig(host="127.0.0.1", port=0), model=model)
    await srv.start()
    yield srv, model
    await srv.close()


LINE = {"type": "stroke", "x": [0, 100], "y": [0, 30]}
# A dense zig-zag filling its box: enough ink to make FakeModel fail.
SCRIBBLE = {"type": "stroke", "x": [float(i % 2) * 100 for i in range(400)], "y": [i / 4 for i in range(400)]}


async def test_a_failing_model_call_answers_inference_failed_and_the_server_goes_on(inproc) -> None:
    """A model exception answers that request with inference_failed; the same and other sessions keep working."""
    srv, model = inproc
    url = f"ws://127.0.0.1:{srv.port}/ws"
    async with DoodleClient(url) as a, DoodleClient(url) as b:
        model.fail = True
        err = await a.request({**LINE, "seq": 1})
        assert err["type"] == "error" and err["code"] == "inference_failed" and err["seq"] == 1
        model.fail = False
        ok = await a.request({"type": "undo"})
        assert ok["type"] == "guesses" and ok["strokes"] == 0
        # The poison drawing and a good one in flight together: only the poison one fails.
        poison, good = await asyncio.gather(a.request(SCRIBBLE), b.request(LINE))
        assert poison["code"] == "inference_failed", poison
        assert good["type"] == "guesses" and good["guesses"][0]["word"] in WORDS
        again = await b.request({"type": "undo"})
        assert again["type"] == "guesses"
    assert srv.batcher.stats.failures >= 2


async def test_live_guess_failures_do_not_break_the_session(inproc) -> None:
    """A live classification that fails is skipped; pen-up still answers."""
    srv, model = inproc
    async with DoodleClient(f"ws://127.0.0.1:{srv.port}/ws") as c:
        await c.request({"type": "hello", "live_ms": 50})
        model.fail = True
        for i in range(10):
            await c.points([i * 10], [i * 3])
            await asyncio.sleep(0.02)
        model.fail = False
        r = await c.pen_up(seq=3)
        assert r["type"] == "guesses" and r["seq"] == 3 and r["strokes"] == 1


async def test_shutdown_finishes_in_flight_guesses_hands_open_drawings_to_hooks_and_closes_1001() -> None:
    """close(): the request being classified is answered, every drawing with strokes reaches the hooks as
    "shutdown" (pending strokes included, empty ones not), sockets close with 1001, new connects fail."""
    model = FakeModel(delay_s=0.4)
    srv = DoodleServer(ServerConfig(host="127.0.0.1", port=0), model=model)
    seen: list[tuple[str, str, int]] = []

    async def hook(session: Session, reason: str) -> None:
        seen.append((session.id, reason, session.strokes))

    srv.drawing_hooks.append(hook)
    await srv.start()
    url = f"ws://127.0.0.1:{srv.port}/ws"
    busy, pending, empty = DoodleClient(url), DoodleClient(url), DoodleClient(url)
    for c in (busy, pending, empty):
        await c.connect()
    await pending.points([0, 10, 20], [0, 5, 0])  # a stroke without pen-up
    await busy.send({**LINE, "seq": 42})
    while srv.batcher.in_flight == 0 and srv.batcher.stats.requests == 0:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # pending's points were handled long ago; busy's stroke is in the model
    closing = asyncio.create_task(srv.close())
    reply = await busy.reply()
    assert reply["type"] == "guesses" and reply["seq"] == 42 and reply["strokes"] == 1
    codes = []
    for c in (busy, pending, empty):
        with pytest.raises(ConnectionClosed) as exc:
            await c.recv()
        assert exc.value.rcvd is not None
        codes.append(exc.value.rcvd.code)
    await closing
    assert codes == [1001, 1001, 1001]
    ids = {c.welcome["session"]: c for c in (busy, pending, empty)}
    got = {sid: (reason, n) for sid, reason, n in seen}
    assert got == {busy.welcome["session"]: ("shutdown", 1), pending.welcome["session"]: ("shutdown", 1)}, (got, ids)
    with pytest.raises(OSError):
        await connect(url, open_timeout=2)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


async def test_sigterm_stops_a_real_server_with_1001_and_exit_0() -> None:
    """SIGTERM on `python -m server`: open sockets (one mid-request) close with 1001, it logs the open
    drawings it handed to the hooks, stops listening and exits 0."""
    srv = ServerProcess()
    try:
        d = raw_sample()[3]
        a, b = DoodleClient(srv.url), DoodleClient(srv.url)
        await a.connect()
        await b.connect()
        for xs, ys, ts in d["drawing"]:
            await a.request({"type": "stroke", "x": xs, "y": ys, "t": ts})
        await b.points([0, 1, 2], [3, 4, 5])
        # Many strokes in flight when the signal lands: each one read gets its reply, then 1001.
        for i in range(30):
            await a.send({"type": "stroke", "x": [i, i + 50], "y": [0, 40], "seq": i})
        t = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        replies = []
        with pytest.raises(ConnectionClosed) as exc:
            while True:
                replies.append(await a.reply())
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1001
        assert all(r["type"] == "guesses" for r in replies) and [r["seq"] for r in replies] == list(range(len(replies)))
        with pytest.raises(ConnectionClosed) as exc:
            await b.recv()
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1001
        assert srv.proc.wait(20) == 0
        assert time.monotonic() - t < 5  # no socket waited out a close timeout
        assert "stopped: 2 open drawings handed" in srv.stderr()
    finally:
        srv.stop()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def abrupt_cycle(url: str, i: int, d: dict) -> None:
    """Connect, draw part of a real drawing, and drop the TCP connection without a close frame:
    mid-stroke (points sent), mid-inference (stroke just sent) or after a reply, by turns."""
    ws = await connect(url, compression=None, max_size=None, open_timeout=20)
    try:
        await ws.recv()
        strokes = d["drawing"]
        for xs, ys, ts in strokes[:-1]:
            await ws.send(msgpack.packb({"type": "stroke", "x": xs, "y": ys, "t": ts}))
            await ws.recv()
        xs, ys, ts = strokes[-1]
        if i % 3 == 0:
            await ws.send(msgpack.packb({"type": "points", "x": xs, "y": ys, "t": ts}))
        elif i % 3 == 1:
            await ws.send(msgpack.packb({"type": "stroke", "x": xs, "y": ys, "t": ts}))
        else:
            await ws.send(msgpack.packb({"type": "hello", "live_ms": 50}))
            await ws.recv()
            await ws.send(msgpack.packb({"type": "points", "x": xs, "y": ys, "t": ts}))
            await asyncio.sleep(0.01)
    finally:
        ws.transport.abort()


async def run_cycles(url: str, n: int, sample: list[dict], concurrency: int = 10) -> None:
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await abrupt_cycle(url, i, sample[i % len(sample)])

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def wait_sessions_zero(http: str, timeout_s: float = 15) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        n = get_json(http + "/healthz")["sessions"]
        if n == 0 or time.monotonic() > deadline:
            return int(n)
        await asyncio.sleep(0.1)


async def test_1000_abrupt_disconnects_leave_no_sessions_and_no_memory_behind(tmp_path: Path) -> None:
    """1,000 connect/draw/abort cycles (mid-stroke, mid-inference, mid-live): /healthz sessions back to 0
    and the server's RSS within 5% of its level after a warm-up (the drawings kept go to a file database)."""
    srv = ServerProcess("--db", str(tmp_path / "cycles.sqlite3"))
    try:
        sample = [d for d in raw_sample()[:60] if len(d["drawing"]) <= 6]
        await run_cycles(srv.url, 300, sample)  # warm-up: allocator pools, interpreter buckets
        assert await wait_sessions_zero(srv.http) == 0
        before = rss_kib(srv.proc.pid)
        t = time.monotonic()
        await run_cycles(srv.url, 1000, sample)
        elapsed = time.monotonic() - t
        assert await wait_sessions_zero(srv.http) == 0
        after = rss_kib(srv.proc.pid)
        print(
            f"1000 abrupt cycles in {elapsed:.1f} s: server RSS {before} KiB -> {after} KiB ({after / before - 1:+.1%})"
        )
        assert after <= before * 1.05
        assert get_json(srv.http + "/healthz")["status"] == "ok"
        assert os.path.exists(f"/proc/{srv.proc.pid}") and srv.proc.poll() is None
    finally:
        assert srv.stop() == 0
