"""The history over HTTP, on the server's own port: gallery pages, JSON API, pictures.

Routes (all GET; every parameter is checked, a bad one answers 400 JSON
``{"error", "status"}``, an unknown id 404 JSON):

* ``/gallery?word=&before=&limit=``: HTML thumbnails, newest first, filtered by label
  (the player's word, else the final guess), paged by id.
* ``/doodles/ID``: HTML detail page: the strokes replayed on a canvas with their stored
  timing (``/gallery/replay.js``) and the guesses after each stroke.
* ``/api/doodles?word=&limit=&before=``: JSON page ``{"doodles": [...], "next_before"}``.
* ``/api/doodles/ID``: JSON record (strokes, guess lists, final top-5, ...).
* ``/doodles/ID.png?size=``: opaque thumbnail; ``/doodles/ID/sprite.png?size=&color=&width=``:
  the transparent sprite (:mod:`server.sprite`).

Every user-provided string (word, client kind, guesses) is HTML-escaped; pages carry a
Content-Security-Policy that allows only this server's own script and style files.
Pictures are rendered off the event loop.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from server.errors import BadSprite, InvalidField, NotFound
from server.http import json_response, respond, static_file
from server.limits import MAX_PAGE, MAX_SPRITE_PX, MAX_WORD_CHARS, MIN_SPRITE_PX
from server.sprite import parse_sprite_options, sprite_png, thumbnail_png
from server.store import Doodle, DoodleInfo

if TYPE_CHECKING:
    from server.app import DoodleServer
    from server.history import History

Query = dict[str, list[str]]

STATIC = Path(__file__).resolve().parent / "static"
#: Drawings on one gallery page or API page when ``limit`` is not given, in drawings.
DEFAULT_PAGE = 48
#: Side of a gallery thumbnail when ``size`` is not given, in pixels.
THUMB_PX = 160
#: How long browsers may cache a stored drawing's picture, in seconds.
PICTURE_CACHE_S = 300
#: Longest query parameter value looked at, in characters (longer ones are refused).
MAX_PARAM_CHARS = 256

CSP = (
    "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_DOODLE_PATH = re.compile(r"/doodles/([1-9][0-9]{0,17})(\.png|/sprite\.png)?")
_API_PATH = re.compile(r"/api/doodles/([1-9][0-9]{0,17})")
_INT = re.compile(r"[0-9]{1,18}")
_NUMBER = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4})?")


# ---------------------------------------------------------------- parameters


def _param(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidField(f"'{name}' is given more than once")
    if len(values[0]) > MAX_PARAM_CHARS:
        raise InvalidField(f"'{name}' is longer than {MAX_PARAM_CHARS} characters")
    return values[0]


def _int_param(query: Query, name: str, lo: int, hi: int, default: int | None) -> int | None:
    v = _param(query, name)
    if v is None or v == "":
        return default
    if not _INT.fullmatch(v) or not lo <= int(v) <= hi:
        raise InvalidField(f"'{name}' must be an integer from {lo} to {hi}")
    return int(v)


def _word_param(query: Query) -> str | None:
    v = _param(query, "word")
    if v is None or not v.strip():
        return None
    v = v.strip()
    if len(v) > MAX_WORD_CHARS:
        raise InvalidField(f"'word' must hold at most {MAX_WORD_CHARS} characters")
    return v


def _page_params(query: Query) -> tuple[str | None, int, int | None]:
    word = _word_param(query)
    limit = _int_param(query, "limit", 1, MAX_PAGE, DEFAULT_PAGE)
    before = _int_param(query, "before", 1, 2**63 - 1, None)
    assert limit is not None
    return word, limit, before


def _sprite_params(query: Query) -> tuple[int | None, str | None, float | None]:
    """``size``, ``color`` and ``width`` as numbers and text (ranges are checked by the sprite module)."""
    size_s, width_s = _param(query, "size"), _param(query, "width")
    if size_s is not None and not _INT.fullmatch(size_s):
        raise BadSprite(f"'size' must be an integer from {MIN_SPRITE_PX} to {MAX_SPRITE_PX} (pixels)")
    if width_s is not None and not _NUMBER.fullmatch(width_s):
        raise BadSprite("'width' must be a number of pixels, e.g. 4 or 2.5")
    size = int(size_s) if size_s is not None else None
    width = float(width_s) if width_s is not None else None
    return size, _param(query, "color"), width


# ---------------------------------------------------------------- HTML


def _strokes(n: int) -> str:
    return f"{n} stroke" if n == 1 else f"{n} strokes"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _page(title: str, body: str) -> Response:
    doc = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/gallery/gallery.css"></head>\n'
        f"<body>{body}</body></html>\n"
    )
    response = respond(200, doc, "text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    return response


def _header(word: str | None) -> str:
    value = html.escape(word or "", quote=True)
    return (
        '<header><h1><a href="/gallery">Doodle gallery</a></h1>'
        '<form method="get" action="/gallery" role="search">'
        f'<input type="search" name="word" value="{value}" maxlength="{MAX_WORD_CHARS}" '
        'placeholder="filter by word" aria-label="word">'
        "<button>Filter</button></form></header>"
    )


def _card(d: DoodleInfo) -> str:
    label = html.escape(d.label or "?")
    note = "player's word" if d.word is not None else "guessed"
    guess = html.escape(d.guess or "no guess")
    return (
        f'<a class="card{" ok" if d.recognized else ""}" href="/doodles/{d.id}">'
        f'<img src="/doodles/{d.id}.png" width="{THUMB_PX}" height="{THUMB_PX}" loading="lazy" '
        f'alt="doodle {d.id}: {label}">'
        f'<span class="label">{label}</span>'
        f'<span class="meta">{note} · guess: {guess} · {_strokes(d.strokes)}</span>'
        f'<span class="meta">#{d.id} · {_when(d.created_at)}</span></a>'
    )


def gallery_html(items: list[DoodleInfo], *, word: str | None, limit: int, before: int | None) -> str:
    """The body of a gallery page."""
    if items:
        grid = '<main class="grid">' + "".join(_card(d) for d in items) + "</main>"
    elif word:
        grid = f'<main><p class="empty">No drawings of “{html.escape(word)}” yet.</p></main>'
    else:
        grid = '<main><p class="empty">No drawings yet.</p></main>'
    base: dict[str, str | int] = {"word": word} if word else {}
    if limit != DEFAULT_PAGE:
        base["limit"] = limit
    links = []
    if before is not None:
        links.append(f'<a href="/gallery?{html.escape(urlencode(base))}">Newest</a>')
    if len(items) == limit:
        older = urlencode({**base, "before": items[-1].id})
        links.append(f'<a rel="next" href="/gallery?{html.escape(older)}">Older →</a>')
    return _header(word) + grid + '<nav class="pages">' + " ".join(links) + "</nav>"


def _guess_cells(guesses: list[dict[str, Any]]) -> str:
    return "".join(
        f"<td>{html.escape(str(g.get('word', '?')))} <small>{float(g.get('score', 0.0)):.2f}</small></td>"
        for g in guesses
    )


def detail_html(d: Doodle) -> str:
    """The body of a drawing's page."""
    label = html.escape(d.label or "?")
    said = html.escape(d.word) if d.word is not None else "<em>not given</em>"
    duration = max((s[2][-1] for s in d.drawing if len(s) > 2 and s[2]), default=0) / 1000
    rows = "".join(
        f'<tr data-strokes="{int(g.get("strokes", 0))}"><th>after stroke {int(g.get("strokes", 0))}</th>'
        f"{_guess_cells(list(g.get('guesses', [])))}</tr>"
        for g in d.guesses
    )
    final = html.escape(d.guess or "no guess")
    return (
        _header(None)
        + f'<main class="detail"><h2>#{d.id}: {label}{" ✓" if d.recognized else ""}</h2>'
        + '<div class="replay">'
        + f'<canvas id="replay" width="480" height="480" data-id="{d.id}" aria-label="replay of doodle {d.id}">'
        + "</canvas>"
        + '<p><button id="play" type="button">Replay</button> '
        + f'<a href="/doodles/{d.id}/sprite.png">sprite PNG</a> · <a href="/api/doodles/{d.id}">JSON</a></p></div>'
        + '<dl class="facts">'
        + f"<dt>Player's word</dt><dd>{said}</dd>"
        + f"<dt>Final guess</dt><dd>{final}</dd>"
        + f"<dt>Strokes</dt><dd>{_strokes(d.strokes)} in {duration:.1f} s</dd>"
        + f"<dt>Client</dt><dd>{html.escape(d.client or 'unknown')}</dd>"
        + f"<dt>Kept on</dt><dd>{html.escape(d.reason)}, {_when(d.created_at)}</dd></dl>"
        + '<table id="guesses"><caption>Guesses after each stroke</caption>'
        + f"{rows or '<tr><td>none</td></tr>'}</table>"
        + "</main>"
        + '<script src="/gallery/replay.js"></script>'
    )


