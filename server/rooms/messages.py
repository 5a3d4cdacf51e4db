"""The rooms' client messages (protocol v1.2): frozen classes and their total parsers.

Each parser takes the frame's map as :func:`server.protocol.decode` does
(``(map, seq, limits, text)``) and returns its message, or raises a
:class:`server.errors.ClientFault` (``invalid_field``) naming the field; it never raises
anything else, whatever the map holds.  Names and guesses go through
:func:`server.rooms.text.clean` here, so the room only ever sees text fit to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from server.errors import InvalidField
from server.limits import (
    MAX_GUESS_CHARS,
    MAX_NAME_CHARS,
    MAX_ROUNDS,
    MAX_TURN_S,
    MAX_WORD_CHARS,
    MAX_WORD_LIST,
    MIN_TURN_S,
    Limits,
)
from server.protocol import Message, Parser
from server.rooms.codes import CODE_CHARS, MAX_KEY_CHARS
from server.rooms.room import DEFAULT_ROUNDS, DEFAULT_TURN_S
from server.rooms.text import clean

__all__ = [
    "PARSERS",
    "GuessMsg",
    "RoomCreateMsg",
    "RoomJoinMsg",
    "RoomLeaveMsg",
    "RoomStartMsg",
    "parse_guess",
    "parse_room_create",
    "parse_room_join",
    "parse_room_leave",
    "parse_room_start",
]

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RoomCreateMsg:
    """Create a room and take its first seat as ``name``; ``words`` (``None``: every word) as ``hello.words``."""

    seq: int | None
    name: str
    rounds: int
    seconds: int
    words: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class RoomJoinMsg:
    """Join room ``code`` as ``name``, or take back a held seat with its rejoin ``key``."""

    seq: int | None
    code: str
    name: str | None
    key: str | None


@dataclass(frozen=True, slots=True)
class RoomLeaveMsg:
    """Leave the room for good (the seat is freed)."""

    seq: int | None


@dataclass(frozen=True, slots=True)
class RoomStartMsg:
    """The host starts a game."""

    seq: int | None


@dataclass(frozen=True, slots=True)
class GuessMsg:
    """Guess the word being drawn."""

    seq: int | None
    text: str


def _count(m: Payload, key: str, default: int, low: int, high: int, unit: str) -> int:
    v = m.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise InvalidField(f"'{key}' must be a whole number of {unit} from {low} to {high}")
    return v


def parse_room_create(m: Payload, seq: int | None, limits: Limits, text: bool) -> RoomCreateMsg:
    name = clean(m.get("name"), "name", max_chars=MAX_NAME_CHARS)
    rounds = _count(m, "rounds", DEFAULT_ROUNDS, 1, MAX_ROUNDS, "rounds")
    seconds = _count(m, "seconds", DEFAULT_TURN_S, MIN_TURN_S, MAX_TURN_S, "seconds")
    words = m.get("words")
    if words is not None:
        if not isinstance(words, list) or not 1 <= len(words) <= MAX_WORD_LIST:
            raise InvalidField(f"'words' must be a list of 1 to {MAX_WORD_LIST} words (or null: every word)")
        words = tuple(dict.fromkeys(clean(w, "words", max_chars=MAX_WORD_CHARS) for w in words))
    return RoomCreateMsg(seq, name, rounds, seconds, words)


def parse_room_join(m: Payload, seq: int | None, limits: Limits, text: bool) -> RoomJoinMsg:
    code = m.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= 4 * CODE_CHARS:
        raise InvalidField("'code' must be a room code (a string such as 'ABCD-EFGH')")
    key = m.get("key")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS or not key.isascii()):
        raise InvalidField(f"'key' must be a rejoin key (a string of at most {MAX_KEY_CHARS} characters)")
    name = m.get("name")
    if key is None or name is not None:
        name = clean(name, "name", max_chars=MAX_NAME_CHARS)
    return RoomJoinMsg(seq, code, name, key)


def parse_room_leave(m: Payload, seq: int | None, limits: Limits, text: bool) -> RoomLeaveMsg:
    return RoomLeaveMsg(seq)


def parse_room_start(m: Payload, seq: int | None, limits: Limits, text: bool) -> RoomStartMsg:
    return RoomStartMsg(seq)


def parse_guess(m: Payload, seq: int | None, limits: Limits, text: bool) -> GuessMsg:
    return GuessMsg(seq, clean(m.get("text"), "text", max_chars=MAX_GUESS_CHARS))


#: The rooms' client message types and their parsers (what :class:`server.rooms.feature.Rooms` registers).
PARSERS: Mapping[str, Parser[Message]] = MappingProxyType(
    {
        "room_create": parse_room_create,
        "room_join": parse_room_join,
        "room_leave": parse_room_leave,
        "room_start": parse_room_start,
        "guess": parse_guess,
    }
)
