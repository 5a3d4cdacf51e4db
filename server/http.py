"""Plain HTTP on the WebSocket port: small responses and safe static files.

The server answers GET routes through websockets' ``process_request`` hook; this
module builds those responses.  :func:`static_file` only ever serves a regular file
that resolves inside its root folder (no ``..``, no absolute paths, no symlinks out,
no dot-files), so no route can read outside its folder.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import Response

REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]


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
    return Response(status, REASONS.get(status, "OK"), headers, data)


def json_response(obj: Any, status: int = 200) -> Response:
    return respond(status, json.dumps(obj, separators=(",", ":")), "application/json")


def error_response(status: int, message: str) -> Response:
    """A JSON error body ``{"error": message}`` with ``status``."""
    return json_response({"error": message, "status": status}, status)


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
    """Serve ``rel`` from ``root`` (404 for anything outside it or missing)."""
    target = resolve_inside(root, rel)
    if target is None:
        return error_response(404, "not found")
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        ctype += "; charset=utf-8"
    return respond(200, target.read_bytes(), ctype, cache_s=cache_s)
