"""Drawings kept by the live server (server/history/): submit, clear, disconnect, sprites, crashes, concurrency."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from replay_client.client import DoodleClient
from server.history.export import export
from server.limits import MAX_SPRITE_PX, MAX_WORD_CHARS
from tests.conftest import ROOT, SHIPPED_META, ServerProcess, raw_sample
from tests.support import InProcessServer, wait_idle
from tests.web_support import real_drawing

#: A word whose first raw drawing ends with the target as the top guess, never at the strict threshold.
LEADS = "car"
THRESHOLD = SHIPPED_META["calibration"]["threshold_95"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("history") / "doodles.sqlite3"


@pytest.fixture(scope="module")
def srv(db: Path) -> Iterator[InProcessServer]:
    """A server keeping its history in a fresh file (60 sessions at once from this address: over the default 48)."""
    s = InProcessServer(
        "--db", str(db), "--max-sessions-per-address", "100", "--max-http-requests-per-second", "1000"
    )  # this module polls the API from one address: the HTTP rate limit is tested in test_gallery.py
    yield s
    s.stop()


def get_json(srv: InProcessServer, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(srv.http + path, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def record(srv: InProcessServer, doodle_id: int) -> dict[str, Any]:
    status, body = get_json(srv, f"/api/doodles/{doodle_id}")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def newest_id(srv: InProcessServer) -> int:
    status, body = get_json(srv, "/api/doodles?limit=1")
    assert status == 200
    return int(body["doodles"][0]["id"]) if body["doodles"] else 0


async def settle(srv: InProcessServer, after: int, count: int, timeout_s: float = 10) -> list[dict[str, Any]]:
    """The records stored after id `after`, once there are `count` of them (disconnects store asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        _, body = get_json(srv, "/api/doodles?limit=200")
        fresh = [d for d in body["doodles"] if d["id"] > after]
        if len(fresh) >= count or loop.time() > deadline:
            return [record(srv, d["id"]) for d in reversed(fresh)]
        await asyncio.sleep(0.05)


async def draw(c: DoodleClient, drawing: list) -> list[dict[str, Any]]:
    """Send every stroke of a raw drawing; the guesses replies."""
    return [await c.request({"type": "stroke", "x": xs, "y": ys, "t": ts}) for xs, ys, ts in drawing]


async def test_submit_stores_strokes_guesses_word_client_and_session(srv: InProcessServer) -> None:
    """submit -> saved; the record holds the exact timed strokes, every guess list sent, word, client, session."""
    d = raw_sample()[21]
    async with DoodleClient(srv.url) as c:
        await c.request({"type": "hello", "client": "pytest-kind"})
        replies = await draw(c, d["drawing"])
        saved = await c.request({"type": "submit", "word": f"  {d['word']} ", "seq": 12})
        assert saved == {"type": "saved", "id": saved["id"], "seq": 12, "drawing": replies[-1]["drawing"]}
        assert saved["id"] >= 1
        session = c.welcome["session"]
    rec = record(srv, saved["id"])
    assert rec["drawing"] == d["drawing"]
    assert rec["word"] == d["word"] and rec["label"] == d["word"] and rec["client"] == "pytest-kind"
    assert rec["session"] == session and rec["reason"] == "submit" and rec["strokes"] == len(d["drawing"])
    assert [g["strokes"] for g in rec["guesses"]] == [r["strokes"] for r in replies]
    for sent, kept in zip(replies, rec["guesses"], strict=True):
        assert [g["word"] for g in kept["guesses"]] == [g["word"] for g in sent["guesses"]]
        assert [g["score"] for g in kept["guesses"]] == pytest.approx([g["score"] for g in sent["guesses"]], abs=1e-5)
    assert rec["final"] == rec["guesses"][-1]["guesses"] and rec["guess"] == rec["final"][0]["word"]
    assert rec["recognized"] == (rec["guess"] == d["word"])
    assert rec["started_at"] <= rec["created_at"]


async def test_recognized_in_the_api_and_the_export_is_the_rounds_verdict(
    srv: InProcessServer, db: Path, tmp_path: Path
) -> None:
    """A real car whose target leads below the strict threshold, submitted under "score": no `recognized`, so
    not recognized in the gallery, /api/doodles and the export though its final top guess is car; under "top1" it
    is; on the sketchpad (no target) the final top guess decides, as before."""
    car = real_drawing(LEADS)
    verdicts: dict[str, tuple[int, bool]] = {}
    for rule in ("score", "top1", None):
        async with DoodleClient(srv.url) as c:
            if rule is not None:
                await c.call({"type": "hello", "target": LEADS, "recognize": rule})
            replies = await draw(c, car)
            assert replies[-1]["guesses"][0]["word"] == LEADS  # the final top guess is the word in every case
            if rule is not None:
                assert replies[-1]["target"]["score"] < THRESHOLD
            saved = await c.request({"type": "submit", "word": LEADS})
            verdicts[str(rule)] = saved["id"], bool(c.recognized)
    assert {rule: sent for rule, (_, sent) in verdicts.items()} == {"score": False, "top1": True, "None": False}
    expected = {doodle_id: rule != "score" for rule, (doodle_id, _) in verdicts.items()}
    _, listed = get_json(srv, "/api/doodles?limit=20")
    assert {d["id"]: d["recognized"] for d in listed["doodles"] if d["id"] in expected} == expected
    assert [record(srv, i)["target"] for i in expected] == [LEADS, LEADS, None]
    with urllib.request.urlopen(srv.http + "/gallery?limit=20", timeout=10) as r:
        cards = re.findall(r'class="card( ok)?" href="/doodles/(\d+)"', r.read().decode())
    assert {int(i): ok == " ok" for ok, i in cards if int(i) in expected} == expected  # the gallery's ✓
    for doodle_id, rounds in zip(expected, ["not recognized", "recognized", None], strict=True):
        with urllib.request.urlopen(f"{srv.http}/doodles/{doodle_id}", timeout=10) as r:
            said = re.search(r"<dt>In the round</dt><dd>([^<]*)</dd>", r.read().decode())
        assert (said and said.group(1)) == rounds  # a sketchpad drawing played no round
    export(db, tmp_path / "x.ndjson", word=LEADS, since=None, labelled_only=True)
    rows = [json.loads(line) for line in (tmp_path / "x.ndjson").read_text().splitlines()]
    assert {int(r["key_id"]): r["recognized"] for r in rows if int(r["key_id"]) in expected} == expected


async def test_a_drawing_is_stored_once_whatever_follows_its_submit(srv: InProcessServer) -> None:
    """submit, submit again, clear: one record; a second submit with a word relabels it instead of copying it."""
    before = newest_id(srv)
    d = raw_sample()[30]
    async with DoodleClient(srv.url) as c:
        await draw(c, d["drawing"])
        first = await c.request({"type": "submit"})
        assert (await c.request({"type": "submit"}))["id"] == first["id"]
        assert (await c.request({"type": "submit", "word": "cat"}))["id"] == first["id"]
        assert (await c.request({"type": "clear"}))["type"] == "cleared"
    await wait_idle(srv.http)  # the session is gone and no drawing waits to be stored
    assert newest_id(srv) == first["id"] == before + 1
    assert record(srv, first["id"])["word"] == "cat"


async def test_submit_then_disconnect_stores_nothing_more(srv: InProcessServer) -> None:
    """A client that submits and then disconnects leaves exactly one record."""
    before = newest_id(srv)
    async with DoodleClient(srv.url) as c:
        await draw(c, raw_sample()[31]["drawing"])
        saved = await c.request({"type": "submit", "word": "bee"})
    await wait_idle(srv.http)  # the session is gone and no drawing waits to be stored
    assert newest_id(srv) == saved["id"] == before + 1


async def test_strokes_after_a_submit_update_its_record_on_disconnect_keeping_the_word(srv: InProcessServer) -> None:
    """submit, one more stroke, disconnect: the same drawing (same key), so its one record now holds every
    stroke, the player's word, reason disconnect; no second record (v1.1: one record per drawing key)."""
    d = raw_sample()[32]
    async with DoodleClient(srv.url) as c:
        await draw(c, d["drawing"][:-1])
        saved = await c.request({"type": "submit", "word": d["word"]})
        await draw(c, d["drawing"][-1:])
    await wait_idle(srv.http)
    assert newest_id(srv) == saved["id"]
    rec = record(srv, saved["id"])
    assert rec["reason"] == "disconnect" and rec["word"] == d["word"] and rec["drawing"] == d["drawing"]


async def test_undo_after_submit_updates_the_drawings_record(srv: InProcessServer) -> None:
    """Undoing a stroke after submit and submitting again stores the shorter drawing in the same record
    (the same drawing key: v1.1 keeps one record per drawing)."""
    d = raw_sample()[33]
    async with DoodleClient(srv.url) as c:
        await draw(c, d["drawing"])
        first = await c.request({"type": "submit"})
        await c.request({"type": "undo"})
        second = await c.request({"type": "submit"})
    assert second["id"] == first["id"]
    assert record(srv, second["id"])["drawing"] == d["drawing"][:-1]


async def test_clear_and_disconnect_keep_drawings_with_final_guesses_for_every_stroke(srv: InProcessServer) -> None:
    """clear stores the drawing; a disconnect mid-stroke stores it with that stroke finished and guessed."""
    before = newest_id(srv)
    a, b = raw_sample()[40], raw_sample()[41]
    async with DoodleClient(srv.url) as c:
        await draw(c, a["drawing"])
        await c.request({"type": "clear"})
        *done, (xs, ys, ts) = b["drawing"]
        await draw(c, done)
        await c.points(xs, ys, ts)  # no pen_up: the stroke is still being drawn
        await asyncio.sleep(0.1)
    cleared, left = await settle(srv, before, 2)
    assert cleared["reason"] == "clear" and cleared["drawing"] == a["drawing"] and cleared["word"] is None
    assert left["reason"] == "disconnect" and left["drawing"] == b["drawing"]
    assert left["guesses"][-1]["strokes"] == len(b["drawing"]) and len(left["final"]) == 5
    assert left["label"] == left["guess"] == left["final"][0]["word"] and not left["recognized"]


async def test_submit_finishes_a_stroke_in_progress(srv: InProcessServer) -> None:
    """submit during a stroke ends it first; the final top-5 is for every stroke."""
    d = raw_sample()[42]
    async with DoodleClient(srv.url) as c:
        await draw(c, d["drawing"][:-1])
        xs, ys, ts = d["drawing"][-1]
        await c.points(xs, ys, ts)
        saved = await c.request({"type": "submit"})
    rec = record(srv, saved["id"])
    assert rec["drawing"] == d["drawing"] and rec["guesses"][-1]["strokes"] == len(d["drawing"])


async def test_sprite_of_the_current_and_of_a_stored_drawing(srv: InProcessServer) -> None:
    """sprite: a transparent PNG of the canvas or of a stored id; size, colour, width apply; JSON gets base64."""
    d = raw_sample()[50]
    async with DoodleClient(srv.url) as c, DoodleClient(srv.url, text=True) as j:
        await draw(c, d["drawing"])
        cur = await c.request({"type": "sprite", "size": 200, "color": "#10A0FF", "width": 3, "seq": 2})
        assert cur["type"] == "sprite" and cur["seq"] == 2 and isinstance(cur["png"], bytes)
        img = cv2.imdecode(np.frombuffer(cur["png"], np.uint8), cv2.IMREAD_UNCHANGED)
        assert img.shape[2] == 4 and max(img.shape[:2]) == 200 and img[:, :, 3].any()
        assert tuple(img[0, 0, :3]) == (0xFF, 0xA0, 0x10) and img[:, :, 3].min() == 0
        saved = await c.request({"type": "submit"})
        stored = await j.request({"type": "sprite", "id": saved["id"], "size": 200, "color": "#10a0ff", "width": 3})
        assert stored["type"] == "sprite" and base64.b64decode(stored["png"]) == cur["png"]
        plain = await c.request({"type": "sprite", "id": saved["id"]})
        assert max(cv2.imdecode(np.frombuffer(plain["png"], np.uint8), cv2.IMREAD_UNCHANGED).shape[:2]) == 256


SPRITE_AND_SUBMIT_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("submit on an empty canvas", {"type": "submit"}, "nothing_to_save"),
    ("sprite of an empty canvas", {"type": "sprite"}, "nothing_to_save"),
    ("word not a string", {"type": "submit", "word": 5}, "invalid_field"),
    ("word too long", {"type": "submit", "word": "w" * (MAX_WORD_CHARS + 1)}, "invalid_field"),
    ("word blank", {"type": "submit", "word": "   "}, "invalid_field"),
    ("word with control characters", {"type": "submit", "word": "cat\x00"}, "bad_text"),
    ("unknown id", {"type": "sprite", "id": 10**12}, "not_found"),
    ("id not an integer", {"type": "sprite", "id": "1"}, "invalid_field"),
    ("id zero", {"type": "sprite", "id": 0}, "invalid_field"),
    ("size too large", {"type": "sprite", "id": 1, "size": MAX_SPRITE_PX + 1}, "bad_sprite"),
    ("size a float", {"type": "sprite", "id": 1, "size": 64.5}, "bad_sprite"),
    ("colour a name", {"type": "sprite", "id": 1, "color": "red"}, "bad_sprite"),
    ("width negative", {"type": "sprite", "id": 1, "width": -1}, "bad_sprite"),
    ("width huge", {"type": "sprite", "id": 1, "width": 1e9}, "bad_sprite"),
]


