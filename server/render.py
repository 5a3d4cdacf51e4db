"""Strokes (or a picture of a canvas) -> model input.

This module owns the one rendering function that training and serving share, so the
model sees at serve time exactly what it saw in training.

Contract
--------
* :func:`normalize` maps strokes in arbitrary client pixels (any origin, any size,
  floats) to the space of Google's *simplified* Quick, Draw! data: aligned to the
  top-left (minimum 0), scaled uniformly so the larger side spans 0..255, resampled at
  1 px spacing, simplified with Ramer-Douglas-Peucker (epsilon 2.0, OpenCV's
  ``approxPolyDP``) and rounded to integers.  Empty strokes and non-finite points are
  dropped.  It never raises on numeric content.
* Its cost is bounded by the number of points, never by the length of the path: a stroke
  whose path is longer than ``MAX_RESAMPLED_POINTS`` units is not resampled but
  simplified directly, in runs of at most ``RDP_RUN_POINTS`` points (runs bound the
  simplifier's quadratic worst case).  Every stroke of the raw validation set but a few
  dozen (of 45,000) takes the resampling path, so ordinary drawings render exactly as
  Google's simplified data was made (``tests/test_render.py`` checks the raw set).
* :func:`render` draws normalized strokes with OpenCV on a ``CANVAS_PX`` square
  (``LINE_PX`` wide lines, stroke *i* drawn at intensity :func:`stroke_intensity`:
  ``FIRST_STROKE_INTENSITY`` less ``FADE_PER_STROKE`` per earlier stroke, never below
  ``MIN_STROKE_INTENSITY``) and reduces it to ``INPUT_PX`` x ``INPUT_PX`` uint8, bright
  strokes on black.  ``render(strokes)`` is what the model is trained on and served.
* :class:`Canvas` holds one drawing and renders it incrementally: a stroke inside the
  current bounding box is drawn onto the kept canvas; one that grows the box
  re-renders everything; dropping strokes (:meth:`Canvas.pop`, :meth:`Canvas.sync`)
  redraws from the normalized strokes it keeps when the box stays, else re-renders.
  Its output always equals :func:`render` of the same strokes (tested property).
* An :class:`Encoding` (recorded in ``model.json`` ``render``, :func:`render_params`) says
  which input channels a model takes and at what size.  :func:`encode` is the one
  function from strokes to model input that training and serving share: channel
  ``order`` is the picture above (the only channel of models up to recipe r2, whose
  ``model.json`` records no ``channels``: they get :data:`PICTURE`, ``(INPUT_PX, INPUT_PX)``
  as before); ``progress`` draws each stroke from ``PROGRESS_START`` at its first point
  to ``PROGRESS_END`` at its last, along its path, so the direction each stroke was drawn
  in is visible.  More than one channel gives ``(px, px, channels)``.  Every channel of
  stroke *i* depends on that stroke and its index alone, so :class:`Canvas` stays
  incremental for every encoding.
* :func:`render_image` is the seed's image path: a PNG/JPEG of a canvas (any background,
  any colours) is grey-scaled, thresholded, inverted when the background is light,
  cropped to its content and reduced to the same input format.  It raises
  :class:`server.errors.BadImage` on undecodable or empty pictures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from server.errors import BadImage, ErrorCode, LimitExceeded
from server.image_header import picture_size
from server.limits import MAX_IMAGE_PIXELS

#: Side of the model input, in pixels.
INPUT_PX = 64
#: Side of the normalized drawing space (Google's simplified format), in units.
SPACE = 255
#: Margin around the drawing space on the drawing canvas, in canvas pixels.
MARGIN_PX = 8
#: Side of the canvas strokes are drawn on before reduction, in pixels.
CANVAS_PX = SPACE + 1 + 2 * MARGIN_PX
#: Line width on the drawing canvas, in canvas pixels (about 1.5 px at 64 px input).
LINE_PX = 6
#: Resampling step of :func:`normalize`, in normalized units.
RESAMPLE_STEP = 1.0
#: Ramer-Douglas-Peucker tolerance of :func:`normalize`, in normalized units.
RDP_EPSILON = 2.0
#: Longest stroke path that is resampled before simplifying, in normalized units (= points
#: made by resampling). Longer strokes are simplified from their own points.
MAX_RESAMPLED_POINTS = 8_192
#: Points simplified in one run when a stroke is not resampled, in points.
RDP_RUN_POINTS = 512
#: Grey level (0..255) of the first stroke.
FIRST_STROKE_INTENSITY = 255
#: How much darker each later stroke is drawn than the one before, in grey levels.
FADE_PER_STROKE = 12
#: The faintest a stroke is drawn, in grey levels.
MIN_STROKE_INTENSITY = 80
#: Grey level (0..255) of a stroke's first point in the ``progress`` channel.
PROGRESS_START = 255
#: Grey level (0..255) of a stroke's last point in the ``progress`` channel.
PROGRESS_END = 64
#: Longest piece of a stroke drawn in one grey level in the ``progress`` channel, in normalized units.
PROGRESS_PIECE = 32
#: The input channels a model can take, by name (:class:`Encoding`).
CHANNELS = ("order", "progress")
#: Most input channels of one model (OpenCV's area reduction handles up to 4).
MAX_CHANNELS = 4
#: Smallest and largest model input side, in pixels.
MIN_INPUT_PX, MAX_INPUT_PX = 16, 256
#: Largest coordinate magnitude :func:`as_points` keeps, in client pixels.
MAX_COORD = 1e12
#: A drawing whose extent is below this share of its coordinates' magnitude is a dot.
DEGENERATE_EXTENT = 1e-9

Points = npt.NDArray[np.float64]
"""One stroke as an ``(N, 2)`` float array of x, y."""
IntStroke = npt.NDArray[np.int32]
"""One normalized stroke as an ``(N, 2)`` int32 array in 0..SPACE."""
Image = npt.NDArray[np.uint8]


def stroke_intensity(index: int) -> int:
    """Grey level (0..255) that stroke number ``index`` (0-based) is drawn with."""
    return max(FIRST_STROKE_INTENSITY - FADE_PER_STROKE * index, MIN_STROKE_INTENSITY)


@dataclass(frozen=True, slots=True)
class Encoding:
    """What a model takes as input: ``channels`` (names from :data:`CHANNELS`, in order) at
    ``input_px`` x ``input_px``.  Raises ``ValueError`` for anything else."""

    channels: tuple[str, ...] = ("order",)
    input_px: int = INPUT_PX

    def __post_init__(self) -> None:
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or not self.channels or len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channels must be distinct names among {CHANNELS}, got {list(self.channels)}")
        if len(self.channels) > MAX_CHANNELS:
            raise ValueError(f"at most {MAX_CHANNELS} channels, got {len(self.channels)}")
        if not MIN_INPUT_PX <= self.input_px <= MAX_INPUT_PX:
            raise ValueError(f"input_px must be in {MIN_INPUT_PX}..{MAX_INPUT_PX}, got {self.input_px}")

    @property
    def depth(self) -> int:
        """Channels of the model input."""
        return len(self.channels)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one :func:`encode` output: ``(px, px)`` for one channel, else ``(px, px, depth)``."""
        px = self.input_px
        return (px, px) if self.depth == 1 else (px, px, self.depth)

    @classmethod
    def of(cls, recorded: Mapping[str, Any]) -> Encoding:
        """The encoding a model's ``render`` parameters record (none recorded: one ``order`` channel)."""
        channels = recorded.get("channels", ["order"])
        px = recorded.get("input_px", INPUT_PX)
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels) or type(px) is not int:
            raise ValueError(
                f"render.channels must be a list of names and input_px an integer, got {channels!r}, {px!r}"
            )
        return cls(tuple(channels), px)


