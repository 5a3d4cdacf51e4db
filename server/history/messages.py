"""The history feature's messages: ``submit``, ``sprite``, ``delete``, ``mine``, ``moderate`` (protocol v1.1).

Each client message is a frozen class with its parser (:data:`PARSERS`, registered by
:class:`server.history.feature.DoodleHistory`); each reply is built by a function here.
Parsers raise only :class:`server.errors.ClientFault` (the fields are checked with
:mod:`server.protocol`'s field checks); the README's protocol section documents them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from server import protocol
from server.errors import InvalidField
from server.limits import MAX_MINE_KEYS, Limits
from server.protocol import MAX_KEY_CHARS, Payload

__all__ = [
    "MODERATE_ACTIONS",
    "PARSERS",
    "DeleteMsg",
    "MineMsg",
    "ModerateMsg",
    "SpriteMsg",
    "SubmitMsg",
    "deleted",
    "mine",
    "moderated",
    "parse_delete",
    "parse_mine",
    "parse_moderate",
    "parse_sprite",
    "parse_submit",
    "saved",
    "sprite",
]


@dataclass(frozen=True, slots=True)
class SubmitMsg:
    """Store the current drawing in the history; ``word`` is what the player meant to draw."""

    seq: int | None
    word: str | None


@dataclass(frozen=True, slots=True)
class SpriteMsg:
    """A PNG sprite of the current drawing (no ``id``) or of stored drawing ``id``.

    ``size``, ``color`` and ``width`` are checked by :mod:`server.history.sprite`."""

    seq: int | None
    id: int | None
    size: Any
    color: Any
    width: Any


@dataclass(frozen=True, slots=True)
class DeleteMsg:
    """v1.1: delete the kept drawing whose drawing key is ``key`` (its player's: only they were sent the key)."""

    seq: int | None
    key: str


@dataclass(frozen=True, slots=True)
class MineMsg:
    """v1.1: which of these drawing keys (a player's own, kept by their client) have a kept drawing, and its id."""

    seq: int | None
    keys: tuple[str, ...]


#: What a moderator may do to a kept drawing (``moderate.action``).
MODERATE_ACTIONS = ("hide", "show", "delete")


@dataclass(frozen=True, slots=True)
class ModerateMsg:
    """v1.1: with the server's admin token, hide, show again or delete kept drawing ``id``."""

    seq: int | None
    id: int
    action: str
    admin_token: str | None


def parse_submit(m: Payload, seq: int | None, limits: Limits, text: bool) -> SubmitMsg:
    return SubmitMsg(seq, protocol.word(m.get("word")))


def parse_sprite(m: Payload, seq: int | None, limits: Limits, text: bool) -> SpriteMsg:
    raw_id = m.get("id")
    return SpriteMsg(
        seq, None if raw_id is None else protocol.doodle_id(raw_id), m.get("size"), m.get("color"), m.get("width")
    )


def parse_mine(m: Payload, seq: int | None, limits: Limits, text: bool) -> MineMsg:
    keys = m.get("keys")
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= MAX_MINE_KEYS
        or not all(isinstance(k, str) and 1 <= len(k) <= MAX_KEY_CHARS and protocol.is_unicode(k) for k in keys)
    ):
        raise InvalidField(
            f"'keys' must be a list of 1 to {MAX_MINE_KEYS} drawing keys (strings of 1 to {MAX_KEY_CHARS} characters)"
        )
    return MineMsg(seq, tuple(dict.fromkeys(keys)))


def parse_delete(m: Payload, seq: int | None, limits: Limits, text: bool) -> DeleteMsg:
    return DeleteMsg(seq, protocol.drawing_key(m.get("key"), "key"))


def parse_moderate(m: Payload, seq: int | None, limits: Limits, text: bool) -> ModerateMsg:
    action = m.get("action")
    if action not in MODERATE_ACTIONS:
        raise InvalidField(f"'action' must be one of {list(MODERATE_ACTIONS)}")
    return ModerateMsg(seq, protocol.doodle_id(m.get("id")), str(action), protocol.admin_token(m))


#: The history's client message types and their parsers (what the tests fuzz).
PARSERS: Mapping[str, protocol.Parser[protocol.Message]] = MappingProxyType(
    {
        "submit": parse_submit,
        "sprite": parse_sprite,
        "delete": parse_delete,
        "mine": parse_mine,
        "moderate": parse_moderate,
    }
)


def saved(*, doodle_id: int, drawing: str | None = None) -> Payload:
    """v1.1 adds ``drawing``: the key the drawing is kept under (what ``delete`` takes)."""
    return (
        {"type": "saved", "id": doodle_id}
        if drawing is None
        else {"type": "saved", "id": doodle_id, "drawing": drawing}
    )


def deleted(*, doodle_id: int) -> Payload:
    return {"type": "deleted", "id": doodle_id}


def mine(*, drawings: dict[str, int]) -> Payload:
    """The ``mine`` reply: ``[{"key", "id"}]`` for the asked keys that have a kept, shown drawing."""
    return {"type": "mine", "drawings": [{"key": k, "id": i} for k, i in drawings.items()]}


def moderated(*, doodle_id: int, action: str) -> Payload:
    return {"type": "moderated", "id": doodle_id, "action": action}


def sprite(*, png: bytes) -> Payload:
    return {"type": "sprite", "png": png}