@pytest.mark.parametrize(
    ("name", "msg", "code"), SPRITE_AND_SUBMIT_ERRORS, ids=[c[0] for c in SPRITE_AND_SUBMIT_ERRORS]
)
async def test_bad_submit_and_sprite_messages_get_clear_errors(
    srv: InProcessServer, name: str, msg: dict[str, Any], code: str
) -> None:
    """Each bad submit/sprite gets an error with its code and a message; the session goes on."""
    async with DoodleClient(srv.url) as c:
        if msg.get("id") == 1:
            await draw(c, raw_sample()[1]["drawing"])
            assert (await c.request({"type": "submit"}))["type"] == "saved"
            await c.request({"type": "clear"})
        err = await c.request({**msg, "seq": 5})
        assert err["type"] == "error" and err["code"] == code and err["seq"] == 5, err
        assert err["message"]
        ok = await c.request({"type": "stroke", "x": [0, 10, 20], "y": [0, 10, 0]})
        assert ok["type"] == "guesses" and ok["strokes"] == 1


async def test_many_sessions_storing_at_once_lose_nothing(srv: InProcessServer) -> None:
    """40 sessions submit and 20 more disconnect with strokes, all at once: 60 records, each with its own strokes."""
    sample = raw_sample()[100:160]
    before = newest_id(srv)

    async def submitter(d: dict[str, Any]) -> tuple[int, list]:
        async with DoodleClient(srv.url) as c:
            await draw(c, d["drawing"])
            saved = await c.request({"type": "submit", "word": d["word"]})
            assert saved["type"] == "saved", saved
            return saved["id"], d["drawing"]

    async def leaver(d: dict[str, Any]) -> None:
        async with DoodleClient(srv.url) as c:
            await draw(c, d["drawing"])

    submitted, _ = await asyncio.gather(
        asyncio.gather(*(submitter(d) for d in sample[:40])), asyncio.gather(*(leaver(d) for d in sample[40:]))
    )
    assert len({doodle_id for doodle_id, _ in submitted}) == 40
    for doodle_id, drawing in submitted:
        assert record(srv, doodle_id)["drawing"] == drawing
    stored = await settle(srv, before, 60)
    assert len(stored) == 60
    left = sorted(json.dumps(r["drawing"]) for r in stored if r["reason"] == "disconnect")
    assert left == sorted(json.dumps(d["drawing"]) for d in sample[40:])


