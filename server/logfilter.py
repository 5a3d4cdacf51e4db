"""Rate-limits repeated identical log lines, so no client can flood the log.

:class:`RepeatFilter` is a :class:`logging.Filter` that :func:`install` puts on every
handler of the root logger (``python -m server`` does, once, at start).  Promises:

* Of the lines with the same logger, level and text (traceback included), at most
  ``LOG_REPEAT_BURST`` pass per ``LOG_REPEAT_WINDOW_S`` seconds; the others are dropped
  and counted, and the first line let through after the window says how many were
  dropped (``... [N identical lines suppressed in the last W s]``).
* Distinct lines are never held back; the filter remembers at most ``LOG_REPEAT_KEYS``
  of them (the oldest are forgotten first), so it cannot grow without bound.
* Thread-safe (the render pool and the batcher's thread log too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from server.limits import LOG_REPEAT_BURST, LOG_REPEAT_KEYS, LOG_REPEAT_WINDOW_S


class _Seen:
    __slots__ = ("passed", "start", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.passed = 0
        self.suppressed = 0


class RepeatFilter(logging.Filter):
    """Lets through at most ``burst`` identical lines per ``window_s`` (see module docstring)."""

    def __init__(
        self,
        burst: int = LOG_REPEAT_BURST,
        window_s: float = LOG_REPEAT_WINDOW_S,
        keys: int = LOG_REPEAT_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst, self.window_s, self.keys = burst, window_s, keys
        self._clock = clock
        self._seen: OrderedDict[tuple[str, int, str], _Seen] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, self._text(record))
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen.start >= self.window_s:
                dropped = seen.suppressed if seen is not None else 0
                seen = _Seen(now)
                self._seen[key] = seen
                if len(self._seen) > self.keys:
                    self._seen.popitem(last=False)
                if dropped:
                    note = f"[{dropped} identical lines suppressed in the last {self.window_s:g} s]"
                    record.msg = f"{record.getMessage()} {note}"
                    record.args = None
            self._seen.move_to_end(key)
            if seen.passed >= self.burst:
                seen.suppressed += 1
                return False
            seen.passed += 1
            return True

    @staticmethod
    def _text(record: logging.LogRecord) -> str:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string: key on the template
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f"\n{type(exc).__name__}: {exc}"
        return text


def install() -> RepeatFilter:
    """Put one :class:`RepeatFilter` on every handler of the root logger; returns it."""
    f = RepeatFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(f)
    return f
