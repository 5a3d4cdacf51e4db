"""The live server (server/app.py): real process, real model, real sockets."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import math

import cv2
import msgpack
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from replay_client.client import DoodleClient
from tests.conftest import SHIPPED_LABELS, SHIPPED_META, ServerProcess, http_get, raw_sample
from tests.support import InProcessServer, serving, wait_for

get = http_get


def square(n: int = 20, size: float = 100.0) -> tuple[list[float], list[float]]:
    xs = [size * i / n for i in range(n)] + [size] * n
    ys = [0.0] * n + [size * i / n for i in range(n)]
    return xs, ys


async def test_welcome_names_protocol_model_and_limits(server: ServerProcess) -> None:
    """welcome carries protocol 1, a session id, the model and its limits."""
    async with DoodleClient(server.url) as c:
        w = c.welcome
    assert w["type"] == "welcome" and w["protocol"] == 1
    assert isinstance(w["session"], str) and len(w["session"]) >= 12
    assert w["classes"] == len(SHIPPED_LABELS) and w["model"]
    assert w["limits"]["max_points_per_message"] > 0


async def test_healthz_reports_model_classes_and_sessions(server: ServerProcess) -> None:
    """GET /healthz answers 200 JSON with model name, classes, pending drawings, and counts a session open."""
    status, body, ctype = get(server.http + "/healthz")
    assert status == 200 and ctype.startswith("application/json")
    info = json.loads(body)
    assert info["status"] == "ok" and info["classes"] == len(SHIPPED_LABELS) and info["model"] == SHIPPED_META["name"]
    assert isinstance(info["pending_drawings"], int) and info["pending_drawings"] >= 0
    before = info["sessions"]
    async with DoodleClient(server.url):
        assert json.loads(get(server.http + "/healthz")[1])["sessions"] == before + 1
    await wait_for(lambda: json.loads(get(server.http + "/healthz")[1])["sessions"] == before, what="session closed")


def test_http_methods_head_and_error_formats(server: ServerProcess) -> None:
    """HEAD answers GET's headers without a body; POST is 405 naming GET, HEAD; errors are HTML pages on
    browser routes and JSON under /api/; reason phrases are HTTP's own."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        got = conn.getresponse()
        length = got.getheader("Content-Length")
        got.read()
        conn.close()
        conn.request("HEAD", "/healthz")
        head = conn.getresponse()
        assert head.status == 200 and head.reason == "OK" and head.getheader("Content-Length") == length
        assert head.read() == b""
        conn.close()
        conn.putrequest("POST", "/healthz")  # no body: websockets reads no request bodies
        conn.endheaders()
        post = conn.getresponse()
        assert post.status == 405 and post.reason == "Method Not Allowed" and post.getheader("Allow") == "GET, HEAD"
        post.read()
    finally:
        conn.close()
    status, body, ctype = get(server.http + "/no/such/page")
    assert status == 404 and ctype.startswith("text/html") and b"<h1>404 Not Found</h1>" in body
    status, body, ctype = get(server.http + "/api/doodles/999999999")
    assert status == 404 and ctype == "application/json" and json.loads(body)["status"] == 404


def test_unknown_http_path_is_404_and_traversal_is_refused(server: ServerProcess) -> None:
    """Unknown paths and ../ traversal get 404, never a file outside web_client/."""
    for path in ("/nope", "/../server/app.py", "/%2e%2e/server/app.py", "/..%2fREADME.md", "/.git/config"):
        status, body, _ = get(server.http + path)
        assert status == 404, path
        assert b"import" not in body


async def replay(url: str, drawing: dict, *, seq0: int = 0) -> list[dict]:
    """Stream one raw drawing point by point (one point per message); the pen-up replies."""
    replies = []
    async with DoodleClient(url) as c:
        for k, (xs, ys, ts) in enumerate(drawing["drawing"]):
            for x, y, t in zip(xs, ys, ts, strict=True):
                await c.points([x], [y], [int(t)])
            replies.append(await c.pen_up(seq=seq0 + k))
    return replies


@pytest.mark.slow
async def test_replayed_raw_drawings_get_five_guesses_per_pen_up_and_top5_over_60pct(server: ServerProcess) -> None:
    """Real raw drawings (the first of each word) streamed point by point: 5 guesses per pen-up, top-5 >= 60%."""
    sample = raw_sample(per_word=1)
    assert len(sample) >= 300
    sem = asyncio.Semaphore(8)
    hits = 0

    async def one(i: int, d: dict) -> None:
        nonlocal hits
        async with sem:
            replies = await replay(server.url, d, seq0=i * 1000)
        assert len(replies) == len(d["drawing"])
        for k, r in enumerate(replies):
            assert r["type"] == "guesses", r
            assert r["seq"] == i * 1000 + k and r["strokes"] == k + 1
            assert len(r["guesses"]) == 5
            scores = [g["score"] for g in r["guesses"]]
            assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
            assert r["ms"] >= 0
        hits += d["word"] in [g["word"] for g in replies[-1]["guesses"]]

    await asyncio.gather(*(one(i, d) for i, d in enumerate(sample)))
    top5 = hits / len(sample)
    print(f"top-5 over {len(sample)} replayed raw drawings: {top5:.3f}")
    assert top5 >= 0.60


