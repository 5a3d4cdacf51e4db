"""The one place the server's features are chosen and installed: :func:`create_server`.

A server built here answers the protocol's drawing messages (the core), serves the
browser sketchpad and ``/classes`` (:class:`server.web.WebClient`), and keeps every
drawing in the doodle history with its gallery (:class:`server.history.feature.DoodleHistory`).
"""

from __future__ import annotations

from server.app import DoodleServer, ServerConfig
from server.history.feature import DoodleHistory
from server.history.store import MEMORY_DB
from server.infer import Model
from server.web import WebClient


def create_server(config: ServerConfig, *, db: str = MEMORY_DB, model: Model | None = None) -> DoodleServer:
    """A server with every feature; the history in ``db`` (a SQLite path, or ``:memory:``), opened by ``start()``."""
    return DoodleServer(config, model=model, features=[WebClient(config.web_root), DoodleHistory(db)])
