"""Training drawings that near-copy a validation drawing: ``python -m training.near_copies``.

A training drawing (``simplified/``, ``simplified-extra/``) *near-copies* a raw validation
drawing when both have the same number of strokes and every stroke's first and last point,
the raw one normalized as the server does (:func:`server.render.normalize`), lie within
``TOLERANCE`` units of each other (on x and on y).  Many such pairs are coincidences of
one-stroke shapes, some are the same drawing; either way the validation figures are
cleaner without them, so :mod:`training.train` leaves every listed drawing out
(``--near-copies``, by default ``training/near_copies.tsv``).

The list names training drawings by folder name, word and ordinal in their file (0-based,
blank lines skipped: :attr:`training.data.DrawingSet.source`); its header gives the counts.
It depends on the data alone: regenerate it when the data changes.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from server import quickdraw
from server.render import IntStroke, normalize
from training import data as train_data

__all__ = ["TOLERANCE", "Entries", "endpoints", "find", "mask", "read", "write"]

#: Largest difference of a matching endpoint coordinate, in normalized units (0..255 space).
TOLERANCE = 3

Entries = dict[tuple[str, str], set[int]]
"""Listed training drawings: ``(folder name, word) -> ordinals in that file``."""


def endpoints(strokes: Sequence[IntStroke]) -> npt.NDArray[np.int16]:
    """``(4 n,)``: each stroke's first then last point (x, y), stroke after stroke."""
    return np.asarray([[*s[0], *s[-1]] for s in strokes], np.int16).reshape(-1)


def _train_endpoints(ds: train_data.DrawingSet, members: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int16]:
    strokes = ds.drawing_start[members][:, None] + np.arange(n)[None, :]
    first = ds.points[ds.stroke_start[strokes]]
    last = ds.points[ds.stroke_start[strokes + 1] - 1]
    return np.concatenate([first, last], axis=2).astype(np.int16).reshape(len(members), 4 * n)


def find(
    ds: train_data.DrawingSet, raw: Sequence[quickdraw.Drawing], *, tolerance: int = TOLERANCE
) -> list[tuple[int, int]]:
    """Pairs ``(training drawing index, raw drawing index)`` that match (module docstring)."""
    raw_ends: dict[int, list[tuple[int, npt.NDArray[np.int16]]]] = defaultdict(list)
    for r, d in enumerate(raw):
        norm = normalize(train_data.strokes_of(d))
        if norm:
            raw_ends[len(norm)].append((r, endpoints(norm)))
    pairs: list[tuple[int, int]] = []
    for n, wanted in sorted(raw_ends.items()):
        members = np.nonzero(ds.drawing_strokes == n)[0]
        if not len(members):
            continue
        ends = _train_endpoints(ds, members, n)
        order = np.argsort(ends[:, 0], kind="stable")
        ends, members = ends[order], members[order]
        first = ends[:, 0]
        for r, e in wanted:
            lo = np.searchsorted(first, e[0] - tolerance, "left")
            hi = np.searchsorted(first, e[0] + tolerance, "right")
            hit = np.nonzero((np.abs(ends[lo:hi] - e) <= tolerance).all(axis=1))[0]
            pairs.extend((int(members[lo + h]), r) for h in hit)
    return sorted(pairs)


def write(
    path: Path,
    ds: train_data.DrawingSet,
    folders: Sequence[Path],
    labels: Sequence[str],
    raw: Sequence[quickdraw.Drawing],
    pairs: Sequence[tuple[int, int]],
) -> None:
    """The list file: a comment header with the counts, then one line per folder and word:
    ``folder, word, ordinals`` tab-separated, the ordinals comma-separated and ascending."""
    by_file: dict[tuple[str, str], set[int]] = defaultdict(set)
    for t, _ in pairs:
        folder, ordinal = (int(v) for v in ds.source[t])
        by_file[(folders[folder].name, labels[ds.labels[t]])].add(ordinal)
    raw_hit = {r for _, r in pairs}
    same = {r for t, r in pairs if labels[ds.labels[t]] == raw[r].word}
    several = {r for r in same if len(raw[r].strokes) > 1}
    lines = [
        "# Training drawings that near-copy a raw validation drawing (python -m training.near_copies):",
        f"# same stroke count, every stroke's first and last point within {TOLERANCE} units after normalisation.",
        f"# {len({t for t, _ in pairs})} training drawings near-copy {len(raw_hit)} of {len(raw)} raw drawings "
        f"({len(pairs)} pairs); {len(same)} raw drawings have one of their own word, {len(several)} of them "
        "with more than one stroke.",
        "# folder\tword\tordinals in the file (0-based, comma-separated)",
    ]
    for (folder_name, word), ordinals in sorted(by_file.items()):
        lines.append(f"{folder_name}\t{word}\t{','.join(str(o) for o in sorted(ordinals))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read(path: Path) -> Entries:
    """The listed training drawings of a list file."""
    out: Entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        folder, word, ordinals = line.split("\t")
        out.setdefault((folder, word), set()).update(int(o) for o in ordinals.split(","))
    return out


def mask(
    ds: train_data.DrawingSet, folders: Sequence[Path], labels: Sequence[str], entries: Entries
) -> npt.NDArray[np.bool_]:
    """``(D,)``: which drawings of ``ds`` (loaded from ``folders`` with ``labels``) are listed."""
    out = np.zeros(len(ds), bool)
    index = {(folder.name, word): (f, w) for f, folder in enumerate(folders) for w, word in enumerate(labels)}
    keys = ds.source[:, 0].astype(np.int64) * len(labels) + ds.labels.astype(np.int64)
    for key, ordinals in entries.items():
        if key not in index:
            continue
        f, w = index[key]
        members = np.nonzero(keys == f * len(labels) + w)[0]
        out[members[np.isin(ds.source[members, 1], np.fromiter(ordinals, np.int32))]] = True
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.near_copies", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, nargs="+", default=[quickdraw.simplified_dir(), quickdraw.simplified_extra_dir()]
    )
    p.add_argument("--val", type=Path, default=quickdraw.raw_dir())
    p.add_argument("--cache", type=Path, default=Path("build/train/cache"), help="training.data's parsed-data cache")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "near_copies.tsv")
    args = p.parse_args(argv)
    labels = train_data.labels_of(args.data[0])
    ds = train_data.load_simplified(args.data, labels=labels, cache=args.cache)
    raw = list(quickdraw.read(args.val))
    pairs = find(ds, raw)
    write(args.out, ds, args.data, labels, raw, pairs)
    same = sum(labels[ds.labels[t]] == raw[r].word for t, r in pairs)
    print(
        f"{len({t for t, _ in pairs})} training drawings near-copy {len({r for _, r in pairs})} of {len(raw)} raw "
        f"drawings ({len(pairs)} pairs, {same} of the same word); written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
