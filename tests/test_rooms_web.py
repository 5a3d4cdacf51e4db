"""The browser's rooms (web_client/room.html, room.js): three Chromium contexts play a whole game with the AI.

The server runs in the test's event loop with the shipped model; the drawers draw real raw
drawings with mouse events; the guessers type by keyboard.  Screenshots go to artifacts/.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from server import quickdraw
from server.app import DoodleServer, ServerConfig
from server.rooms.feature import Rooms
from server.web import WebClient
from tests.conftest import CHROMIUM, MODEL_DIR, RAW, ROOT
from tests.support import FakeModel

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "artifacts"
MSGPACK_JS = ROOT / "web_client/node_modules/@msgpack/msgpack/dist.umd/msgpack.min.js"
AXE_JS = ROOT / "web_client/node_modules/axe-core/axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
#: A name that would be markup if it were ever put in as HTML.
HOSTILE_NAME = "<i>Bob</i><script>"

if not Path(CHROMIUM).exists() or not MSGPACK_JS.exists():
    pytest.skip("needs Debian chromium and the web client's npm packages (scripts/setup.sh)", allow_module_level=True)


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """The shipped model with the sketchpad's files and the rooms (a 1 s pause between turns, seeded words)."""
    config = ServerConfig(host="127.0.0.1", port=0, model_dir=MODEL_DIR)
    rooms = Rooms(config.limits, gap_s=1.0, rng=random.Random(3))
    srv = DoodleServer(config, features=[WebClient(config.web_root), rooms])
    await srv.start()
    yield f"http://127.0.0.1:{srv.port}"
    await srv.close()


async def new_page(browser: Browser, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


async def draw(page: Page, drawing: quickdraw.Drawing) -> None:
    """Draw ``drawing`` with real mouse events, scaled into the canvas with a 10% margin."""
    box = await page.locator("#pad").bounding_box()
    assert box is not None
    xs = [x for s in drawing.strokes for x in s.x]
    ys = [y for s in drawing.strokes for y in s.y]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1)
    k = box["width"] * 0.8 / span
    for s in drawing.strokes:
        points = [
            (box["x"] + box["width"] * 0.1 + (x - min(xs)) * k, box["y"] + box["height"] * 0.1 + (y - min(ys)) * k)
            for x, y in zip(s.x, s.y, strict=True)
        ]
        await page.mouse.move(*points[0])
        await page.mouse.down()
        for p in points[1:]:
            await page.mouse.move(*p)
        await page.mouse.up()


