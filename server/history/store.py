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
  unchanged), every guess list with its stroke count, the final top-5, word, target
  (and whether it was recognized), client, session, reason and times.
* ``word`` filters match a drawing's *label*: the word the player meant, or, where the
  player named none, the final top guess.
* One record per drawing key (schema 3): adding a drawing whose ``key`` is stored already
  replaces that record's content in place (same id; the word the player gave is kept
  unless a new one is given; once submitted, it stays submitted; once recognized for a target,
  it stays so while the target stays the same), so a drawing
  left at a dropped connection, resumed and submitted is stored once.
* Listing pages find a word forgivingly: ``page(word=...)`` matches labels that hold it,
  in any case ("Bicycle", "cycle"); ``scan(word=...)`` (the export) matches exactly.
* ``recognized`` (:attr:`DoodleInfo.recognized`, the gallery's ✓, the API's and the export's
  ``recognized``) is the round's verdict: a drawing made with a target word (``hello.target``)
  is recognized when the server sent ``recognized`` for that target while it was drawn
  (schema 5 keeps both with the drawing) and the target is the drawing's word.  A drawing
  with no target (the sketchpad), or stored before schema 5, is recognized when its final
  top guess is its word.
* Hidden drawings (schema 4, moderation: :meth:`DoodleStore.set_hidden`) are left out of
  ``page``, ``get`` and ``scan``; :meth:`DoodleStore.delete` and
  :meth:`DoodleStore.delete_key` remove a drawing for good (by id: moderation; by
  drawing key: its player, who alone knows the key).
* :meth:`DoodleStore.kept_key` tells why and when the record of a drawing key was last
  written, so a drawing left at a restart can be resumed (:mod:`server.resume`).
* Server-scope custom words (schema 3, table ``custom_words``): their example vectors,
  per model name, in teaching order.

