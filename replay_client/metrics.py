"""Evaluation metrics of a replay run: pure functions over :class:`DrawingResult` records.

Definitions (every drawing replayed counts; none is skipped):

* A drawing's *final answer* is the top-5 list that answered its last pen-up.  A drawing
  the server *rejected* (any ``error`` reply, a lost connection, a missing reply) has no
  answer: it is a miss in every metric and is listed in the report.
* ``top-k``, ``MAP@3`` and their balanced (mean of per-word figures) variants are
  :mod:`server.quickdraw`'s, computed over the final answers.
* ``after stroke k`` (``after_stroke``): top-1/top-3 of the answer to the k-th pen-up, over
  the drawings with at least k strokes (how early the model gets it).
* ``after stroke k, final if fewer`` (``after_stroke_or_final``): over all drawings; one
  with fewer than k strokes counts with its final answer (what a player sees at stroke k).
* Latency percentiles interpolate linearly between order statistics (numpy's default).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server import quickdraw
from server.quickdraw import Answer, Rate, balanced_map_at_3, balanced_top_k_accuracy, hit

#: Stroke counts reported by the "after stroke k" metrics.
AFTER_STROKES = (1, 2, 3)
#: Latency percentiles reported, in percent.
PERCENTILES = (50, 95, 99)
#: Rejection messages kept in the report, in messages.
MAX_ERRORS_SHOWN = 5


@dataclass
class DrawingResult:
    """What the server answered one replayed drawing."""

    word: str
    strokes: int
    #: The top-5 words answering each pen-up, in order (one list per stroke when all went well).
    guesses: list[list[str]] = field(default_factory=list)
    #: Pen-up sent -> guesses received, per pen-up, in ms.
    latencies_ms: list[float] = field(default_factory=list)
    #: ``"code: message"`` of every error the drawing got (empty when all went well).
    errors: list[str] = field(default_factory=list)
    source: str = ""
    #: Top-5 scores of the final answer (for display).
    scores: list[float] = field(default_factory=list)
    live: int = 0
    #: The target word the server was given (``None``: no target).
    target: str | None = None
    #: The server's ``recognized.ms`` (time from the drawing's first point, in its own ``t``), or ``None``.
    recognized_ms: int | None = None

    @property
    def rejected(self) -> bool:
        """Any error, or fewer answers than strokes."""
        return bool(self.errors) or len(self.guesses) < self.strokes

    @property
    def final(self) -> Answer:
        """The final answer; ``None`` for a rejected drawing."""
        return None if self.rejected or not self.guesses else self.guesses[-1]

    def answer_after(self, k: int) -> Answer:
        """The answer to the k-th pen-up (``None`` when rejected or missing)."""
        if self.rejected or len(self.guesses) < k:
            return None
        return self.guesses[k - 1]


def final_top_k(results: Sequence[DrawingResult], k: int) -> Rate:
    """Final answers with the word in their first ``k``."""
    return quickdraw.top_k_accuracy([r.word for r in results], [r.final for r in results], k)


def final_map_at_3(results: Sequence[DrawingResult]) -> float | None:
    """MAP@3 of the final answers; ``None`` with no drawings."""
    return quickdraw.map_at_3([r.word for r in results], [r.final for r in results])


def balanced(results: Sequence[DrawingResult]) -> dict[str, float | None]:
    """Top-1/3/5 and MAP@3 of the final answers, averaged over words (each word weighs the same)."""
    truth, answers = [r.word for r in results], [r.final for r in results]
    return {
        **{f"top{k}": balanced_top_k_accuracy(truth, answers, k) for k in (1, 3, 5)},
        "map3": balanced_map_at_3(truth, answers),
    }


def after_stroke(results: Sequence[DrawingResult], k: int, top: int) -> Rate:
    """Top-``top`` of the answer to pen-up ``k``, over drawings with at least ``k`` strokes."""
    eligible = [r for r in results if r.strokes >= k]
    return Rate(sum(hit(r.word, r.answer_after(k), top) for r in eligible), len(eligible))


def after_stroke_or_final(results: Sequence[DrawingResult], k: int, top: int) -> Rate:
    """Top-``top`` at pen-up ``k`` over all drawings; shorter drawings count with their final answer."""
    hits = 0
    for r in results:
        answer = r.answer_after(k) if r.strokes >= k else r.final
        hits += hit(r.word, answer, top)
    return Rate(hits, len(results))


#: "Recognized in time" is within this many seconds of the drawing's first point (a Quick, Draw! round).
ROUND_S = 20.0


def recognized(results: Sequence[DrawingResult], round_s: float = ROUND_S) -> dict[str, Any] | None:
    """How often and how soon the target was recognized, over drawings replayed with a target
    (``None`` when none was): ``rate`` (share recognized; a rejected drawing counts as not),
    ``median_s`` (over those recognized), ``within_round`` (share recognized within ``round_s``)."""
    with_target = [r for r in results if r.target is not None]
    if not with_target:
        return None
    seconds = [r.recognized_ms / 1000.0 for r in with_target if r.recognized_ms is not None and not r.rejected]
    n = len(with_target)
    return {
        "n": n,
        "recognized": len(seconds),
        "rate": len(seconds) / n,
        "median_s": float(np.median(seconds)) if seconds else None,
        "p90_s": float(np.percentile(seconds, 90)) if seconds else None,
        "round_s": round_s,
        "within_round": sum(s <= round_s for s in seconds) / n,
    }


def percentiles(values: Iterable[float], qs: Sequence[float] = PERCENTILES) -> dict[str, float | None]:
    """``{"p50": ..., ...}`` with linear interpolation; ``None`` values when there are none."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return {f"p{q:g}": None for q in qs}
    return {f"p{q:g}": float(np.percentile(arr, q)) for q in qs}


def summarize(results: Sequence[DrawingResult], classes: Iterable[str] | None = None) -> dict[str, Any]:
    """The report's metrics (see module docstring); ``classes`` = the model's words, if known."""
    rejected = [r for r in results if r.rejected]
    messages = [f"{r.source or r.word}: {e}" for r in rejected for e in (r.errors or ["fewer answers than strokes"])]
    lat = [ms for r in results for ms in r.latencies_ms]
    out: dict[str, Any] = {
        "drawings": len(results),
        "strokes": sum(r.strokes for r in results),
        "answered": len(results) - len(rejected),
        "rejected": {"count": len(rejected), "first": messages[:MAX_ERRORS_SHOWN]},
        "top1": final_top_k(results, 1).as_dict(),
        "top3": final_top_k(results, 3).as_dict(),
        "top5": final_top_k(results, 5).as_dict(),
        "map3": final_map_at_3(results),
        "balanced": balanced(results),
        "after_stroke": {
            str(k): {"top1": after_stroke(results, k, 1).as_dict(), "top3": after_stroke(results, k, 3).as_dict()}
            for k in AFTER_STROKES
        },
        "after_stroke_or_final": {
            str(k): {
                "top1": after_stroke_or_final(results, k, 1).as_dict(),
                "top3": after_stroke_or_final(results, k, 3).as_dict(),
            }
            for k in AFTER_STROKES
        },
        "latency_ms": {**percentiles(lat), "mean": float(np.mean(lat)) if lat else None, "n": len(lat)},
        "live_guesses": sum(r.live for r in results),
        "recognized": recognized(results),
    }
    if classes is None:
        out["not_in_classes"] = None
    else:
        known = set(classes)
        out["not_in_classes"] = dict(sorted(Counter(r.word for r in results if r.word not in known).items()))
    return out
