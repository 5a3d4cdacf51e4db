"""What a listing carries of a drawing: thumbnail-grade strokes, bounded in points and bytes.

A gallery page or ``/api/doodles`` listing shows many drawings small; a stored drawing may
hold up to ``max_record_bytes`` of strokes (tens of thousands of points with their times).
:func:`thumbnail_strokes` turns a drawing (Quick Draw raw format) into what a thumbnail
needs.  Promises:

* The result is ``[[x...], [y...]]`` per stroke (no times), integers in ``0..THUMB_SCALE``:
  the drawing scaled uniformly into that box, aspect ratio kept, as Quick Draw's
  "simplified" format is.
* At most ``MAX_THUMB_STROKES`` strokes (the first ones) and ``MAX_THUMB_POINTS`` points
  in all: a stroke with more than its share keeps evenly spaced points, its first and
  last included; every kept stroke keeps at least one point.  So one item's strokes
  encode to at most :data:`MAX_THUMB_BYTES` bytes of JSON, whatever was stored.
* The full drawing is at ``/api/doodles/ID`` (:mod:`server.history.gallery`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_THUMB_BYTES", "MAX_THUMB_POINTS", "MAX_THUMB_STROKES", "THUMB_SCALE", "thumbnail_strokes"]

#: Largest coordinate of a thumbnail stroke, in thumbnail units (the box is 0..THUMB_SCALE square).
THUMB_SCALE = 255
#: Points a listing item carries in all, in points.
MAX_THUMB_POINTS = 512
#: Strokes a listing item carries, in strokes (the first ones).
MAX_THUMB_STROKES = 64
#: Most bytes one item's strokes take as compact JSON, in bytes: each point two numbers of at most
#: three digits and a comma, each stroke its brackets and commas.
MAX_THUMB_BYTES = MAX_THUMB_POINTS * 2 * 4 + MAX_THUMB_STROKES * 8 + 2


def thumbnail_strokes(drawing: list[Any]) -> list[list[list[float]]]:
    """``drawing`` (``[[x...], [y...], [t...]?]`` per stroke) as thumbnail-grade strokes (see module docstring)."""
    strokes = []
    for s in drawing[:MAX_THUMB_STROKES]:
        if len(s) >= 2 and len(s[0]) and len(s[0]) == len(s[1]):
            strokes.append(np.asarray(s[:2], np.float64))
    if not strokes:
        return []
    allxy = np.concatenate(strokes, axis=1)
    lo = allxy.min(axis=1, keepdims=True)
    span = float((allxy.max(axis=1, keepdims=True) - lo).max())
    scale = THUMB_SCALE / span if span > 0 else 0.0
    total = int(allxy.shape[1])
    budget = MAX_THUMB_POINTS - len(strokes)  # beyond the one point each stroke keeps
    out: list[list[list[float]]] = []
    for xy in strokes:
        n = xy.shape[1]
        keep = n if total <= MAX_THUMB_POINTS else 1 + (budget * (n - 1)) // max(total - len(strokes), 1)
        if keep < n:
            xy = xy[:, np.linspace(0, n - 1, keep).round().astype(np.int64)] if keep > 1 else xy[:, :1]
        q = np.clip(np.rint((xy - lo) * scale), 0, THUMB_SCALE).astype(np.int64)
        out.append([q[0].tolist(), q[1].tolist()])
    return out
