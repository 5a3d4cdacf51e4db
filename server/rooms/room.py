"""One room's game, Sans-I/O: players and seats, host, turns and rounds, guesses, scores, the AI.

A :class:`Room` never touches a socket, a timer or the real time: it is told what happened
(a player joined, drew, guessed, dropped; the clock moved on: :meth:`Room.tick`) and
answers with :data:`Effect` values the I/O layer (:mod:`server.rooms.feature`) carries out
(:class:`Send` a message to some players, :class:`DrawerBegins` / :class:`DrawerEnds` to
hand the drawer's session the turn's word list, :class:`Disposed`).  The time comes from
the ``clock`` it is given (seconds, monotonic); :attr:`Room.deadline` says when
:meth:`Room.tick` must next be called.  Its lifecycle follows Colyseus' rooms: created
(:meth:`Room.__init__` with its first player), :meth:`Room.join`, messages (:meth:`Room.start`,
:meth:`Room.drawn`, :meth:`Room.ai`, :meth:`Room.guess`), :meth:`Room.leave` /
:meth:`Room.drop`, and disposed once no player holds a seat.

Rules (README: Rooms):

* Seats in join order; the first player is the host, and the next connected player becomes
  host when the host leaves or drops.  At most ``max_room_players`` humans; the AI
  (:data:`AI_ID`) is one more player, always seated.
* ``room_start`` (host, in the lobby) plays ``rounds`` rounds; in each, every connected
  player draws once, in seat order, for ``seconds``.  The word is drawn at random from the
  room's word list (else every word of the model) without repeats within a game.
* A turn ends when time is up, when every connected guesser has guessed it (while some
  guesser is connected; the AI when no other human is seated), or when its drawer leaves.
  ``gap_s`` (:data:`TURN_GAP_S`) later the next one begins; after the last, ``game_end``
  and the room is back in the lobby.
* A guess is compared by :func:`server.rooms.text.closeness`.  A right guess scores by speed
  (:func:`guess_points`: from :data:`GUESS_MAX_POINTS` at once down to
  :data:`GUESS_MIN_POINTS` at the end) and gives the drawer :data:`DRAWER_SHARE` of it; its
  text is shown to nobody.  A wrong guess's text is shown to everyone; a close one's only to
  its guesser (the others learn it was close).  Guesses are rate-limited per player.
* After each of the drawer's pen-ups the AI's guesses go to everyone (:meth:`Room.ai`); the
  word is masked (its hint) for players who have not guessed it.  The first time the AI's
  top guess is the word, the AI guesses it, scoring as a player would.
* A player whose connection drops keeps the seat for ``room_rejoin_s``: :meth:`Room.rejoin`
  with the seat's key gives it back, with the room, the turn and its drawing so far
  replayed.  A drawer who drops keeps drawing on rejoining; the turn's clock runs on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from server.errors import ErrorCode, LimitExceeded
from server.limits import Limits
from server.ratelimit import TokenBucket
from server.rooms.codes import new_key, shown
from server.rooms.errors import NotHost, NotNow, RoomFull, UnknownSeat
from server.rooms.text import closeness, comparable, hint

__all__ = [
    "AI_ID",
    "AI_NAME",
    "DEFAULT_ROUNDS",
    "DEFAULT_TURN_S",
    "DRAWER_SHARE",
    "GUESS_MAX_POINTS",
    "GUESS_MIN_POINTS",
    "TURN_GAP_S",
    "Disposed",
    "DrawerBegins",
    "DrawerEnds",
    "Effect",
    "Player",
    "Room",
    "Send",
    "Turn",
    "guess_points",
]

Payload = dict[str, Any]
Clock = Callable[[], float]

#: The AI's player id and name.
AI_ID = "ai"
AI_NAME = "AI"
#: Turn length and rounds of a room that does not ask, in seconds and rounds.
DEFAULT_TURN_S = 80
DEFAULT_ROUNDS = 3
#: Pause between a turn's end and the next turn (scores shown), in seconds.
TURN_GAP_S = 4.0
#: Points of a right guess made at once, and at the turn's last moment, in points.
GUESS_MAX_POINTS = 500
GUESS_MIN_POINTS = 100
#: Share of each right guess's points its drawer scores.
DRAWER_SHARE = 0.5

State = Literal["lobby", "playing"]
Op = Literal["points", "pen_up", "undo", "clear"]


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``msg`` to the players ``to`` (ids) whose connections are attached."""

    to: tuple[str, ...]
    msg: Payload


