"""Quick, Draw! data for training and evaluation: loading, sampling, augmentation.

Owns the compact in-memory form of the simplified drawings and the one path from a
drawing to a training image, which always ends in :func:`server.render.render` (the
function the server uses), so training and serving cannot drift apart.

Files are read through :mod:`server.quickdraw` (which documents both formats).

Memory: points are kept as uint8 pairs (the simplified space is 0..255), about 80 MB
for the whole set; images are produced per batch as uint8, never as a float copy of
the data set.  The parsed set is cached as ``.npz`` under ``--cache`` so later runs
skip the JSON parsing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from server import quickdraw
from server.augment import warp
from server.render import PICTURE, Encoding, Points, as_points, encode

#: Version of the ``.npz`` cache's layout (part of its file name): 2 added ``source``.
CACHE_FORMAT = 2
#: Probability that a drawing of several strokes is cut to its first k strokes (k uniform
#: in 1..n-1), re-normalised as the live canvas is: the model learns to guess early.
AUG_PREFIX_P = 0.4


def labels_of(folders: Path | Sequence[Path]) -> list[str]:
    """The category words of data folders, sorted: the model's class order."""
    words = quickdraw.words(folders)
    if not words:
        raise FileNotFoundError(f"no .ndjson or .ndjson.gz files in {folders}")
    return words


def strokes_of(drawing: quickdraw.Drawing) -> list[Points]:
    """A drawing's strokes as ``(N, 2)`` float arrays (x, y; times dropped)."""
    return [as_points(s.x, s.y) for s in drawing.strokes]


