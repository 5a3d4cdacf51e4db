"""The one place the server's features are chosen and installed: :func:`create_server`.

A server built here answers the protocol's drawing messages (the core), serves the
browser sketchpad and ``/classes`` (:class:`server.web.WebClient`), and keeps drawings
(every one, or submitted ones only with ``keep="submitted"``) in the doodle history
with its gallery (:class:`server.history.feature.DoodleHistory`), lets a dropped
drawing be resumed (:class:`server.resume.Resume`), for a model that can have them,
teaches custom words (:class:`server.teach.Teaching`), plays rooms
(:class:`server.rooms.feature.Rooms`) unless it is one of several ``--workers``
(``config.workers`` > 1: a room's players would reach different processes), and serves
``/metrics`` (:class:`server.metrics.Metrics`).
"""

from __future__ import annotations

from server.admin import AdminGate
from server.app import DoodleServer, ServerConfig
from server.history.databases import is_shared
from server.history.feature import DoodleHistory
from server.history.service import Keep
from server.history.store import MEMORY_DB
from server.infer import Model
from server.metrics import Metrics
from server.plugin import Feature
from server.resume import Resume
from server.rooms.feature import Rooms
from server.teach import Teaching
from server.web import WebClient


def create_server(
    config: ServerConfig, *, db: str = MEMORY_DB, keep: Keep = "all", model: Model | None = None
) -> DoodleServer:
    """A server with every feature; the history in ``db`` (a SQLite path, ``:memory:``, or a PostgreSQL URL shared
    by several instances), opened by ``start()``,
    keeping ``keep`` drawings (``all``, or ``submitted`` ones only)."""
    # One admin-token check for teach and moderate: wrong tokens are throttled per address across both.
    admin = AdminGate(config.admin_token, failures_per_minute=config.limits.max_admin_failures_per_minute)
    history = DoodleHistory(
        db,
        limits=config.limits,
        keep=keep,
        admin=admin,
        public_gallery=config.token is None or config.public_gallery,
    )
    # A database several instances share (PostgreSQL) also holds the resume keys, and its custom words
    # are read again when another instance changes them.
    shared = is_shared(db)
    # Resume before the history: a dropped drawing's key is resumable before its record is written.
    # Teaching after the history: its start hook loads the stored words once the database is open.
    teaching = Teaching(
        history.store if db != MEMORY_DB else None,
        admin_token=config.admin_token,
        admin=admin,
        shared=history.shared,
        examples_per_minute=config.limits.max_teach_examples_per_minute,
    )
    resume = Resume(
        config.limits,
        kept=None if shared else history.resumable,  # after a restart: keys the history kept
        shared=history.shared,
    )
    features: list[Feature] = [
        WebClient(config.web_root),
        resume,
        history,
        teaching,
    ]
    if config.workers == 1:  # one port's workers get connections regardless of their room (server.workers)
        features.append(Rooms(config.limits, code_prefix=config.room_prefix))
    features.append(Metrics())
    return DoodleServer(config, model=model, features=features)
