"""Several instances behind HAProxy (deploy/haproxy.cfg) sharing one PostgreSQL history, all real, on loopback.

One module-scoped cluster: PostgreSQL (tests/pgserver.py), 3 ``python -m server --db postgresql://...
--trusted-proxy 127.0.0.1`` processes, and Debian's haproxy running deploy/haproxy.cfg unchanged
(addresses from its environment variables)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.services import HAPROXY_CFG, HAProxy, PostgresServer, free_port
from replay_client.client import DoodleClient
from server import quickdraw
from server.errors import ErrorCode
from server.limits import CUSTOM_WORDS_SYNC_S, RESUME_SYNC_S
from server.resume import ResumeCode
from tests.conftest import RAW, ServerProcess
from tests.support import get_json

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

ADMIN = "cluster-admin"
#: Slack on a loaded 2-core machine for what the server states it does within a time.
SLACK_S = 10.0


def drawings(word: str, n: int) -> list[quickdraw.Drawing]:
    return list(quickdraw.read(RAW / f"{word}.ndjson", per_word=n))


def stroke_msg(s: quickdraw.Stroke) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "stroke", "x": list(s.x), "y": list(s.y)}
    if s.t is not None:
        msg["t"] = list(s.t)
    return msg


@dataclass
class Cluster:
    pg: PostgresServer
    servers: list[ServerProcess]
    proxy: HAProxy


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """PostgreSQL, 3 instances sharing its database (started in parallel), HAProxy in front, all checks UP."""
    pg = PostgresServer()
    url = pg.new_database()
    args = ("--db", url, "--admin-token", ADMIN, "--trusted-proxy", "127.0.0.1")
    with ThreadPoolExecutor(3) as pool:
        servers = list(pool.map(lambda _: ServerProcess(*args), range(3)))
    proxy = HAProxy([f"127.0.0.1:{s.port}" for s in servers])
    try:
        proxy.wait_states({"s1": "UP", "s2": "UP", "s3": "UP"})
        yield Cluster(pg, servers, proxy)
    finally:
        proxy.stop()
        for s in servers:
            s.stop()
        pg.stop()


def stored(srv: ServerProcess, client: str) -> list[dict[str, Any]]:
    """The drawings ``srv``'s gallery API lists for client kind ``client``."""
    return [d for d in get_json(srv.http + "/api/doodles?limit=200")["doodles"] if d["client"] == client]


async def test_healthz_and_drawing_work_through_the_balancer(cluster: Cluster) -> None:
    """Through HAProxy: /healthz answers, a client is welcomed and gets guesses; every backend is UP."""
    health = get_json(cluster.proxy.http + "/healthz")
    assert health["history"] is not None and health["resume"]["shared"] is True
    async with DoodleClient(cluster.proxy.url) as c:
        reply = await c.call(stroke_msg(drawings("cat", 1)[0].strokes[0]))
        assert reply["type"] == "guesses" and reply["guesses"]


