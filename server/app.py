"""The doodlestream server: WebSocket endpoint ``/ws`` and HTTP routes on one port.

:class:`DoodleServer` wires the pieces: it loads the model once (:mod:`server.infer`),
accepts connections with ``websockets`` (asyncio API), keeps one
:class:`server.session.Session` per connection, decodes every frame with
:mod:`server.protocol` and answers it.

Promises:

* Every client message gets its reply in order; a message that cannot be accepted gets
  an ``error`` (code + message) and the session goes on.  A client that provokes
  ``max_errors_in_a_row`` errors in a row, or keeps exceeding the message rate, is closed
  with 1008 and the reason.  A session that sends nothing for ``idle_timeout_s`` is
  closed with 1001.  A reply that waits more than ``send_timeout_s`` for a client that
  does not read drops that client (at most ``max_send_buffer_bytes`` wait for it).
* The socket accepts browsers only from allowed origins (the host it was reached at,
  or ``--origin``), and only with the shared token when one is set (``--token`` or
  ``DOODLESTREAM_TOKEN``; ``?token=`` or ``Authorization: Bearer``), compared in
  constant time.
* :meth:`DoodleServer.close` (SIGTERM) stops accepting, lets every message being
  handled get its reply, hands every open drawing with strokes to the drawing hooks
  with reason ``"shutdown"``, closes every socket with 1001, and returns.
* Classification never blocks the event loop (the batcher's worker thread; image
  decoding in the default executor).
* Live guesses (``hello`` with ``live_ms``) are sent at most every ``live_ms`` while a
  stroke is in progress and new points arrived, with at most one pending live
  classification per session; pen-up, undo and clear cancel a pending one.
* Drawings that end (clear, disconnect or shutdown with strokes) are handed to every
  coroutine in ``drawing_hooks``.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from server import protocol as P
from server.errors import ClientTooSlow, DoodleError, LimitExceeded, NotFound, ProtocolError
from server.http import error_response, json_response, static_file
from server.infer import DEFAULT_MODEL_DIR, Batcher, Classifier, Model
from server.limits import BATCH_WAIT_MS, MAX_BATCH, Limits
from server.render import render_image
from server.session import Session
from server.web import install as install_web_routes

log = logging.getLogger("doodlestream")

# Hostile images would otherwise make OpenCV write warnings to stderr for every frame (a
# log flood anyone could cause); a bad image is answered with ``bad_image`` instead.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

WEB_ROOT = Path(__file__).resolve().parent.parent / "web_client"

Route = Callable[
    ["DoodleServer", ServerConnection, Request, dict[str, list[str]]],
    Response | Awaitable[Response | None] | None,
]
DrawingHook = Callable[[Session, str], Awaitable[None]]

#: Query parameters ``/ws`` accepts (anything else is refused with 400); extend to add one.
WS_QUERY_PARAMS: dict[str, frozenset[str] | None] = {"encoding": frozenset({"msgpack", "json"}), "token": None}
DEFAULT_PORTS = {"http": "80", "ws": "80", "https": "443", "wss": "443"}


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
    web_root: Path = WEB_ROOT
    origins: list[str] | None = None
    token: str | None = None
    trusted_proxies: list[str] | None = None
    reuse_port: bool = False
    #: permessage-deflate; off by default: it costs memory per session and saves little on small frames
    #: (``python -m bench`` measures both).
    compression: bool = False
    #: Index of this server among ``--workers`` processes (0 when alone).
    worker: int = 0


class TokenBucket:
    """Message rate limit: ``rate`` per second with a ``burst`` allowance."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    """Per-connection handler state around a :class:`Session`."""

    def __init__(self, server: DoodleServer, ws: ServerConnection, session: Session, *, text: bool) -> None:
        self.server = server
        self.ws = ws
        self.session = session
        self.text = text
        self.live_task: asyncio.Task[None] | None = None
        #: The idle timeout around the ``recv`` the handler is waiting in, if it is.
        self.reading: asyncio.Timeout | None = None
        self.last_live = 0.0
        self.errors_in_a_row = 0
        self.bucket = TokenBucket(server.config.limits.max_messages_per_second, server.config.limits.message_burst)

    async def send(self, msg: P.Payload, *, text: bool | None = None) -> None:
        """Send one message; drop the client (:class:`ClientTooSlow`) if it does not read."""
        frame = P.encode(msg, text=self.text if text is None else text)
        timeout = self.server.config.limits.send_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self.ws.send(frame)
        except TimeoutError:
            log.warning("session %s: dropped, a reply waited %g s for it to read", self.session.id, timeout)
            self.ws.transport.abort()
            raise ClientTooSlow(f"the client did not read for {timeout:g} s") from None

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``, discarding what the client sent before it saw our close frame.

        (Waiting for the client's close frame without reading would stall once
        ``recv_queue_frames`` unread messages fill the queue, until websockets' close timeout.)
        """
        closing = asyncio.create_task(self.ws.close(code, reason))
        try:
            while True:
                await self.ws.recv()
        except ConnectionClosed:
            pass
        await closing

    def stop_reading(self) -> None:
        """Shutdown: read no further message (the one being handled still gets its reply)."""
        if self.reading is not None:
            self.reading.reschedule(asyncio.get_running_loop().time())

    # ------------------------------------------------------------ live guesses

    def cancel_live(self) -> None:
        if self.live_task is not None and not self.live_task.done():
            self.live_task.cancel()
        self.live_task = None

    def maybe_live(self) -> None:
        s = self.session
        if not s.live_ms or (self.live_task is not None and not self.live_task.done()):
            return
        self.live_task = asyncio.create_task(self._live(s.live_ms / 1000.0))

    async def _live(self, interval_s: float) -> None:
        try:
            await self._live_guess(interval_s)
        except (ConnectionClosed, ClientTooSlow):
            pass
        except ProtocolError as e:  # a failed model call: no live guess this time
            log.warning("session %s: live guess failed: %s", self.session.id, e.message)

    async def _live_guess(self, interval_s: float) -> None:
        wait = self.last_live + interval_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        s = self.session
        if not s.drawing_in_progress or not s.points_since_live:
            return
        start = time.perf_counter()
        s.points_since_live = 0
        top = await self.server.batcher.classify(s.model_input(pending=True))
        self.last_live = time.monotonic()
        await self.send(P.guesses(strokes=s.strokes, top=top, ms=(time.perf_counter() - start) * 1000, live=True))

    # ------------------------------------------------------------ messages

    async def classify_drawing(self, seq: int | None, received: float) -> P.Payload:
        s = self.session
        top = await self.server.batcher.classify(s.model_input()) if s.strokes else []
        if s.strokes:
            s.record(top)
        return P.with_seq(P.guesses(strokes=s.strokes, top=top, ms=(time.perf_counter() - received) * 1000), seq)

    async def dispatch(self, msg: P.ClientMsg, received: float) -> P.Payload | None:
        s = self.session
        if isinstance(msg, P.PointsMsg):
            s.add_points(msg.x, msg.y, msg.t)
            self.maybe_live()
            return None
        if isinstance(msg, P.PenUpMsg):
            self.cancel_live()
            s.pen_up()
            return await self.classify_drawing(msg.seq, received)
        if isinstance(msg, P.StrokeMsg):
            self.cancel_live()
            if s.drawing_in_progress:
                s.pen_up()
            s.add_points(msg.x, msg.y, msg.t)
            s.pen_up()
            return await self.classify_drawing(msg.seq, received)
        if isinstance(msg, P.UndoMsg):
            self.cancel_live()
            s.undo()
            return await self.classify_drawing(msg.seq, received)
        if isinstance(msg, P.ClearMsg):
            self.cancel_live()
            if s.pen_up() or s.strokes:
                await self.server.drawing_ended(s, "clear")
            s.clear()
            return P.with_seq(P.cleared(), msg.seq)
        if isinstance(msg, P.ImageMsg):
            loop = asyncio.get_running_loop()
            image = await loop.run_in_executor(
                None, partial(render_image, msg.data, max_pixels=self.server.config.limits.max_image_pixels)
            )
            top = await self.server.batcher.classify(image)
            return P.with_seq(P.guesses(strokes=0, top=top, ms=(time.perf_counter() - received) * 1000), msg.seq)
        if isinstance(msg, P.HelloMsg):
            s.live_ms = msg.live_ms
            s.client = msg.client or s.client
            return P.with_seq({"type": "hello", "protocol": P.PROTOCOL_VERSION, "live_ms": s.live_ms or 0}, msg.seq)
        handler = self.server.extra_handlers.get(type(msg))
        if handler is None:  # a parser without a handler is a programming error
            raise ProtocolError(f"message type {type(msg).__name__} is not handled", code="internal")
        return await handler(self, msg, received)

    async def handle_frame(self, frame: bytes | str) -> None:
        received = time.perf_counter()
        limits = self.server.config.limits
        is_text = isinstance(frame, str)
        seq: int | None = None
        try:
            if not self.bucket.take():
                raise LimitExceeded(
                    f"more than {limits.max_messages_per_second:g} messages per second", code="rate_limited"
                )
            msg = P.decode(frame, limits=limits)
            seq = msg.seq
            reply = await self.dispatch(msg, received)
            self.errors_in_a_row = 0
            if reply is not None:
                await self.send(reply, text=is_text)
        except (ConnectionClosed, ClientTooSlow):
            raise
        except ProtocolError as e:
            await self.reject(frame, e.code, e.message, seq)
        except DoodleError as e:
            await self.reject(frame, "internal", str(e), seq)
        except Exception:
            log.exception("session %s: unexpected error", self.session.id)
            await self.reject(frame, "internal", "the server failed on this message; it was logged", seq)

    async def reject(self, frame: bytes | str, code: str, message: str, seq: int | None) -> None:
        self.errors_in_a_row += 1
        self.server.errors_sent[code] += 1
        limits = self.server.config.limits
        if seq is None and code not in ("malformed", "rate_limited"):
            seq = P.seq_of(frame, limits=limits)
        await self.send(P.with_seq(P.error(code=code, message=message), seq), text=isinstance(frame, str))
        if self.errors_in_a_row >= limits.max_errors_in_a_row:
            reason = f"too many bad messages in a row ({self.errors_in_a_row}; last: {code})"
            await self.close(1008, reason[:120])


