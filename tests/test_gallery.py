"""The history over HTTP (server/history/gallery.py): pages, JSON API, pictures, bad parameters, a browser."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import pytest_asyncio

from replay_client.client import DoodleClient
from server.limits import MAX_MINE_KEYS, MAX_PAGE, MAX_SPRITE_PX, MAX_WORD_CHARS
from tests.conftest import ROOT, raw_sample
from tests.support import InProcessServer

#: Flags lifting the per-address HTTP request rate (tests/test_gallery.py tests it on its own server).
UNTHROTTLED = ("--max-http-requests-per-second", "1000", "--http-request-burst", "1000")
XSS = "<script>alert('x')</script>&\"cat"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    # Many requests from this one address in a row: the per-address HTTP rate is not what this module tests.
    s = InProcessServer("--db", str(tmp_path_factory.mktemp("gallery") / "doodles.sqlite3"), *UNTHROTTLED)
    yield s
    s.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(srv: InProcessServer) -> list[dict[str, Any]]:
    """Nine stored drawings, oldest first: words for most, one hostile word, one with none."""
    sample = raw_sample()[200:209]
    words: list[str | None] = [d["word"] for d in sample]
    words[4] = XSS
    words[6] = None
    words[1] = words[7] = "cat"
    out = []
    for d, word in zip(sample, words, strict=True):
        async with DoodleClient(srv.url) as c:
            await c.request({"type": "hello", "client": "<b>bold</b>"})
            for xs, ys, ts in d["drawing"]:
                await c.request({"type": "stroke", "x": xs, "y": ys, "t": ts})
            msg: dict[str, Any] = {"type": "submit"} if word is None else {"type": "submit", "word": word}
            saved = await c.request(msg)
            out.append({"id": saved["id"], "word": word, "drawing": d["drawing"]})
    return out


def get(srv: InProcessServer, path: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(srv.http + path, timeout=10) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def get_json(srv: InProcessServer, path: str) -> tuple[int, Any]:
    status, body, headers = get(srv, path)
    assert headers["Content-Type"].startswith("application/json"), (path, headers["Content-Type"])
    return status, json.loads(body)


def png(body: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    return img


def test_gallery_lists_thumbnails_newest_first_and_escapes_every_word(srv: InProcessServer, seeded: list) -> None:
    """/gallery: HTML with a CSP, one card per drawing newest first, linked to its page; words escaped."""
    status, body, headers = get(srv, "/gallery")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    ids = [int(m) for m in re.findall(r'href="/doodles/(\d+)"', page)]
    assert ids == [d["id"] for d in reversed(seeded)]
    assert all(f'<canvas class="thumb" data-id="{i}"' in page for i in ids)
    assert '<script type="module" src="/gallery/gallery.js">' in page and "<img" not in page
    assert "<script>alert" not in page and XSS in html.unescape(page)
    assert "<b>bold</b>" not in page


def test_gallery_filters_by_word_and_pages_by_id(srv: InProcessServer, seeded: list) -> None:
    """/gallery?word= finds labels holding the word in any case; limit/before page through with an Older link."""
    _, body, _ = get(srv, "/gallery?word=CAT")  # "cat" twice, and the hostile word ending in "cat"
    found = [int(m) for m in re.findall(r'href="/doodles/(\d+)"', body.decode())]
    unnamed = seeded[6]["id"]  # labelled by its guess, which may hold "cat" too
    assert [i for i in found if i != unnamed] == [seeded[7]["id"], seeded[4]["id"], seeded[1]["id"]]
    _, body, _ = get(srv, "/gallery?limit=4")
    page = body.decode()
    older = re.search(r'rel="next" href="([^"]+)"', page)
    assert older is not None
    _, body2, _ = get(srv, html.unescape(older.group(1)))
    shown = [int(m) for m in re.findall(r'href="/doodles/(\d+)"', page + body2.decode())]
    assert shown == [d["id"] for d in reversed(seeded)][:8]
    _, body, _ = get(srv, "/gallery?word=" + urllib.request.quote(XSS))
    assert "<script>alert" not in body.decode() and len(re.findall(r'href="/doodles/(\d+)"', body.decode())) == 1
    _, body, _ = get(srv, "/gallery?word=nothing-like-this")
    assert "No drawings of" in body.decode()


def test_api_lists_pages_and_filters(srv: InProcessServer, seeded: list) -> None:
    """/api/doodles: newest first, next_before pages through all, word filters by label."""
    ids: list[int] = []
    path = "/api/doodles?limit=2"
    while True:
        status, body = get_json(srv, path)
        assert status == 200
        ids += [d["id"] for d in body["doodles"]]
        if body["next_before"] is None:
            break
        path = f"/api/doodles?limit=2&before={body['next_before']}"
    assert ids == [d["id"] for d in reversed(seeded)]
    _, body = get_json(srv, "/api/doodles?word=Cat")  # labels holding "cat", any case
    assert [d["id"] for d in body["doodles"] if d["word"] is not None] == [seeded[i]["id"] for i in (7, 4, 1)]
    cat = body["doodles"][0]
    assert cat["png"] == f"/doodles/{cat['id']}.png" and cat["page"] == f"/doodles/{cat['id']}" and cat["word"] == "cat"


def test_api_record_and_unknown_ids(srv: InProcessServer, seeded: list) -> None:
    """/api/doodles/ID: the full record; unknown or malformed ids answer 404 JSON."""
    status, rec = get_json(srv, f"/api/doodles/{seeded[4]['id']}")
    assert status == 200 and rec["word"] == XSS and rec["drawing"] == seeded[4]["drawing"]
    assert rec["client"] == "<b>bold</b>" and len(rec["final"]) == 5
    _, none = get_json(srv, f"/api/doodles/{seeded[6]['id']}")
    assert none["word"] is None and none["label"] == none["guess"] and none["recognized"] is False
    for bad in ("999999", "0", "-1", "abc", "1.5", "12/x", "99999999999999999999999", ""):
        status, body = get_json(srv, f"/api/doodles/{bad}")
        assert status == 404 and body["error"], bad


def test_detail_page_lists_the_guesses_after_each_stroke(srv: InProcessServer, seeded: list) -> None:
    """/doodles/ID: HTML with the replay canvas and script, one row of guesses per stroke, words escaped."""
    d = seeded[4]
    status, body, headers = get(srv, f"/doodles/{d['id']}")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html") and headers["Content-Security-Policy"]
    assert f'data-id="{d["id"]}"' in page and '<script src="/gallery/replay.js">' in page
    assert len(re.findall(r"<tr data-strokes=", page)) == len(d["drawing"])
    assert "<script>alert" not in page and XSS in html.unescape(page) and "&lt;b&gt;bold&lt;/b&gt;" in page
    for path in ("/doodles/999999", "/doodles/abc", "/doodles/1/other.png", "/doodles/1.jpg", "/doodles/"):
        status, _, _ = get(srv, path)
        assert status == 404, path


def test_thumbnails_and_sprites_over_http(srv: InProcessServer, seeded: list) -> None:
    """/doodles/ID.png is an opaque square thumbnail; /doodles/ID/sprite.png a transparent, cropped, coloured sprite."""
    i = seeded[0]["id"]
    status, body, headers = get(srv, f"/doodles/{i}.png")
    assert status == 200 and headers["Content-Type"] == "image/png" and png(body).shape == (160, 160, 3)
    _, body, _ = get(srv, f"/doodles/{i}.png?size=64")
    assert png(body).shape == (64, 64, 3)
    status, body, headers = get(srv, f"/doodles/{i}/sprite.png?size=300&color=%2300ff00&width=2.5")
    img = png(body)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert img.shape[2] == 4 and max(img.shape[:2]) == 300 and (img[:, :, 1] == 255).all()
    assert img[:, :, 3].min() == 0 and img[:, :, 3].max() == 255
    _, plain, _ = get(srv, f"/doodles/{i}/sprite.png?color=00ff00")
    assert max(png(plain).shape[:2]) == 256


BAD_PARAMS = [
    "/api/doodles?limit=0",
    f"/api/doodles?limit={MAX_PAGE + 1}",
    "/api/doodles?limit=ten",
    "/api/doodles?limit=1&limit=2",
    "/api/doodles?before=-3",
    "/api/doodles?before=1e3",
    f"/api/doodles?word={'w' * (MAX_WORD_CHARS + 1)}",
    f"/api/doodles?word={'w' * 1000}",
    "/gallery?limit=-1",
    "/gallery?before=x",
    "/doodles/{id}.png?size=8",
    f"/doodles/{{id}}.png?size={MAX_SPRITE_PX + 1}",
    "/doodles/{id}.png?size=big",
    "/doodles/{id}/sprite.png?size=0",
    "/doodles/{id}/sprite.png?size=99999999999999999999",
    "/doodles/{id}/sprite.png?color=red",
    "/doodles/{id}/sprite.png?color=%23ff00",
    "/doodles/{id}/sprite.png?width=0",
    "/doodles/{id}/sprite.png?width=65",
    "/doodles/{id}/sprite.png?width=nan",
    "/doodles/{id}/sprite.png?width=-2",
]


def error_of(srv: InProcessServer, path: str) -> tuple[int, str]:
    """Status and message of an error answer: JSON under /api/, a small HTML page elsewhere."""
    status, body, headers = get(srv, path)
    if path.startswith("/api/"):
        assert headers["Content-Type"] == "application/json", path
        answer = json.loads(body)
        assert answer["status"] == status
        return status, str(answer["error"])
    assert headers["Content-Type"].startswith("text/html"), path
    page = body.decode()
    assert f"<h1>{status} " in page and "<script" not in page
    return status, html.unescape(page)


@pytest.mark.parametrize("path", BAD_PARAMS)
def test_bad_parameters_answer_400_naming_the_parameter(srv: InProcessServer, seeded: list, path: str) -> None:
    """Every out-of-range or malformed parameter answers 400 naming it (JSON under /api/, else HTML)."""
    path = path.replace("{id}", str(seeded[0]["id"]))
    status, message = error_of(srv, path)
    name = re.search(r"[?&](\w+)=", path).group(1)  # type: ignore[union-attr]
    assert status == 400 and f"'{name}'" in message, (path, message)


def test_unknown_ids_for_pictures_answer_404(srv: InProcessServer, seeded: list) -> None:
    """Pictures of an id that is not stored answer a 404 page naming it (parameters valid)."""
    for path in ("/doodles/987654.png", "/doodles/987654/sprite.png?size=64"):
        status, message = error_of(srv, path)
        assert status == 404 and "987654" in message


async def test_a_failing_database_is_a_server_fault_on_every_route(tmp_path: Path) -> None:
    """With the doodles table gone under the server, every history route answers 500 (HTML or JSON) and
    submit answers store_failed; the server goes on."""
    db = tmp_path / "broken.sqlite3"
    s = InProcessServer("--db", str(db))
    try:
        async with DoodleClient(s.url) as c:
            await c.request({"type": "stroke", "x": [0, 50], "y": [0, 40]})
            doodle_id = (await c.request({"type": "submit"}))["id"]
            with sqlite3.connect(db) as other:
                other.execute("DROP TABLE doodles")
            for path in (
                "/gallery",
                "/api/doodles",
                f"/api/doodles/{doodle_id}",
                f"/doodles/{doodle_id}",
                f"/doodles/{doodle_id}.png",
                f"/doodles/{doodle_id}/sprite.png",
            ):
                status, message = error_of(s, path)
                assert status == 500 and "could not be read" in message, (path, message)
            await c.request({"type": "stroke", "x": [0, 9], "y": [5, 5]})
            failed = await c.request({"type": "submit"})
            assert failed["type"] == "error" and failed["code"] == "store_failed", failed
            assert (await c.request({"type": "undo"}))["type"] == "guesses"
    finally:
        s.stop()


def test_gallery_assets_are_served(srv: InProcessServer) -> None:
    """The replay script and the style sheet are served with their types."""
    status, body, headers = get(srv, "/gallery/replay.js")
    assert status == 200 and "javascript" in headers["Content-Type"] and b"requestAnimationFrame" in body
    status, body, headers = get(srv, "/gallery/gallery.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and b".grid" in body


@pytest.mark.browser
async def test_chromium_shows_the_gallery_and_replays_a_drawing(
    srv: InProcessServer, seeded: list, async_browser: Any
) -> None:
    """Headless Chromium: the page draws every thumbnail from one API call (2 requests beyond its static
    files), no script runs from a word, the replay canvas fills with ink; screenshots."""
    shots = ROOT / "artifacts"
    shots.mkdir(exist_ok=True)
    page = await async_browser.new_page(viewport={"width": 1100, "height": 800})
    try:
        dialogs: list[str] = []
        errors: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url.removeprefix(srv.http)))
        await page.goto(srv.http + "/gallery", wait_until="networkidle")
        await page.wait_for_function(
            f"() => document.querySelectorAll('canvas.thumb[data-drawn]').length === {len(seeded)}"
        )
        inked = await page.eval_on_selector_all(
            "canvas.thumb",
            """cs => cs.map(c => {
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < px.length; i += 4) n += px[i] < 128;
                return n;
            })""",
        )
        assert len(inked) == len(seeded) and min(inked) > 20, inked
        static = ("/gallery/gallery.css", "/gallery/gallery.js", "/drawing.js", "/logo.svg")  # files, cached
        beyond_static = [u for u in requests if u not in static]
        assert beyond_static == ["/gallery", "/api/doodles"], requests
        assert XSS in await page.inner_text("main")
        await page.screenshot(path=str(shots / "gallery.png"), full_page=True)

        d = seeded[0]
        await page.goto(srv.http + f"/doodles/{d['id']}", wait_until="networkidle")
        await page.wait_for_function(
            "() => document.querySelectorAll('#guesses tr.now').length === 1 && "
            f"document.querySelector('#guesses tr.now').dataset.strokes === '{len(d['drawing'])}'",
            timeout=30_000,
        )
        ink = await page.evaluate(
            """() => {
                const c = document.getElementById('replay');
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < px.length; i += 4) n += px[i] > 0;
                return n;
            }"""
        )
        assert ink > 500
        await page.screenshot(path=str(shots / "gallery-detail.png"), full_page=True)
        assert dialogs == [] and errors == []
    finally:
        await page.close()
    assert png((shots / "gallery.png").read_bytes()).shape[1] == 1100


async def test_delete_by_key_and_moderation_with_the_admin_token(tmp_path: Path) -> None:
    """delete {key} removes a player's drawing; moderate hides, shows and deletes by id, only with the admin token."""
    s = InProcessServer("--db", str(tmp_path / "h.sqlite3"), "--admin-token", "sekrit")
    try:
        stroke = {"type": "stroke", "x": [0, 50, 100], "y": [0, 80, 20]}
        async with DoodleClient(s.url) as c:
            key = (await c.request(stroke))["drawing"]
            first = (await c.request({"type": "submit", "word": "zigzag"}))["id"]
            await c.request({"type": "clear"})
            await c.request(stroke)
            second = (await c.request({"type": "submit", "word": "zigzag"}))["id"]
            assert (await c.request({"type": "delete", "key": key})) == {"type": "deleted", "id": first}
            assert (await c.request({"type": "delete", "key": key}))["code"] == "not_found"
            assert (await c.request({"type": "delete", "key": ""}))["code"] == "invalid_field"
            hide: dict[str, Any] = {"type": "moderate", "id": second, "action": "hide"}
            assert (await c.request(hide))["code"] == "forbidden"
            assert (await c.request({**hide, "admin_token": "wrong"}))["code"] == "forbidden"
            assert (await c.request({**hide, "admin_token": "sekrit", "action": "burn"}))["code"] == "invalid_field"
            reply = await c.request({**hide, "admin_token": "sekrit"})
            assert reply["type"] == "moderated" and reply["action"] == "hide"
            assert get(s, f"/doodles/{second}")[0] == 404 and get_json(s, "/api/doodles")[1]["doodles"] == []
            await c.request({**hide, "admin_token": "sekrit", "action": "show"})
            assert get(s, f"/doodles/{second}")[0] == 200
            await c.request({**hide, "admin_token": "sekrit", "action": "delete"})
            assert get(s, f"/doodles/{second}")[0] == 404
            assert (await c.request({**hide, "admin_token": "sekrit"}))["code"] == "not_found"
    finally:
        s.stop()


