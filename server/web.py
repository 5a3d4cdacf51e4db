"""The browser sketchpad's routes: its own files, the vendored msgpack library and ``/classes``.

Promises:

* ``/`` is ``web_client/index.html``; ``/r`` and ``/r/CODE`` the rooms' page
  (``room.html``, whatever the code: the page asks the server for the room, and says plainly
  when ``welcome.features`` has no ``rooms``); other paths serve only the sketchpad's own files:
  regular files inside the web root whose suffix is in :data:`WEB_SUFFIXES`, never under
  ``node_modules`` and never npm's files (:data:`NOT_SERVED`: ``package.json``, the lock
  file), through :func:`server.http.static_file` (no way out of the folder).
* The one third-party file the page needs, the msgpack library, comes from the npm
  package installed by ``scripts/setup.sh`` (``npm ci`` in ``web_client/``): each vendor
  URL maps to one fixed file (no part of the request path is used to find it).  A missing
  package is a clear 503 naming the set-up step, never a 500.
* Every route is public (:attr:`server.plugin.Access.PUBLIC`), token or not.
* ``GET /api/access`` says whether this request may open the socket, ``{"authorized": bool}``
  (false only on a token server, without the token): a page refused at ``/ws`` learns why there,
  since browsers hide a refused handshake's status.
* ``GET /classes`` lists the served model's words in output order (the sketchpad's word
  suggestions; the replay CLI's check that a data set's words are ones the model knows);
  v1.1: ``words`` lists them again as ``{"word", "custom": false}``, then the server-scope
  custom words as ``{"word", "custom": true, "examples": n}``, as they are now.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

from websockets.http11 import Response

from server.errors import NotFound
from server.http import CSP, error_response, json_response, resolve_inside, static_file
from server.plugin import Access, HttpRequest, Registry
from server.ranking import Ranker

#: URL path -> file under the web root's ``node_modules`` (fixed mapping).
VENDOR_FILES: dict[str, str] = {
    "/vendor/msgpack.min.js": "node_modules/@msgpack/msgpack/dist.umd/msgpack.min.js",
}
#: How long browsers may cache a vendor file, in seconds (its name does not change with
#: its version, so keep it short).
VENDOR_CACHE_S = 3_600
#: Kinds of file the sketchpad is made of (anything else in its folder is not served).
WEB_SUFFIXES = frozenset({".html", ".js", ".json", ".css", ".svg", ".png", ".ico", ".webmanifest"})
#: The browser's room page, in the web root.
ROOM_PAGE = "room.html"
#: The room page's Content-Security-Policy: only this server's files (and the stylesheet's inline SVG pictures).
ROOM_PAGE_CSP = CSP.replace("img-src 'self'", "img-src 'self' data:")
#: npm's files in the web root: not part of the page.
NOT_SERVED = frozenset({"package.json", "package-lock.json"})
#: Folder of npm packages: only reached through :data:`VENDOR_FILES`.
NODE_MODULES = "node_modules"


class WebClient:
    """The feature serving ``web_client/`` (see module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._labels: list[str] = []
        self._model_name = ""
        self._ranker: Ranker | None = None

    def install(self, registry: Registry) -> None:
        model = registry.services.model
        self._labels, self._model_name = list(model.labels), model.name
        self._ranker = registry.services.ranker
        public = Access.PUBLIC  # the page must load before anyone can give it a token
        registry.route("/", self.index, access=public)
        registry.route("/<path:rel>", self.own_file, access=public)
        registry.route("/r", self.room_page, access=public)  # create or join a room
        registry.route("/r/<code>", self.room_page, access=public)  # join room CODE
        registry.route("/classes", self.classes, access=public)
        registry.route("/api/access", self.access, access=public)
        for path in VENDOR_FILES:
            registry.route(path, self.vendor, access=public)

    async def index(self, request: HttpRequest) -> Response:
        return static_file(self.root, "index.html")

    async def room_page(self, request: HttpRequest) -> Response:
        """``room.html``, whatever the code."""
        response = static_file(self.root, ROOM_PAGE)
        response.headers["Content-Security-Policy"] = ROOM_PAGE_CSP
        return response

    async def own_file(self, request: HttpRequest) -> Response:
        rel = str(request.params["rel"])
        parts = rel.split("/")
        if NODE_MODULES in parts or rel in NOT_SERVED or Path(parts[-1]).suffix.lower() not in WEB_SUFFIXES:
            raise NotFound("not found")
        return static_file(self.root, rel)

    async def vendor(self, request: HttpRequest) -> Response:
        """Serve the vendor file mapped to the request's path (see :data:`VENDOR_FILES`)."""
        rel = VENDOR_FILES[request.path]
        if resolve_inside(self.root, rel) is None:
            message = f"web client dependency missing: {rel} (run scripts/setup.sh, i.e. npm ci)"
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, message, html=True)
        return static_file(self.root, rel, cache_s=VENDOR_CACHE_S)

    async def access(self, request: HttpRequest) -> Response:
        """``{"authorized": bool}``: whether this request holds the token (always true without one)."""
        return json_response({"authorized": request.authorized})

    async def classes(self, request: HttpRequest) -> Response:
        """``{"model": name, "classes": [word, ...], "words": [{"word", "custom", "examples"?}, ...]}``."""
        words: list[dict[str, object]] = [{"word": w, "custom": False} for w in self._labels]
        if self._ranker is not None:
            server = self._ranker.server
            words += [{"word": w, "custom": True, "examples": len(server[w].examples)} for w in server.words()]
        return json_response({"model": self._model_name, "classes": self._labels, "words": words})
