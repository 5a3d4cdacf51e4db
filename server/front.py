"""The HTTP front of the one port: routing, access, cookies, cache headers, the ``/ws`` checks, per-address counts.

:class:`HttpFront` is what ``websockets.serve`` calls with each request
(``process_request``) before any WebSocket exists.  Promises:

* HTTP requests are routed by a werkzeug map of every route the features registered
  (:class:`server.plugin.Registry`): ``GET`` and ``HEAD`` (no body) only; errors are
  HTML pages, except under ``/api/`` and ``/ws`` (JSON).  A :class:`server.errors.Fault`
  raised by an endpoint answers its own HTTP status; anything else is logged and 500.
  Every answer closes the connection (``Connection: close``).  Each client address may
  make ``max_http_requests_per_second`` requests a second (burst ``http_request_burst``;
  ``/healthz`` and ``/ws`` handshakes not counted): past it, **429** with ``Retry-After``.
* Each route's :class:`server.plugin.Access` is enforced here, before its endpoint runs:
  with a token, a route the request may not read answers 401; one that needs the token
  is never cached by shared caches (``Cache-Control: private``); a browser page opened
  with a valid ``?token=`` (public pages too: the sketchpad's token link) sets the token
  cookie.  The endpoint never sees ``token``.
* The socket (``/ws``) accepts only known query parameters (400), the shared token when
  one is set (401; :class:`server.access.TokenGate`), browsers from allowed origins (the
  host it was reached at, or ``--origin``; 403), no bytes sent before the answer (400,
  :mod:`server.admission`), and at most ``max_sessions_per_address`` sockets per client
  address (429): the last ``X-Forwarded-For`` hop behind a trusted proxy; an IPv6 /64
  counts as one address (:func:`server.addresses.address_key`).  :meth:`HttpFront.enter`
  and :meth:`HttpFront.leave` count the sessions per address.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import MapAdapter, RequestRedirect

from server.access import Grant, TokenGate
from server.addresses import address_key
from server.errors import Fault
from server.http import error_response, without_body
from server.limits import MAX_QUERY_FIELDS, Limits
from server.plugin import Endpoint, HttpRequest, Registry
from server.ratelimit import PerAddress

__all__ = [
    "DEFAULT_PORTS",
    "JSON_PREFIXES",
    "UNLIMITED_PATHS",
    "WS_PATH",
    "WS_QUERY_PARAMS",
    "FrontConfig",
    "HttpFront",
]

log = logging.getLogger("doodlestream.server")

WS_PATH = "/ws"
#: Query parameters ``/ws`` accepts (anything else is refused with 400) and their allowed values.
#: ``room`` (a room code) is for the balancer only: it sends a room's players to the instance holding it.
WS_QUERY_PARAMS: dict[str, frozenset[str] | None] = {
    "encoding": frozenset({"msgpack", "json"}),
    "token": None,
    "room": None,
}
DEFAULT_PORTS = {"http": "80", "ws": "80", "https": "443", "wss": "443"}
#: HTTP paths the per-address request rate does not count (a load balancer's health check).
UNLIMITED_PATHS = frozenset({"/healthz"})
#: Paths whose errors are JSON (the rest are browser routes: HTML error pages).
JSON_PREFIXES = ("/api/", WS_PATH)


@dataclass(frozen=True)
class FrontConfig:
    """What the front needs of the server's options (:class:`server.app.ServerConfig`)."""

    limits: Limits
    origins: list[str] | None = None
    token: str | None = None
    public_gallery: bool = False
    trusted_proxies: frozenset[str] = frozenset()


