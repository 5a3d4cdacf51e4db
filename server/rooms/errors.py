"""The rooms feature's errors: each an ``error`` answer with its own code (see :mod:`server.errors`)."""

from __future__ import annotations

from server.errors import ClientFault, ErrorCode

__all__ = ["AlreadyInRoom", "NotHost", "NotInRoom", "NotNow", "RoomFull", "TooManyRooms", "UnknownRoom", "UnknownSeat"]


class UnknownRoom(ClientFault):
    """No open room has this code (never had, or it ended: its players left, or its server restarted)."""

    code = ErrorCode.UNKNOWN_ROOM


class RoomFull(ClientFault):
    """The room already seats ``max_room_players`` players."""

    code = ErrorCode.ROOM_FULL


class UnknownSeat(ClientFault):
    """A rejoin key that names no seat of the room (unknown, or kept longer than ``room_rejoin_s``)."""

    code = ErrorCode.UNKNOWN_SEAT


class NotInRoom(ClientFault):
    """A room message from a session that is in no room."""

    code = ErrorCode.NOT_IN_ROOM


class AlreadyInRoom(ClientFault):
    """``room_create`` or ``room_join`` from a session already in a room (``room_leave`` first)."""

    code = ErrorCode.ALREADY_IN_ROOM


class NotHost(ClientFault):
    """What only the room's host may do (``room_start``)."""

    code = ErrorCode.NOT_HOST


class NotNow(ClientFault):
    """A message the room's state does not allow now (a guess between turns, by the drawer, twice...)."""

    code = ErrorCode.NOT_NOW


class TooManyRooms(ClientFault):
    """Too many rooms open: from this address (``max_rooms_per_address``) or on this server (``max_rooms``)."""

    code = ErrorCode.TOO_MANY_ROOMS
