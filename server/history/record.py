"""A drawing -> the JSON texts of its stored record, in small slices, with a size cap.

:func:`encode_record` turns a :class:`NewDoodle` (strokes as lists or numpy arrays)
into an :class:`EncodedRecord`: the drawing, guess lists and final top-5 as compact
JSON (integral floats written as ints, other numbers unchanged), and ``size``, the
record's measure against ``max_record_bytes`` and the history's byte quota.

Contract:

* It runs on the history's writer thread, never on the event loop, and encodes at most
  :data:`SLICE` numbers per call into the C JSON encoder, so it never holds the GIL
  (and so never stalls the event loop) for longer than one slice takes (well under a
  millisecond), whatever the drawing's size.
* It stops as soon as the record passes ``max_bytes`` and raises
  :class:`server.errors.LimitExceeded` with code ``record_too_large``: a huge drawing
  costs at most ``max_bytes`` of output and the time to encode that much.
* :func:`lower_bound` is a cheap (per stroke, not per point) lower bound of ``size``,
  for refusing hopeless drawings before they are queued.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from server.errors import LimitExceeded
from server.history.errors import HistoryCode

#: Numbers handed to the JSON encoder at once, in numbers (one GIL hold each).
SLICE = 1_024
#: Fewest bytes one point takes in a record: three one-digit numbers and their commas.
MIN_POINT_BYTES = 6

Number = float | int
Axis = Sequence[Number] | npt.NDArray[Any]
"""One coordinate axis of a stroke: a list of numbers or a 1-D numpy array."""
StrokeAxes = Sequence[Axis]
"""One stroke, ``(x, y, t)``."""
Guess = dict[str, Any]
"""``{"word": str, "score": float}``."""
GuessList = dict[str, Any]
"""``{"strokes": int, "guesses": [Guess...]}``: what a client was sent after a stroke."""


@dataclass(frozen=True, slots=True)
class NewDoodle:
    """A finished drawing to store (everything but its id and storage time)."""

    session: str
    client: str | None
    word: str | None
    reason: str
    """``submit``, ``clear``, ``disconnect`` or ``shutdown``."""
    started_at: float
    drawing: Sequence[StrokeAxes]
    guesses: list[GuessList]
    final: list[Guess]
    #: The drawing's key (:func:`server.session.new_drawing_key`): one record per key; ``None``: always a new record.
    key: str | None = None
    #: The session's target word while it drew (``hello.target``; ``None``: none, as on the sketchpad).
    target: str | None = None
    #: Whether the server sent ``recognized`` for :attr:`target` in this drawing (the round's verdict).
    target_recognized: bool = False

    @property
    def submitted(self) -> bool:
        """Whether the player asked to keep it (evicted after the automatically kept ones)."""
        return self.reason == "submit"


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    """The JSON texts of a record and its ``size`` in bytes."""

    drawing: str
    guesses: str
    final: str
    size: int


def dumps(v: Any) -> str:
    """Compact JSON, ASCII only (so its length is its size in bytes), no NaN."""
    return json.dumps(v, separators=(",", ":"), allow_nan=False)


def _text_bytes(d: NewDoodle) -> int:
    return sum(
        len(s.encode("utf-8", "surrogatepass"))
        for s in (d.session, d.client or "", d.word or "", d.reason, d.target or "")
    )


def lower_bound(d: NewDoodle) -> int:
    """A lower bound of the encoded record's ``size`` (cost: one step per stroke)."""
    points = sum(len(s[0]) for s in d.drawing if len(s))
    return MIN_POINT_BYTES * points + _text_bytes(d)


class _Budget:
    def __init__(self, max_bytes: int, used: int) -> None:
        self.max_bytes = max_bytes
        self.used = used

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.max_bytes:
            raise LimitExceeded(
                f"the drawing is too large to keep: its record passes {self.max_bytes} bytes (max_record_bytes)",
                code=HistoryCode.RECORD_TOO_LARGE,
            )


def _axis(values: Axis, budget: _Budget) -> str:
    seq: list[Number] = values.tolist() if isinstance(values, np.ndarray) else list(values)
    parts: list[str] = []
    for i in range(0, len(seq), SLICE):
        chunk = [int(v) if isinstance(v, float) and v.is_integer() else v for v in seq[i : i + SLICE]]
        text = dumps(chunk)[1:-1]
        budget.spend(len(text) + 1)
        parts.append(text)
    return "[" + ",".join(parts) + "]"


def encode_record(d: NewDoodle, max_bytes: int) -> EncodedRecord:
    """``d``'s record texts; ``record_too_large`` once they pass ``max_bytes`` (see module docstring)."""
    budget = _Budget(max_bytes, _text_bytes(d))
    strokes: list[str] = []
    for stroke in d.drawing:
        budget.spend(4)
        strokes.append("[" + ",".join(_axis(axis, budget) for axis in stroke) + "]")
    drawing = "[" + ",".join(strokes) + "]"
    guesses_parts = []
    for g in d.guesses:
        text = dumps(g)
        budget.spend(len(text) + 1)
        guesses_parts.append(text)
    guesses = "[" + ",".join(guesses_parts) + "]"
    final = dumps(d.final)
    budget.spend(len(final) + 4)
    size = len(drawing) + len(guesses) + len(final) + _text_bytes(d)
    budget.used = 0
    budget.spend(size)
    return EncodedRecord(drawing, guesses, final, size)