async def ink(page: Page) -> int:
    return await page.evaluate(  # type: ignore[no-any-return]
        """() => { const c = document.getElementById('pad');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE_JS))
    found = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations",
        AXE_TAGS,
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


async def test_three_browsers_play_a_whole_game_with_the_ai(site: str, async_browser: Browser) -> None:
    """Create, share the link, join by keyboard, start; each player draws a real drawing the others watch live and
    guess by typing; a dropped guesser rejoins its seat with the drawing replayed; scores, rounds, game over; names
    are text, never HTML; what a screen reader hears; axe finds nothing serious."""
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    ann, bob, cy = [await new_page(async_browser, errors) for _ in range(3)]
    await ann.goto(site + "/r")
    await ann.wait_for_selector('#conn[data-state="connected"]')
    assert await axe_violations(ann) == []
    await ann.fill("#create-name", "Ann")
    await ann.select_option("#create-rounds", "1")
    await ann.select_option("#create-seconds", "120")
    await ann.click("#create")
    await ann.wait_for_selector("#room:not([hidden])")
    link = await ann.input_value("#share-link")
    code = link.rsplit("/", 1)[1]
    assert link == f"{site}/r/{code}" and ann.url == link
    for page, name in ((bob, HOSTILE_NAME), (cy, "Cy")):
        await page.goto(link)
        await page.wait_for_selector('#conn[data-state="connected"]')
        assert await page.input_value("#join-code") == code
        await page.focus("#join-name")
        await page.keyboard.type(name)
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#room:not([hidden])")
    await ann.wait_for_function("document.querySelectorAll('#players li').length === 4")
    names = await ann.locator("#players .name").all_inner_texts()
    assert names == ["AI", "Ann", HOSTILE_NAME, "Cy"]
    assert await ann.locator("#players i, #players script").count() == 0
    await ann.screenshot(path=str(ARTIFACTS / "rooms_lobby.png"))
    assert await axe_violations(ann) == []
    await ann.focus("#start")
    await ann.keyboard.press("Enter")
    pages = {"Ann": ann, "Bob": bob, "Cy": cy}
    drawers = []
    for turn in range(1, 4):
        for page in pages.values():
            await page.wait_for_function(f"window.room.stats.turns >= {turn} && !window.room.state.turnOver")
        visible = {n: await p.is_visible("#draw-tools") for n, p in pages.items()}
        (drawer_name,) = (n for n, shown in visible.items() if shown)
        drawers.append(drawer_name)
        drawer = pages[drawer_name]
        word = (await drawer.inner_text("#turn-word")).removeprefix("Draw: ")
        guessers = [p for n, p in pages.items() if n != drawer_name]
        for g in guessers:
            assert word not in await g.inner_text("#turn-word")
            heard = await g.inner_text("#announce")
            assert "is drawing. The word has" in heard and "letter" in heard
        assert (await drawer.inner_text("#announce")).startswith(f"Your turn to draw: {word}.")
        await draw(drawer, next(quickdraw.read_file(RAW / f"{word}.ndjson", limit=1)))
        for g in guessers:
            await g.wait_for_function("window.room.stats.ai > 0 && window.room.state.strokes.length > 0")
            assert await ink(g) > 500
        first, second = guessers
        if turn == 1:
            await drawer.screenshot(path=str(ARTIFACTS / "rooms_drawer.png"))
            await first.screenshot(path=str(ARTIFACTS / "rooms_guesser.png"))
            assert await axe_violations(first) == []
            # A drop: the guesser's socket closes; it reconnects, takes its seat back, the drawing is replayed.
            strokes = await second.evaluate("window.room.state.strokes.length")
            await second.evaluate("window.room.state.ws.close()")
            await second.wait_for_function("window.room.stats.connects === 2 && window.room.stats.turns >= 1")
            await second.wait_for_function(f"window.room.state.strokes.length === {strokes}")
            assert await ink(second) > 500
        await first.fill("#guess", "zebra")
        await first.press("#guess", "Enter")
        await second.wait_for_function("document.querySelector('#feed').textContent.includes(': zebra')")
        await first.fill("#guess", word.upper())
        await first.press("#guess", "Enter")
        await first.wait_for_function("document.querySelector('#announce').textContent.startsWith('Right!')")
        feed = await second.inner_text("#feed")
        assert "guessed the word!" in feed and word.upper() not in feed
        await second.fill("#guess", word)
        await second.press("#guess", "Enter")
        for page in pages.values():
            await page.wait_for_function("window.room.state.turnOver")
            assert f"the word was “{word}”" in await page.inner_text("#turn-title")
            await page.wait_for_function(
                "w => document.querySelector('#announce').textContent.includes(`The word was ${w}.`)", arg=word
            )
    assert sorted(drawers) == ["Ann", "Bob", "Cy"]
    for page in pages.values():
        await page.wait_for_function("document.querySelector('#turn-title').textContent === 'Game over'")
        await page.wait_for_function("document.querySelector('#announce').textContent.includes('wins with')")
    await cy.screenshot(path=str(ARTIFACTS / "rooms_game_over.png"))
    scores = await ann.locator("#result li").all_inner_texts()
    assert len(scores) == 4 and all(int(s.rsplit(": ", 1)[1]) >= 0 for s in scores)
    assert sum(int(s.rsplit(": ", 1)[1]) > 0 for s in scores) >= 3  # every human scored (guessing, drawing)
    assert await ann.is_visible("#start")  # back in the lobby: the host may start again
    assert not errors, errors


async def test_a_server_without_rooms_says_so_plainly(async_browser: Browser) -> None:
    """A server whose welcome offers no rooms (as a --workers worker's): /r/CODE says so, and how an operator turns
    them on, instead of the forms; nothing else is shown, the screen reader hears it, axe finds nothing serious."""
    config = ServerConfig(host="127.0.0.1", port=0)
    srv = DoodleServer(config, model=FakeModel(), features=[WebClient(config.web_root)])
    await srv.start()
    errors: list[str] = []
    try:
        page = await new_page(async_browser, errors)
        await page.goto(f"http://127.0.0.1:{srv.port}/r/ABCD-EFGH")
        await page.wait_for_selector("#no-rooms:not([hidden])")
        text = await page.inner_text("#no-rooms")
        assert "This server does not offer rooms" in text
        assert "--workers 1" in text and "HAProxy" in text and "--room-prefix" in text
        assert not await page.is_visible("#entry") and not await page.is_visible("#room")
        assert await page.inner_text("#conn-text") == "No rooms on this server"
        await page.wait_for_function("document.querySelector('#announce').textContent.includes('does not offer')")
        assert await page.evaluate("document.activeElement.id") == "no-rooms-title"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "rooms_not_offered.png"))
        assert await axe_violations(page) == []
        await page.wait_for_function("window.room.state.ws === null")  # the socket is closed, not reopened
        assert not errors, errors
    finally:
        await srv.close()
