"""Quick, Draw! data: the two ndjson formats, one :class:`Drawing` type, data paths, accuracy.

Training, replay, the benchmark and the tests all read drawings and score guesses
through this module, so they agree on what a drawing is and what a hit is.

Formats (Google's, https://github.com/googlecreativelab/quickdraw-dataset), one JSON
object per line, plain (``WORD.ndjson``) or gzipped (``WORD.ndjson.gz``), one file per
category word:

======================  ==============================  ===============================================
key                     type                            description
======================  ==============================  ===============================================
``word``                string                          category the player was prompted to draw
``drawing``             list of strokes                 the vector drawing (below)
``key_id``              64-bit unsigned integer         unique identifier across all drawings
                        (written as a string)
``recognized``          boolean                         whether the game recognised the word
``timestamp``           datetime (string)               when the drawing was created
``countrycode``         string                          ISO 3166-1 alpha-2 code of where the player was
======================  ==============================  ===============================================

Only ``word`` and ``drawing`` are required (``simplified/`` here carries nothing else);
a line without ``word`` takes the file's word.

* **Raw** (``raw/``): each stroke is ``[[x0, x1, ...], [y0, y1, ...], [t0, t1, ...]]``;
  x and y are real-valued pixel coordinates of the player's canvas (no fixed range, so
  bounding boxes and point counts vary widely with the device); t is an integer, the
  milliseconds since the drawing's first point.
* **Simplified** (``simplified/``, ``simplified-extra/``): each stroke is
  ``[[x0, x1, ...], [y0, y1, ...]]``, no timing.  Made from raw drawings by aligning the
  drawing to the top-left corner (minimum values 0), scaling it uniformly so the maximum
  value is 255, resampling every stroke at 1 pixel spacing and simplifying it with
  Ramer-Douglas-Peucker at epsilon 2.0; coordinates are integers 0..255.

Reading is strict: a line that is not such an object (not JSON, NaN or Infinity, no
``drawing``, a stroke with lists of different lengths or no points, a value that is not
a number, strokes mixing the two formats, a drawing without strokes) raises
:class:`DataError` naming ``file#line``.  Times are kept as integer milliseconds.

Paths: the data lives in ``$DOODLE_SHARED/quickdraw/`` (default: ``shared/`` beside the
project root, i.e. ``<project>/../shared``); :func:`shared_dir` and the functions after
it read the environment on every call.  A path argument is one file or a folder of
``*.ndjson`` / ``*.ndjson.gz`` files, or several of those; files of the same word in
several folders (``simplified/`` and ``simplified-extra/``) are one word.  Words are
visited in the order of their file names (``sorted`` by ``Path.name``), which is
deterministic and what the tests and the benchmark have always replayed.

Accuracy: a drawing's *answer* is its best-first list of guessed words, or ``None`` when
the drawing was *rejected* (the server answered an error, the connection was lost, a
reply was missing).  One rule for every metric: a rejected drawing is a miss, and it is
never skipped (it counts in ``n``).

* ``top-k``: share of drawings whose word is among the first ``k`` words of its answer.
* ``MAP@3``: mean over drawings of ``1/rank`` of the word among the answer's first three
  (0 when absent): Kaggle's Quick, Draw! metric with one true word per drawing.
* *Balanced* variants: the mean over words of each word's own figure, so every word
  weighs the same however many drawings it has.

An empty set of drawings has no figure (``None``), never 0.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

#: Environment variable naming the shared data folder (the one holding ``quickdraw/``).
SHARED_ENV = "DOODLE_SHARED"
#: The project's root folder (the one holding ``server/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: File name endings of Quick, Draw! data files.
SUFFIXES = (".ndjson", ".ndjson.gz")

#: A drawing's answer: best-first guessed words, or ``None`` when the drawing was rejected.
Answer = Sequence[str] | None


class DataError(ValueError):
    """A path, file or line that is not Quick, Draw! ndjson (the message says where and why)."""


# ------------------------------------------------------------------ paths


def shared_dir() -> Path:
    """``$DOODLE_SHARED``, else ``shared/`` beside the project root."""
    env = os.environ.get(SHARED_ENV)
    return Path(env) if env else PROJECT_ROOT.parent / "shared"


def quickdraw_dir() -> Path:
    """The Quick, Draw! folder: ``shared_dir() / "quickdraw"``."""
    return shared_dir() / "quickdraw"


def raw_dir() -> Path:
    """Raw drawings with timing (validation and replay only, never training)."""
    return quickdraw_dir() / "raw"


def simplified_dir() -> Path:
    """Simplified drawings (training)."""
    return quickdraw_dir() / "simplified"


def simplified_extra_dir() -> Path:
    """More simplified drawings, disjoint from :func:`simplified_dir` and :func:`raw_dir` (training)."""
    return quickdraw_dir() / "simplified-extra"


# ------------------------------------------------------------------ the drawing type


@dataclass(frozen=True, slots=True)
class Stroke:
    """One pen-down-to-pen-up line: coordinates and, for raw drawings, times in ms."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    t: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.x or len(self.x) != len(self.y) or (self.t is not None and len(self.t) != len(self.x)):
            raise ValueError("a stroke needs at least one point and x, y (and t) of the same length")

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True, slots=True)
class Drawing:
    """One Quick, Draw! drawing; ``source`` (``file#line``) says where it was read, for messages only."""

    word: str
    strokes: tuple[Stroke, ...]
    key_id: str | None = None
    countrycode: str | None = None
    recognized: bool | None = None
    timestamp: str | None = None
    source: str = field(default="", compare=False)

    @property
    def timed(self) -> bool:
        """Whether every stroke has times (a raw drawing)."""
        return bool(self.strokes) and all(s.t is not None for s in self.strokes)

    @property
    def points(self) -> int:
        """Points in all strokes."""
        return sum(len(s) for s in self.strokes)

    @property
    def duration_ms(self) -> int:
        """Recorded time from the first point to the last (0 without times)."""
        first, last = self.strokes[0].t if self.strokes else None, self.strokes[-1].t if self.strokes else None
        return last[-1] - first[0] if first and last else 0

    def to_json(self) -> dict[str, Any]:
        """The ndjson record (raw when :attr:`timed`, else simplified); :func:`parse_line` reads it back."""
        out: dict[str, Any] = {"word": self.word}
        for key in ("countrycode", "timestamp", "recognized", "key_id"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["drawing"] = [
            [list(s.x), list(s.y), list(s.t)] if s.t is not None else [list(s.x), list(s.y)] for s in self.strokes
        ]
        return out


# ------------------------------------------------------------------ parsing


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _numbers(values: object) -> bool:
    return isinstance(values, list) and all(type(v) is int or type(v) is float for v in values)


def _optional(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if key == "key_id" and type(value) is int:
        return str(value)
    if type(value) is not kind:
        raise DataError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def from_json(obj: object, *, source: str = "", word: str | None = None) -> Drawing:
    """A decoded ndjson record -> :class:`Drawing`; ``word`` is used when the record has none."""
    where = source or "drawing"
    if not isinstance(obj, dict) or not isinstance(obj.get("drawing"), list):
        raise DataError(f"{where}: not an object with a 'drawing' list")
    name = obj.get("word", word)
    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: 'word' must be a non-empty string")
    raw_strokes = obj["drawing"]
    if not raw_strokes:
        raise DataError(f"{where}: the drawing has no strokes")
    timed = isinstance(raw_strokes[0], list) and len(raw_strokes[0]) == 3
    strokes: list[Stroke] = []
    for j, s in enumerate(raw_strokes, 1):
        if not isinstance(s, list) or len(s) != (3 if timed else 2):
            raise DataError(f"{where}: stroke {j} must be [x, y] or [x, y, t] like the first")
        if not all(_numbers(v) for v in s):
            raise DataError(f"{where}: stroke {j} holds a value that is not a number")
        if not s[0] or not all(len(v) == len(s[0]) for v in s):
            raise DataError(f"{where}: stroke {j} has lists of different lengths or no points")
        t = tuple(v if type(v) is int else round(v) for v in s[2]) if timed else None
        strokes.append(Stroke(tuple(s[0]), tuple(s[1]), t))
    return Drawing(
        name,
        tuple(strokes),
        key_id=_optional(obj, "key_id", str, where),
        countrycode=_optional(obj, "countrycode", str, where),
        recognized=_optional(obj, "recognized", bool, where),
        timestamp=_optional(obj, "timestamp", str, where),
        source=source,
    )


def parse_line(line: str, *, source: str = "", word: str | None = None) -> Drawing:
    """One ndjson line -> :class:`Drawing`, or :class:`DataError` saying what is wrong (see module docstring)."""
    try:
        obj = json.loads(line, parse_constant=_reject_constant)
    except ValueError as e:
        raise DataError(f"{source or 'line'}: not JSON ({e})") from None
    return from_json(obj, source=source, word=word)


def word_of(path: Path) -> str:
    """The category word a data file is named after (``The Eiffel Tower.ndjson.gz`` -> ``The Eiffel Tower``)."""
    return path.name.removesuffix(".gz").removesuffix(".ndjson")


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def read_file(path: Path, *, limit: int | None = None) -> Iterator[Drawing]:
    """The drawings of one file in order (at most ``limit``); ``source`` is ``name#line``."""
    if limit is not None and limit <= 0:
        return
    word = word_of(path)
    count = 0
    try:
        with _open(path) as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield parse_line(line, source=f"{path.name}#{n}", word=word)
                    count += 1
                    if count == limit:
                        return
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None


def _as_paths(paths: Path | Iterable[Path]) -> list[Path]:
    return [paths] if isinstance(paths, Path) else list(paths)


def data_files(paths: Path | Iterable[Path]) -> list[Path]:
    """Each file itself, or the ``*.ndjson``/``*.ndjson.gz`` files of each folder sorted by name."""
    out: list[Path] = []
    for path in _as_paths(paths):
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
            if not files:
                raise DataError(f"{path} holds no .ndjson or .ndjson.gz files")
            out.extend(files)
        else:
            raise DataError(f"{path} does not exist")
    if not out:
        raise DataError("no data path given")
    return out


def files_by_word(paths: Path | Iterable[Path]) -> dict[str, list[Path]]:
    """The data files grouped by word, words in the order of their file names (see module docstring)."""
    groups: dict[str, list[Path]] = {}
    for f in data_files(paths):
        groups.setdefault(word_of(f), []).append(f)
    return dict(sorted(groups.items(), key=lambda kv: min(p.name for p in kv[1])))


def words(paths: Path | Iterable[Path]) -> list[str]:
    """The category words of the data, sorted alphabetically: the model's class order."""
    return sorted(files_by_word(paths))


def read_word(files: Iterable[Path], *, limit: int | None = None) -> Iterator[Drawing]:
    """The drawings of one word's files, file after file, at most ``limit`` in all."""
    stream = itertools.chain.from_iterable(read_file(f) for f in files)
    return itertools.islice(stream, limit)


def read(paths: Path | Iterable[Path], *, per_word: int | None = None) -> Iterator[Drawing]:
    """Every drawing (at most ``per_word`` of each word), word after word."""
    for files in files_by_word(paths).values():
        yield from read_word(files, limit=per_word)


def sample(
    paths: Path | Iterable[Path],
    *,
    per_word: int | None = None,
    max_words: int | None = None,
    limit: int | None = None,
    seed: int | None = None,
) -> list[Drawing]:
    """A deterministic selection: the first ``per_word`` drawings of the first ``max_words`` words.

    Words are interleaved (every word's first drawing, then every word's second, ...) so
    that ``limit`` still spans the words; ``seed`` shuffles the selection before ``limit``
    applies.  Only the drawings needed are read (without ``seed``)."""
    groups = list(files_by_word(paths).values())[:max_words]
    streams = [read_word(files, limit=per_word) for files in groups]
    order: Iterator[Drawing] = (d for group in itertools.zip_longest(*streams) for d in group if d is not None)
    if seed is None:
        return list(itertools.islice(order, limit))
    chosen = list(order)
    random.Random(seed).shuffle(chosen)
    return chosen[:limit]


# ------------------------------------------------------------------ accuracy


@dataclass(frozen=True, slots=True)
class Rate:
    """``hits`` out of ``n``; ``value`` is ``None`` when ``n`` is 0."""

    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    def as_dict(self) -> dict[str, Any]:
        return {"rate": self.value, "hits": self.hits, "n": self.n}


def rank(word: str, answer: Answer) -> int | None:
    """1-based position of ``word`` in ``answer``; ``None`` when absent or the drawing was rejected."""
    if answer is None:
        return None
    for i, w in enumerate(answer):
        if w == word:
            return i + 1
    return None


def hit(word: str, answer: Answer, k: int) -> bool:
    """Whether ``word`` is among the first ``k`` of ``answer`` (never for a rejected drawing)."""
    r = rank(word, answer)
    return r is not None and r <= k


def reciprocal_rank_at_3(word: str, answer: Answer) -> float:
    """``1/rank`` of ``word`` within the first three of ``answer``, else 0: one drawing's MAP@3."""
    r = rank(word, answer)
    return 1.0 / r if r is not None and r <= 3 else 0.0


def _pairs(truth: Sequence[str], answers: Sequence[Answer]) -> list[tuple[str, Answer]]:
    if len(truth) != len(answers):
        raise ValueError(f"{len(truth)} words but {len(answers)} answers")
    return list(zip(truth, answers, strict=True))


def top_k_accuracy(truth: Sequence[str], answers: Sequence[Answer], k: int) -> Rate:
    """Drawings whose word is among the first ``k`` of their answer, out of all drawings."""
    pairs = _pairs(truth, answers)
    return Rate(sum(hit(w, a, k) for w, a in pairs), len(pairs))


def map_at_3(truth: Sequence[str], answers: Sequence[Answer]) -> float | None:
    """Mean of :func:`reciprocal_rank_at_3` over all drawings; ``None`` without drawings."""
    pairs = _pairs(truth, answers)
    return sum(reciprocal_rank_at_3(w, a) for w, a in pairs) / len(pairs) if pairs else None


def _per_word(truth: Sequence[str], answers: Sequence[Answer]) -> dict[str, tuple[list[str], list[Answer]]]:
    groups: dict[str, tuple[list[str], list[Answer]]] = {}
    for w, a in _pairs(truth, answers):
        ws, as_ = groups.setdefault(w, ([], []))
        ws.append(w)
        as_.append(a)
    return groups


def _balanced(
    truth: Sequence[str], answers: Sequence[Answer], figure: Callable[[list[str], list[Answer]], float | None]
) -> float | None:
    per = [figure(ws, as_) for ws, as_ in _per_word(truth, answers).values()]
    values = [v for v in per if v is not None]
    return sum(values) / len(values) if values else None


def balanced_top_k_accuracy(truth: Sequence[str], answers: Sequence[Answer], k: int) -> float | None:
    """Mean over words of each word's top-``k`` rate; ``None`` without drawings."""
    return _balanced(truth, answers, lambda ws, as_: top_k_accuracy(ws, as_, k).value)


def balanced_map_at_3(truth: Sequence[str], answers: Sequence[Answer]) -> float | None:
    """Mean over words of each word's MAP@3; ``None`` without drawings."""
    return _balanced(truth, answers, map_at_3)


def per_word_top_k_accuracy(truth: Sequence[str], answers: Sequence[Answer], k: int) -> dict[str, Rate]:
    """Each word's top-``k`` rate, words sorted."""
    return {w: top_k_accuracy(ws, as_, k) for w, (ws, as_) in sorted(_per_word(truth, answers).items())}


def accuracy(truth: Sequence[str], answers: Sequence[Answer]) -> dict[str, Any]:
    """The standard figures: ``n``, ``rejected``, ``top1``/``top3``/``top5``, ``map3`` and their balanced variants.

    Rates are floats, ``None`` without drawings."""
    pairs = _pairs(truth, answers)
    return {
        "n": len(pairs),
        "rejected": sum(a is None for _, a in pairs),
        **{f"top{k}": top_k_accuracy(truth, answers, k).value for k in (1, 3, 5)},
        "map3": map_at_3(truth, answers),
        "balanced": {
            **{f"top{k}": balanced_top_k_accuracy(truth, answers, k) for k in (1, 3, 5)},
            "map3": balanced_map_at_3(truth, answers),
        },
    }


def ranked_answers(scores: npt.NDArray[np.floating[Any]], labels: Sequence[str], *, top: int = 5) -> list[list[str]]:
    """Best-first words of each row of class ``scores`` (shape ``(drawings, classes)``): model output -> answers."""
    if scores.ndim != 2 or scores.shape[1] != len(labels):
        raise ValueError(f"scores of shape {scores.shape} do not match {len(labels)} labels")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[labels[i] for i in row] for row in order.tolist()]
