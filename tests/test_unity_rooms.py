"""The Unity client's rooms (protocol v1.2): C# sessions play a turn in a room on a live server, JIT and full AOT.

tests/unity/RoomHarness.cs (part of Harness.exe) pumps three DoodleSessions from one thread as Unity's
Update would: a room is created, joined, found full and unknown, started by its host; the drawer draws a
real recorded drawing of her word point by point; a guesser's connection drops and his session rejoins
the seat with its key (the turn and its drawing replayed); he guesses wrong, then right; the turn ends;
he leaves and the game ends. The server is started with ``--max-room-players 2``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.services import HAProxy
from replay_client.rooms import RoomPlayer
from server import quickdraw
from tests.conftest import RAW, ServerProcess
from tests.unity_support import STUB, UNITY, build_aot_harness, build_harness, free_port, mcs, run

pytestmark = pytest.mark.mono

#: The room's words: far apart, so that no guess of one is "close" to another.
WORDS = ("bicycle", "cat", "house")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_harness(tmp_path_factory.mktemp("unity-rooms"))


@pytest.fixture(scope="module")
def room_server() -> Any:
    """A live server whose rooms seat two players (so that a third finds the room full)."""
    srv = ServerProcess("--port", str(free_port()), "--max-room-players", "2")
    yield srv
    srv.stop()


def recorded(word: str) -> list[list[list[int]]]:
    """The first recognised raw drawing of ``word`` with 3..6 strokes and at most 250 points."""
    for d in quickdraw.read_file(RAW / f"{word}.ndjson"):
        if d.recognized and 3 <= len(d.strokes) <= 6 and d.points <= 250:
            return [[[round(v) for v in axis] for axis in (s.x, s.y, s.t or ())] for s in d.strokes]
    raise AssertionError(f"no suitable {word} drawing in the raw data")


def by_op(seen: list[str], prefix: str) -> list[str]:
    return [s for s in seen if s.startswith(prefix)]


@pytest.mark.parametrize("compiled", ["jit", "full_aot"])
def test_csharp_clients_play_a_turn_in_a_room(
    compiled: str, harness: Path, room_server: ServerProcess, tmp_path: Path
) -> None:
    """Create, join (full, unknown), start; a recorded drawing relayed; drop and rejoin; guesses; turn and game end."""
    for word in WORDS:
        (tmp_path / f"{word}.json").write_text(json.dumps(recorded(word)))
    exe = build_aot_harness(harness, tmp_path / "aot") if compiled == "full_aot" else harness
    (out,) = run(exe, "room", room_server.url, str(tmp_path), timeout_s=240, aot=compiled == "full_aot")
    ann, bo, cy = out["ann"], out["bo"], out["cy"]
    assert out["rooms_feature"] and ann["faults"] == bo["faults"] == cy["faults"] == 0

    # Joining: an unknown code, a full room, a guest may not start; the host does.
    assert out["unknown_room"] == "unknown_room" and out["room_full"] == "room_full"
    assert out["not_host"] == "not_host" and out["start_error"] is None
    assert out["create_error"] is None and out["created_seq_answered"] and out["join_error"] is None
    assert out["joined_you"] == "p2" and cy["errors"] == ["unknown_room", "room_full"]
    # The unknown code was asked again on a connection opened with ?room=CODE (a balancer's route), then refused.
    assert cy["connects"] == 2
    first = ann["rooms"][0]
    assert first["you"] == "p1" and first["host"] == "p1" and first["state"] == "lobby" and first["has_key"]
    assert len(first["code"]) == 8 and first["shown"] == f"{first['code'][:4]}-{first['code'][4:]}"
    assert "p2:B\u00f6 <i>:on" in ann["rooms"][1]["players"] and ann["rooms"][1]["players"][0] == "ai:AI:on:ai"

    # The turn: Ann draws (her copy has the word, Bo's only the hint).
    assert out["ann_is_drawer"] and not out["bo_is_drawer"]
    (turn,) = ann["turns"]
    word = out["word"]
    assert word in WORDS and turn["word"] == word and turn["drawer"] == "p1" and turn["round"] == 1
    assert turn["rounds"] == 1 and turn["seconds"] == 60 and turn["length"] == len(word)
    assert turn["hint"] == "_" * len(word)
    bo_turn = bo["turns"][0]
    assert bo_turn["word"] is None and bo_turn["hint"] == turn["hint"] and bo_turn["drawer"] == "p1"

    # Bo dropped after the first stroke and rejoined his seat: the room, the turn (time left) and the drawing so far.
    assert out["bo_in_room_while_away"] and bo["connects"] == 2
    assert any("p2:B\u00f6 <i>:off" in r["players"] for r in ann["rooms"])
    assert out["bo_turn_after_rejoin"] and len(bo["turns"]) == 2 and 0 < bo["turns"][1]["left"] < 60
    (replay,) = bo["replays"]
    assert replay["strokes"] >= 1
    # Every point Ann drew reached Bo, live or replayed, in order: his copy of the drawing is hers.
    strokes = out["strokes"]
    assert bo["pending"] == 0 and len(bo["drawing"]) == len(strokes)
    for theirs, ours in zip(bo["drawing"], strokes, strict=True):
        assert [p[:2] for p in theirs] == [p[:2] for p in ours]
    assert len(by_op(bo["seen"], "drawn:pen_up")) >= len(strokes) - replay["strokes"]
    assert by_op(ann["seen"], "drawn:") == []  # the drawer is not sent her own strokes

    # The AI guessed after every pen-up, to both; Bo never saw the word among them before he guessed it.
    assert len(ann["ai"]) == len(strokes) and all(a["strokes"] >= 1 for a in ann["ai"])
    for a in bo["ai"]:
        assert word not in a["words"]
        assert all(h == turn["hint"] for h, c in zip(a["hints"], a["correct"], strict=True) if c)
    assert any(word in a["words"] for a in ann["ai"]) or not any(any(a["correct"]) for a in ann["ai"])

    # Bo's guesses: the wrong one shown as typed, the right one (any case) scores him and Ann.
    wrong = next(g for g in bo["guessed"] if g["player"] == "p2" and not g["correct"])
    assert out["wrong_error"] is None and out["wrong_text"] == wrong["text"] and wrong["text"] in WORDS
    assert any(g["text"] == wrong["text"] for g in ann["guessed"])
    right = next(g for g in bo["guessed"] if g["player"] == "p2" and g["correct"])
    assert out["right_error"] is None and out["right_word"] == word == right["word"]
    assert 100 <= right["points"] <= 500 and right["drawer_points"] == round(right["points"] / 2)
    ann_right = next(g for g in ann["guessed"] if g["player"] == "p2" and g["correct"])
    assert ann_right["word"] is None and ann_right["points"] == right["points"]

    # The turn ended because everyone guessed; a guess between turns is refused; Bo leaves and the game ends.
    for player in (ann, bo):
        (end,) = player["turn_ends"]
        assert end["word"] == word and end["reason"] == "guessed"
        assert end["points"]["p2"] == right["points"] and end["points"]["p1"] >= right["drawer_points"]
    assert not out["drawer_after_turn"] and out["between_turns"] == "not_now"
    assert out["left"] == "left" and not out["bo_in_room_after_leaving"]
    (final,) = ann["game_ends"]
    assert final["p1"] == ann["turn_ends"][0]["scores"]["p1"] and "p2" not in final
    assert out["ann_room_state"] == "lobby" and bo["game_ends"] == []


def test_readme_room_example_compiles_against_the_package(tmp_path: Path) -> None:
    """The README's rooms example compiles against the runtime and the UnityEngine stub (it cannot rot)."""
    readme = (UNITY / "README.md").read_text()
    section = readme[readme.index("## Rooms") :]
    code = section[section.index("```csharp\n") + len("```csharp\n") : section.index("```\n", 10)]
    assert "CreateRoom" in code and "JoinRoom" in code and "SendGuess" in code and "TurnStarted" in code
    src = tmp_path / "DrawWithFriends.cs"
    src.write_text(code)
    stub = tmp_path / "UnityEngine.dll"
    assert mcs("-target:library", f"-out:{stub}", str(STUB)).returncode == 0
    runtime = sorted((UNITY / "Runtime").glob("*.cs"))
    r = mcs("-target:library", f"-out:{tmp_path / 'Rooms.dll'}", f"-r:{stub}", *map(str, runtime), str(src))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.rooms