class DoodleServer:
    """The running service (see module docstring)."""

    def __init__(self, config: ServerConfig | None = None, *, model: Model | None = None) -> None:
        self.config = config or ServerConfig()
        self.model: Model = model or Classifier(
            self.config.model_dir, max_batch=self.config.max_batch, threads=self.config.model_threads
        )
        if isinstance(self.model, Classifier):
            self.model.warm_up()
        self.batcher = Batcher(self.model, max_batch=self.config.max_batch, batch_wait_ms=self.config.batch_wait_ms)
        self.sessions: dict[str, Session] = {}
        self.per_address: Counter[str] = Counter()
        self.errors_sent: Counter[str] = Counter()
        #: Drawings handed to the hooks, by reason (clear, disconnect, shutdown).
        self.drawings_ended: Counter[str] = Counter()
        self.started = time.time()
        self.routes: dict[str, Route] = {"/healthz": DoodleServer._healthz}
        #: Routes for every path under a prefix ending in "/" (e.g. "/doodles/"); the longest match wins.
        self.prefix_routes: dict[str, Route] = {}
        self.extra_handlers: dict[type, Callable[[Connection, Any, float], Awaitable[P.Payload | None]]] = {}
        self.drawing_hooks: list[DrawingHook] = []
        self.connections: set[Connection] = set()
        self.stopping = False
        self._server: Server | None = None
        self._trusted = set(self.config.trusted_proxies or ())
        install_web_routes(self)

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
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
        )

    async def close(self) -> None:
        """Graceful stop (SIGTERM): see the module docstring; idempotent."""
        if self.stopping:
            return
        self.stopping = True
        if self._server is not None:
            self._server.close(close_connections=False)  # stop accepting
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
        log.info(
            "stopped: %d open drawings handed to %d drawing hooks",
            self.drawings_ended["shutdown"],
            len(self.drawing_hooks),
        )

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        await self._server.wait_closed()

    async def drawing_ended(self, session: Session, reason: str) -> None:
        """Hand a finished drawing to every registered hook (history, ...)."""
        self.drawings_ended[reason] += 1
        for hook in self.drawing_hooks:
            try:
                await hook(session, reason)
            except Exception:
                log.exception("drawing hook failed for session %s", session.id)

    # ------------------------------------------------------------ HTTP

    def _healthz(self, conn: ServerConnection, request: Request, query: dict[str, list[str]]) -> Response:
        st = self.batcher.stats
        return json_response(
            {
                "status": "ok",
                "pid": os.getpid(),
                "worker": self.config.worker,
                "model": self.model.name,
                "classes": len(self.model.labels),
                "sessions": len(self.sessions),
                "uptime_s": round(time.time() - self.started, 1),
                "classifications": st.requests,
                "batches": st.batches,
            }
        )

    def _route(self, path: str) -> Route | None:
        route = self.routes.get(path)
        if route is None:
            prefixes = [p for p in self.prefix_routes if path.startswith(p)]
            if prefixes:
                route = self.prefix_routes[max(prefixes, key=len)]
        return route

    def client_address(self, conn: ServerConnection, request: Request | None) -> str:
        """The client's IP: the peer, or the last ``X-Forwarded-For`` hop when the peer is a trusted proxy."""
        peer = str(conn.remote_address[0]) if conn.remote_address else "?"
        if peer in self._trusted and request is not None:
            hops = [h.strip() for v in request.headers.get_all("X-Forwarded-For") for h in v.split(",")]
            if hops and hops[-1]:
                return hops[-1]
        return peer

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
        """Token (401), origin (403), query (400) and per-address (429) checks of a ``/ws`` handshake."""
        for key, values in query.items():
            choices = WS_QUERY_PARAMS.get(key, frozenset())
            if key not in WS_QUERY_PARAMS or len(values) != 1 or (choices is not None and values[0] not in choices):
                known = ", ".join(f"{k}={'|'.join(sorted(c)) if c else '...'}" for k, c in WS_QUERY_PARAMS.items())
                return error_response(400, f"bad query parameter {key[:32]!r}; /ws takes {known}, each once")
        token = self.config.token
        if token:
            supplied = query.get("token", [""])[0]
            auth = request.headers.get("Authorization", "")
            if auth[:7].lower() == "bearer ":
                supplied = auth[7:].strip()
            if not hmac.compare_digest(supplied.encode("utf-8"), token.encode("utf-8")):
                response = error_response(401, "a valid token is required (?token= or Authorization: Bearer)")
                response.headers["WWW-Authenticate"] = 'Bearer realm="doodlestream"'
                return response
        origin = request.headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin, request.headers.get("Host")):
            return error_response(403, "this origin may not open the socket (see --origin)")
        addr = self.client_address(conn, request)
        if self.per_address[addr] >= self.config.limits.max_sessions_per_address:
            return error_response(429, f"at most {self.config.limits.max_sessions_per_address} sessions per address")
        return None

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = url.path
        try:
            query = parse_qs(url.query, keep_blank_values=True, max_num_fields=16, strict_parsing=bool(url.query))
        except ValueError:
            return error_response(400, "malformed query string")
        if path == "/ws":
            try:
                return self._check_socket_request(conn, request, query)
            except Exception:  # a duplicated header (MultipleValuesError), ...
                return error_response(400, "malformed handshake headers")
        route = self._route(path)
        try:
            if route is not None:
                response = route(self, conn, request, query)
                return await response if inspect.isawaitable(response) else response
            if path == "/":
                return static_file(self.config.web_root, "index.html")
            return static_file(self.config.web_root, path.lstrip("/"))
        except NotFound as e:
            return error_response(404, e.message)
        except ProtocolError as e:
            return error_response(400, e.message)
        except Exception:
            log.exception("HTTP %s failed", path)
            return error_response(500, "internal error")

    # ------------------------------------------------------------ WebSocket

    async def _handler(self, ws: ServerConnection) -> None:
        addr = self.client_address(ws, ws.request)
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
        text = query.get("encoding", ["msgpack"])[0] == "json"
        if self.stopping:
            await ws.close(1001, "server shutting down")
            return
        if self.per_address[addr] >= self.config.limits.max_sessions_per_address:  # handshakes that raced
            await ws.close(1008, f"at most {self.config.limits.max_sessions_per_address} sessions per address")
            return
        session = Session(self.config.limits)
        self.sessions[session.id] = session
        self.per_address[addr] += 1
        conn = Connection(self, ws, session, text=text)
        self.connections.add(conn)
        try:
            await conn.send(
                P.welcome(
                    session=session.id,
                    model=self.model.name,
                    classes=len(self.model.labels),
                    limits=self.config.limits.public(),
                )
            )
            idle = self.config.limits.idle_timeout_s
            while not self.stopping:
                try:
                    async with asyncio.timeout(idle) as conn.reading:
                        frame = await ws.recv()
                except TimeoutError:
                    if not self.stopping:
                        await conn.close(1001, f"idle for {idle:g} s")
                    break
                finally:
                    conn.reading = None
                await conn.handle_frame(frame)
        except (ConnectionClosed, ClientTooSlow):
            pass
        finally:
            conn.cancel_live()
            self.connections.discard(conn)
            self.sessions.pop(session.id, None)
            self.per_address[addr] -= 1
            if self.per_address[addr] <= 0:
                del self.per_address[addr]
            session.pen_up()
            if session.strokes:
                await self.drawing_ended(session, "shutdown" if self.stopping else "disconnect")
            if self.stopping:
                await conn.close(1001, "server shutting down")


async def run_server(config: ServerConfig, *, ready: Callable[[DoodleServer], None] | None = None) -> None:
    """Start a server, call ``ready``, and serve until cancelled."""
    server = DoodleServer(config)
    await server.start()
    if ready is not None:
        ready(server)
    try:
        await asyncio.Future()
    finally:
        await server.close()
