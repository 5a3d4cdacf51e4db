"""HTTP routes the clients need beside the static sketchpad: vendor files and the class list.

``web_client/index.html`` and its own files are served from the web root by
:func:`server.http.static_file`.  The one third-party file it needs, the msgpack
library, comes from the npm package installed by ``scripts/setup.sh`` (``npm ci`` in
``web_client/``; ``node_modules`` is never committed).  Promises:

* Each vendor URL maps to one fixed file inside ``web_client/node_modules`` (no part of
  the request path is used to find the file).
* A missing package is a clear 503 naming the set-up step, never a 500.
* ``GET /classes`` lists the served model's words (the sketchpad's word suggestions; the
  replay CLI's check that a data set's words are ones the model knows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from server.http import error_response, json_response, resolve_inside, static_file

if TYPE_CHECKING:
    from server.app import DoodleServer

#: URL path -> file under the web root's ``node_modules`` (fixed mapping).
VENDOR_FILES: dict[str, str] = {
    "/vendor/msgpack.min.js": "node_modules/@msgpack/msgpack/dist.umd/msgpack.min.js",
}
#: How long browsers may cache a vendor file, in seconds (its name does not change with
#: its version, so keep it short).
VENDOR_CACHE_S = 3_600


def vendor_route(
    server: DoodleServer, conn: ServerConnection, request: Request, query: dict[str, list[str]]
) -> Response:
    """Serve the vendor file mapped to ``request.path`` (see :data:`VENDOR_FILES`)."""
    rel = VENDOR_FILES[request.path.split("?", 1)[0]]
    root = server.config.web_root
    if resolve_inside(root, rel) is None:
        return error_response(503, f"web client dependency missing: {rel} (run scripts/setup.sh, i.e. npm ci)")
    return static_file(root, rel, cache_s=VENDOR_CACHE_S)


def classes_route(
    server: DoodleServer, conn: ServerConnection, request: Request, query: dict[str, list[str]]
) -> Response:
    """``{"model": name, "classes": [word, ...]}`` in the model's output order."""
    return json_response({"model": server.model.name, "classes": list(server.model.labels)})


def install(server: DoodleServer) -> None:
    """Register the vendor routes and ``/classes`` on ``server``."""
    for path in VENDOR_FILES:
        server.routes[path] = vendor_route
    server.routes["/classes"] = classes_route
