"""server/logfilter.py: repeated identical log lines are rate-limited; distinct lines always pass."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import pytest

from server.logfilter import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, level: int = logging.ERROR, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("doodlestream.connection", level, __file__, 1, msg, args, info)


def test_identical_lines_pass_up_to_the_burst_then_the_next_window_reports_the_count() -> None:
    """burst lines pass per window; the rest are dropped and counted on the first line of the next window."""
    clock = Clock()
    f = RepeatFilter(burst=3, window_s=10, clock=clock)
    passed = [f.filter(record("session %s: unexpected error", "abc", exc=ValueError("x"))) for _ in range(1000)]
    assert sum(passed) == 3 and passed[:3] == [True] * 3
    clock.now = 10.0
    r = record("session %s: unexpected error", "abc", exc=ValueError("x"))
    assert f.filter(r) and "[997 identical lines suppressed in the last 10 s]" in r.getMessage()
    assert r.getMessage().startswith("session abc: unexpected error")


def test_distinct_lines_are_never_held_back_and_memory_is_bounded() -> None:
    """Lines that differ in text, level or exception all pass; the filter remembers at most `keys` lines."""
    f = RepeatFilter(burst=1, window_s=10, keys=50, clock=Clock())
    assert all(f.filter(record("session %d: closed", i)) for i in range(500))
    assert f.filter(record("same", level=logging.WARNING)) and f.filter(record("same", level=logging.ERROR))
    assert f.filter(record("same", exc=KeyError("a"))) and f.filter(record("same", exc=KeyError("b")))
    assert len(f._seen) <= 50


def test_the_server_installs_the_filter_on_its_log_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """python -m server's main() puts a RepeatFilter on every root log handler before it serves."""
    import server.__main__ as entry

    served = []

    def run_on(event_loop: str, main: Coroutine[Any, Any, int]) -> int:
        main.close()  # not served: what matters is the logging main() set up first
        served.append(event_loop)
        return 0

    monkeypatch.setattr(entry, "run_on", run_on)
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        assert entry.main(["--port", "0"]) == 0 and served
        assert all(any(isinstance(f, RepeatFilter) for f in h.filters) for h in root.handlers)
    finally:
        root.removeHandler(handler)
        for h in root.handlers:
            h.filters = [f for f in h.filters if not isinstance(f, RepeatFilter)]
