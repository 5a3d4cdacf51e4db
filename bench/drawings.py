"""Real Quick, Draw! drawings with their timing, cut into the messages a client sends.

:func:`load` reads a fixed sample of the raw set (:func:`server.quickdraw.raw_dir`: the
first ``per_word`` drawings of the first ``words`` words, words interleaved), so every
run replays the same drawings.  Each stroke is cut into :class:`Chunk` s, one per
``FRAME_MS`` of drawing time, as a browser sends the pointer moves of one animation
frame; coordinates are rounded to whole client pixels, as a browser reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server import quickdraw
from server.quickdraw import Drawing

ROOT = Path(__file__).resolve().parent.parent
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
class Script:
    """One raw drawing and, per stroke, the chunks a client sends for it."""

    drawing: Drawing
    chunks: list[list[Chunk]]

    @property
    def word(self) -> str:
        return self.drawing.word

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


def script(d: Drawing) -> Script:
    """A timed drawing cut into chunks (``ValueError`` for one without times)."""
    if not d.timed:
        raise ValueError(f"{d.source or d.word}: the benchmark replays raw drawings, with times")
    chunks = [chunk_stroke([round(v) for v in s.x], [round(v) for v in s.y], list(s.t or ())) for s in d.strokes]
    return Script(d, chunks)


def load(per_word: int = 1, raw: Path | None = None, words: int | None = None) -> list[Script]:
    """The first ``per_word`` drawings of each word (of the first ``words`` words), in a fixed order.

    The order interleaves words (all words' first drawing, then their second, ...)."""
    drawings = quickdraw.sample(raw or quickdraw.raw_dir(), per_word=per_word, max_words=words)
    if not drawings:
        raise FileNotFoundError(f"no raw drawings in {raw or quickdraw.raw_dir()} (set DOODLE_SHARED)")
    return [script(d) for d in drawings]