async def test_stroke_message_equals_points_plus_pen_up(server: ServerProcess) -> None:
    """A whole `stroke` gives the same guesses as its points followed by pen_up."""
    d = raw_sample()[42]
    async with DoodleClient(server.url) as a, DoodleClient(server.url) as b:
        for xs, ys, ts in d["drawing"]:
            ra = await a.request({"type": "stroke", "x": xs, "y": ys, "t": ts})
            await b.points(xs, ys, ts)
            rb = await b.pen_up()
            assert ra["guesses"] == rb["guesses"] and ra["strokes"] == rb["strokes"]


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
async def test_the_server_answers_the_same_on_either_event_loop(server: ServerProcess, event_loop: str) -> None:
    """--event-loop uvloop and asyncio both serve a drawing, with the same guesses, and /healthz names the loop."""
    d = raw_sample()[7]
    with ServerProcess("--event-loop", event_loop) as other:
        assert json.loads(http_get(other.http + "/healthz")[1])["event_loop"] == event_loop
        async with DoodleClient(other.url) as a, DoodleClient(server.url) as b:
            for xs, ys, ts in d["drawing"]:
                await a.points(xs, ys, ts)
                await b.points(xs, ys, ts)
                ra, rb = await a.pen_up(), await b.pen_up()
                assert ra["guesses"] == rb["guesses"] and ra["strokes"] == rb["strokes"]


async def test_undo_drops_last_stroke_and_empty_drawing_has_no_guesses(server: ServerProcess) -> None:
    """undo answers guesses for what is left; an empty list once nothing is left."""
    xs, ys = square()
    async with DoodleClient(server.url) as c:
        one = await c.request({"type": "stroke", "x": xs, "y": ys})
        await c.request({"type": "stroke", "x": [0, 100], "y": [0, 100]})
        back = await c.request({"type": "undo", "seq": 5})
        assert back["seq"] == 5 and back["strokes"] == 1 and back["guesses"] == one["guesses"]
        empty = await c.request({"type": "undo"})
        assert empty["strokes"] == 0 and empty["guesses"] == []
        again = await c.request({"type": "undo"})
        assert again["type"] == "guesses" and again["guesses"] == []


async def test_clear_starts_a_new_drawing(server: ServerProcess) -> None:
    """clear answers `cleared` and the next stroke is stroke 1 of a new drawing."""
    xs, ys = square()
    async with DoodleClient(server.url) as c:
        first = await c.request({"type": "stroke", "x": xs, "y": ys})
        cleared = await c.request({"type": "clear", "seq": 9})
        assert cleared == {"type": "cleared", "seq": 9, "drawing": cleared["drawing"]}  # v1.1: the new drawing's key
        r = await c.request({"type": "stroke", "x": xs, "y": ys})
        assert r["strokes"] == 1
        assert r["drawing"] == cleared["drawing"] != first["drawing"]


async def test_json_text_frames_are_answered_in_json(server: ServerProcess) -> None:
    """A text frame with a JSON map is accepted and answered with JSON text."""
    xs, ys = square()
    async with DoodleClient(server.url, text=True) as c:
        assert c.ws is not None
        await c.ws.send(json.dumps({"type": "stroke", "x": xs, "y": ys, "seq": 1}))
        frame = await c.ws.recv()
        assert isinstance(frame, str)
        msg = json.loads(frame)
        assert msg["type"] == "guesses" and msg["seq"] == 1 and len(msg["guesses"]) == 5


def png_of(
    strokes: list[tuple[list[float], list[float]]], *, dark_on_light: bool = True, colour: bool = False
) -> bytes:
    """A 400x300 picture of the strokes, scaled into a 200 px box."""
    img = np.zeros((300, 400, 3), np.uint8)
    img[:] = (250, 245, 240) if dark_on_light else (20, 30, 40)
    ink = (200, 40, 10) if colour else ((0, 0, 0) if dark_on_light else (255, 255, 255))
    allp = np.concatenate([np.array([xs, ys], np.float64).T for xs, ys in strokes])
    lo, span = allp.min(axis=0), max(float(np.ptp(allp, axis=0).max()), 1.0)
    for xs, ys in strokes:
        pts = (np.array([xs, ys], np.float64).T - lo) / span * 200 + 50
        cv2.polylines(img, [pts.astype(np.int32).reshape(-1, 1, 2)], False, ink, 4)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


