"""Rendering off the event loop: a bounded thread pool with one ordered lane per session.

Normalizing and drawing strokes, and decoding pictures, cost up to tens of milliseconds
for the costliest legal messages; none of it may run on the event loop.  Promises:

* :class:`RenderPool` runs blocking render work on at most ``threads`` threads (OpenCV
  and numpy release the GIL while they work, so the event loop keeps running).
  The threads run ``nice`` levels below the event loop (Linux), so under CPU contention
  the loop, which answers every session, goes first.
* A :class:`Lane` belongs to one session.  Its jobs run one at a time, in the order they
  were submitted: a session's :class:`server.render.Canvas` is never touched by two
  threads at once, and one session occupies at most one pool thread, so the other
  threads stay free for other sessions.
* A job whose caller is cancelled (a live guess overtaken by a pen-up) still runs to its
  end before the lane's next job starts; its result is dropped.  :attr:`Lane.pending`
  counts the jobs submitted and not yet finished; the connection starts a live guess
  only when it is 0, so a session never has more than one message job and one live
  job outstanding.
* A lane uses at most ``share`` of one thread's CPU: after a job that took ``c`` seconds
  of CPU, the lane's next job waits ``c * (1 / share - 1)`` seconds.  Ordinary renders
  take well under a millisecond, so they never notice; a client sending only the
  costliest messages leaves the machine's other cores (and the rest of its own) to
  everyone else.
* Lanes may share a :class:`Budget` (the server gives one to every session of a client
  address): the budget's jobs, whichever lane they come from, run at most ``jobs`` at a
  time and together use at most ``share`` of a thread each (after a job of ``c`` CPU
  seconds, the budget's next job waits ``c * (1 / share - 1)`` too).  So opening many
  sessions buys an address no more render time than one has.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Budget:
    """The render time lanes share (one client address's sessions): ``jobs`` at once (see module docstring)."""

    __slots__ = ("ready_at", "slots")

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError("a render budget needs at least one job at a time")
        self.slots = asyncio.Semaphore(jobs)
        #: Event-loop time before which the budget's next job does not start (its CPU share).
        self.ready_at = 0.0


class Lane:
    """One session's queue of render jobs, within its ``budget`` if any (see module docstring)."""

    __slots__ = ("_tail", "budget", "pending", "ready_at")

    def __init__(self, budget: Budget | None = None) -> None:
        self._tail: asyncio.Task[Any] | None = None
        self.budget = budget
        #: Jobs submitted to this lane and not finished yet.
        self.pending = 0
        #: Event-loop time before which the lane's next job does not start (its CPU share).
        self.ready_at = 0.0


def _finished(lane: Lane, task: asyncio.Task[Any]) -> None:
    lane.pending -= 1
    if lane._tail is task:
        lane._tail = None
    if not task.cancelled():
        task.exception()  # retrieved: a job whose caller left must not log "never retrieved"


def _lower_priority(nice: int) -> None:
    """Runs first in each render thread: make it ``nice`` levels nicer than the process (Linux: per thread)."""
    if nice and hasattr(os, "setpriority"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


def _timed(fn: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, float]:
    """``fn(*args)`` and the CPU seconds this thread spent on it."""
    start = time.thread_time()
    return fn(*args), time.thread_time() - start


class RenderPool:
    """A bounded pool of render threads shared by every session (see module docstring)."""

    def __init__(self, threads: int, *, nice: int = 0, share: float = 1.0) -> None:
        if threads < 1:
            raise ValueError("a render pool needs at least one thread")
        if not 0 < share <= 1:
            raise ValueError("a lane's CPU share must be in (0, 1]")
        self.threads = threads
        self._rest_per_cpu_s = 1.0 / share - 1.0
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="render", initializer=_lower_priority, initargs=(nice,)
        )

    async def run(self, lane: Lane, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a pool thread, after every job ``lane`` was given before."""
        job: asyncio.Task[T] = asyncio.get_running_loop().create_task(self._after(lane, lane._tail, fn, args))
        lane._tail = job
        lane.pending += 1
        job.add_done_callback(lambda t: _finished(lane, t))
        return await asyncio.shield(job)

    async def _after(
        self, lane: Lane, previous: asyncio.Task[Any] | None, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> T:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        budget = lane.budget
        async with budget.slots if budget is not None else contextlib.nullcontext():
            loop = asyncio.get_running_loop()
            rest = max(lane.ready_at, budget.ready_at if budget is not None else 0.0) - loop.time()
            if rest > 0:
                await asyncio.sleep(rest)
            result, cpu_s = await loop.run_in_executor(self._executor, _timed, fn, args)
            lane.ready_at = loop.time() + cpu_s * self._rest_per_cpu_s
            if budget is not None:
                budget.ready_at = lane.ready_at
        return result

    def close(self) -> None:
        """Wait for running jobs, then stop the threads."""
        self._executor.shutdown(wait=True)
