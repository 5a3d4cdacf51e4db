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
* An unknown, expired or used-up key answers ``unknown_drawing`` (the ``hello``'s other
  fields are applied); the session goes on with its own new drawing.  A ``resume`` after
  the session has drawn answers ``invalid_field``.
* Keys live in this process's memory. A key it does not know is asked of ``kept`` (the
  history's :meth:`server.history.feature.DoodleHistory.resumable`: kept at a disconnect
  or shutdown within ``resume_ttl_s``), so after a restart (with a history file), or with
  ``--workers`` on another worker, the drawing is still resumed; such a key is used up
  until the session that resumed it ends.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from server import protocol
from server.errors import InvalidField, UnknownDrawing
from server.limits import Limits
from server.plugin import Conversation, Registry
from server.session import Session

#: Drawing-end reasons after which a drawing may be resumed.
RESUMABLE_REASONS = frozenset({"disconnect", "shutdown"})


class Resume:
    """The ``resume`` feature (see module docstring)."""

    def __init__(self, limits: Limits, *, kept: Callable[[str], Awaitable[bool]] | None = None) -> None:
        self.ttl_s = limits.resume_ttl_s
        self._kept = kept
        #: Keys resumed whose session has not ended yet (not to be resumed twice).
        self._claimed: set[str] = set()
        self.max_keys = limits.max_resume_keys
        #: Resumable keys with the ``time.monotonic()`` they expire at, oldest first.
        self._ended: OrderedDict[str, float] = OrderedDict()

    def install(self, registry: Registry) -> None:
        registry.offer("resume")
        registry.drawing_hook(self.on_drawing_end)
        registry.hello_hook(self.on_hello)
        registry.health("resume", lambda: {"keys": len(self._ended)})

    def _expire(self, now: float) -> None:
        while self._ended:
            key, expires = next(iter(self._ended.items()))
            if expires > now and len(self._ended) <= self.max_keys:
                return
            del self._ended[key]

    async def on_drawing_end(self, session: Session, reason: str) -> None:
        self._claimed.discard(session.drawing_key)
        if reason in RESUMABLE_REASONS and self.max_keys > 0:
            now = time.monotonic()
            self._ended[session.drawing_key] = now + self.ttl_s
            self._ended.move_to_end(session.drawing_key)
            self._expire(now)

    async def on_hello(self, conv: Conversation, msg: protocol.HelloMsg) -> protocol.Payload:
        if msg.resume is None:
            return {}
        session = conv.session
        if session.has_drawing:
            raise InvalidField("'resume' must come before the session draws anything (or after a clear)")
        self._expire(time.monotonic())
        if self._ended.pop(msg.resume, None) is None and not await self._from_history(msg.resume):
            raise UnknownDrawing(
                "no resumable drawing has this key (unknown, expired, or resumed already); this is a new drawing"
            )
        session.drawing_key = msg.resume
        self._claimed.add(msg.resume)
        return {"drawing": msg.resume, "resumed": True}

    async def _from_history(self, key: str) -> bool:
        """Whether ``key``, unknown here, was kept at a disconnect or shutdown (then it is claimed)."""
        if self._kept is None or key in self._claimed or len(self._claimed) >= self.max_keys:
            return False
        if not await self._kept(key):
            return False
        self._claimed.add(key)
        return True