#: The input of every model up to recipe r2: one ``order`` channel at ``INPUT_PX``.
PICTURE = Encoding()


def render_params(encoding: Encoding = PICTURE) -> dict[str, Any]:
    """The parameters that decide what the model sees; a model records them (``model.json``
    ``render``) and :mod:`server.infer` refuses a model trained with others.  For
    :data:`PICTURE` they are exactly what models up to r2 recorded (no ``channels``)."""
    params: dict[str, Any] = {
        "input_px": encoding.input_px,
        "space": SPACE,
        "canvas_px": CANVAS_PX,
        "margin_px": MARGIN_PX,
        "line_px": LINE_PX,
        "resample_step": RESAMPLE_STEP,
        "rdp_epsilon": RDP_EPSILON,
        "max_resampled_points": MAX_RESAMPLED_POINTS,
        "rdp_run_points": RDP_RUN_POINTS,
        "first_stroke_intensity": FIRST_STROKE_INTENSITY,
        "fade_per_stroke": FADE_PER_STROKE,
        "min_stroke_intensity": MIN_STROKE_INTENSITY,
    }
    if encoding.channels != PICTURE.channels:
        params["channels"] = list(encoding.channels)
    if "progress" in encoding.channels:
        params.update(progress_start=PROGRESS_START, progress_end=PROGRESS_END, progress_piece=PROGRESS_PIECE)
    return params


