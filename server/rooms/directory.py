"""The open rooms of one server, by code, and what each address may do with them (Sans-I/O).

:class:`Directory` creates rooms under fresh codes (:func:`server.rooms.codes.new_code`; all
beginning with ``prefix`` when one is given, for a balancer's affinity by code),
finds them by a code as typed, and forgets them once disposed.  It enforces the limits that
are not one room's own: ``max_rooms`` on the server and ``max_rooms_per_address`` open rooms
created from one address (:class:`server.rooms.errors.TooManyRooms`), and
``max_room_joins_per_minute`` ``room_create``/``room_join`` messages from one address in any
:data:`JOIN_WINDOW_S` (``rate_limited``), which keeps codes from being found by trying
them.  Its memory is bounded: one entry per open room, and per address at most
``max_room_joins_per_minute`` times, forgotten once older than the window.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Sequence

from server.errors import ErrorCode, LimitExceeded
from server.limits import Limits
from server.rooms.codes import parse_code, prefixed, shown
from server.rooms.errors import TooManyRooms, UnknownRoom
from server.rooms.room import DEFAULT_ROUNDS, DEFAULT_TURN_S, TURN_GAP_S, Clock, Effect, Player, Room

__all__ = ["JOIN_WINDOW_S", "Directory"]

#: The window of ``max_room_joins_per_minute``, in seconds.
JOIN_WINDOW_S = 60.0


class Directory:
    """Every open room of one server (see module docstring)."""

    def __init__(
        self,
        limits: Limits,
        *,
        clock: Clock,
        pool: Sequence[str],
        prefix: str | None = None,
        codes: Callable[[], str] | None = None,
        rng: random.Random | None = None,
        gap_s: float = TURN_GAP_S,
    ) -> None:
        self.limits = limits
        self.gap_s = gap_s
        self.clock = clock
        self.pool = tuple(pool)
        #: The first character of every code made here (``None``: any), for a balancer's affinity.
        self.prefix = prefix
        self.codes = codes or prefixed(prefix)
        self.rng = rng
        self.rooms: dict[str, Room] = {}
        #: The address each open room was created from, and how many each address has open.
        self.owner: dict[str, str] = {}
        self.created: Counter[str] = Counter()
        self._joins: dict[str, deque[float]] = {}

    def admit(self, address: str) -> None:
        """Count one ``room_create``/``room_join`` from ``address``, or refuse it (``rate_limited``)."""
        now = self.clock()
        limit = self.limits.max_room_joins_per_minute
        if len(self._joins) > 4 * self.limits.max_rooms:  # forget addresses whose window is over
            self._joins = {a: q for a, q in self._joins.items() if q and q[-1] > now - JOIN_WINDOW_S}
        times = self._joins.setdefault(address, deque(maxlen=limit))
        while times and times[0] <= now - JOIN_WINDOW_S:
            times.popleft()
        if len(times) >= limit:
            raise LimitExceeded(
                f"more than {limit} room_create or room_join messages a minute from one address; try again in"
                f" {times[0] + JOIN_WINDOW_S - now:.0f} s",
                code=ErrorCode.RATE_LIMITED,
            )
        times.append(now)

    def create(
        self,
        address: str,
        name: str,
        *,
        words: Sequence[str] | None = None,
        rounds: int = DEFAULT_ROUNDS,
        seconds: int = DEFAULT_TURN_S,
    ) -> tuple[Room, Player, list[Effect]]:
        """A new room created from ``address``, its first player (the host) named ``name``."""
        if len(self.rooms) >= self.limits.max_rooms:
            raise TooManyRooms(f"this server has {self.limits.max_rooms} rooms open; try again later")
        if self.created[address] >= self.limits.max_rooms_per_address:
            raise TooManyRooms(f"at most {self.limits.max_rooms_per_address} open rooms per address")
        code = self.codes()
        while code in self.rooms:  # about one in 1e8 with MAX_ROOMS open
            code = self.codes()
        room = Room(
            code,
            limits=self.limits,
            clock=self.clock,
            pool=self.pool,
            words=words,
            rounds=rounds,
            seconds=seconds,
            rng=self.rng,
            gap_s=self.gap_s,
        )
        player, effects = room.join(name)
        self.rooms[code] = room
        self.owner[code] = address
        self.created[address] += 1
        return room, player, effects

    def find(self, text: str) -> Room:
        """The open room whose code ``text`` names, or :class:`UnknownRoom`."""
        code = parse_code(text)
        room = self.rooms.get(code) if code is not None else None
        if room is None or room.disposed:
            if code is None:
                raise UnknownRoom(f"{text[:16]!r} is not a room code (8 letters and digits, such as ABCD-EFGH)")
            if self.prefix is not None and code[0] != self.prefix:
                raise UnknownRoom(
                    f"room {shown(code)} has ended: the server that held it is gone (or the code is mistyped)"
                )
            raise UnknownRoom(f"no open room has the code {shown(code)}: it has ended, or the code is mistyped")
        return room

    def forget(self, code: str) -> None:
        """Drop a disposed room (and its count against its creator's address)."""
        if self.rooms.pop(code, None) is None:
            return
        address = self.owner.pop(code)
        self.created[address] -= 1
        if self.created[address] <= 0:
            del self.created[address]
