"""``python -m server.history.moderate``: hide, show again or delete kept drawings in a history database.

For an operator at the server's machine (the socket's ``moderate`` message does the same
with ``--admin-token`` from anywhere)::

    python -m server.history.moderate --db data/doodles.sqlite3 hide 12 40
    python -m server.history.moderate --db data/doodles.sqlite3 delete 12
    python -m server.history.moderate --db postgresql://doodle@db/doodles hide 12

A hidden drawing is left out of the gallery, the JSON API, its pictures and the export
until it is shown again; a deleted one is gone for good.  Works while the server runs
(SQLite's lock is waited for).  Exit status 0 when every id was found, 1 when one was
not (the others are still done), 2 for a database that cannot be opened.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from server.history.databases import is_shared, open_database, shown
from server.history.messages import MODERATE_ACTIONS
from server.history.store import DoodleStore


def moderate(store: DoodleStore, action: str, doodle_id: int) -> bool:
    """Do ``action`` (hide, show, delete) to drawing ``doodle_id``; whether it was found."""
    if action == "delete":
        return store.delete(doodle_id)
    return store.set_hidden(doodle_id, action == "hide")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m server.history.moderate", description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True, help="history database: the server's --db (SQLite file or PostgreSQL URL)")
    p.add_argument("action", choices=MODERATE_ACTIONS, help="hide, show (again) or delete (for good)")
    p.add_argument("ids", type=int, nargs="+", help="drawing ids (as in /doodles/ID)")
    args = p.parse_args(argv)
    if not is_shared(args.db) and not Path(args.db).is_file():
        print(f"moderate: no database at {args.db}", file=sys.stderr)
        return 2
    try:
        store = open_database(args.db)
    except (sqlite3.Error, OSError) as e:
        print(f"moderate: cannot open {shown(args.db)}: {e}", file=sys.stderr)
        return 2
    missing = []
    try:
        for doodle_id in args.ids:
            if moderate(store, args.action, doodle_id):
                print(f"{args.action}: drawing {doodle_id}")
            else:
                missing.append(doodle_id)
    finally:
        store.close()
    if missing:
        print(f"moderate: no drawing {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
