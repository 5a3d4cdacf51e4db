"""``DoodleHistory``: the history feature, installed into a server through its registry.

It opens the database when the server starts (one that cannot be opened stops the
start with :class:`server.errors.StartupFailed` naming it), stores drawings through
:class:`server.history.service.HistoryService`, answers ``submit`` and ``sprite``, adds
the gallery's routes, and closes the database after the server has closed every socket.
"""

from __future__ import annotations

import sqlite3

from server.errors import StartupFailed
from server.history import gallery
from server.history.service import HistoryService
from server.history.store import AsyncStore, StoreReader, open_store
from server.plugin import Registry
from server.protocol import SpriteMsg, SubmitMsg


class DoodleHistory:
    """The history feature on database ``db`` (a SQLite path, or ``:memory:``)."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.store = AsyncStore(lambda: open_store(db))

    def install(self, registry: Registry) -> None:
        reader = StoreReader(self.store)
        service = HistoryService(self.store, reader, registry.services)
        registry.on_start(self.open)
        registry.on_close(self.store.close)
        registry.drawing_hook(service.on_drawing_end)
        registry.handle(SubmitMsg, service.on_submit)
        registry.handle(SpriteMsg, service.on_sprite)
        gallery.Gallery(reader).install(registry)

    async def open(self) -> None:
        try:
            await self.store.open()
        except (OSError, sqlite3.Error) as e:
            raise StartupFailed(f"cannot open the history database {self.db!r}: {e}") from e
