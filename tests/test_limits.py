"""Every named limit of server/limits.py, enforced by the live server with its own error (or close) code."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

import cv2
import msgpack
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.metrics import rss_kib
from replay_client.client import DoodleClient
from server import limits as limit_values
from tests.conftest import ServerProcess
from tests.support import InProcessServer

TIGHT = {
    "--max-frame-bytes": 20_000,
    "--max-points-per-message": 50,
    "--max-sessions-per-address": 3,
    "--max-image-bytes": 6_000,
    "--max-image-pixels": 10_000,
    "--max-messages-per-second": 20,
    "--message-burst": 20,
    "--max-errors-in-a-row": 10,
    "--idle-timeout-s": 1.0,
}


@pytest.fixture(scope="module")
def tight() -> Iterator[InProcessServer]:
    """A live server with small limits, so that each is cheap to reach."""
    srv = InProcessServer(*(str(v) for kv in TIGHT.items() for v in kv))
    yield srv
    srv.stop()


def test_every_limit_is_a_named_constant_with_a_flag_and_a_unit() -> None:
    """Each Limits field defaults to an upper-case constant of server/limits.py documented with its unit."""
    from dataclasses import fields

    with open(limit_values.__file__) as fh:
        source = fh.read()
    for f in fields(limit_values.Limits):
        const = f.name.upper()
        assert getattr(limit_values, const) == f.default, f.name
        doc = source.split(f"\n{const} =")[0].rsplit("\n\n", 1)[-1]
        assert "#:" in doc and (" in " in doc or "Code:" in doc), f"{const} lacks a documented unit"


async def test_welcome_carries_the_limits_a_client_needs(tight: InProcessServer) -> None:
    """welcome lists the client-facing limits as configured, not the server-side tuning."""
    async with DoodleClient(tight.url) as c:
        lim = c.welcome["limits"]
    assert lim["max_points_per_message"] == 50 and lim["max_frame_bytes"] == 20_000 and lim["idle_timeout_s"] == 1.0
    assert not limit_values.SERVER_SIDE & set(lim)


async def test_a_frame_over_max_frame_bytes_closes_with_1009_and_the_server_goes_on(tight: InProcessServer) -> None:
    """A frame larger than max_frame_bytes is closed with 1009 (message too big); other sessions go on."""
    async with DoodleClient(tight.url) as other, DoodleClient(tight.url) as c:
        await c.send_raw(msgpack.packb({"type": "image", "png": b"\0" * 30_000}))
        with pytest.raises(ConnectionClosed) as exc:
            await c.recv()
        assert exc.value.sent is not None and exc.value.sent.code == 1009
        r = await other.request({"type": "stroke", "x": [0, 10], "y": [0, 10]})
        assert r["type"] == "guesses"


def png(w: int, h: int) -> bytes:
    img = np.full((h, w), 255, np.uint8)
    cv2.line(img, (2, 2), (w - 3, h - 3), 0, 2)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


async def test_image_bytes_and_pixels_limits_have_their_own_codes(tight: InProcessServer) -> None:
    """An image over max_image_bytes gets image_too_large (msgpack and JSON); over max_image_pixels,
    image_too_many_pixels; one exactly at the pixel limit is classified."""
    noisy = np.random.default_rng(0).integers(0, 255, (80, 80), np.uint8)
    big = cv2.imencode(".png", noisy)[1].tobytes()
    assert len(big) > 6_000
    async with DoodleClient(tight.url) as c, DoodleClient(tight.url, text=True) as j:
        assert (await c.request({"type": "image", "png": big}))["code"] == "image_too_large"
        assert (await j.request({"type": "image", "png": base64.b64encode(big).decode()}))["code"] == "image_too_large"
        assert (await c.request({"type": "image", "png": png(101, 100)}))["code"] == "image_too_many_pixels"
        assert (await c.request({"type": "image", "png": png(100, 100)}))["type"] == "guesses"
        assert (await c.request({"type": "image", "png": png(2000, 2000)}))["code"] == "image_too_large"


async def test_points_per_message_limit(tight: InProcessServer) -> None:
    """More than max_points_per_message points in one message: too_many_points; exactly the limit is fine."""
    async with DoodleClient(tight.url) as c:
        r = await c.request({"type": "stroke", "x": list(range(51)), "y": list(range(51))})
        assert r["code"] == "too_many_points"
        r = await c.request({"type": "stroke", "x": list(range(50)), "y": list(range(50))})
        assert r["type"] == "guesses" and r["strokes"] == 1


async def test_sessions_per_address_are_capped_with_429(tight: InProcessServer) -> None:
    """The (max_sessions_per_address + 1)-th socket from one address is refused with HTTP 429; once one
    closes, a new one is accepted."""
    clients = [DoodleClient(tight.url) for _ in range(3)]
    for c in clients:
        await c.connect()
    with pytest.raises(InvalidStatus) as exc:
        await connect(tight.url, open_timeout=5)
    assert exc.value.response.status_code == 429
    await clients[0].close()
    await asyncio.sleep(0.2)
    async with DoodleClient(tight.url) as again:
        assert again.welcome["type"] == "welcome"
    for c in clients[1:]:
        await c.close()


async def test_an_idle_session_is_closed_with_1001(tight: InProcessServer) -> None:
    """A session that sends nothing for idle_timeout_s is closed with 1001; one that keeps talking is not."""
    async with DoodleClient(tight.url) as idle, DoodleClient(tight.url) as busy:
        t = time.monotonic()
        for _ in range(6):
            await asyncio.sleep(0.25)
            assert (await busy.request({"type": "undo"}))["type"] == "guesses"
        with pytest.raises(ConnectionClosed) as exc:
            await idle.recv()
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1001 and "idle" in exc.value.rcvd.reason
        assert 0.9 <= time.monotonic() - t <= 5


async def test_a_client_that_keeps_flooding_is_rate_limited_then_closed_with_1008(tight: InProcessServer) -> None:
    """Past the burst, messages get rate_limited; max_errors_in_a_row of them close the socket with 1008 at once."""
    async with DoodleClient(tight.url) as c:
        t = time.monotonic()
        for _ in range(60):
            await c.send({"type": "undo"})
        codes = []
        with pytest.raises(ConnectionClosed) as exc:
            while True:
                codes.append((await c.recv()).get("code"))
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1008
        assert "rate_limited" in exc.value.rcvd.reason
        assert codes[:20] == [None] * 20 and codes[-10:] == ["rate_limited"] * 10
        # Closed at once, not after websockets' 10 s close timeout (frames sent after the close are drained).
        assert time.monotonic() - t < 5


def masked(payload: bytes) -> bytes:
    """One binary client frame (masked, as RFC 6455 requires)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    data = np.frombuffer(payload, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), n)
    return head + mask + data.tobytes()


