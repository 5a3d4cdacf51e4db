"""Protocol v1.1: the one place that decodes, validates and encodes socket messages.

Every WebSocket frame carries one map with a ``type``.  Binary frames are msgpack,
text frames JSON (with ``bytes`` fields as base64); a reply uses the same encoding as
the message it answers.  A client map may carry ``seq`` (an integer) that every reply
to it echoes.  The README's "Protocol" section documents each message.

Contract:

* :func:`decode` turns a frame into one of the typed ``*Msg`` dataclasses below, or
  raises a :class:`server.errors.ClientFault` subclass whose ``code`` and message go
  into the ``error`` reply.  It never raises anything else, whatever the bytes.
* Point lists come back as float64 numpy arrays that are 1-D, equally long, finite and
  within :class:`server.limits.Limits` (coordinates within ``MAX_COORDINATE``); times
  as int64 milliseconds in ``0..MAX_TIME_MS``.
* Strings the server keeps (``word``, ``client``) are valid Unicode: a JSON frame's lone
  UTF-16 surrogate (``"\\ud800"``) is ``invalid_field``.  Text a player names (words,
  ``hello.client``, names: :func:`clean_text`) comes back NFC-normalised and trimmed; one
  holding control characters, line or paragraph separators, or bidi formatting characters
  (an RTL override shows ``gpj.exe`` as ``exe.jpg``) is ``bad_text``.
* :func:`encode` serialises a server message (a plain dict built by the helpers here).
* The core's message types are here (:data:`CORE_PARSERS`); a feature declares its own
  message classes and :class:`Parser` functions in its own module, built from the field
  checks here (:func:`word`, :func:`admin_token`, :func:`point_lists`...), and registers
  them with :meth:`server.plugin.Registry.handle`.  :func:`decode` takes the table of
  every installed type: the promise above holds for registered parsers too (the tests
  fuzz each one).

Versioning: ``protocol`` (1) changes only when a v1 client would break; ``protocol_minor``
counts additions a v1 client never notices: optional fields in client messages, fields
added to existing server messages (v1 clients ignore unknown fields), new client message
types, and new server message types sent only to a client that asked for them (a
``recognized`` only after ``hello.target``, ``taught`` only in answer to ``teach``).
A type no installed feature handles is ``unknown_type``.  Which additions a server has
installed is in ``welcome.features``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, Union

import msgpack
import numpy as np
import numpy.typing as npt

from server.errors import BadText, ErrorCode, InvalidField, LimitExceeded, MalformedMessage, UnknownType
from server.limits import (
    MAX_COORDINATE,
    MAX_LIVE_MS,
    MAX_TIME_MS,
    MAX_TOP_K,
    MAX_WORD_CHARS,
    MAX_WORD_LIST,
    MIN_LIVE_MS,
    Limits,
)

PROTOCOL_VERSION = 1
#: Additions to v1 a v1 client never notices (see the module docstring); 1 = the game API, 2 = rooms.
PROTOCOL_MINOR = 2
#: Characters of a drawing key a client may send back (``hello.resume``), in characters.
MAX_KEY_CHARS = 64
SCOPES = ("session", "server")
#: ``hello.recognize``: when the target counts as recognized (:func:`server.ranking.recognizes`).
RECOGNIZE_RULES = ("top1", "score")

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Payload = dict[str, Any]
#: Point lists up to this long are validated in plain Python (faster than numpy for a few values).
SMALL_LIST = 16


@dataclass(frozen=True, slots=True)
class HelloMsg:
    """Opt-ins: ``live_ms`` asks for guesses while drawing; ``client`` names the client kind.

    v1.1: ``words`` (a word list, ``None`` = every word), ``top_k``, ``target``,
    ``target_threshold``, ``recognize`` (one of :data:`RECOGNIZE_RULES`, ``None`` = the
    default) and ``resume`` (a drawing key); ``given`` names those the message carried (one
    it does not carry leaves the session's setting as it was)."""

    seq: int | None
    live_ms: int | None
    client: str | None
    words: tuple[str, ...] | None = None
    top_k: int | None = None
    target: str | None = None
    target_threshold: float | None = None
    resume: str | None = None
    given: frozenset[str] = frozenset()
    recognize: str | None = None


@dataclass(frozen=True, slots=True)
class PointsMsg:
    """Points appended to the current stroke (``t`` in ms since the drawing began)."""

    seq: int | None
    x: Floats
    y: Floats
    t: Ints | None


@dataclass(frozen=True, slots=True)
class StrokeMsg:
    """A whole stroke: the same as ``points`` followed by ``pen_up``."""

    seq: int | None
    x: Floats
    y: Floats
    t: Ints | None


@dataclass(frozen=True, slots=True)
class PenUpMsg:
    seq: int | None


@dataclass(frozen=True, slots=True)
class UndoMsg:
    seq: int | None


@dataclass(frozen=True, slots=True)
class ClearMsg:
    seq: int | None


@dataclass(frozen=True, slots=True)
class ImageMsg:
    """A PNG or JPEG of a whole canvas to classify."""

    seq: int | None
    data: bytes


ClientMsg = Union[
    HelloMsg,
    PointsMsg,
    StrokeMsg,
    PenUpMsg,
    UndoMsg,
    ClearMsg,
    ImageMsg,
]


# ---------------------------------------------------------------- decoding helpers


def _seq(m: Payload) -> int | None:
    seq = m.get("seq")
    if seq is None:
        return None
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InvalidField("'seq' must be an integer")
    if not -(2**63) <= seq < 2**64:
        raise InvalidField("'seq' is out of the 64-bit range")
    return seq


def _fits(v: list[Any], bound: float) -> bool:
    """Whether the short list ``v`` holds only ints and floats within ``+-bound`` (NaN is not): one pass, the
    common case of a browser's one-frame message; a list that fails is checked again for the precise error."""
    for item in v:
        kind = type(item)
        if (kind is not float and kind is not int) or not -bound <= item <= bound:
            return False
    return True


def _numbers(m: Payload, key: str, limits: Limits, *, bound: float, beyond: str) -> Floats:
    """``m[key]`` as a float64 array of at most ``max_points_per_message`` finite numbers
    within ``+-bound`` (``beyond`` is the error message for one outside it)."""
    v = m.get(key)
    if not isinstance(v, list):
        raise InvalidField(f"'{key}' must be a list of numbers")
    if len(v) <= SMALL_LIST and len(v) <= limits.max_points_per_message and _fits(v, bound):
        return np.array(v, dtype=np.float64)
    if len(v) > limits.max_points_per_message:
        raise LimitExceeded(
            f"'{key}' has {len(v)} points; at most {limits.max_points_per_message} per message",
            code=ErrorCode.TOO_MANY_POINTS,
        )
    for item in v:
        if type(item) is not int and type(item) is not float:
            raise InvalidField(f"'{key}' must hold only numbers (found {type(item).__name__})")
    if len(v) <= SMALL_LIST:  # a browser's one-frame message: plain Python beats numpy's per-call cost
        for item in v:
            if item != item or item in (math.inf, -math.inf):
                raise InvalidField(f"'{key}' holds NaN or an infinite value")
            if abs(item) > bound:
                raise InvalidField(beyond)
        return np.array(v, dtype=np.float64)
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (OverflowError, ValueError):
        raise InvalidField(beyond) from None
    if not np.isfinite(arr).all():
        raise InvalidField(f"'{key}' holds NaN or an infinite value")
    if len(arr) and float(np.abs(arr).max()) > bound:
        raise InvalidField(beyond)
    return arr


def point_lists(m: Payload, limits: Limits) -> tuple[Floats, Floats, Ints | None]:
    x = _numbers(m, "x", limits, bound=MAX_COORDINATE, beyond=f"'x' holds a coordinate beyond +-{MAX_COORDINATE:g}")
    y = _numbers(m, "y", limits, bound=MAX_COORDINATE, beyond=f"'y' holds a coordinate beyond +-{MAX_COORDINATE:g}")
    if len(x) != len(y):
        raise InvalidField(f"'x' has {len(x)} values but 'y' has {len(y)}")
    t_arr: Ints | None = None
    raw_t = m.get("t")
    if type(raw_t) is list and len(raw_t) == len(x) and len(raw_t) <= SMALL_LIST and _fits(raw_t, MAX_TIME_MS):
        # The common small case in plain Python (numpy's per-call cost dominates a few points); the same
        # checks and rounding (half to even, as np.rint) as below.
        if raw_t and min(raw_t) < 0:
            raise InvalidField(f"'t' must be milliseconds between 0 and {MAX_TIME_MS}")
        return x, y, np.array([round(v) for v in raw_t], dtype=np.int64)
    if raw_t is not None:
        times = f"'t' must be milliseconds between 0 and {MAX_TIME_MS}"
        t = _numbers(m, "t", limits, bound=MAX_TIME_MS, beyond=times)
        if len(t) != len(x):
            raise InvalidField(f"'t' has {len(t)} values but 'x' has {len(x)}")
        if len(t) and t.min() < 0:
            raise InvalidField(times)
        t_arr = np.rint(t).astype(np.int64)
    return x, y, t_arr


#: Unicode's Bidi_Control characters: they reorder how the text around them is shown.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Unicode categories refused in text a player names: control characters, surrogates, line and paragraph
#: separators, and invisible format characters (``Cf``, but for :data:`ALLOWED_FORMAT`).
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp", "Cf"})
#: Format characters text may hold all the same: the zero-width (non-)joiners and the emoji variation
#: selector that emoji sequences need.
ALLOWED_FORMAT = frozenset("\u200c\u200d\ufe0f")


def clean_text(v: Any, key: str, *, max_chars: int = MAX_WORD_CHARS, empty: bool = False) -> str:
    """Text a player names (a word, a name, ``hello.client``): a string that is valid Unicode, returned
    NFC-normalised and trimmed, of 1 (0 when ``empty``) to ``max_chars`` characters; control and bidi
    characters (and invisible format characters but joiners) are ``bad_text``."""
    if not isinstance(v, str):
        raise InvalidField(f"'{key}' must hold strings")
    if len(v) > 4 * max_chars:  # before normalising: NFC at most triples a string
        raise InvalidField(f"'{key}' must hold text of 1 to {max_chars} characters")
    if not is_unicode(v):
        raise InvalidField(f"'{key}' must be valid Unicode (no lone surrogates)")
    text = unicodedata.normalize("NFC", v).strip()
    bad = next((c for c in text if c in BIDI_CONTROLS or _refused(c)), None)
    if bad is not None:
        raise BadText(f"'{key}' must not hold control or bidi-formatting characters (found U+{ord(bad):04X})")
    if (not text and not empty) or len(text) > max_chars:
        raise InvalidField(f"'{key}' must hold text of 1 to {max_chars} characters")
    return text


def _refused(c: str) -> bool:
    return unicodedata.category(c) in REFUSED_CATEGORIES and c not in ALLOWED_FORMAT


def is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (JSON's ``\\ud800`` escapes make lone surrogates, which are not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bytes(m: Payload, key: str, *, text: bool, max_bytes: int) -> bytes:
    v = m.get(key)
    if text:
        if not isinstance(v, str):
            raise InvalidField(f"'{key}' must be a base64 string in JSON")
        if len(v) > (max_bytes * 4) // 3 + 8:
            raise LimitExceeded(f"'{key}' is larger than {max_bytes} bytes", code=ErrorCode.IMAGE_TOO_LARGE)
        try:
            v = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidField(f"'{key}' is not valid base64") from None
    if not isinstance(v, (bytes, bytearray)):
        raise InvalidField(f"'{key}' must be binary (msgpack bin)")
    if len(v) > max_bytes:
        raise LimitExceeded(f"'{key}' is {len(v)} bytes; at most {max_bytes}", code=ErrorCode.IMAGE_TOO_LARGE)
    return bytes(v)


def _hello(m: Payload, seq: int | None, limits: Limits, text: bool) -> HelloMsg:
    live = m.get("live_ms")
    if live is not None:
        if isinstance(live, bool) or not isinstance(live, int):
            raise InvalidField("'live_ms' must be an integer number of milliseconds")
        if live != 0 and not MIN_LIVE_MS <= live <= MAX_LIVE_MS:
            raise InvalidField(f"'live_ms' must be 0 (off) or between {MIN_LIVE_MS} and {MAX_LIVE_MS}")
    client = m.get("client")
    if client is not None:
        client = clean_text(client, "client", empty=True)
    given = frozenset(k for k in ("words", "top_k", "target", "target_threshold", "recognize", "resume") if k in m)
    words = m.get("words")
    if words is not None:
        if not isinstance(words, list) or not 1 <= len(words) <= MAX_WORD_LIST:
            raise InvalidField(f"'words' must be a list of 1 to {MAX_WORD_LIST} words (or null: every word)")
        words = tuple(dict.fromkeys(word(w, "words") for w in words))
    k = m.get("top_k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_TOP_K):
        raise InvalidField(f"'top_k' must be an integer from 1 to {MAX_TOP_K}")
    target = word(m.get("target"), "target")
    threshold = m.get("target_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1
    ):
        raise InvalidField("'target_threshold' must be a score in (0, 1]")
    recognize = m.get("recognize")
    if recognize is not None and (not isinstance(recognize, str) or recognize not in RECOGNIZE_RULES):
        raise InvalidField(f"'recognize' must be one of {', '.join(map(repr, RECOGNIZE_RULES))} (or null: the default)")
    resume = m.get("resume")
    if resume is not None and (not isinstance(resume, str) or not 1 <= len(resume) <= MAX_KEY_CHARS):
        raise InvalidField(f"'resume' must be a drawing key (a string of at most {MAX_KEY_CHARS} characters)")
    if resume is not None and not is_unicode(resume):
        raise InvalidField("'resume' must be valid Unicode (no lone surrogates)")
    return HelloMsg(
        seq,
        live or None,
        client,
        words,
        k,
        target,
        None if threshold is None else float(threshold),
        resume,
        given,
        recognize,
    )


def _points_msg(m: Payload, seq: int | None, limits: Limits, text: bool) -> PointsMsg:
    return PointsMsg(seq, *point_lists(m, limits))


def _stroke_msg(m: Payload, seq: int | None, limits: Limits, text: bool) -> StrokeMsg:
    return StrokeMsg(seq, *point_lists(m, limits))


def _image_msg(m: Payload, seq: int | None, limits: Limits, text: bool) -> ImageMsg:
    return ImageMsg(seq, _bytes(m, "png", text=text, max_bytes=limits.max_image_bytes))


def word(v: Any, key: str = "word") -> str | None:
    """A player's word: :func:`clean_text` of 1..MAX_WORD_CHARS characters (``None`` stays ``None``)."""
    if v is None:
        return None
    return clean_text(v, key)


def required_word(m: Payload) -> str:
    """``m["word"]`` as :func:`word`, which must be there."""
    found = word(m.get("word"))
    if found is None:
        raise InvalidField("'word' is required")
    return found


def scope(m: Payload) -> str:
    """``m["scope"]``: one of :data:`SCOPES` (``session`` when absent)."""
    value = m.get("scope", "session")
    if value not in SCOPES:
        raise InvalidField(f"'scope' must be one of {list(SCOPES)}")
    return str(value)


def admin_token(m: Payload) -> str | None:
    """``m["admin_token"]``: a string of at most 1024 characters, or ``None``."""
    token = m.get("admin_token")
    if token is not None and (not isinstance(token, str) or len(token) > 1024 or not is_unicode(token)):
        raise InvalidField("'admin_token' must be a string of at most 1024 characters")
    return token


def doodle_id(v: Any) -> int:
    """The positive 63-bit id of a kept drawing."""
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v < 2**63:
        raise InvalidField("'id' must be the positive integer id of a stored drawing")
    return v


def drawing_key(v: Any, key: str) -> str:
    """A drawing key a client sends back: a string of 1..:data:`MAX_KEY_CHARS` characters."""
    if not isinstance(v, str) or not 1 <= len(v) <= MAX_KEY_CHARS or not is_unicode(v):
        raise InvalidField(f"'{key}' must be a drawing key (a string of 1 to {MAX_KEY_CHARS} characters)")
    return v


class Message(Protocol):
    """What every decoded client message has: the ``seq`` its replies echo."""

    @property
    def seq(self) -> int | None: ...


M_co = TypeVar("M_co", bound=Message, covariant=True)


class Parser(Protocol[M_co]):
    """``(map, seq, limits, text)`` -> one message; raises only :class:`server.errors.ClientFault`."""

    def __call__(self, m: Payload, seq: int | None, limits: Limits, text: bool, /) -> M_co: ...


#: The core's client message types and their parsers; a feature's own types come with it
#: (:meth:`server.plugin.Registry.handle`) and are decoded by passing ``parsers`` to :func:`decode`.
CORE_PARSERS: Mapping[str, Parser[ClientMsg]] = MappingProxyType(
    {
        "hello": _hello,
        "points": _points_msg,
        "stroke": _stroke_msg,
        "pen_up": lambda m, seq, limits, text: PenUpMsg(seq),
        "undo": lambda m, seq, limits, text: UndoMsg(seq),
        "clear": lambda m, seq, limits, text: ClearMsg(seq),
        "image": _image_msg,
    }
)


def load(frame: bytes | str, *, limits: Limits) -> Payload:
    """Frame -> map, or :class:`MalformedMessage`.  Bounds every container size."""
    if len(frame) > limits.max_frame_bytes:
        raise LimitExceeded(f"frame is larger than {limits.max_frame_bytes} bytes", code=ErrorCode.FRAME_TOO_LARGE)
    try:
        if isinstance(frame, str):
            obj = json.loads(frame)
        else:
            obj = msgpack.unpackb(
                frame,
                raw=False,
                strict_map_key=False,
                max_str_len=limits.max_image_bytes * 2,
                max_bin_len=limits.max_frame_bytes,  # an over-large image gets image_too_large below
                max_array_len=limits.max_points_per_message * 4,
                max_map_len=256,
                max_ext_len=0,
            )
    except RecursionError:
        raise MalformedMessage("message is nested too deeply") from None
    except (ValueError, TypeError, UnicodeDecodeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        kind = "JSON" if isinstance(frame, str) else "msgpack"
        raise MalformedMessage(f"frame is not valid {kind}: {type(e).__name__}") from None
    except Exception as e:  # msgpack raises a few other exception types on hostile input
        raise MalformedMessage(f"frame could not be decoded: {type(e).__name__}") from None
    if not isinstance(obj, dict):
        raise MalformedMessage("a message must be a map with a 'type'")
    return obj


def decode(frame: bytes | str, *, limits: Limits, parsers: Mapping[str, Parser[Message]] = CORE_PARSERS) -> Message:
    """Frame -> typed client message (see module docstring), for the types in ``parsers`` (the core's and
    the installed features'); any other type is :class:`UnknownType`."""
    return decode_typed(frame, limits=limits, parsers=parsers)[1]


def decode_typed(
    frame: bytes | str, *, limits: Limits, parsers: Mapping[str, Parser[Message]] = CORE_PARSERS
) -> tuple[str, Message]:
    """As :func:`decode`, with the message's ``type`` (what the server dispatches on)."""
    m = load(frame, limits=limits)
    kind = m.get("type")
    if not isinstance(kind, str):
        raise UnknownType("a message needs a string 'type'")
    parser = parsers.get(kind)
    if parser is None:
        shown = kind if len(kind) <= 32 else kind[:32] + "..."
        raise UnknownType(f"unknown message type {shown!r}; this server knows {sorted(parsers)}")
    return kind, parser(m, _seq(m), limits, isinstance(frame, str))


def seq_of(frame: bytes | str, *, limits: Limits) -> int | None:
    """Best effort: the ``seq`` of a frame that failed to decode, to echo in the error."""
    try:
        seq = load(frame, limits=limits).get("seq")
    except MalformedMessage:
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and -(2**63) <= seq < 2**64 else None


# ---------------------------------------------------------------- encoding


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def encode(msg: Payload, *, text: bool) -> bytes | str:
    """Server message -> frame (JSON text when ``text``, else msgpack binary)."""
    if text:
        return json.dumps(_jsonable(msg), separators=(",", ":"))
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


def with_seq(msg: Payload, seq: int | None) -> Payload:
    """``msg`` with ``seq`` echoed when the request carried one."""
    if seq is not None:
        msg["seq"] = seq
    return msg


def welcome(*, session: str, model: str, classes: int, limits: Payload, features: list[str] | None = None) -> Payload:
    return {
        "type": "welcome",
        "protocol": PROTOCOL_VERSION,
        "protocol_minor": PROTOCOL_MINOR,
        "session": session,
        "model": model,
        "classes": classes,
        "limits": limits,
        "features": sorted(features or []),
    }


def score(value: float) -> float:
    """A score as sent: rounded to 5 decimals."""
    return round(float(value), 5)


def guesses(
    *,
    strokes: int,
    top: list[tuple[str, float]],
    ms: float,
    live: bool = False,
    drawing: str | None = None,
    target: tuple[str, float, int, bool] | None = None,
) -> Payload:
    msg: Payload = {
        "type": "guesses",
        "strokes": strokes,
        "guesses": [{"word": w, "score": score(s)} for w, s in top],
        "ms": round(ms, 3),
    }
    if live:
        msg["live"] = True
    if drawing is not None:
        msg["drawing"] = drawing
    if target is not None:
        msg["target"] = {"word": target[0], "score": score(target[1]), "rank": target[2], "almost": target[3]}
    return msg


def recognized(*, word: str, score_: float, strokes: int, ms: int, rule: str) -> Payload:
    """v1.1 adds ``rule``: the rule (``hello.recognize``) that recognized it."""
    return {"type": "recognized", "word": word, "score": score(score_), "strokes": strokes, "ms": ms, "rule": rule}


def cleared(*, drawing: str | None = None) -> Payload:
    return {"type": "cleared"} if drawing is None else {"type": "cleared", "drawing": drawing}


def error(*, code: StrEnum, message: str) -> Payload:
    """An ``error``: ``code`` is the core's :class:`server.errors.ErrorCode` or a feature's own code."""
    return {"type": "error", "code": code.value, "message": message}
