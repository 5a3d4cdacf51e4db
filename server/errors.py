"""Every exception doodlestream raises on purpose, in one place.

Each :class:`ProtocolError` carries the ``code`` that goes into the protocol's
``error`` message, so the connection handler can answer any of them without knowing
which module raised it.  Anything that is not a :class:`DoodleError` reaching the
handler is a bug: it is logged and answered with code ``internal``.
"""

from __future__ import annotations


class DoodleError(Exception):
    """Base class of doodlestream's own errors."""


class ProtocolError(DoodleError):
    """A client message that cannot be accepted; answered with an ``error`` message."""

    code = "bad_message"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class MalformedMessage(ProtocolError):
    """The frame is not a msgpack/JSON map, or is truncated."""

    code = "malformed"


class UnknownType(ProtocolError):
    """The map's ``type`` is missing or not one protocol v1 knows."""

    code = "unknown_type"


class InvalidField(ProtocolError):
    """A field is missing, of the wrong type, non-finite, or lengths disagree."""

    code = "invalid_field"


class LimitExceeded(ProtocolError):
    """A named limit (see :mod:`server.limits`) was exceeded; ``code`` names which."""

    code = "limit"


class BadImage(ProtocolError):
    """An ``image`` payload could not be decoded or holds no drawing."""

    code = "bad_image"


class NotFound(ProtocolError):
    """A stored drawing that was asked for does not exist."""

    code = "not_found"


class InferenceFailed(ProtocolError):
    """The model call for this request failed; other requests are unaffected."""

    code = "inference_failed"


class ModelError(DoodleError):
    """The model file or its labels cannot be loaded."""


class BadSprite(ProtocolError):
    """A sprite's ``size``, ``color`` or ``width`` is out of its limits."""

    code = "bad_sprite"


class NothingToSave(ProtocolError):
    """``submit`` (or a sprite of the current drawing) on an empty canvas."""

    code = "nothing_to_save"


class StoreFailed(ProtocolError):
    """The history database could not write or read; the drawing was not stored."""

    code = "store_failed"


class ClientTooSlow(DoodleError):
    """A reply waited longer than ``send_timeout_s`` for a client that does not read; it is dropped."""