async def test_mine_lists_which_of_a_players_keys_are_kept_and_refuses_a_bad_list(srv: InProcessServer) -> None:
    """mine {keys}: the ids of the asked keys' kept drawings (a cleared one included), nothing for unknown keys;
    a list that is empty, too long or not of strings answers invalid_field."""
    async with DoodleClient(srv.url) as c:
        reply = await c.call({"type": "stroke", "x": [0, 40, 90], "y": [0, 60, 10]})
        key = reply["drawing"]
        await c.call({"type": "clear"})  # kept (reason clear) before "cleared" answers
        found = await c.call({"type": "mine", "keys": [key, "B" * 22]})
        assert found["type"] == "mine" and [d["key"] for d in found["drawings"]] == [key]
        assert get_json(srv, f"/api/doodles/{found['drawings'][0]['id']}")[0] == 200
        for bad in ([], ["k"] * (MAX_MINE_KEYS + 1), [1], "k"):
            assert (await c.call({"type": "mine", "keys": bad}))["code"] == "invalid_field"


async def test_moderation_is_refused_on_a_server_without_an_admin_token(srv: InProcessServer, seeded: list) -> None:
    """Without --admin-token no token is right: moderate answers forbidden and the drawing stays."""
    async with DoodleClient(srv.url) as c:
        reply = await c.request({"type": "moderate", "id": seeded[0]["id"], "action": "delete", "admin_token": ""})
        assert reply["code"] == "forbidden"
    assert get(srv, f"/doodles/{seeded[0]['id']}")[0] == 200


