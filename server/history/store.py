"""The doodle database: every kept drawing, behind a narrow interface.

:class:`DoodleStore` is the interface (a :class:`typing.Protocol`): add a drawing, get
one by id, list a page of them newest first, scan them oldest first.  It is
synchronous and used from one thread only; :class:`AsyncStore` runs every call of one
store on a dedicated thread so the event loop never waits on the database.  Another
database is added by writing another class with these methods and naming it in
:func:`open_store`.

:class:`DoodleReader` is the read-only view the gallery gets (:class:`StoreReader` over
an :class:`AsyncStore`): a database that fails to read raises
:class:`server.errors.StoreFailed` (a server fault), a missing id
:class:`server.errors.NotFound`.

:class:`SQLiteStore` is the default: one SQLite file in WAL mode with
``synchronous=FULL``, so :meth:`DoodleStore.add` returns only once the drawing is
committed to disk (it survives a SIGKILL or power loss right after).  ``:memory:``
keeps the history in memory only, lost at exit.

Promises:

* Ids are positive, increasing and never reused (``AUTOINCREMENT``).
* A drawing comes back exactly as added: strokes (Quick Draw raw format, numbers
  unchanged), every guess list with its stroke count, the final top-5, word, client,
  session, reason and times.
* ``word`` filters match a drawing's *label*: the word the player meant, or, where the
  player named none, the final top guess.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from server.errors import NotFound, StoreFailed

RawStroke = list[list[float]]
"""One stroke in Quick Draw raw format: ``[[x...], [y...], [t...]]``."""
Guess = dict[str, Any]
"""``{"word": str, "score": float}``."""
GuessList = dict[str, Any]
"""``{"strokes": int, "guesses": [Guess...]}``: what a client was sent after a stroke."""

#: Default doodle database, relative to the working directory.
DEFAULT_DB = "data/doodles.sqlite3"
#: The database name that keeps everything in memory only (lost at exit).
MEMORY_DB = ":memory:"
#: Rows fetched per query when scanning the whole history, in rows.
SCAN_BATCH = 256
#: How long a writer waits for another process holding the database lock, in milliseconds.
BUSY_TIMEOUT_MS = 10_000

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS doodles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    started_at REAL NOT NULL,
    session TEXT NOT NULL,
    client TEXT,
    word TEXT,
    guess TEXT,
    label TEXT GENERATED ALWAYS AS (coalesce(word, guess)) VIRTUAL,
    reason TEXT NOT NULL,
    strokes INTEGER NOT NULL,
    drawing TEXT NOT NULL,
    guesses TEXT NOT NULL,
    final TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS doodles_label ON doodles (label, id);
CREATE INDEX IF NOT EXISTS doodles_created ON doodles (created_at);
"""


@dataclass(frozen=True, slots=True)
class NewDoodle:
    """A finished drawing to store (everything but its id and storage time)."""

    session: str
    client: str | None
    word: str | None
    reason: str
    """``submit``, ``clear`` or ``disconnect``."""
    started_at: float
    drawing: list[RawStroke]
    guesses: list[GuessList]
    final: list[Guess]


@dataclass(frozen=True, slots=True)
class DoodleInfo:
    """What a listing shows of a stored drawing."""

    id: int
    created_at: float
    client: str | None
    word: str | None
    guess: str | None
    """The final top guess (``None`` when the drawing got none)."""
    reason: str
    strokes: int
    drawing: list[RawStroke]
    """The strokes in Quick Draw raw format (``[[x...], [y...], [t ms...]]`` each)."""

    @property
    def label(self) -> str | None:
        """The player's word, else the final top guess."""
        return self.word if self.word is not None else self.guess

    @property
    def recognized(self) -> bool:
        """Whether the final top guess is the word the player meant."""
        return self.word is not None and self.guess == self.word

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "client": self.client,
            "word": self.word,
            "guess": self.guess,
            "label": self.label,
            "recognized": self.recognized,
            "reason": self.reason,
            "strokes": self.strokes,
            "drawing": self.drawing,
        }


@dataclass(frozen=True, slots=True)
class Doodle(DoodleInfo):
    """A stored drawing, complete."""

    session: str
    started_at: float
    guesses: list[GuessList]
    final: list[Guess]

    def public(self) -> dict[str, Any]:
        return {
            **DoodleInfo.public(self),
            "session": self.session,
            "started_at": self.started_at,
            "guesses": self.guesses,
            "final": self.final,
        }


class DoodleStore(Protocol):
    """What the history service needs of a database (see module docstring).  One thread at a time."""

    def add(self, doodle: NewDoodle) -> int:
        """Store ``doodle``; returns its id once it is durably committed."""
        ...

    def relabel(self, doodle_id: int, word: str) -> None:
        """Set the word the player meant for drawing ``doodle_id`` (committed when it returns)."""
        ...

    def get(self, doodle_id: int) -> Doodle | None:
        """The drawing with this id, or ``None``."""
        ...

    def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        """Up to ``limit`` drawings with id < ``before`` (if given), newest first."""
        ...

    def scan(self, *, word: str | None = None, since: float | None = None) -> Iterator[Doodle]:
        """Every drawing (label ``word``, stored at or after ``since``), oldest first."""
        ...

    def count(self) -> int:
        """How many drawings are stored."""
        ...

    def close(self) -> None: ...


_INFO_COLUMNS = "id, created_at, client, word, guess, reason, strokes, drawing"
_ALL_COLUMNS = _INFO_COLUMNS + ", session, started_at, guesses, final"


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), allow_nan=False)


