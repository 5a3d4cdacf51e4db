"""The browser sketchpad (web_client/) in Debian's chromium, driven by Playwright, against real servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from replay_client.client import DoodleClient
from tests.conftest import CHROMIUM, ServerProcess, http_get
from tests.web_support import (
    ARTIFACTS,
    MSGPACK_JS,
    axe_violations,
    doodles,
    draw,
    open_pad,
    real_drawing,
    stats,
    wait_for,
)

get = http_get

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists() or not MSGPACK_JS.exists():
    pytest.skip(
        "needs Debian chromium and the web client's npm packages (bash scripts/setup.sh)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page  # noqa: E402


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    pg = browser.new_page(viewport={"width": 1200, "height": 820})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shown_guesses(page: Page) -> list[tuple[str, float]]:
    out = []
    for li in page.locator("#guess-list li").all():
        word = li.get_attribute("data-word")
        score = li.locator(".guess-fill").evaluate("e => parseFloat(e.style.getPropertyValue('--score'))")
        assert word
        out.append((word, float(score)))
    return out


def ink_pixels(page: Page) -> int:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => { const c = document.getElementById('pad');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )


def test_page_and_msgpack_vendor_file_are_served(server: ServerProcess) -> None:
    """GET / is the sketchpad, /vendor/msgpack.min.js the npm package's file, /classes the words; others 404."""
    status, body, ctype = get(server.http + "/")
    assert status == 200 and ctype.startswith("text/html") and b'id="pad"' in body
    status, body, ctype = get(server.http + "/vendor/msgpack.min.js")
    assert status == 200 and "javascript" in ctype and b"MessagePack" in body
    assert body == MSGPACK_JS.read_bytes()
    status, body, ctype = get(server.http + "/classes")
    info = json.loads(body)
    assert status == 200 and len(info["classes"]) == 345 and "cat" in info["classes"] and info["model"]
    for path in ("/vendor/../server/app.py", "/vendor/msgpack.js", "/node_modules/.package-lock.json", "/package.json"):
        assert get(server.http + path)[0] == 404, path


def test_drawing_streams_points_and_shows_live_then_final_guesses_undo_and_clear(
    server: ServerProcess, page: Page
) -> None:
    """A real doodle drawn with the mouse: live guesses while drawing, 5 guesses per pen-up, undo, clear."""
    open_pad(page, server)
    page.wait_for_function("document.querySelectorAll('#words option').length === 345", timeout=5_000)
    strokes = real_drawing("cat")
    draw(page, strokes, slow_first_stroke_ms=12)
    n = len(strokes)
    page.wait_for_function(f"window.doodle.stats.final >= {n}", timeout=10_000)
    st = stats(page)
    assert st["final"] == n and st["live"] >= 1 and st["pointsSent"] >= sum(len(s[0]) for s in strokes) // 2
    assert page.locator("#guess-list").get_attribute("data-live") == "false"
    guesses = shown_guesses(page)
    assert 1 <= len(guesses) <= 5 and len({w for w, _ in guesses}) == len(guesses)
    assert all(0.005 <= s <= 1 for _, s in guesses) and [s for _, s in guesses] == sorted(
        (s for _, s in guesses), reverse=True
    )
    assert page.locator("#top-word").inner_text() == guesses[0][0]
    assert page.locator("#meta-strokes").inner_text() == f"{n} strokes"
    assert page.locator("#rtt").inner_text().startswith("rtt ")
    assert page.locator("#hint").is_hidden() and ink_pixels(page) > 500
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_client.png"))

    before = ink_pixels(page)
    page.click("#undo")
    page.wait_for_function(f"window.doodle.stats.final >= {n + 1}", timeout=10_000)
    assert page.locator("#meta-strokes").inner_text() == f"{n - 1} strokes"
    assert 1 <= len(shown_guesses(page)) <= 5 and 0 < ink_pixels(page) < before

    page.click("#clear")
    page.wait_for_function("window.doodle.state.awaitingCleared === 0", timeout=10_000)
    assert page.locator("#guess-list li").count() == 0 and ink_pixels(page) == 0
    assert page.locator("#hint").is_visible() and page.locator("#meta-strokes").inner_text() == "no strokes yet"

    page.set_viewport_size({"width": 390, "height": 844})
    axe = real_drawing("axe")  # a whole drawing of 117 points: the cat's 605 mouse moves again took 10 s
    draw(page, axe)
    page.wait_for_function(f"window.doodle.stats.final >= {n + 1 + len(axe)}", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "web_client_phone.png"), full_page=True)


