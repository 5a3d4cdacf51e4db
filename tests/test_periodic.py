"""server/periodic.py: a coroutine function run on a timer, failures counted and logged, stop idempotent."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.periodic import Periodic


async def test_runs_every_interval_counts_failures_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    """fn runs again after a failure, each failure one warning line without traceback; stop ends it, twice is fine."""
    calls = 0

    async def fn() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("database down")

    task = Periodic(fn, interval_s=0.01, name="t", what="writing things", log=logging.getLogger("doodlestream.test"))
    await task.stop()  # before start: nothing to stop
    with caplog.at_level(logging.WARNING, logger="doodlestream.test"):
        task.start()
        for _ in range(500):
            if calls >= 4:
                break
            await asyncio.sleep(0.01)
        await task.stop()
        await task.stop()
    seen = calls
    await asyncio.sleep(0.05)
    assert calls == seen >= 4 and task.failures == 1
    failed = [r for r in caplog.records if "writing things failed (OSError)" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is None
