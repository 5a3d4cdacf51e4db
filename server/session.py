"""One drawing session: the state behind one WebSocket connection.

A :class:`Session` owns the drawing (strokes with timing, in the client's pixels), the
stroke being drawn, the incrementally rendered :class:`server.render.Canvas`, and the
guesses the client received.  It does no I/O and never awaits: the connection handler
(:mod:`server.connection`) feeds it decoded messages and asks it for model input.

Promises:

* Limits from :class:`server.limits.Limits` (points per stroke, strokes per drawing) are
  checked *before* anything changes, so a rejected message leaves the drawing intact.
* :meth:`Session.model_input` equals ``render(strokes)`` of the finished strokes (plus
  the pending stroke when asked), whatever order of points/undo/clear led there.
* :meth:`Session.drawing` is the drawing in Quick Draw raw format
  (``[[x...], [y...], [t...]]`` per stroke, ``t`` in ms since the drawing's first point).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.errors import ErrorCode, LimitExceeded
from server.limits import Limits
from server.protocol import Floats, Ints
from server.render import Canvas, Image, Points

RawStroke = list[list[float]]


@dataclass
class GuessRecord:
    """The guesses sent after a pen-up (or undo), with the stroke count they were for."""

    strokes: int
    guesses: list[tuple[str, float]]


@dataclass
class Session:
    """State of one connection (see module docstring)."""

    limits: Limits
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    client: str | None = None
    live_ms: int | None = None
    started_at: float = field(default_factory=time.time)
    canvas: Canvas = field(default_factory=Canvas)
    raw: list[tuple[Floats, Floats, Ints]] = field(default_factory=list)
    guesses_sent: list[GuessRecord] = field(default_factory=list)
    drawing_started_at: float | None = None
    _cur_x: list[Floats] = field(default_factory=list)
    _cur_y: list[Floats] = field(default_factory=list)
    _cur_t: list[Ints] = field(default_factory=list)
    _cur_n: int = 0
    _t0: float | None = None
    points_since_live: int = 0

    # ---------------------------------------------------------------- drawing

    @property
    def strokes(self) -> int:
        """Finished strokes in the drawing."""
        return len(self.raw)

    @property
    def drawing_in_progress(self) -> bool:
        """Whether a stroke has points but no pen-up yet."""
        return self._cur_n > 0

    @property
    def has_drawing(self) -> bool:
        return bool(self.raw) or self._cur_n > 0

    def _now_ms(self, n: int) -> Ints:
        if self._t0 is None:
            self._t0 = time.monotonic()
        return np.full(n, int((time.monotonic() - self._t0) * 1000), np.int64)

    def add_points(self, x: Floats, y: Floats, t: Ints | None) -> None:
        """Append points to the current stroke (a new stroke after a pen-up)."""
        n = len(x)
        if n == 0:
            return
        if self._cur_n == 0 and len(self.raw) >= self.limits.max_strokes:
            raise LimitExceeded(
                f"a drawing holds at most {self.limits.max_strokes} strokes", code=ErrorCode.TOO_MANY_STROKES
            )
        if self._cur_n + n > self.limits.max_points_per_stroke:
            raise LimitExceeded(
                f"a stroke holds at most {self.limits.max_points_per_stroke} points", code=ErrorCode.STROKE_TOO_LONG
            )
        if self.drawing_started_at is None:
            self.drawing_started_at = time.time()
        if t is None:
            t = self._now_ms(n)
        elif self._t0 is None:
            self._t0 = time.monotonic() - float(t[0]) / 1000.0
        self._cur_x.append(x)
        self._cur_y.append(y)
        self._cur_t.append(t)
        self._cur_n += n
        self.points_since_live += n

    def _pending(self) -> Points | None:
        if not self._cur_n:
            return None
        return np.stack([np.concatenate(self._cur_x), np.concatenate(self._cur_y)], axis=1)

    def pen_up(self) -> bool:
        """Finish the current stroke; ``False`` when there was none."""
        if not self._cur_n:
            return False
        x, y, t = np.concatenate(self._cur_x), np.concatenate(self._cur_y), np.concatenate(self._cur_t)
        self._reset_current()
        self.raw.append((x, y, t))
        self.canvas.push(np.stack([x, y], axis=1))
        return True

    def _reset_current(self) -> None:
        self._cur_x, self._cur_y, self._cur_t = [], [], []
        self._cur_n = 0
        self.points_since_live = 0

    def undo(self) -> bool:
        """Drop the stroke in progress, else the last finished one; ``False`` if none."""
        if self._cur_n:
            self._reset_current()
            return True
        if not self.raw:
            return False
        self.raw.pop()
        self.canvas.pop()
        while self.guesses_sent and self.guesses_sent[-1].strokes > len(self.raw):
            self.guesses_sent.pop()
        return True

    def clear(self) -> None:
        """Start a new drawing."""
        self._reset_current()
        self.raw.clear()
        self.guesses_sent.clear()
        self.canvas.clear()
        self.drawing_started_at = None
        self._t0 = None

    def model_input(self, *, pending: bool = False) -> Image:
        """The 64x64 model input for the finished strokes (and the pending one)."""
        return self.canvas.image(pending=self._pending() if pending else None)

    def record_guesses(self, top: list[tuple[str, float]]) -> None:
        """Remember the guesses sent for the current stroke count."""
        self.guesses_sent.append(GuessRecord(self.strokes, top))

    def drawing(self) -> list[RawStroke]:
        """The finished strokes in Quick Draw raw format."""
        return [[x.tolist(), y.tolist(), t.tolist()] for x, y, t in self.raw]

    def summary(self) -> dict[str, Any]:
        """Everything the doodle history needs to store this drawing."""
        return {
            "session": self.id,
            "client": self.client,
            "drawing": self.drawing(),
            "guesses": [
                {"strokes": g.strokes, "guesses": [{"word": w, "score": s} for w, s in g.guesses]}
                for g in self.guesses_sent
            ],
            "final": [{"word": w, "score": s} for w, s in (self.guesses_sent[-1].guesses if self.guesses_sent else [])],
            "started_at": self.drawing_started_at or self.started_at,
        }