def server_answer(url: str, msg: dict[str, Any]) -> dict[str, Any]:
    """What the server answers ``msg`` after a one-stroke drawing (to know what the UI must show)."""

    async def go() -> dict[str, Any]:
        async with DoodleClient(url) as c:
            await c.request({"type": "stroke", "x": [0, 50, 100], "y": [0, 80, 20]})
            return await c.request(msg)

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        return pool.submit(asyncio.run, go()).result()


def test_submit_and_sprite_buttons_follow_the_server(server: ServerProcess, page: Page) -> None:
    """Submit and Sprite show the saved id / the sprite, or "not available" when the server lacks them."""
    open_pad(page, server)
    draw(page, real_drawing("cat")[:2])
    page.wait_for_function("window.doodle.stats.final >= 2", timeout=10_000)

    page.fill("#word", "cat")
    page.click("#submit")
    answer = server_answer(server.url, {"type": "submit", "word": "cat"})
    notice = page.locator("#notice")
    notice.wait_for(state="visible", timeout=5_000)
    if answer["type"] == "error" and answer["code"] == "unknown_type":
        assert notice.inner_text() == "Submit is not available on this server"
    else:
        assert answer["type"] == "saved", answer
        assert notice.inner_text().startswith("Saved as drawing #")

    answer = server_answer(server.url, {"type": "sprite"})
    page.evaluate("document.getElementById('notice').hidden = true")
    page.click("#sprite")
    if answer["type"] == "error" and answer["code"] == "unknown_type":
        notice.wait_for(state="visible", timeout=5_000)
        assert notice.inner_text() == "Sprite is not available on this server"
    else:
        assert answer["type"] == "sprite", answer
        page.locator("#sprite-box").wait_for(state="visible", timeout=5_000)
        page.wait_for_function("document.getElementById('sprite-img').naturalWidth > 0", timeout=5_000)


def test_reconnects_after_server_restart_and_replays_the_drawing(page: Page, tmp_path: Path) -> None:
    """Server stopped: offline, guesses greyed; a new server on the port: it reconnects, resumes, stores it once."""
    db = str(tmp_path / "doodles.sqlite3")
    first = ServerProcess("--db", db)
    port = first.port
    second: ServerProcess | None = None
    try:
        open_pad(page, first)
        strokes = real_drawing("bicycle")
        draw(page, strokes)
        n = len(strokes)
        page.wait_for_function(f"window.doodle.stats.final >= {n}", timeout=10_000)
        guesses = shown_guesses(page)

        first.stop()
        page.wait_for_selector('#conn[data-state="offline"]', timeout=10_000)
        stale = page.locator("#guess-list")
        assert (
            stale.get_attribute("data-stale") == "true"
            and float(stale.evaluate("e => getComputedStyle(e).opacity")) < 1
        )
        page.evaluate("document.getElementById('guess-list').replaceChildren()")
        second = ServerProcess("--port", str(port), "--db", db)
        assert second.port == port
        page.wait_for_selector('#conn[data-state="connected"]', timeout=45_000)
        page.wait_for_function(f"window.doodle.stats.final >= {2 * n}", timeout=10_000)
        st = stats(page)
        assert st["connects"] == 2 and st["replayed"] == n
        assert page.locator("#meta-strokes").inner_text() == f"{n} strokes"
        again = shown_guesses(page)  # same strokes, same model: the same answer
        assert [w for w, _ in again] == [w for w, _ in guesses]
        assert [s for _, s in again] == pytest.approx([s for _, s in guesses], abs=2e-3)
        assert st["resumed"] == 1  # the key the first server kept at shutdown
        page.click("#clear")
        page.wait_for_function("window.doodle.state.awaitingCleared === 0", timeout=10_000)
        assert [d["strokes"] for d in doodles(second)] == [n]  # stored once, not once per server
    finally:
        first.stop()
        if second is not None:
            second.stop()


# ---------------------------------------------------------------- issue 15: bugs