def as_points(xs: Sequence[float] | npt.ArrayLike, ys: Sequence[float] | npt.ArrayLike) -> Points:
    """Pair x and y sequences into an ``(N, 2)`` float array.

    Points that are not finite or lie beyond ``MAX_COORD`` are dropped (the protocol
    rejects them earlier; this keeps rendering total for any numbers)."""
    x = np.asarray(xs, dtype=np.float64).reshape(-1)
    y = np.asarray(ys, dtype=np.float64).reshape(-1)
    n = min(len(x), len(y))
    pts = np.stack([x[:n], y[:n]], axis=1)
    if n:
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(pts).all(axis=1) & (np.abs(pts) <= MAX_COORD).all(axis=1)
        if not ok.all():
            pts = pts[ok]
    return pts


class Placement:
    """Where one drawing lies: the affine map from its client pixels to normalized space."""

    __slots__ = ("extent", "max_x", "max_y", "min_x", "min_y")

    def __init__(self, min_x: float, min_y: float, max_x: float, max_y: float) -> None:
        self.min_x, self.min_y, self.max_x, self.max_y = min_x, min_y, max_x, max_y
        extent = max(max_x - min_x, max_y - min_y)
        magnitude = max(1.0, abs(min_x), abs(min_y), abs(max_x), abs(max_y))
        self.extent = extent if extent > DEGENERATE_EXTENT * magnitude else 0.0

    @classmethod
    def of(cls, strokes: Iterable[Points]) -> Placement | None:
        """The placement of the non-empty strokes, or ``None`` when there are none."""
        lo = np.array([np.inf, np.inf])
        hi = np.array([-np.inf, -np.inf])
        for s in strokes:
            if len(s):
                lo = np.minimum(lo, s.min(axis=0))
                hi = np.maximum(hi, s.max(axis=0))
        if not np.isfinite(lo).all():
            return None
        return cls(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def same(self, other: Placement) -> bool:
        """Whether ``other`` maps client pixels exactly as this one does."""
        return (self.min_x, self.min_y, self.max_x, self.max_y) == (other.min_x, other.min_y, other.max_x, other.max_y)

    def contains(self, pts: Points) -> bool:
        """Whether adding ``pts`` would leave this placement unchanged."""
        if not len(pts):
            return True
        lo = pts.min(axis=0)
        hi = pts.max(axis=0)
        return bool(lo[0] >= self.min_x and lo[1] >= self.min_y and hi[0] <= self.max_x and hi[1] <= self.max_y)

    def apply(self, pts: Points) -> Points:
        """Map client pixels into 0..SPACE (a degenerate drawing maps to the origin)."""
        scale = SPACE / self.extent if self.extent > 0 else 0.0
        out = np.empty_like(pts)
        out[:, 0] = (pts[:, 0] - self.min_x) * scale
        out[:, 1] = (pts[:, 1] - self.min_y) * scale
        # Guard against float drift pushing a point a hair outside the space.
        np.clip(out, 0.0, SPACE, out=out)
        return out


def _resample(pts: Points, step: float = RESAMPLE_STEP) -> Points:
    """Points along the polyline every ``step`` units, keeping both ends."""
    if len(pts) < 2:
        return pts
    seg = np.hypot(*np.diff(pts, axis=0).T)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    total = dist[-1]
    if total <= step:
        return pts[[0, -1]]
    at = np.append(np.arange(0.0, total, step), total)
    return np.stack([np.interp(at, dist, pts[:, 0]), np.interp(at, dist, pts[:, 1])], axis=1)


def _rdp(pts: Points) -> Points:
    """Ramer-Douglas-Peucker with ``RDP_EPSILON`` (OpenCV), open curve."""
    curve = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), RDP_EPSILON, False)
    return np.asarray(curve.reshape(-1, 2), dtype=np.float64)


