"""When drawings are kept, and the ``submit`` and ``sprite`` messages.

:class:`HistoryService` writes finished drawings to an :class:`AsyncStore`:

* it stores a drawing when its client ``submit``\\ s it and, with ``keep="all"`` (the
  default), when it is cleared or left on the canvas at disconnect or shutdown (a
  drawing hook); ``keep="submitted"`` keeps submitted drawings only.  A record holds
  the strokes with timing, every guess list the client was sent (with its stroke
  count), the final top-5, the word the player meant (from ``submit``), the session's
  target word and whether ``recognized`` was sent for it in this drawing (the round's
  verdict: the gallery's ✓), the client kind, the session id and the times;
* a drawing is stored once, under its key (:attr:`server.session.Session.drawing_key`;
  the store keeps one record per key, so a drawing left at a dropped connection and
  resumed in another session updates its record): after ``submit``, a ``clear``, a disconnect or another
  ``submit`` of the very same strokes stores nothing new (``submit`` answers the same
  id, and a ``word`` it carries replaces the stored one); once strokes are added or
  undone it is stored again when it ends or is submitted, into the same record (same
  key, same id), keeping the word the player gave before;
* the final top-5 is for the whole stored drawing: a stroke still being drawn is
  finished first, and a drawing whose last guesses are for fewer strokes is classified
  once more before it is stored;
* the event loop only takes a snapshot of the drawing (one step per stroke: the
  session's point arrays are never changed after their pen-up); encoding, the size
  check, the quota and the write run on the store's thread
  (:mod:`server.history.record`, :mod:`server.history.store`);
* at most ``store_queue_drawings`` drawings are accepted and not yet committed.  When
  that many are: ``submit`` answers ``store_failed`` at once, a cleared or left drawing
  is dropped (counted as ``dropped``), one left at shutdown waits for a place up to
  ``store_timeout_s``.  A drawing not committed within ``store_timeout_s`` of being
  accepted answers ``store_failed`` (it may still be written if the disk recovers);
* ``saved`` is sent only after the drawing is committed; a drawing that could not be
  kept raises a :class:`server.errors.Fault` (``record_too_large``, ``store_failed``),
  which ``submit`` answers and the drawing hook passes on (``clear`` reports it);
* :meth:`HistoryService.health` is the ``history`` part of ``/healthz``;
* :meth:`HistoryService.resumable` says whether a drawing key was kept when its session
  ended (disconnect or shutdown) within ``resume_ttl_s``: after a restart,
  :mod:`server.resume` asks it for keys it no longer remembers;
* ``sprite`` answers a PNG of the current drawing or of a stored one
  (:mod:`server.history.sprite`), rendered off the event loop;
* ``delete`` (v1.1) removes the kept drawing with the given drawing key (a player's own:
  the key is sent only to the session that drew it) and answers ``deleted`` with its id,
  ``not_found`` when no drawing has that key; a session whose current drawing it was
  stores it again only if it changes and ends;
* ``moderate`` (v1.1) hides, shows again or deletes a kept drawing by id, with
  ``admin_token`` equal to the server's ``--admin-token`` (else ``forbidden``); answers
  ``moderated``, ``not_found`` for an unknown id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from server import protocol
from server.admin import AdminGate
from server.errors import Fault, LimitExceeded, NotFound, StoreError, StoreFailed, StoreTimeout
from server.history import messages
from server.history.errors import HistoryCode, NothingToSave
from server.history.record import NewDoodle, lower_bound
from server.history.sprite import parse_sprite_options, sprite_png
from server.history.store import DoodleReader, DrawingStore, Usage
from server.limits import Limits
from server.plugin import Conversation, Services
from server.session import Session

log = logging.getLogger("doodlestream.history")
T = TypeVar("T")
Keep = Literal["all", "submitted"]
#: What ``--keep`` may say: every drawing, or submitted ones only.
KEEP_CHOICES: tuple[Keep, ...] = ("all", "submitted")
#: Least time between two log lines about dropped drawings, in seconds.
DROP_LOG_EVERY_S = 10.0
#: Why a kept drawing may be resumed after a restart: its session ended without the player ending it.
RESUMABLE_REASONS = frozenset({"disconnect", "shutdown"})
#: How often a drawing left at shutdown looks again for a place in a full queue, in seconds.
SLOT_POLL_S = 0.02


class _Saved:
    """What was last stored for one session: the stored id, word and exact strokes."""

    __slots__ = ("doodle_id", "strokes", "word")

    def __init__(self, doodle_id: int, word: str | None, strokes: list[object]) -> None:
        self.doodle_id = doodle_id
        self.word = word
        self.strokes = strokes  # references keep the stroke objects (and their ids) alive

    def same(self, session: Session) -> bool:
        raw = session.raw
        return len(raw) == len(self.strokes) and all(a is b for a, b in zip(raw, self.strokes, strict=True))


def new_record(session: Session, reason: str, word: str | None) -> NewDoodle:
    """The session's drawing as a record to store, in one step per stroke and per guess list.

    The stroke arrays are shared, not copied: a session never changes a finished stroke."""
    guesses: list[dict[str, Any]] = [
        {"strokes": g.strokes, "guesses": [{"word": w, "score": sc} for w, sc in g.guesses]}
        for g in session.guesses_sent
    ]
    return NewDoodle(
        session=session.id,
        client=session.client,
        word=word,
        reason=reason,
        started_at=float(session.drawing_started_at or session.started_at),
        drawing=[(s.xy[:, 0], s.xy[:, 1], s.t) for s in session.raw],  # column views, no copies
        guesses=guesses,
        final=list(guesses[-1]["guesses"]) if guesses else [],
        key=session.drawing_key,
        target=session.game.target,
        target_recognized=session.game.recognized,
    )


class HistoryService:
    """Decides what is kept, and when (see module docstring)."""

    def __init__(
        self,
        store: DrawingStore,
        reader: DoodleReader,
        services: Services,
        *,
        limits: Limits | None = None,
        keep: Keep = "all",
        admin_token: str | None = None,
        admin: AdminGate | None = None,
    ) -> None:
        if keep not in KEEP_CHOICES:
            raise ValueError(f"keep must be one of {KEEP_CHOICES}, not {keep!r}")
        self.store = store
        self.reader = reader
        self.services = services
        self.limits = limits or Limits()
        self.keep_policy: Keep = keep
        #: The admin-token check (:class:`server.admin.AdminGate`; shared with ``teach`` when the server passes one).
        self.admin = admin or AdminGate(admin_token)
        self._saved: dict[str, _Saved] = {}
        self._watched: set[str] = set()  # sessions with a finalizer that forgets them
        #: Drawings not kept because the queue was full, by reason.
        self.dropped: dict[str, int] = {}
        #: Drawings not kept for being over ``max_record_bytes``.
        self.too_large = 0
        #: Writes that failed (database error) or timed out.
        self.failures = 0
        self.timeouts = 0
        self.last_error: str | None = None
        self.usage: Usage | None = None
        self._last_drop_log = 0.0

    # ------------------------------------------------------------ health

    def state(self) -> str:
        """``ok``, ``stalled`` or ``failing`` (see :meth:`health`)."""
        busy = self.store.busy_since
        stalled = busy is not None and time.monotonic() - busy > self.limits.store_timeout_s
        return "stalled" if stalled else "failing" if self.last_error else "ok"

    def health(self) -> dict[str, Any]:
        """The ``history`` part of ``/healthz``: policy, queue, what was lost and why, usage, state.

        ``state``: ``ok``; ``stalled`` while a database call has run longer than
        ``store_timeout_s`` (a frozen disk or a lock held elsewhere); ``failing`` while the
        last write failed."""
        out: dict[str, Any] = {
            "state": self.state(),
            "keep": self.keep_policy,
            "queue": self.store.writes_pending,
            "queue_max": self.limits.store_queue_drawings,
            "dropped": sum(self.dropped.values()),
            "too_large": self.too_large,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "last_error": self.last_error,
        }
        if self.usage is not None:
            out.update(drawings=self.usage.drawings, bytes=self.usage.bytes, evicted=self.usage.evicted)
        return out

    async def resumable(self, key: str) -> bool:
        """Whether drawing ``key`` was kept at a disconnect or shutdown less than ``resume_ttl_s`` ago."""
        try:
            kept = await self.store.kept_key(key)
        except (StoreError, OSError) as e:
            log.warning("cannot look up a drawing key to resume: %s", e)
            return False
        if kept is None:
            return False
        reason, written_at = kept
        return reason in RESUMABLE_REASONS and time.time() - written_at <= self.limits.resume_ttl_s

    # ------------------------------------------------------------ storing

    async def _final_guesses(self, session: Session) -> None:
        """Make the session's last guess list be for all of its strokes."""
        sent = session.guesses_sent
        if session.strokes and (not sent or sent[-1].strokes != session.strokes):
            session.record_guesses(
                await self.services.classify(await self.services.model_input(session), owner=session.id)
            )

    async def _admit(self, reason: str) -> None:
        """Wait for (shutdown) or insist on (``submit``) a place in the store queue; raise when there is none."""
        cap = self.limits.store_queue_drawings
        if reason == "shutdown":
            deadline = time.monotonic() + self.limits.store_timeout_s
            while self.store.writes_pending >= cap and time.monotonic() < deadline:
                await asyncio.sleep(SLOT_POLL_S)
        if self.store.writes_pending < cap:
            return
        if reason != "submit":
            self.dropped[reason] = self.dropped.get(reason, 0) + 1
            now = time.monotonic()
            if now - self._last_drop_log >= DROP_LOG_EVERY_S:
                self._last_drop_log = now
                log.warning(
                    "history queue full (%d drawings waiting to be stored): dropped %s so far",
                    cap,
                    ", ".join(f"{n} {r}" for r, n in sorted(self.dropped.items())),
                )
        raise StoreFailed(
            f"the history is busy: {cap} drawings are waiting to be stored (store_queue_drawings); "
            "the drawing was not kept, try again shortly"
        )

    async def keep(self, session: Session, reason: str, word: str | None) -> int:
        """Store the session's drawing (unless stored already); its id."""
        saved = self._saved.get(session.id)
        if saved is not None and saved.same(session):
            if word is not None and word != saved.word:
                stored_id, new_word = saved.doodle_id, word
                await self._write(session, lambda: self.store.relabel(stored_id, new_word))
                saved.word = word
            return saved.doodle_id
        if word is None and saved is not None:
            word = saved.word  # the player named this drawing earlier; strokes changed since
        await self._final_guesses(session)
        doodle = new_record(session, reason, word)
        if lower_bound(doodle) > self.limits.max_record_bytes:
            self.too_large += 1
            raise self._too_large()
        await self._admit(reason)
        try:
            doodle_id, self.usage = await self._write(session, lambda: self.store.add(doodle))
        except Fault as e:
            if e.code == HistoryCode.RECORD_TOO_LARGE:
                self.too_large += 1
            raise
        if session.id not in self._watched:
            self._watched.add(session.id)
            weakref.finalize(session, self._forget, session.id)
        self._saved[session.id] = _Saved(doodle_id, word, list(session.raw))
        return doodle_id

    def _too_large(self) -> Fault:
        return LimitExceeded(
            f"the drawing is too large to keep: its record passes {self.limits.max_record_bytes} bytes"
            " (max_record_bytes)",
            code=HistoryCode.RECORD_TOO_LARGE,
        )

    async def _write(self, session: Session, op: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await op()
        except StoreTimeout as e:
            self.timeouts += 1
            self.last_error = str(e)
            log.error("session %s: storing a drawing timed out: %s", session.id, e)
            raise StoreFailed(
                f"the drawing could not be stored: the history did not confirm it within"
                f" {self.store.timeout_s:g} s (store_timeout_s)"
            ) from None
        except Fault:
            raise
        except (StoreError, OSError, ValueError) as e:  # ValueError: e.g. text SQLite cannot encode
            self.failures += 1
            self.last_error = f"{type(e).__name__}: {e}"
            log.error("session %s: storing a drawing failed: %s", session.id, e)
            raise StoreFailed(f"the drawing could not be stored ({type(e).__name__})") from None
        self.last_error = None
        return result

    def _forget(self, session_id: str) -> None:
        self._saved.pop(session_id, None)
        self._watched.discard(session_id)

    async def on_drawing_end(self, session: Session, reason: str) -> None:
        """Drawing hook: keep a cleared drawing or one left on disconnect (with ``keep="all"``).

        A drawing that could not be kept raises its :class:`Fault` (``clear`` reports it)."""
        try:
            if session.strokes and self.keep_policy == "all":
                await self.keep(session, reason, None)
        finally:
            self._saved.pop(session.id, None)  # the next drawing of this session is a new one

    async def on_submit(self, conn: Conversation, msg: messages.SubmitMsg, received: float) -> protocol.Payload:
        session = conn.session
        conn.cancel_live()
        session.pen_up()
        if not session.strokes:
            raise NothingToSave("there is no stroke to save; draw something first")
        doodle_id = await self.keep(session, "submit", msg.word)
        return protocol.with_seq(messages.saved(doodle_id=doodle_id, drawing=session.drawing_key), msg.seq)

    async def on_sprite(self, conn: Conversation, msg: messages.SpriteMsg, received: float) -> protocol.Payload:
        options = parse_sprite_options(msg.size, msg.color, msg.width)
        if msg.id is not None:
            drawing = (await self.reader.get(msg.id)).drawing
        else:
            drawing = conn.session.drawing()
            if not drawing:
                raise NothingToSave("the canvas is empty; there is nothing to make a sprite of")
        png = await asyncio.get_running_loop().run_in_executor(None, sprite_png, drawing, options)
        return protocol.with_seq(messages.sprite(png=png), msg.seq)

    async def on_delete(self, conn: Conversation, msg: messages.DeleteMsg, received: float) -> protocol.Payload:
        doodle_id = await self._write(conn.session, lambda: self.store.delete_key(msg.key))
        if doodle_id is None:
            raise NotFound("no kept drawing has this key (deleted already, never kept, or evicted)")
        saved = self._saved.get(conn.session.id)
        if saved is not None and saved.doodle_id == doodle_id:
            del self._saved[conn.session.id]
        log.info("session %s deleted drawing %d", conn.session.id, doodle_id)
        return protocol.with_seq(messages.deleted(doodle_id=doodle_id), msg.seq)

    async def on_mine(self, conn: Conversation, msg: messages.MineMsg, received: float) -> protocol.Payload:
        """``mine``: which of a client's own drawing keys have a kept drawing (read-only; keys are unguessable)."""
        try:
            found = await self.store.ids_of_keys(list(msg.keys))
        except (StoreError, OSError) as e:
            raise StoreFailed(f"the history could not be read ({type(e).__name__})") from None
        return protocol.with_seq(messages.mine(drawings=found), msg.seq)

    async def on_moderate(self, conn: Conversation, msg: messages.ModerateMsg, received: float) -> protocol.Payload:
        self.admin.check(msg.admin_token, address=conn.session.address, what="moderation requests")
        doodle_id = msg.id
        if msg.action == "delete":
            found = await self._write(conn.session, lambda: self.store.delete(doodle_id))
        else:
            hidden = msg.action == "hide"
            found = await self._write(conn.session, lambda: self.store.set_hidden(doodle_id, hidden))
        if not found:
            raise NotFound(f"there is no drawing {doodle_id}")
        log.info("session %s: moderator %s drawing %d", conn.session.id, msg.action, doodle_id)
        return protocol.with_seq(messages.moderated(doodle_id=doodle_id, action=msg.action), msg.seq)