@dataclass
class DrawingSet:
    """Many drawings in compact form: ``points[stroke_start[s]:...]`` per stroke."""

    points: npt.NDArray[np.uint8]  # (P, 2)
    stroke_len: npt.NDArray[np.int32]  # (S,)
    drawing_strokes: npt.NDArray[np.int32]  # (D,) strokes per drawing
    labels: npt.NDArray[np.int16]  # (D,)
    #: Where each drawing came from: the index of its folder (in the order loaded) and its
    #: ordinal in its file (0-based, blank lines skipped), ``(D, 2)``: what near-copy lists name.
    source: npt.NDArray[np.int32]

    def __post_init__(self) -> None:
        self.stroke_start = np.concatenate([[0], np.cumsum(self.stroke_len)]).astype(np.int64)
        self.drawing_start = np.concatenate([[0], np.cumsum(self.drawing_strokes)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def strokes(self, i: int) -> list[Points]:
        """Drawing ``i`` as float strokes."""
        out = []
        for s in range(self.drawing_start[i], self.drawing_start[i + 1]):
            out.append(self.points[self.stroke_start[s] : self.stroke_start[s + 1]].astype(np.float64))
        return out

    def subset(self, keep: npt.NDArray[np.bool_]) -> DrawingSet:
        """The drawings where ``keep`` (``(D,)`` bool) is true, in order."""
        stroke_keep = np.repeat(keep, self.drawing_strokes)
        point_keep = np.repeat(stroke_keep, self.stroke_len)
        return DrawingSet(
            self.points[point_keep],
            self.stroke_len[stroke_keep],
            self.drawing_strokes[keep],
            self.labels[keep],
            self.source[keep],
        )


def _parse_file(
    args: tuple[str, int, int, int | None],
) -> tuple[int, int, list[list[npt.NDArray[np.uint8]]]]:
    path, label, folder, limit = args
    drawings = []
    for drawing in quickdraw.read_file(Path(path), limit=limit):
        strokes = [np.clip(np.asarray([s.x, s.y], dtype=np.int32).T, 0, 255).astype(np.uint8) for s in drawing.strokes]
        drawings.append(strokes)
    return label, folder, drawings


def load_simplified(
    folders: Path | Sequence[Path],
    *,
    labels: Sequence[str],
    per_class: int | None = None,
    cache: Path | None = None,
    workers: int = 2,
) -> DrawingSet:
    """Load simplified folders (``simplified/``, ``simplified-extra/``...), cached.

    Drawings come word by word in ``labels`` order, each word's folders in the order
    given; a word missing from a folder is skipped there.  ``per_class`` caps each word's
    drawings in each folder."""
    folders = [folders] if isinstance(folders, Path) else list(folders)
    names = ";".join(str(f.resolve()) for f in folders)
    key = hashlib.sha1(f"{CACHE_FORMAT}|{names}|{per_class}|{','.join(labels)}".encode()).hexdigest()[:12]
    cached = cache / f"simplified-{key}.npz" if cache else None
    if cached and cached.exists():
        with np.load(cached) as z:
            return DrawingSet(z["points"], z["stroke_len"], z["drawing_strokes"], z["labels"], z["source"])
    jobs = [
        (str(folder / f"{w}.ndjson.gz"), i, f, per_class)
        for i, w in enumerate(labels)
        for f, folder in enumerate(folders)
        if (folder / f"{w}.ndjson.gz").is_file()
    ]
    pts: list[npt.NDArray[np.uint8]] = []
    slen: list[int] = []
    dstrokes: list[int] = []
    labs: list[int] = []
    source: list[npt.NDArray[np.int32]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for label, folder_index, drawings in pool.map(_parse_file, jobs, chunksize=2):
            for strokes in drawings:
                pts.extend(strokes)
                slen.extend(len(s) for s in strokes)
                dstrokes.append(len(strokes))
                labs.append(label)
            lines = np.arange(len(drawings), dtype=np.int32)
            source.append(np.stack([np.full_like(lines, folder_index), lines], axis=1))
    ds = DrawingSet(
        np.concatenate(pts),
        np.asarray(slen, np.int32),
        np.asarray(dstrokes, np.int32),
        np.asarray(labs, np.int16),
        np.concatenate(source) if source else np.zeros((0, 2), np.int32),
    )
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            points=ds.points,
            stroke_len=ds.stroke_len,
            drawing_strokes=ds.drawing_strokes,
            labels=ds.labels,
            source=ds.source,
        )
        os.replace(tmp, cached)
    return ds


def read_words_file(path: Path) -> list[str]:
    """Words, one a line (blank lines and ``#`` comments skipped): e.g. ``--exclude-words``."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [w for w in lines if w and not w.startswith("#")]


def without(labels: Sequence[str], excluded: Collection[str]) -> list[str]:
    """``labels`` less ``excluded``, order kept; every excluded word must be a label
    (a typo would otherwise silently leave nothing out)."""
    unknown = sorted(set(excluded) - set(labels))
    if unknown:
        raise ValueError(f"words to exclude are not in the data: {unknown[:5]}")
    drop = set(excluded)
    return [w for w in labels if w not in drop]


def load_raw(
    folder: Path, *, labels: Sequence[str], exclude: Collection[str] = ()
) -> tuple[list[list[Points]], npt.NDArray[np.int16], list[quickdraw.Drawing]]:
    """Load ``raw/``: strokes (x, y only), labels and the drawings themselves (with timing).

    Drawings of the words in ``exclude`` are skipped (a model trained without them)."""
    index = {w: i for i, w in enumerate(labels)}
    drawings = [d for d in quickdraw.read(folder) if d.word not in exclude]
    unknown = sorted({d.word for d in drawings} - index.keys())
    if unknown:
        raise ValueError(f"{folder}: words {unknown[:5]} are not among the model's labels")
    return [strokes_of(d) for d in drawings], np.asarray([index[d.word] for d in drawings], np.int16), drawings


def prefix(strokes: list[Points], rng: np.random.Generator, *, p: float = AUG_PREFIX_P) -> list[Points]:
    """With probability ``p``, the first k strokes (1 <= k < n) of a drawing of n > 1 strokes:
    what the server sees after the player's k-th pen-up."""
    if len(strokes) > 1 and rng.random() < p:
        return strokes[: int(rng.integers(1, len(strokes)))]
    return strokes


def augment(strokes: list[Points], rng: np.random.Generator) -> list[Points]:
    """A live-drawing-like variant: maybe a prefix of the strokes (:func:`prefix`), then
    :func:`server.augment.warp` (rotation, aspect, shear, per-point jitter)."""
    return warp(prefix(strokes, rng), rng)


def render_batch(
    ds: DrawingSet, idx: npt.NDArray[np.int64], *, seed: int | None, encoding: Encoding = PICTURE
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int16]]:
    """Model inputs ``(B, px, px, channels)`` uint8 (:func:`server.render.encode`) and labels
    for drawings ``idx``.

    ``seed`` None encodes the drawings as they are; otherwise each is augmented with a
    generator seeded from ``seed`` (reproducible)."""
    rng = np.random.default_rng(seed) if seed is not None else None
    px = encoding.input_px
    out = np.empty((len(idx), px, px, encoding.depth), np.uint8)
    for k, i in enumerate(idx):
        strokes = ds.strokes(int(i))
        if rng is not None:
            strokes = augment(strokes, rng)
        out[k] = encode(strokes, encoding).reshape(px, px, encoding.depth)
    return out, ds.labels[idx]


def epoch_order(labels: npt.NDArray[np.int16], *, rng: np.random.Generator, floor: int) -> npt.NDArray[np.int64]:
    """Every drawing once, plus thin classes oversampled up to ``floor``, shuffled (a class
    with no drawing at all stays empty)."""
    parts = [np.arange(len(labels))]
    counts = np.bincount(labels)
    for c in np.nonzero((counts > 0) & (counts < floor))[0]:
        members = np.nonzero(labels == c)[0]
        parts.append(rng.choice(members, floor - len(members), replace=True))
    order = np.concatenate(parts)
    rng.shuffle(order)
    return order
