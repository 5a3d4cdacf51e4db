"""``Rooms``: the rooms feature, installed into a server through its registry (protocol v1.2).

It answers ``room_create``, ``room_join``, ``room_leave``, ``room_start`` and ``guess``,
relays each drawer's ``points``/``stroke``/``pen_up``/``undo``/``clear`` to the other
members as ``drawn`` and the AI's guesses after each pen-up and undo as ``ai`` (the
``guesses`` the core answered the drawer: the server's own classifier path, ranked for
the room's word list), drops a member whose connection ends (its seat is held for a
rejoin), reports ``rooms`` in ``/healthz`` and ``doodlestream_rooms_*`` in ``/metrics``,
and offers ``rooms`` in ``welcome.features`` (the browser's room page, served by
:class:`server.web.WebClient`, looks there).

The game is :class:`server.rooms.room.Room`'s (Sans-I/O); this module carries out its
effects: every message to the members goes out through
:meth:`server.plugin.Conversation.push`, encoded once per encoding, so a member that does
not read is dropped, never waited for, and work per message is bounded by the players
of one room (``max_room_players``).  A room message's sender gets its own messages
pushed in order too (the first carries its ``seq``); one that causes none for it is
answered ``room_left``/nothing.  One timer per room calls :meth:`Room.tick` at
:attr:`Room.deadline`.  While a member draws, its session ranks with the turn's game
(the room's word list, the custom words of its creator's session, the AI's
``top_k``), so its ``guesses`` are the AI's; its own game comes back when the turn ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from server import protocol
from server.custom_words import CustomVocabulary
from server.limits import Limits
from server.plugin import Conversation, MessageHandler, Registry, Services
from server.ranking import Game
from server.rooms.directory import Directory
from server.rooms.errors import AlreadyInRoom, NotInRoom, RoomCode
from server.rooms.messages import (
    PARSERS,
    GuessMsg,
    RoomCreateMsg,
    RoomJoinMsg,
    RoomLeaveMsg,
    RoomStartMsg,
)
from server.rooms.metrics import RoomMetrics
from server.rooms.room import TURN_GAP_S, Disposed, DrawerBegins, DrawerEnds, Effect, Room, Send

__all__ = ["AI_TOP_K", "FEATURE", "Rooms"]

log = logging.getLogger("doodlestream.rooms")

#: The name ``welcome.features`` offers the rooms under.
FEATURE = "rooms"
#: Guesses the AI shows after each pen-up, in guesses.
AI_TOP_K = 3

Payload = dict[str, Any]


@dataclass
class Member:
    """A connection seated in a room, and the game its session had before it drew."""

    code: str
    player: str
    own_game: Game | None = None


class Rooms:
    """The rooms feature (see module docstring); ``clock`` in seconds, monotonic."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        gap_s: float = TURN_GAP_S,
        code_prefix: str | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.code_prefix = code_prefix
        self.gap_s = gap_s
        self.clock = clock
        self.rng = rng
        self._services: Services | None = None
        self.directory: Directory | None = None
        self.members: dict[Conversation, Member] = {}
        #: Each room's attached connections by player id, and its creator's vocabulary.
        self.attached: dict[str, dict[str, Conversation]] = {}
        self.vocabulary: dict[str, CustomVocabulary] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.games_started = 0
        self.guesses = 0
        #: Messages pushed to members (each member's copy counts).
        self.pushed = 0

    # ------------------------------------------------------------ installing

    def install(self, registry: Registry) -> None:
        self._services = registry.services
        registry.errors(RoomCode)
        handlers: dict[str, MessageHandler[Any]] = {
            "room_create": self.on_create,
            "room_join": self.on_join,
            "room_leave": self.on_leave,
            "room_start": self.on_start,
            "guess": self.on_guess,
        }
        for kind, parse in PARSERS.items():
            registry.handle(kind, parse, handlers[kind], feature=FEATURE)
        registry.collector(RoomMetrics(self.health))
        registry.drawing_message_hook(self.on_drawing)
        registry.session_end_hook(self.on_session_end)
        registry.health("rooms", self.health)
        registry.on_close(self.close)

    @property
    def services(self) -> Services:
        assert self._services is not None, "the rooms feature is not installed"
        return self._services

    def _directory(self) -> Directory:
        if self.directory is None:
            self.directory = Directory(
                self.limits,
                clock=self.clock,
                pool=list(self.services.model.labels),
                rng=self.rng,
                gap_s=self.gap_s,
                prefix=self.code_prefix,
            )
        return self.directory

    def health(self) -> dict[str, Any]:
        rooms = self.directory.rooms if self.directory is not None else {}
        return {
            "rooms": len(rooms),
            "playing": sum(1 for r in rooms.values() if r.state == "playing"),
            "members": len(self.members),
            "games_started": self.games_started,
            "guesses": self.guesses,
            "pushed": self.pushed,
        }

    async def close(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()

    # ------------------------------------------------------------ effects

    def _apply(
        self, room: Room, effects: Sequence[Effect], actor: Conversation | None = None, seq: int | None = None
    ) -> bool:
        """Carry out ``effects``; the actor's first message carries ``seq``. Whether the actor got one."""
        attached = self.attached.get(room.code, {})
        actor_player = self.members[actor].player if actor is not None and actor in self.members else None
        replied = False
        for effect in effects:
            if isinstance(effect, Send):
                frames: dict[bool, bytes | str] = {}
                for pid in effect.to:
                    conv = attached.get(pid)
                    if conv is None:
                        continue
                    if pid == actor_player and not replied and seq is not None:
                        conv.push(protocol.encode(protocol.with_seq(dict(effect.msg), seq), text=conv.text))
                        replied = True
                        continue
                    replied = replied or pid == actor_player
                    frame = frames.get(conv.text)
                    if frame is None:
                        frame = frames[conv.text] = protocol.encode(effect.msg, text=conv.text)
                    conv.push(frame)
                    self.pushed += 1
            elif isinstance(effect, DrawerBegins):
                conv = attached.get(effect.player)
                if conv is not None:
                    self._begin_drawing(room, conv, effect)
            elif isinstance(effect, DrawerEnds):
                conv = attached.get(effect.player)
                if conv is not None:
                    self._end_drawing(conv)
            elif isinstance(effect, Disposed):
                self._forget(effect.code)
        if not room.disposed:
            self._schedule(room)
        return replied

    def _begin_drawing(self, room: Room, conv: Conversation, effect: DrawerBegins) -> None:
        member = self.members[conv]
        session = conv.session
        if member.own_game is None:
            member.own_game = session.game
        vocabulary = self.vocabulary.get(room.code) or CustomVocabulary()
        session.game = Game(vocabulary, words=room.words, top_k=AI_TOP_K)
        conv.cancel_live()
        session.clear()
        for x, y, t in effect.strokes:
            session.add_points(np.asarray(x, np.float64), np.asarray(y, np.float64), np.asarray(t, np.int64))
            session.pen_up()

    def _end_drawing(self, conv: Conversation) -> None:
        member = self.members.get(conv)
        if member is not None and member.own_game is not None:
            conv.cancel_live()
            conv.session.clear()
            self._restore(conv, member)

    @staticmethod
    def _restore(conv: Conversation, member: Member) -> None:
        """Give ``conv``'s session back the game it had before it drew."""
        if member.own_game is not None:
            conv.session.game, member.own_game = member.own_game, None

    def _schedule(self, room: Room) -> None:
        timer = self.timers.pop(room.code, None)
        if timer is not None:
            timer.cancel()
        deadline = room.deadline
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        self.timers[room.code] = loop.call_later(max(0.0, deadline - self.clock()), self._tick, room)

    def _tick(self, room: Room) -> None:
        self.timers.pop(room.code, None)
        if room.disposed:
            return
        try:
            self._apply(room, room.tick())
        except Exception:
            log.exception("room %s: tick failed", room.code)

    def _attach(self, room: Room, conv: Conversation, player: str) -> None:
        self.members[conv] = Member(room.code, player)
        self.attached.setdefault(room.code, {})[player] = conv

    def _detach(self, conv: Conversation) -> Member | None:
        member = self.members.pop(conv, None)
        if member is None:
            return None
        self._restore(conv, member)
        attached = self.attached.get(member.code, {})
        if attached.get(member.player) is conv:
            del attached[member.player]
        return member

    def _forget(self, code: str) -> None:
        timer = self.timers.pop(code, None)
        if timer is not None:
            timer.cancel()
        for conv in list(self.attached.pop(code, {}).values()):
            member = self.members.pop(conv, None)
            if member is not None:
                self._restore(conv, member)
        self.vocabulary.pop(code, None)
        self._directory().forget(code)

    def _member(self, conv: Conversation) -> tuple[Member, Room]:
        member = self.members.get(conv)
        room = self._directory().rooms.get(member.code) if member is not None else None
        if member is None or room is None:
            raise NotInRoom("this session is in no room: room_create or room_join first")
        return member, room

    # ------------------------------------------------------------ messages

    async def on_create(self, conv: Conversation, msg: RoomCreateMsg, received: float) -> Payload | None:
        if conv in self.members:
            raise AlreadyInRoom("this session is already in a room: room_leave first")
        directory = self._directory()
        if msg.words is not None:
            self.services.ranker.check_words(msg.words, conv.session.game)
        directory.admit(conv.address)
        room, player, effects = directory.create(
            conv.address, msg.name, words=msg.words, rounds=msg.rounds, seconds=msg.seconds
        )
        self.vocabulary[room.code] = conv.session.game.vocabulary
        self._attach(room, conv, player.id)
        self._apply(room, effects, conv, msg.seq)
        return None

    async def on_join(self, conv: Conversation, msg: RoomJoinMsg, received: float) -> Payload | None:
        if conv in self.members:
            raise AlreadyInRoom("this session is already in a room: room_leave first")
        directory = self._directory()
        directory.admit(conv.address)
        room = directory.find(msg.code)
        if msg.key is not None:
            player, effects = room.rejoin(msg.key)
            holder = self.attached.get(room.code, {}).get(player.id)
            if holder is not None and holder is not conv:  # the seat's old connection, not yet seen dropping
                self._detach(holder)
                holder.push(
                    protocol.encode({"type": "room_left", "code": room.code, "reason": "rejoined"}, text=holder.text)
                )
        else:
            assert msg.name is not None
            player, effects = room.join(msg.name)
        self._attach(room, conv, player.id)
        self._apply(room, effects, conv, msg.seq)
        return None

    async def on_leave(self, conv: Conversation, msg: RoomLeaveMsg, received: float) -> Payload | None:
        member, room = self._member(conv)
        self._detach(conv)
        self._apply(room, room.leave(member.player))
        return protocol.with_seq({"type": "room_left", "code": room.code, "reason": "left"}, msg.seq)

    async def on_start(self, conv: Conversation, msg: RoomStartMsg, received: float) -> Payload | None:
        member, room = self._member(conv)
        effects = room.start(member.player)
        self.games_started += 1
        if not self._apply(room, effects, conv, msg.seq):
            return protocol.with_seq({"type": "room_started", "code": room.code}, msg.seq)
        return None

    async def on_guess(self, conv: Conversation, msg: GuessMsg, received: float) -> Payload | None:
        member, room = self._member(conv)
        effects = room.guess(member.player, msg.text)
        self.guesses += 1
        self._apply(room, effects, conv, msg.seq)
        return None

    # ------------------------------------------------------------ the drawer's messages and the end of sessions

    async def on_drawing(self, conv: Conversation, msg: object, reply: Payload | None) -> None:
        member = self.members.get(conv)
        if member is None:
            return
        room = self._directory().rooms.get(member.code)
        if room is None or room.turn is None or room.turn.drawer != member.player or room.turn.over:
            return
        pid = member.player
        effects: list[Effect] = []
        if isinstance(msg, protocol.PointsMsg | protocol.StrokeMsg):
            t = None if msg.t is None else msg.t.tolist()
            effects += room.drawn(pid, "points", msg.x.tolist(), msg.y.tolist(), t)
            if isinstance(msg, protocol.StrokeMsg):
                effects += room.drawn(pid, "pen_up")
        elif isinstance(msg, protocol.PenUpMsg):
            effects += room.drawn(pid, "pen_up")
        elif isinstance(msg, protocol.UndoMsg):
            effects += room.drawn(pid, "undo")
        elif isinstance(msg, protocol.ClearMsg):
            effects += room.drawn(pid, "clear")
        if reply is not None and reply.get("type") == "guesses" and not isinstance(msg, protocol.ClearMsg):
            top = [(g["word"], g["score"]) for g in reply["guesses"]]
            effects += room.ai(pid, top, int(reply.get("strokes", 0)))
        self._apply(room, effects)

    async def on_session_end(self, conv: Conversation) -> None:
        member = self._detach(conv)
        if member is None:
            return
        room = self._directory().rooms.get(member.code)
        if room is not None:
            self._apply(room, room.drop(member.player))
