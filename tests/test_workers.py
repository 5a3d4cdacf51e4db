"""server/workers.py: ``python -m server --workers 2`` serves from two processes on one port."""

from __future__ import annotations

import json
import os
import signal
import urllib.request

from replay_client.client import DoodleClient
from tests.conftest import ServerProcess


def healthz(http: str) -> dict:
    with urllib.request.urlopen(http + "/healthz", timeout=10) as r:
        out: dict = json.loads(r.read())
        return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_workers_both_serve_and_sigterm_stops_all() -> None:
    """Many connections reach more than one worker pid (both serve guesses); SIGTERM stops all, exit 0."""
    srv = ServerProcess("--workers", "2")
    try:
        pids: set[int] = set()
        workers: set[int] = set()
        for _ in range(40):
            info = healthz(srv.http)
            pids.add(info["pid"])
            workers.add(info["worker"])
            if len(pids) > 1:
                break
        assert len(pids) == 2 and workers == {0, 1}, pids
        assert srv.proc.pid not in pids
        # Every socket is served: open several at once and get guesses on each.
        clients = [DoodleClient(srv.url) for _ in range(8)]
        for c in clients:
            await c.connect()
        for c in clients:
            reply = await c.request({"type": "stroke", "x": [0, 50, 100], "y": [0, 80, 0]})
            assert reply["type"] == "guesses" and len(reply["guesses"]) == 5
        for c in clients:
            await c.close()
    finally:
        code = srv.stop()
    assert code == 0, srv.stderr()
    assert not any(alive(pid) for pid in pids)


def test_worker_crash_stops_the_supervisor_with_an_error() -> None:
    """When one worker dies, the supervisor stops the other and exits non-zero."""
    srv = ServerProcess("--workers", "2")
    try:
        pids: set[int] = set()
        for _ in range(60):
            pids.add(healthz(srv.http)["pid"])
            if len(pids) > 1:
                break
        assert len(pids) == 2
        victim, other = sorted(pids)
        os.kill(victim, signal.SIGKILL)
        code = srv.proc.wait(timeout=40)
    finally:
        srv.stop()
    assert code != 0
    assert not alive(other)
