"""The doodle database on PostgreSQL: :class:`PostgresStore`, shared by every instance of a cluster.

Chosen with ``--db postgresql://user@host:port/dbname`` (:func:`server.history.databases.open_database`);
needs the optional extra ``postgres`` (psycopg 3 and psycopg_pool).  It keeps the promises
of :class:`server.history.store.DoodleStore` that :class:`server.history.store.SQLiteStore`
keeps, for several server processes at once:

* :meth:`PostgresStore.add` returns only after ``COMMIT`` (PostgreSQL's default
  ``synchronous_commit = on``: the commit is in the write-ahead log on disk), so a
  drawing answered ``saved`` survives a crash of PostgreSQL or of the server.
* One record per drawing key (a unique index; ``INSERT ... ON CONFLICT DO UPDATE``), ids
  from a sequence (positive, increasing, never reused).
* Quotas as in SQLite: usage counters kept by a trigger in one row, which every ``add``
  locks first (``SELECT ... FOR UPDATE``), so adds from several instances evict in turn
  and the counters stay exact.
* Server-scope custom words (table ``custom_words``); :meth:`PostgresStore.custom_words_version`
  is what an instance polls to learn that another taught or forgot one.
* Resume keys shared by the instances (table ``resume_keys``, :mod:`server.resume`):
  :meth:`PostgresStore.hold_keys`, :meth:`PostgresStore.claim_key`, :meth:`PostgresStore.drop_keys`.
* Versioned schema migrations applied at start, under an advisory lock (instances
  starting together migrate once); a database of a newer schema is refused.

Every database error is raised as :class:`PostgresError`, a :class:`server.errors.StoreError`
(the error type of every store, whatever its engine).  The store
holds one connection from a :class:`psycopg_pool.ConnectionPool` of one, checked before
each use, so after PostgreSQL restarts the next call reconnects; a call made while it is
down fails (it is never answered ``saved``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from server.errors import StoreError
from server.history import store as base
from server.history.record import EncodedRecord, NewDoodle, encode_record
from server.history.store import Doodle, DoodleInfo, Quota, Usage

T = TypeVar("T")

#: How long opening waits for PostgreSQL to accept a connection, in seconds.
CONNECT_TIMEOUT_S = 10.0
#: The advisory lock key held while the schema is checked and migrated (any constant).
MIGRATION_LOCK = 0x646F6F646C65

SCHEMA_VERSION = 3
SCHEMA_1 = """
CREATE TABLE doodles (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    session TEXT NOT NULL,
    client TEXT,
    word TEXT,
    guess TEXT,
    label TEXT GENERATED ALWAYS AS (coalesce(word, guess)) STORED,
    reason TEXT NOT NULL,
    strokes INTEGER NOT NULL,
    submitted BOOLEAN NOT NULL DEFAULT false,
    size BIGINT NOT NULL DEFAULT 0,
    drawing TEXT NOT NULL,
    guesses TEXT NOT NULL,
    final TEXT NOT NULL,
    drawing_key TEXT UNIQUE
);
CREATE INDEX doodles_label ON doodles (label, id);
CREATE INDEX doodles_created ON doodles (created_at);
CREATE INDEX doodles_quota ON doodles (submitted, id, size);
CREATE TABLE usage (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    drawings BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
INSERT INTO usage VALUES (1, 0, 0);
CREATE FUNCTION doodles_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE usage SET drawings = drawings + 1, bytes = bytes + NEW.size WHERE one = 1;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE usage SET drawings = drawings - 1, bytes = bytes - OLD.size WHERE one = 1;
    ELSE
        UPDATE usage SET bytes = bytes - OLD.size + NEW.size WHERE one = 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER doodles_usage AFTER INSERT OR DELETE OR UPDATE OF size ON doodles
    FOR EACH ROW EXECUTE FUNCTION doodles_usage();
CREATE TABLE custom_words (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model TEXT NOT NULL,
    word TEXT NOT NULL,
    vector TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX custom_words_model ON custom_words (model, word, id);
CREATE TABLE custom_words_changes (
    model TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE TABLE resume_keys (
    key TEXT PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX resume_keys_expiry ON resume_keys (expires_at);
"""
#: Schema 2: moderation hides drawings (``set_hidden``); 0/1 as in SQLite, so both share ``where_clause``.
SCHEMA_2 = """
ALTER TABLE doodles ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
"""
#: Schema 3: each drawing's target word and whether the server sent ``recognized`` for it (the round's
#: verdict, :attr:`server.history.store.DoodleInfo.recognized`); older rows have none and keep the old meaning.
SCHEMA_3 = """
ALTER TABLE doodles ADD COLUMN target TEXT, ADD COLUMN target_recognized BOOLEAN NOT NULL DEFAULT false;
"""
#: What brings a database of each older schema version to :data:`SCHEMA_VERSION` (0: an empty database).
MIGRATIONS = {0: SCHEMA_1 + SCHEMA_2 + SCHEMA_3, 1: SCHEMA_2 + SCHEMA_3, 2: SCHEMA_3}


class PostgresError(StoreError):
    """A PostgreSQL error (connection lost, statement timeout, refused schema...), as the store interface raises it."""


_INFO_COLUMNS = base._INFO_COLUMNS
_ALL_COLUMNS = base._ALL_COLUMNS


class PostgresStore:
    """:class:`server.history.store.DoodleStore` on the PostgreSQL database ``url`` (see module docstring)."""

    def __init__(self, url: str, quota: Quota | None = None) -> None:
        self.url = url
        self.quota = quota or Quota()
        self.evicted = 0
        self._timeout_ms = base.BUSY_TIMEOUT_MS
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=1,
            open=False,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": max(1, int(CONNECT_TIMEOUT_S))},
            name="doodle-store",
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            self._call(self._migrate)
        except BaseException as e:
            self.pool.close()
            if isinstance(e, psycopg.Error | PostgresError):
                raise PostgresError(f"{_redact(url)}: {e}") from e
            raise

    # ------------------------------------------------------------ plumbing

    def _call(self, fn: Callable[[psycopg.Connection[Any]], T], *, timeout_ms: int | None = None) -> T:
        """``fn(connection)`` in one transaction (committed when it returns), errors as :class:`PostgresError`."""
        wait_s = (timeout_ms or self._timeout_ms) / 1000
        try:
            with self.pool.connection(timeout=max(wait_s, 0.001)) as conn:
                conn.execute(f"SET LOCAL statement_timeout = {max(1, timeout_ms or self._timeout_ms)}")
                return fn(conn)
        except psycopg.Error as e:
            raise PostgresError(str(e).strip() or type(e).__name__) from e

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS doodle_schema (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER)"
        )
        row = conn.execute("SELECT version FROM doodle_schema").fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise PostgresError(f"the database has schema {version}; this server knows up to {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            conn.execute(MIGRATIONS[version].encode())
            conn.execute(
                "INSERT INTO doodle_schema VALUES (1, %s) ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
                (SCHEMA_VERSION,),
            )

    def set_lock_timeout(self, seconds: float) -> None:
        self._timeout_ms = max(1, int(seconds * 1000))

    # ------------------------------------------------------------ drawings

    def add(self, doodle: NewDoodle) -> int:
        rec = encode_record(doodle, self.quota.max_record_bytes)

        def add(conn: psycopg.Connection[Any]) -> int:
            self._make_room(conn, rec)
            row = conn.execute(
                f"INSERT INTO doodles ({base.INSERT_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (drawing_key) DO UPDATE SET created_at = EXCLUDED.created_at,"
                " session = EXCLUDED.session, client = coalesce(EXCLUDED.client, doodles.client),"
                " word = coalesce(EXCLUDED.word, doodles.word), guess = EXCLUDED.guess, reason = EXCLUDED.reason,"
                " strokes = EXCLUDED.strokes, submitted = doodles.submitted OR EXCLUDED.submitted,"
                " size = EXCLUDED.size, drawing = EXCLUDED.drawing, guesses = EXCLUDED.guesses,"
                " final = EXCLUDED.final, target = EXCLUDED.target,"
                " target_recognized = EXCLUDED.target_recognized"
                " OR (doodles.target_recognized AND doodles.target IS NOT DISTINCT FROM EXCLUDED.target)"
                " RETURNING id",
                base.insert_values(doodle, rec),
            ).fetchone()
            assert row is not None
            return int(row[0])

        return self._call(add)

    def _make_room(self, conn: psycopg.Connection[Any], rec: EncodedRecord) -> None:
        """Lock the usage row (adds take turns), then evict as :class:`SQLiteStore` does until ``rec`` fits."""
        row = conn.execute("SELECT drawings, bytes FROM usage WHERE one = 1 FOR UPDATE").fetchone()
        assert row is not None
        self.evicted += base.evict_for(
            self.quota,
            (int(row[0]), int(row[1])),
            rec.size,
            lambda submitted: conn.execute(
                "SELECT id, size FROM doodles WHERE submitted = %s ORDER BY id LIMIT %s", (submitted, base.EVICT_BATCH)
            ).fetchall(),
            lambda doomed: conn.execute("DELETE FROM doodles WHERE id = ANY(%s)", (doomed,)),
        )

    def relabel(self, doodle_id: int, word: str) -> None:
        self._call(lambda c: c.execute("UPDATE doodles SET word = %s WHERE id = %s", (word, doodle_id)))

    def get(self, doodle_id: int) -> Doodle | None:
        row = self._call(
            lambda c: c.execute(
                f"SELECT {_ALL_COLUMNS} FROM doodles WHERE id = %s AND hidden = 0", (doodle_id,)
            ).fetchone()
        )
        return None if row is None else base.doodle_from_row(row)

    def page(self, *, word: str | None, limit: int, before: int | None) -> list[DoodleInfo]:
        where, args = _in_postgres(base.where_clause(search=word, before=before))
        rows = self._call(
            lambda c: c.execute(
                f"SELECT {_INFO_COLUMNS} FROM doodles {where} ORDER BY id DESC LIMIT %s", (*args, limit)
            ).fetchall()
        )
        return [base.info_from_row(r) for r in rows]

    def scan(self, *, word: str | None = None, since: float | None = None) -> Iterator[Doodle]:
        last = 0
        while True:
            where, args = _in_postgres(base.where_clause(word=word, since=since, after=last))
            batch = base.SCAN_BATCH
            query = f"SELECT {_ALL_COLUMNS} FROM doodles {where} ORDER BY id LIMIT %s"
            params = (*args, batch)
            rows = self._call(partial(_fetch_all, query=query, params=params))
            for r in rows:
                yield base.doodle_from_row(r)
            if len(rows) < batch:
                return
            last = int(rows[-1][0])

    def delete(self, doodle_id: int) -> bool:
        cur = self._call(lambda c: c.execute("DELETE FROM doodles WHERE id = %s", (doodle_id,)))
        return cur.rowcount > 0

    def delete_key(self, key: str) -> int | None:
        row = self._call(
            lambda c: c.execute("DELETE FROM doodles WHERE drawing_key = %s RETURNING id", (key,)).fetchone()
        )
        return None if row is None else int(row[0])

    def set_hidden(self, doodle_id: int, hidden: bool) -> bool:
        cur = self._call(lambda c: c.execute("UPDATE doodles SET hidden = %s WHERE id = %s", (int(hidden), doodle_id)))
        return cur.rowcount > 0

    def kept_key(self, key: str) -> tuple[str, float] | None:
        row = self._call(
            lambda c: c.execute("SELECT reason, created_at FROM doodles WHERE drawing_key = %s", (key,)).fetchone()
        )
        return None if row is None else (str(row[0]), float(row[1]))

    def ids_of_keys(self, keys: Sequence[str]) -> dict[str, int]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT drawing_key, id FROM doodles WHERE hidden = 0 AND drawing_key = ANY(%s)", (list(keys),)
            ).fetchall()
        )
        return {str(k): int(i) for k, i in rows}

    def count(self) -> int:
        row = self._call(lambda c: c.execute("SELECT count(*) FROM doodles").fetchone())
        assert row is not None
        return int(row[0])

    def usage(self) -> Usage:
        row = self._call(lambda c: c.execute("SELECT drawings, bytes FROM usage WHERE one = 1").fetchone())
        assert row is not None
        return Usage(int(row[0]), int(row[1]), self.evicted)

    # ------------------------------------------------------------ custom words

    @staticmethod
    def _bump(conn: psycopg.Connection[Any], model: str) -> None:
        conn.execute(
            "INSERT INTO custom_words_changes VALUES (%s, 1)"
            " ON CONFLICT (model) DO UPDATE SET version = custom_words_changes.version + 1",
            (model,),
        )

    def add_custom_word(self, model: str, word: str, vectors: list[list[float]]) -> None:
        now = time.time()

        def add(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO custom_words (model, word, vector, created_at) VALUES (%s, %s, %s, %s)",
                    [(model, word, json.dumps(v), now) for v in vectors],
                )
            self._bump(conn, model)

        self._call(add)

    def forget_custom_word(self, model: str, word: str) -> int:
        def forget(conn: psycopg.Connection[Any]) -> int:
            n = conn.execute("DELETE FROM custom_words WHERE model = %s AND word = %s", (model, word)).rowcount
            self._bump(conn, model)
            return int(n)

        return self._call(forget)

    def custom_words(self, model: str) -> list[tuple[str, list[list[float]]]]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT word, vector FROM custom_words WHERE model = %s ORDER BY id", (model,)
            ).fetchall()
        )
        return base.grouped_custom_words(rows)

    def custom_words_version(self, model: str) -> int:
        """A number that changes whenever any instance teaches or forgets a custom word of ``model``."""
        row = self._call(
            lambda c: c.execute("SELECT version FROM custom_words_changes WHERE model = %s", (model,)).fetchone()
        )
        return 0 if row is None else int(row[0])

    # ------------------------------------------------------------ resume keys

    def hold_keys(self, keys: list[str], expires_at: float) -> None:
        """Make ``keys`` resumable by any instance until ``expires_at`` (``time.time()``); forget expired keys."""

        def hold(conn: psycopg.Connection[Any]) -> None:
            conn.execute("DELETE FROM resume_keys WHERE expires_at < %s", (time.time(),))
            if keys:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO resume_keys VALUES (%s, %s)"
                        " ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at",
                        [(k, expires_at) for k in keys],
                    )

        self._call(hold)

    def claim_key(self, key: str) -> bool:
        """Take resumable ``key`` (no other instance can take it again); whether it was resumable."""
        row = self._call(
            lambda c: c.execute("DELETE FROM resume_keys WHERE key = %s RETURNING expires_at", (key,)).fetchone()
        )
        return row is not None and float(row[0]) >= time.time()

    def drop_keys(self, keys: list[str]) -> None:
        """Make ``keys`` no longer resumable."""
        self._call(lambda c: c.execute("DELETE FROM resume_keys WHERE key = ANY(%s)", (keys,)))

    def close(self) -> None:
        self.pool.close()


def _fetch_all(conn: psycopg.Connection[Any], *, query: str, params: tuple[Any, ...]) -> list[Any]:
    return conn.execute(query.encode(), params).fetchall()


def _in_postgres(clause: tuple[str, tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """A :func:`server.history.store.where_clause` in PostgreSQL's words: ``%s`` placeholders, and ``ILIKE``
    (its ``LIKE`` minds case, SQLite's does not)."""
    where, args = clause
    return where.replace(" LIKE ", " ILIKE ").replace("?", "%s"), args


def _redact(url: str) -> str:
    """``url`` without its password."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "the PostgreSQL database"
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"