@pytest.mark.slow
async def test_a_drawing_acknowledged_as_saved_survives_sigkill(tmp_path: Path) -> None:
    """SIGKILL right after `saved`: a new server on the same file serves the drawing, exactly."""
    path = tmp_path / "crash.sqlite3"
    first = ServerProcess("--db", str(path))
    d = raw_sample()[77]
    try:
        async with DoodleClient(first.url) as c:
            await draw(c, d["drawing"])
            saved = await c.request({"type": "submit", "word": d["word"]})
            first.proc.send_signal(signal.SIGKILL)
        assert first.proc.wait(10) == -signal.SIGKILL
    finally:
        first.stop()
    second = ServerProcess("--db", str(path))
    try:
        rec = record(second, saved["id"])
        assert rec["drawing"] == d["drawing"] and rec["word"] == d["word"]
        async with DoodleClient(second.url) as c:  # and the history goes on after the crash
            await draw(c, d["drawing"][:1])
            assert (await c.request({"type": "submit"}))["id"] == saved["id"] + 1
    finally:
        assert second.stop() == 0
    third = ServerProcess("--db", str(path))  # a clean restart keeps both
    try:
        _, page = get_json(third, "/api/doodles")
        assert [x["id"] for x in page["doodles"]] == [saved["id"] + 1, saved["id"]]
    finally:
        third.stop()


