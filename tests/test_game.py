"""Protocol v1.1, the game API, through live servers: features, word lists, top_k, targets and
``recognized``, resuming a dropped drawing, and words taught by drawing (issue 13)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from replay_client.client import DoodleClient
from server import quickdraw
from server.custom_words import CustomVocabulary
from server.errors import ErrorCode
from server.infer import Classifier, top_k
from server.ranking import ALMOST_RANK, DEFAULT_RULE, Game, Ranking, almost, recognizes
from server.render import as_points, render
from server.resume import ResumeCode
from server.teach_protocol import TeachCode
from tests.conftest import MODEL_DIR, RAW, SHIPPED_LABELS, SHIPPED_META, ServerProcess
from tests.support import InProcessServer, get_json, wait_idle

ADMIN = "s3cret-admin"
V1_KEYS = {
    "welcome": {"type", "protocol", "session", "model", "classes", "limits"},
    "hello": {"type", "protocol", "live_ms", "seq"},
    "guesses": {"type", "strokes", "guesses", "ms", "seq"},
    "cleared": {"type", "seq"},
}


def drawings(word: str, n: int, skip: int = 0) -> list[quickdraw.Drawing]:
    return list(quickdraw.read(RAW / f"{word}.ndjson", per_word=skip + n))[skip:]


def stroke_msg(s: quickdraw.Stroke) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "stroke", "x": list(s.x), "y": list(s.y)}
    if s.t is not None:
        msg["t"] = list(s.t)
    return msg


def example(d: quickdraw.Drawing) -> list[dict[str, Any]]:
    return [{"x": list(s.x), "y": list(s.y)} for s in d.strokes]


@pytest.fixture(scope="module")
def srv() -> Iterator[InProcessServer]:
    """A server with an admin token and a short resume window (2 s)."""
    s = InProcessServer("--admin-token", ADMIN, "--resume-ttl-s", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def model() -> Classifier:
    return Classifier(MODEL_DIR)


async def test_welcome_names_features_and_minor_version(srv: InProcessServer) -> None:
    """welcome carries protocol 1, protocol_minor 2 (rooms), the installed features and the v1.1 limits."""
    async with DoodleClient(srv.url) as c:
        w = c.welcome
    assert w["protocol"] == 1 and w["protocol_minor"] == 2
    assert set(w["features"]) == {
        *("words", "target", "recognize", "teach", "resume", "submit", "sprite", "delete", "mine", "moderate", "rooms"),
    }
    for name in ("max_custom_words", "max_custom_examples_per_word", "max_server_custom_words", "resume_ttl_s"):
        assert name in w["limits"]
    assert w["limits"]["max_top_k"] == 20 and w["limits"]["max_word_list"] == len(SHIPPED_LABELS)


async def test_a_v1_client_gets_v1_replies(srv: InProcessServer, model: Classifier) -> None:
    """A v1 message sequence gets the v1 message types with v1 fields and values; only `drawing` is added."""
    d = drawings("cat", 1)[0]
    async with DoodleClient(srv.url) as c:
        assert V1_KEYS["welcome"] <= set(c.welcome)
        seen: list[dict[str, Any]] = [await c.call({"type": "hello", "client": "v1"})]
        for k, s in enumerate(d.strokes[:3], 1):
            reply = await c.call(stroke_msg(s))
            strokes = [as_points(t.x, t.y) for t in d.strokes[:k]]
            expected = top_k(model.labels, model.predict(render(strokes)[None])[0])
            assert [g["word"] for g in reply["guesses"]] == [w for w, _ in expected]
            assert [g["score"] for g in reply["guesses"]] == pytest.approx([s for _, s in expected], abs=1e-4)
            seen.append(reply)
        seen.append(await c.call({"type": "undo"}))
        seen.append(await c.call({"type": "clear"}))
        await c.send({"type": "pen_up", "seq": 99})
        seen.append(await c.reply())
    assert [m["type"] for m in seen] == ["hello", "guesses", "guesses", "guesses", "guesses", "cleared", "guesses"]
    for m in seen:
        assert set(m) - V1_KEYS[m["type"]] <= {"drawing"}, m
    assert seen[0] == {"type": "hello", "protocol": 1, "live_ms": 0, "seq": 1}
    assert c.live == [] and c.errors == []


async def test_word_list_ranks_only_its_words_renormalised(srv: InProcessServer) -> None:
    """hello.words: guesses name only those words, scores sum to 1 over them; top_k sizes the list."""
    d = drawings("cat", 1)[0]
    words = ["cat", "dog", "car", "apple"]
    async with DoodleClient(srv.url) as c:
        hello = await c.call({"type": "hello", "words": words, "top_k": 20})
        assert hello["words"] == words and hello["top_k"] == 20
        reply = await c.call(stroke_msg(d.strokes[0]))
        assert {g["word"] for g in reply["guesses"]} == set(words)
        assert sum(g["score"] for g in reply["guesses"]) == pytest.approx(1.0, abs=1e-3)
        await c.call({"type": "hello", "words": None, "top_k": 2})
        reply = await c.call(stroke_msg(d.strokes[1]))
        assert len(reply["guesses"]) == 2


async def test_unknown_words_are_named(srv: InProcessServer) -> None:
    """hello.words or target naming unknown words answers unknown_word naming them, and changes nothing."""
    async with DoodleClient(srv.url) as c:
        err = await c.call({"type": "hello", "words": ["cat", "zorblat", "qux"]})
        assert err["type"] == "error" and err["code"] == ErrorCode.UNKNOWN_WORD
        assert "'qux'" in err["message"] and "'zorblat'" in err["message"]
        err = await c.call({"type": "hello", "target": "zorblat"})
        assert err["code"] == ErrorCode.UNKNOWN_WORD
        bad = await c.call({"type": "hello", "top_k": 21})
        assert bad["code"] == ErrorCode.INVALID_FIELD
        ok = await c.call({"type": "hello", "top_k": 1})
        assert ok["words"] is None and ok["target"] is None


@pytest.mark.parametrize("rule", ["score", "top1", None])
async def test_target_is_reported_and_recognized_fires_once_for_real_drawings(
    srv: InProcessServer, rule: str | None
) -> None:
    """Every guesses carries the target's score, rank and `almost` (top 3, not yet recognized); real raw
    drawings of the target are recognized once per drawing, right after the first guesses where the rule
    holds ("score": the score reaches the threshold, as before; "top1", the default: the target leads),
    naming the rule, with `ms` in the drawing's own time (from its first point)."""
    recognized = 0
    expected_rule = rule or DEFAULT_RULE
    async with DoodleClient(srv.url) as c:
        hello = await c.call({"type": "hello", "target": "apple", "top_k": 1, "recognize": rule})
        threshold = hello["target_threshold"]
        assert threshold == pytest.approx(SHIPPED_META["calibration"]["threshold_95"])  # the model's own
        assert hello["recognize"] == expected_rule
        for d in drawings("apple", 10):
            first_t = d.strokes[0].t[0] if d.strokes[0].t else 0
            expected: list[dict[str, Any]] = []
            c.recognized.clear()
            for k, s in enumerate(d.strokes, 1):
                reply = await c.call(stroke_msg(s))
                t = reply["target"]
                assert t["word"] == "apple" and t["rank"] >= 1 and 0 <= t["score"] <= 1
                assert (t["rank"] == 1) == (reply["guesses"][0]["word"] == "apple")
                holds = t["score"] >= threshold if expected_rule == "score" else t["rank"] == 1
                if holds and not expected:
                    last_t = max(max(x.t or (0,)) for x in d.strokes[:k])
                    expected.append(
                        {
                            "type": "recognized",
                            "word": "apple",
                            "score": t["score"],
                            "strokes": k,
                            "ms": last_t - first_t,
                            "rule": expected_rule,
                        }
                    )
                assert t["almost"] is (t["rank"] <= ALMOST_RANK and not expected)
            cleared = await c.call({"type": "clear"})  # every recognized of this drawing arrived before this
            assert cleared["type"] == "cleared"
            assert c.recognized == expected
            recognized += len(expected)
    assert recognized >= 3


