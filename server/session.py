"""One drawing session: the state behind one WebSocket connection.

A :class:`Session` owns the drawing (strokes with timing, in the client's pixels), the
stroke being drawn, the incrementally rendered :class:`server.render.Canvas`, and the
guesses the client received.  It does no I/O and never awaits: the connection handler
(:mod:`server.connection`) feeds it decoded messages and asks it for model input.

Promises:

* Limits from :class:`server.limits.Limits` (points per stroke, strokes and points per
  drawing) are checked *before* anything changes, so a rejected message leaves the
  drawing intact.
* Points are stored once, compactly: each finished stroke is one :class:`PackedStroke` (an
  ``(N, 2)`` float64 array of x, y that the canvas shares, and an int64 array of times:
  24 bytes a point); ``guesses_sent`` holds at most one record per stroke count.
* Changing the drawing is cheap (no rendering).  Rendering is split in two so it can run
  off the event loop: :meth:`Session.snapshot` (on the loop: references to the strokes,
  a copy of the pending one) and :meth:`Session.render_snapshot` (anywhere, one call at
  a time per session: it brings the canvas up to the snapshot and renders it; the server
  runs it in the session's :attr:`Session.lane` of :class:`server.render_pool.RenderPool`).
* :meth:`Session.model_input` (both steps at once) equals ``encode(strokes, canvas.encoding)`` of the
  finished strokes (plus the pending stroke when asked), whatever order of
  points/undo/clear led there.
* :meth:`Session.drawing` is the drawing in Quick Draw raw format
  (``[[x...], [y...], [t...]]`` per stroke, ``t`` in ms since the drawing's first point).
* Each drawing has a key (:attr:`Session.drawing_key`, :func:`new_drawing_key`: 128
  random bits, URL-safe): the history keeps one record per key and ``hello.resume``
  names it.  :meth:`Session.clear` starts a new drawing with a new key.
* :attr:`Session.game` holds the session's game settings and custom words
  (:class:`server.ranking.Game`); :meth:`Session.drawing_ms` is the time from the drawing's
  first point to its latest one, in the drawing's own ``t``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.custom_words import CustomVocabulary
from server.errors import ErrorCode, LimitExceeded
from server.limits import Limits
from server.protocol import Floats, Ints
from server.ranking import Game
from server.ratelimit import TimeShare
from server.render import Canvas, Image, Points
from server.render_pool import Lane

RawStroke = list[list[float]]
#: Points added at once up to which plain Python beats numpy for a maximum, in points.
SMALL_POINTS = 16
#: Random bytes of a drawing key, in bytes (128 bits: unguessable).
DRAWING_KEY_BYTES = 16


def new_drawing_key() -> str:
    """A fresh, unguessable drawing key (22 URL-safe characters)."""
    return secrets.token_urlsafe(DRAWING_KEY_BYTES)


@dataclass(frozen=True, slots=True, eq=False)
class PackedStroke:
    """One finished stroke: ``xy`` an ``(N, 2)`` float64 array (client pixels), ``t`` int64 ms."""

    xy: Points
    t: Ints

    def __len__(self) -> int:
        return len(self.t)


Snapshot = tuple[tuple[Points, ...], Points | None]
"""What :meth:`Session.render_snapshot` draws: the finished strokes and the pending one (or ``None``)."""


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
    #: What the per-address limits count the client under (``server.addresses.address_key``; "" when unknown).
    address: str = ""
    #: The share of the event loop the decoding of its address's messages may take (``None``: unbounded).
    decoding: TimeShare | None = None
    live_ms: int | None = None
    started_at: float = field(default_factory=time.time)
    canvas: Canvas = field(default_factory=Canvas)
    lane: Lane = field(default_factory=Lane)
    raw: list[PackedStroke] = field(default_factory=list)
    #: Points in the finished strokes.
    points: int = 0
    guesses_sent: list[GuessRecord] = field(default_factory=list)
    drawing_started_at: float | None = None
    _cur_x: list[Floats] = field(default_factory=list)
    _cur_y: list[Floats] = field(default_factory=list)
    _cur_t: list[Ints] = field(default_factory=list)
    _cur_n: int = 0
    _t0: float | None = None
    points_since_live: int = 0
    game: Game = field(default_factory=lambda: Game(CustomVocabulary()))
    drawing_key: str = field(default_factory=new_drawing_key)
    #: ``t`` of the drawing's first point and its latest ``t``, in ms (``None``: no point yet).
    first_t: int | None = None
    last_t: int = 0

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
        if self.points + self._cur_n + n > self.limits.max_points_per_drawing:
            raise LimitExceeded(
                f"a drawing holds at most {self.limits.max_points_per_drawing} points (undo or clear to go on)",
                code=ErrorCode.DRAWING_TOO_LARGE,
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
        if self.first_t is None:
            self.first_t = int(t[0])
        # A few points (a browser's frame): max over a list beats numpy's per-call cost.
        self.last_t = max(self.last_t, max(t.tolist()) if n <= SMALL_POINTS else int(t.max()))
        self.points_since_live += n

    def _pending(self) -> Points | None:
        if not self._cur_n:
            return None
        return np.stack([np.concatenate(self._cur_x), np.concatenate(self._cur_y)], axis=1)

    def pen_up(self) -> bool:
        """Finish the current stroke; ``False`` when there was none."""
        if not self._cur_n:
            return False
        pending = self._pending()
        assert pending is not None
        t = np.concatenate(self._cur_t)
        self._reset_current()
        self.raw.append(PackedStroke(pending, t))
        self.points += len(t)
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
        self.points -= len(self.raw.pop())
        while self.guesses_sent and self.guesses_sent[-1].strokes > len(self.raw):
            self.guesses_sent.pop()
        return True

    def clear(self) -> None:
        """Start a new drawing."""
        self._reset_current()
        self.raw.clear()
        self.points = 0
        self.guesses_sent.clear()
        self.drawing_started_at = None
        self._t0 = None
        self.first_t, self.last_t = None, 0
        self.drawing_key = new_drawing_key()
        self.game.recognized = False

    def drawing_ms(self) -> int:
        """Milliseconds from the drawing's first point to its latest one (0 before any)."""
        return 0 if self.first_t is None else max(0, self.last_t - self.first_t)

    def snapshot(self, *, pending: bool = False) -> Snapshot:
        """The drawing as :meth:`render_snapshot` takes it (cheap: strokes by reference)."""
        return tuple(s.xy for s in self.raw), self._pending() if pending else None

    def render_work(self, snapshot: Snapshot) -> int:
        """An upper bound of the points :meth:`render_snapshot` would normalize or draw."""
        return self.canvas.work(*snapshot)

    def render_snapshot(self, snapshot: Snapshot) -> Image:
        """The model input of ``snapshot`` (:attr:`Canvas.encoding`); updates the canvas (one caller at a time)."""
        strokes, pending = snapshot
        self.canvas.sync(strokes)
        return self.canvas.image(pending=pending)

    def model_input(self, *, pending: bool = False) -> Image:
        """The 64x64 model input for the finished strokes (and the pending one), here and now."""
        return self.render_snapshot(self.snapshot(pending=pending))

    def record_guesses(self, top: list[tuple[str, float]]) -> None:
        """Remember the guesses sent for the current stroke count (replacing older ones for
        the same or a higher count, so the list stays at most ``max_strokes`` long)."""
        while self.guesses_sent and self.guesses_sent[-1].strokes >= self.strokes:
            self.guesses_sent.pop()
        self.guesses_sent.append(GuessRecord(self.strokes, top))

    def drawing(self) -> list[RawStroke]:
        """The finished strokes in Quick Draw raw format."""
        return [[s.xy[:, 0].tolist(), s.xy[:, 1].tolist(), s.t.tolist()] for s in self.raw]

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