:class:`SQLiteStore` raises :class:`sqlite3.Error` when its database fails, a
:class:`server.history.postgres.PostgresStore` its :class:`server.errors.StoreError`;
:class:`AsyncStore`, what the server uses, raises :class:`server.errors.StoreError` for
either (the engine's error chained), so no caller names an engine's error types.
:mod:`server.history.postgres` (``--db postgresql://...``) keeps the same promises on
PostgreSQL for several server processes at once; :func:`server.history.databases.open_database`
opens whichever ``--db`` names.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from server.errors import NotFound, StoreError, StoreFailed, StoreTimeout
from server.history.listing import thumbnail_strokes
from server.history.record import EncodedRecord, Guess, GuessList, NewDoodle, encode_record
from server.limits import HISTORY_MAX_BYTES, HISTORY_MAX_DRAWINGS, MAX_RECORD_BYTES, STORE_TIMEOUT_S
from server.stores import CustomWords

log = logging.getLogger("doodlestream.history")

RawStroke = list[list[float]]
"""One stroke in Quick Draw raw format: ``[[x...], [y...], [t...]]``."""

#: Default doodle database, relative to the working directory.
DEFAULT_DB = "data/doodles.sqlite3"
#: The database name that keeps everything in memory only (lost at exit).
MEMORY_DB = ":memory:"
#: Rows fetched per query when scanning the whole history, in rows.
SCAN_BATCH = 256
#: Rows looked at per query when choosing drawings to evict, in rows.
EVICT_BATCH = 64
#: How long a writer waits for another process holding the database lock when no
#: deadline is given (tools such as the export), in milliseconds.
BUSY_TIMEOUT_MS = 10_000
#: Largest WAL file kept after a checkpoint, in bytes (``PRAGMA journal_size_limit``).
WAL_LIMIT_BYTES = 67_108_864
#: Longest the start-up ``PRAGMA quick_check`` of a database file may run, in seconds; a check
#: not done by then is given up (logged), so a huge history cannot hold the start back.
STARTUP_CHECK_S = 10.0
#: SQLite virtual-machine steps between two looks at the clock during the start-up check, in steps.
CHECK_STEPS = 10_000

SCHEMA_VERSION = 5
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
    submitted INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    drawing TEXT NOT NULL,
    guesses TEXT NOT NULL,
    final TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS doodles_label ON doodles (label, id);
CREATE INDEX IF NOT EXISTS doodles_created ON doodles (created_at);
"""
#: Schema 1 -> 2: each record's size and whether it was submitted, the quota's index and
#: the usage counters (kept by triggers, so every process sharing the file sees the same).
MIGRATE_1_TO_2 = """
ALTER TABLE doodles ADD COLUMN submitted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE doodles ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE doodles SET submitted = (reason = 'submit'),
    size = length(CAST(drawing AS BLOB)) + length(CAST(guesses AS BLOB)) + length(CAST(final AS BLOB))
        + length(CAST(session AS BLOB)) + coalesce(length(CAST(client AS BLOB)), 0)
        + coalesce(length(CAST(word AS BLOB)), 0) + length(CAST(reason AS BLOB));
"""
QUOTA_SCHEMA = """
CREATE INDEX IF NOT EXISTS doodles_quota ON doodles (submitted, id, size);
CREATE TABLE IF NOT EXISTS usage (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    drawings INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO usage SELECT 1, count(*), total(size) FROM doodles;
CREATE TRIGGER IF NOT EXISTS doodles_added AFTER INSERT ON doodles BEGIN
    UPDATE usage SET drawings = drawings + 1, bytes = bytes + new.size WHERE one = 1;
END;
CREATE TRIGGER IF NOT EXISTS doodles_removed AFTER DELETE ON doodles BEGIN
    UPDATE usage SET drawings = drawings - 1, bytes = bytes - old.size WHERE one = 1;
END;
"""
#: Schema 2 -> 3: each record's drawing key (one record per key; NULLs are distinct), the
#: usage counters following a record replaced in place, and the server's custom words.
MIGRATE_2_TO_3 = """
ALTER TABLE doodles ADD COLUMN drawing_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS doodles_key ON doodles (drawing_key);
CREATE TRIGGER IF NOT EXISTS doodles_replaced AFTER UPDATE OF size ON doodles BEGIN
    UPDATE usage SET bytes = bytes - old.size + new.size WHERE one = 1;
END;
CREATE TABLE IF NOT EXISTS custom_words (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    word TEXT NOT NULL,
    vector TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS custom_words_model ON custom_words (model, word, id);
"""
#: Schema 3 -> 4: drawings a moderator hid (left out of every listing and page).
MIGRATE_3_TO_4 = """
ALTER TABLE doodles ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
"""
#: Schema 4 -> 5: each drawing's target word and whether the server sent ``recognized`` for it
#: (older rows have no target: their ``recognized`` keeps its old meaning, the final top guess).
MIGRATE_4_TO_5 = """
ALTER TABLE doodles ADD COLUMN target TEXT;
ALTER TABLE doodles ADD COLUMN target_recognized INTEGER NOT NULL DEFAULT 0;
"""
#: What brings a database of each older schema version to :data:`SCHEMA_VERSION`.
MIGRATIONS = {
    0: SCHEMA + QUOTA_SCHEMA + MIGRATE_2_TO_3 + MIGRATE_3_TO_4 + MIGRATE_4_TO_5,
    1: MIGRATE_1_TO_2 + QUOTA_SCHEMA + MIGRATE_2_TO_3 + MIGRATE_3_TO_4 + MIGRATE_4_TO_5,
    2: MIGRATE_2_TO_3 + MIGRATE_3_TO_4 + MIGRATE_4_TO_5,
    3: MIGRATE_3_TO_4 + MIGRATE_4_TO_5,
    4: MIGRATE_4_TO_5,
}


@dataclass(frozen=True, slots=True)
class Quota:
    """How much the history keeps (see :mod:`server.limits`); 0 drawings means no drawing quota."""

    max_record_bytes: int = MAX_RECORD_BYTES
    max_drawings: int = HISTORY_MAX_DRAWINGS
    max_bytes: int = HISTORY_MAX_BYTES

    def __post_init__(self) -> None:
        if self.max_record_bytes > self.max_bytes:
            raise ValueError(
                f"history_max_bytes ({self.max_bytes}) must be at least max_record_bytes ({self.max_record_bytes})"
            )


@dataclass(frozen=True, slots=True)
class Usage:
    """What the history holds, and how many drawings the quota has evicted from it since it was opened."""

    drawings: int
    bytes: int
    evicted: int


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
    target: str | None
    """The word the session was asked to draw (``hello.target``); ``None``: none (or stored before schema 5)."""
    target_recognized: bool
    """Whether the server sent ``recognized`` for :attr:`target` while this drawing was drawn."""

    @property
    def label(self) -> str | None:
        """The player's word, else the final top guess."""
        return self.word if self.word is not None else self.guess

    @property
    def recognized(self) -> bool:
        """Whether the game recognised the player's word: with a target, the round's verdict (the server
        sent ``recognized`` for it, and it is the drawing's word); without one (the sketchpad, or a
        drawing stored before schema 5), whether the final top guess is the player's word."""
        if self.target is None:
            return self.word is not None and self.guess == self.word
        return self.target_recognized and self.target == self.word

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "client": self.client,
            "word": self.word,
            "guess": self.guess,
            "label": self.label,
            "target": self.target,
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
        """Store ``doodle`` (evicting what the quota says); its id once durably committed.

        ``record_too_large`` (:class:`server.errors.LimitExceeded`) when its record is over the cap."""
        ...

    def relabel(self, doodle_id: int, word: str) -> None:
        """Set the word the player meant for drawing ``doodle_id`` (committed when it returns)."""
        ...

    def add_custom_word(self, model: str, word: str, vectors: list[list[float]]) -> None:
        """Store example vectors of server-scope custom word ``word`` of ``model``."""
        ...

    def forget_custom_word(self, model: str, word: str) -> int:
        """Remove custom word ``word`` of ``model``; how many example vectors it had."""
        ...

    def custom_words(self, model: str) -> list[tuple[str, list[list[float]]]]:
        """``model``'s custom words with their example vectors, in teaching order."""
        ...

    def delete(self, doodle_id: int) -> bool:
        """Remove drawing ``doodle_id`` for good; whether there was one."""
        ...

    def delete_key(self, key: str) -> int | None:
        """Remove the drawing with drawing key ``key`` for good; its id, or ``None`` when there is none."""
        ...

    def set_hidden(self, doodle_id: int, hidden: bool) -> bool:
        """Hide drawing ``doodle_id`` from every listing and page (or show it again); whether there is one."""
        ...

    def kept_key(self, key: str) -> tuple[str, float] | None:
        """The ``reason`` and ``created_at`` (time of the last write) of the record of drawing ``key``, or ``None``."""
        ...

    def ids_of_keys(self, keys: Sequence[str]) -> dict[str, int]:
        """The id of each of ``keys`` that has a record not hidden (keys without one are left out)."""
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

    def usage(self) -> Usage:
        """What the history holds (see :class:`Usage`)."""
        ...

    def set_lock_timeout(self, seconds: float) -> None:
        """Longest the next calls wait for a lock held by another process before failing."""
        ...

    def close(self) -> None: ...


class DrawingStore(Protocol):
    """The kept drawings, one record per drawing key (what the history writes and reads)."""

    #: Seconds a call may take before it is :class:`server.errors.StoreTimeout`.
    timeout_s: float

    @property
    def writes_pending(self) -> int: ...

    @property
    def busy_since(self) -> float | None:
        """When the call now running began (``time.monotonic()``), or ``None``."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def add(self, doodle: NewDoodle) -> tuple[int, Usage]: ...

    async def relabel(self, doodle_id: int, word: str) -> None: ...

    async def kept_key(self, key: str) -> tuple[str, float] | None: ...

    async def ids_of_keys(self, keys: Sequence[str]) -> dict[str, int]: ...

    async def delete(self, doodle_id: int) -> bool: ...

    async def delete_key(self, key: str) -> int | None: ...

    async def set_hidden(self, doodle_id: int, hidden: bool) -> bool: ...

    async def get(self, doodle_id: int) -> Doodle | None: ...

    async def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]: ...

    async def thumbnail_page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        """As :meth:`page`, with strokes thinned for thumbnails."""
        ...

    async def count(self) -> int: ...

    async def usage(self) -> Usage: ...


class SharedDoodleStore(DoodleStore, Protocol):
    """A :class:`DoodleStore` several instances share (PostgreSQL): also resume keys and a custom-words version."""

    def custom_words_version(self, model: str) -> int:
        """A number that changes whenever any instance teaches or forgets a custom word of ``model``."""
        ...

    def hold_keys(self, keys: list[str], expires_at: float) -> None: ...

    def claim_key(self, key: str) -> bool: ...

    def drop_keys(self, keys: list[str]) -> None: ...


S = TypeVar("S", bound=DoodleStore)


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of ``script``, one by one (run inside the caller's transaction, unlike ``executescript``)."""
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            yield current.strip()
            current = ""


_INFO_COLUMNS = "id, created_at, client, word, guess, reason, strokes, drawing, target, target_recognized"
_ALL_COLUMNS = _INFO_COLUMNS + ", session, started_at, guesses, final"
#: The columns an ``INSERT INTO doodles`` fills, in the order of :func:`insert_values`.
INSERT_COLUMNS = (
    "created_at, started_at, session, client, word, guess, reason, strokes,"
    " submitted, size, drawing, guesses, final, drawing_key, target, target_recognized"
)


# What follows is shared by every store (SQLite here, PostgreSQL in server.history.postgres):
# only the SQL dialect differs between them, not what a row holds or how the quota evicts.


def insert_values(doodle: NewDoodle, rec: EncodedRecord) -> tuple[Any, ...]:
    """The values of :data:`INSERT_COLUMNS` that store ``doodle``, whose encoded record is ``rec``."""
    guess = str(doodle.final[0]["word"]) if doodle.final else None
    return (
        time.time(),
        doodle.started_at,
        doodle.session,
        doodle.client,
        doodle.word,
        guess,
        doodle.reason,
        len(doodle.drawing),
        doodle.submitted,
        rec.size,
        rec.drawing,
        rec.guesses,
        rec.final,
        doodle.key,
        doodle.target,
        doodle.target is not None and doodle.target_recognized,
    )


def evict_for(
    quota: Quota,
    usage: tuple[int, int],
    size: int,
    oldest: Callable[[bool], Sequence[tuple[int, int]]],
    delete: Callable[[list[int]], object],
) -> int:
    """Evict until a record of ``size`` bytes fits ``quota``; how many drawings were evicted.

    ``usage`` is what the history holds now (drawings, bytes); ``oldest(submitted)`` gives the
    (id, size) of up to :data:`EVICT_BATCH` of the oldest drawings kept automatically
    (``submitted`` false) or submitted; ``delete(ids)`` removes them.  The automatically kept go
    first, then the submitted ones, oldest first."""
    drawings, used = usage
    excess_drawings = drawings + 1 - quota.max_drawings if quota.max_drawings > 0 else 0
    excess_bytes = used + size - quota.max_bytes
    evicted = 0
    for submitted in (False, True):
        while excess_drawings > 0 or excess_bytes > 0:
            rows = oldest(submitted)
            if not rows:
                break
            doomed: list[int] = []
            for doodle_id, row_size in rows:
                if excess_drawings <= 0 and excess_bytes <= 0:
                    break
                doomed.append(int(doodle_id))
                excess_drawings -= 1
                excess_bytes -= int(row_size)
            delete(doomed)
            evicted += len(doomed)
    return evicted


def grouped_custom_words(rows: Iterable[Sequence[Any]]) -> list[tuple[str, list[list[float]]]]:
    """Rows of (word, vector as JSON), in teaching order, grouped: each word with its example vectors."""
    words: dict[str, list[list[float]]] = {}
    for word, vector in rows:
        words.setdefault(word, []).append(json.loads(vector))
    return list(words.items())


def info_from_row(row: Sequence[Any]) -> DoodleInfo:
    """The :class:`DoodleInfo` of a row of ``_INFO_COLUMNS``."""
    return DoodleInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]), row[8], bool(row[9]))


def doodle_from_row(row: Sequence[Any]) -> Doodle:
    """The :class:`Doodle` of a row of ``_ALL_COLUMNS``."""
    return Doodle(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        json.loads(row[7]),
        row[8],
        bool(row[9]),
        session=row[10],
        started_at=row[11],
        guesses=json.loads(row[12]),
        final=json.loads(row[13]),
    )


def where_clause(
    *,
    word: str | None = None,
    search: str | None = None,
    before: int | None = None,
    since: float | None = None,
    after: int | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """The ``WHERE`` of a listing (drawings not hidden, with each term given) and its ``?`` arguments,
    in SQLite's words."""
    terms: list[str] = ["hidden = 0"]
    args: list[Any] = []
    like = None if search is None else "%" + re.sub(r"([\\%_])", r"\\\1", search) + "%"
    for cond, value in (
        ("label = ?", word),
        ("label LIKE ? ESCAPE '\\'", like),  # SQLite's LIKE ignores ASCII case
        ("id < ?", before),
        ("created_at >= ?", since),
        ("id > ?", after),
    ):
        if value is not None:
            terms.append(cond)
            args.append(value)
    return "WHERE " + " AND ".join(terms), tuple(args)


class SQLiteStore:
    """:class:`DoodleStore` on one SQLite file (or ``:memory:``), keeping to ``quota``.

    Opening fails with :class:`sqlite3.DatabaseError` on a file that is not a doodle
    database or has damaged pages (``PRAGMA quick_check``, given up after
    ``STARTUP_CHECK_S``), and with :class:`sqlite3.OperationalError` or :class:`OSError`
    where it cannot be written (read-only file or filesystem: a test write is committed,
    even when the database needs no migration)."""

    def __init__(self, path: str | Path, quota: Quota | None = None, *, readonly: bool = False) -> None:
        path = str(path)
        self.quota = quota or Quota()
        self.evicted = 0
        if path != MEMORY_DB and not readonly:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            self._prepare(readonly=readonly)
        except BaseException:
            self.db.close()
            raise

    def _prepare(self, *, readonly: bool) -> None:
        path = self.path
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])  # reads the header: "not a database"
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"{path} has schema {version}; this server knows up to {SCHEMA_VERSION}")
        if readonly:
            return
        if path != MEMORY_DB:
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"{path}: could not switch to WAL mode (got {mode})")
            self.db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        self.db.execute("PRAGMA synchronous = FULL")
        if path != MEMORY_DB:
            self._quick_check()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")  # fails now, not at the first drawing, on a read-only file
            version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
            if version < SCHEMA_VERSION:
                for statement in _statements(MIGRATIONS[version]):
                    self.db.execute(statement)
            # The test write: the header is rewritten and committed, so a filesystem that went read-only under
            # an existing database (whose WAL files let it open) fails here, not at the first drawing.
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _quick_check(self) -> None:
        """``PRAGMA quick_check`` within ``STARTUP_CHECK_S``: damaged pages raise :class:`sqlite3.DatabaseError`."""
        deadline = time.monotonic() + STARTUP_CHECK_S
        self.db.set_progress_handler(lambda: int(time.monotonic() > deadline), CHECK_STEPS)
        try:
            rows = self.db.execute("PRAGMA quick_check(1)").fetchall()
        except sqlite3.OperationalError as e:
            if "interrupted" not in str(e):
                raise
            log.warning("%s: the start-up check did not finish within %g s; skipped", self.path, STARTUP_CHECK_S)
            return
        finally:
            self.db.set_progress_handler(None, 0)
        found = rows[0][0] if rows else "ok"
        if found != "ok":
            raise sqlite3.DatabaseError(f"{self.path}: database disk image is malformed (quick_check: {found})")

    def set_lock_timeout(self, seconds: float) -> None:
        self.db.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")

    def add(self, doodle: NewDoodle) -> int:
        rec = encode_record(doodle, self.quota.max_record_bytes)
        with self.db:  # BEGIN ... COMMIT (or ROLLBACK on error)
            self.db.execute("BEGIN IMMEDIATE")
            self._make_room(rec)
            cur = self.db.execute(
                f"INSERT INTO doodles ({INSERT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (drawing_key) DO UPDATE SET created_at = excluded.created_at,"
                " session = excluded.session, client = coalesce(excluded.client, client),"
                " word = coalesce(excluded.word, word), guess = excluded.guess, reason = excluded.reason,"
                " strokes = excluded.strokes, submitted = max(submitted, excluded.submitted), size = excluded.size,"
                " drawing = excluded.drawing, guesses = excluded.guesses, final = excluded.final,"
                " target = excluded.target,"
                " target_recognized = max(excluded.target_recognized, target_recognized AND target IS excluded.target)"
                " RETURNING id",
                insert_values(doodle, rec),
            )
            doodle_id = int(cur.fetchone()[0])
        return doodle_id

    def _make_room(self, rec: EncodedRecord) -> None:
        """Delete the oldest automatically kept drawings, then the oldest submitted ones, until ``rec`` fits."""
        self.evicted += evict_for(
            self.quota,
            self.db.execute("SELECT drawings, bytes FROM usage").fetchone(),
            rec.size,
            lambda submitted: self.db.execute(
                "SELECT id, size FROM doodles WHERE submitted = ? ORDER BY id LIMIT ?", (submitted, EVICT_BATCH)
            ).fetchall(),
            lambda doomed: self.db.executemany("DELETE FROM doodles WHERE id = ?", [(i,) for i in doomed]),
        )

    def relabel(self, doodle_id: int, word: str) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE doodles SET word = ? WHERE id = ?", (word, doodle_id))

    def add_custom_word(self, model: str, word: str, vectors: list[list[float]]) -> None:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT INTO custom_words (model, word, vector, created_at) VALUES (?, ?, ?, ?)",
                [(model, word, json.dumps(v), now) for v in vectors],
            )

    def forget_custom_word(self, model: str, word: str) -> int:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute("DELETE FROM custom_words WHERE model = ? AND word = ?", (model, word))
        return int(cur.rowcount)

    def custom_words(self, model: str) -> list[tuple[str, list[list[float]]]]:
        return grouped_custom_words(
            self.db.execute("SELECT word, vector FROM custom_words WHERE model = ? ORDER BY id", (model,)).fetchall()
        )

    def delete(self, doodle_id: int) -> bool:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute("DELETE FROM doodles WHERE id = ?", (doodle_id,))
        return cur.rowcount > 0

    def delete_key(self, key: str) -> int | None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("DELETE FROM doodles WHERE drawing_key = ? RETURNING id", (key,)).fetchone()
        return None if row is None else int(row[0])

    def set_hidden(self, doodle_id: int, hidden: bool) -> bool:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            cur = self.db.execute("UPDATE doodles SET hidden = ? WHERE id = ?", (int(hidden), doodle_id))
        return cur.rowcount > 0

    def kept_key(self, key: str) -> tuple[str, float] | None:
        row = self.db.execute("SELECT reason, created_at FROM doodles WHERE drawing_key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def ids_of_keys(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        marks = ", ".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT drawing_key, id FROM doodles WHERE hidden = 0 AND drawing_key IN ({marks})", tuple(keys)
        ).fetchall()
        return {str(k): int(i) for k, i in rows}

    def get(self, doodle_id: int) -> Doodle | None:
        sql = f"SELECT {_ALL_COLUMNS} FROM doodles WHERE id = ? AND hidden = 0"
        row = self.db.execute(sql, (doodle_id,)).fetchone()
        return None if row is None else doodle_from_row(row)

    def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        where, args = where_clause(search=word, before=before)
        rows = self.db.execute(
            f"SELECT {_INFO_COLUMNS} FROM doodles {where} ORDER BY id DESC LIMIT ?", (*args, limit)
        ).fetchall()
        return [info_from_row(r) for r in rows]

    def scan(self, *, word: str | None = None, since: float | None = None) -> Iterator[Doodle]:
        last = 0
        while True:
            where, args = where_clause(word=word, since=since, after=last)
            rows = self.db.execute(
                f"SELECT {_ALL_COLUMNS} FROM doodles {where} ORDER BY id LIMIT ?", (*args, SCAN_BATCH)
            ).fetchall()
            for r in rows:
                yield doodle_from_row(r)
            if len(rows) < SCAN_BATCH:
                return
            last = int(rows[-1][0])

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM doodles").fetchone()[0])

    def usage(self) -> Usage:
        drawings, used = self.db.execute("SELECT drawings, bytes FROM usage").fetchone()
        return Usage(int(drawings), int(used), self.evicted)

    def close(self) -> None:
        self.db.close()


