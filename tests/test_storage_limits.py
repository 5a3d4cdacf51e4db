"""History storage against live servers: no loop stall, record cap, quota, queue, timeouts, start-up faults."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from replay_client.client import DoodleClient
from server.limits import MAX_RECORD_BYTES
from tests.conftest import ServerProcess
from tests.support import InProcessServer, get_json, wait_for, wait_idle

#: Points per ``points`` message in the big drawings below (the default per-message cap).
CHUNK = 2_048


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def long_stroke(n: int, k: int) -> tuple[list[float], list[float], list[int]]:
    """``n`` points whose numbers take many digits (a big record) but whose path is short (cheap to render)."""
    xs = [500.123456789 + (i % 97) * 1e-9 + k * 1e-6 for i in range(n)]
    ys = [300.987654321 + (i % 89) * 1e-9 for i in range(n)]
    xs[0], ys[0], xs[-1], ys[-1] = 0.0, 0.0, 1000.0, 1000.0
    ts = [100_000_000 + k * n + i for i in range(n)]
    return xs, ys, ts


async def send_stroke(c: DoodleClient, xs: list[float], ys: list[float], ts: list[int]) -> None:
    for i in range(0, len(xs), CHUNK):
        await c.points(xs[i : i + CHUNK], ys[i : i + CHUNK], ts[i : i + CHUNK])
    reply = await c.pen_up()
    assert reply["type"] == "guesses", reply


async def small_drawing(c: DoodleClient, k: int = 0) -> None:
    r = await c.request({"type": "stroke", "x": [0, 40 + k, 90], "y": [0, 70, 10 + k]})
    assert r["type"] == "guesses", r


class Neighbour:
    """A client drawing and undoing one small stroke after another until stopped; its slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.answers = 0
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with DoodleClient(self.url) as c:
            while not self.done.is_set():
                t = time.perf_counter()
                await small_drawing(c)
                self.worst = max(self.worst, time.perf_counter() - t)
                self.answers += 1
                await c.request({"type": "undo"})  # nothing left to keep

    async def __aenter__(self) -> Neighbour:
        self.task = asyncio.create_task(self._run())
        await wait_for(lambda: self.answers > 0, what="the neighbour's first answer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.done.set()
        assert self.task is not None
        await self.task


@pytest.mark.serial
async def test_a_huge_drawing_never_stalls_the_loop_and_is_refused_as_too_large(tmp_path: Path) -> None:
    """A 1M-point drawing (a ~47 MB record) is submitted and left at disconnect while a neighbour
    draws: the neighbour's slowest answer stays under 300 ms (the old server stalled ~1 s encoding it),
    submit answers record_too_large, and /healthz counts the drawing left behind as too large."""
    # A drawing far past the record cap: the per-drawing point limit is lifted for it.
    srv = ServerProcess("--db", str(tmp_path / "h.sqlite3"), "--max-points-per-drawing", "2000000")
    try:
        big = DoodleClient(srv.url)
        await big.connect()
        per_stroke = 8_192
        for k in range(128):
            await send_stroke(big, *long_stroke(per_stroke, k))
        async with Neighbour(srv.url) as neighbour:
            t = time.perf_counter()
            reply = await big.request({"type": "submit", "word": "cat"})
            submit_s = time.perf_counter() - t
            await big.close()  # the drawing is left on the canvas: the drawing hook tries to keep it

            def left_one_counted() -> bool:
                return bool(get_json(srv.http + "/healthz")["history"]["too_large"] >= 2)

            await wait_for(left_one_counted, 30, "the drawing left behind to be refused")
        health = get_json(srv.http + "/healthz")
        worst = neighbour.worst
        print(f"huge drawing: submit answered in {submit_s * 1000:.0f} ms; neighbour worst {worst * 1000:.0f} ms")
        assert reply["type"] == "error" and reply["code"] == "record_too_large", reply
        assert str(MAX_RECORD_BYTES) in reply["message"]
        assert health["history"]["too_large"] == 2 and health["history"]["drawings"] == 0
        assert worst < 0.3
    finally:
        srv.stop()


@pytest.mark.serial
async def test_a_drawing_just_under_the_record_cap_is_stored_exactly(tmp_path: Path) -> None:
    """A drawing whose record is just under max_record_bytes is saved without stalling a neighbour,
    and comes back number for number."""
    srv = ServerProcess("--db", str(tmp_path / "h.sqlite3"))
    try:
        async with DoodleClient(srv.url) as c:
            strokes = [long_stroke(2_048, k) for k in range(2)]
            for s in strokes:
                await send_stroke(c, *s)
            async with Neighbour(srv.url) as neighbour:
                t = time.perf_counter()
                saved = await c.request({"type": "submit", "word": "cat"})
                took = time.perf_counter() - t
        print(f"largest record: saved in {took * 1000:.0f} ms; neighbour worst {neighbour.worst * 1000:.0f} ms")
        assert saved["type"] == "saved", saved
        assert neighbour.worst < 0.3
        status, rec = get(f"{srv.http}/api/doodles/{saved['id']}")
        assert status == 200
        assert rec["drawing"] == [[list(x), list(y), list(t)] for x, y, t in strokes]
        health = get_json(srv.http + "/healthz")["history"]
        assert MAX_RECORD_BYTES * 0.5 < health["bytes"] <= MAX_RECORD_BYTES, health
    finally:
        srv.stop()


async def test_the_quota_evicts_automatically_kept_drawings_first_oldest_first(tmp_path: Path) -> None:
    """With --history-max-drawings 3: cleared and left drawings go before submitted ones, oldest first."""
    srv = InProcessServer("--db", str(tmp_path / "h.sqlite3"), "--history-max-drawings", "3")
    try:
        reasons: dict[int, str] = {}

        async def newest() -> int:
            return int(get(srv.http + "/api/doodles?limit=1")[1]["doodles"][0]["id"])

        async with DoodleClient(srv.url) as c:
            await small_drawing(c, 1)
            reasons[(await c.request({"type": "submit"}))["id"]] = "submit"  # 1
            await c.request({"type": "clear"})
            await small_drawing(c, 2)
            cleared = await c.request({"type": "clear"})
            assert cleared["type"] == "cleared" and "stored" not in cleared
            reasons[await newest()] = "clear"  # 2
            await small_drawing(c, 3)
            reasons[(await c.request({"type": "submit"}))["id"]] = "submit"  # 3
            await c.request({"type": "clear"})
        async with DoodleClient(srv.url) as c:
            await small_drawing(c, 4)
        await wait_idle(srv.http)
        reasons[await newest()] = "disconnect"  # 4: the clear (2) is evicted
        ids = sorted(reasons)
        kept = lambda: sorted(d["id"] for d in get(srv.http + "/api/doodles")[1]["doodles"])  # noqa: E731
        assert kept() == [ids[0], ids[2], ids[3]]
        async with DoodleClient(srv.url) as c:
            await small_drawing(c, 5)
            five = (await c.request({"type": "submit"}))["id"]  # the disconnect (4) is evicted
            assert kept() == [ids[0], ids[2], five]
            await c.request({"type": "clear"})
            await small_drawing(c, 6)
            six = (await c.request({"type": "submit"}))["id"]  # none automatic left: the oldest submitted (1)
            assert kept() == [ids[2], five, six]
        health = get_json(srv.http + "/healthz")["history"]
        assert health["drawings"] == 3 and health["evicted"] == 3
    finally:
        srv.stop()


async def test_keep_submitted_keeps_only_submitted_drawings(tmp_path: Path) -> None:
    """--keep submitted: cleared and left drawings are not kept, submitted ones are."""
    srv = InProcessServer("--db", str(tmp_path / "h.sqlite3"), "--keep", "submitted")
    try:
        async with DoodleClient(srv.url) as c:
            await small_drawing(c, 1)
            assert (await c.request({"type": "clear"}))["type"] == "cleared"
            await small_drawing(c, 2)
            saved = await c.request({"type": "submit"})
            await c.request({"type": "clear"})
            await small_drawing(c, 3)
        health = await wait_idle(srv.http)
        assert [d["id"] for d in get(srv.http + "/api/doodles")[1]["doodles"]] == [saved["id"]]
        assert health["history"]["keep"] == "submitted" and health["history"]["drawings"] == 1
    finally:
        srv.stop()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer (as SQLite sees it): a connection holding the database's write lock."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    return db


async def test_a_write_that_hangs_answers_store_failed_clear_says_so_and_the_queue_is_bounded(tmp_path: Path) -> None:
    """With the database's write lock held elsewhere: submit answers store_failed after --store-timeout-s,
    clear replies stored:false with the error, a full queue refuses at once, /healthz shows it; once the
    lock is gone, storing works again."""
    path = tmp_path / "h.sqlite3"
    # 3 s: wide enough that a loaded machine still sees the full queue before its writes time out.
    srv = ServerProcess("--db", str(path), "--store-timeout-s", "3", "--store-queue-drawings", "2")
    lock = hold_write_lock(path)
    try:
        async with DoodleClient(srv.url) as c:
            await small_drawing(c)
            t = time.monotonic()
            reply = await c.request({"type": "submit"})
            assert reply["code"] == "store_failed" and "store_timeout_s" in reply["message"], reply
            assert 2.9 < time.monotonic() - t < 8
            cleared = await c.request({"type": "clear"})
            assert cleared["type"] == "cleared" and cleared["stored"] is False
            assert cleared["error"]["code"] == "store_failed"
        clients = [DoodleClient(srv.url) for _ in range(3)]
        for c in clients:
            await c.connect()
            await small_drawing(c)

        def queue() -> int:
            return int(get_json(srv.http + "/healthz")["history"]["queue"])

        # One observable step at a time: the writes that timed out above leave first, then each
        # submit is seen waiting before the next is sent (a race-free way to fill the queue).
        await wait_for(lambda: queue() == 0, what="the timed-out writes to leave the queue")
        first_two = []
        for n, c in enumerate(clients[:2], 1):
            first_two.append(asyncio.create_task(c.request({"type": "submit"})))
            await wait_for(lambda n=n: queue() == n, what=f"{n} drawing(s) waiting")
        t = time.monotonic()
        busy = await clients[2].request({"type": "submit"})
        # Refused at once: well inside the 3 s store timeout it would otherwise wait out.
        assert busy["code"] == "store_failed" and "busy" in busy["message"] and time.monotonic() - t < 2.5
        assert all(r["code"] == "store_failed" for r in await asyncio.gather(*first_two))
        health = get_json(srv.http + "/healthz")["history"]
        assert health["timeouts"] >= 3 and health["queue_max"] == 2
        lock.rollback()
        # The writes that timed out leave the queue as the store thread gives them up.
        await wait_for(lambda: get_json(srv.http + "/healthz")["history"]["queue"] == 0, what="an empty queue")
        saved = await clients[2].request({"type": "submit"})
        assert saved["type"] == "saved", saved
        for c in clients:
            await c.close()
        assert get_json(srv.http + "/healthz")["history"]["last_error"] is None
    finally:
        lock.close()
        srv.stop()


@pytest.mark.serial
async def test_sigterm_finishes_within_its_grace_while_the_database_is_locked(tmp_path: Path) -> None:
    """SIGTERM with drawings on canvases and the write lock held elsewhere: the server exits 0 within
    --shutdown-grace-s (4 s), having given up on the locked database."""
    path = tmp_path / "h.sqlite3"
    srv = ServerProcess("--db", str(path), "--store-timeout-s", "1", "--shutdown-grace-s", "4")
    lock = hold_write_lock(path)
    try:
        clients = [DoodleClient(srv.url) for _ in range(3)]
        for c in clients:
            await c.connect()
            await small_drawing(c)
        t = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for c in clients:
            with pytest.raises(ConnectionClosed):
                while True:
                    await c.recv()
        assert await asyncio.to_thread(srv.proc.wait, 30) == 0
        took = time.monotonic() - t
        print(f"SIGTERM with the database locked: exited in {took:.2f} s")
        assert took < 4
    finally:
        lock.close()
        srv.stop()


async def test_sigterm_exits_within_the_grace_even_with_the_store_thread_blocked(tmp_path: Path) -> None:
    """A store whose writes never return (a frozen disk; tests/frozen_disk.py): after submits and clears
    are stuck in it, SIGTERM with drawings still open exits within --shutdown-grace-s (3 s) plus the
    history's last wait (--store-timeout-s, 1 s), not at the thaw."""
    srv = ServerProcess(
        "--db", str(tmp_path / "h.sqlite3"), "--shutdown-grace-s", "3", "--store-timeout-s", "1",
        module="tests.frozen_disk",
    )  # fmt: skip
    try:
        clients = [DoodleClient(srv.url) for _ in range(4)]
        for c in clients:
            await c.connect()
            await small_drawing(c)
        assert (await clients[0].request({"type": "submit"}))["code"] == "store_failed"  # the write is stuck
        await clients[1].request({"type": "clear"})
        await small_drawing(clients[1])
        t = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(srv.proc.wait, 60)
        took = time.monotonic() - t
        print(f"SIGTERM with the store thread blocked: exited {code} in {took:.2f} s")
        assert took < 3 + 1 + 3  # the grace, the store's timeout, and room for a loaded machine
        assert "unfinished" in srv.stderr()
    finally:
        srv.stop(timeout_s=5)


def test_a_damaged_database_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    """--db naming a file that is not a SQLite database: exit 2, saying it is damaged and what to do."""
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    with pytest.raises(RuntimeError, match=r"(?s)server exited 2.*damaged.*move it aside"):
        ServerProcess("--db", str(path))


def test_a_database_with_damaged_pages_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    """A doodle database whose header is intact but whose pages past it are overwritten: the start-up
    quick_check finds it, exit 2 saying it is damaged and what to do."""
    from server.history.store import SQLiteStore
    from tests.support import doodle

    path = tmp_path / "h.sqlite3"
    store = SQLiteStore(path)
    for i in range(300):
        store.add(doodle(i))
    store.close()  # checkpointed into the file
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(size // 2)
        f.write(bytes(range(256)) * 64)  # 16 KiB of garbage over pages in the middle
    with pytest.raises(RuntimeError, match=r"(?s)server exited 2.*malformed.*damaged.*move it aside"):
        ServerProcess("--db", str(path))


#: A database left with its WAL files (the writer was killed), on a tmpfs then remounted read-only,
#: and the server started on it; in a private mount namespace (root, ``unshare -m``).
READ_ONLY_FS = """
set -e
mount -t tmpfs doodle-ro "$DIR"
"$PY" -c 'import os, sys; from server.history.store import SQLiteStore; from tests.support import doodle
s = SQLiteStore(sys.argv[1]); s.add(doodle(1)); os._exit(0)' "$DIR/h.sqlite3"
mount -o remount,ro "$DIR"
set +e
"$PY" -m server --port 0 --db "$DIR/h.sqlite3" 2>&1
echo "exit=$?"
"""


def test_a_database_on_a_filesystem_gone_read_only_stops_the_start(tmp_path: Path) -> None:
    """An existing database whose filesystem went read-only (its WAL files let it open): the start-up test
    write fails, exit 2 saying it is read-only."""
    import subprocess
    import sys

    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-m", "true"], capture_output=True) if unshare else None
    if os.geteuid() != 0 or probe is None or probe.returncode != 0:
        pytest.skip("needs root and unshare -m to mount a read-only filesystem")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DIR": str(tmp_path), "PY": sys.executable, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", READ_ONLY_FS],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert "exit=2" in out and "read-only" in out and "listening" not in out, out[-2000:]


@pytest.mark.slow
def test_a_read_only_database_stops_the_start_with_a_clear_message() -> None:
    """--db on a file this user may not write (as nobody): exit 2, saying it is read-only and what to do."""
    folder = Path(tempfile.mkdtemp(prefix="doodle-ro-", dir="/tmp"))  # /tmp: a path nobody can reach
    path = folder / "h.sqlite3"
    ServerProcess("--db", str(path)).stop()  # a real doodle database, owned by this user
    folder.chmod(0o755 if os.geteuid() == 0 else 0o555)  # root: run as nobody; else: not even the owner may write
    path.chmod(0o644 if os.geteuid() == 0 else 0o444)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv
        prefix = (setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--reset-env")
    env = {"HOME": "/nonexistent", "TMPDIR": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        with pytest.raises(RuntimeError, match=r"(?s)server exited 2.*read-only"):
            ServerProcess("--db", str(path), env=env, prefix=prefix)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
