"""One room's game without sockets or real time (server/rooms/room.py, server/rooms/directory.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from server.errors import ErrorCode, LimitExceeded
from server.limits import Limits
from server.rooms.directory import JOIN_WINDOW_S, Directory
from server.rooms.errors import NotHost, NotNow, RoomFull, TooManyRooms, UnknownRoom, UnknownSeat
from server.rooms.room import (
    AI_ID,
    GUESS_MAX_POINTS,
    GUESS_MIN_POINTS,
    TURN_GAP_S,
    Disposed,
    DrawerBegins,
    DrawerEnds,
    Effect,
    Room,
    Send,
    guess_points,
)

POOL = ["cat", "dog", "hot dog", "banana", "house"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sent(effects: list[Effect], to: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The messages ``effects`` send to player ``to`` (of type ``kind``)."""
    return [e.msg for e in effects if isinstance(e, Send) and to in e.to and (kind is None or e.msg["type"] == kind)]


def make_room(clock: Clock, players: int = 3, **kw: Any) -> tuple[Room, list[str]]:
    room = Room("ABCDEFGH", limits=Limits(), clock=clock, pool=POOL, rng=random.Random(7), **kw)
    ids = [room.join(f"player {i}")[0].id for i in range(players)]
    return room, ids


def test_first_player_hosts_and_everyone_gets_their_own_room_view() -> None:
    """Each member's room message names it (you) and carries only its own rejoin key; the AI is seated."""
    clock = Clock()
    room, (a, b) = make_room(clock, 2)
    player, effects = room.join("Cleo")
    assert room.host == a
    views = {e.to[0]: e.msg for e in effects if isinstance(e, Send) and e.msg["type"] == "room"}
    assert set(views) == {a, b, player.id}
    assert views[player.id]["key"] == player.key and views[a]["key"] != player.key
    ids = [p["id"] for p in views[a]["players"]]
    assert ids == [AI_ID, a, b, player.id]
    assert views[a]["players"][0]["ai"] is True and views[a]["state"] == "lobby"


def test_a_room_seats_at_most_max_room_players() -> None:
    """Past max_room_players humans, join answers room_full (the AI does not count)."""
    room = Room("ABCDEFGH", limits=Limits(max_room_players=2), clock=Clock(), pool=POOL)
    room.join("a")
    room.join("b")
    with pytest.raises(RoomFull):
        room.join("c")


def test_only_the_host_starts_and_only_from_the_lobby() -> None:
    """room_start by another player is not_host; twice is not_now."""
    room, (a, b, _) = make_room(Clock())
    with pytest.raises(NotHost):
        room.start(b)
    room.start(a)
    with pytest.raises(NotNow):
        room.start(a)


def test_the_turn_gives_the_word_to_the_drawer_only() -> None:
    """Everyone gets turn with the hint and length; only the drawer's copy has the word."""
    clock = Clock()
    room, (a, b, _c) = make_room(clock)
    effects = room.start(a)
    assert DrawerBegins(a) in effects
    turn_a, turn_b = sent(effects, a, "turn")[0], sent(effects, b, "turn")[0]
    assert turn_a["drawer"] == a and turn_a["round"] == 1 and turn_a["word"] in POOL
    assert "word" not in turn_b and turn_b["hint"] == "".join("_" if ch.isalnum() else ch for ch in turn_a["word"])
    assert turn_b["length"] == len(turn_a["word"].replace(" ", "")) and turn_b["seconds"] == room.seconds


def test_the_drawers_strokes_reach_the_others_as_they_arrive() -> None:
    """points/pen_up/undo/clear of the drawer go to every other member, not back to the drawer; a guesser's do not."""
    room, (a, b, c) = make_room(Clock())
    room.start(a)
    effects = room.drawn(a, "points", [1.0, 2.0], [3.0, 4.0], [0, 16])
    assert effects == [
        Send((b, c), {"type": "drawn", "player": a, "op": "points", "x": [1.0, 2.0], "y": [3.0, 4.0], "t": [0, 16]})
    ]
    assert sent(room.drawn(a, "pen_up"), b)[0]["op"] == "pen_up"
    assert room.drawn(b, "points", [1.0], [1.0], [0]) == []
    room.drawn(a, "points", [5.0], [5.0], [40])
    room.drawn(a, "undo")  # drops the stroke in progress
    assert room.turn is not None and len(room.turn.strokes) == 1 and not room.turn.pending[0]
    room.drawn(a, "clear")
    assert room.turn.strokes == []