async def test_recognize_rule_is_a_session_setting_and_bad_values_change_nothing(srv: InProcessServer) -> None:
    """hello.recognize is echoed with the other v1.1 settings, kept until changed (a hello without it keeps
    it, null restores the default: "score" while the session has its own threshold, else "top1"); a bad
    value is invalid_field and leaves every setting as it was."""
    async with DoodleClient(srv.url) as c:
        h = await c.call({"type": "hello", "target": "apple", "recognize": "score", "target_threshold": 0.5})
        assert (h["recognize"], h["target_threshold"], h["target"]) == ("score", 0.5, "apple")
        assert (await c.call({"type": "hello", "top_k": 3}))["recognize"] == "score"
        bad = await c.call({"type": "hello", "target": "cat", "recognize": "maybe"})
        assert bad["type"] == "error" and bad["code"] == ErrorCode.INVALID_FIELD and "'recognize'" in bad["message"]
        h = await c.call({"type": "hello", "top_k": 3})
        assert (h["recognize"], h["target"]) == ("score", "apple")
        assert (await c.call({"type": "hello", "recognize": None}))["recognize"] == "score"  # its own threshold
        h = await c.call({"type": "hello", "target_threshold": None})
        assert (h["recognize"], h["target_threshold"]) == (DEFAULT_RULE, SHIPPED_META["calibration"]["threshold_95"])
        assert DEFAULT_RULE == "top1"


