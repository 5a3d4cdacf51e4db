"""The doodlestream server: lifecycle and the services features use; one session per socket.

:class:`DoodleServer` loads the model once (:mod:`server.infer`), accepts connections
with ``websockets`` (asyncio API) and runs one :class:`server.connection.Connection`
per socket, handing it the server itself as its :class:`server.connection.Host`.
Features (:mod:`server.plugin`) add HTTP routes, message types and drawing hooks;
:func:`server.assembly.create_server` chooses and installs them.  Requests before a
socket exists (routing, access, the ``/ws`` checks, sessions per address) are the
front's (:mod:`server.front`); connections before their request are admitted by
:mod:`server.admission`.

Promises:

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
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Response

from server import protocol
from server.admission import Admission, connection_class
from server.connection import Connection
from server.errors import ClientTooSlow, Fault
from server.front import FrontConfig, HttpFront
from server.http import json_response
from server.infer import DEFAULT_MODEL_DIR, Batcher, Classifier, Model, Prediction, Priority
from server.limits import (
    BATCH_WAIT_MS,
    IMAGE_DECODES,
    LISTEN_BACKLOG,
    MAX_BATCH,
    RENDER_JOBS_PER_ADDRESS,
    RENDER_NICE,
    RENDER_SHARE,
    RENDER_THREADS,
    Limits,
)
from server.plugin import Access, Feature, HttpRequest, Registry
from server.ranking import Ranker
from server.ratelimit import TimeShare
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
        trusted = frozenset(self.config.trusted_proxies or ())
        self.admission = Admission(self.config.limits, set(trusted))
        self.registry = Registry(self)
        self.front = HttpFront(
            FrontConfig(
                limits,
                origins=self.config.origins,
                token=self.config.token,
                public_gallery=self.config.public_gallery,
                trusted_proxies=trusted,
            ),
            self.registry,
        )
        self.registry.route("/healthz", self._healthz, access=Access.PUBLIC)
        self.registry.offer("words")  # the core ranks hello.words and reports hello.target
        self.registry.offer("target")
        self.registry.offer("recognize")  # hello.recognize: the rule of recognized (server/ranking.py)
        for feature in features:
            feature.install(self.registry)

    # ------------------------------------------------------------ services for features

    @property
    def model(self) -> Model:
        return self._model

    @property
    def limits(self) -> Limits:
        return self.config.limits

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

    async def in_lane(self, session: Session, fn: Callable[..., Any], *args: Any) -> Any:
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
            process_request=self.front.process_request,
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

    # ------------------------------------------------------------ /healthz

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

    # ------------------------------------------------------------ WebSocket

    async def _handler(self, ws: ServerConnection) -> None:
        addr = self.front.address_key(ws, ws.request)
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
        text = query.get("encoding", ["msgpack"])[0] == "json"
        if self.stopping:
            await ws.close(CloseCode.GOING_AWAY, "server shutting down")
            return
        if not self.front.enter(addr):  # handshakes that raced past the front's check
            limit = self.config.limits.max_sessions_per_address
            await ws.close(CloseCode.POLICY_VIOLATION, f"at most {limit} sessions per address")
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
        conn = Connection(ws, session, text=text, host=self, address=addr)
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
            if self.front.leave(addr):  # its last session
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
                await conn.close(CloseCode.GOING_AWAY, "server shutting down")