def test_detail_pages_say_in_plain_words_where_a_drawing_was_made_and_why_it_was_kept(
    srv: InProcessServer, seeded: list
) -> None:
    """No "Client: web" or "Kept on: submit": the detail page explains both; the page states the keep policy."""
    page = get(srv, f"/doodles/{seeded[0]['id']}")[1].decode()
    assert "Kept because</dt><dd>the player submitted it" in page
    assert "Drawn on</dt><dd>a client that calls itself" in page and "Kept on" not in page
    assert "This server keeps every drawing made on it" in page and "shows them to anyone" in page


def test_api_privacy_says_what_is_kept_and_who_sees_it_even_without_the_token() -> None:
    """/api/privacy is public: with --keep submitted and a token (no --public-gallery) it says so, and the gallery
    pages end with the same sentence."""
    s = InProcessServer("--keep", "submitted", "--token", "sekret")
    try:
        with urllib.request.urlopen(s.http + "/api/privacy", timeout=10) as r:
            said = json.loads(r.read())
        assert said["keep"] == "submitted" and said["public_gallery"] is False
        assert said["text"] == (
            "This server keeps the drawings players submit, and shows them only to people with its access token."
        )
        with urllib.request.urlopen(s.http + "/gallery?token=sekret", timeout=10) as r:
            assert said["text"] in html.unescape(r.read().decode())
    finally:
        s.stop()