async def test_memory_history_works_and_keeps_nothing(tmp_path: Path) -> None:
    """--db :memory: stores and serves drawings while running and writes no file."""
    s = ServerProcess("--db", ":memory:", env={"TMPDIR": str(tmp_path)})
    try:
        async with DoodleClient(s.url) as c:
            await draw(c, raw_sample()[3]["drawing"])
            saved = await c.request({"type": "submit"})
        assert record(s, saved["id"])["strokes"] == len(raw_sample()[3]["drawing"])
    finally:
        s.stop()
    assert not list(ROOT.glob(":memory:*"))


async def test_sigterm_keeps_a_drawing_left_on_the_canvas(tmp_path: Path) -> None:
    """A server stopped with SIGTERM while a client has strokes on its canvas stores them before exiting."""
    path = tmp_path / "term.sqlite3"
    first = ServerProcess("--db", str(path))
    d = raw_sample()[88]
    async with DoodleClient(first.url) as c:
        await draw(c, d["drawing"])
        t = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            await c.recv()  # the event loop stays free to answer the server's close frame
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        # Wait for the exit the first SIGTERM causes (a second one, sent by stop(), could land after the
        # server has put the default handler back, and kill it with -15).
        assert await asyncio.to_thread(first.proc.wait, 20) == 0
        assert first.stop() == 0
        assert time.monotonic() - t < 5  # no close timeout waited out
    second = ServerProcess("--db", str(path))
    try:
        rec = record(second, 1)
        assert rec["reason"] == "shutdown" and rec["drawing"] == d["drawing"]
    finally:
        second.stop()


