"""The doodle history over HTTP, on the server's own port: gallery pages, JSON API, pictures.

Routes (all GET/HEAD; every parameter is checked: a bad one answers 400, an unknown id
404; as small HTML pages on browser routes, as JSON ``{"error", "status"}`` under
``/api/``; a database that fails to read answers 500 everywhere):

* ``/gallery?word=&before=&limit=``: HTML cards, newest first, filtered by label (the
  player's word, else the final guess), paged by id.  The page draws each thumbnail
  itself on a small canvas from the JSON API's strokes (``/gallery/gallery.js``), so a
  gallery view costs the page and one API call beyond its static files.
* ``/doodles/ID``: HTML detail page: the strokes replayed (centred) on a canvas with their
  stored timing (``/gallery/replay.js``), the guesses after each stroke, and in plain
  words where it was drawn and why it was kept.
* ``/gallery/mine``: "my drawings": the drawings this browser made (their ids and keys
  are in its ``localStorage``, kept by the sketchpad), each with a Delete button that
  sends ``delete`` with the key over the socket (``/gallery/mine.js``; the HTTP side
  serves only GET).
* Every page has the sketchpad's look and links (Play, Sketchpad, Gallery, My drawings),
  a legend of what the labels mean, and says what the server keeps and who sees it
  (``--keep``; a token without ``--public-gallery`` keeps the gallery to its holders).
* ``/api/privacy`` (public, so the sketchpad can show it to anyone): what the server keeps and
  who sees it, ``{"keep", "public_gallery", "text"}``; ``text`` is the sentence every gallery
  page ends with (:func:`privacy_text`).
* ``/api/doodles?word=&limit=&before=``: JSON page ``{"doodles": [...], "next_before"}``,
  each item with its strokes.
* ``/api/doodles/ID``: JSON record (strokes, guess lists, final top-5, ...).
* ``/doodles/ID.png?size=``: opaque thumbnail; ``/doodles/ID/sprite.png?size=&color=&width=``:
  the transparent sprite (:mod:`server.history.sprite`).

Every route but ``/api/privacy`` is :attr:`server.plugin.Access.GALLERY`: with a server token they need it
(Bearer header, the cookie a token link sets, or ``?token=``) unless ``--public-gallery``.

It reads through a :class:`server.history.store.DoodleReader` only.  HTML comes from the
Jinja2 templates in ``templates/`` (autoescaped); pages carry a Content-Security-Policy
that allows only this server's own script and style files.  Pictures, JSON bodies and
pages that carry strokes are made off the event loop (a worker thread); records are
at most ``max_record_bytes``, so each costs a bounded time there.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from websockets.http11 import Response

from server.errors import InvalidField
from server.history.errors import BadSprite
from server.history.sprite import parse_sprite_options, sprite_png, thumbnail_png
from server.history.store import DoodleReader
from server.http import html_response, json_response, respond, static_file, templates
from server.limits import MAX_PAGE, MAX_SPRITE_PX, MAX_WORD_CHARS, MIN_SPRITE_PX
from server.plugin import Access, Endpoint, HttpRequest, Registry

Query = Mapping[str, list[str]]
T = TypeVar("T")

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
#: Files of ``static/`` served under ``/gallery/``.
ASSETS = ("gallery.css", "gallery.js", "replay.js", "mine.js")
#: Drawings on one gallery page or API page when ``limit`` is not given, in drawings.
DEFAULT_PAGE = 48
#: Side of a gallery thumbnail (the canvas, and the PNG when ``size`` is not given), in pixels.
THUMB_PX = 160
#: Side of the replay canvas on a drawing's page, in pixels.
REPLAY_PX = 480
#: How long browsers may cache a stored drawing's picture or a gallery asset, in seconds.
PICTURE_CACHE_S = 300
#: Longest query parameter value looked at, in characters (longer ones are refused).
MAX_PARAM_CHARS = 256
#: Largest drawing id in a URL (SQLite's integer range).
MAX_ID = 2**63 - 1

_INT = re.compile(r"[0-9]{1,18}")
_NUMBER = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4})?")
_pages = templates(HERE / "templates")


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
    before = _int_param(query, "before", 1, MAX_ID, None)
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


# ---------------------------------------------------------------- HTML helpers


def strokes_text(n: int) -> str:
    return f"{n} stroke" if n == 1 else f"{n} strokes"


def when_text(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


#: Where a drawing was made, in plain words (``client`` as the client named itself).
CLIENT_WORDS = {"web": "the web sketchpad", "unity": "the Unity client", "replay": "the replay tool"}
#: Why a drawing was kept, in plain words (its ``reason``).
REASON_WORDS = {
    "submit": "the player submitted it",
    "clear": "the player cleared the canvas for a new drawing",
    "disconnect": "the player left with it on the canvas",
    "shutdown": "it was on the canvas when the server stopped",
}


def client_text(client: str | None) -> str:
    return CLIENT_WORDS.get(client or "", f"a client that calls itself “{client}”" if client else "an unnamed client")


def reason_text(reason: str) -> str:
    return REASON_WORDS.get(reason, reason)


_pages.filters["strokes"] = strokes_text
_pages.filters["when"] = when_text
_pages.filters["client_text"] = client_text
_pages.filters["reason_text"] = reason_text


def _page_links(word: str | None, limit: int, before: int | None, last_id: int | None) -> dict[str, str | None]:
    base: dict[str, str | int] = {"word": word} if word else {}
    if limit != DEFAULT_PAGE:
        base["limit"] = limit
    newest = "/gallery?" + urlencode(base) if before is not None else None
    older = "/gallery?" + urlencode({**base, "before": last_id}) if last_id is not None else None
    return {"newest": newest, "older": older}


# ---------------------------------------------------------------- routes


def privacy_text(*, keep: str, public: bool) -> str:
    """What the server keeps and who sees it, in one sentence (gallery pages and the sketchpad)."""
    kept = (
        "This server keeps every drawing made on it, submitted or not,"
        if keep == "all"
        else "This server keeps the drawings players submit,"
    )
    shown = (
        "and shows them to anyone in its gallery." if public else "and shows them only to people with its access token."
    )
    return f"{kept} {shown}"


def _id(request: HttpRequest) -> int:
    return int(request.params["doodle_id"])


class Gallery:
    """The history's HTTP routes over a read-only store (see module docstring)."""

    def __init__(self, reader: DoodleReader, *, keep: str = "all", public: bool = True) -> None:
        self.reader = reader
        #: What every page says about privacy.
        self.site = {"keep": keep, "public": public, "privacy": privacy_text(keep=keep, public=public)}

    def install(self, registry: Registry) -> None:
        doodle = f"<int(min=1, max={MAX_ID}):doodle_id>"
        routes: list[tuple[str, Endpoint]] = [
            ("/gallery", self.gallery),
            ("/gallery/", self.gallery),
            ("/gallery/mine", self.mine),
            *((f"/gallery/{name}", self._asset(name)) for name in ASSETS),
            ("/api/doodles", self.api_list),
            (f"/api/doodles/{doodle}", self.api_one),
            (f"/doodles/{doodle}", self.detail),
            (f"/doodles/{doodle}.png", self.thumbnail),
            (f"/doodles/{doodle}/sprite.png", self.sprite),
        ]
        for rule, endpoint in routes:  # the players' drawings: the token's, unless --public-gallery
            registry.route(rule, endpoint, access=Access.GALLERY)
        registry.route("/api/privacy", self.api_privacy, access=Access.PUBLIC)

    async def api_privacy(self, request: HttpRequest) -> Response:
        return json_response(
            {"keep": self.site["keep"], "public_gallery": self.site["public"], "text": self.site["privacy"]}
        )

    @staticmethod
    def _asset(name: str) -> Endpoint:
        async def serve(_request: HttpRequest) -> Response:
            return static_file(STATIC, name, cache_s=PICTURE_CACHE_S)

        return serve

    @staticmethod
    async def _picture(render: Callable[[list[Any], T], bytes], drawing: list[Any], options: T) -> Response:
        png = await asyncio.get_running_loop().run_in_executor(None, render, drawing, options)
        return respond(200, png, "image/png", cache_s=PICTURE_CACHE_S)

    @staticmethod
    async def _off_loop(make: Callable[[], Response]) -> Response:
        """``make()`` on a worker thread (a JSON body or page that holds strokes)."""
        return await asyncio.get_running_loop().run_in_executor(None, make)

    async def gallery(self, request: HttpRequest) -> Response:
        word, limit, before = _page_params(request.args)
        items = await self.reader.page(word=word, limit=limit, before=before)
        last_id = items[-1].id if len(items) == limit else None
        page = _pages.get_template("gallery.html").render(
            site=self.site,
            nav="gallery",
            title=f"Doodles: {word}" if word else "Doodle gallery",
            word=word,
            items=items,
            thumb_px=THUMB_PX,
            max_word_chars=MAX_WORD_CHARS,
            links=_page_links(word, limit, before, last_id),
        )
        return html_response(page)

    async def mine(self, request: HttpRequest) -> Response:
        page = _pages.get_template("mine.html").render(
            site=self.site, nav="mine", title="My drawings", word=None, thumb_px=THUMB_PX, max_word_chars=MAX_WORD_CHARS
        )
        return html_response(page)

    async def api_list(self, request: HttpRequest) -> Response:
        word, limit, before = _page_params(request.args)
        items = await self.reader.page(word=word, limit=limit, before=before)
        return await self._off_loop(
            lambda: json_response(
                {
                    "doodles": [
                        {**d.public(), "png": f"/doodles/{d.id}.png", "page": f"/doodles/{d.id}"} for d in items
                    ],
                    "next_before": items[-1].id if len(items) == limit else None,
                }
            )
        )

    async def api_one(self, request: HttpRequest) -> Response:
        d = await self.reader.get(_id(request))
        return await self._off_loop(lambda: json_response(d.public()))

    async def detail(self, request: HttpRequest) -> Response:
        d = await self.reader.get(_id(request))
        duration_s = max((s[2][-1] for s in d.drawing if len(s) > 2 and s[2]), default=0) / 1000
        return await self._off_loop(
            lambda: html_response(
                _pages.get_template("detail.html").render(
                    site=self.site,
                    nav="gallery",
                    title=f"Doodle #{d.id}: {d.label or '?'}",
                    word=None,
                    d=d,
                    duration_s=duration_s,
                    replay_px=REPLAY_PX,
                    max_word_chars=MAX_WORD_CHARS,
                )
            )
        )

    async def thumbnail(self, request: HttpRequest) -> Response:
        size = _int_param(request.args, "size", MIN_SPRITE_PX, MAX_SPRITE_PX, THUMB_PX)
        assert size is not None
        d = await self.reader.get(_id(request))
        return await self._picture(thumbnail_png, d.drawing, size)

    async def sprite(self, request: HttpRequest) -> Response:
        options = parse_sprite_options(*_sprite_params(request.args))
        d = await self.reader.get(_id(request))
        return await self._picture(sprite_png, d.drawing, options)