@dataclass(frozen=True, slots=True)
class DrawerBegins:
    """``player`` draws now: its session's drawing starts as ``strokes`` (``[[x...], [y...], [t...]]`` each)."""

    player: str
    strokes: tuple[tuple[list[float], list[float], list[int]], ...] = ()


@dataclass(frozen=True, slots=True)
class DrawerEnds:
    """``player``'s turn as drawer is over: its session goes back to its own game."""

    player: str


@dataclass(frozen=True, slots=True)
class Disposed:
    """The room is over (no player holds a seat): forget it."""

    code: str


Effect = Send | DrawerBegins | DrawerEnds | Disposed


def guess_points(left_s: float, seconds: float) -> int:
    """Points of a right guess with ``left_s`` of a ``seconds`` turn left (by speed)."""
    share = min(1.0, max(0.0, left_s / seconds)) if seconds > 0 else 0.0
    return round(GUESS_MIN_POINTS + (GUESS_MAX_POINTS - GUESS_MIN_POINTS) * share)


@dataclass
class Player:
    """One seat: a human, or the AI (``ai``)."""

    id: str
    name: str
    key: str
    score: int = 0
    connected: bool = True
    #: When the connection dropped (``None``: connected, or the AI).
    dropped_at: float | None = None
    ai: bool = False
    #: Guess rate limit (``max_guesses_per_second``, burst ``guess_burst``; ``None`` for the AI).
    guesses: TokenBucket | None = None

    def public(self) -> Payload:
        out: Payload = {"id": self.id, "name": self.name, "score": self.score, "connected": self.connected}
        if self.ai:
            out["ai"] = True
        return out


@dataclass
class Turn:
    """The turn being played (or just ended, during the gap)."""

    number: int
    round: int
    drawer: str
    word: str
    started: float
    ends: float
    #: Points each player gained this turn (guessers who got it, and the drawer).
    points: dict[str, int] = field(default_factory=dict)
    #: Who guessed it, in order.
    guessed: list[str] = field(default_factory=list)
    #: The drawing so far: finished strokes and the stroke in progress, for rejoining players.
    strokes: list[tuple[list[float], list[float], list[int]]] = field(default_factory=list)
    pending: tuple[list[float], list[float], list[int]] = field(default_factory=lambda: ([], [], []))
    over: bool = False

    def knows(self, player: str) -> bool:
        """Whether ``player`` may see the word (the drawer, or one who guessed it)."""
        return player == self.drawer or player in self.guessed


