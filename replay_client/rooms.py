"""Room calls (protocol v1.2) for scripts: create or join a room, start, guess, draw recorded drawings.

:class:`RoomPlayer` owns one socket (a :class:`replay_client.client.DoodleClient`) and a
reader task that keeps every message the server sends, in order, in :attr:`RoomPlayer.inbox`
(with the ``loop.time()`` it arrived at, in :attr:`RoomPlayer.arrived`).  Room messages
come unasked (a member's ``drawn``, a ``turn``...), so a script does not wait for replies:
it sends, then :meth:`RoomPlayer.expect` s the first message not yet taken that matches.

:meth:`RoomPlayer.draw` streams a Quick Draw drawing as the drawer, at its recorded speed
(divided by ``speed``; ``0``: at once), one ``points`` message per ``batch_ms`` of recorded
time, like a browser's animation frames, and a ``pen_up`` after each stroke; the ``guesses``
(and the room's ``ai``) arrive in the inbox.  :class:`RoomBot` plays a whole game as one
player: it replays recorded drawings of the word on its turns (and may guess what the AI
shows); :func:`fill_room` (``python -m replay_client.rooms URL``) seats a room with such
bots, so people can play with them, or a script can fill rooms (the benchmark's rooms phase).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from replay_client.client import ClientSocket, DoodleClient, Msg
from replay_client.replay import Pacer, stream, synthesise_times
from server import quickdraw
from server.quickdraw import Drawing

__all__ = ["EXPECT_TIMEOUT_S", "RoomBot", "RoomPlayer", "fill_room", "raw_drawings"]

#: Longest :meth:`RoomPlayer.expect` waits by default, in seconds.
EXPECT_TIMEOUT_S = 30.0


class RoomPlayer(ClientSocket):
    """One player's connection (see module docstring)."""

    def __init__(
        self, url: str, *, text: bool = False, keep: Callable[[Msg], bool] | None = None, open_timeout_s: float = 10.0
    ) -> None:
        self.client = DoodleClient(url, text=text, open_timeout_s=open_timeout_s)
        #: Which messages are kept (in ``inbox`` and ``received``); the others only go to ``on_message``.
        self.keep = keep
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
                if self.on_message is not None:
                    self.on_message(now, msg)
                if self.keep is None or self.keep(msg) or "seq" in msg:
                    self.inbox.append(msg)
                    self.received.append((now, msg))
                    self._arrival.set()
        except (ConnectionClosed, OSError):
            pass
        finally:
            self.closed = True
            self._arrival.set()

    async def expect(
        self,
        kind: str | Collection[str],
        where: Callable[[Msg], bool] | None = None,
        *,
        timeout_s: float | None = EXPECT_TIMEOUT_S,
    ) -> Msg:
        """Take the first message of type ``kind`` (or one of several) matching ``where`` not taken yet, waiting."""
        kinds = {kind} if isinstance(kind, str) else set(kind)
        return await self._take(
            lambda m: m.get("type") in kinds and (where is None or where(m)), f"a {kind!r} message", timeout_s
        )

    async def _take(self, match: Callable[[Msg], bool], what: str, timeout_s: float | None) -> Msg:
        """Remove and return the first message in the inbox that ``match`` es, waiting for one."""
        async with asyncio.timeout(timeout_s):
            while True:
                for i, msg in enumerate(self.inbox):
                    if match(msg):
                        del self.inbox[i]
                        return msg
                if self.closed:
                    raise ConnectionError(f"the connection closed before {what} came")
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
        return await self._take(
            lambda m: m.get("seq") == seq and m.get("type") in (kind, "error"),
            f"the answer to seq {seq}",
            EXPECT_TIMEOUT_S,
        )

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
        pacer = pacer or Pacer(self.welcome.get("limits", {}))
        max_points = int(self.welcome.get("limits", {}).get("max_points_per_message", 2048))

        async def send(msg: Msg) -> None:
            await self.send(msg)
            if sent is not None:
                sent(msg)

        async def pen_up() -> None:
            await self.send({"type": "pen_up"})

        timed = synthesise_times(drawing)
        await stream(send, pacer, timed, speed=speed, batch_ms=batch_ms, max_points=max_points, end_stroke=pen_up)


# ------------------------------------------------------------------ bots: players that replay drawings

#: Messages a bot acts on (the others, ``drawn`` above all, only go to ``on_message``).
BOT_KINDS = frozenset({"room", "turn", "turn_end", "game_end", "room_ended", "room_left", "error", "ai"})
#: A bot's pause between two drawings of one turn, in seconds.
BETWEEN_DRAWINGS_S = 1.0


