"""Room calls (protocol v1.2) for scripts: create or join a room, start, guess, draw recorded drawings.

:class:`RoomPlayer` owns one socket (a :class:`replay_client.client.DoodleClient`) and a
reader task that keeps every message the server sends, in order, in :attr:`RoomPlayer.inbox`
(with the ``loop.time()`` it arrived at, in :attr:`RoomPlayer.arrived`).  Room messages
come unasked (a member's ``drawn``, a ``turn``...), so a script does not wait for replies:
it sends, then :meth:`RoomPlayer.expect` s the first message not yet taken that matches.

:meth:`RoomPlayer.draw` streams a Quick Draw drawing as the drawer, at its recorded speed
(divided by ``speed``; ``0``: at once), one ``points`` message per ``batch_ms`` of recorded
time, like a browser's animation frames, and a ``pen_up`` after each stroke; the ``guesses``
(and the room's ``ai``) arrive in the inbox.  :func:`fill_room` seats a room with players
that replay drawings when their turn comes: what the benchmark's rooms phase and the
tests use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from websockets.exceptions import ConnectionClosed

from replay_client.client import DoodleClient, Msg
from replay_client.replay import Pacer, batches, synthesise_times
from server.quickdraw import Drawing

__all__ = ["EXPECT_TIMEOUT_S", "RoomPlayer"]

#: Longest :meth:`RoomPlayer.expect` waits by default, in seconds.
EXPECT_TIMEOUT_S = 30.0


class RoomPlayer:
    """One player's connection (see module docstring)."""

    def __init__(self, url: str, *, text: bool = False) -> None:
        self.client = DoodleClient(url, text=text)
        self.inbox: list[Msg] = []
        #: Every message received, in order, with when it arrived (``loop.time()``).
        self.received: list[tuple[float, Msg]] = []
        self._arrival = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.closed = False
        #: From the latest ``room`` message: the room's code, this player's id and rejoin key.
        self.code: str | None = None
        self.id: str | None = None
        self.key: str | None = None
        self.on_message: Callable[[float, Msg], None] | None = None

    async def __aenter__(self) -> RoomPlayer:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def welcome(self) -> Msg:
        return self.client.welcome

    async def connect(self) -> Msg:
        welcome = await self.client.connect()
        self.closed = False
        self._reader = asyncio.create_task(self._read())
        return welcome

    async def close(self) -> None:
        await self.client.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    def drop(self) -> None:
        """Cut the connection without a closing handshake (as a lost Wi-Fi would)."""
        assert self.client.ws is not None
        self.client.ws.transport.abort()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                msg = await self.client.recv()
                now = loop.time()
                if msg.get("type") == "room":
                    self.code, self.id, self.key = msg["code"], msg["you"], msg["key"]
                self.inbox.append(msg)
                self.received.append((now, msg))
                if self.on_message is not None:
                    self.on_message(now, msg)
                self._arrival.set()
        except (ConnectionClosed, OSError):
            pass
        finally:
            self.closed = True
            self._arrival.set()

    async def expect(
        self, kind: str, where: Callable[[Msg], bool] | None = None, *, timeout_s: float = EXPECT_TIMEOUT_S
    ) -> Msg:
        """Take the first message of type ``kind`` (matching ``where``) not taken yet, waiting for it."""
        async with asyncio.timeout(timeout_s):
            while True:
                for i, msg in enumerate(self.inbox):
                    if msg.get("type") == kind and (where is None or where(msg)):
                        del self.inbox[i]
                        return msg
                if self.closed:
                    raise ConnectionError(f"the connection closed before a {kind!r} message came")
                self._arrival.clear()
                await self._arrival.wait()

    def seen(self, kind: str) -> list[Msg]:
        """Every message of type ``kind`` received so far (taken or not)."""
        return [m for _, m in self.received if m.get("type") == kind]

    async def send(self, msg: Msg) -> None:
        await self.client.send(msg)

    # ------------------------------------------------------------ room calls

    async def create(
        self, name: str, *, rounds: int | None = None, seconds: int | None = None, words: Sequence[str] | None = None
    ) -> Msg:
        """Create a room; its ``room`` message (or the ``error``)."""
        msg: Msg = {"type": "room_create", "name": name}
        if rounds is not None:
            msg["rounds"] = rounds
        if seconds is not None:
            msg["seconds"] = seconds
        if words is not None:
            msg["words"] = list(words)
        return await self._ask(msg, "room")

    async def join(self, code: str, name: str | None = None, *, key: str | None = None) -> Msg:
        """Join room ``code`` as ``name`` (or take a held seat back with its ``key``); the ``room`` or ``error``."""
        msg: Msg = {"type": "room_join", "code": code}
        if name is not None:
            msg["name"] = name
        if key is not None:
            msg["key"] = key
        return await self._ask(msg, "room")

    async def start(self) -> Msg:
        """Start the game (host only); this player's first ``turn`` (or the ``error``)."""
        answer = await self._ask({"type": "room_start"}, "room")
        return answer if answer.get("type") == "error" else await self.expect("turn")

    async def guess(self, text: str) -> Msg:
        """Guess ``text``; this player's ``guessed`` (or the ``error``)."""
        return await self._ask({"type": "guess", "text": text}, "guessed")

    async def leave(self) -> Msg:
        return await self._ask({"type": "room_leave"}, "room_left")

    async def _ask(self, msg: Msg, kind: str) -> Msg:
        self.client.seq += 1
        seq = self.client.seq
        await self.send({**msg, "seq": seq})
        return await self._answer(seq, kind)

    async def _answer(self, seq: int, kind: str) -> Msg:
        async with asyncio.timeout(EXPECT_TIMEOUT_S):
            while True:
                for i, m in enumerate(self.inbox):
                    if m.get("seq") == seq and m.get("type") in (kind, "error"):
                        del self.inbox[i]
                        return m
                if self.closed:
                    raise ConnectionError(f"the connection closed before the answer to seq {seq}")
                self._arrival.clear()
                await self._arrival.wait()

    # ------------------------------------------------------------ drawing

    async def draw(
        self,
        drawing: Drawing,
        *,
        speed: float = 1.0,
        batch_ms: float = 16.0,
        pacer: Pacer | None = None,
        sent: Callable[[Msg], Any] | None = None,
    ) -> None:
        """Stream ``drawing`` as the drawer (see module docstring); ``sent(msg)`` is told of each ``points`` sent."""
        drawing = synthesise_times(drawing)
        pacer = pacer or Pacer(self.welcome.get("limits", {}))
        max_points = int(self.welcome.get("limits", {}).get("max_points_per_message", 2048))
        loop = asyncio.get_running_loop()
        start = loop.time()
        t_first = drawing.strokes[0].t[0] if drawing.strokes and drawing.strokes[0].t else 0
        for stroke in drawing.strokes:
            xs, ys, ts = stroke.x, stroke.y, stroke.t or ()
            for i, j in batches(ts, batch_ms, max_points):
                if speed > 0:
                    delay = start + (ts[j - 1] - t_first) / 1000.0 / speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await pacer.take()
                msg = {"type": "points", "x": list(xs[i:j]), "y": list(ys[i:j]), "t": list(ts[i:j])}
                await self.send(msg)
                if sent is not None:
                    sent(msg)
            await pacer.take()
            await self.send({"type": "pen_up"})