def test_right_guesses_score_by_speed_and_the_drawer_scores_too() -> None:
    """A right guess's text is shown to nobody; the earlier, the more points; the drawer gets its share."""
    clock = Clock()
    room, (a, b, c) = make_room(clock)
    room.start(a)
    word = room.turn.word  # type: ignore[union-attr]
    clock.now += 10
    effects = room.guess(b, word.upper())
    to_b, to_c = sent(effects, b, "guessed")[0], sent(effects, c, "guessed")[0]
    assert to_c == {
        "type": "guessed",
        "player": b,
        "correct": True,
        "points": guess_points(room.seconds - 10, room.seconds),
        "score": to_c["score"],
        "drawer_points": to_c["drawer_points"],
        "drawer_score": to_c["drawer_score"],
    }
    assert "text" not in to_c and "word" not in to_c and to_b["word"] == word
    clock.now += 30
    later = sent(room.guess(c, word), c, "guessed")[0]
    assert later["points"] < to_c["points"]
    assert room.players[a].score == to_c["drawer_points"] + later["drawer_points"]
    assert guess_points(room.seconds, room.seconds) == GUESS_MAX_POINTS
    assert guess_points(0, room.seconds) == GUESS_MIN_POINTS


def test_wrong_guesses_are_shown_close_ones_only_to_their_guesser() -> None:
    """A wrong guess's text goes to everyone; a close one's text only to its guesser."""
    room, (a, b, c) = make_room(Clock(), words=["banana"])
    room.start(a)
    wrong = room.guess(b, "apple")
    assert sent(wrong, c, "guessed")[0]["text"] == "apple"
    close = room.guess(b, "bananna")
    assert sent(close, b, "guessed")[0] == {
        "type": "guessed",
        "player": b,
        "correct": False,
        "close": True,
        "text": "bananna",
    }
    assert "text" not in sent(close, c, "guessed")[0]


def test_who_may_not_guess_is_told_so() -> None:
    """Before a turn, the drawer, or a player who already guessed: not_now."""
    room, (a, b, _c) = make_room(Clock(), words=["cat"])
    with pytest.raises(NotNow, match="no turn"):
        room.guess(b, "cat")
    room.start(a)
    with pytest.raises(NotNow, match="drawer"):
        room.guess(a, "cat")
    room.guess(b, "cat")
    with pytest.raises(NotNow, match="already"):
        room.guess(b, "cat")


def test_guesses_are_rate_limited_per_player() -> None:
    """Past guess_burst guesses at once: rate_limited; the bucket refills with time."""
    clock = Clock()
    room = Room("ABCDEFGH", limits=Limits(guess_burst=3, max_guesses_per_second=1), clock=clock, pool=POOL)
    a, b = room.join("a")[0].id, room.join("b")[0].id
    room.start(a)
    for _ in range(3):
        room.guess(b, "zebra")
    with pytest.raises(LimitExceeded) as e:
        room.guess(b, "zebra")
    assert e.value.code is ErrorCode.RATE_LIMITED
    clock.now += 1.0
    room.guess(b, "zebra")


def test_the_ai_guesses_after_each_pen_up_and_wins_once_without_spoiling() -> None:
    """ai goes to all; the word is masked for those who have not guessed; the AI's first right top guess scores."""
    room, (a, b, _c) = make_room(Clock(), words=["cat", "dog"])
    room.start(a)
    word = room.turn.word  # type: ignore[union-attr]
    other = "dog" if word == "cat" else "cat"
    miss = room.ai(a, [(other, 0.6), (word, 0.3)], strokes=1)
    assert sent(miss, a, "ai")[0]["guesses"][1] == {"word": word, "score": 0.3, "correct": True}
    masked = sent(miss, b, "ai")[0]["guesses"]
    assert masked[0] == {"word": other, "score": 0.6} and "word" not in masked[1] and masked[1]["correct"]
    assert not sent(miss, b, "guessed")
    win = room.ai(a, [(word, 0.9)], strokes=2)
    assert sent(win, b, "guessed")[0]["player"] == AI_ID and room.players[AI_ID].score > 0
    again = room.ai(a, [(word, 0.95)], strokes=3)
    assert not sent(again, b, "guessed")
    assert room.ai(b, [(word, 0.9)], strokes=1) == []  # only the drawer's pen-ups count


