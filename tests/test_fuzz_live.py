"""Live fuzzing: 20,000 hostile frames against a real server, beside a well-behaved session.

Frames come from seeded generators (random bytes and text, truncated msgpack and JSON, wrong
types, NaN/inf/huge/negative numbers, deep nesting, arrays at and past the limits, maps of
too many keys, msgpack ext types, JSON in binary frames and msgpack in text frames, images
that are not images).  Each frame's expected error code comes from decoding it locally
with the same protocol module (and rendering its image, if any): every frame must be
hostile, and the live server must answer every one with exactly that error.  Each
hostile connection is closed with 1008 after ``max_errors_in_a_row`` errors and reconnects.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from replay_client.client import DoodleClient
from server import protocol, teach_protocol
from server.errors import ClientFault
from server.history import messages as history_messages
from server.limits import Limits
from server.render import render_image
from tests.conftest import ServerProcess, raw_sample

L = Limits()
N_MESSAGES = 20_000
N_CONNECTIONS = 4
WINDOW = 16  # frames in flight per hostile connection
PARSERS = {**protocol.CORE_PARSERS, **history_messages.PARSERS, **teach_protocol.PARSERS}
TYPES = sorted(PARSERS)


def pack(m: object) -> bytes:
    return msgpack.packb(m, use_bin_type=True)


def bad_number(rng: random.Random) -> object:
    return rng.choice(
        [math.nan, math.inf, -math.inf, 1e10, -1e10, 2.0**70, -(2**63), 2**64 - 1, 1e308, -1e-320, "1", None, [], {}]
    )


def hostile(rng: random.Random) -> bytes | str:
    """One hostile frame (see module docstring)."""
    kind = rng.randrange(16)
    n = rng.randrange(1, 40)
    good: dict = {
        "type": "stroke",
        "x": [rng.uniform(-500, 500) for _ in range(n)],
        "y": [rng.random() for _ in range(n)],
    }
    if rng.random() < 0.5:
        good["seq"] = rng.randrange(-(2**63), 2**63)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 300))
    if kind == 1:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(0, 80)))
    if kind == 2:
        frame = pack(good)
        return frame[: rng.randrange(0, len(frame))]
    if kind == 3:
        text = json.dumps(good)
        return text[: rng.randrange(0, len(text))]
    if kind == 4:  # wrong types
        m = dict(good)
        key = rng.choice(["x", "y", "t", "seq", "type"])
        m[key] = rng.choice([None, True, "x", 1.5, {"a": 1}, [[1, 2]], [True], ["1"], b"\x00", 2**64 - 1])
        if key == "seq" and isinstance(m[key], int) and not isinstance(m[key], bool):
            m[key] = 1.5
        return pack(m) if rng.random() < 0.7 else json.dumps(m, default=lambda b: "bytes")
    if kind == 5:  # NaN / inf / huge / negative where they are not allowed
        m = dict(good)
        i = rng.randrange(n)
        if rng.random() < 0.3:
            m["t"] = [rng.randrange(0, 1000) for _ in range(n)]
            m["t"][i] = rng.choice([-1, -(2**40), 2**41, math.nan, math.inf])
        else:
            key = rng.choice(["x", "y"])
            m[key] = list(m[key])
            m[key][i] = bad_number(rng)
        return pack(m)
    if kind == 6:  # lengths that differ
        m = dict(good)
        m["y"] = m["y"][: rng.randrange(0, n)]
        return pack(m) if rng.random() < 0.5 else json.dumps(m)
    if kind == 7:  # deep nesting
        depth = rng.choice([600, 5_000, 50_000])
        if rng.random() < 0.5:
            return pack({"type": "points"})[:-7] + b"\xa1x" + b"\x91" * depth + b"\xc0"
        return '{"type": "points", "x": ' + "[" * depth + "]" * depth + "}"
    if kind == 8:  # arrays at and past the limits
        over = L.max_points_per_message + rng.randrange(1, 20)
        if rng.random() < 0.5:
            return pack({"type": "points", "x": [1.0] * over, "y": [2.0] * over})
        if rng.random() < 0.5:
            return pack(
                {"type": "points", "x": [1] * L.max_points_per_message, "y": [2] * (L.max_points_per_message - 1)}
            )
        return pack({"type": "points", "x": [0] * (L.max_points_per_message * 4 + 1), "y": []})
    if kind == 9:  # unknown, missing or non-string types
        m = dict(good)
        if rng.random() < 0.3:
            del m["type"]
        else:
            m["type"] = rng.choice(["", "POINTS", "pen-up", "x" * 500, 7, None, ["stroke"], "stroke\x00"])
        return pack(m)
    if kind == 10:  # text vs binary: JSON bytes in a binary frame, msgpack as text
        if rng.random() < 0.5:
            return json.dumps(good).encode()
        return pack(good).decode("latin-1")
    if kind == 11:  # images that are not images
        data = rng.choice([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]) + rng.randbytes(rng.randrange(0, 400))
        if rng.random() < 0.3:
            return json.dumps({"type": "image", "png": rng.choice(["***", "%%%=", 5, None])})
        return pack({"type": "image", "png": data, "seq": rng.randrange(100)})
    if kind == 12:  # bad hello
        return pack(
            {
                "type": "hello",
                **rng.choice([{"live_ms": 1}, {"live_ms": 10**6}, {"live_ms": "50"}, {"client": "c" * 100}]),
            }
        )
    if kind == 13:  # too many keys
        return pack({"type": "pen_up", **{f"k{i}": i for i in range(300)}})
    if kind == 14:  # ext types / odd msgpack
        return rng.choice(
            [pack(msgpack.ExtType(5, b"abc")), b"\xd6\xff\x00\x00\x00\x01", b"\xc1", b"\x80\xc1", pack([good])]
        )
    return pack(
        {
            "type": rng.choice(["pen_up", "undo", "clear"]),
            "seq": rng.choice([1.0, "1", True, [1], {"n": 1}]),
        }
    )


def expected(frame: bytes | str) -> tuple[str, int | None] | None:
    """The error code (and echoed seq) the server must answer; ``None`` when the frame is not hostile."""
    try:
        msg = protocol.decode(frame, limits=L, parsers=PARSERS)
    except ClientFault as e:
        return e.code, (None if e.code == "malformed" else protocol.seq_of(frame, limits=L))
    if isinstance(msg, protocol.ImageMsg):
        try:
            render_image(msg.data, max_pixels=L.max_image_pixels)
        except ClientFault as e:
            return e.code, msg.seq
    return None


def generate(seed: int, n: int) -> list[tuple[bytes | str, str, int | None]]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        try:
            frame = hostile(rng)
        except (OverflowError, ValueError):  # not encodable (msgpack's 64-bit range): draw again
            continue
        exp = expected(frame)
        if exp is not None:
            out.append((frame, *exp))
    return out


async def hostile_worker(url: str, frames: list[tuple[bytes | str, str, int | None]], stats: Counter) -> None:
    """Send every frame, WINDOW at a time, never more than the server will answer before its 1008 close."""
    i = 0
    while i < len(frames):
        async with connect(url, max_size=None, compression=None, open_timeout=20) as ws:
            stats["connections"] += 1
            await ws.recv()  # welcome
            errors_here = 0
            while i < len(frames) and errors_here < L.max_errors_in_a_row:
                k = min(WINDOW, L.max_errors_in_a_row - errors_here, len(frames) - i)
                batch = frames[i : i + k]
                for frame, _, _ in batch:
                    await ws.send(frame)
                    stats["sent"] += 1
                for frame, code, seq in batch:
                    raw = await ws.recv()
                    reply = json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw, raw=False)
                    assert isinstance(raw, str) == isinstance(frame, str), "reply encoding differs from the frame's"
                    assert reply["type"] == "error", (frame[:80], reply)
                    assert reply["code"] == code, (frame[:80], reply, code)
                    assert reply.get("seq") == seq, (frame[:80], reply, seq)
                    stats["errors"] += 1
                    stats[code] += 1
                i += k
                errors_here += k
            if errors_here >= L.max_errors_in_a_row:
                with pytest.raises(ConnectionClosed) as exc:
                    await ws.recv()
                assert exc.value.rcvd is not None and exc.value.rcvd.code == 1008
                stats["closed_1008"] += 1


async def well_behaved(url: str, drawings: list[dict], done: asyncio.Event) -> list[list[list[dict]]]:
    """Replay the drawings (stroke by stroke, then clear) until ``done``; every run's guesses."""
    runs = []
    async with DoodleClient(url) as c:
        while True:
            run = []
            for d in drawings:
                per = []
                for k, (xs, ys, ts) in enumerate(d["drawing"]):
                    r = await c.request({"type": "stroke", "x": xs, "y": ys, "t": ts, "seq": k})
                    assert r["type"] == "guesses" and r["seq"] == k, r
                    per.append(r["guesses"])
                assert (await c.request({"type": "clear"}))["type"] == "cleared"
                run.append(per)
            runs.append(run)
            if done.is_set():
                return runs