class HttpFront:
    """Requests before a WebSocket exists (see module docstring)."""

    def __init__(self, config: FrontConfig, registry: Registry) -> None:
        self.config = config
        self.limits = config.limits
        self.gate = TokenGate(config.token, public_gallery=config.public_gallery)
        self._trusted = config.trusted_proxies
        self._registry = registry
        self._routes: MapAdapter | None = None
        #: Open sessions per client address (:meth:`enter` / :meth:`leave`).
        self.per_address: Counter[str] = Counter()
        #: HTTP requests per address (``max_http_requests_per_second``; not ``/ws`` nor ``/healthz``).
        self.http_rate = PerAddress(self.limits.max_http_requests_per_second, self.limits.http_request_burst)

    # ------------------------------------------------------------ addresses

    def client_address(self, conn: ServerConnection, request: Request | None) -> str:
        """The client's IP: the peer, or the last ``X-Forwarded-For`` hop when the peer is a trusted proxy."""
        peer = str(conn.remote_address[0]) if conn.remote_address else "?"
        if peer in self._trusted and request is not None:
            hops = [h.strip() for v in request.headers.get_all("X-Forwarded-For") for h in v.split(",")]
            if hops and hops[-1]:
                return hops[-1]
        return peer

    def address_key(self, conn: ServerConnection, request: Request | None) -> str:
        """What the per-address limits count the client under (its IP; an IPv6 /64 as one)."""
        return address_key(self.client_address(conn, request), ipv6_prefix_bits=self.limits.ipv6_prefix_bits)

    def enter(self, addr: str) -> bool:
        """Count a session from ``addr``; ``False`` (not counted) when it already has ``max_sessions_per_address``."""
        if self.per_address[addr] >= self.limits.max_sessions_per_address:
            return False
        self.per_address[addr] += 1
        return True

    def leave(self, addr: str) -> bool:
        """A session from ``addr`` ended; whether it was the address's last."""
        self.per_address[addr] -= 1
        if self.per_address[addr] <= 0:
            del self.per_address[addr]
            return True
        return False

    # ------------------------------------------------------------ /ws

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """Whether a browser at ``origin`` may open the socket (see module docstring)."""
        allowed = self.config.origins or []
        if "*" in allowed or origin in allowed:
            return True
        url = urlsplit(origin)
        if url.scheme not in DEFAULT_PORTS or not url.hostname or host is None:
            return False

        def norm(netloc: str, scheme: str) -> str:
            netloc = netloc.lower()
            default = ":" + DEFAULT_PORTS[scheme]
            return netloc[: -len(default)] if netloc.endswith(default) else netloc

        return norm(url.netloc, url.scheme) == norm(host, url.scheme)

    def _check_socket_request(
        self, conn: ServerConnection, request: Request, query: dict[str, list[str]]
    ) -> Response | None:
        """Query (400), token (401), origin (403) and per-address (429) checks of a ``/ws`` handshake."""
        for key, values in query.items():
            choices = WS_QUERY_PARAMS.get(key, frozenset())
            if key not in WS_QUERY_PARAMS or len(values) != 1 or (choices is not None and values[0] not in choices):
                known = ", ".join(f"{k}={'|'.join(sorted(c)) if c else '...'}" for k, c in WS_QUERY_PARAMS.items())
                return error_response(
                    HTTPStatus.BAD_REQUEST, f"bad query parameter {key[:32]!r}; /ws takes {known}, each once"
                )
        if getattr(conn.protocol, "early_data", False):
            return error_response(HTTPStatus.BAD_REQUEST, "data sent before the handshake was answered")
        if not self.gate.authorized(self.gate.grant(request.headers, query)):
            return self._unauthorized(html=False)
        origin = request.headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin, request.headers.get("Host")):
            return error_response(HTTPStatus.FORBIDDEN, "this origin may not open the socket (see --origin)")
        addr = self.address_key(conn, request)
        limit = self.limits.max_sessions_per_address
        if self.per_address[addr] >= limit:
            return error_response(HTTPStatus.TOO_MANY_REQUESTS, f"at most {limit} sessions per address")
        return None

    # ------------------------------------------------------------ HTTP

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """``websockets``' ``process_request``: the answer to an HTTP request, or ``None`` to open the socket."""
        url = urlsplit(request.path)
        path = url.path
        html = not path.startswith(JSON_PREFIXES)
        try:
            query = parse_qs(
                url.query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS, strict_parsing=bool(url.query)
            )
        except ValueError:
            return error_response(HTTPStatus.BAD_REQUEST, "malformed query string", html=html)
        if path == WS_PATH:
            try:
                refused = self._check_socket_request(conn, request, query)
            except Exception:  # a duplicated header (MultipleValuesError), ...
                refused = error_response(HTTPStatus.BAD_REQUEST, "malformed handshake headers")
            if refused is not None:
                refused.headers["Connection"] = "close"
            return refused
        if path not in UNLIMITED_PATHS and not self.http_rate.take(self.address_key(conn, request)):
            refused = error_response(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"at most {self.limits.max_http_requests_per_second:g} requests per second per address",
                html=html,
            )
            refused.headers["Retry-After"] = "1"
            refused.headers["Connection"] = "close"
            return refused
        response = await self._route(conn, request, path, query, html=html)
        response.headers["Connection"] = "close"  # one request per connection (websockets closes after it)
        return without_body(response) if request.method == "HEAD" else response

    def _unauthorized(self, *, html: bool) -> Response:
        if html:
            message = "this page needs the server's token: open it from a link with ?token=..."
        else:
            message = "a valid token is required (Authorization: Bearer, ?token=, or the token cookie)"
        response = error_response(HTTPStatus.UNAUTHORIZED, message, html=html)
        response.headers["WWW-Authenticate"] = 'Bearer realm="doodlestream"'
        return response

    def _came_over_https(self, conn: ServerConnection, request: Request) -> bool:
        """Whether a trusted proxy says the browser used HTTPS (so the cookie may be ``Secure``)."""
        peer = str(conn.remote_address[0]) if conn.remote_address else "?"
        proto = request.headers.get_all("X-Forwarded-Proto")
        return peer in self._trusted and bool(proto) and proto[-1].strip().lower() == "https"

    def _url_map(self) -> MapAdapter:
        """Every registered route (bound once, at the first request: every feature is installed by then)."""
        if self._routes is None:
            self._routes = self._registry.url_map().bind("doodlestream")
        return self._routes

    async def _route(
        self, conn: ServerConnection, request: Request, path: str, query: dict[str, list[str]], *, html: bool
    ) -> Response:
        try:
            (endpoint, access), params = self._url_map().match(path, method=request.method)
        except MethodNotAllowed:
            response = error_response(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD are served", html=html)
            response.headers["Allow"] = "GET, HEAD"
            return response
        except (NoRoute, RequestRedirect):
            return error_response(HTTPStatus.NOT_FOUND, "not found", html=html)
        try:
            grant = self.gate.grant(request.headers, query)
        except Exception:  # a duplicated Authorization header (MultipleValuesError), ...
            return error_response(HTTPStatus.BAD_REQUEST, "malformed headers", html=html)
        if not self.gate.allows(access, grant):
            return self._unauthorized(html=html)
        args = {k: v for k, v in query.items() if k != "token"}
        http_request = HttpRequest(request.method, path, args, params, request.headers, self.gate.authorized(grant))
        response = await self._call(endpoint, http_request, path, html=html)
        if self.gate.needs_token(access):
            cache = response.headers.get("Cache-Control", "no-store").replace("public", "private")
            del response.headers["Cache-Control"]
            response.headers["Cache-Control"] = cache
        if grant is Grant.QUERY and html and response.status_code < HTTPStatus.BAD_REQUEST:
            # a token link (the sketchpad's too, a public page): this browser holds the token from now on
            response.headers["Set-Cookie"] = self.gate.set_cookie(secure=self._came_over_https(conn, request))
        return response

    async def _call(self, endpoint: Endpoint, request: HttpRequest, path: str, *, html: bool) -> Response:
        try:
            return await endpoint(request)
        except Fault as e:
            if e.http_status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                log.error("HTTP %s failed: %s", path, e.message)
            return error_response(e.http_status, e.message, html=html)
        except Exception:
            log.exception("HTTP %s failed", path)
            return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error", html=html)