def test_the_moderation_command_hides_shows_and_deletes_in_a_database_file(tmp_path: Path) -> None:
    """python -m server.history.moderate: hide/show/delete by id, exit 1 naming an unknown id, 2 without a file."""
    from server.history import moderate
    from server.history.store import SQLiteStore
    from tests.support import doodle

    db = tmp_path / "h.sqlite3"
    store = SQLiteStore(db)
    a, b = store.add(doodle(1)), store.add(doodle(2))
    store.close()
    assert moderate.main(["--db", str(db), "hide", str(a), str(b)]) == 0
    assert SQLiteStore(db).page(word=None, limit=10, before=None) == []
    assert moderate.main(["--db", str(db), "show", str(b)]) == 0
    assert moderate.main(["--db", str(db), "delete", str(a), "999"]) == 1
    store = SQLiteStore(db)
    assert [d.id for d in store.page(word=None, limit=10, before=None)] == [b] and store.get(a) is None
    store.close()
    assert moderate.main(["--db", str(tmp_path / "none.sqlite3"), "hide", "1"]) == 2


async def test_listings_carry_thumbnail_grade_strokes_and_the_full_ones_stay_at_the_record(
    srv: InProcessServer,
) -> None:
    """A drawing of 6,000 points (with times) is listed with at most MAX_THUMB_POINTS integer points in
    0..255 and at most MAX_THUMB_BYTES of strokes, its shape kept; /api/doodles/ID keeps every point."""
    from server.history.listing import MAX_THUMB_BYTES, MAX_THUMB_POINTS

    xs = [float(i % 600) for i in range(2_000)]
    ys = [float((i * 7) % 400) for i in range(2_000)]
    async with DoodleClient(srv.url) as c:
        for k in range(3):
            await c.request({"type": "stroke", "x": [x + k for x in xs], "y": ys, "t": list(range(2_000))})
        saved = await c.request({"type": "submit", "word": "zigzag"})
    status, page = get_json(srv, "/api/doodles?word=zigzag&limit=200")
    item = next(d for d in page["doodles"] if d["id"] == saved["id"])
    strokes = item["drawing"]
    assert status == 200 and len(strokes) == 3 and all(len(s) == 2 for s in strokes)  # x, y: no times
    assert sum(len(s[0]) for s in strokes) <= MAX_THUMB_POINTS
    assert all(isinstance(v, int) and 0 <= v <= 255 for s in strokes for axis in s for v in axis)
    assert max(v for s in strokes for v in s[0]) == 255  # scaled into the box, the wider side spanning it
    assert len(json.dumps(strokes, separators=(",", ":"))) <= MAX_THUMB_BYTES
    status, full = get_json(srv, f"/api/doodles/{saved['id']}")
    assert status == 200 and [len(s[0]) for s in full["drawing"]] == [2_000] * 3 and len(full["drawing"][0]) == 3


