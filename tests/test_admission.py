"""Connections before their request: handshakes per address, the open-file limit, pipelining, IPv6 /64 addresses."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from server.addresses import address_key
from server.spawn import LOG_TAIL_CHARS
from tests.conftest import ServerProcess

HALF = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"  # never finished


def half_handshake(port: int, *, host: str = "127.0.0.1", source: str | None = None) -> socket.socket:
    """A TCP connection that sent half a WebSocket handshake and waits."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(10)
    s.connect((host, port))
    s.sendall(HALF)
    return s


def answer(s: socket.socket, timeout_s: float = 10) -> bytes:
    """Everything the server sends until it closes (b"" when it sends nothing within ``timeout_s``)."""
    s.settimeout(timeout_s)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def answered_at_once(s: socket.socket) -> bytes:
    return answer(s, timeout_s=0.3)


def no_tracebacks(log: str) -> None:
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


def test_ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    """address_key: IPv4 alone, ::ffff:a.b.c.d as a.b.c.d, IPv6 by /64 (zone ignored), anything else unchanged."""
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("::1") == "::/64"
    assert address_key("2001:db8::1", ipv6_prefix_bits=128) == "2001:db8::1/128"
    assert address_key("not an ip") == "not an ip"


async def a_client_gets_in(url: str, failure: str, *, within_s: float = 10) -> None:
    """Retry a WebSocket client until its welcome arrives; fail with ``failure`` after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            async with connect(url, open_timeout=10) as ws:
                await ws.recv()
            return
        except Exception:
            assert time.monotonic() < deadline, failure
            await asyncio.sleep(0.1)


async def test_sessions_from_one_ipv6_64_share_the_per_address_limit() -> None:
    """Behind a trusted proxy, two clients of one IPv6 /64 share one session (429), another /64 gets its own;
    an IPv4-mapped address counts as its IPv4 address."""
    srv = ServerProcess("--trusted-proxy", "127.0.0.1", "--max-sessions-per-address", "1")
    try:

        async def status(xff: str) -> int:
            from websockets.exceptions import InvalidStatus

            try:
                async with connect(srv.url, additional_headers={"X-Forwarded-For": xff}) as ws:
                    await ws.recv()
                    return 101
            except InvalidStatus as e:
                return e.response.status_code

        async with (
            connect(srv.url, additional_headers={"X-Forwarded-For": "2001:db8:0:1::1"}) as a,
            connect(srv.url, additional_headers={"X-Forwarded-For": "192.0.2.1"}) as b,
        ):
            await a.recv()
            await b.recv()
            assert await status("2001:db8:0:1::2") == 429
            assert await status("2001:db8:0:1:abcd::9") == 429
            assert await status("2001:db8:0:2::1") == 101
            assert await status("::ffff:192.0.2.1") == 429
            assert await status("192.0.2.2") == 101
    finally:
        assert srv.stop() == 0


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
async def test_handshake_cap_and_sessions_over_ipv6_loopback() -> None:
    """Over ::1 the handshake cap holds (429 past it) and a normal client still gets a session."""
    srv = ServerProcess("--host", "::1", "--max-handshakes-per-address", "4")
    try:
        held = [half_handshake(srv.port, host="::1") for _ in range(4)]
        extra = half_handshake(srv.port, host="::1")
        assert answered_at_once(extra).startswith(b"HTTP/1.1 429 ")
        for s in held:
            assert answered_at_once(s) == b""  # still waiting, not refused
            s.close()
        async with connect(f"ws://[::1]:{srv.port}/ws", open_timeout=10) as ws:
            assert b"welcome" in bytes(await ws.recv(decode=False))
    finally:
        assert srv.stop() == 0
    no_tracebacks(srv.stderr(tail_chars=LOG_TAIL_CHARS))


async def test_half_handshakes_are_capped_per_address_and_others_still_connect() -> None:
    """Past max_handshakes_per_address, unfinished handshakes from one address get 429 at once; another
    address (127.0.0.2) and, once they close, the same one connect normally; one log line, no tracebacks."""
    srv = ServerProcess("--max-handshakes-per-address", "16")
    held: list[socket.socket] = []
    try:
        held = [half_handshake(srv.port) for _ in range(16)]
        refused = [half_handshake(srv.port) for _ in range(200)]
        answers = [answered_at_once(s) for s in refused]
        assert all(a.startswith(b"HTTP/1.1 429 Too Many Requests\r\n") for a in answers), answers[0]
        for s in refused:
            s.close()
        assert all(answered_at_once(s) == b"" for s in held[:3])
        async with connect(srv.url, local_addr=("127.0.0.2", 0), open_timeout=10) as ws:
            assert b"welcome" in bytes(await ws.recv(decode=False))
        for s in held:
            s.close()
        held = []
        # The server sees the closes (observable: a normal client gets in).
        await a_client_gets_in(srv.url, "the same address never got in again")
    finally:
        for s in held:
            s.close()
        assert srv.stop() == 0
    log = srv.stderr(tail_chars=LOG_TAIL_CHARS)
    no_tracebacks(log)
    assert len(re.findall("refusing connections", log)) <= 2, log[-2000:]


async def test_near_the_open_file_limit_new_connections_get_503() -> None:
    """Started with a soft limit of 256 and a hard one of 400, the server raises the soft one to 400; 500
    unfinished handshakes never make accept fail: those past the margin get 503 at once; no tracebacks;
    after they close a client connects."""
    srv = ServerProcess("--max-handshakes-per-address", "100000", prefix=("prlimit", "--nofile=256:400", "--"))
    socks: list[socket.socket] = []
    try:
        limits = Path(f"/proc/{srv.proc.pid}/limits").read_text()
        assert re.search(r"Max open files\s+400\s+400", limits), limits
        socks = [half_handshake(srv.port, source=f"127.0.{1 + i // 200}.{1 + i % 200}") for i in range(500)]
        answers = [answered_at_once(s) for s in socks]
        waiting = sum(1 for a in answers if a == b"")
        busy = sum(1 for a in answers if a.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"))
        assert waiting + busy == 500, {a[:40] for a in answers}
        assert 100 < waiting < 400 - 64 - 100 and busy > 100, (waiting, busy)
        for s in socks:
            s.close()
        socks = []
        await a_client_gets_in(srv.url, "no client got in after the flood closed")
    finally:
        for s in socks:
            s.close()
        assert srv.stop() == 0
    no_tracebacks(srv.stderr(tail_chars=LOG_TAIL_CHARS))


def test_pipelined_requests_get_the_first_answer_and_a_close(server: ServerProcess) -> None:
    """Two pipelined GETs on one connection: one complete 200 answer with Connection: close, then EOF; no traceback."""
    before = len(server.log_path.read_text())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req + req)
        data = answer(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close" in head, data[:300]
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert len(body) == length and b"HTTP/1.1" not in body
    # WebSocket bytes sent before the 101 are refused (400), not parsed as frames.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x80abcd"
        )
        assert answer(s).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    time.sleep(0.2)
    no_tracebacks(server.log_path.read_text()[before:])


def test_the_early_data_override_was_checked_against_this_websockets() -> None:
    """server/early_data.py overrides websockets internals: this fails on a websockets version it was not checked
    with (then check the override, and whether a public hook appeared), and when those internals are gone."""
    import inspect

    import websockets
    from websockets.protocol import Protocol
    from websockets.server import ServerProtocol

    from server.early_data import VERIFIED_WITH

    assert websockets.__version__ in VERIFIED_WITH, f"websockets {websockets.__version__}: check server/early_data.py"
    assert inspect.isgeneratorfunction(ServerProtocol.parse)
    protocol = ServerProtocol()
    assert inspect.isgenerator(protocol.parser) and hasattr(protocol, "state") and hasattr(Protocol, "parse")
    assert callable(protocol.reader.at_eof) and callable(protocol.reader.discard)