def _rdp_in_runs(pts: Points) -> Points:
    """RDP over runs of at most ``RDP_RUN_POINTS`` points (run ends are kept): linear in
    the point count, where one run over everything can be quadratic."""
    if len(pts) <= RDP_RUN_POINTS:
        return _rdp(pts)
    step = RDP_RUN_POINTS - 1
    parts = [_rdp(pts[start : start + RDP_RUN_POINTS]) for start in range(0, len(pts) - 1, step)]
    return np.concatenate([parts[0], *(p[1:] for p in parts[1:])])


def _simplify(pts: Points) -> IntStroke:
    """Resample, RDP-simplify and round one stroke already in normalized space.

    Work is bounded by the point count: a path longer than ``MAX_RESAMPLED_POINTS`` units
    is simplified from its own points (in runs) instead of from a resampling."""
    if len(pts) >= 3:
        length = float(np.hypot(*np.diff(pts, axis=0).T).sum())
        pts = _rdp(_resample(pts)) if length <= MAX_RESAMPLED_POINTS * RESAMPLE_STEP else _rdp_in_runs(pts)
    return np.rint(pts).astype(np.int32)


def normalize_stroke(pts: Points, placement: Placement) -> IntStroke:
    """One stroke in client pixels -> normalized, simplified integer points."""
    return _simplify(placement.apply(pts))


def normalize(strokes: Iterable[Points]) -> list[IntStroke]:
    """Strokes in client pixels -> Google's simplified space (see module docstring)."""
    kept = [s for s in strokes if len(s)]
    placement = Placement.of(kept)
    if placement is None:
        return []
    return [normalize_stroke(s, placement) for s in kept]


def draw_stroke(canvas: Image, stroke: IntStroke, index: int) -> None:
    """Draw one normalized stroke onto a ``CANVAS_PX`` canvas, in place."""
    pts = stroke + MARGIN_PX
    colour = stroke_intensity(index)
    if len(pts) == 1:
        p = (int(pts[0, 0]), int(pts[0, 1]))
        cv2.line(canvas, p, p, colour, LINE_PX, cv2.LINE_8)
    else:
        cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, colour, LINE_PX, cv2.LINE_8)


