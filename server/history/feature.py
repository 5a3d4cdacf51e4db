"""``DoodleHistory``: the history feature, installed into a server through its registry.

It opens the database when the server starts (one that cannot be opened, is damaged,
or cannot be written, e.g. on a read-only filesystem, stops the start with
:class:`server.errors.StartupFailed` naming the file and what to do), stores drawings through
:class:`server.history.service.HistoryService`, answers its messages
(:mod:`server.history.messages`) with its own error codes (:mod:`server.history.errors`),
adds the gallery's routes, reports ``history`` in ``/healthz`` and its metrics
(:mod:`server.history.metrics`), and
closes the database after the server has closed every socket.  The gallery and sprites
read on a second connection with its own thread (a SQLite file opened read-only, or a
PostgreSQL connection of its own; ``:memory:`` has one connection), so a reader never
waits behind the writer nor holds up a ``submit``.
"""

from __future__ import annotations

from typing import Any

from server.admin import AdminGate
from server.errors import StartupFailed, StoreError
from server.history import gallery, messages
from server.history.databases import is_shared, open_database, open_shared_database, shown
from server.history.errors import HistoryCode
from server.history.metrics import HistoryMetrics
from server.history.service import HistoryService, Keep
from server.history.store import (
    MEMORY_DB,
    AsyncStore,
    DoodleStore,
    Quota,
    SharedAsyncStore,
    SQLiteStore,
    StoreReader,
)
from server.limits import Limits
from server.plugin import Registry


class DoodleHistory:
    """The history feature on database ``db`` (SQLite path, ``:memory:``, PostgreSQL URL), keeping ``keep`` drawings."""

    def __init__(
        self,
        db: str,
        *,
        limits: Limits | None = None,
        keep: Keep = "all",
        admin_token: str | None = None,
        public_gallery: bool = True,
        admin: AdminGate | None = None,
    ) -> None:
        self.admin = admin or AdminGate(admin_token)
        self.db = db
        self.admin_token = admin_token
        self.public_gallery = public_gallery
        self.limits = limits or Limits()
        self.keep = keep
        quota = Quota(
            max_record_bytes=self.limits.max_record_bytes,
            max_drawings=self.limits.history_max_drawings,
            max_bytes=self.limits.history_max_bytes,
        )
        timeout_s = self.limits.store_timeout_s
        #: The database, when several instances share it (PostgreSQL): resume keys and custom words too.
        self.shared: SharedAsyncStore | None = None
        self.store: AsyncStore[Any]
        if is_shared(db):
            self.store = self.shared = SharedAsyncStore(lambda: open_shared_database(db, quota), timeout_s=timeout_s)
        else:
            self.store = AsyncStore(lambda: open_database(db, quota), timeout_s=timeout_s)
        #: The gallery's and sprites' reads: a connection and thread of their own (``None``: ``:memory:``, which one
        #: connection holds), so a reader never waits behind the writer nor holds it up.
        self.reads = None if db == MEMORY_DB else AsyncStore(lambda: open_reader(db, quota), timeout_s=timeout_s)
        self.service: HistoryService | None = None

    def install(self, registry: Registry) -> None:
        reader = StoreReader(self.reads or self.store)
        service = HistoryService(
            self.store, reader, registry.services, limits=self.limits, keep=self.keep, admin=self.admin
        )
        self.service = service
        registry.on_start(self.open)
        registry.health("history", service.health)
        registry.on_close(self.close)
        registry.drawing_hook(service.on_drawing_end)
        registry.errors(HistoryCode)
        registry.handle("submit", messages.parse_submit, service.on_submit)
        registry.handle("sprite", messages.parse_sprite, service.on_sprite)
        registry.handle("delete", messages.parse_delete, service.on_delete)
        registry.handle("mine", messages.parse_mine, service.on_mine)
        registry.handle("moderate", messages.parse_moderate, service.on_moderate)
        registry.collector(HistoryMetrics(service))
        gallery.Gallery(reader, keep=self.keep, public=self.public_gallery).install(registry)

    async def resumable(self, key: str) -> bool:
        """Whether drawing ``key`` may be resumed from the history (see :meth:`HistoryService.resumable`)."""
        return self.service is not None and await self.service.resumable(key)

    async def close(self) -> None:
        await self.store.close()
        if self.reads is not None:
            await self.reads.close()

    async def open(self) -> None:
        try:
            await self.store.open()
            usage = await self.store.usage()
            if self.service is not None:
                self.service.usage = usage
            if self.reads is not None:
                await self.reads.open()
        except (StoreError, OSError) as e:
            await self.close()
            raise StartupFailed(f"cannot open the history database {shown(self.db)!r}: {e}{_hint(e)}") from e


def open_reader(db: str, quota: Quota) -> DoodleStore:
    """A second connection to ``db`` for reads only (a SQLite file opened read-only; PostgreSQL: its own pool)."""
    return open_database(db, quota) if is_shared(db) else SQLiteStore(db, quota, readonly=True)


def _hint(e: Exception) -> str:
    """What an operator can do about a database that does not open."""
    text = str(e).lower()
    if "postgresql" in text and any(w in text for w in ("connection", "timeout", "incomplete", "refused")):
        return (
            " (PostgreSQL did not answer: check that it runs and listens where the URL says, the user, password and"
            " database name, and pg_hba.conf for this host)"
        )
    if any(w in text for w in ("readonly", "read-only", "unable to open", "permission denied")):
        return (
            " (the file or its folder is read-only: give this user write access, or pass --db on a writable"
            f" filesystem, or --db {MEMORY_DB} to keep nothing)"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            " (the file is damaged or is not a doodle database: move it aside and restart to begin a new"
            " history, or restore a backup; `sqlite3 FILE .recover` may save its drawings)"
        )
    return ""
