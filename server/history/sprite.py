"""Drawings -> PNG pictures: transparent sprites for games, thumbnails for the gallery.

:func:`sprite_png` draws a drawing's strokes (Quick Draw raw format, client pixels)
with anti-aliased OpenCV lines (``cv2.LINE_AA``) on an RGBA canvas: every pixel has the
ink colour, and its alpha is the line's coverage, so the picture blends cleanly on any
background and loads as is with Unity's ``Texture2D.LoadImage``.  The picture is
cropped tightly to the ink: its longer side is exactly ``size`` pixels (where the
anti-aliased fringe ends a pixel short, a transparent pixel pads it) and the shorter one
is what the drawing's aspect ratio gives, at least 1 px.  A drawing with no extent (all
points equal) becomes a dot in the middle.

:func:`thumbnail_png` is the same drawing, centred on an opaque white square.

:func:`parse_sprite_options` validates options against :mod:`server.limits` and raises
:class:`server.history.errors.BadSprite` (code ``bad_sprite``) with a clear message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from server.history.errors import BadSprite
from server.limits import MAX_SPRITE_PX, MAX_SPRITE_WIDTH_PX, MIN_SPRITE_PX

#: Sprite side when none is asked for, in pixels.
DEFAULT_SPRITE_PX = 256
#: Stroke width when none is asked for, in sprite pixels.
DEFAULT_WIDTH_PX = 6.0
#: Ink colour when none is asked for.
DEFAULT_COLOR = "#000000"
#: Smallest stroke width, in sprite pixels.
MIN_WIDTH_PX = 1.0
#: Fixed-point fraction bits of the coordinates handed to OpenCV (sub-pixel placement).
SHIFT = 4

_COLOR = re.compile(r"#?([0-9a-fA-F]{6})")


@dataclass(frozen=True, slots=True)
class SpriteOptions:
    """How to draw a sprite: longer side, ink colour (``#rrggbb``) and line width (px)."""

    size: int = DEFAULT_SPRITE_PX
    color: str = DEFAULT_COLOR
    width: float = DEFAULT_WIDTH_PX

    @property
    def bgr(self) -> tuple[int, int, int]:
        v = int(self.color[1:], 16)
        return (v & 0xFF, (v >> 8) & 0xFF, v >> 16)


def parse_sprite_options(size: Any = None, color: Any = None, width: Any = None) -> SpriteOptions:
    """Check each option given (``None`` = default); :class:`BadSprite` on a bad one."""
    if size is None:
        size = DEFAULT_SPRITE_PX
    elif isinstance(size, bool) or not isinstance(size, int) or not MIN_SPRITE_PX <= size <= MAX_SPRITE_PX:
        raise BadSprite(f"'size' must be an integer from {MIN_SPRITE_PX} to {MAX_SPRITE_PX} (pixels)")
    if color is None:
        color = DEFAULT_COLOR
    else:
        m = _COLOR.fullmatch(color) if isinstance(color, str) else None
        if m is None:
            raise BadSprite("'color' must be a colour written #rrggbb (hex)")
        color = "#" + m.group(1).lower()
    if width is None:
        width = DEFAULT_WIDTH_PX
    elif (
        isinstance(width, bool)
        or not isinstance(width, (int, float))
        or not math.isfinite(width)
        or not MIN_WIDTH_PX <= width <= MAX_SPRITE_WIDTH_PX
    ):
        raise BadSprite(f"'width' must be a number from {MIN_WIDTH_PX:g} to {MAX_SPRITE_WIDTH_PX} (pixels)")
    return SpriteOptions(size, color, float(width))


def _coverage(drawing: Sequence[Sequence[Sequence[float]]], size: int, width: float) -> np.ndarray:
    """Anti-aliased coverage (uint8) of the strokes, fitted into ``size`` px, cropped."""
    strokes = [np.asarray([s[0], s[1]], dtype=np.float64).T for s in drawing if len(s) >= 2 and len(s[0])]
    strokes = [s for s in strokes if len(s) and np.isfinite(s).all()]
    thick = max(1, round(width))
    pad = thick / 2 + 1.0
    if not strokes:
        return np.zeros((1, 1), np.uint8)
    allp = np.concatenate(strokes)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    extent = float((hi - lo).max())
    inner = max(size - 2 * pad, 1.0)
    scale = inner / extent if extent > 0 else 0.0
    w = math.ceil((hi[0] - lo[0]) * scale + 2 * pad) if extent > 0 else size
    h = math.ceil((hi[1] - lo[1]) * scale + 2 * pad) if extent > 0 else size
    w, h = min(max(w, 1), size), min(max(h, 1), size)
    mask = np.zeros((h, w), np.uint8)
    centre = np.array([w / 2, h / 2]) if extent == 0 else None
    one = 1 << SHIFT
    for s in strokes:
        pts = (s - lo) * scale + pad if centre is None else np.broadcast_to(centre, s.shape)
        fixed = np.rint(pts * one).astype(np.int32)
        if len(fixed) == 1 or (fixed == fixed[0]).all():
            p = (int(fixed[0, 0]), int(fixed[0, 1]))
            cv2.circle(mask, p, max(1, round(thick / 2)) * one, 255, -1, cv2.LINE_AA, SHIFT)
        else:
            cv2.polylines(mask, [fixed.reshape(-1, 1, 2)], False, 255, thick, cv2.LINE_AA, SHIFT)
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return np.zeros((1, 1), np.uint8)
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if extent > 0:
        # The anti-aliased fringe may end a pixel short of the padding: pad the longer side back to ``size``.
        h, w = crop.shape
        long_axis = 1 if w >= h else 0
        missing = size - crop.shape[long_axis]
        if missing > 0:
            before = missing // 2
            widths = ((0, 0), (before, missing - before)) if long_axis else ((before, missing - before), (0, 0))
            crop = np.pad(crop, widths)
    return np.ascontiguousarray(crop)


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("PNG encoding failed")
    return bytes(buf.tobytes())


def sprite_rgba(drawing: Sequence[Sequence[Sequence[float]]], options: SpriteOptions) -> np.ndarray:
    """The sprite as an ``(H, W, 4)`` BGRA uint8 array (alpha = coverage)."""
    alpha = _coverage(drawing, options.size, options.width)
    out = np.empty((*alpha.shape, 4), np.uint8)
    out[:, :, :3] = options.bgr
    out[:, :, 3] = alpha
    return out


def sprite_png(drawing: Sequence[Sequence[Sequence[float]]], options: SpriteOptions) -> bytes:
    """The sprite as PNG bytes (see module docstring)."""
    return _png(sprite_rgba(drawing, options))


def thumbnail_png(drawing: Sequence[Sequence[Sequence[float]]], size: int, width: float = 3.0) -> bytes:
    """The drawing in dark ink, centred on an opaque white ``size`` px square (PNG)."""
    margin = max(2, size // 16)
    alpha = _coverage(drawing, size - 2 * margin, width).astype(np.float32) / 255.0
    canvas = np.full((size, size, 3), 255.0, np.float32)
    h, w = alpha.shape
    y0, x0 = (size - h) // 2, (size - w) // 2
    ink = np.array([40.0, 30.0, 20.0], np.float32)
    region = canvas[y0 : y0 + h, x0 : x0 + w]
    region[:] = region * (1.0 - alpha[:, :, None]) + ink * alpha[:, :, None]
    return _png(np.rint(canvas).astype(np.uint8))
