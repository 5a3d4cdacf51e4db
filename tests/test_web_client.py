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
from server import quickdraw
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, RAW, ROOT, ServerProcess, http_get

get = http_get

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "artifacts"

MSGPACK_JS = ROOT / "web_client/node_modules/@msgpack/msgpack/dist.umd/msgpack.min.js"

if not Path(CHROMIUM).exists() or not MSGPACK_JS.exists():
    pytest.skip(
        "needs Debian chromium and the web client's npm packages (bash scripts/setup.sh)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    pg = browser.new_page(viewport={"width": 1200, "height": 820})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def real_drawing(word: str = "cat") -> list[list[list[float]]]:
    """The first raw Quick, Draw! drawing of ``word`` (strokes of [x, y, t])."""
    first = next(quickdraw.read_file(RAW / f"{word}.ndjson"))
    return first.to_json()["drawing"]  # type: ignore[no-any-return]


def stats(page: Page) -> dict[str, int]:
    return page.evaluate("({...window.doodle.stats})")  # type: ignore[no-any-return]


def open_pad(page: Page, srv: ServerProcess) -> None:
    page.goto(srv.http + "/")
    page.wait_for_selector('#conn[data-state="connected"]', timeout=15_000)


def draw(page: Page, strokes: list[list[list[float]]], *, slow_first_stroke_ms: int = 0) -> None:
    """Draw ``strokes`` with real mouse events, scaled and centred into the canvas with a 10% margin.

    With ``slow_first_stroke_ms`` the first stroke pauses that long between moves and the
    pen stays down until a live guess has arrived.
    """
    box = page.locator("#pad").bounding_box()
    assert box is not None
    xs = [x for s in strokes for x in s[0]]
    ys = [y for s in strokes for y in s[1]]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1)
    k = box["width"] * 0.8 / span

    left = box["x"] + box["width"] * 0.1 + (span - (max(xs) - min(xs))) * k / 2  # centred
    top = box["y"] + box["height"] * 0.1 + (span - (max(ys) - min(ys))) * k / 2

    def at(x: float, y: float) -> tuple[float, float]:
        return left + (x - min(xs)) * k, top + (y - min(ys)) * k

    for i, s in enumerate(strokes):
        page.mouse.move(*at(s[0][0], s[1][0]))
        page.mouse.down()
        for x, y in zip(s[0][1:], s[1][1:], strict=True):
            page.mouse.move(*at(x, y))
            if i == 0 and slow_first_stroke_ms:
                page.wait_for_timeout(slow_first_stroke_ms)
        if i == 0 and slow_first_stroke_ms:
            page.wait_for_function("window.doodle.stats.live > 0", timeout=5_000)
            assert page.locator("#guess-list").get_attribute("data-live") == "true"
            assert page.locator("#guess-list li").count() == 5
        page.mouse.up()


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
    for path in ("/vendor/../server/app.py", "/vendor/msgpack.js", "/node_modules/.package-lock.json"):
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
    assert len(guesses) == 5 and len({w for w, _ in guesses}) == 5
    assert all(0 <= s <= 1 for _, s in guesses) and [s for _, s in guesses] == sorted(
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
    assert len(shown_guesses(page)) == 5 and 0 < ink_pixels(page) < before

    page.click("#clear")
    page.wait_for_function("window.doodle.state.awaitingCleared === 0", timeout=10_000)
    assert page.locator("#guess-list li").count() == 0 and ink_pixels(page) == 0
    assert page.locator("#hint").is_visible() and page.locator("#meta-strokes").inner_text() == "no strokes yet"

    page.set_viewport_size({"width": 390, "height": 844})
    draw(page, strokes)
    page.wait_for_function(f"window.doodle.stats.final >= {2 * n + 1}", timeout=10_000)
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


def test_reconnects_after_server_restart_and_replays_the_drawing(page: Page) -> None:
    """Server stopped: indicator goes offline; a new server on the same port: it reconnects, guesses come back."""
    first = ServerProcess()
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
        page.evaluate("document.getElementById('guess-list').replaceChildren()")
        second = ServerProcess("--port", str(port))
        assert second.port == port
        page.wait_for_selector('#conn[data-state="connected"]', timeout=45_000)
        page.wait_for_function(f"window.doodle.stats.final >= {2 * n}", timeout=10_000)
        st = stats(page)
        assert st["connects"] == 2 and st["replayed"] == n
        assert page.locator("#meta-strokes").inner_text() == f"{n} strokes"
        again = shown_guesses(page)  # same strokes, same model: the same answer
        assert [w for w, _ in again] == [w for w, _ in guesses]
        assert [s for _, s in again] == pytest.approx([s for _, s in guesses], abs=2e-3)
    finally:
        first.stop()
        if second is not None:
            second.stop()