async def test_a_client_that_sets_its_own_threshold_keeps_the_score_rule(srv: InProcessServer) -> None:
    """A hello with target_threshold and no recognize (a v1.1 client from before it) gets "score": its
    threshold still decides; one with neither gets the default."""
    async with DoodleClient(srv.url) as c:
        h = await c.call({"type": "hello", "target": "apple", "target_threshold": 0.6})
        assert (h["recognize"], h["target_threshold"]) == ("score", 0.6)
    async with DoodleClient(srv.url) as c:
        assert (await c.call({"type": "hello", "target": "apple"}))["recognize"] == DEFAULT_RULE


async def test_top1_ignores_the_threshold_and_score_keeps_it(srv: InProcessServer) -> None:
    """A drawing whose target leads at a score under target_threshold is recognized by "top1" (the
    threshold applies to "score" only) and not by "score"."""
    fired: dict[str, list[list[str]]] = {"top1": [], "score": []}
    for d in drawings("apple", 3):
        for rule, seen in fired.items():
            async with DoodleClient(srv.url) as c:
                await c.call({"type": "hello", "target": "apple", "recognize": rule, "target_threshold": 1.0})
                ranks = [(await c.call(stroke_msg(s)))["target"]["rank"] for s in d.strokes]
                await c.call({"type": "clear"})
                seen.append([m["rule"] for m in c.recognized])
                if rule == "top1":
                    assert seen[-1] == (["top1"] if 1 in ranks else [])
    assert ["top1"] in fired["top1"]  # some drawing did lead, under a score of 1.0
    assert fired["score"] == [[]] * len(fired["score"])


async def test_top1_is_decided_at_pen_ups_and_score_at_live_guesses_too(srv: InProcessServer) -> None:
    """A live guess in which the target leads carries `almost` but no `recognized` under "top1"; the pen-up
    that ends the stroke brings it. Under "score" a live guess past the threshold brings `recognized`."""
    async with DoodleClient(srv.url) as c:  # a drawing of apple and the first pen-up at which apple leads
        await c.call({"type": "hello", "target": "apple", "recognize": "score", "target_threshold": 1.0})
        for d in drawings("apple", 5):
            ranks = [(await c.call(stroke_msg(s)))["target"]["rank"] for s in d.strokes]
            await c.call({"type": "clear"})
            if 1 in ranks:
                break
    k = ranks.index(1) + 1
    async with DoodleClient(srv.url) as c:
        await c.call({"type": "hello", "target": "apple", "live_ms": 50})
        for s in d.strokes[: k - 1]:
            await c.call(stroke_msg(s))
        last = stroke_msg(d.strokes[k - 1])
        await c.send({"type": "points", "x": last["x"], "y": last["y"], "t": last["t"]})
        live = await c.recv()  # the whole stroke drawn, the pen still down: the same picture as pen-up k
        assert live["type"] == "guesses" and live["live"] and live["target"]["rank"] == 1
        assert live["target"]["almost"] is True
        reply = await c.call({"type": "pen_up"})
        assert reply["target"]["rank"] == 1 and reply["target"]["almost"] is False
        await c.call({"type": "clear"})
        assert [(m["strokes"], m["rule"]) for m in c.recognized] == [(k, "top1")]  # at the pen-up, not before
    async with DoodleClient(srv.url) as c:
        await c.call(
            {"type": "hello", "target": "apple", "live_ms": 50, "recognize": "score", "target_threshold": 1e-9}
        )
        first = stroke_msg(d.strokes[0])
        await c.send({"type": "points", "x": first["x"], "y": first["y"], "t": first["t"]})
        assert (await c.recv())["live"] is True
        assert (await c.recv())["type"] == "recognized"  # right after the live guess, before any pen-up


