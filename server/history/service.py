"""When drawings are kept, and the ``submit`` and ``sprite`` messages.

:class:`HistoryService` writes finished drawings to an :class:`AsyncStore`:

* it stores a drawing when its client ``submit``\\ s it, clears it, or disconnects with
  strokes on the canvas (a drawing hook): the strokes with timing, every guess list the
  client was sent (with its stroke count), the final top-5, the word the player meant
  (from ``submit``), the client kind, the session id and the times;
* a drawing is stored once: after ``submit``, a ``clear``, a disconnect or another
  ``submit`` of the very same strokes stores nothing new (``submit`` answers the same
  id, and a ``word`` it carries replaces the stored one); once strokes are added or
  undone, it is a new drawing, which keeps the word the player gave before;
* the final top-5 is for the whole stored drawing: a stroke still being drawn is
  finished first, and a drawing whose last guesses are for fewer strokes is classified
  once more before it is stored;
* ``saved`` is sent only after the drawing is committed (see :mod:`server.history.store`);
  a database that fails answers ``store_failed`` (a server fault);
* ``sprite`` answers a PNG of the current drawing or of a stored one
  (:mod:`server.history.sprite`), rendered off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import Awaitable
from typing import TypeVar

from server import protocol
from server.errors import NothingToSave, StoreFailed
from server.history.sprite import parse_sprite_options, sprite_png
from server.history.store import AsyncStore, DoodleReader, NewDoodle
from server.plugin import Conversation, Services
from server.session import RawStroke, Session

log = logging.getLogger("doodlestream.history")
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


class HistoryService:
    """Decides what is kept, and when (see module docstring)."""

    def __init__(self, store: AsyncStore, reader: DoodleReader, services: Services) -> None:
        self.store = store
        self.reader = reader
        self.services = services
        self._saved: dict[str, _Saved] = {}
        self._watched: set[str] = set()  # sessions with a finalizer that forgets them

    # ------------------------------------------------------------ storing

    async def _final_guesses(self, session: Session) -> None:
        """Make the session's last guess list be for all of its strokes."""
        sent = session.guesses_sent
        if session.strokes and (not sent or sent[-1].strokes != session.strokes):
            session.record_guesses(await self.services.classify(await self.services.model_input(session)))

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
        """Drawing hook: keep a cleared drawing or one left on disconnect."""
        if session.strokes:
            await self.keep(session, reason, None)
        self._saved.pop(session.id, None)  # the next drawing of this session is a new one

    async def on_submit(self, conn: Conversation, msg: protocol.SubmitMsg, received: float) -> protocol.Payload:
        session = conn.session
        conn.cancel_live()
        session.pen_up()
        if not session.strokes:
            raise NothingToSave("there is no stroke to save; draw something first")
        doodle_id = await self.keep(session, "submit", msg.word)
        return protocol.with_seq(protocol.saved(doodle_id=doodle_id), msg.seq)

    async def on_sprite(self, conn: Conversation, msg: protocol.SpriteMsg, received: float) -> protocol.Payload:
        options = parse_sprite_options(msg.size, msg.color, msg.width)
        if msg.id is not None:
            drawing = (await self.reader.get(msg.id)).drawing
        else:
            drawing = conn.session.drawing()
            if not drawing:
                raise NothingToSave("the canvas is empty; there is nothing to make a sprite of")
        png = await asyncio.get_running_loop().run_in_executor(None, sprite_png, drawing, options)
        return protocol.with_seq(protocol.sprite(png=png), msg.seq)