async def test_an_instance_killed_mid_drawing_its_clients_resume_elsewhere_and_each_drawing_is_stored_once(
    cluster: Cluster,
) -> None:
    """6 clients draw through HAProxy; one instance is SIGKILLed; its clients reconnect through HAProxy,
    resume their drawing keys on another instance and submit: each drawing stored exactly once, seen by
    every surviving instance's gallery."""
    work = drawings("bicycle", 6)
    deadline = time.monotonic() + SLACK_S
    while any(s.healthz()["sessions"] for s in cluster.servers):  # earlier tests' sessions are gone
        assert time.monotonic() < deadline, "sessions of earlier tests are still open"
        await asyncio.sleep(0.05)
    clients = [DoodleClient(cluster.proxy.url) for _ in work]
    for c in clients:  # one by one: leastconn spreads them over the 3 instances
        await c.connect()
        await c.call({"type": "hello", "client": "cluster"})
    for c, d in zip(clients, work, strict=True):
        for s in d.strokes[:2]:
            await c.call(stroke_msg(s))
    keys = [c.drawing for c in clients]
    assert len(set(keys)) == 6 and all(isinstance(k, str) for k in keys)
    victim, *alive = cluster.servers
    # Every drawing's key is in the shared database before the kill (written every RESUME_SYNC_S).
    deadline = time.monotonic() + RESUME_SYNC_S + SLACK_S
    while sum(s.healthz()["resume"]["held"] for s in cluster.servers) < 6:
        assert time.monotonic() < deadline, "resume keys were not written"
        await asyncio.sleep(0.1)
    on_victim = victim.healthz()["sessions"]
    os.kill(victim.pid, signal.SIGKILL)
    victim.proc.wait()
    saved: list[int] = []
    resumed = 0
    for c, d in zip(clients, work, strict=True):
        try:
            reply = await c.call(stroke_msg(d.strokes[2]))
            assert reply["type"] == "guesses"
        except (ConnectionClosed, OSError):
            resumed += 1
            key = c.drawing
            await c.close()
            c = DoodleClient(cluster.proxy.url)
            await c.connect()
            hello = await c.hello(resume=key, client="cluster")
            assert hello.get("resumed") is True and hello["drawing"] == key, hello
            for s in d.strokes[:3]:
                assert (await c.call(stroke_msg(s)))["drawing"] == key
        for s in d.strokes[3:]:
            await c.call(stroke_msg(s))
        answer = await c.call({"type": "submit", "word": "bicycle"})
        assert answer["type"] == "saved", answer
        saved.append(answer["id"])
        await c.close()
    assert resumed == on_victim >= 1
    for srv in alive:
        records = stored(srv, "cluster")
        assert sorted(r["id"] for r in records) == sorted(saved) and len(set(saved)) == 6
    by_id = {r["id"]: r for r in stored(alive[0], "cluster")}
    for doodle_id, d in zip(saved, work, strict=True):
        assert by_id[doodle_id]["strokes"] == len(d.strokes)


async def test_a_server_word_taught_on_one_instance_is_used_by_the_others(cluster: Cluster) -> None:
    """A server-scope word taught on one instance is known to every other within CUSTOM_WORDS_SYNC_S
    (plus slack for a loaded machine), and forgetting it reaches them too."""
    live = [s for s in cluster.servers if s.proc.poll() is None]
    teacher, *others = live
    examples = [[(s.x, s.y) for s in d.strokes] for d in drawings("snail", 3)]
    async with DoodleClient(teacher.url) as c:
        taught = await c.teach("zorblat", examples, scope="server", admin_token=ADMIN)
        assert taught["type"] == "taught" and taught["examples"] == 3, taught
    t0 = time.monotonic()
    for srv in others:
        async with DoodleClient(srv.url) as c:
            while (await c.hello(words=["zorblat", "cat"])).get("code") == ErrorCode.UNKNOWN_WORD:
                assert time.monotonic() - t0 < CUSTOM_WORDS_SYNC_S + SLACK_S, "the word did not reach the instance"
                await asyncio.sleep(0.05)
    async with DoodleClient(others[0].url) as c:
        assert (await c.forget("zorblat", scope="server", admin_token=ADMIN))["type"] == "forgotten"
    t0 = time.monotonic()
    async with DoodleClient(teacher.url) as c:
        while (await c.hello(words=["zorblat"])).get("code") != ErrorCode.UNKNOWN_WORD:
            assert time.monotonic() - t0 < CUSTOM_WORDS_SYNC_S + SLACK_S, "the forget did not reach the instance"
            await asyncio.sleep(0.05)