class Room:
    """One room (see module docstring)."""

    def __init__(
        self,
        code: str,
        *,
        limits: Limits,
        clock: Clock,
        pool: Sequence[str],
        words: Sequence[str] | None = None,
        rounds: int = DEFAULT_ROUNDS,
        seconds: int = DEFAULT_TURN_S,
        rng: random.Random | None = None,
        gap_s: float = TURN_GAP_S,
    ) -> None:
        self.code = code
        self.gap_s = gap_s
        self.limits = limits
        self.clock = clock
        #: The words a turn's word is drawn from: the room's list, else ``pool`` (every word of the model).
        self.words: tuple[str, ...] | None = None if words is None else tuple(words)
        self.pool = tuple(pool) if self.words is None else self.words
        self.rounds, self.seconds = rounds, seconds
        self.rng = rng or random.SystemRandom()
        self.players: dict[str, Player] = {AI_ID: Player(AI_ID, AI_NAME, key="", ai=True)}
        self.host: str | None = None
        self.state: State = "lobby"
        self.turn: Turn | None = None
        self.round = 0
        #: Who is still to draw this round, in seat order.
        self.order: list[str] = []
        #: When the next turn begins (between turns), else ``None``.
        self.gap_until: float | None = None
        self.used: set[str] = set()
        self.disposed = False
        self._next_id = 1

    # ------------------------------------------------------------ reading

    @property
    def humans(self) -> list[Player]:
        return [p for p in self.players.values() if not p.ai]

    @property
    def deadline(self) -> float | None:
        """When :meth:`tick` must next run (a turn's end, a gap's end, a held seat's expiry), or ``None``."""
        due = [p.dropped_at + self.limits.room_rejoin_s for p in self.humans if p.dropped_at is not None]
        if self.turn is not None and not self.turn.over:
            due.append(self.turn.ends)
        if self.gap_until is not None:
            due.append(self.gap_until)
        return min(due) if due else None

    def connected(self, *, but: str | None = None) -> tuple[str, ...]:
        """The ids of connected human players (except ``but``)."""
        return tuple(p.id for p in self.humans if p.connected and p.id != but)

    def scores(self) -> list[Payload]:
        return [{"id": p.id, "name": p.name, "score": p.score} for p in self.players.values()]

    def view(self, you: str) -> Payload:
        """The ``room`` message as player ``you`` receives it (with its own rejoin key)."""
        me = self.players[you]
        return {
            "type": "room",
            "code": self.code,
            "shown": shown(self.code),
            "you": you,
            "key": me.key,
            "host": self.host,
            "players": [p.public() for p in self.players.values()],
            "state": self.state,
            "round": self.round,
            "rounds": self.rounds,
            "seconds": self.seconds,
            "words": None if self.words is None else len(self.words),
        }

    def _views(self, to: Sequence[str] | None = None) -> list[Effect]:
        return [Send((pid,), self.view(pid)) for pid in (self.connected() if to is None else to)]

    def turn_view(self, you: str) -> Payload:
        """The current ``turn`` message as ``you`` receives it (the drawer's copy has the word)."""
        t = self.turn
        assert t is not None
        msg: Payload = {
            "type": "turn",
            "drawer": t.drawer,
            "round": t.round,
            "rounds": self.rounds,
            "turn": t.number,
            "seconds": self.seconds,
            "left": round(max(0.0, t.ends - self.clock()), 3),
            "hint": hint(t.word),
            "length": len(comparable(t.word)),
            "guessed": list(t.guessed),
        }
        if t.knows(you):
            msg["word"] = t.word
        return msg

    # ------------------------------------------------------------ joining and leaving

    def join(self, name: str) -> tuple[Player, list[Effect]]:
        """Seat a new player named ``name`` (the first one hosts); every member gets the new ``room``."""
        if len(self.humans) >= self.limits.max_room_players:
            raise RoomFull(f"room {shown(self.code)} is full ({self.limits.max_room_players} players)")
        pid = f"p{self._next_id}"
        self._next_id += 1
        limits = self.limits
        bucket = TokenBucket(limits.max_guesses_per_second, limits.guess_burst, clock=self.clock)
        player = Player(pid, name, key=new_key(), guesses=bucket)
        self.players[pid] = player
        if self.host is None:
            self.host = pid
        effects = self._views()
        if self.turn is not None and not self.turn.over and self.state == "playing":
            effects.append(Send((pid,), self.turn_view(pid)))
            effects.extend(self._replay(pid))
        return player, effects

    def rejoin(self, key: str) -> tuple[Player, list[Effect]]:
        """Give the seat whose rejoin key is ``key`` back (see module docstring), or :class:`UnknownSeat`."""
        player = next((p for p in self.humans if p.key == key), None)
        if player is None:
            raise UnknownSeat(
                f"no seat of room {shown(self.code)} has this key (a seat is kept {self.limits.room_rejoin_s:g} s)"
            )
        player.connected, player.dropped_at = True, None
        if self.host is None or not self.players[self.host].connected:
            self.host = player.id
        effects = self._views()
        t = self.turn
        if t is not None and not t.over and self.state == "playing":
            effects.append(Send((player.id,), self.turn_view(player.id)))
            if t.drawer == player.id:
                finished = tuple(t.strokes) + ((t.pending,) if t.pending[0] else ())
                effects.append(DrawerBegins(player.id, finished))
            effects.extend(self._replay(player.id))
        return player, effects

    def _replay(self, pid: str) -> list[Effect]:
        t = self.turn
        if t is None or not (t.strokes or t.pending[0]):
            return []
        strokes = [{"x": x, "y": y, "t": ts} for x, y, ts in t.strokes]
        msg: Payload = {"type": "drawn", "player": t.drawer, "op": "replay", "strokes": strokes}
        if t.pending[0]:
            x, y, ts = t.pending
            msg["pending"] = {"x": x, "y": y, "t": ts}
        return [Send((pid,), msg)]

    def leave(self, pid: str) -> list[Effect]:
        """``pid`` leaves for good: its seat is freed (a drawer's turn ends)."""
        player = self.players.get(pid)
        if player is None or player.ai:
            return []
        del self.players[pid]
        return self._gone(pid)

    def drop(self, pid: str) -> list[Effect]:
        """``pid``'s connection dropped: its seat is kept ``room_rejoin_s`` for :meth:`rejoin`."""
        player = self.players.get(pid)
        if player is None or player.ai or not player.connected:
            return []
        player.connected, player.dropped_at = False, self.clock()
        self._pass_host(pid)
        effects = self._views()
        effects.extend(self._maybe_end_turn())
        return effects

    def _pass_host(self, pid: str) -> None:
        """The next connected player hosts when ``pid`` did (nobody, if none is connected)."""
        if self.host == pid:
            following = self.connected(but=pid)
            self.host = following[0] if following else None

    def _gone(self, pid: str) -> list[Effect]:
        """After ``pid``'s seat was freed (left, or held too long)."""
        effects: list[Effect] = []
        if pid in self.order:
            self.order.remove(pid)
        if self.host == pid:
            self.host = None
            self._pass_host(pid)
            if self.host is None and self.humans:
                self.host = self.humans[0].id
        if not self.humans:
            return self.dispose()
        t = self.turn
        if t is not None and not t.over and t.drawer == pid:
            effects.extend(self._end_turn("drawer_left"))
        effects.extend(self._views())
        effects.extend(self._maybe_end_turn())
        return effects

    def dispose(self) -> list[Effect]:
        """End the room: every member still attached is told (``room_ended``)."""
        if self.disposed:
            return []
        self.disposed = True
        effects: list[Effect] = []
        t = self.turn
        if t is not None and not t.over:
            effects.append(DrawerEnds(t.drawer))
        effects.append(Send(self.connected(), {"type": "room_ended", "code": self.code}))
        self.players = {AI_ID: self.players[AI_ID]}
        self.turn, self.gap_until, self.state = None, None, "lobby"
        effects.append(Disposed(self.code))
        return effects

    # ------------------------------------------------------------ the game

    def start(self, pid: str) -> list[Effect]:
        """The host starts a game: scores back to 0, round 1, the first turn."""
        if pid != self.host:
            raise NotHost("only the room's host may start the game")
        if self.state != "lobby":
            raise NotNow("the game has already started")
        for p in self.players.values():
            p.score = 0
        self.state, self.round, self.order, self.used = "playing", 0, [], set()
        self.turn = None
        turn = self._next_turn()
        return self._views() + turn

    def _next_turn(self) -> list[Effect]:
        self.gap_until = None
        self.order = [pid for pid in self.order if pid in self.players and self.players[pid].connected]
        if not self.order:
            if self.round >= self.rounds or not self.connected():
                return self._end_game()
            self.round += 1
            self.order = list(self.connected())
        drawer = self.order.pop(0)
        choices = [w for w in self.pool if w not in self.used] or list(self.pool)
        word = self.rng.choice(choices)
        self.used.add(word)
        now = self.clock()
        number = 1 if self.turn is None else self.turn.number + 1
        self.turn = Turn(number, self.round, drawer, word, started=now, ends=now + self.seconds)
        effects: list[Effect] = [DrawerBegins(drawer)]
        effects.extend(Send((pid,), self.turn_view(pid)) for pid in self.connected())
        return effects

    def _end_turn(self, reason: str) -> list[Effect]:
        t = self.turn
        assert t is not None and not t.over
        t.over = True
        self.gap_until = self.clock() + self.gap_s
        effects: list[Effect] = [DrawerEnds(t.drawer)]
        msg = {
            "type": "turn_end",
            "word": t.word,
            "reason": reason,
            "round": t.round,
            "turn": t.number,
            "points": dict(t.points),
            "scores": self.scores(),
        }
        effects.append(Send(self.connected(), msg))
        return effects

    def _end_game(self) -> list[Effect]:
        self.state, self.turn, self.gap_until, self.order = "lobby", None, None, []
        effects: list[Effect] = [Send(self.connected(), {"type": "game_end", "scores": self.scores()})]
        effects.extend(self._views())
        return effects

    def _maybe_end_turn(self) -> list[Effect]:
        """End the turn when every connected guesser has guessed (the AI, when no human is seated to guess)."""
        t = self.turn
        if t is None or t.over or self.state != "playing":
            return []
        seated = [p for p in self.humans if p.id != t.drawer]
        if not seated:
            done = AI_ID in t.guessed
        else:  # guessers who dropped may come back: their turn waits for them (or the time)
            connected = [p.id for p in seated if p.connected]
            done = bool(connected) and all(pid in t.guessed for pid in connected)
        return self._end_turn("guessed") if done else []

    def tick(self) -> list[Effect]:
        """Whatever the clock brought: expired seats, the turn's end, the next turn."""
        now = self.clock()
        effects: list[Effect] = []
        for p in list(self.humans):
            if p.dropped_at is not None and now >= p.dropped_at + self.limits.room_rejoin_s:
                del self.players[p.id]
                effects.extend(self._gone(p.id))
                if self.disposed:
                    return effects
        t = self.turn
        if t is not None and not t.over and now >= t.ends:
            effects.extend(self._end_turn("time"))
        if self.gap_until is not None and now >= self.gap_until and self.state == "playing":
            effects.extend(self._next_turn())
        return effects

    # ------------------------------------------------------------ the drawer's strokes and the AI

    def _drawing_turn(self, pid: str) -> Turn | None:
        """The turn ``pid`` draws now, if any."""
        t = self.turn
        return t if t is not None and not t.over and t.drawer == pid else None

    def drawn(
        self, pid: str, op: Op, x: list[float] | None = None, y: list[float] | None = None, t: list[int] | None = None
    ) -> list[Effect]:
        """The drawer's ``op`` (accepted by its session, so within the drawing limits) relayed to the others."""
        turn = self._drawing_turn(pid)
        if turn is None:
            return []
        msg: Payload = {"type": "drawn", "player": pid, "op": op}
        px, py, pt = turn.pending
        if op == "points":
            assert x is not None and y is not None
            ts = t if t is not None else [0] * len(x)
            px.extend(x)
            py.extend(y)
            pt.extend(ts)
            msg.update(x=x, y=y, t=ts)
        elif op == "pen_up":
            if px:
                turn.strokes.append(turn.pending)
                turn.pending = ([], [], [])
        elif op == "undo":
            if px:
                turn.pending = ([], [], [])
            elif turn.strokes:
                turn.strokes.pop()
        elif op == "clear":
            turn.strokes.clear()
            turn.pending = ([], [], [])
        return [Send(self.connected(but=pid), msg)]

    def ai(self, pid: str, guesses: Sequence[tuple[str, float]], strokes: int) -> list[Effect]:
        """The AI's ``guesses`` after drawer ``pid``'s pen-up; its first right top guess scores."""
        turn = self._drawing_turn(pid)
        if turn is None:
            return []
        target = comparable(turn.word)
        right = [comparable(w) == target for w, _ in guesses]
        full = [{"word": w, "score": round(s, 5)} for w, s in guesses]
        masked = [
            {"hint": hint(turn.word), "score": round(s, 5), "correct": True}
            if ok
            else {"word": w, "score": round(s, 5)}
            for (w, s), ok in zip(guesses, right, strict=True)
        ]
        for entry, ok in zip(full, right, strict=True):
            if ok:
                entry["correct"] = True
        members = self.connected()
        knowing = tuple(p for p in members if turn.knows(p))
        others = tuple(p for p in members if not turn.knows(p))
        effects: list[Effect] = [
            Send(knowing, {"type": "ai", "player": AI_ID, "strokes": strokes, "guesses": full}),
            Send(others, {"type": "ai", "player": AI_ID, "strokes": strokes, "guesses": masked}),
        ]
        if right and right[0] and AI_ID not in turn.guessed:
            effects.extend(self._right(turn, AI_ID))
        return effects

    # ------------------------------------------------------------ guesses

    def guess(self, pid: str, text: str) -> list[Effect]:
        """Player ``pid`` guesses ``text`` (already cleaned: :func:`server.rooms.text.clean`)."""
        player = self.players[pid]
        t = self.turn
        if t is None or t.over or self.state != "playing":
            raise NotNow("no turn is being played: guesses wait for the next turn")
        if pid == t.drawer:
            raise NotNow("the drawer does not guess")
        if pid in t.guessed:
            raise NotNow("you have already guessed this word")
        if player.guesses is not None and not player.guesses.take():
            raise LimitExceeded(
                f"more than {self.limits.max_guesses_per_second:g} guesses per second", code=ErrorCode.RATE_LIMITED
            )
        verdict = closeness(text, t.word)
        if verdict == "right":
            return self._right(t, pid)
        if verdict == "close":
            return [
                Send((pid,), {"type": "guessed", "player": pid, "correct": False, "close": True, "text": text}),
                Send(self.connected(but=pid), {"type": "guessed", "player": pid, "correct": False, "close": True}),
            ]
        return [Send(self.connected(), {"type": "guessed", "player": pid, "correct": False, "text": text})]

    def _right(self, t: Turn, pid: str) -> list[Effect]:
        points = guess_points(t.ends - self.clock(), self.seconds)
        t.guessed.append(pid)
        player = self.players[pid]
        player.score += points
        t.points[pid] = t.points.get(pid, 0) + points
        msg: Payload = {"type": "guessed", "player": pid, "correct": True, "points": points, "score": player.score}
        drawer = self.players.get(t.drawer)
        if drawer is not None:
            share = round(points * DRAWER_SHARE)
            drawer.score += share
            t.points[drawer.id] = t.points.get(drawer.id, 0) + share
            msg["drawer_points"] = share
            msg["drawer_score"] = drawer.score
        if pid == AI_ID:
            effects: list[Effect] = [Send(self.connected(), msg)]
        else:  # the guesser may see the word now
            effects = [Send((pid,), {**msg, "word": t.word}), Send(self.connected(but=pid), msg)]
        effects.extend(self._maybe_end_turn())
        return effects