# ---------------------------------------------------------------- routes


def register(server: DoodleServer, history: History) -> None:
    """Add the gallery's routes to ``server``."""

    async def picture(fn: Any, *args: Any) -> Response:
        png = await asyncio.get_running_loop().run_in_executor(None, fn, *args)
        return respond(200, png, "image/png", cache_s=PICTURE_CACHE_S)

    async def gallery(_s: DoodleServer, _c: ServerConnection, _r: Request, query: Query) -> Response:
        word, limit, before = _page_params(query)
        items = await history.store.page(word=word, limit=limit, before=before)
        title = f"Doodles: {word}" if word else "Doodle gallery"
        return _page(title, gallery_html(items, word=word, limit=limit, before=before))

    async def api_list(_s: DoodleServer, _c: ServerConnection, _r: Request, query: Query) -> Response:
        word, limit, before = _page_params(query)
        items = await history.store.page(word=word, limit=limit, before=before)
        return json_response(
            {
                "doodles": [{**d.public(), "png": f"/doodles/{d.id}.png", "page": f"/doodles/{d.id}"} for d in items],
                "next_before": items[-1].id if len(items) == limit else None,
            }
        )

    async def api_one(_s: DoodleServer, _c: ServerConnection, request: Request, query: Query) -> Response:
        m = _API_PATH.fullmatch(request.path.split("?", 1)[0])
        if m is None:
            raise NotFound("no such drawing; ids are positive integers")
        return json_response((await history.get(int(m.group(1)))).public())

    async def doodle(_s: DoodleServer, _c: ServerConnection, request: Request, query: Query) -> Response:
        m = _DOODLE_PATH.fullmatch(request.path.split("?", 1)[0])
        if m is None:
            raise NotFound("no such page; try /doodles/ID, /doodles/ID.png or /doodles/ID/sprite.png")
        doodle_id, kind = int(m.group(1)), m.group(2)
        if kind is None:
            d = await history.get(doodle_id)
            return _page(f"Doodle #{d.id}: {d.label or '?'}", detail_html(d))
        if kind == ".png":
            size = _int_param(query, "size", MIN_SPRITE_PX, MAX_SPRITE_PX, THUMB_PX)
            d = await history.get(doodle_id)
            return await picture(thumbnail_png, d.drawing, size)
        options = parse_sprite_options(*_sprite_params(query))
        d = await history.get(doodle_id)
        return await picture(sprite_png, d.drawing, options)

    def asset(name: str) -> Any:
        def serve(_s: DoodleServer, _c: ServerConnection, _r: Request, _q: Query) -> Response:
            return static_file(STATIC, name, cache_s=PICTURE_CACHE_S)

        return serve

    server.routes["/gallery"] = gallery
    server.routes["/gallery/"] = gallery
    server.routes["/gallery/replay.js"] = asset("replay.js")
    server.routes["/gallery/gallery.css"] = asset("gallery.css")
    server.routes["/api/doodles"] = api_list
    server.prefix_routes["/api/doodles/"] = api_one
    server.prefix_routes["/doodles/"] = doodle
