"""Rooms over real sockets, server and clients in one event loop (server/rooms/feature.py, replay_client/rooms.py).

The game server runs the shipped model and plays real recorded drawings; the bad-input
servers run the fake model with small room limits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from replay_client.client import DoodleClient
from replay_client.replay import Pacer, play
from replay_client.rooms import RoomPlayer, fill_room
from server.app import DoodleServer, ServerConfig
from server.limits import Limits
from server.quickdraw import Drawing, read_file
from server.rooms.feature import Rooms
from tests.conftest import MODEL_DIR, RAW
from tests.support import FakeModel

#: The game's words: three the model tells apart, each drawn from the raw (validation) set.
WORDS = ["apple", "star", "umbrella"]
#: Raw drawings tried per word to find one the model names (its top guess among WORDS) when finished.
CANDIDATES = 12


def strings(value: Any) -> Iterator[str]:
    """Every string inside a decoded message."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


@pytest.fixture(scope="module")
async def game_server() -> AsyncIterator[DoodleServer]:
    """The real model with the rooms feature (a short pause between turns, a seeded word order); every client is
    127.0.0.1, and rooms whose players left stay open while their seats are held: more rooms per address."""
    config = ServerConfig(host="127.0.0.1", port=0, model_dir=MODEL_DIR, limits=Limits(max_rooms_per_address=50))
    srv = DoodleServer(config, features=[Rooms(config.limits, gap_s=0.3, rng=random.Random(5))])
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture(scope="module")
async def drawings(game_server: DoodleServer) -> dict[str, Drawing]:
    """For each word, the first raw drawing whose finished top guess among WORDS is its word (the AI will win)."""
    url = f"ws://127.0.0.1:{game_server.port}/ws"
    chosen: dict[str, Drawing] = {}
    async with DoodleClient(url) as c:
        await c.hello(words=WORDS)
        pacer = Pacer(c.welcome["limits"])
        for word in WORDS:
            for d in read_file(RAW / f"{word}.ndjson", limit=CANDIDATES):
                result = await play(c, pacer, d, speed=0, batch_ms=16)
                if not result.errors and result.guesses and result.guesses[-1][0] == word:
                    chosen[word] = d
                    break
    assert set(chosen) == set(WORDS), f"no drawing of {set(WORDS) - set(chosen)} is named by the model"
    return chosen


async def test_three_players_and_the_ai_play_a_whole_game(
    game_server: DoodleServer, drawings: dict[str, Drawing]
) -> None:
    """Create, join, start; each player draws a real drawing, the others see every point and guess, the AI wins
    each turn; wrong guesses are shown, right ones never spoil the word; scores, turn_end, game_end; another room
    and a v1 client on the same server notice nothing."""
    url = f"ws://127.0.0.1:{game_server.port}/ws"
    async with (
        RoomPlayer(url) as ann,
        RoomPlayer(url, text=True) as bob,
        RoomPlayer(url) as cy,
        RoomPlayer(url) as outsider,
        DoodleClient(url) as v1,
    ):
        assert "rooms" in ann.welcome["features"] and ann.welcome["protocol_minor"] >= 2
        assert ann.welcome["limits"]["max_room_players"] == Limits().max_room_players
        room = await ann.create("Ann", rounds=1, seconds=120, words=WORDS)
        assert room["type"] == "room" and room["host"] == ann.id and room["state"] == "lobby"
        assert (await bob.join(room["shown"].lower(), "Bob"))["you"] == bob.id
        joined = await cy.join(room["code"], "Cy \u00e9")
        assert [p["name"] for p in joined["players"]] == ["AI", "Ann", "Bob", "Cy \u00e9"]
        assert (await ann.expect("room", lambda m: len(m["players"]) == 4))["you"] == ann.id
        other = await outsider.create("Elsewhere")
        assert other["code"] != room["code"]
        players = {p.id: p for p in (ann, bob, cy)}
        first_turn = await ann.start()
        turns_played = []
        for number in range(1, 4):
            turn = {
                p.id: first_turn if (p is ann and number == 1) else await p.expect("turn") for p in players.values()
            }
            drawer = players[turn[ann.id]["drawer"]]
            word = turn[drawer.id]["word"]
            guessers = [p for p in players.values() if p is not drawer]
            assert all("word" not in turn[g.id] and turn[g.id]["length"] == len(word) for g in guessers)
            starts = {p.id: len(p.received) for p in players.values()}
            for p in players.values():
                p.inbox.clear()  # the last turn's ai messages are not this one's
            drawing = drawings[word]
            await drawer.draw(drawing, speed=0)
            strokes = len(drawing.strokes)
            for g in guessers:
                await g.expect("ai", lambda m, n=strokes: m["strokes"] == n)
            first, second = guessers
            wrong = await first.guess("zebra")
            assert wrong == {**wrong, "correct": False, "text": "zebra"}
            assert (await second.expect("guessed", lambda m: m.get("text") == "zebra"))["player"] == first.id
            right = await first.guess(word.upper())
            assert right["correct"] and right["word"] == word and right["points"] > 0
            await second.guess(word)
            ends = [await p.expect("turn_end") for p in players.values()]
            assert all(e["word"] == word and e["reason"] == "guessed" for e in ends)
            for g in guessers:
                mine = [m for _, m in g.received[starts[g.id] :]]
                own_right = next(i for i, m in enumerate(mine) if m["type"] == "guessed" and m.get("word") == word)
                spoilers = [m for m in mine[:own_right] if word in strings(m)]
                assert not spoilers, f"{g.id} was shown the word before guessing it: {spoilers}"
                points = [m for m in mine if m["type"] == "drawn" and m["op"] == "points"]
                assert [x for m in points for x in m["x"]] == [x for s in drawing.strokes for x in s.x]
                assert sum(m["op"] == "pen_up" for m in mine if m["type"] == "drawn") == strokes
                assert any(m["type"] == "guessed" and m["player"] == "ai" and m["correct"] for m in mine)
            assert not [m for _, m in drawer.received[starts[drawer.id] :] if m["type"] == "drawn"]
            turns_played.append((turn[ann.id]["round"], drawer.id))
        assert turns_played == [(1, ann.id), (1, bob.id), (1, cy.id)]
        ends = [await p.expect("game_end") for p in players.values()]
        scores = {s["id"]: s["score"] for s in ends[0]["scores"]}
        assert set(scores) == {"ai", *players} and all(v > 0 for v in scores.values())
        assert (await ann.expect("room", lambda m: m["state"] == "lobby" and m["round"] == 1))["host"] == ann.id
        assert {m["type"] for _, m in outsider.received} == {"room"}
        reply = await v1.request({"type": "stroke", "x": [0, 50, 100], "y": [0, 50, 0]})
        assert reply["type"] == "guesses"


