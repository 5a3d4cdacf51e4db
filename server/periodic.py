"""A task that runs a coroutine function every so often: :class:`Periodic`.

Contract: :meth:`Periodic.start` (on the running loop) schedules ``fn`` every ``interval_s``
seconds, the first run one interval after the start; a run that raises is logged as one
warning line (``what`` and the exception's type, never a traceback) and counted in
:attr:`Periodic.failures`, and the next run comes on time; :meth:`Periodic.stop` cancels it
and waits (idempotent; a stop before the start does nothing).  Used for what instances sharing
a database write or read on a timer (:mod:`server.resume`, :mod:`server.teach`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


class Periodic:
    """``fn`` every ``interval_s`` seconds (see module docstring)."""

    def __init__(
        self, fn: Callable[[], Awaitable[None]], *, interval_s: float, name: str, what: str, log: logging.Logger
    ) -> None:
        self.fn = fn
        self.interval_s = interval_s
        self.name = name
        self.what = what
        self.log = log
        #: Runs that raised.
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.fn()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database may be down: try again next time
                self.failures += 1
                self.log.warning("%s failed (%s); trying again in %g s", self.what, type(e).__name__, self.interval_s)
