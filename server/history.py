"""Every doodle kept: when drawings are stored, the ``submit`` and ``sprite`` messages.

:class:`History` attaches a :class:`server.store.AsyncStore` to a running
:class:`server.app.DoodleServer`:

* it stores a drawing when its client ``submit``\\ s it, clears it, or disconnects with
  strokes on the canvas (``DoodleServer.drawing_hooks``): the strokes with timing, every
  guess list the client was sent (with its stroke count), the final top-5, the word the
  player meant (from ``submit``), the client kind, the session id and the times;
* a drawing is stored once: after ``submit``, a ``clear``, a disconnect or another
  ``submit`` of the very same strokes stores nothing new (``submit`` answers the same
  id, and a ``word`` it carries replaces the stored one); once strokes are added or
  undone, it is a new drawing, which keeps the word the player gave before;
* the final top-5 is for the whole stored drawing: a stroke still being drawn is
  finished first, and a drawing whose last guesses are for fewer strokes is classified
  once more before it is stored;
* ``saved`` is sent only after the drawing is committed (see :mod:`server.store`);
* ``sprite`` answers a PNG of the current drawing or of a stored one
  (:mod:`server.sprite`), rendered off the event loop.

HTTP routes (gallery, JSON API, pictures) live in :mod:`server.gallery`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from server import protocol as P
from server.errors import NotFound, NothingToSave, StoreFailed
from server.session import RawStroke, Session
from server.sprite import parse_sprite_options, sprite_png
from server.store import AsyncStore, Doodle, NewDoodle, open_store

if TYPE_CHECKING:
    from server.app import Connection, DoodleServer

log = logging.getLogger(__name__)
T = TypeVar("T")


def compact(drawing: list[RawStroke]) -> list[RawStroke]:
    """The same numbers, integral floats written as ints (smaller JSON, same values)."""
    return [[[int(v) if isinstance(v, float) and v.is_integer() else v for v in axis] for axis in s] for s in drawing]


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


class History:
    """The history service of one server (see module docstring)."""

    def __init__(self, server: DoodleServer, store: AsyncStore) -> None:
        self.server = server
        self.store = store
        self._saved: dict[str, _Saved] = {}
        self._watched: set[str] = set()  # sessions with a finalizer that forgets them
        self.stored = 0
        """Drawings stored since start (for stats)."""

    @classmethod
    async def attach(cls, server: DoodleServer, db: str) -> History:
        """Open the store ``db`` and register hooks, message handlers and HTTP routes."""
        from server import gallery  # the routes need History; imported here to keep the modules acyclic

        store = AsyncStore(lambda: open_store(db))
        await store.open()
        history = cls(server, store)
        server.drawing_hooks.append(history.on_drawing_end)
        server.extra_handlers[P.SubmitMsg] = history.on_submit
        server.extra_handlers[P.SpriteMsg] = history.on_sprite
        gallery.register(server, history)
        return history

    async def close(self) -> None:
        await self.store.close()

    # ------------------------------------------------------------ storing

    async def _final_guesses(self, session: Session) -> None:
        """Make the session's last guess list be for all of its strokes."""
        if session.strokes and (not session.history or session.history[-1].strokes != session.strokes):
            session.record(await self.server.batcher.classify(session.model_input()))

    async def keep(self, session: Session, reason: str, word: str | None) -> int:
        """Store the session's drawing (unless stored already); its id."""
        saved = self._saved.get(session.id)
        if saved is not None and saved.same(session):
            if word is not None and word != saved.word:
                await self._write(session, self.store.relabel(saved.doodle_id, word))
                saved.word = word
            return saved.doodle_id
        if word is None and saved is not None:
            word = saved.word  # the player named this drawing earlier; strokes changed since
        await self._final_guesses(session)
        summary = session.summary()
        doodle = NewDoodle(
            session=session.id,
            client=summary["client"],
            word=word,
            reason=reason,
            started_at=float(summary["started_at"]),
            drawing=compact(summary["drawing"]),
            guesses=summary["guesses"],
            final=summary["final"],
        )
        doodle_id = await self._write(session, self.store.add(doodle))
        if session.id not in self._watched:
            self._watched.add(session.id)
            weakref.finalize(session, self._forget, session.id)
        self._saved[session.id] = _Saved(doodle_id, word, list(session.raw))
        self.stored += 1
        return doodle_id

    @staticmethod
    async def _write(session: Session, op: Awaitable[T]) -> T:
        try:
            return await op
        except sqlite3.Error as e:
            log.error("session %s: storing a drawing failed: %s", session.id, e)
            raise StoreFailed(f"the drawing could not be stored ({type(e).__name__})") from None

    def _forget(self, session_id: str) -> None:
        self._saved.pop(session_id, None)
        self._watched.discard(session_id)

    async def on_drawing_end(self, session: Session, reason: str) -> None:
        """``drawing_hooks`` entry: keep a cleared drawing or one left on disconnect."""
        if session.strokes:
            await self.keep(session, reason, None)
        self._saved.pop(session.id, None)  # the next drawing of this session is a new one

    async def on_submit(self, conn: Connection, msg: P.SubmitMsg, received: float) -> P.Payload:
        session = conn.session
        conn.cancel_live()
        session.pen_up()
        if not session.strokes:
            raise NothingToSave("there is no stroke to save; draw something first")
        doodle_id = await self.keep(session, "submit", msg.word)
        return P.with_seq(P.saved(doodle_id=doodle_id), msg.seq)

    # ------------------------------------------------------------ reading

    async def get(self, doodle_id: int) -> Doodle:
        """The stored drawing ``doodle_id``; :class:`NotFound` when there is none."""
        try:
            doodle = await self.store.get(doodle_id)
        except sqlite3.Error as e:
            raise StoreFailed(f"the history could not be read ({type(e).__name__})") from None
        if doodle is None:
            raise NotFound(f"no stored drawing has id {doodle_id}")
        return doodle

    async def on_sprite(self, conn: Connection, msg: P.SpriteMsg, received: float) -> P.Payload:
        options = parse_sprite_options(msg.size, msg.color, msg.width)
        if msg.id is not None:
            drawing = (await self.get(msg.id)).drawing
        else:
            drawing = conn.session.drawing()
            if not drawing:
                raise NothingToSave("the canvas is empty; there is nothing to make a sprite of")
        png = await asyncio.get_running_loop().run_in_executor(None, sprite_png, drawing, options)
        return P.with_seq(P.sprite(png=png), msg.seq)