async def test_a_dropped_guesser_and_drawer_rejoin_their_seats_with_the_turn_replayed(
    game_server: DoodleServer, drawings: dict[str, Drawing]
) -> None:
    """Within room_rejoin_s, room_join with the key gives the same seat back, the turn (the drawer's with its word)
    and the drawing so far; the drawer's session goes on from its strokes (the AI counts them)."""
    url = f"ws://127.0.0.1:{game_server.port}/ws"
    async with RoomPlayer(url) as ann, RoomPlayer(url) as bob:
        room = await ann.create("Ann", rounds=1, seconds=120, words=WORDS)
        await bob.join(room["code"], "Bob")
        turn = await ann.start()
        word = turn["word"]
        whole = drawings[word]
        part = dataclasses.replace(whole, strokes=whole.strokes[:2])
        await ann.draw(part, speed=0)
        await bob.expect("ai", lambda m: m["strokes"] == 2)
        bob.drop()
        await ann.expect("room", lambda m: not next(p for p in m["players"] if p["id"] == bob.id)["connected"])
        async with RoomPlayer(url) as bob2:
            back = await bob2.join(room["code"], key=bob.key)
            assert back["you"] == bob.id and back["key"] == bob.key
            again = await bob2.expect("turn")
            assert again["drawer"] == ann.id and "word" not in again and 0 < again["left"] <= 120
            replay = await bob2.expect("drawn")
            assert replay["op"] == "replay"
            assert [s["x"] for s in replay["strokes"]] == [list(s.x) for s in part.strokes]
            ann.drop()
            await bob2.expect("room", lambda m: m["host"] == bob.id)
            async with RoomPlayer(url) as ann2:
                await ann2.join(room["code"], key=ann.key)
                assert (await ann2.expect("turn"))["word"] == word
                third = dataclasses.replace(whole, strokes=whole.strokes[2:3])
                await ann2.draw(third, speed=0)
                assert (await bob2.expect("ai", lambda m: m["strokes"] == 3))["player"] == "ai"
                drawn = await bob2.expect("drawn", lambda m: m["op"] == "points")
                assert drawn["player"] == ann.id


# ---------------------------------------------------------------- bad input (fake model, small limits)


@pytest.fixture
async def small() -> AsyncIterator[str]:
    """A fake-model server whose rooms seat 2 players, 2 rooms per address, 8 joins a minute."""
    limits = Limits(max_room_players=2, max_rooms_per_address=2, max_room_joins_per_minute=8)
    srv = DoodleServer(
        ServerConfig(host="127.0.0.1", port=0, limits=limits), model=FakeModel(), features=[Rooms(limits)]
    )
    await srv.start()
    yield f"ws://127.0.0.1:{srv.port}/ws"
    await srv.close()