def records(srv: InProcessServer) -> list[dict[str, Any]]:
    return list(get_json(srv.http + "/api/doodles?limit=200")["doodles"])


async def test_a_dropped_drawing_resumed_and_submitted_is_stored_once(srv: InProcessServer) -> None:
    """Drop mid-drawing, reconnect with the key, replay, submit: exactly one stored record, with every stroke."""
    d = drawings("bicycle", 1)[0]
    before = {r["id"] for r in records(srv)}
    c = DoodleClient(srv.url)
    await c.connect()
    await c.call({"type": "hello", "client": "resumer"})
    for s in d.strokes[:2]:
        await c.call(stroke_msg(s))
    key = c.drawing
    assert isinstance(key, str) and len(key) >= 22
    assert c.ws is not None
    c.ws.transport.abort()  # the connection drops
    await wait_idle(srv.http)
    async with DoodleClient(srv.url) as again:
        hello = await again.hello(resume=key, client="resumer")
        assert hello["resumed"] is True and hello["drawing"] == key
        for s in d.strokes:
            reply = await again.call(stroke_msg(s))
            assert reply["drawing"] == key
        saved = await again.call({"type": "submit", "word": "bicycle"})
        assert saved["type"] == "saved"
    await wait_idle(srv.http)
    fresh = [r for r in records(srv) if r["id"] not in before and r["client"] == "resumer"]
    assert [r["id"] for r in fresh] == [saved["id"]]
    assert fresh[0]["strokes"] == len(d.strokes) and fresh[0]["word"] == "bicycle"


async def test_a_resume_takes_the_drawing_over_from_a_connection_not_yet_seen_dropping(srv: InProcessServer) -> None:
    """The old connection is still open (a Wi-Fi handover): the resume closes it with 4001, the drawing goes on in
    the new session, and one record is stored with every stroke."""
    d = drawings("bicycle", 1, skip=3)[0]
    before = {r["id"] for r in records(srv)}
    old = DoodleClient(srv.url)
    await old.connect()
    await old.call({"type": "hello", "client": "handover"})
    for s in d.strokes[:2]:
        await old.call(stroke_msg(s))
    key = old.drawing
    async with DoodleClient(srv.url) as again:  # the old socket is neither closed nor aborted
        hello = await again.hello(resume=key, client="handover")
        assert hello["resumed"] is True and hello["drawing"] == key
        assert old.ws is not None
        await asyncio.wait_for(old.ws.wait_closed(), 5)
        assert old.ws.close_code == 4001 and "resumed by another connection" in (old.ws.close_reason or "")
        for s in d.strokes:
            assert (await again.call(stroke_msg(s)))["drawing"] == key
        saved = await again.call({"type": "submit", "word": "bicycle"})
    await old.close()
    await wait_idle(srv.http)
    fresh = [r for r in records(srv) if r["id"] not in before and r["client"] == "handover"]
    assert [r["id"] for r in fresh] == [saved["id"]] and fresh[0]["strokes"] == len(d.strokes)