def test_an_unusable_database_path_stops_the_server_with_a_message(tmp_path: Path) -> None:
    """--db pointing into a file (not a folder) exits 2 with a message naming the database."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RuntimeError, match="cannot open the history database"):
        ServerProcess("--db", str(blocker / "doodles.sqlite3"))


@pytest.mark.slow
async def test_sigkill_under_load_loses_no_acknowledged_drawing(tmp_path: Path) -> None:
    """20 sessions submit drawings as fast as they can; SIGKILL mid-stream; every drawing acknowledged
    with `saved` is found, exactly, after a restart."""
    path = tmp_path / "load.sqlite3"
    first = ServerProcess("--db", str(path))
    sample = [d for d in raw_sample()[:40] if len(d["drawing"]) <= 8]
    acked: dict[int, dict] = {}

    async def player(k: int) -> None:
        try:
            async with DoodleClient(first.url) as c:
                for i in range(1000):
                    d = sample[(k + i) % len(sample)]
                    await c.request({"type": "stroke", "x": d["drawing"][0][0], "y": d["drawing"][0][1]})
                    saved = await c.request({"type": "submit", "word": d["word"]})
                    acked[saved["id"]] = {"word": d["word"], "x": d["drawing"][0][0]}
                    await c.request({"type": "clear"})
        except (ConnectionClosed, OSError):
            pass  # the server was killed under this player

    players = [asyncio.create_task(player(k)) for k in range(20)]
    async with asyncio.timeout(120):
        while len(acked) < 150:
            await asyncio.sleep(0.01)
    first.proc.send_signal(signal.SIGKILL)
    await asyncio.gather(*players)
    assert first.proc.wait(10) == -signal.SIGKILL
    first.stop()
    second = ServerProcess("--db", str(path))
    try:
        found = 0
        for doodle_id, want in acked.items():
            rec = record(second, doodle_id)
            assert rec["word"] == want["word"] and rec["drawing"][0][0] == want["x"]
            found += 1
        print(f"SIGKILL under load: {len(acked)} drawings acknowledged, {found} found after restart")
        assert found == len(acked) >= 150
    finally:
        second.stop()