async def test_bad_room_messages_get_their_error_codes(small: str) -> None:
    """unknown_room, room_full, already_in_room, not_in_room, not_host, not_now, invalid_field and bad_text
    (names, guesses, codes, rounds), too_many_rooms and rate_limited (joins a minute): each an error, and the
    session goes on."""
    async with RoomPlayer(small) as a, RoomPlayer(small) as b, RoomPlayer(small) as c:
        assert (await a.join("ZZZZ-ZZZZ", "a"))["code"] == "unknown_room"
        assert (await a.create("evil\u202egnp"))["code"] == "bad_text"
        assert (await a.create("x", seconds=5))["code"] == "invalid_field"
        assert (await a.create("x", rounds=99))["code"] == "invalid_field"
        assert (await a.create("x", words=["not a model word"]))["code"] == "unknown_word"
        assert (await a.guess("cat"))["code"] == "not_in_room"
        room = await a.create("Ann")
        assert (await a.create("again"))["code"] == "already_in_room"
        await b.join(room["code"], "Bob")
        assert (await c.join(room["code"], "Cy"))["code"] == "room_full"
        assert (await b.start())["code"] == "not_host"
        assert (await b.guess("cat"))["code"] == "not_now"
        await a.start()
        assert (await b.guess("cat\x00"))["code"] == "bad_text"
        assert (await b.guess("x" * 100))["code"] == "invalid_field"
        assert (await a.guess("cat"))["code"] == "not_now"  # the drawer
        await a.send({"type": "room_join", "code": 5, "name": "x"})
        assert (await a.expect("error"))["code"] == "invalid_field"
        await c.create("C1")
        await c.leave()
        await c.create("C2")
        await c.leave()  # rooms with no player left are over: C2's count is gone
        assert (await c.create("C3"))["type"] == "room"
        await c.leave()
        answers = [await c.join("ZZZZ-ZZZZ", "c") for _ in range(3)]
        assert answers[-1]["code"] == "rate_limited", answers
        assert (await b.guess("zebra"))["type"] == "guessed"  # everyone else goes on


async def test_too_many_rooms_from_one_address(small: str) -> None:
    """More than max_rooms_per_address open rooms from one address: too_many_rooms."""
    async with RoomPlayer(small) as a, RoomPlayer(small) as b, RoomPlayer(small) as c:
        await a.create("a")
        await b.create("b")
        assert (await c.create("c"))["code"] == "too_many_rooms"


async def test_a_member_that_does_not_read_is_dropped_not_waited_for() -> None:
    """A guesser that stops reading is cut once its unread messages pass max_send_buffer_bytes; the drawer goes on."""
    limits = Limits(max_send_buffer_bytes=16_384, max_room_players=2)
    srv = DoodleServer(
        ServerConfig(host="127.0.0.1", port=0, limits=limits), model=FakeModel(), features=[Rooms(limits)]
    )
    await srv.start()
    url = f"ws://127.0.0.1:{srv.port}/ws"
    try:
        async with RoomPlayer(url) as a, RoomPlayer(url) as b:
            room = await a.create("a")
            await b.join(room["code"], "b")
            await a.start()
            assert b.client.ws is not None
            b.client.ws.transport.pause_reading()
            xs = [float(i % 200) for i in range(1000)]
            for _ in range(600):
                await a.send({"type": "points", "x": xs, "y": xs})
                await a.send({"type": "undo"})
            await a.expect("room", lambda m: not m["players"][2]["connected"], timeout_s=30)
            assert (await a.guess("x"))["code"] == "not_now"
    finally:
        await srv.close()


async def test_a_script_fills_a_room_with_bots_that_replay_drawings(
    game_server: DoodleServer, drawings: dict[str, Drawing]
) -> None:
    """fill_room seats a replaying bot in a person's room: the bot draws the word it is given, the person sees it
    and guesses it; the game ends with both scored."""
    url = f"ws://127.0.0.1:{game_server.port}/ws"
    asked: list[str] = []

    def drawing_of(word: str) -> Drawing:
        asked.append(word)
        return drawings[word]

    async with RoomPlayer(url) as host:
        room = await host.create("Host", rounds=1, seconds=15, words=WORDS)
        assert room["type"] == "room", room
        bots = asyncio.create_task(fill_room(url, 1, code=room["code"], speed=0, drawing_of=drawing_of))
        await host.expect("room", lambda m: len(m["players"]) == 3)
        await host.start()
        bot_turn = await host.expect("turn", lambda m: m["drawer"] != host.id, timeout_s=30)
        await host.expect("drawn", lambda m: m["op"] == "pen_up")
        assert asked and bot_turn["length"] == len(asked[-1])
        assert (await host.guess(asked[-1]))["correct"]
        end = await host.expect("game_end", timeout_s=30)
        assert (await bots)["type"] == "game_end"
        assert all(s["score"] > 0 for s in end["scores"] if s["id"] != "ai")