class RoomBot:
    """A :class:`RoomPlayer` that draws when its turn comes and, with ``guess_ai``, guesses what the AI shows.

    On its turn it replays ``drawing_of(word)`` at ``speed`` (its recorded pace at 1), then
    clears and draws another, until the turn ends; ``sent(msg)`` is told of each ``points``.
    As a guesser with ``guess_ai`` it guesses the AI's top visible guess after each ``ai``
    (once per word).  :meth:`play` returns at ``game_end`` (the scores) or when the room ends.
    """

    def __init__(
        self,
        player: RoomPlayer,
        drawing_of: Callable[[str], Drawing | None],
        *,
        speed: float = 1.0,
        guess_ai: bool = False,
        sent: Callable[[Msg], Any] | None = None,
    ) -> None:
        self.player = player
        self.drawing_of = drawing_of
        self.speed = speed
        self.guess_ai = guess_ai
        self.sent = sent
        self.drawings = 0

    async def _draw_turn(self, word: str) -> None:
        pacer = Pacer(self.player.welcome.get("limits", {}))
        while True:
            drawing = self.drawing_of(word)
            if drawing is None:
                return
            await self.player.draw(drawing, speed=self.speed, pacer=pacer, sent=self.sent)
            self.drawings += 1
            await asyncio.sleep(BETWEEN_DRAWINGS_S / self.speed if self.speed > 0 else BETWEEN_DRAWINGS_S)
            await self.player.send({"type": "clear"})

    async def play(self) -> Msg:
        """Play until the game ends (``game_end``) or the room does (``room_ended``)."""
        drawing: asyncio.Task[None] | None = None
        tried: set[str] = set()
        try:
            while True:
                msg = await self.player.expect(BOT_KINDS, timeout_s=None)
                kind = msg["type"]
                if kind == "turn" and msg["drawer"] == self.player.id and "word" in msg and drawing is None:
                    drawing = asyncio.create_task(self._draw_turn(msg["word"]))
                elif kind == "turn":
                    tried.clear()
                elif kind == "turn_end" and drawing is not None:
                    drawing.cancel()
                    await asyncio.gather(drawing, return_exceptions=True)
                    drawing = None
                elif kind == "ai" and self.guess_ai and drawing is None:
                    top = next((g["word"] for g in msg["guesses"] if "word" in g and g["word"] not in tried), None)
                    if top is not None:
                        tried.add(top)
                        await self.player.send({"type": "guess", "text": top})
                elif kind in ("game_end", "room_ended", "room_left"):
                    return msg
        finally:
            if drawing is not None:
                drawing.cancel()


def raw_drawings(raw: Path | None = None, *, seed: int = 0) -> Callable[[str], Drawing | None]:
    """``word`` -> one of its first 20 raw drawings, at random (``None`` for a word without raw drawings)."""
    folder = raw or quickdraw.raw_dir()
    rng = random.Random(seed)
    cache: dict[str, list[Drawing]] = {}

    def drawing_of(word: str) -> Drawing | None:
        if word not in cache:
            path = folder / f"{word}.ndjson"
            cache[word] = list(quickdraw.read_file(path, limit=20)) if path.is_file() else []
        return rng.choice(cache[word]) if cache[word] else None

    return drawing_of


async def fill_room(
    url: str,
    bots: int,
    *,
    code: str | None = None,
    rounds: int | None = None,
    seconds: int | None = None,
    speed: float = 1.0,
    guess_ai: bool = True,
    raw: Path | None = None,
    drawing_of: Callable[[str], Drawing | None] | None = None,
    on_room: Callable[[Msg], Any] | None = None,
) -> Msg:
    """Seat ``bots`` replaying bots in room ``code`` (else a new room, the first bot its host, started once all
    are in) and play until the game ends; the last message (``game_end``, or why it stopped).  The bots draw
    ``drawing_of(word)``, by default :func:`raw_drawings` of ``raw``."""
    drawing_of = drawing_of or raw_drawings(raw)
    players = [RoomPlayer(url, keep=lambda m: m.get("type") in BOT_KINDS) for _ in range(bots)]
    for p in players:
        await p.connect()
    try:
        if code is None:
            room = await players[0].create("Bot 1", rounds=rounds, seconds=seconds)
            if room["type"] == "error":
                return room
            code = str(room["code"])
            rest = players[1:]
        else:
            rest = players
        for i, p in enumerate(rest):
            room = await p.join(code, f"Bot {i + 1 + (bots - len(rest))}")
            if room["type"] == "error":
                return room
        if on_room is not None:
            on_room(room)
        if len(rest) < bots:  # our room: its host starts it once everyone is in
            started = await players[0].start()
            if started["type"] == "error":
                return started
            players[0].inbox.insert(0, started)  # its bot plays the first turn too
        play = [asyncio.create_task(RoomBot(p, drawing_of, speed=speed, guess_ai=guess_ai).play()) for p in players]
        done = await asyncio.gather(*play)
        return done[0]
    finally:
        for p in players:
            await p.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m replay_client.rooms URL``: fill a room with bots that replay recorded drawings."""
    ap = argparse.ArgumentParser(prog="python -m replay_client.rooms", description=main.__doc__)
    ap.add_argument("url", help="the server's socket, e.g. ws://127.0.0.1:8765/ws")
    ap.add_argument("--bots", type=int, default=3, help="players to seat (default 3)")
    ap.add_argument("--code", help="join this room (people start it) instead of creating one (the first bot starts)")
    ap.add_argument("--rounds", type=int, help="rounds of a room created here")
    ap.add_argument("--seconds", type=int, help="seconds a turn of a room created here")
    ap.add_argument("--speed", type=float, default=1.0, help="drawing speed: 1 = as recorded, 0 = at once")
    ap.add_argument("--no-guess", action="store_true", help="bots do not guess (by default: the AI's top guesses)")
    args = ap.parse_args(argv)

    def shown_code(room: Msg) -> None:
        print(f"room {room['shown']}: {room['code']}", flush=True)

    end = asyncio.run(
        fill_room(
            args.url,
            args.bots,
            code=args.code,
            rounds=args.rounds,
            seconds=args.seconds,
            speed=args.speed,
            guess_ai=not args.no_guess,
            on_room=shown_code,
        )
    )
    if end.get("type") == "error":
        print(f"error {end.get('code')}: {end.get('message')}", file=sys.stderr)
        return 1
    for s in end.get("scores", []):
        print(f"{s['name']}: {s['score']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