def open_store(spec: str | Path, quota: Quota | None = None) -> DoodleStore:
    """The SQLite store named by ``spec``: a file path, or ``:memory:`` (any backend: ``databases.open_database``)."""
    return SQLiteStore(spec, quota)


T = TypeVar("T")


@dataclass(slots=True)
class _Job:
    fn: Callable[[Any], Any]
    future: concurrent.futures.Future[Any]
    deadline: float
    write: bool


class AsyncStore(Generic[S]):
    """Runs every call of one :class:`DoodleStore` on its own thread, each within a timeout.

    It plays :class:`server.stores.DrawingStore` and :class:`server.stores.CustomWordStore`
    on either engine; a database fault is :class:`server.errors.StoreError` (SQLite's
    :class:`sqlite3.Error` becomes one here, its message kept).

    The store is opened on that thread too, so a SQLite connection never changes
    threads, and calls run one at a time in the order they were made.  The thread is a
    daemon: a call stuck in the kernel (a frozen disk) can delay an answer by at most
    ``timeout_s`` and never the process's exit.  A call whose timeout passes while it
    waits is never run; one already running is left to finish; either way the caller
    gets :class:`StoreTimeout`.  A database lock held by another process is waited for
    only until the call's deadline.  :attr:`writes_pending` counts writes accepted and
    not yet finished, the one running included."""

    def __init__(self, opener: Callable[[], S], *, timeout_s: float = STORE_TIMEOUT_S) -> None:
        self._opener = opener
        self.timeout_s = timeout_s
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="doodle-store", daemon=True)
        self._store: S | None = None
        self._lock = threading.Lock()
        self._writes_pending = 0
        #: When the call now running began (``time.monotonic()``), or ``None``.
        self.busy_since: float | None = None
        self._closing = False

    @property
    def writes_pending(self) -> int:
        return self._writes_pending

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if not job.future.set_running_or_notify_cancel():
                    continue  # its caller gave up while it waited
                self.busy_since = time.monotonic()
                try:
                    if self._store is not None:
                        self._store.set_lock_timeout(max(job.deadline - time.monotonic(), 0.001))
                    result = job.fn(self._store)
                except sqlite3.Error as e:
                    # SQLite waits for a lock until the job's deadline (its busy timeout, set above), so a
                    # lock still held then is the same timeout the caller's wait_for reports: whichever of
                    # the two fires first, the call timed out.
                    busy = getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
                    error = (StoreTimeout if busy else StoreError)(f"{type(e).__name__}: {e}")
                    error.__cause__ = e
                    job.future.set_exception(error)
                except BaseException as e:
                    job.future.set_exception(e)
                else:
                    job.future.set_result(result)
                finally:
                    self.busy_since = None
            finally:
                if job.write:
                    with self._lock:
                        self._writes_pending -= 1

    async def _run(self, fn: Callable[[S], T], *, write: bool = False, timeout_s: float | None = None) -> T:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        if not self._thread.is_alive():
            raise StoreFailed("the doodle database is not open")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        if write:
            with self._lock:
                self._writes_pending += 1
        self._jobs.put(_Job(fn, fut, time.monotonic() + timeout, write))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except TimeoutError:
            raise StoreTimeout(f"the doodle database did not answer within {timeout:g} s") from None

    async def open(self) -> None:
        def opened(_: S) -> None:
            self._store = self._opener()
            if self._store is not None:
                self._store.set_lock_timeout(BUSY_TIMEOUT_MS / 1000)

        self._thread.start()
        await self._run(opened, timeout_s=max(self.timeout_s, BUSY_TIMEOUT_MS / 1000) * 6)

    async def add(self, doodle: NewDoodle) -> tuple[int, Usage]:
        """Store ``doodle``; its id and the history's usage after it."""

        def add(s: S) -> tuple[int, Usage]:
            doodle_id = s.add(doodle)
            return doodle_id, s.usage()

        return await self._run(add, write=True)

    async def relabel(self, doodle_id: int, word: str) -> None:
        await self._run(lambda s: s.relabel(doodle_id, word), write=True)

    async def kept_key(self, key: str) -> tuple[str, float] | None:
        return await self._run(lambda s: s.kept_key(key))

    async def ids_of_keys(self, keys: Sequence[str]) -> dict[str, int]:
        return await self._run(lambda s: s.ids_of_keys(keys))

    async def delete(self, doodle_id: int) -> bool:
        return await self._run(lambda s: s.delete(doodle_id), write=True)

    async def delete_key(self, key: str) -> int | None:
        return await self._run(lambda s: s.delete_key(key), write=True)

    async def set_hidden(self, doodle_id: int, hidden: bool) -> bool:
        return await self._run(lambda s: s.set_hidden(doodle_id, hidden), write=True)

    async def get(self, doodle_id: int) -> Doodle | None:
        return await self._run(lambda s: s.get(doodle_id))

    async def add_custom_word(self, model: str, word: str, vectors: list[list[float]]) -> None:
        await self._run(lambda s: s.add_custom_word(model, word, vectors), write=True)

    async def forget_custom_word(self, model: str, word: str) -> int:
        return await self._run(lambda s: s.forget_custom_word(model, word), write=True)

    async def custom_words(self, model: str) -> CustomWords:
        return await self._run(lambda s: s.custom_words(model))

    async def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        return await self._run(lambda s: s.page(word=word, limit=limit, before=before))

    async def thumbnail_page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        """As :meth:`page`, each drawing's strokes thinned for a thumbnail on the store's thread (the full strokes
        never reach the event loop)."""

        def listing(s: S) -> list[DoodleInfo]:
            return [
                dataclasses.replace(d, drawing=thumbnail_strokes(d.drawing))
                for d in s.page(word=word, limit=limit, before=before)
            ]

        return await self._run(listing)

    async def count(self) -> int:
        return await self._run(lambda s: s.count())

    async def usage(self) -> Usage:
        return await self._run(lambda s: s.usage())

    async def close(self) -> None:
        """Close the store once the calls before finish, waiting at most ``timeout_s`` (then the thread is left)."""
        if not self._thread.is_alive() or self._closing:
            return
        self._closing = True

        def closed(s: S) -> None:
            if s is not None:
                s.close()
            self._store = None

        try:
            await self._run(closed)
        except StoreTimeout:
            log.error(
                "the doodle database is stuck (a write has run for %.1f s); leaving %d writes unfinished",
                time.monotonic() - (self.busy_since or time.monotonic()),
                self._writes_pending,
            )
        finally:
            self._jobs.put(None)


