"""The exceptions tree and the core's protocol error codes; where every other exception type lives.

:class:`ErrorCode` lists each ``code`` the core's ``error`` messages can carry.  A
feature that answers errors of its own declares their codes as its own ``StrEnum`` and
registers it (:meth:`server.plugin.Registry.errors`); the README's list is checked
against the core's and the shipped features' codes together.  A :class:`Fault` is an
error the server answers: over the socket with an ``error`` message carrying its
``code``, over HTTP with its ``http_status``.  Its two bases say whose fault it is:

* :class:`ClientFault` (HTTP 4xx): the request cannot be accepted; the client can fix it.
* :class:`ServerFault` (HTTP 5xx): the server could not do it (model, database); the
  request was fine.

Anything that is not a :class:`Fault` reaching a handler is a bug: it is logged and
answered with code ``internal`` (HTTP 500).

Where each exception type lives (a test holds every module to this list):

* here: the tree's bases (:class:`DoodleError`, :class:`Fault`), the core's faults
  (protocol, limits, pictures, model, admin token), the stores' errors
  (:class:`StoreError` for a database that failed, whatever its engine, with
  :class:`StoreTimeout`; :class:`StoreFailed` is how they are answered) and the server's
  own (:class:`StartupFailed`, :class:`ModelError`, :class:`ClientTooSlow`);
* ``server/history/errors.py``: the history's codes and faults (``submit``, ``sprite``,
  stored records); ``server/history/postgres.py``: ``PostgresError``, its engine's
  :class:`StoreError`;
* ``server/teach_protocol.py``: the ``teach`` feature's codes and faults;
  ``server/custom_words.py``: the vocabulary's own ``CustomWordError`` tree (a
  ``ValueError``: the library is used outside the server too), answered by ``teach``;
* ``server/resume.py``: ``unknown_drawing``;
* ``server/rooms/errors.py``: the rooms feature's codes and faults;
* ``server/quickdraw.py``: ``DataError`` (bad Quick, Draw! data, a ``ValueError``);
  ``server/spawn.py``: a child server that did not start or died (``RuntimeError``).
"""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus


class ErrorCode(StrEnum):
    """The core's ``code`` values of the protocol's ``error`` message (features add their own)."""

    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELD = "invalid_field"
    FRAME_TOO_LARGE = "frame_too_large"
    TOO_MANY_POINTS = "too_many_points"
    STROKE_TOO_LONG = "stroke_too_long"
    TOO_MANY_STROKES = "too_many_strokes"
    DRAWING_TOO_LARGE = "drawing_too_large"
    RATE_LIMITED = "rate_limited"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    BAD_IMAGE = "bad_image"
    NOT_FOUND = "not_found"
    STORE_FAILED = "store_failed"
    INFERENCE_FAILED = "inference_failed"
    UNKNOWN_WORD = "unknown_word"
    FORBIDDEN = "forbidden"
    BAD_TEXT = "bad_text"
    INTERNAL = "internal"


class DoodleError(Exception):
    """Base class of doodlestream's own errors."""


class Fault(DoodleError):
    """An error answered to the client: ``code`` in an ``error`` message, or ``http_status``."""

    #: :class:`ErrorCode`, or a feature's own code.
    code: StrEnum
    http_status: HTTPStatus

    @property
    def message(self) -> str:
        return str(self.args[0])


class ClientFault(Fault):
    """A request the client got wrong; answered, and the session goes on."""

    http_status = HTTPStatus.BAD_REQUEST


class ServerFault(Fault):
    """A request the server could not carry out (model or database failed)."""

    http_status = HTTPStatus.INTERNAL_SERVER_ERROR


class MalformedMessage(ClientFault):
    """The frame is not a msgpack/JSON map, or is truncated."""

    code = ErrorCode.MALFORMED


class UnknownType(ClientFault):
    """The map's ``type`` is missing or not one protocol v1 knows."""

    code = ErrorCode.UNKNOWN_TYPE


class InvalidField(ClientFault):
    """A field is missing, of the wrong type, non-finite, or lengths disagree."""

    code = ErrorCode.INVALID_FIELD


class LimitExceeded(ClientFault):
    """A named limit (see :mod:`server.limits`) was exceeded; ``code`` names which."""

    def __init__(self, message: str, *, code: StrEnum) -> None:
        super().__init__(message)
        self.code = code  # per instance: which limit


class BadText(ClientFault):
    """A word, name or ``hello.client`` holding control or bidi-formatting characters."""

    code = ErrorCode.BAD_TEXT


class BadImage(ClientFault):
    """An ``image`` payload could not be decoded or holds no drawing."""

    code = ErrorCode.BAD_IMAGE


class NotFound(ClientFault):
    """A stored drawing that was asked for does not exist."""

    code = ErrorCode.NOT_FOUND
    http_status = HTTPStatus.NOT_FOUND


class UnknownWord(ClientFault):
    """Words that are neither the model's nor custom words the session can see; ``words`` lists them."""

    code = ErrorCode.UNKNOWN_WORD

    def __init__(self, words: list[str], message: str | None = None) -> None:
        self.words = sorted(set(words))
        super().__init__(message or f"unknown words: {', '.join(map(repr, self.words))}")


class Forbidden(ClientFault):
    """A request that needs the admin token, without it (or with a wrong one, or none configured)."""

    code = ErrorCode.FORBIDDEN
    http_status = HTTPStatus.FORBIDDEN


class InferenceFailed(ServerFault):
    """The model call for this request failed; other requests are unaffected."""

    code = ErrorCode.INFERENCE_FAILED


class StoreFailed(ServerFault):
    """The doodle database could not write or read; nothing was stored or found."""

    code = ErrorCode.STORE_FAILED


class StoreError(DoodleError):
    """A store's database failed (locked, lost, refused, damaged), whatever its engine: SQLite and
    PostgreSQL raise it alike (:mod:`server.stores`); callers answer it with :class:`StoreFailed`."""


class StoreTimeout(StoreError):
    """A call to a store was not done within its timeout (it may still finish later)."""


class StartupFailed(DoodleError):
    """A feature could not start (e.g. its database cannot be opened); the server does not listen."""


class ModelError(DoodleError):
    """The model file or its labels cannot be loaded."""


class ClientTooSlow(DoodleError):
    """A reply waited longer than ``send_timeout_s`` for a client that does not read; it is dropped."""