def test_a_turn_ends_when_every_guesser_guessed_then_the_next_follows_the_gap() -> None:
    """All guessed -> turn_end with the word and scores; TURN_GAP_S later the next drawer's turn."""
    clock = Clock()
    room, (a, b, c) = make_room(clock, words=["cat"])
    room.start(a)
    room.guess(b, "cat")
    effects = room.guess(c, "cat")
    end = sent(effects, a, "turn_end")[0]
    assert end["word"] == "cat" and end["reason"] == "guessed" and DrawerEnds(a) in effects
    assert {s["id"] for s in end["scores"]} == {AI_ID, a, b, c}
    assert room.deadline == clock.now + TURN_GAP_S
    clock.now += TURN_GAP_S
    nxt = room.tick()
    assert sent(nxt, a, "turn")[0]["drawer"] == b and DrawerBegins(b) in nxt


def test_a_whole_game_plays_every_round_then_ends_in_the_lobby() -> None:
    """rounds x players turns, each ended by time; then game_end with the scores, back in the lobby."""
    clock = Clock()
    room, ids = make_room(clock, rounds=2, seconds=30)
    room.start(ids[0])
    drawers = []
    ended: list[Effect] = []
    for _ in range(20):
        if room.state == "lobby":
            break
        assert room.turn is not None
        drawers.append((room.turn.round, room.turn.drawer))
        clock.now = room.deadline  # type: ignore[assignment]
        assert sent(room.tick(), ids[0], "turn_end")[0]["reason"] == "time"
        clock.now = room.deadline  # type: ignore[assignment]
        ended = room.tick()
    assert drawers == [(1, ids[0]), (1, ids[1]), (1, ids[2]), (2, ids[0]), (2, ids[1]), (2, ids[2])]
    assert sent(ended, ids[1], "game_end")[0]["scores"][0]["id"] == AI_ID
    assert room.state == "lobby" and room.deadline is None


def test_words_do_not_repeat_within_a_game() -> None:
    """With enough words, no turn of a game repeats a word."""
    clock = Clock()
    room, ids = make_room(clock, rounds=1, seconds=20)
    room.start(ids[0])
    words = []
    while room.state == "playing":
        if room.turn is not None and not room.turn.over:
            words.append(room.turn.word)
        clock.now = room.deadline  # type: ignore[assignment]
        room.tick()
    assert len(words) == 3 and len(set(words)) == 3


def test_a_dropped_player_rejoins_its_seat_with_the_turn_replayed() -> None:
    """drop keeps the seat; rejoin with the key within room_rejoin_s gives back score, turn and drawing so far."""
    clock = Clock()
    room, (a, b, _c) = make_room(clock)
    room.start(a)
    room.drawn(a, "points", [1.0, 2.0], [1.0, 2.0], [0, 10])
    room.drawn(a, "pen_up")
    room.drawn(a, "points", [3.0], [3.0], [20])
    key = room.players[b].key
    dropped = room.drop(b)
    shown_b = next(p for p in sent(dropped, a, "room")[0]["players"] if p["id"] == b)
    assert shown_b["connected"] is False and not sent(dropped, b)
    clock.now += room.limits.room_rejoin_s - 1
    player, effects = room.rejoin(key)
    assert player.id == b and room.players[b].connected
    assert "word" not in sent(effects, b, "turn")[0]
    replay = sent(effects, b, "drawn")[0]
    assert replay["op"] == "replay" and replay["strokes"] == [{"x": [1.0, 2.0], "y": [1.0, 2.0], "t": [0, 10]}]
    assert replay["pending"] == {"x": [3.0], "y": [3.0], "t": [20]}