async def test_unknown_or_expired_keys_answer_unknown_drawing(srv: InProcessServer) -> None:
    """A made-up key, a key used up, or one past resume_ttl_s answers unknown_drawing; a new drawing starts."""
    async with DoodleClient(srv.url) as c:
        err = await c.call({"type": "hello", "resume": "A" * 22})
        assert err["code"] == ResumeCode.UNKNOWN_DRAWING
        reply = await c.call(stroke_msg(drawings("cat", 1)[0].strokes[0]))
        key = reply["drawing"]
        assert key != "A" * 22
    await wait_idle(srv.http)
    async with DoodleClient(srv.url) as c:
        assert (await c.hello(resume=key))["resumed"] is True
    await wait_idle(srv.http)
    await asyncio.sleep(2.2)  # resume_ttl_s is 2 s for this server
    async with DoodleClient(srv.url) as c:
        err = await c.call({"type": "hello", "resume": key})
        assert err["code"] == ResumeCode.UNKNOWN_DRAWING
        assert (await c.call({"type": "clear"}))["drawing"] != key


async def test_session_word_taught_from_real_drawings_competes(srv: InProcessServer) -> None:
    """A made-up word taught from 5 raw drawings of a real word ranks in the top 3 for most other drawings of it;
    other sessions never see it; forget removes it."""
    teach_from, others = drawings("snail", 5), drawings("snail", 10, skip=5)
    async with DoodleClient(srv.url) as c:
        taught = await c.teach("zorblat", [[(s.x, s.y) for s in d.strokes] for d in teach_from])
        assert taught == {"type": "taught", "word": "zorblat", "examples": 5, "scope": "session", "seq": 1}
        await c.hello(top_k=3)
        hits = 0
        for d in others:
            await c.call({"type": "clear"})
            for s in d.strokes:
                reply = await c.call(stroke_msg(s))
            hits += "zorblat" in [g["word"] for g in reply["guesses"]]
        assert hits >= 7, hits
        only = await c.hello(words=["zorblat", "cat"])
        assert only["words"] == ["zorblat", "cat"]
        async with DoodleClient(srv.url) as other:
            assert (await other.hello(words=["zorblat"]))["code"] == ErrorCode.UNKNOWN_WORD
        assert (await c.forget("zorblat"))["type"] == "forgotten"
        assert (await c.forget("zorblat"))["code"] == ErrorCode.UNKNOWN_WORD
        assert (await c.teach("cat", [[(s.x, s.y) for s in teach_from[0].strokes]]))["code"] == TeachCode.WORD_TAKEN


async def test_server_words_need_the_admin_token_and_show_in_classes(srv: InProcessServer) -> None:
    """Server scope: forbidden without the right admin token; with it every session sees the word and
    /classes lists it as custom; forget removes it everywhere."""
    example = [[(s.x, s.y) for s in drawings("snail", 1)[0].strokes]]
    async with DoodleClient(srv.url) as c:
        assert (await c.teach("snailish", example, scope="server"))["code"] == ErrorCode.FORBIDDEN
        assert (await c.teach("snailish", example, scope="server", admin_token="wrong"))["code"] == ErrorCode.FORBIDDEN
        taught = await c.teach("snailish", example * 2, scope="server", admin_token=ADMIN)
        assert taught["examples"] == 2 and taught["scope"] == "server"
        assert (await c.teach("snailish", example, scope="server", admin_token=ADMIN))["examples"] == 3
        async with DoodleClient(srv.url) as other:
            assert (await other.hello(words=["snailish", "snail"]))["words"] == ["snailish", "snail"]
            assert (await other.teach("snailish", example))["code"] == TeachCode.WORD_TAKEN
        classes = get_json(srv.http + "/classes")
        assert classes["classes"] == SHIPPED_LABELS
        assert classes["words"][-1] == {"word": "snailish", "custom": True, "examples": 3}
        assert not any(w["custom"] for w in classes["words"][: len(SHIPPED_LABELS)])
        assert (await c.forget("snailish", scope="server"))["code"] == ErrorCode.FORBIDDEN
        assert (await c.forget("snailish", scope="server", admin_token=ADMIN))["type"] == "forgotten"
        assert all(not w["custom"] for w in get_json(srv.http + "/classes")["words"])