@pytest.mark.slow
async def test_20000_hostile_frames_are_each_answered_with_their_error_while_a_good_session_goes_on() -> None:
    """20,000 hostile frames on 4 connections (reconnecting after each 1008): sent == errors received, each
    with the locally predicted code and seq; the server stays up and a well-behaved session beside them
    gets guesses identical to its reference run."""
    frames = generate(seed=20261124, n=N_MESSAGES)
    kinds = Counter("text" if isinstance(f, str) else "binary" for f, _, _ in frames)
    srv = ServerProcess()
    try:
        drawings = raw_sample()[100:106]
        done = asyncio.Event()
        reference = (await well_behaved(srv.url, drawings, done_now()))[0]
        stats: Counter = Counter()
        t = time.monotonic()
        good = asyncio.create_task(well_behaved(srv.url, drawings, done))
        share = math.ceil(len(frames) / N_CONNECTIONS)
        await asyncio.gather(
            *(hostile_worker(srv.url, frames[j * share : (j + 1) * share], stats) for j in range(N_CONNECTIONS))
        )
        done.set()
        runs = await good
        elapsed = time.monotonic() - t
        codes = {k: v for k, v in stats.items() if k not in ("sent", "errors", "connections", "closed_1008")}
        print(
            f"\nlive fuzz: {stats['sent']} hostile frames sent ({kinds['binary']} binary, {kinds['text']} text), "
            f"{stats['errors']} errors received, {stats['connections']} connections, {stats['closed_1008']} closed "
            f"with 1008, in {elapsed:.1f} s; well-behaved session: {len(runs)} identical runs; codes {codes}"
        )
        assert stats["sent"] == stats["errors"] == N_MESSAGES
        assert stats["closed_1008"] >= N_MESSAGES // L.max_errors_in_a_row - N_CONNECTIONS
        assert len(runs) >= 2
        for run in runs:
            for got, ref in zip(run, reference, strict=True):
                assert [[g["word"] for g in s] for s in got] == [[g["word"] for g in s] for s in ref]
                for gs, rs in zip(got, ref, strict=True):
                    assert [g["score"] for g in gs] == pytest.approx([g["score"] for g in rs], abs=1e-4)
        assert srv.proc.poll() is None
        log = srv.stderr()
        assert "unexpected error" not in log and "grfmt" not in log, log[-2000:]
    finally:
        assert srv.stop() == 0


def done_now() -> asyncio.Event:
    e = asyncio.Event()
    e.set()
    return e