async def test_image_message_classifies_a_picture_like_its_strokes(server: ServerProcess) -> None:
    """An `image` PNG of a drawing (light or dark background, colour ink, JSON base64) gets guesses like its strokes."""
    d = raw_sample()[10]
    strokes = [(s[0], s[1]) for s in d["drawing"]]
    async with DoodleClient(server.url) as c, DoodleClient(server.url, text=True) as j:
        for xs, ys in strokes:
            ref = await c.request({"type": "stroke", "x": xs, "y": ys})
        ref_words = {g["word"] for g in ref["guesses"]}
        for variant in (png_of(strokes), png_of(strokes, dark_on_light=False), png_of(strokes, colour=True)):
            r = await c.request({"type": "image", "png": variant, "seq": 4})
            assert r["type"] == "guesses" and r["seq"] == 4 and r["strokes"] == 0 and len(r["guesses"]) == 5
            assert len(ref_words & {g["word"] for g in r["guesses"]}) >= 2, (ref_words, r["guesses"])
        rj = await j.request({"type": "image", "png": base64.b64encode(png_of(strokes)).decode()})
        assert rj["type"] == "guesses" and len(rj["guesses"]) == 5


BAD_CASES: list[tuple[str, bytes | str, str]] = [
    ("malformed msgpack", b"\xc1\x00\x01", "malformed"),
    ("truncated msgpack", msgpack.packb({"type": "points", "x": [1, 2, 3], "y": [1, 2, 3]})[:-3], "malformed"),
    ("malformed json", '{"type": "pen_up"', "malformed"),
    ("not a map", msgpack.packb([1, 2, 3]), "malformed"),
    ("no type", msgpack.packb({"x": [1]}), "unknown_type"),
    ("unknown type", msgpack.packb({"type": "explode"}), "unknown_type"),
    ("type not a string", msgpack.packb({"type": 3}), "unknown_type"),
    ("x not a list", msgpack.packb({"type": "points", "x": 1, "y": [1]}), "invalid_field"),
    ("x holds a string", msgpack.packb({"type": "points", "x": ["a"], "y": [1]}), "invalid_field"),
    ("x holds a bool", msgpack.packb({"type": "points", "x": [True], "y": [1]}), "invalid_field"),
    ("lengths differ", msgpack.packb({"type": "points", "x": [1, 2], "y": [1]}), "invalid_field"),
    ("t length differs", msgpack.packb({"type": "points", "x": [1, 2], "y": [1, 2], "t": [0]}), "invalid_field"),
    ("NaN", msgpack.packb({"type": "points", "x": [math.nan], "y": [1.0]}), "invalid_field"),
    ("infinity", msgpack.packb({"type": "stroke", "x": [1.0], "y": [math.inf]}), "invalid_field"),
    ("negative time", msgpack.packb({"type": "points", "x": [1], "y": [1], "t": [-5]}), "invalid_field"),
    ("seq not an int", msgpack.packb({"type": "pen_up", "seq": "one"}), "invalid_field"),
    ("too many points", msgpack.packb({"type": "points", "x": [1.0] * 3000, "y": [1.0] * 3000}), "too_many_points"),
    ("image not bytes", msgpack.packb({"type": "image", "png": 5}), "invalid_field"),
    ("image not an image", msgpack.packb({"type": "image", "png": b"hello"}), "bad_image"),
    ("image in JSON not base64", json.dumps({"type": "image", "png": "***"}), "invalid_field"),
    ("live_ms out of range", msgpack.packb({"type": "hello", "live_ms": 3}), "invalid_field"),
]


