"""Plain HTTP on the WebSocket port: responses, HTML pages from templates, safe static files.

The server answers HTTP requests through websockets' ``process_request`` hook; this
module builds those responses.  Promises:

* Every response has its length, type, caching and security headers; its reason phrase
  comes from :class:`http.HTTPStatus`.
* HTML comes only from Jinja2 templates with autoescape on (:func:`templates`).
* Errors are small HTML pages for browser routes and JSON ``{"error", "status"}`` for
  ``/api/*`` and the socket's handshake (:func:`error_response`).
* :func:`static_file` only ever serves a regular file that resolves inside its root
  folder (no ``..``, no absolute paths, no symlinks out, no dot-files); anything else
  raises :class:`server.errors.NotFound` (answered 404 in the route's error format).
"""

from __future__ import annotations

import json
import mimetypes
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jinja2
from websockets.datastructures import Headers
from websockets.http11 import Response

from server.errors import NotFound

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]
#: Pages allow only this server's own scripts, styles, pictures and API.
CSP = (
    "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
TEMPLATES = Path(__file__).resolve().parent / "templates"


def templates(folder: Path) -> jinja2.Environment:
    """A Jinja2 environment over ``folder`` with autoescape on for every template."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_pages = templates(TEMPLATES)


def respond(status: int, body: bytes | str, content_type: str, *, cache_s: int = 0) -> Response:
    """A complete HTTP response with length, type and security headers."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Cache-Control", f"public, max-age={cache_s}" if cache_s else "no-store"),
            *SECURITY_HEADERS,
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, data)


def without_body(response: Response) -> Response:
    """The answer to ``HEAD``: the same status and headers (``Content-Length`` included), no body."""
    return Response(response.status_code, response.reason_phrase, response.headers, b"")


def json_response(obj: Any, status: int = HTTPStatus.OK) -> Response:
    return respond(status, json.dumps(obj, separators=(",", ":")), "application/json")


def html_response(page: str, status: int = HTTPStatus.OK) -> Response:
    """An HTML page with the Content-Security-Policy that allows only this server's files."""
    response = respond(status, page, "text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    return response


def error_response(status: int, message: str, *, html: bool = False) -> Response:
    """``status`` with ``message``: a small HTML page, or JSON ``{"error": message, "status": status}``."""
    if not html:
        return json_response({"error": message, "status": int(status)}, status)
    phrase = HTTPStatus(status).phrase
    page = _pages.get_template("error.html").render(status=int(status), phrase=phrase, message=message)
    return html_response(page, status)


def resolve_inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it is a regular, non-hidden file inside ``root``, else ``None``."""
    rel = unquote(rel)
    if not rel or "\x00" in rel or "\\" in rel:
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    root = root.resolve()
    try:
        target = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if root not in target.parents or not target.is_file():
        return None
    return target


def static_file(root: Path, rel: str, *, cache_s: int = 0) -> Response:
    """Serve ``rel`` from ``root``; :class:`NotFound` for anything outside it or missing."""
    target = resolve_inside(root, rel)
    if target is None:
        raise NotFound("not found")
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        ctype += "; charset=utf-8"
    return respond(HTTPStatus.OK, target.read_bytes(), ctype, cache_s=cache_s)
