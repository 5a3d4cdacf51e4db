"""``python -m tests.frozen_disk ARGS``: ``python -m server ARGS`` whose history database never finishes a write.

Every ``add`` of the SQLite store blocks for good, as on a frozen filesystem (``fsfreeze``)
where a write stays stuck in the kernel; it also leaves a thread the interpreter waits for
at exit (``daemon=False``), standing in for a thread stuck in the kernel, which a process
cannot finish either.  Used by the tests of what the server does then
(``tests/test_storage_limits.py``); a child process, because it is about the process's exit.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from server import __main__ as server_main
from server.history import feature
from server.history.store import SQLiteStore

FROZEN = threading.Event()  # never set: the disk never thaws


class FrozenStore(SQLiteStore):
    """A SQLite store whose writes of drawings never return."""

    def add(self, doodle: Any) -> int:
        threading.Thread(target=FROZEN.wait, name="stuck-write", daemon=False).start()
        FROZEN.wait()
        raise AssertionError("unreachable")


def open_frozen(db: str, quota: Any) -> FrozenStore:
    return FrozenStore(db, quota)


if __name__ == "__main__":
    feature.open_database = open_frozen  # type: ignore[assignment]
    sys.exit(server_main.main())
