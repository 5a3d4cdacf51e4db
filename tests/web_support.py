"""Helpers of the browser tests (test_web_client.py, test_play.py): real drawings drawn with the mouse, axe-core,
the page's counters, the history's drawings."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from server import quickdraw
from tests.conftest import RAW, ROOT, ServerProcess, http_get

if TYPE_CHECKING:
    from playwright.sync_api import Page

ARTIFACTS = ROOT / "artifacts"
MSGPACK_JS = ROOT / "web_client/node_modules/@msgpack/msgpack/dist.umd/msgpack.min.js"
AXE_JS = ROOT / "web_client/node_modules/axe-core/axe.min.js"
#: axe rule sets checked: WCAG 2.0/2.1 A and AA (contrast among them) and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def real_drawing(word: str = "cat", index: int = 0) -> list[list[list[float]]]:
    """The ``index``-th raw Quick, Draw! drawing of ``word`` (strokes of [x, y, t])."""
    for i, d in enumerate(quickdraw.read_file(RAW / f"{word}.ndjson")):
        if i == index:
            return d.to_json()["drawing"]  # type: ignore[no-any-return]
    raise LookupError(f"no drawing {index} of {word}")


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
            assert 1 <= page.locator("#guess-list li").count() <= 5
        page.mouse.up()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of any impact."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(  # type: ignore[no-any-return]
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations
        .map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 4).map(n => n.target.join(' '))}))""",
        AXE_TAGS,
    )


def doodles(srv: ServerProcess) -> list[dict[str, Any]]:
    """The drawings the server's history keeps now, newest first."""
    status, body, _ = http_get(srv.http + "/api/doodles?limit=100")
    assert status == 200, body
    return json.loads(body)["doodles"]  # type: ignore[no-any-return]


def wait_for(check: Any, timeout_s: float = 10.0) -> None:
    """Poll ``check()`` until it is true (the server's history writes off the loop)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


#: Counts text changes of every live region (aria-live, role status/alert) by id, in window.announced, and keeps
#: what each said in window.said (run with page.add_init_script before the page loads).
COUNT_ANNOUNCEMENTS = """
window.announced = {}; window.said = [];
document.addEventListener('DOMContentLoaded', () => {
  for (const el of document.querySelectorAll('[aria-live], [role=status], [role=alert]')) {
    let last = el.textContent;
    new MutationObserver(() => {
      if (el.textContent === last) return;
      last = el.textContent;
      window.announced[el.id] = (window.announced[el.id] || 0) + 1;
      window.said.push([el.id, el.textContent]);
    }).observe(el, {childList: true, characterData: true, subtree: true});
  }
});
"""
