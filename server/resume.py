"""Resuming a drawing after a dropped connection (protocol v1.1 ``hello.resume``).

Every drawing has a key (:attr:`server.session.Session.drawing_key`, 128 random bits),
sent in every ``guesses`` and ``cleared``.  Promises of :class:`Resume`:

* When a session ends (disconnect or shutdown) with a drawing, its key stays resumable
  for ``resume_ttl_s`` seconds; at most ``max_resume_keys`` keys are remembered (past it
  the oldest is forgotten).  A cleared drawing's key is not resumable (the client was
  given the next drawing's key).  The hook runs before the history's, so a reconnect
  never races the store.
* ``hello {"resume": key}`` with such a key, before the new session has drawn anything,
  makes the session's drawing that key (the key is used up: it is resumable again once
  this session ends); the ``hello`` reply carries ``"drawing": key, "resumed": true``.
  The client then replays its strokes; the history keeps one record per key
  (:mod:`server.history.store`), so the drawing stored at the drop is replaced, never
  duplicated.
* A key whose drawing is still in progress in an open session of this process (the client
  reconnected before the server saw its old connection drop, as after a Wi-Fi handover)
  is taken over: that session is closed with :data:`TAKEN_OVER` and its drawing ends as at
  a disconnect, then the key is resumed as above; if that takes more than
  ``RESUME_TAKEOVER_S``, the ``hello`` answers ``unknown_drawing``.  Only the client that
  was sent the key (128 random bits) can name it.
* A key is claimed before the ``hello`` waits for anything: of concurrent ``hello.resume``
  naming one key, exactly one resumes it; the others answer ``unknown_drawing``.  A key a
  session of this process resumed stays claimed until that session's drawing ends or the
  session goes.
* A ``delete`` of a drawing's key (v1.1, :mod:`server.history.service`) forgets the key:
  it no longer resumes (for ``resume_ttl_s``, whatever the history still says), so a
  resumed session cannot re-create a record its owner deleted.
* An unknown, expired or used-up key answers ``unknown_drawing`` (the ``hello``'s other
  fields are applied); the session goes on with its own new drawing.  A ``resume`` after
  the session has drawn answers ``invalid_field``.
* With a history in this process (SQLite), keys live in this process's memory. A key it
  does not know is asked of ``kept`` (the history's
  :meth:`server.history.feature.DoodleHistory.resumable`: kept at a disconnect or shutdown
  within ``resume_ttl_s``), so after a restart (with a history file), or with
  ``--workers`` on another worker, the drawing is still resumed; such a key is used up
  until the session that resumed it ends.
* With a shared database (``--db postgresql://``, ``shared``), keys live in it
  (:class:`server.history.postgres.PostgresStore`'s ``resume_keys``), so a client may
  resume on any instance: the key of a drawing that ends by disconnect or shutdown is
  written before the history's hook runs, and every ``RESUME_SYNC_S`` the instance
  writes the keys of its sessions' drawings in progress (those of sessions that sent a
  ``hello``: only they can resume), so the drawings of an instance that is killed can be
  resumed elsewhere for ``resume_ttl_s``.  A key is claimed in one transaction: one
  session gets it.  A key whose drawing goes on in a session of this instance is not
  resumable; one in progress on another live instance is (its client is the only one
  holding it).  A database that fails answers ``store_failed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric

from server import protocol
from server.errors import ClientFault, InvalidField, StoreError, StoreFailed
from server.history.messages import DeleteMsg
from server.limits import RESUME_SYNC_S, RESUME_TAKEOVER_S, Limits
from server.periodic import Periodic
from server.plugin import Conversation, Registry, Services
from server.session import Session
from server.stores import ResumeKeyStore

log = logging.getLogger("doodlestream.resume")

#: Drawing-end reasons after which a drawing may be resumed.
RESUMABLE_REASONS = frozenset({"disconnect", "shutdown"})
#: WebSocket close code of a session whose drawing another connection resumed (a private-use code).
TAKEN_OVER = 4001
NOT_RESUMABLE = (
    "no resumable drawing has this key (unknown, expired, deleted, or resumed already); this is a new drawing"
)


class ResumeCode(StrEnum):
    """The ``error`` code only ``resume`` answers."""

    #: A ``hello.resume`` key unknown, used up or expired.
    UNKNOWN_DRAWING = "unknown_drawing"


class UnknownDrawing(ClientFault):
    """A ``hello.resume`` key that names no resumable drawing (unknown, or expired)."""

    code = ResumeCode.UNKNOWN_DRAWING


class Resume:
    """The ``resume`` feature (see module docstring); keys in ``shared`` (a PostgreSQL store) when given."""

    def __init__(
        self,
        limits: Limits,
        *,
        kept: Callable[[str], Awaitable[bool]] | None = None,
        shared: ResumeKeyStore | None = None,
    ) -> None:
        self.ttl_s = limits.resume_ttl_s
        self._kept = kept
        #: Keys a ``hello`` is resuming or a session of this process resumed, with that session's ``id()``
        #: (not to be resumed twice).
        self._claimed: dict[str, int] = {}
        #: Keys whose drawing was deleted, with the ``time.monotonic()`` they may be forgotten at.
        self._deleted: OrderedDict[str, float] = OrderedDict()
        #: Keys a ``hello`` is resuming now.
        self._resuming: set[str] = set()
        self.max_keys = limits.max_resume_keys
        self.shared = shared
        #: Keys being taken over from an open session, set once its drawing has ended.
        self._taking_over: dict[str, asyncio.Event] = {}
        self._services: Services | None = None
        #: Resumable keys with the ``time.monotonic()`` they expire at, oldest first (no shared store).
        self._ended: OrderedDict[str, float] = OrderedDict()
        #: Sessions that sent a ``hello`` (shared store): their drawings' keys are written.
        self._sessions: weakref.WeakValueDictionary[int, Session] = weakref.WeakValueDictionary()
        #: Keys of drawings in progress written to the shared store, with the ``time.time()`` they were.
        self._held: dict[str, float] = {}
        self._syncing = Periodic(
            self.sync, interval_s=RESUME_SYNC_S, name="resume-sync", what="writing resume keys", log=log
        )
        #: Resume keys that could not be written at a drawing's end (the periodic writes count theirs).
        self.end_failures = 0
        self._dropping: set[asyncio.Task[None]] = set()

    def install(self, registry: Registry) -> None:
        self._services = registry.services
        registry.offer("resume")
        registry.errors(ResumeCode)
        if self.shared is not None:
            registry.collector(self)
        registry.drawing_hook(self.on_drawing_end)
        registry.hello_hook(self.on_hello)
        registry.health("resume", self.health)
        registry.observe(self)
        if self.shared is not None:
            registry.on_start(self.start_sync)
            registry.on_close(self._syncing.stop)

    def health(self) -> dict[str, Any]:
        if self.shared is None:
            return {"keys": len(self._ended)}
        return {"shared": True, "held": len(self._held), "sync_failures": self.sync_failures}

    def collect(self) -> Iterator[Metric]:
        """The metrics of a shared resume store (a collector, registered when there is one)."""
        yield CounterMetricFamily(
            "doodlestream_resume_sync_failures",
            "Resume keys not written to the shared database.",
            value=self.sync_failures,
        )

    def _expire(self, now: float) -> None:
        while self._ended:
            key, expires = next(iter(self._ended.items()))
            if expires > now and len(self._ended) <= self.max_keys:
                return
            del self._ended[key]

    # ------------------------------------------------------------ Observer: deletes

    def on_message(self, msg: object) -> None:
        """A ``delete`` names a drawing's key: it no longer resumes (see module docstring)."""
        if isinstance(msg, DeleteMsg):
            self.forget(msg.key)

    def on_error(self, code: str) -> None:
        pass

    def on_guesses(self, seconds: float, *, live: bool) -> None:
        pass

    def forget(self, key: str) -> None:
        """Make ``key`` unresumable (its drawing is being deleted)."""
        now = time.monotonic()
        self._ended.pop(key, None)
        self._deleted[key] = now + self.ttl_s
        self._deleted.move_to_end(key)
        while self._deleted:
            oldest, until = next(iter(self._deleted.items()))
            if until > now and len(self._deleted) <= self.max_keys:
                break
            del self._deleted[oldest]
        if self.shared is not None:
            shared = self.shared
            task = asyncio.get_running_loop().create_task(self._drop_shared(shared, key))
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)

    async def _drop_shared(self, shared: ResumeKeyStore, key: str) -> None:
        try:
            await shared.drop_keys([key])
        except (StoreError, OSError) as e:  # a database fault: the key was forgotten here all the same
            self.end_failures += 1
            log.warning("deleted drawing's resume key not dropped (%s)", type(e).__name__)

    async def on_drawing_end(self, session: Session, reason: str) -> None:
        key = session.drawing_key
        self._release_id(key, id(session))
        try:
            if self.shared is not None:
                await self._shared_end(key, reason)
            elif reason in RESUMABLE_REASONS and self.max_keys > 0:
                now = time.monotonic()
                self._ended[key] = now + self.ttl_s
                self._ended.move_to_end(key)
                self._expire(now)
        finally:
            taking_over = self._taking_over.get(key)
            if taking_over is not None:
                taking_over.set()

    async def _take_over(self, conv: Conversation, key: str) -> None:
        """If another open session holds ``key``'s drawing, close it and wait until its drawing has ended."""
        assert self._services is not None
        holder = self._services.holding(key)
        if holder is None or holder is conv or key in self._taking_over:
            return
        ended = self._taking_over[key] = asyncio.Event()
        try:
            holder.end(TAKEN_OVER, "this drawing was resumed by another connection")
            async with asyncio.timeout(RESUME_TAKEOVER_S):
                await ended.wait()
        except TimeoutError:
            log.warning("resume: the session holding a drawing did not end within %g s", RESUME_TAKEOVER_S)
        finally:
            del self._taking_over[key]

    async def on_hello(self, conv: Conversation, msg: protocol.HelloMsg) -> protocol.Payload:
        session = conv.session
        if self.shared is not None:
            self._sessions[id(session)] = session
        if msg.resume is None:
            return {}
        if session.has_drawing:
            raise InvalidField("'resume' must come before the session draws anything (or after a clear)")
        key = msg.resume
        if key in self._resuming or key in self._deleted:
            raise UnknownDrawing(NOT_RESUMABLE)
        self._resuming.add(key)  # before any await: a concurrent hello naming it is refused above
        try:
            await self._take_over(conv, key)  # ends the drawing of a session holding it (releasing its claim)
            if key in self._claimed or len(self._claimed) >= self.max_keys:
                resumed = False  # resumed by a session that has not drawn yet
            elif self.shared is not None:
                resumed = await self._claim(key)
            else:
                self._expire(time.monotonic())
                resumed = self._ended.pop(key, None) is not None or await self._from_history(key)
            resumed = resumed and key not in self._deleted  # deleted while this hello waited
        finally:
            self._resuming.discard(key)
        if not resumed:
            raise UnknownDrawing(NOT_RESUMABLE)
        session.drawing_key = key
        self._claimed[key] = id(session)
        weakref.finalize(session, self._release_id, key, id(session))
        return {"drawing": key, "resumed": True}

    def _release_id(self, key: str, session_id: int) -> None:
        """The session that resumed ``key`` is gone: the key is no longer claimed by it."""
        if self._claimed.get(key) == session_id:
            del self._claimed[key]

    async def _from_history(self, key: str) -> bool:
        """Whether ``key``, unknown here, was kept at a disconnect or shutdown (the caller claimed it)."""
        return self._kept is not None and await self._kept(key)

    # ------------------------------------------------------------ shared keys (PostgreSQL)

    async def _shared_end(self, key: str, reason: str) -> None:
        assert self.shared is not None
        self._held.pop(key, None)
        try:
            if reason in RESUMABLE_REASONS and self.max_keys > 0:
                expires = time.time() + self.ttl_s
                await self.shared.hold_keys([key], expires)
            else:
                await self.shared.drop_keys([key])
        except (StoreError, OSError) as e:  # a database fault must not fail the drawing
            self.end_failures += 1
            log.warning("resume key not written (%s): its drawing may not be resumable", type(e).__name__)

    async def _claim(self, key: str) -> bool:
        assert self.shared is not None
        if self._services is not None and self._services.holding(key) is not None:
            return False  # its drawing goes on here (and was not taken over)
        try:
            claimed = await self.shared.claim_key(key)
        except (StoreError, OSError) as e:
            raise StoreFailed(f"resumable drawings could not be looked up ({type(e).__name__})") from None
        if claimed:
            self._held.pop(key, None)
        return claimed

    @property
    def sync_failures(self) -> int:
        """Resume-key writes that failed (at drawing ends and periodic)."""
        return self.end_failures + self._syncing.failures

    async def start_sync(self) -> None:
        self._syncing.start()

    async def sync(self) -> None:
        """Write the keys of drawings in progress not written yet, or written more than half the TTL ago."""
        assert self.shared is not None
        now = time.time()
        live = {s.drawing_key for s in list(self._sessions.values()) if s.has_drawing}
        for gone in [k for k in self._held if k not in live]:
            del self._held[gone]
        due = [k for k in live if now - self._held.get(k, 0.0) > self.ttl_s / 2]
        if not due:
            return
        expires = now + self.ttl_s
        await self.shared.hold_keys(due, expires)
        for k in due:
            self._held[k] = now