@pytest.mark.serial
def test_a_client_that_never_reads_is_dropped_without_growing_memory_or_delaying_others() -> None:
    """A raw client floods requests and never reads: the server drops it (TCP reset) about send_timeout_s
    after its buffers fill, its RSS stays bounded, and another session's round trips stay fast meanwhile."""
    srv = ServerProcess(
        "--send-timeout-s",
        "2",
        "--max-send-buffer-bytes",
        "16384",
        "--max-messages-per-second",
        "1000000",
        "--message-burst",
        "1000000",
        "--max-errors-in-a-row",
        "1000000000",
    )
    try:
        rss0 = rss_kib(srv.proc.pid)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        assert s.recv(12) == b"HTTP/1.1 101"
        burst = masked(msgpack.packb({"type": "x" * 32})) * 100  # each answered by a ~200-byte error
        s.settimeout(0.5)
        latencies: list[tuple[float, float]] = []  # (start, round trip)

        async def other_session() -> None:
            async with DoodleClient(srv.url) as c:
                for i in range(60):
                    t = time.monotonic()
                    r = await c.request({"type": "stroke", "x": [0, 10 + i], "y": [0, 10]})
                    latencies.append((t, time.monotonic() - t))
                    assert r["type"] == "guesses"
                    await asyncio.sleep(0.05)

        loop = asyncio.new_event_loop()
        th = threading.Thread(target=loop.run_until_complete, args=(other_session(),))
        th.start()
        t0, sent, stalled_at, dropped_at = time.monotonic(), 0, None, None
        while time.monotonic() - t0 < 30:
            try:
                s.sendall(burst)
                sent += 100
            except TimeoutError:  # the server stopped reading us: its replies are stuck
                stalled_at = stalled_at or time.monotonic()
            except (ConnectionResetError, BrokenPipeError):
                dropped_at = time.monotonic()
                break
        th.join()
        loop.close()
        s.close()
        assert stalled_at is not None and dropped_at is not None, "never stalled or never dropped"
        rss1 = rss_kib(srv.proc.pid)
        while_stalled = [rt for t, rt in latencies if stalled_at <= t and t + rt <= dropped_at]
        print(
            f"stalled client: {sent} requests sent, dropped {dropped_at - stalled_at:.1f} s after stalling; "
            f"server RSS {rss0} -> {rss1} KiB; other session: {len(while_stalled)} round trips while it was "
            f"stalled, max {max(while_stalled) * 1000:.0f} ms"
        )
        assert 0.5 < dropped_at - stalled_at < 8  # the client notices its stall after the server does
        assert rss1 - rss0 < 40_000
        assert len(latencies) == 60 and while_stalled and max(while_stalled) < 0.5
        assert "dropped, a reply waited 2 s" in srv.stderr()
    finally:
        assert srv.stop() == 0