async def test_without_an_admin_token_server_scope_is_forbidden(server: ServerProcess) -> None:
    """A server with no --admin-token refuses server-scope teach whatever token is sent."""
    example = [[(s.x, s.y) for s in drawings("snail", 1)[0].strokes]]
    async with DoodleClient(server.url) as c:
        assert (await c.teach("w", example, scope="server", admin_token=""))["code"] == ErrorCode.FORBIDDEN


async def stored_server_word(tmp_path: Any, word: str) -> str:
    """A history database (its path) in which a server taught ``word`` at server scope from one drawing."""
    db = str(tmp_path / "h.sqlite3")
    example = [[(s.x, s.y) for s in drawings("snail", 1)[0].strokes]]
    with InProcessServer("--db", db, "--admin-token", ADMIN) as s1:
        async with DoodleClient(s1.url) as c:
            assert (await c.teach(word, example, scope="server", admin_token=ADMIN))["type"] == "taught"
    return db


async def test_server_words_survive_a_restart(tmp_path: Any) -> None:
    """Server-scope words are stored in the history database and loaded again at start."""
    db = await stored_server_word(tmp_path, "keepme")
    with InProcessServer("--db", db) as s2:
        assert {"word": "keepme", "custom": True, "examples": 1} in get_json(s2.http + "/classes")["words"]


async def test_server_words_of_another_feature_space_are_not_loaded(tmp_path: Any) -> None:
    """Stored words filed under another feature transform (or the bare model name) stay stored, not loaded."""
    from server.custom_words import params_of
    from server.history.databases import open_database

    db = await stored_server_word(tmp_path, "keepme")
    meta = SHIPPED_META
    params = params_of(meta, MODEL_DIR)
    assert params is not None
    store = open_database(db)
    try:
        [(word, vectors)] = store.custom_words(f"{meta['name']}@{params.space}")
        assert word == "keepme"
        store.add_custom_word(f"{meta['name']}@000000000000", "stale", vectors)
        store.add_custom_word(meta["name"], "older", vectors)
    finally:
        store.close()
    with InProcessServer("--db", db) as s2:
        listed = {w["word"] for w in get_json(s2.http + "/classes")["words"] if w.get("custom")}
    assert listed == {"keepme"}
    store = open_database(db)
    try:
        assert [w for w, _ in store.custom_words(meta["name"])] == ["older"]  # kept, not lost
    finally:
        store.close()


def test_sessions_share_the_rankers_labels_instead_of_copying_them() -> None:
    """Each session's vocabulary refers to the ranker's one set of labels (a copy per session cost 32 KB)."""
    from server.ranking import Ranker

    ranker = Ranker([f"w{i}" for i in range(345)], None)
    a, b = ranker.new_game(), ranker.new_game()
    assert a.vocabulary.reserved is b.vocabulary.reserved is ranker.server.reserved


@pytest.mark.parametrize("seed", range(20))
def test_target_rank_without_a_sort_equals_the_stable_order(seed: int) -> None:
    """The target's rank counted from the scores (v1 path, no sort) is its place in the stable best-first order."""
    import numpy as np

    from server.ranking import Ranking

    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, 40).astype(np.float32) / 10  # many ties
    names = [f"w{i}" for i in range(40)]
    order = np.argsort(-scores, kind="stable")
    ranking = Ranking(names, scores, None, v1_top=[])
    for i in range(40):
        assert ranking.target(names[i]) == (float(scores[i]), int(np.flatnonzero(order == i)[0]) + 1)