class SharedAsyncStore(AsyncStore[SharedDoodleStore]):
    """An :class:`AsyncStore` over a database several instances share: it also plays
    :class:`server.stores.ResumeKeyStore` and :class:`server.stores.SharedCustomWordStore`."""

    async def custom_words_since(self, model: str, seen: int | None) -> tuple[int, CustomWords | None]:
        def read(s: SharedDoodleStore) -> tuple[int, CustomWords | None]:
            version = int(s.custom_words_version(model))
            return version, (None if version == seen else s.custom_words(model))

        return await self._run(read)

    async def hold_keys(self, keys: list[str], expires_at: float) -> None:
        await self._run(lambda s: s.hold_keys(keys, expires_at), write=True)

    async def claim_key(self, key: str) -> bool:
        return await self._run(lambda s: s.claim_key(key), write=True)

    async def drop_keys(self, keys: list[str]) -> None:
        await self._run(lambda s: s.drop_keys(keys), write=True)


class DoodleReader(Protocol):
    """Read-only access to the stored drawings (what the gallery needs)."""

    async def get(self, doodle_id: int) -> Doodle:
        """The drawing ``doodle_id``; :class:`NotFound` when there is none, :class:`StoreFailed` on a read error."""
        ...

    async def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        """As :meth:`DoodleStore.page`, each drawing's strokes thumbnail-grade
        (:func:`server.history.listing.thumbnail_strokes`); :class:`StoreFailed` on a read error."""
        ...


class StoreReader:
    """:class:`DoodleReader` over an :class:`AsyncStore` (the history gives it one of its own, on its own
    connection, where the database allows: :class:`server.history.feature.DoodleHistory`)."""

    def __init__(self, store: DrawingStore) -> None:
        self._store = store

    async def get(self, doodle_id: int) -> Doodle:
        try:
            doodle = await self._store.get(doodle_id)
        except StoreError as e:
            raise StoreFailed(f"the doodle database could not be read ({e})") from None
        if doodle is None:
            raise NotFound(f"no stored drawing has id {doodle_id}")
        return doodle

    async def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        try:
            return await self._store.thumbnail_page(word=word, limit=limit, before=before)
        except StoreError as e:
            raise StoreFailed(f"the doodle database could not be read ({e})") from None