async def test_a_drawing_left_on_one_instance_is_resumed_once_on_another(cluster: Cluster) -> None:
    """Shared keys: a drawing dropped on one instance resumes on another; resumed again on that instance while its
    session is open, the drawing is taken over (the open session is closed with 4001); a made-up key is unknown."""
    a, b = [s for s in cluster.servers if s.proc.poll() is None][:2]
    d = drawings("cat", 1)[0]
    c = DoodleClient(a.url)
    await c.connect()
    await c.call({"type": "hello", "client": "cluster-resume"})
    await c.call(stroke_msg(d.strokes[0]))
    key = c.drawing
    assert c.ws is not None
    c.ws.transport.abort()  # the connection drops: the key is written before the drawing is stored
    deadline = time.monotonic() + SLACK_S
    while a.healthz()["sessions"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    async with DoodleClient(b.url) as again:
        hello = await again.hello(resume=key, client="cluster-resume")
        assert hello.get("resumed") is True and hello["drawing"] == key, hello
        assert (await again.call(stroke_msg(d.strokes[0])))["drawing"] == key
        # In progress in `again` here: a resume on this instance takes it over (claimed-once is
        # tests/test_postgres.py's).
        async with DoodleClient(b.url) as other:
            assert (await other.hello(resume=key))["resumed"] is True
            assert again.ws is not None
            await asyncio.wait_for(again.ws.wait_closed(), SLACK_S)
            assert again.ws.close_code == 4001
        async with DoodleClient(a.url) as other:
            assert (await other.hello(resume="B" * 22))["code"] == ResumeCode.UNKNOWN_DRAWING


def test_the_killed_instance_is_marked_down_by_the_health_checks(cluster: Cluster) -> None:
    """HAProxy's /healthz checks mark a dead instance DOWN and keep the live ones UP."""
    dead = [f"s{i + 1}" for i, s in enumerate(cluster.servers) if s.proc.poll() is not None]
    want = {f"s{i + 1}": ("UP" if s.proc.poll() is None else "DOWN") for i, s in enumerate(cluster.servers)}
    assert dead, "run after the kill test (module order)"
    cluster.proxy.wait_states(want)


def test_haproxy_config_is_valid() -> None:
    """deploy/haproxy.cfg passes `haproxy -c` with its variables set."""
    env = {**os.environ, **{k: "127.0.0.1:1" for k in ("DOODLE_FRONT", "DOODLE_S1", "DOODLE_S2", "DOODLE_S3")}}
    env["DOODLE_STATS"] = "127.0.0.1:2"
    check = subprocess.run(["haproxy", "-c", "-f", str(HAPROXY_CFG)], env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # The same three instances in both backends (any socket, and sockets of a room: affinity by room code).
    assert re.findall(r"^\s+server (s\d)", Path(HAPROXY_CFG).read_text(), re.M) == ["s1", "s2", "s3"] * 2


async def test_the_server_limits_each_player_by_the_address_haproxy_forwards() -> None:
    """Through HAProxy (option forwardfor) to an instance trusting it (--trusted-proxy 127.0.0.1, one session
    per address): players from 127.0.0.2 and 127.0.0.3 each get in, a second from 127.0.0.2 is refused (429),
    so the instance counts the forwarded player address, not the proxy's."""
    srv = ServerProcess("--trusted-proxy", "127.0.0.1", "--max-sessions-per-address", "1")
    proxy = HAProxy([f"127.0.0.1:{srv.port}", f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"])
    try:
        proxy.wait_states({"s1": "UP", "s2": "DOWN", "s3": "DOWN"})  # checked, so none is tried in vain
        async with (
            DoodleClient(proxy.url, local_addr=("127.0.0.2", 0)) as a,
            DoodleClient(proxy.url, local_addr=("127.0.0.3", 0)) as b,
        ):
            assert a.welcome["type"] == b.welcome["type"] == "welcome"
            with pytest.raises(InvalidStatus) as refused:
                await connect(proxy.url, open_timeout=10, local_addr=("127.0.0.2", 0))
            assert refused.value.response.status_code == 429
    finally:
        proxy.stop()
        srv.stop()