def draw_progress(canvas: Image, stroke: IntStroke) -> None:
    """Draw one normalized stroke onto a ``progress`` channel canvas, in place: pieces of at
    most ``PROGRESS_PIECE`` units, each in the grey level of its middle's share of the
    stroke's path (``PROGRESS_START`` at the first point, ``PROGRESS_END`` at the last)."""
    pts = stroke.astype(np.float64) + MARGIN_PX
    if len(pts) == 1:
        p = (int(pts[0, 0]), int(pts[0, 1]))
        cv2.line(canvas, p, p, PROGRESS_START, LINE_PX, cv2.LINE_8)
        return
    seg = np.hypot(*np.diff(pts, axis=0).T)
    pieces = np.maximum(1, np.ceil(seg / PROGRESS_PIECE)).astype(np.int64)
    # Every piece's start and end as a share of its segment, then in the whole path.
    which = np.repeat(np.arange(len(seg)), pieces)
    k = np.arange(len(which)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    a = k / pieces[which]
    b = (k + 1) / pieces[which]
    start = np.rint(pts[which] + (pts[which + 1] - pts[which]) * a[:, None]).astype(np.int64)
    end = np.rint(pts[which] + (pts[which + 1] - pts[which]) * b[:, None]).astype(np.int64)
    before = np.concatenate([[0.0], np.cumsum(seg)])[which]
    total = float(seg.sum())
    share = (before + seg[which] * (a + b) / 2) / total if total > 0 else np.zeros(len(which))
    grey = np.rint(PROGRESS_START + (PROGRESS_END - PROGRESS_START) * share).astype(np.int64)
    for (x0, y0), (x1, y1), g in zip(start.tolist(), end.tolist(), grey.tolist(), strict=True):
        cv2.line(canvas, (x0, y0), (x1, y1), g, LINE_PX, cv2.LINE_8)


def draw_channels(canvases: Sequence[Image], stroke: IntStroke, index: int, encoding: Encoding) -> None:
    """Draw normalized stroke number ``index`` onto one canvas per channel of ``encoding``."""
    for canvas, channel in zip(canvases, encoding.channels, strict=True):
        if channel == "order":
            draw_stroke(canvas, stroke, index)
        else:
            draw_progress(canvas, stroke)


def blank_canvas() -> Image:
    """An empty drawing canvas."""
    return np.zeros((CANVAS_PX, CANVAS_PX), dtype=np.uint8)


def blank_canvases(encoding: Encoding = PICTURE) -> list[Image]:
    """One empty drawing canvas per channel of ``encoding``."""
    return [blank_canvas() for _ in encoding.channels]


def reduce(canvas: Image, size: int = INPUT_PX) -> Image:
    """Drawing canvas (``(H, W)`` or ``(H, W, C)``) -> ``size`` x ``size`` model input (area averaging)."""
    return np.asarray(cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def reduce_channels(canvases: Sequence[Image], encoding: Encoding = PICTURE) -> Image:
    """One drawing canvas per channel -> the model input of ``encoding`` (:attr:`Encoding.shape`)."""
    stacked = canvases[0] if len(canvases) == 1 else np.dstack(canvases)
    return reduce(stacked, encoding.input_px)


def encode_normalized(strokes: Sequence[IntStroke], encoding: Encoding = PICTURE) -> Image:
    """Already-normalized strokes (e.g. simplified data) -> the model input of ``encoding``."""
    canvases = blank_canvases(encoding)
    for i, s in enumerate(strokes):
        draw_channels(canvases, s, i, encoding)
    return reduce_channels(canvases, encoding)


def encode(strokes: Iterable[Points], encoding: Encoding = PICTURE) -> Image:
    """Strokes in client pixels -> the uint8 model input of ``encoding`` (:attr:`Encoding.shape`):
    the one function training and serving share (see module docstring)."""
    return encode_normalized(normalize(strokes), encoding)


def draw_normalized(strokes: Sequence[IntStroke], size: int = INPUT_PX) -> Image:
    """Draw already-normalized strokes (e.g. simplified data) and reduce them: the ``order`` channel alone."""
    return encode_normalized(strokes, PICTURE if size == INPUT_PX else Encoding(input_px=size))


def render(strokes: Iterable[Points], size: int = INPUT_PX) -> Image:
    """Strokes in client pixels -> ``size`` x ``size`` uint8 picture: :func:`encode` with the
    ``order`` channel alone."""
    return draw_normalized(normalize(strokes), size)


def from_picture(picture: Image, encoding: Encoding = PICTURE) -> Image:
    """A picture with no drawing order (:func:`render_image`) as the input of ``encoding``:
    the ``order`` channel is the picture, the ``progress`` channel the picture at the middle
    grey of a stroke's path (its direction is unknown)."""
    if encoding.depth == 1 and encoding.channels == PICTURE.channels:
        return picture
    mid = (PROGRESS_START + PROGRESS_END) / 2 / 255
    layers = [picture if c == "order" else np.rint(picture * mid).astype(np.uint8) for c in encoding.channels]
    return layers[0] if len(layers) == 1 else np.dstack(layers)


class Canvas:
    """One drawing's strokes and its incrementally kept drawing canvases (one per channel
    of its :class:`Encoding`).

    Besides the canvases it keeps each stroke normalized under the current placement (as
    ``uint8``, 2 bytes a point), so dropping strokes that leave the placement unchanged
    (undo of a stroke inside the box) redraws from that cache instead of normalizing
    again.  The strokes are held by reference, never copied.  Not thread-safe: one
    caller at a time (the server runs one session's renders in order, off the event
    loop: :mod:`server.render_pool`).
    """

    def __init__(self, encoding: Encoding = PICTURE) -> None:
        self.encoding = encoding
        self.strokes: list[Points] = []
        self._normalized: list[npt.NDArray[np.uint8]] = []
        self._placement: Placement | None = None
        self._canvas: list[Image] | None = None  # allocated with the first stroke: idle sessions stay small
        self.full_renders = 0
        """How many times the whole drawing was normalized again (for tests and stats)."""
        self.redraws = 0
        """How many times the canvas was redrawn from the normalized strokes it keeps."""

    def __len__(self) -> int:
        return len(self.strokes)

    def _rerender(self) -> None:
        self.full_renders += 1
        self._placement = Placement.of(self.strokes)
        self._normalized = []
        if self._placement is None:
            self._canvas = None
            return
        self._canvas = blank_canvases(self.encoding)
        for i, s in enumerate(self.strokes):
            norm = normalize_stroke(s, self._placement)
            self._normalized.append(norm.astype(np.uint8))
            draw_channels(self._canvas, norm, i, self.encoding)

    def _redraw(self) -> None:
        self.redraws += 1
        self._canvas = blank_canvases(self.encoding)
        for i, norm in enumerate(self._normalized):
            draw_channels(self._canvas, norm.astype(np.int32), i, self.encoding)

    def push(self, pts: Points) -> None:
        """Append a finished stroke (empty strokes are ignored)."""
        if not len(pts):
            return
        self.strokes.append(pts)
        if self._canvas is not None and self._placement is not None and self._placement.contains(pts):
            norm = normalize_stroke(pts, self._placement)
            self._normalized.append(norm.astype(np.uint8))
            draw_channels(self._canvas, norm, len(self.strokes) - 1, self.encoding)
        else:
            self._rerender()

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` strokes: redrawn from the cache when the placement stays, else re-rendered."""
        if n >= len(self.strokes):
            return
        del self.strokes[n:]
        del self._normalized[n:]
        placement = Placement.of(self.strokes)
        if placement is not None and self._placement is not None and placement.same(self._placement):
            self._redraw()
        else:
            self._rerender()

    def pop(self) -> Points | None:
        """Drop the last stroke; ``None`` when the drawing is empty."""
        if not self.strokes:
            return None
        last = self.strokes[-1]
        self.truncate(len(self.strokes) - 1)
        return last

    def _common(self, strokes: Sequence[Points]) -> int:
        common = 0
        for mine, theirs in zip(self.strokes, strokes, strict=False):
            if mine is not theirs:
                break
            common += 1
        return common

    def work(self, strokes: Sequence[Points], pending: Points | None = None) -> int:
        """An upper bound of the points :meth:`sync` to ``strokes`` and :meth:`image` with
        ``pending`` would normalize or draw: the new strokes and the pending one when they
        fall inside the placement, else every point."""
        every = sum(len(s) for s in strokes) + (len(pending) if pending is not None else 0)
        common = self._common(strokes)
        if common < len(self.strokes) or self._placement is None:
            return every
        fresh = [*strokes[common:], *([pending] if pending is not None else [])]
        if not all(self._placement.contains(s) for s in fresh):
            return every
        return sum(len(s) for s in fresh)

    def sync(self, strokes: Sequence[Points]) -> None:
        """Hold exactly ``strokes`` (matched by identity): drop what differs, then push the rest."""
        common = self._common(strokes)
        self.truncate(common)
        for s in strokes[common:]:
            self.push(s)

    def clear(self) -> None:
        """Forget every stroke."""
        self.strokes.clear()
        self._rerender()

    def image(self, size: int | None = None, pending: Points | None = None) -> Image:
        """Model input for the drawing, plus an unfinished ``pending`` stroke if given
        (:func:`encode` of the same strokes); ``size`` overrides the encoding's input side."""
        enc = self.encoding if size is None else Encoding(self.encoding.channels, size)
        if self._canvas is None:
            return encode([] if pending is None else [pending], enc)
        if pending is None or not len(pending):
            return reduce_channels(self._canvas, enc)
        if self._placement is not None and self._placement.contains(pending):
            canvases = [c.copy() for c in self._canvas]
            draw_channels(canvases, normalize_stroke(pending, self._placement), len(self.strokes), enc)
            return reduce_channels(canvases, enc)
        return encode([*self.strokes, pending], enc)


def render_image(data: bytes, encoding: Encoding = PICTURE, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image:
    """A PNG/JPEG picture of a canvas -> the model input of ``encoding`` (:func:`from_picture`).

    A picture of more than ``max_pixels`` pixels raises :class:`LimitExceeded` (code
    ``image_too_many_pixels``), judged on its header (:mod:`server.image_header`) before
    anything is decoded; anything but PNG or JPEG raises :class:`BadImage`.

    Grey-scale, Otsu threshold, invert when the background (the border) is light,
    crop to the ink, pad to a square with the same margin as :func:`render` and reduce.
    """
    _, width, height = picture_size(data)
    if width * height > max_pixels:
        too_many = ErrorCode.IMAGE_TOO_MANY_PIXELS
        raise LimitExceeded(f"image is {width} x {height} pixels, more than {max_pixels}", code=too_many)
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise BadImage("image could not be decoded as PNG or JPEG")
    try:
        return from_picture(_picture_to_input(img, encoding.input_px, max_pixels=max_pixels), encoding)
    except cv2.error as e:  # a decodable but degenerate picture (found by fuzzing a corrupted JPEG)
        raise BadImage(f"image could not be processed: {str(e).strip().splitlines()[-1][:120]}") from None


def _picture_to_input(img: npt.NDArray[Any], size: int, *, max_pixels: int) -> Image:
    """The decoded picture of :func:`render_image` -> model input."""
    if img.shape[0] * img.shape[1] > max_pixels:  # a header that lied
        raise LimitExceeded(f"image has more than {max_pixels} pixels", code=ErrorCode.IMAGE_TOO_MANY_PIXELS)
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = np.ascontiguousarray(img[:, :, 3])
        if float(alpha.mean()) < 127.5:
            # A mostly transparent picture: whatever is opaque is the ink.
            img = alpha
        else:
            # Transparent specks on an opaque picture: composite onto white (integer maths:
            # a float copy of a 4-megapixel picture would be 48 MB).
            grey16 = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY).astype(np.uint16)
            a = alpha.astype(np.uint16)
            img = ((grey16 * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if float(np.median(border)) > 127:
        grey = 255 - grey
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if float(grey.max()) - float(grey.min()) < 16:
        raise BadImage("image has no drawing on it (a single flat colour)")
    ys, xs = np.nonzero(ink)
    if not len(xs):
        raise BadImage("image has no drawing on it")
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    side = max(h, w)
    scale = (SPACE + 1) / side
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    inner = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    _, inner = cv2.threshold(inner, 127, 255, cv2.THRESH_BINARY)
    inner = _match_line_width(np.asarray(inner, dtype=np.uint8))
    canvas = blank_canvas()
    canvas[MARGIN_PX : MARGIN_PX + nh, MARGIN_PX : MARGIN_PX + nw] = inner
    return reduce(canvas, size)


def _match_line_width(ink: Image) -> Image:
    """Erode or dilate binary ink so its line width approaches ``LINE_PX``."""
    dist = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    inside = dist[dist > 0]
    if not len(inside):
        return ink
    half_width = float(np.percentile(inside, 90))
    steps = round(half_width - LINE_PX / 2)
    kernel = np.ones((3, 3), np.uint8)
    if steps > 0:
        thinned = np.asarray(cv2.erode(ink, kernel, iterations=steps), dtype=np.uint8)
        return thinned if thinned.any() else ink
    if steps < 0:
        return np.asarray(cv2.dilate(ink, kernel, iterations=-steps), dtype=np.uint8)
    return ink