def line(page: Page, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` given as fractions of the canvas (0..1; outside is off the canvas)."""
    box = page.locator("#pad").bounding_box()
    assert box is not None
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for p in at[1:]:
        page.mouse.move(*p)
    page.mouse.up()


def test_the_page_says_what_this_server_keeps(page: Page) -> None:
    """The footer states the server's own policy (/api/privacy): --keep submitted reads differently from keep all."""
    srv = ServerProcess("--keep", "submitted")
    try:
        open_pad(page, srv)
        page.wait_for_function("document.getElementById('privacy').textContent.includes('players submit')")
        assert "keeps the drawings players submit, and shows them to anyone" in page.inner_text("#privacy")
    finally:
        srv.stop()


def test_limits_end_strokes_and_refuse_a_stroke_past_the_last_without_errors_or_reconnects(page: Page) -> None:
    """A stroke stops at max_points_per_stroke, a stroke past max_strokes is refused plainly; no error, no reconnect."""
    srv = ServerProcess("--max-points-per-stroke", "40", "--max-strokes", "3")
    try:
        open_pad(page, srv)
        line(page, [(0.1 + 0.8 * i / 120, 0.2 + 0.1 * (i % 2)) for i in range(121)])  # 121 points
        for k in range(4):
            line(page, [(0.2, 0.4 + 0.1 * k), (0.5, 0.45 + 0.1 * k), (0.8, 0.4 + 0.1 * k)])
        page.wait_for_function("window.doodle.stats.final >= 3", timeout=10_000)
        page.wait_for_timeout(500)  # time for any error the server would send
        st = stats(page)
        assert st["errors"] == 0 and st["refused"] == 0 and st["connects"] == 1, st
        lengths = page.evaluate("window.doodle.state.strokes.map(s => s.x.length)")
        assert len(lengths) == 3 and lengths[0] == 40, lengths
        assert "at most 3 strokes" in page.locator("#notice").inner_text()
        assert page.locator("#meta-strokes").inner_text() == "3 strokes"
    finally:
        srv.stop()


def test_a_drawing_closed_for_idling_resumes_and_is_stored_once(page: Page) -> None:
    """After the idle close the page waits, reconnects when drawn on, resumes its key: one record, not two."""
    srv = ServerProcess("--idle-timeout-s", "3")
    try:
        open_pad(page, srv)
        strokes = real_drawing("bicycle")
        draw(page, strokes[:2])
        page.wait_for_function("window.doodle.stats.final >= 2", timeout=10_000)
        page.wait_for_selector('#conn[data-state="idle"]', timeout=15_000)
        wait_for(lambda: len(doodles(srv)) == 1)  # kept when the server closed the session
        page.wait_for_timeout(1_000)
        assert stats(page)["connects"] == 1  # no reconnect loop while the player is away
        draw(page, strokes[:3])  # the third stroke wakes it up
        page.wait_for_selector('#conn[data-state="connected"]', timeout=15_000)
        page.wait_for_function("window.doodle.state.strokes.length === 5", timeout=10_000)
        page.wait_for_function("window.doodle.stats.resumed === 1", timeout=10_000)
        page.click("#clear")
        page.wait_for_function("window.doodle.state.awaitingCleared === 0", timeout=10_000)
        wait_for(lambda: doodles(srv)[0]["strokes"] == 5 if doodles(srv) else False)
        assert len(doodles(srv)) == 1
    finally:
        srv.stop()


def test_clear_forgets_the_word_redo_comes_back_and_the_sprite_goes_with_a_new_stroke(
    server: ServerProcess, page: Page
) -> None:
    """Clear empties "What is it?"; Ctrl+Shift+Z, Ctrl+Y and the button redo; a new stroke hides the sprite."""
    open_pad(page, server)
    strokes = real_drawing("cat")[:3]
    draw(page, strokes)
    page.wait_for_function("window.doodle.stats.final >= 3", timeout=10_000)
    page.click("#sprite")
    page.locator("#sprite-box").wait_for(state="visible", timeout=10_000)
    line(page, [(0.1, 0.9), (0.3, 0.95)])
    assert page.locator("#sprite-box").is_hidden()
    page.wait_for_function("window.doodle.stats.final >= 4", timeout=10_000)
    for _ in range(3):
        page.click("#undo")
    assert page.locator("#meta-strokes").inner_text() == "1 stroke"
    page.keyboard.press("Control+Shift+Z")
    page.keyboard.press("Control+y")
    page.click("#redo")
    assert page.locator("#meta-strokes").inner_text() == "4 strokes" and page.locator("#redo").is_disabled()
    page.wait_for_function("document.querySelector('#meta-strokes').textContent === '4 strokes'")
    page.wait_for_function("window.doodle.stats.final >= 10", timeout=10_000)  # 4 + 3 undos + 3 redos
    page.keyboard.press("Control+z")
    assert page.locator("#meta-strokes").inner_text() == "3 strokes"  # Ctrl+Z still undoes
    page.fill("#word", "cat")
    page.click("#clear")
    assert page.locator("#word").input_value() == ""


def test_leaving_the_canvas_lifts_the_pen_and_the_meta_counts_the_stroke_being_drawn(
    server: ServerProcess, page: Page
) -> None:
    """A drag off the canvas and back is two strokes with no edge points; "stroke 2 · live" while drawing the 2nd."""
    open_pad(page, server)
    line(page, [(0.2, 0.5), (0.5, 0.5), (0.9, 0.5), (1.3, 0.5), (1.3, 0.8), (0.9, 0.8), (0.5, 0.8)])
    page.wait_for_function("window.doodle.stats.final >= 2", timeout=10_000)
    xs = page.evaluate("window.doodle.state.strokes.map(s => s.x)")
    assert len(xs) == 2 and max(max(x) for x in xs) < 1000, xs
    box = page.locator("#pad").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    page.mouse.down()
    for i in range(60):
        page.mouse.move(box["x"] + 50 + 4 * i, box["y"] + 50 + 3 * (i % 7))
        page.wait_for_timeout(15)
    page.wait_for_function("window.doodle.stats.live > 0", timeout=10_000)
    page.wait_for_function("document.querySelector('#meta-strokes').textContent === 'stroke 3 · live'")
    pcts = page.locator("#guess-list .guess-pct").all_inner_texts()
    page.mouse.up()
    assert pcts and "0%" not in pcts


@pytest.mark.parametrize("width", [320, 390])
def test_phone_widths_fit_without_sideways_scrolling(server: ServerProcess, browser: Browser, width: int) -> None:
    """At 320 and 390 px wide nothing scrolls sideways and Submit is wholly on screen."""
    pg = browser.new_page(viewport={"width": width, "height": 700}, has_touch=True)
    try:
        open_pad(pg, server)
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        for sel in ("#submit", ".pad", ".guesses", "#conn"):
            box = pg.locator(sel).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, box)
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"sketchpad_{width}.png"), full_page=True)
    finally:
        pg.close()


# ---------------------------------------------------------------- issue 15: accessibility


@pytest.fixture
def a11y_page(browser: Browser) -> Iterator[Page]:
    """A page that may inject axe into pages whose Content-Security-Policy allows only the server's scripts."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_sketchpad_has_no_axe_violations_and_announces_once_per_pen_up(server: ServerProcess, a11y_page: Page) -> None:
    """axe finds no violation of any impact (drawn, offline-free); the live region changes at most once per pen-up;
    the connection's state is a status region of its own (the badge's countdown is not in it)."""
    page = a11y_page
    open_pad(page, server)
    assert axe_violations(page) == []
    assert page.locator("#conn-say").get_attribute("role") == "status"
    assert page.locator("#conn-say").inner_text() == "Connected"
    assert page.locator("#conn").get_attribute("role") is None and page.locator("#conn").get_attribute("title") is None
    assert page.locator("#pad").get_attribute("role") == "img" and page.locator("#pad").get_attribute("aria-label")
    page.evaluate(
        """() => { window.announced = 0;
        new MutationObserver(() => window.announced++).observe(document.getElementById('announce'),
            {childList: true, characterData: true, subtree: true}); }"""
    )
    strokes = real_drawing("cat")
    draw(page, strokes, slow_first_stroke_ms=12)
    page.wait_for_function(f"window.doodle.stats.final >= {len(strokes)}", timeout=10_000)
    assert stats(page)["live"] >= 1
    assert 1 <= page.evaluate("window.announced") <= len(strokes)
    assert page.locator("#announce").inner_text().startswith("I think it's ")
    assert page.locator("#top-word").get_attribute("aria-live") is None
    assert axe_violations(page) == []


def test_everything_in_the_sketchpad_works_by_keyboard_with_a_visible_focus(server: ServerProcess, page: Page) -> None:
    """Tab reaches every control with a visible outline; Enter on Undo and Clear acts."""
    open_pad(page, server)
    draw(page, real_drawing("cat")[:2])
    page.wait_for_function("window.doodle.stats.final >= 2", timeout=10_000)
    seen = []
    for _ in range(20):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => { const e = document.activeElement; const s = getComputedStyle(e);
            return {id: e === document.body ? 'BODY' : e.id || e.textContent.trim(),
                    outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"""
        )
        if info["id"] == "BODY":
            break  # past the last control
        seen.append(info["id"])
        assert info["outline"] != "none" and info["width"] >= 2, info
    assert {"undo", "clear", "word", "submit", "sprite"} <= set(seen), seen
    page.focus("#undo")
    page.keyboard.press("Enter")
    assert page.locator("#meta-strokes").inner_text() == "1 stroke"
    page.focus("#clear")
    page.keyboard.press("Enter")
    assert page.locator("#meta-strokes").inner_text() == "no strokes yet"


# ---------------------------------------------------------------- issue 15: gallery and my drawings


def test_saved_links_to_the_drawing_my_drawings_deletes_it_and_gallery_pages_pass_axe(a11y_page: Page) -> None:
    """Submit -> "Saved as drawing #N" links to it; gallery, detail, mine and 404 pages pass axe; Delete works."""
    page = a11y_page
    srv = ServerProcess()
    try:
        open_pad(page, srv)
        ids = []
        for word in ("angel", "axe", "eye"):
            draw(page, real_drawing(word))
            page.wait_for_function("window.doodle.conn.inflight.size === 0", timeout=10_000)
            page.fill("#word", word)
            page.evaluate("document.getElementById('notice').replaceChildren()")  # not the last drawing's link
            page.click("#submit")
            link = page.locator("#notice a")
            link.wait_for(timeout=10_000)
            href = link.get_attribute("href")
            assert (
                href
                and href.startswith("/doodles/")
                and page.locator("#notice").inner_text() == (f"Saved as drawing #{href.rsplit('/', 1)[1]}")
            )
            ids.append(int(href.rsplit("/", 1)[1]))
            page.click("#clear")
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(srv.http + "/gallery?word=AX")  # forgiving: any case, part of the word
        page.wait_for_selector("canvas.thumb[data-drawn]")
        assert page.locator(".grid .card").count() == 1 and "axe" in page.locator(".grid .card").inner_text()
        page.goto(srv.http + "/gallery")
        page.wait_for_function("document.querySelectorAll('canvas.thumb[data-drawn]').length === 3")
        assert page.locator("a[href='/?mode=play']").count() >= 1 and page.locator(".legend").is_visible()
        assert axe_violations(page) == []
        page.screenshot(path=str(ARTIFACTS / "gallery_desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "gallery_phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(srv.http + f"/doodles/{ids[0]}")
        assert axe_violations(page) == []
        page.screenshot(path=str(ARTIFACTS / "detail_desktop.png"), full_page=True)
        page.goto(srv.http + "/doodles/999999")
        assert axe_violations(page) == [] and "404" in page.title()

        page.goto(srv.http + "/gallery/mine")
        cards = page.locator("#mine .mine-item")
        page.wait_for_selector("#mine[data-loaded]")
        assert cards.count() == 3
        assert axe_violations(page) == []
        page.on("dialog", lambda d: d.accept())
        page.click(f"text=Delete #{ids[1]}")
        page.wait_for_function(
            f"document.getElementById('mine-status').textContent === 'Drawing #{ids[1]} is deleted.'"
        )
        assert sorted(d["id"] for d in doodles(srv)) == [ids[0], ids[2]]
        page.reload()
        page.wait_for_selector("#mine[data-loaded]")
        assert cards.count() == 2  # forgotten in this browser too
    finally:
        srv.stop()


def test_my_drawings_lists_a_drawing_kept_at_a_clear_and_deletes_it(page: Page) -> None:
    """A drawing never submitted but kept when cleared is in "my drawings" (asked with `mine`) and can be deleted."""
    srv = ServerProcess()
    try:
        open_pad(page, srv)
        draw(page, real_drawing("eye"))
        page.wait_for_function("window.doodle.conn.inflight.size === 0", timeout=10_000)
        page.click("#clear")
        wait_for(lambda: len(doodles(srv)) == 1)
        kept = doodles(srv)[0]["id"]
        page.goto(srv.http + "/gallery/mine")
        page.wait_for_selector("#mine[data-loaded]")
        assert page.locator("#mine .mine-item").count() == 1
        page.on("dialog", lambda d: d.accept())
        page.click(f"text=Delete #{kept}")
        page.wait_for_function(f"document.getElementById('mine-status').textContent === 'Drawing #{kept} is deleted.'")
        assert doodles(srv) == []
    finally:
        srv.stop()
