"""The doodlestream server: lifecycle, the ``/ws`` handshake checks, and HTTP routing on one port.

:class:`DoodleServer` loads the model once (:mod:`server.infer`), accepts connections
with ``websockets`` (asyncio API) and runs one :class:`server.connection.Connection`
per socket.  Features (:mod:`server.plugin`) add HTTP routes, message handlers and
drawing hooks; :func:`server.assembly.create_server` chooses and installs them.

Promises:

* The socket accepts browsers only from allowed origins (the host it was reached at,
  or ``--origin``), only with the shared token when one is set (``--token`` or
  ``DOODLESTREAM_TOKEN``; see :class:`server.access.TokenGate`), only with known query
  parameters, and at most ``max_sessions_per_address`` sockets per client address (the
  last ``X-Forwarded-For`` hop behind a trusted proxy; an IPv6 /64 counts as one address,
  :func:`server.addresses.address_key`).
* Before any of that, :mod:`server.admission` caps handshakes in progress per address
  and open connections near the open-file limit, and answers pipelined requests cleanly.
* HTTP requests are routed by a werkzeug map: ``GET`` and ``HEAD`` (no body) only;
  errors are HTML pages, except under ``/api/`` (JSON).  A :class:`server.errors.Fault`
  raised by an endpoint answers its own HTTP status; anything else is logged and 500.
  Every answer closes the connection (``Connection: close``).  Each client address may
  make ``max_http_requests_per_second`` requests a second (burst ``http_request_burst``;
  ``/healthz`` and ``/ws`` handshakes not counted): past it, **429** with ``Retry-After``.
* Each route's :class:`server.plugin.Access` is enforced here, before its endpoint runs:
  with a token, a route the request may not read answers 401; one that needs the token
  is never cached by shared caches (``Cache-Control: private``); a browser page opened
  with a valid ``?token=`` (public pages too: the sketchpad's token link) sets the token
  cookie.  The endpoint never sees ``token``.
* :meth:`DoodleServer.close` (SIGTERM) stops accepting, lets every message being
  handled get its reply, hands every open drawing with strokes to the drawing hooks
  with reason ``"shutdown"``, closes every socket with 1001, runs the features' close
  hooks, and returns.
* ``/healthz`` counts open sessions and ``pending_drawings``: drawings handed to the
  drawing hooks (the history stores them) whose hooks have not finished.  With a token,
  a request without it learns only ``{"status": "ok"}``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import MapAdapter, RequestRedirect

from server import protocol
from server.access import Grant, TokenGate
from server.addresses import address_key
from server.admission import Admission, connection_class
from server.connection import Connection
from server.errors import ClientTooSlow, Fault
from server.game import Ranker
from server.http import error_response, json_response, without_body
from server.infer import DEFAULT_MODEL_DIR, Batcher, Classifier, Model, Prediction, Priority
from server.limits import (
    BATCH_WAIT_MS,
    IMAGE_DECODES,
    LISTEN_BACKLOG,
    MAX_BATCH,
    MAX_QUERY_FIELDS,
    RENDER_JOBS_PER_ADDRESS,
    RENDER_NICE,
    RENDER_SHARE,
    RENDER_THREADS,
    Limits,
)
from server.plugin import Access, Endpoint, Feature, HttpRequest, Registry
from server.ratelimit import PerAddress, TimeShare
from server.render import PICTURE, Canvas, Image
from server.render_pool import Budget, Lane, RenderPool
from server.session import Session

log = logging.getLogger("doodlestream.server")

# Hostile images would otherwise make OpenCV write warnings to stderr for every frame (a
# log flood anyone could cause); a bad image is answered with ``bad_image`` instead.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_PACKAGE = Path(__file__).resolve().parent
#: The browser sketchpad: inside the package when installed (``pip install .`` copies it to
#: ``server/web_client/``), else the checkout's ``web_client/``.
_INSTALLED_WEB = _PACKAGE / "web_client"
WEB_ROOT = _INSTALLED_WEB if (_INSTALLED_WEB / "index.html").is_file() else _PACKAGE.parent / "web_client"
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


@dataclass
class ServerConfig:
    """Options of one server (``python -m server --help`` documents each)."""

    host: str = "127.0.0.1"
    port: int = 8765
    model_dir: Path = DEFAULT_MODEL_DIR
    limits: Limits = field(default_factory=Limits)
    max_batch: int = MAX_BATCH
    batch_wait_ms: float = BATCH_WAIT_MS
    model_threads: int = 1
    #: Threads rendering strokes and pictures off the event loop (:mod:`server.render_pool`).
    render_threads: int = RENDER_THREADS
    web_root: Path = WEB_ROOT
    origins: list[str] | None = None
    token: str | None = None
    #: With a token: the gallery, its API and pictures answer without it too.
    public_gallery: bool = False
    trusted_proxies: list[str] | None = None
    reuse_port: bool = False
    #: permessage-deflate; off by default: it costs memory per session and saves little on small frames
    #: (``python -m bench`` measures both).
    compression: bool = False
    #: Index of this server among ``--workers`` processes (0 when alone).
    worker: int = 0
    #: How many ``--workers`` processes share this server's port (1 when alone): rooms only with 1.
    workers: int = 1
    #: The admin token server-scope custom words need (``--admin-token``); ``None``: refused.
    admin_token: str | None = None
    #: First character of this instance's room codes (``--room-prefix``), for balancer affinity; ``None``: any.
    room_prefix: str | None = None


class DoodleServer:
    """The running service (see module docstring)."""

    def __init__(
        self, config: ServerConfig | None = None, *, model: Model | None = None, features: Iterable[Feature] = ()
    ) -> None:
        self.config = config or ServerConfig()
        self._model: Model = model or Classifier(
            self.config.model_dir, max_batch=self.config.max_batch, threads=self.config.model_threads
        )
        if isinstance(self._model, Classifier):
            self._model.warm_up()
        self.batcher = Batcher(self._model, max_batch=self.config.max_batch, batch_wait_ms=self.config.batch_wait_ms)
        limits = self.config.limits
        self._ranker = Ranker.for_model(
            self._model.labels,
            getattr(self._model, "meta", {}),
            embedding_dim=int(getattr(self._model, "embedding_dim", 0)),
            model_dir=self.config.model_dir,
            max_session_words=limits.max_custom_words,
            max_examples=limits.max_custom_examples_per_word,
            max_server_words=limits.max_server_custom_words,
        )
        self.renders = RenderPool(self.config.render_threads, nice=RENDER_NICE, share=RENDER_SHARE)
        self.image_slots = asyncio.Semaphore(IMAGE_DECODES)
        self.sessions: dict[str, Session] = {}
        self.per_address: Counter[str] = Counter()
        #: The render time each address's sessions share (:class:`server.render_pool.Budget`).
        self.render_budgets: dict[str, Budget] = {}
        #: The share of the event loop each address's messages may take to decode (``loop_share_per_address``).
        self.decode_shares: dict[str, TimeShare] = {}
        #: Drawings handed to the hooks, by reason (clear, disconnect, shutdown).
        self.drawings_ended: Counter[str] = Counter()
        #: Drawings whose hooks are still running (the history is storing them).
        self.pending_drawings = 0
        self.started = time.time()
        self.connections: set[Connection] = set()
        self.stopping = False
        self._server: Server | None = None
        self._trusted = set(self.config.trusted_proxies or ())
        self.gate = TokenGate(self.config.token, public_gallery=self.config.public_gallery)
        self.admission = Admission(self.config.limits, self._trusted)
        #: HTTP requests per address (``max_http_requests_per_second``; not ``/ws`` nor ``/healthz``).
        self.http_rate = PerAddress(limits.max_http_requests_per_second, limits.http_request_burst)
        self.registry = Registry(self)
        self.registry.route("/healthz", self._healthz, access=Access.PUBLIC)
        self.registry.offer("words")  # the core ranks hello.words and reports hello.target
        self.registry.offer("target")
        self.registry.offer("recognize")  # hello.recognize: the rule of recognized (server/game.py)
        for feature in features:
            feature.install(self.registry)
        self._routes: MapAdapter = self.registry.url_map().bind("doodlestream")

    # ------------------------------------------------------------ services for features

    @property
    def model(self) -> Model:
        return self._model

    async def classify(self, image: Image, *, owner: Hashable = None) -> list[tuple[str, float]]:
        return await self.batcher.classify(image, owner=owner)

    async def model_input(self, session: Session) -> Image:
        """``session``'s model input (finished strokes), rendered off the loop in its lane."""
        return await self.renders.run(session.lane, session.render_snapshot, session.snapshot())

    async def predict(
        self, image: Image, *, owner: Hashable = None, priority: Priority = Priority.INTERACTIVE
    ) -> Prediction:
        return await self.batcher.predict(image, owner=owner, priority=priority)

    @property
    def ranker(self) -> Ranker:
        return self._ranker

    async def render(self, session: Session, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.renders.run(session.lane, fn, *args)

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Run the features' start hooks, then accept connections (a failing hook raises, nothing listens)."""
        for hook in self.registry.start_hooks:
            await hook()
        await self.batcher.start()
        self._server = await serve(
            self._handler,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=self.config.limits.max_frame_bytes,
            max_queue=self.config.limits.recv_queue_frames,
            write_limit=self.config.limits.max_send_buffer_bytes,
            compression="deflate" if self.config.compression else None,
            reuse_port=self.config.reuse_port,
            server_header="doodlestream",
            create_connection=connection_class(self.admission),
            backlog=LISTEN_BACKLOG,
        )
        self.admission.measure()

    async def close(self) -> None:
        """Graceful stop (SIGTERM): see the module docstring; idempotent."""
        if self.stopping:
            return
        self.stopping = True
        if self._server is not None:
            self._server.close(close_connections=False)  # stop accepting
            self.admission.abort_handshakes()
            for conn in list(self.connections):
                conn.stop_reading()
            grace = self.config.limits.shutdown_grace_s
            try:
                async with asyncio.timeout(grace):
                    await self._server.wait_closed()
            except TimeoutError:
                log.warning("shutdown: %d sessions still busy after %g s; dropping them", len(self.connections), grace)
                for conn in list(self.connections):
                    conn.ws.transport.abort()
                await self._server.wait_closed()
        await self.batcher.close()
        self.renders.close()
        for hook in self.registry.close_hooks:
            await hook()
        log.info(
            "stopped: %d open drawings handed to %d drawing hooks",
            self.drawings_ended["shutdown"],
            len(self.registry.drawing_hooks),
        )

    async def drawing_ended(self, session: Session, reason: str) -> Fault | None:
        """Hand a finished drawing to every drawing hook; the first :class:`Fault` a hook raised, if any.

        A hook raising a Fault is its way of saying it could not keep the drawing (it logs
        that itself); anything else is a bug, logged here.  The other hooks still run."""
        self.drawings_ended[reason] += 1
        self.pending_drawings += 1
        failure: Fault | None = None
        try:
            for hook in self.registry.drawing_hooks:
                try:
                    await hook(session, reason)
                except Fault as e:
                    failure = failure or e
                except Exception:
                    log.exception("drawing hook failed for session %s", session.id)
        finally:
            self.pending_drawings -= 1
        return failure

    # ------------------------------------------------------------ HTTP

    async def _healthz(self, request: HttpRequest) -> Response:
        if not request.authorized:
            return json_response({"status": "ok"})
        return json_response(self.health())

    def holding(self, drawing_key: str) -> Connection | None:
        """The open connection whose drawing in progress has ``drawing_key`` (see :class:`server.plugin.Services`)."""
        for conn in self.connections:
            if conn.session.drawing_key == drawing_key and conn.session.has_drawing and not conn.stopping:
                return conn
        return None

    def health(self) -> dict[str, Any]:
        """What an authorized ``/healthz`` answers (also :class:`server.plugin.Services`' health report)."""
        st = self.batcher.stats
        return {
            "status": "ok",
            "pid": os.getpid(),
            "worker": self.config.worker,
            "model": self.model.name,
            "classes": len(self.model.labels),
            "sessions": len(self.sessions),
            "pending_drawings": self.pending_drawings,
            "uptime_s": round(time.time() - self.started, 1),
            "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],  # "uvloop" or "asyncio"
            "classifications": st.requests,
            "batches": st.batches,
            "batch_sizes": dict(st.sizes),
            "model_s": round(st.model_ms / 1000, 6),
            "model_failures": st.failures,
            "model_queue": self.batcher.queue_report(),
            "drawings_ended": dict(self.drawings_ended),
            **{name: report() for name, report in self.registry.health_reports.items()},
        }

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
        return address_key(self.client_address(conn, request), ipv6_prefix_bits=self.config.limits.ipv6_prefix_bits)

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
        limit = self.config.limits.max_sessions_per_address
        if self.per_address[addr] >= limit:
            return error_response(HTTPStatus.TOO_MANY_REQUESTS, f"at most {limit} sessions per address")
        return None

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
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
            limits = self.config.limits
            refused = error_response(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"at most {limits.max_http_requests_per_second:g} requests per second per address",
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

    async def _route(
        self, conn: ServerConnection, request: Request, path: str, query: dict[str, list[str]], *, html: bool
    ) -> Response:
        try:
            (endpoint, access), params = self._routes.match(path, method=request.method)
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

    # ------------------------------------------------------------ WebSocket

    async def _handler(self, ws: ServerConnection) -> None:
        addr = self.address_key(ws, ws.request)
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
        text = query.get("encoding", ["msgpack"])[0] == "json"
        if self.stopping:
            await ws.close(1001, "server shutting down")
            return
        limit = self.config.limits.max_sessions_per_address
        if self.per_address[addr] >= limit:  # handshakes that raced
            await ws.close(1008, f"at most {limit} sessions per address")
            return
        budget = self.render_budgets.get(addr)
        if budget is None:
            budget = self.render_budgets[addr] = Budget(RENDER_JOBS_PER_ADDRESS)
        decoding = self.decode_shares.get(addr)
        if decoding is None:
            share = self.config.limits.loop_share_per_address
            decoding = self.decode_shares[addr] = TimeShare(share, self.config.limits.decode_burst_s)
        encoding = getattr(self._model, "encoding", PICTURE)  # the model's input: how the canvas encodes
        session = Session(
            self.config.limits,
            game=self._ranker.new_game(),
            address=addr,
            lane=Lane(budget),
            decoding=decoding,
            canvas=Canvas(encoding),
        )
        self.sessions[session.id] = session
        self.per_address[addr] += 1
        conn = Connection(
            ws,
            session,
            text=text,
            limits=self.config.limits,
            batcher=self.batcher,
            renders=self.renders,
            image_slots=self.image_slots,
            registry=self.registry,
            drawing_ended=self.drawing_ended,
            ranker=self._ranker,
            address=addr,
        )
        self.connections.add(conn)
        try:
            await conn.send(
                protocol.welcome(
                    session=session.id,
                    model=self.model.name,
                    classes=len(self.model.labels),
                    limits=self.config.limits.public(),
                    features=self.registry.features,
                )
            )
            await conn.run()
        except (ConnectionClosed, ClientTooSlow):
            pass
        finally:
            conn.cancel_live()
            self.connections.discard(conn)
            self.sessions.pop(session.id, None)
            self.per_address[addr] -= 1
            if self.per_address[addr] <= 0:
                del self.per_address[addr]
                self.render_budgets.pop(addr, None)
                self.decode_shares.pop(addr, None)
            for end_hook in self.registry.session_end_hooks:
                try:
                    await end_hook(conn)
                except Exception:
                    log.exception("session end hook failed for session %s", session.id)
            session.pen_up()
            if session.strokes:
                await self.drawing_ended(session, "shutdown" if self.stopping else "disconnect")
            if self.stopping:
                await conn.close(1001, "server shutting down")
