"""The rooms feature's error codes and faults (registered by :class:`server.rooms.feature.Rooms`).

Shared ones stay the core's (:mod:`server.errors`): ``invalid_field``, ``rate_limited``
(guesses, joins a minute) and ``unknown_word`` (a room's word list).
"""

from __future__ import annotations

from enum import StrEnum

from server.errors import ClientFault

__all__ = [
    "AlreadyInRoom",
    "NotHost",
    "NotInRoom",
    "NotNow",
    "RoomCode",
    "RoomFull",
    "TooManyRooms",
    "UnknownRoom",
    "UnknownSeat",
]


class RoomCode(StrEnum):
    """The ``error`` codes only the rooms answer."""

    UNKNOWN_ROOM = "unknown_room"
    ROOM_FULL = "room_full"
    UNKNOWN_SEAT = "unknown_seat"
    NOT_IN_ROOM = "not_in_room"
    ALREADY_IN_ROOM = "already_in_room"
    NOT_HOST = "not_host"
    NOT_NOW = "not_now"
    TOO_MANY_ROOMS = "too_many_rooms"


class UnknownRoom(ClientFault):
    """No open room has this code (never had, or it ended: its players left, or its server restarted)."""

    code = RoomCode.UNKNOWN_ROOM


class RoomFull(ClientFault):
    """The room already seats ``max_room_players`` players."""

    code = RoomCode.ROOM_FULL


class UnknownSeat(ClientFault):
    """A rejoin key that names no seat of the room (unknown, or kept longer than ``room_rejoin_s``)."""

    code = RoomCode.UNKNOWN_SEAT


class NotInRoom(ClientFault):
    """A room message from a session that is in no room."""

    code = RoomCode.NOT_IN_ROOM


class AlreadyInRoom(ClientFault):
    """``room_create`` or ``room_join`` from a session already in a room (``room_leave`` first)."""

    code = RoomCode.ALREADY_IN_ROOM


class NotHost(ClientFault):
    """What only the room's host may do (``room_start``)."""

    code = RoomCode.NOT_HOST


class NotNow(ClientFault):
    """A message the room's state does not allow now (a guess between turns, by the drawer, twice...)."""

    code = RoomCode.NOT_NOW


class TooManyRooms(ClientFault):
    """Too many rooms open: from this address (``max_rooms_per_address``) or on this server (``max_rooms``)."""

    code = RoomCode.TOO_MANY_ROOMS
