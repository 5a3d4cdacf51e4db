"""Which database ``--db`` names: :func:`open_database` (PostgreSQL URL, SQLite path, or ``:memory:``).

``postgresql://`` (or ``postgres://``) URLs open :class:`server.history.postgres.PostgresStore`,
which needs the optional extra ``postgres`` (psycopg); a missing psycopg is a
:class:`sqlite3.DatabaseError` (the store interface's error) saying what to install.
Anything else is a SQLite file (:func:`server.history.store.open_store`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.history.store import DoodleStore, Quota, open_store

#: The URL schemes that name a PostgreSQL database.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_shared(spec: str | Path) -> bool:
    """Whether ``spec`` names a database server several server processes share (PostgreSQL)."""
    return str(spec).startswith(POSTGRES_SCHEMES)


def open_database(spec: str | Path, quota: Quota | None = None) -> DoodleStore:
    """The store ``spec`` names (see module docstring)."""
    if not is_shared(spec):
        return open_store(spec, quota)
    try:
        from server.history.postgres import PostgresStore  # the optional extra: imported only when named
    except ImportError as e:
        raise sqlite3.DatabaseError(
            f"--db names PostgreSQL but psycopg is not installed ({e}): pip install 'doodlestream[postgres]'"
        ) from None
    return PostgresStore(str(spec), quota)