def test_a_dropped_drawer_gets_its_strokes_back_to_go_on_drawing() -> None:
    """The drawer rejoining mid-turn: DrawerBegins with the turn's strokes, and turn carries the word."""
    clock = Clock()
    room, (a, b, _c) = make_room(clock)
    room.start(a)
    room.drawn(a, "points", [1.0, 2.0], [1.0, 2.0], [0, 10])
    room.drawn(a, "pen_up")
    key = room.players[a].key
    room.drop(a)
    assert room.host == b
    _, effects = room.rejoin(key)
    assert DrawerBegins(a, (([1.0, 2.0], [1.0, 2.0], [0, 10]),)) in effects
    assert sent(effects, a, "turn")[0]["word"] == room.turn.word  # type: ignore[union-attr]


def test_a_seat_is_freed_after_room_rejoin_s_and_the_key_no_longer_works() -> None:
    """Past room_rejoin_s the seat is gone (unknown_seat); a room with no seat left is disposed."""
    clock = Clock()
    room, (a, b) = make_room(clock, 2)
    key = room.players[b].key
    room.drop(b)
    assert room.deadline == clock.now + room.limits.room_rejoin_s
    clock.now += room.limits.room_rejoin_s
    room.tick()
    assert b not in room.players
    with pytest.raises(UnknownSeat):
        room.rejoin(key)
    room.drop(a)
    clock.now += room.limits.room_rejoin_s
    assert Disposed(room.code) in room.tick() and room.disposed


def test_the_drawer_leaving_ends_the_turn_and_the_host_passes_on() -> None:
    """room_leave by the drawing host: turn_end (drawer_left), the next player hosts."""
    clock = Clock()
    room, (a, b, c) = make_room(clock)
    room.start(a)
    effects = room.leave(a)
    assert sent(effects, b, "turn_end")[0]["reason"] == "drawer_left"
    assert room.host == b and sent(effects, c, "room")[0]["host"] == b
    assert a not in sent(effects, c, "room")[0]["players"]


def test_the_last_player_leaving_disposes_the_room() -> None:
    """A room with no seat left ends: Disposed."""
    room, (a,) = make_room(Clock(), 1)
    assert Disposed(room.code) in room.leave(a)


def test_a_lone_player_plays_against_the_ai() -> None:
    """With no human guesser, a turn ends when the AI guesses it."""
    room, (a,) = make_room(Clock(), 1, words=["cat"])
    room.start(a)
    effects = room.ai(a, [("cat", 0.9)], strokes=2)
    assert sent(effects, a, "turn_end")[0]["reason"] == "guessed"


def test_the_directory_limits_rooms_and_joins_per_address() -> None:
    """max_rooms_per_address, max_rooms (too_many_rooms) and joins a minute (rate_limited); codes found as typed."""
    clock = Clock()
    limits = Limits(max_rooms_per_address=2, max_rooms=3, max_room_joins_per_minute=4)
    d = Directory(limits, clock=clock, pool=POOL)
    r1, _, _ = d.create("1.1.1.1", "a")
    d.create("1.1.1.1", "b")
    with pytest.raises(TooManyRooms, match="per address"):
        d.create("1.1.1.1", "c")
    d.create("2.2.2.2", "d")
    with pytest.raises(TooManyRooms, match="server"):
        d.create("3.3.3.3", "e")
    assert d.find(r1.code[:4].lower() + "-" + r1.code[4:]) is r1
    with pytest.raises(UnknownRoom):
        d.find("ZZZZ-ZZZZ" if r1.code != "ZZZZZZZZ" else "YYYY-YYYY")
    with pytest.raises(UnknownRoom):
        d.find("not a code at all \u202e")
    for _ in range(4):
        d.admit("9.9.9.9")
    with pytest.raises(LimitExceeded):
        d.admit("9.9.9.9")
    d.admit("8.8.8.8")  # another address is not held back
    clock.now += JOIN_WINDOW_S
    d.admit("9.9.9.9")
    r1.dispose()
    d.forget(r1.code)
    d.create("1.1.1.1", "again")  # its count went down with the disposed room


def test_a_turn_waits_for_guessers_who_dropped() -> None:
    """With every guesser dropped, the turn does not end when the AI guesses: they may rejoin."""
    room, (a, b) = make_room(Clock(), 2, words=["cat"])
    room.start(a)
    room.drop(b)
    effects = room.ai(a, [("cat", 0.9)], strokes=1)
    assert not sent(effects, a, "turn_end") and room.turn is not None and not room.turn.over
