"""``python -m server.history.export``: the doodle history as Quick, Draw! raw ndjson.

One JSON object per line, oldest drawing first, in Google's raw format, so player
drawings feed straight back into training (``training.data``) and into replay
(``replay_client``)::

    {"word", "countrycode", "timestamp", "recognized", "key_id", "drawing"}

* ``word``: the word the player meant (from ``submit``).  A drawing whose player named
  no word is written with its **final top guess** as ``word`` and ``recognized: false``
  (so ``recognized: true`` rows are exactly player-labelled drawings the game recognised);
  ``--labelled-only`` skips them instead.  A drawing with neither a word nor a
  guess is skipped.  Every skip is counted in the summary line.
* ``recognized``: whether the game recognised the word, as Quick Draw's field means
  (:attr:`server.history.store.DoodleInfo.recognized`, the gallery's ✓): for a drawing made
  with a target word (a round of the play mode), whether the server sent ``recognized`` for
  that target (by the session's rule) and the target is the drawing's word; for one without
  (the sketchpad, or one stored before the history kept targets), whether the final top
  guess was the player's word.
* ``countrycode``: ``ZZ`` (unknown: the server records no location).
* ``timestamp``: when the drawing was stored, ``YYYY-MM-DD HH:MM:SS.ffffff UTC``.
* ``key_id``: the drawing's id in the history, as a string.
* ``drawing``: the strokes exactly as stored: ``[[x...], [y...], [t ms...]]``.

The file is written next to its destination and renamed into place, so a reader never
sees half an export; ``.gz`` names are gzip-compressed.  The database is only read.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from server.history.store import Doodle, SQLiteStore

#: ``countrycode`` written for every drawing (ISO 3166 user-assigned "unknown").
UNKNOWN_COUNTRY = "ZZ"


@dataclass
class ExportStats:
    written: int = 0
    labelled_by_guess: int = 0
    skipped_unlabelled: int = 0
    skipped_no_guess: int = 0


def quickdraw_record(d: Doodle) -> dict[str, Any] | None:
    """``d`` as a Quick Draw raw record (``None`` when it has neither word nor guess)."""
    label = d.label
    if label is None:
        return None
    stamp = datetime.fromtimestamp(d.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    return {
        "word": label,
        "countrycode": UNKNOWN_COUNTRY,
        "timestamp": stamp,
        "recognized": d.recognized,
        "key_id": str(d.id),
        "drawing": d.drawing,
    }


def records(doodles: Iterator[Doodle], stats: ExportStats, *, labelled_only: bool) -> Iterator[dict[str, Any]]:
    """The Quick Draw records of ``doodles``, counting what is written and skipped."""
    for d in doodles:
        if d.word is None and labelled_only:
            stats.skipped_unlabelled += 1
            continue
        rec = quickdraw_record(d)
        if rec is None:
            stats.skipped_no_guess += 1
            continue
        stats.labelled_by_guess += d.word is None
        stats.written += 1
        yield rec


def parse_since(text: str) -> float:
    """An ISO 8601 date or date-time (UTC when no zone is given) -> Unix seconds."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date such as 2026-11-24 or 2026-11-24T13:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def export(db: Path, out: Path, *, word: str | None, since: float | None, labelled_only: bool) -> ExportStats:
    """Write the (filtered) history in ``db`` to ``out``; what was written and skipped."""
    if not db.is_file():
        raise FileNotFoundError(f"{db}: no such history database")
    stats = ExportStats()
    store = SQLiteStore(db, readonly=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fh: IO[str] = (
            gzip.open(tmp, "wt", encoding="utf-8")  # noqa: SIM115 - closed below
            if out.name.endswith(".gz")
            else tmp.open("w", encoding="utf-8")
        )
        with fh:
            for rec in records(store.scan(word=word, since=since), stats, labelled_only=labelled_only):
                fh.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
                fh.write("\n")
        os.replace(tmp, out)
    finally:
        store.close()
        tmp.unlink(missing_ok=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m server.history.export", description="Write the doodle history as Quick, Draw! raw ndjson."
    )
    p.add_argument("--db", type=Path, required=True, help="history database (the server's --db)")
    p.add_argument("--out", type=Path, required=True, help="output file: .ndjson, or .ndjson.gz to compress")
    p.add_argument("--word", help="only drawings with this label (the player's word, else the final guess)")
    p.add_argument("--since", type=parse_since, help="only drawings stored at or after this ISO date/time (UTC)")
    p.add_argument(
        "--labelled-only",
        action="store_true",
        help="skip drawings whose player named no word (default: write them with their final guess)",
    )
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        stats = export(args.db, args.out, word=args.word, since=args.since, labelled_only=args.labelled_only)
    except (OSError, ValueError, sqlite3.Error) as e:
        print(f"export failed: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {stats.written} drawings to {args.out} in {time.perf_counter() - start:.1f} s"
        f" ({stats.labelled_by_guess} labelled by their final guess with recognized=false;"
        f" skipped {stats.skipped_unlabelled} without a player's word, {stats.skipped_no_guess} without any guess)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