class SQLiteStore:
    """:class:`DoodleStore` on one SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path) -> None:
        path = str(path)
        if path != MEMORY_DB:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if path != MEMORY_DB:
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"{path}: could not switch to WAL mode (got {mode})")
        self.db.execute("PRAGMA synchronous = FULL")
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"{path} has schema {version}; this server knows up to {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            self.db.executescript(SCHEMA)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def add(self, doodle: NewDoodle) -> int:
        guess = str(doodle.final[0]["word"]) if doodle.final else None
        with self.db:  # BEGIN ... COMMIT (or ROLLBACK on error)
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute(
                "INSERT INTO doodles (created_at, started_at, session, client, word, guess, reason, strokes,"
                " drawing, guesses, final) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    doodle.started_at,
                    doodle.session,
                    doodle.client,
                    doodle.word,
                    guess,
                    doodle.reason,
                    len(doodle.drawing),
                    _dumps(doodle.drawing),
                    _dumps(doodle.guesses),
                    _dumps(doodle.final),
                ),
            )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def relabel(self, doodle_id: int, word: str) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE doodles SET word = ? WHERE id = ?", (word, doodle_id))

    @staticmethod
    def _info(row: tuple[Any, ...]) -> DoodleInfo:
        return DoodleInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))

    @staticmethod
    def _doodle(row: tuple[Any, ...]) -> Doodle:
        return Doodle(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            json.loads(row[7]),
            session=row[8],
            started_at=row[9],
            guesses=json.loads(row[10]),
            final=json.loads(row[11]),
        )

    def get(self, doodle_id: int) -> Doodle | None:
        row = self.db.execute(f"SELECT {_ALL_COLUMNS} FROM doodles WHERE id = ?", (doodle_id,)).fetchone()
        return None if row is None else self._doodle(row)

    def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        where, args = self._where(word=word, before=before)
        rows = self.db.execute(
            f"SELECT {_INFO_COLUMNS} FROM doodles {where} ORDER BY id DESC LIMIT ?", (*args, limit)
        ).fetchall()
        return [self._info(r) for r in rows]

    def scan(self, *, word: str | None = None, since: float | None = None) -> Iterator[Doodle]:
        last = 0
        while True:
            where, args = self._where(word=word, since=since, after=last)
            rows = self.db.execute(
                f"SELECT {_ALL_COLUMNS} FROM doodles {where} ORDER BY id LIMIT ?", (*args, SCAN_BATCH)
            ).fetchall()
            for r in rows:
                yield self._doodle(r)
            if len(rows) < SCAN_BATCH:
                return
            last = int(rows[-1][0])

    @staticmethod
    def _where(
        *, word: str | None = None, before: int | None = None, since: float | None = None, after: int | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        terms: list[str] = []
        args: list[Any] = []
        for cond, value in (("label = ?", word), ("id < ?", before), ("created_at >= ?", since), ("id > ?", after)):
            if value is not None:
                terms.append(cond)
                args.append(value)
        return ("WHERE " + " AND ".join(terms) if terms else ""), tuple(args)

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM doodles").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def open_store(spec: str | Path) -> DoodleStore:
    """The store named by ``spec``: a SQLite file path, or ``:memory:``."""
    return SQLiteStore(spec)


T = TypeVar("T")


class AsyncStore:
    """Runs every call of one :class:`DoodleStore` on its own single thread.

    The store is opened on that thread too, so a SQLite connection never changes
    threads, and calls run one at a time in the order they were made."""

    def __init__(self, opener: Callable[[], DoodleStore]) -> None:
        self._opener = opener
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="doodle-store")
        self._store: DoodleStore | None = None

    async def _run(self, fn: Callable[[DoodleStore], T]) -> T:
        def call() -> T:
            assert self._store is not None, "store not open"
            return fn(self._store)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def open(self) -> None:
        def opened() -> None:
            self._store = self._opener()

        await asyncio.get_running_loop().run_in_executor(self._pool, opened)

    async def add(self, doodle: NewDoodle) -> int:
        return await self._run(lambda s: s.add(doodle))

    async def relabel(self, doodle_id: int, word: str) -> None:
        await self._run(lambda s: s.relabel(doodle_id, word))

    async def get(self, doodle_id: int) -> Doodle | None:
        return await self._run(lambda s: s.get(doodle_id))

    async def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        return await self._run(lambda s: s.page(word=word, limit=limit, before=before))

    async def count(self) -> int:
        return await self._run(lambda s: s.count())

    async def close(self) -> None:
        if self._store is not None:
            await self._run(lambda s: s.close())
            self._store = None
        self._pool.shutdown(wait=True)


class DoodleReader(Protocol):
    """Read-only access to the stored drawings (what the gallery needs)."""

    async def get(self, doodle_id: int) -> Doodle:
        """The drawing ``doodle_id``; :class:`NotFound` when there is none, :class:`StoreFailed` on a read error."""
        ...

    async def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        """As :meth:`DoodleStore.page`; :class:`StoreFailed` on a read error."""
        ...


class StoreReader:
    """:class:`DoodleReader` over an :class:`AsyncStore`."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store

    async def get(self, doodle_id: int) -> Doodle:
        try:
            doodle = await self._store.get(doodle_id)
        except sqlite3.Error as e:
            raise StoreFailed(f"the doodle database could not be read ({type(e).__name__})") from None
        if doodle is None:
            raise NotFound(f"no stored drawing has id {doodle_id}")
        return doodle

    async def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        try:
            return await self._store.page(word=word, limit=limit, before=before)
        except sqlite3.Error as e:
            raise StoreFailed(f"the doodle database could not be read ({type(e).__name__})") from None
