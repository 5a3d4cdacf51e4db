"""Real Quick, Draw! drawings with their timing, cut into the messages a client sends.

:func:`load` reads a fixed sample of ``../shared/quickdraw/raw`` (the first
``per_word`` drawings of every word, words sorted), so every run replays the same
drawings.  Each stroke is cut into :class:`Chunk` s, one per ``FRAME_MS`` of drawing
time, as a browser sends the pointer moves of one animation frame.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAW = Path(os.environ.get("DOODLE_SHARED", ROOT.parent / "shared")) / "quickdraw" / "raw"
#: Drawing time one points message covers (one animation frame at 60 Hz), in ms.
FRAME_MS = 16


@dataclass(frozen=True, slots=True)
class Chunk:
    """The points of one animation frame; ``at_ms`` is when the last of them was drawn."""

    at_ms: int
    x: list[int]
    y: list[int]
    t: list[int]


@dataclass(frozen=True, slots=True)
class Drawing:
    """One raw drawing: its word, strokes (``[x, y, t]`` lists) and their chunks."""

    word: str
    strokes: list[list[list[int]]]
    chunks: list[list[Chunk]]

    @property
    def duration_ms(self) -> int:
        return self.chunks[-1][-1].at_ms if self.chunks else 0


def chunk_stroke(xs: list[int], ys: list[int], ts: list[int], frame_ms: int = FRAME_MS) -> list[Chunk]:
    """Cut one stroke into chunks of points drawn within the same ``frame_ms`` window."""
    out: list[Chunk] = []
    cur: tuple[list[int], list[int], list[int]] = ([], [], [])
    frame = None
    for x, y, t in zip(xs, ys, ts, strict=True):
        f = t // frame_ms
        if frame is not None and f != frame and cur[0]:
            out.append(Chunk(cur[2][-1], *cur))
            cur = ([], [], [])
        frame = f
        cur[0].append(x)
        cur[1].append(y)
        cur[2].append(t)
    if cur[0]:
        out.append(Chunk(cur[2][-1], *cur))
    return out


def parse(line: str) -> Drawing | None:
    """One ndjson line -> :class:`Drawing` (``None`` for one without usable strokes)."""
    d = json.loads(line)
    strokes = [[[round(v) for v in s[0]], [round(v) for v in s[1]], [int(v) for v in s[2]]] for s in d["drawing"]]
    strokes = [s for s in strokes if s[0] and len(s[0]) == len(s[1]) == len(s[2])]
    if not strokes:
        return None
    return Drawing(d["word"], strokes, [chunk_stroke(s[0], s[1], s[2]) for s in strokes])


def load(per_word: int = 1, raw: Path = RAW, words: int | None = None) -> list[Drawing]:
    """The first ``per_word`` drawings of each word (of the first ``words`` words), in a fixed order.

    The order interleaves words (all words' first drawing, then their second, ...)."""
    paths = sorted(raw.glob("*.ndjson"))[:words]
    if not paths:
        raise FileNotFoundError(f"no raw drawings in {raw} (set DOODLE_SHARED)")
    by_word: list[list[Drawing]] = []
    for path in paths:
        got: list[Drawing] = []
        with path.open() as fh:
            for line in fh:
                d = parse(line)
                if d is not None:
                    got.append(d)
                if len(got) >= per_word:
                    break
        by_word.append(got)
    return [w[i] for i in range(per_word) for w in by_word if i < len(w)]