@pytest.mark.parametrize(("name", "frame", "code"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
async def test_bad_input_gets_an_error_and_the_session_goes_on(
    server: ServerProcess, name: str, frame: bytes | str, code: str
) -> None:
    """Each kind of bad input is answered with `error` and its code; the session keeps working."""
    xs, ys = square()
    async with DoodleClient(server.url) as c:
        await c.points(xs[:5], ys[:5])
        await c.send_raw(frame)
        err = await c.reply()
        assert err["type"] == "error" and err["code"] == code, err
        assert isinstance(err["message"], str) and err["message"]
        await c.points(xs[5:], ys[5:])
        ok = await c.pen_up()
        assert ok["type"] == "guesses" and ok["strokes"] == 1 and len(ok["guesses"]) == 5


async def test_error_echoes_seq_when_it_can(server: ServerProcess) -> None:
    """An error for a decodable map echoes its seq."""
    async with DoodleClient(server.url) as c:
        err = await c.request({"type": "points", "x": [1], "y": [], "seq": 77})
        assert err["type"] == "error" and err["seq"] == 77


async def test_too_many_strokes_and_points_per_stroke_are_enforced() -> None:
    """Stroke and per-stroke point limits answer their codes and leave the drawing intact."""
    async with serving("--max-strokes", "3", "--max-points-per-stroke", "10") as srv, DoodleClient(srv.url) as c:
        assert c.welcome["limits"]["max_strokes"] == 3
        for _ in range(3):
            assert (await c.request({"type": "stroke", "x": [0, 5, 9], "y": [0, 5, 2]}))["type"] == "guesses"
        err = await c.request({"type": "stroke", "x": [1, 2], "y": [1, 2]})
        assert err["code"] == "too_many_strokes"
        await c.request({"type": "undo"})
        await c.points(list(range(8)), list(range(8)))
        err = await c.request({"type": "points", "x": [1, 2, 3], "y": [1, 2, 3]})
        assert err["code"] == "stroke_too_long"
        ok = await c.pen_up()
        assert ok["strokes"] == 3


async def test_a_client_that_keeps_flooding_errors_is_closed_with_1008() -> None:
    """max_errors_in_a_row bad messages close the socket with 1008 and a reason."""
    async with serving("--max-errors-in-a-row", "5") as srv, DoodleClient(srv.url) as c:
        assert c.ws is not None
        for _ in range(4):
            await c.send_raw(b"\xc1")
            assert (await c.reply())["code"] == "malformed"
        await c.send_raw(b"\xc1")
        assert (await c.reply())["code"] == "malformed"
        with pytest.raises(ConnectionClosed) as exc:
            await c.recv()
        assert exc.value.rcvd is not None and exc.value.rcvd.code == CloseCode.POLICY_VIOLATION
        assert "too many bad messages" in exc.value.rcvd.reason


async def test_message_rate_limit_answers_rate_limited() -> None:
    """Messages beyond the rate and burst get `rate_limited` errors."""
    async with (
        serving("--max-messages-per-second", "5", "--message-burst", "5", "--max-errors-in-a-row", "1000") as srv,
        DoodleClient(srv.url) as c,
    ):
        for _ in range(12):
            await c.send({"type": "pen_up"})
        codes = [(await c.reply()).get("code") for _ in range(12)]
        assert codes.count("rate_limited") >= 5 and codes[0] is None


async def test_live_guesses_arrive_while_drawing_when_asked(server: ServerProcess) -> None:
    """hello live_ms=50: live guesses during a slow stroke, at most one per 50 ms, none after pen-up."""
    d = raw_sample()[7]
    xs, ys, _ = d["drawing"][0]
    async with DoodleClient(server.url) as c:
        hello = await c.request({"type": "hello", "live_ms": 50, "client": "test"})
        assert hello["type"] == "hello" and hello["live_ms"] == 50
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(0, len(xs), 2):
            await c.points(xs[i : i + 2], ys[i : i + 2])
            await asyncio.sleep(0.01)
        elapsed = loop.time() - t0
        final = await c.pen_up()
        assert final["type"] == "guesses" and not final.get("live")
        assert c.live, "no live guesses arrived"
        assert all(m["strokes"] == 0 and len(m["guesses"]) == 5 for m in c.live)
        assert len(c.live) <= elapsed / 0.05 + 2


async def test_many_sessions_in_parallel_each_get_their_own_answers(server: ServerProcess) -> None:
    """40 concurrent sessions each get the guesses their own drawing gets when drawn alone."""
    sample = raw_sample()[:40]

    async def one(d: dict) -> list[dict]:
        async with DoodleClient(server.url) as c:
            for xs, ys, ts in d["drawing"]:
                r = await c.request({"type": "stroke", "x": xs, "y": ys, "t": ts})
        return r["guesses"]

    together = await asyncio.gather(*(one(d) for d in sample))
    for i in (0, 3, 17, 39):
        alone = await one(sample[i])
        assert [g["word"] for g in together[i]] == [g["word"] for g in alone]
        assert [g["score"] for g in together[i]] == pytest.approx([g["score"] for g in alone], abs=1e-4)


async def test_compression_is_off_unless_asked_for(server: ServerProcess) -> None:
    """A client offering permessage-deflate gets it only from a server started with --compression."""
    async with connect(server.url, compression="deflate") as ws:
        assert ws.protocol.extensions == []
    srv = InProcessServer("--compression")
    try:
        async with connect(srv.url, compression="deflate") as ws:
            assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
            await ws.recv()
            await ws.send(msgpack.packb({"type": "stroke", "x": [0, 50, 100], "y": [0, 80, 0]}))
            reply = msgpack.unpackb(await ws.recv())
            assert reply["type"] == "guesses" and len(reply["guesses"]) == 5
    finally:
        assert srv.stop() == 0