async def test_csharp_session_reaches_rooms_on_two_servers_behind_haproxy(harness: Path) -> None:
    """Via deploy/haproxy.cfg: joining a room of the other server reconnects once with ?room=CODE; so does a rejoin."""
    if shutil.which("haproxy") is None and not shutil.which("/usr/sbin/haproxy"):
        pytest.skip("needs Debian haproxy (scripts/setup.sh)")
    servers = [ServerProcess("--room-prefix", p, "--trusted-proxy", "127.0.0.1") for p in ("2", "3")]
    proxy = HAProxy([*(f"127.0.0.1:{s.port}" for s in servers), f"127.0.0.1:{free_port()}"])
    hosts = [RoomPlayer(f"{proxy.url}?room={prefix}") for prefix in ("2", "3")]
    try:
        proxy.wait_states({"s1": "UP", "s2": "UP"})
        codes = []
        for host in hosts:  # a room on each server, held open by its host
            await host.connect()
            codes.append((await host.create("host"))["code"])
        assert [c[0] for c in codes] == ["2", "3"]
        (out,) = await asyncio.to_thread(run, harness, "balanced", proxy.url, *codes, timeout_s=120)
    finally:
        for host in hosts:
            await host.close()
        proxy.stop()
        for srv in servers:
            srv.stop()
    assert out["faults"] == 0 and out["errors"] == [], out
    assert out["a"] == codes[0] and out["b"] == codes[1]
    # Room B was asked on A's server first (unknown_room there, not raised), then reached through ?room=B.
    assert out["connects_for_b"] == 1
    assert out["rejoined"] == codes[1]
