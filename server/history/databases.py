"""Which database ``--db`` names: :func:`open_database` (PostgreSQL URL, SQLite path, or ``:memory:``).

``postgresql://`` (or ``postgres://``) URLs open :class:`server.history.postgres.PostgresStore`,
which needs the optional extra ``postgres`` (psycopg); a missing psycopg is a
:class:`server.errors.StoreError` (every store's error) saying what to install.
Anything else is a SQLite file (:func:`server.history.store.open_store`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from server.errors import StoreError
from server.history.store import DoodleStore, Quota, SharedDoodleStore, open_store

#: The URL schemes that name a PostgreSQL database.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_shared(spec: str | Path) -> bool:
    """Whether ``spec`` names a database server several server processes share (PostgreSQL)."""
    return str(spec).startswith(POSTGRES_SCHEMES)


def shown(spec: str | Path) -> str:
    """``spec`` as logs and errors may show it: a URL without its password."""
    text = str(spec)
    if not is_shared(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_database(spec: str | Path, quota: Quota | None = None) -> DoodleStore:
    """The store ``spec`` names (see module docstring)."""
    if not is_shared(spec):
        return open_store(spec, quota)
    return open_shared_database(spec, quota)


def open_shared_database(spec: str | Path, quota: Quota | None = None) -> SharedDoodleStore:
    """The shared database (PostgreSQL) URL ``spec`` names."""
    try:
        from server.history.postgres import PostgresStore  # the optional extra: imported only when named
    except ImportError as e:
        raise StoreError(
            f"--db names PostgreSQL but psycopg is not installed ({e}): pip install 'doodlestream[postgres]'"
        ) from None
    return PostgresStore(str(spec), quota)