async def test_a_busy_reader_never_holds_up_the_writer(tmp_path: Path) -> None:
    """With the gallery's read connection busy for 3 s (longer than --store-timeout-s 1), a submit is stored at
    once: reads have a connection and thread of their own."""
    import asyncio
    import time

    from server.app import DoodleServer, ServerConfig
    from server.history.feature import DoodleHistory
    from server.limits import Limits
    from tests.support import FakeModel

    limits = Limits(store_timeout_s=1.0)
    history = DoodleHistory(str(tmp_path / "h.sqlite3"), limits=limits)
    srv = DoodleServer(ServerConfig(port=0, limits=limits), model=FakeModel(), features=[history])
    await srv.start()
    try:
        assert history.reads is not None and history.reads is not history.store
        busy = asyncio.create_task(history.reads._run(lambda s: time.sleep(3)))  # a read stuck on its thread
        await asyncio.sleep(0.1)
        async with DoodleClient(f"ws://127.0.0.1:{srv.port}/ws") as c:
            await c.request({"type": "stroke", "x": [0, 10, 20], "y": [0, 10, 0]})
            saved = await c.request({"type": "submit", "word": "cat"})
            assert saved["type"] == "saved", saved
        assert history.reads.busy_since is not None  # the reader was still busy all along
        await asyncio.gather(busy, return_exceptions=True)
        await asyncio.sleep(3)
    finally:
        await srv.close()


def test_http_requests_are_rate_limited_per_address_except_the_health_check() -> None:
    """--max-http-requests-per-second 1 --http-request-burst 3: the fourth request at once is 429 with
    Retry-After; /healthz still answers."""
    s = InProcessServer("--max-http-requests-per-second", "1", "--http-request-burst", "3")
    try:
        codes = [get(s, "/api/doodles?limit=1")[0] for _ in range(3)]
        status, body, headers = get(s, "/api/doodles?limit=200")
        assert codes == [200, 200, 200] and status == 429 and headers["Retry-After"] == "1"
        assert b"per second" in body
        assert all(get(s, "/healthz")[0] == 200 for _ in range(5))
    finally:
        s.stop()
