"""Rooms across two instances behind Debian's haproxy on deploy/haproxy.cfg: affinity by room code, and a SIGKILL.

Each instance makes codes beginning with its own character (``--room-prefix``); a socket opened
as ``/ws?room=CODE`` reaches the instance holding the room, whichever instance its players
came through before.  Killing one instance ends its rooms, plainly, and no other room notices.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.services import HAProxy, free_port
from replay_client.rooms import RoomPlayer
from server.quickdraw import read_file
from tests.conftest import RAW, ServerProcess
from tests.support import wait_for

pytestmark = pytest.mark.rooms

if shutil.which("haproxy") is None and not shutil.which("/usr/sbin/haproxy"):
    pytest.skip("needs Debian haproxy (scripts/setup.sh)", allow_module_level=True)

#: Each instance's room code prefix, as deploy/haproxy.cfg routes them (s1: 2, s2: 3).
PREFIXES = ("2", "3")


@pytest.fixture(scope="module")
def two() -> Iterator[tuple[list[ServerProcess], HAProxy]]:
    """Two instances (prefixes 2 and 3) behind haproxy; its third server line points at a closed port."""
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda p: ServerProcess("--room-prefix", p, "--trusted-proxy", "127.0.0.1"), PREFIXES))
    proxy = HAProxy([*(f"127.0.0.1:{s.port}" for s in servers), f"127.0.0.1:{free_port()}"])
    try:
        proxy.wait_states({"s1": "UP", "s2": "UP"})
        yield servers, proxy
    finally:
        proxy.stop()
        for s in servers:
            s.stop()


async def open_room(url: str, prefix: str) -> tuple[RoomPlayer, RoomPlayer, str]:
    """A started room on the instance of ``prefix``: its host (the drawer) and a guest, both joined through haproxy."""
    host = RoomPlayer(f"{url}?room={prefix}")
    await host.connect()
    room = await host.create("host", rounds=1, seconds=240)
    code = room["code"]
    assert code.startswith(prefix), code
    guest = RoomPlayer(f"{url}?room={code}")
    await guest.connect()
    assert (await guest.join(code, "guest"))["type"] == "room"
    await host.start()
    return host, guest, code


async def test_rooms_stay_on_their_instance_and_a_killed_one_ends_only_its_rooms(
    two: tuple[list[ServerProcess], HAProxy],
) -> None:
    """Players reach their room's instance by its code; after SIGKILL of one instance its players, reconnecting,
    are told the room has ended (unknown_room), while the other room plays on without a drop."""
    servers, proxy = two
    drawing = next(read_file(RAW / "apple.ndjson", limit=1))
    first, rest = dataclasses.replace(drawing, strokes=drawing.strokes[:1]), drawing.strokes[1:]
    host_a, guest_a, code_a = await open_room(proxy.url, "2")
    host_b, guest_b, _ = await open_room(proxy.url, "3")
    try:
        for host, guest in ((host_a, guest_a), (host_b, guest_b)):
            await host.draw(first, speed=0)
            assert (await guest.expect("drawn", lambda m: m["op"] == "pen_up"))["player"] == host.id
        servers[0].proc.kill()  # SIGKILL: room A's instance is gone at once
        servers[0].proc.wait()
        await wait_for(lambda: host_a.closed and guest_a.closed, 30, "room A's sockets to drop")
        await asyncio.to_thread(proxy.wait_states, {"s1": "DOWN", "s2": "UP"})  # clients retry with backoff till then
        back = RoomPlayer(f"{proxy.url}?room={code_a}")
        await back.connect()
        ended = await back.join(code_a, key=guest_a.key)
        assert ended["type"] == "error" and ended["code"] == "unknown_room", ended
        assert "has ended" in ended["message"] and "gone" in ended["message"]
        await back.close()
        # Room B never noticed: same sockets, same turn, the drawing goes on.
        await host_b.draw(dataclasses.replace(drawing, strokes=rest[:1]), speed=0)
        assert (await guest_b.expect("ai", lambda m: m["strokes"] == 2, timeout_s=30))["player"] == "ai"
        assert not guest_b.closed and not host_b.closed
        assert not [m for _, m in guest_b.received if m["type"] in ("turn_end", "room_ended", "error")]
        assert len([m for _, m in guest_b.received if m["type"] == "turn"]) == 1
    finally:
        for p in (host_a, guest_a, host_b, guest_b):
            await p.close()
