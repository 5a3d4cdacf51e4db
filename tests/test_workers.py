"""server/workers.py: ``--workers 2`` serves from two processes on one port; failed workers are replaced."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from replay_client.client import DoodleClient
from server.workers import ROOMS_OFF, Health
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


async def test_two_workers_both_serve_without_rooms_and_sigterm_stops_all() -> None:
    """Many connections reach more than one worker pid (both serve guesses, neither offers rooms: room_create is
    unknown_type, and the supervisor said why once); SIGTERM stops all, exit 0."""
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
            assert "rooms" not in c.welcome["features"], c.welcome
            refused = await c.call({"type": "room_create", "name": "Ann"})
            assert refused["type"] == "error" and refused["code"] == "unknown_type", refused
        assert srv.stderr(tail_chars=10**7).count(ROOMS_OFF % 2) == 1
        for c in clients:
            await c.close()
    finally:
        code = srv.stop()
    assert code == 0, srv.stderr()
    assert not any(alive(pid) for pid in pids)


async def test_one_worker_offers_rooms(server: ServerProcess) -> None:
    """The one-process server (``--workers 1``, the default) offers rooms and opens one."""
    async with DoodleClient(server.url) as c:
        assert "rooms" in c.welcome["features"], c.welcome
        room = await c.call({"type": "room_create", "name": "Ann"})
        assert room["type"] == "room" and "Ann" in [p["name"] for p in room["players"]], room


def both_pids(http: str) -> dict[int, int]:
    """worker index -> pid, once both workers have answered /healthz."""
    seen: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 2:
        assert time.monotonic() < deadline, seen
        info = healthz(http)
        seen[info["worker"]] = info["pid"]
    return seen


def reaped(pid: int, srv: ServerProcess) -> bool:
    """Whether ``pid`` is gone (not even a zombie: the supervisor has collected it).

    A zombie is not enough: the group leader turns zombie while the worker's other threads
    still hold its files, the listening socket among them, and a connection the kernel
    hands that socket then is reset.  ``waitpid`` returns only once every thread is gone."""
    return not Path(f"/proc/{pid}").exists()


def wait_replaced(srv: ServerProcess, index: int, old: int, timeout_s: float) -> tuple[int, int]:
    """Poll /healthz until worker ``index`` answers with a pid other than ``old``: (new pid, failed requests)."""
    deadline = time.monotonic() + timeout_s
    failed = 0
    while time.monotonic() < deadline:
        try:
            info = healthz(srv.http)
        except OSError:
            failed += 1
            continue
        if info["worker"] == index and info["pid"] != old:
            return info["pid"], failed
        time.sleep(0.02)
    raise AssertionError(f"worker {index} was not replaced within {timeout_s} s: {srv.stderr()}")


@pytest.mark.slow
def test_a_crashed_worker_is_replaced_and_the_port_keeps_answering() -> None:
    """SIGKILL one worker: the other answers every request meanwhile, and a new worker takes its index."""
    srv = ServerProcess("--workers", "2")
    try:
        pids = both_pids(srv.http)
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not reaped(pids[0], srv):
            assert time.monotonic() < deadline, "the supervisor did not collect the dead worker"
            time.sleep(0.02)
        new, failed = wait_replaced(srv, 0, pids[0], timeout_s=90)
        assert failed == 0, f"{failed} requests failed while worker 0 was being replaced"
        assert alive(pids[1]) and new not in pids.values()
        assert f"worker 0 (pid {pids[0]}) exited with 137" in srv.log_path.read_text()
    finally:
        code = srv.stop()
    assert code == 0, srv.stderr()


@pytest.mark.serial
def test_a_hung_worker_is_killed_within_the_stated_time_and_replaced() -> None:
    """SIGSTOP one worker: with --worker-hung-s 2 it is killed within 2 s (+1 s of checks) and replaced."""
    srv = ServerProcess("--workers", "2", "--worker-hung-s", "2")
    try:
        pids = both_pids(srv.http)
        stopped = time.monotonic()
        os.kill(pids[1], signal.SIGSTOP)
        while not reaped(pids[1], srv):
            assert time.monotonic() - stopped < 10, "the hung worker was never killed"
            time.sleep(0.05)
        assert time.monotonic() - stopped < 2 + 1.5
        wait_replaced(srv, 1, pids[1], timeout_s=90)
        assert "sent no heartbeat" in srv.log_path.read_text()
    finally:
        code = srv.stop()
    assert code == 0, srv.stderr()


def test_a_second_sigint_while_stopping_kills_all_and_exits_128_plus_signal() -> None:
    """SIGINT starts a graceful stop; a worker that cannot stop (SIGSTOP) holds it; a second SIGINT kills
    every worker and the supervisor exits 130 (128 + SIGINT)."""
    srv = ServerProcess("--workers", "2", "--worker-hung-s", "600")
    try:
        pids = both_pids(srv.http)
        os.kill(pids[0], signal.SIGSTOP)
        srv.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        while "stopping 2 workers" not in srv.log_path.read_text():
            assert time.monotonic() < deadline, srv.stderr()
            time.sleep(0.05)
        srv.proc.send_signal(signal.SIGINT)
        code = srv.proc.wait(timeout=20)
    finally:
        srv.stop()
    assert code == 128 + signal.SIGINT, srv.stderr()
    assert not any(alive(pid) for pid in pids.values())


def test_restart_backoff_doubles_up_to_its_cap() -> None:
    """Health.backoff: restart_min_s, doubling per failure in a row, never above restart_max_s."""
    health = Health(hung_s=5, restart_min_s=0.5, restart_max_s=4, stable_s=60)
    assert [health.backoff(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
