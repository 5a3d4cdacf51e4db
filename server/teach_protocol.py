"""The ``teach`` feature's wire format (protocol v1.1): ``teach`` and ``forget``, their replies and error codes.

:class:`server.teach.Teaching` registers :data:`PARSERS` and :class:`TeachCode`; the
README's protocol section documents the messages.  Parsers raise only
:class:`server.errors.ClientFault`: each example drawing is checked against the drawing
limits as ``stroke`` messages are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from server import protocol
from server.errors import ClientFault, ErrorCode, InvalidField, LimitExceeded
from server.limits import MAX_TEACH_DRAWINGS, Limits
from server.protocol import Payload

__all__ = [
    "PARSERS",
    "ForgetMsg",
    "TeachCode",
    "TeachMsg",
    "WordTaken",
    "forgotten",
    "parse_forget",
    "parse_teach",
    "taught",
]


class TeachCode(StrEnum):
    """The ``error`` codes only ``teach`` answers."""

    #: Teaching a model word, or a server-scope word in session scope.
    WORD_TAKEN = "word_taken"
    #: A new word past the scope's vocabulary size.
    TOO_MANY_WORDS = "too_many_words"
    #: A word that would hold more than ``max_custom_examples_per_word`` examples.
    TOO_MANY_EXAMPLES = "too_many_examples"


class WordTaken(ClientFault):
    """A custom word may not be named like one of the model's words (or, for a session, a server one)."""

    code = TeachCode.WORD_TAKEN


@dataclass(frozen=True, slots=True)
class TeachMsg:
    """Teach ``word`` from example ``drawings`` (each a tuple of ``(N, 2)`` point arrays, one per stroke)."""

    seq: int | None
    word: str
    drawings: tuple[tuple[npt.NDArray[np.float64], ...], ...]
    scope: str
    admin_token: str | None


@dataclass(frozen=True, slots=True)
class ForgetMsg:
    """Remove custom word ``word`` from ``scope``."""

    seq: int | None
    word: str
    scope: str
    admin_token: str | None


def _example(v: Any, limits: Limits) -> tuple[npt.NDArray[np.float64], ...]:
    """One example drawing: a list of strokes as in ``stroke`` messages, within the drawing limits."""
    if not isinstance(v, list) or not v:
        raise InvalidField("each of 'drawings' must be a non-empty list of strokes ({'x', 'y', 't'?} maps)")
    if len(v) > limits.max_strokes:
        raise LimitExceeded(
            f"an example drawing holds at most {limits.max_strokes} strokes", code=ErrorCode.TOO_MANY_STROKES
        )
    strokes, total = [], 0
    for stroke in v:
        if not isinstance(stroke, dict):
            raise InvalidField("a stroke of 'drawings' must be a map with 'x' and 'y'")
        x, y, _ = protocol.point_lists(stroke, limits)
        if not len(x):
            raise InvalidField("a stroke of 'drawings' needs at least one point")
        if len(x) > limits.max_points_per_stroke:
            raise LimitExceeded(
                f"a stroke holds at most {limits.max_points_per_stroke} points", code=ErrorCode.STROKE_TOO_LONG
            )
        total += len(x)
        most = min(limits.max_points_per_drawing, limits.max_teach_points_per_drawing)
        if total > most:
            raise LimitExceeded(f"an example drawing holds at most {most} points", code=ErrorCode.DRAWING_TOO_LARGE)
        strokes.append(np.stack([x, y], axis=1))
    return tuple(strokes)


def parse_teach(m: Payload, seq: int | None, limits: Limits, text: bool) -> TeachMsg:
    word = protocol.required_word(m)
    drawings = m.get("drawings")
    if not isinstance(drawings, list) or not 1 <= len(drawings) <= MAX_TEACH_DRAWINGS:
        raise InvalidField(f"'drawings' must be a list of 1 to {MAX_TEACH_DRAWINGS} drawings")
    parsed = tuple(_example(d, limits) for d in drawings)
    return TeachMsg(seq, word, parsed, protocol.scope(m), protocol.admin_token(m))


def parse_forget(m: Payload, seq: int | None, limits: Limits, text: bool) -> ForgetMsg:
    return ForgetMsg(seq, protocol.required_word(m), protocol.scope(m), protocol.admin_token(m))


#: The ``teach`` feature's client message types and their parsers.
PARSERS: Mapping[str, protocol.Parser[protocol.Message]] = MappingProxyType(
    {"teach": parse_teach, "forget": parse_forget}
)


def taught(*, word: str, examples: int, scope: str) -> Payload:
    return {"type": "taught", "word": word, "examples": examples, "scope": scope}


def forgotten(*, word: str, scope: str) -> Payload:
    return {"type": "forgotten", "word": word, "scope": scope}