async def test_a_drawing_left_at_a_restart_is_resumed_from_the_history_once(tmp_path: Any) -> None:
    """A key the last server kept at shutdown resumes on the next one (history file), only once at a time."""
    db = str(tmp_path / "h.sqlite3")
    d = drawings("bicycle", 1)[0]
    first = InProcessServer("--db", db)
    try:
        async with DoodleClient(first.url) as c:
            await c.call({"type": "hello", "client": "restarter"})
            for s in d.strokes[:2]:
                await c.call(stroke_msg(s))
            key = c.drawing
    finally:
        first.stop()  # kept at the disconnect (or the shutdown)
    second = InProcessServer("--db", db)
    try:
        async with DoodleClient(second.url) as a, DoodleClient(second.url) as b:
            hello = await a.hello(resume=key)
            assert hello["resumed"] is True and hello["drawing"] == key
            err = await b.call({"type": "hello", "resume": key})  # a second taker while the first draws
            assert err["code"] == ResumeCode.UNKNOWN_DRAWING
            for s in d.strokes:
                await a.call(stroke_msg(s))
            assert (await a.call({"type": "submit", "word": "bicycle"}))["type"] == "saved"
        await wait_idle(second.http)
        mine = [r for r in records(second) if r["client"] == "restarter"]
        assert len(mine) == 1 and mine[0]["strokes"] == len(d.strokes) and mine[0]["word"] == "bicycle"
    finally:
        second.stop()


async def test_concurrent_resumes_of_one_key_resume_it_exactly_once(tmp_path: Any) -> None:
    """Two hello.resume with one key sent together, after a restart (the key only in the history) and for a
    key this server remembers: exactly one resumes, the other answers unknown_drawing."""
    db = str(tmp_path / "h.sqlite3")
    d = drawings("bicycle", 1)[0]
    with ServerProcess("--db", db) as first:
        async with DoodleClient(first.url) as c:
            await c.call({"type": "hello", "client": "racer"})
            await c.call(stroke_msg(d.strokes[0]))
            old_key = c.drawing
    with ServerProcess("--db", db) as second:
        async with DoodleClient(second.url) as c:
            await c.call({"type": "hello", "client": "racer"})
            await c.call(stroke_msg(d.strokes[0]))
            new_key = c.drawing
        await wait_idle(second.http)
        for key in (old_key, new_key):
            async with DoodleClient(second.url) as a, DoodleClient(second.url) as b:
                replies = await asyncio.gather(a.hello(resume=key), b.hello(resume=key))
                assert sorted(r.get("resumed", False) for r in replies) == [False, True], replies
                assert [r["code"] for r in replies if "code" in r] == [ResumeCode.UNKNOWN_DRAWING]


async def test_a_deleted_drawings_key_no_longer_resumes(srv: ServerProcess) -> None:
    """A drawing kept at a disconnect and then deleted by its key cannot be resumed (it would be re-created)."""
    d = drawings("bicycle", 1, skip=5)[0]
    async with DoodleClient(srv.url) as c:
        await c.call({"type": "hello", "client": "deleter"})
        await c.call(stroke_msg(d.strokes[0]))
        key = c.drawing
    await wait_idle(srv.http)
    async with DoodleClient(srv.url) as c:
        assert (await c.call({"type": "delete", "key": key}))["type"] == "deleted"
        assert (await c.hello(resume=key))["code"] == ResumeCode.UNKNOWN_DRAWING


class HeldModel:
    """The shipped model, recording each call's images (as bytes); ``hold()`` makes the next call wait for ``go``."""

    def __init__(self, inner: Classifier) -> None:
        import threading

        self.inner = inner
        self.calls: list[list[bytes]] = []
        self.go = threading.Event()
        self.go.set()
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def hold(self) -> None:
        self.entered.clear()
        self.go.clear()

    def predict_with_embedding(self, images: Any) -> Any:
        self.entered.set()
        self.go.wait(30)
        self.calls.append([img.tobytes() for img in images])
        return self.inner.predict_with_embedding(images)


