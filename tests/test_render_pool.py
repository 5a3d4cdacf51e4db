"""server/render_pool.py: one lane runs its jobs one at a time in order, even when callers are cancelled."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from server.render_pool import Budget, Lane, RenderPool


async def test_a_lane_runs_its_jobs_in_order_one_at_a_time_while_other_lanes_go_on() -> None:
    """Jobs of one lane never overlap and keep their order; another lane's job runs beside them."""
    pool = RenderPool(2)
    lane, other = Lane(), Lane()
    running, seen, overlaps = set(), [], []
    lock = threading.Lock()

    def job(name: str, lane_name: str, seconds: float) -> str:
        with lock:
            if lane_name in running:
                overlaps.append(name)
            running.add(lane_name)
        time.sleep(seconds)
        with lock:
            running.discard(lane_name)
            seen.append(name)
        return name

    try:
        jobs = [asyncio.create_task(pool.run(lane, job, f"a{i}", "a", 0.02)) for i in range(4)]
        quick = await pool.run(other, job, "b", "b", 0.0)
        assert quick == "b" and seen[0] == "b"  # not stuck behind lane a's four jobs
        assert await asyncio.gather(*jobs) == ["a0", "a1", "a2", "a3"]
        assert [n for n in seen if n.startswith("a")] == ["a0", "a1", "a2", "a3"] and not overlaps
        assert lane.pending == 0 and other.pending == 0
    finally:
        pool.close()


async def test_a_cancelled_caller_does_not_let_the_next_job_overtake_its_running_one() -> None:
    """Cancelling the caller of a running job: the job finishes before the lane's next one starts."""
    pool = RenderPool(2)
    lane = Lane()
    order: list[str] = []

    def job(name: str, seconds: float) -> None:
        order.append(f"start {name}")
        time.sleep(seconds)
        order.append(f"end {name}")

    try:
        slow = asyncio.create_task(pool.run(lane, job, "live", 0.1))
        await asyncio.sleep(0.02)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert lane.pending == 1  # the job itself still runs
        await pool.run(lane, job, "pen_up", 0.0)
        assert order == ["start live", "end live", "start pen_up", "end pen_up"] and lane.pending == 0
    finally:
        pool.close()


async def test_a_failing_job_raises_in_its_caller_and_the_lane_goes_on() -> None:
    """An exception reaches the caller; the lane's next job still runs."""
    pool = RenderPool(1)
    lane = Lane()

    def boom() -> None:
        raise ValueError("bad picture")

    try:
        with pytest.raises(ValueError):
            await pool.run(lane, boom)
        assert await pool.run(lane, lambda: 7) == 7
    finally:
        pool.close()


async def test_a_lane_uses_at_most_its_share_of_a_threads_cpu() -> None:
    """After a job of c CPU seconds, a lane with share 1/2 waits about c before its next; other lanes do not wait."""
    pool = RenderPool(2, share=0.5)
    lane, other = Lane(), Lane()

    def burn(seconds: float) -> float:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass
        return time.monotonic()

    try:
        done = await pool.run(lane, burn, 0.05)
        other_start = await pool.run(other, time.monotonic)
        next_start = await pool.run(lane, time.monotonic)
        assert other_start - done < 0.04  # another session is not held back
        assert next_start - done >= 0.045  # this one rested about as long as it worked
    finally:
        pool.close()


async def test_lanes_sharing_a_budget_run_one_job_at_a_time_within_its_share() -> None:
    """Two sessions of one address (lanes with one Budget of one job) never render at once and together keep
    to the CPU share; a lane of another address runs beside them."""
    pool = RenderPool(3, share=0.5)
    budget = Budget(1)
    a, b, elsewhere = Lane(budget), Lane(budget), Lane()
    running: set[str] = set()
    overlaps: list[str] = []
    lock = threading.Lock()

    def job(name: str, who: str) -> float:
        with lock:
            if running & {"a", "b"} and who in ("a", "b"):
                overlaps.append(name)
            running.add(who)
        end = time.thread_time() + 0.02
        while time.thread_time() < end:  # 20 ms of CPU
            pass
        with lock:
            running.discard(who)
        return time.monotonic()

    try:
        start = time.monotonic()
        jobs = [
            asyncio.create_task(pool.run(lane, job, f"{n}{i}", n)) for i in range(3) for n, lane in (("a", a), ("b", b))
        ]
        other = await pool.run(elsewhere, job, "x", "x")
        ends = await asyncio.gather(*jobs)
        assert not overlaps
        assert other < max(ends)  # not stuck behind the address's jobs
        assert max(ends) - start >= 0.1  # 6 jobs of 20 ms CPU at half a thread: at least 5 rests of 20 ms
    finally:
        pool.close()