async def test_a_neighbours_pen_up_is_answered_within_a_model_call_of_a_teach_flood(model: Classifier) -> None:
    """One session's teach of 20 drawings (100 images) is queued while a model call is in progress; a neighbour's
    pen-up then goes in the next model call (max_batch 4: before the fair queue it waited 25 calls)."""
    from server.app import ServerConfig
    from server.assembly import create_server

    held = HeldModel(model)
    srv = create_server(ServerConfig(port=0, max_batch=4), model=held)
    await srv.start()
    url = f"ws://127.0.0.1:{srv.port}/ws"
    examples = [[(s.x, s.y) for s in d.strokes] for d in drawings("snail", 20)]
    neighbour = drawings("cat", 1)[0]
    try:
        async with DoodleClient(url) as teacher, DoodleClient(url) as other:
            held.hold()
            teach = asyncio.create_task(teacher.teach("zorblat", examples))
            await asyncio.to_thread(held.entered.wait, 30)
            await wait_for_queue(srv, lambda q: q["depth"] >= 90)
            pen_up = asyncio.create_task(other.call(stroke_msg(neighbour.strokes[0])))
            await wait_for_queue(srv, lambda q: q["owners"] == 2)
            held.go.set()
            reply = await pen_up
            assert reply["type"] == "guesses"
            assert (await teach)["type"] == "taught"
        mine = render([as_points(neighbour.strokes[0].x, neighbour.strokes[0].y)]).tobytes()
        ahead = next(i for i, call in enumerate(held.calls) if mine in call)
        assert ahead <= 1, ahead  # the call in progress, then its own
    finally:
        held.go.set()
        await srv.close()


async def wait_for_queue(srv: Any, condition: Any) -> None:
    """Wait until ``condition(model queue report)`` holds."""
    from tests.support import wait_for

    await wait_for(lambda: condition(srv.batcher.queue_report()), 30, "the model queue")


async def test_teach_examples_are_bounded_in_points_and_per_address_per_minute(model: Classifier) -> None:
    """An example drawing over max_teach_points_per_drawing is refused (drawing_too_large) though within the live
    drawing limits; an address teaching more than max_teach_examples_per_minute examples gets rate_limited, in
    any of its sessions, with nothing taught."""
    s = ServerProcess("--max-teach-examples-per-minute", "6", "--max-teach-points-per-drawing", "300")
    example = [[(s_.x, s_.y) for s_ in d.strokes] for d in drawings("snail", 4)]
    try:
        async with DoodleClient(s.url) as c, DoodleClient(s.url) as c2:
            assert c.welcome["limits"]["max_teach_examples_per_minute"] == 6
            assert c.welcome["limits"]["max_teach_points_per_drawing"] == 300
            long = [(list(range(301)), [i % 7 for i in range(301)])]
            assert (await c.teach("zig", [long]))["code"] == ErrorCode.DRAWING_TOO_LARGE
            assert (await c.teach("zorblat", example))["examples"] == 4
            refused = await c2.teach("zorblat", example[:3])
            assert refused["code"] == ErrorCode.RATE_LIMITED and "per minute" in refused["message"]
            assert (await c2.hello(words=["zorblat"]))["code"] == ErrorCode.UNKNOWN_WORD  # nothing taught
            assert (await c2.teach("zorblat", example[:2]))["examples"] == 2
    finally:
        s.stop()


def test_almost_is_the_top_almost_rank_until_recognized() -> None:
    """almost: rank 1..ALMOST_RANK (3) and not yet recognized; never once recognized."""
    assert [almost(r, False) for r in range(1, 6)] == [True, True, True, False, False]
    assert not any(almost(r, True) for r in range(1, 6))
    assert ALMOST_RANK == 3


def test_recognizes_by_rule_and_the_rule_in_force() -> None:
    """recognizes: top1 = rank 1 whatever the score, score = the threshold whatever the rank; a word that
    is not a candidate never; an unknown rule raises. rule_in_force: recognize, else score with an own
    threshold, else top1."""
    names = ["cat", "dog", "cow"]
    scores = np.array([0.3, 0.45, 0.25])
    ranking = Ranking(names, scores, np.argsort(-scores, kind="stable"))
    assert [recognizes("top1", ranking, w, 0.4) for w in names] == [False, True, False]
    assert [recognizes("score", ranking, w, 0.28) for w in names] == [True, True, False]
    assert not recognizes("top1", ranking, "owl", 0.1) and not recognizes("score", ranking, "owl", 0.1)
    with pytest.raises(ValueError):
        recognizes("maybe", ranking, "cat", 0.5)
    game = Game(CustomVocabulary(reserved=frozenset()))
    assert game.rule_in_force == DEFAULT_RULE == "top1"
    game.threshold = 0.5
    assert game.rule_in_force == "score"
    game.rule = "top1"
    assert game.rule_in_force == "top1"
