"""server/render.py: normalization, drawing, incremental canvas parity and the image path."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server import quickdraw
from server import render as render_module
from server.errors import BadImage, ClientFault, LimitExceeded
from server.render import (
    CANVAS_PX,
    INPUT_PX,
    SPACE,
    Canvas,
    as_points,
    normalize,
    render,
    render_image,
)
from tests.conftest import RAW, SIMPLIFIED, raw_sample

coord = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def strokes_st(draw: st.DrawFn, values: st.SearchStrategy[float] = coord) -> list[np.ndarray]:
    n = draw(st.integers(0, 8))
    out = []
    for _ in range(n):
        k = draw(st.integers(0, 30))
        xs = draw(st.lists(values, min_size=k, max_size=k))
        ys = draw(st.lists(values, min_size=k, max_size=k))
        out.append(as_points(xs, ys))
    return out


@settings(max_examples=300, deadline=None)
@given(strokes_st(any_float))
def test_render_never_fails_and_is_64px_uint8(strokes: list[np.ndarray]) -> None:
    """Any numbers (NaN, inf, huge, negative, empty strokes) render to a 64x64 uint8 image."""
    img = render(strokes)
    assert img.shape == (INPUT_PX, INPUT_PX) and img.dtype == np.uint8


@settings(max_examples=300, deadline=None)
@given(strokes_st())
def test_normalize_lands_in_simplified_space(strokes: list[np.ndarray]) -> None:
    """Normalized points are integers in 0..255, touching 0 on both axes and 255 on the larger one."""
    norm = normalize(strokes)
    assert len(norm) == sum(1 for s in strokes if len(s))
    if not norm:
        return
    allp = np.concatenate(norm)
    assert allp.dtype == np.int32 and allp.min() >= 0 and allp.max() <= SPACE
    # RDP may drop an extreme point, but never by more than its tolerance (plus rounding).
    assert allp[:, 0].min() <= 3 and allp[:, 1].min() <= 3
    span = np.ptp(np.concatenate([s for s in strokes if len(s)]), axis=0).max()
    if span > 1e-3:
        assert allp.max() >= SPACE - 3


@settings(max_examples=200, deadline=None)
@given(strokes_st(), st.floats(0.01, 100), st.floats(-1e5, 1e5), st.floats(-1e5, 1e5))
def test_render_ignores_where_and_how_big_the_drawing_is(strokes, scale, dx, dy) -> None:
    """Translating and uniformly scaling client coordinates leaves the model input (nearly) unchanged."""
    kept = [s for s in strokes if len(s)]
    assume(kept and np.ptp(np.concatenate(kept), axis=0).max() > 1e-3)
    moved = [s * scale + np.array([dx, dy]) for s in strokes]
    a, b = render(strokes).astype(int), render(moved).astype(int)
    assert np.mean(np.abs(a - b) > 64) < 0.02


def drive_canvas(canvas: Canvas, strokes: list[np.ndarray], ops: list[str], data: st.DataObject) -> Iterator[list]:
    """Apply ``ops`` (push/pop/clear/sync) to ``canvas``; after each, yield the strokes it should hold."""
    held: list[np.ndarray] = []
    feed = iter(strokes * 2)
    for op in ["push", *ops]:
        if op == "push":
            s = next(feed, None)
            if s is None:
                continue
            canvas.push(s)
            if len(s):
                held.append(s)
        elif op == "pop":
            canvas.pop()
            if held:
                held.pop()
        elif op == "sync":  # keep a prefix, then add strokes, as a session's snapshot does
            keep = data.draw(st.integers(0, len(held)))
            extra = [s for s in data.draw(st.lists(st.sampled_from(strokes or [as_points([], [])]), max_size=3))]
            held = [*held[:keep], *(s.copy() for s in extra if len(s))]
            canvas.sync(held)
        else:
            canvas.clear()
            held.clear()
        yield held


@settings(max_examples=150, deadline=None)
@given(strokes_st(), st.lists(st.sampled_from(["push", "pop", "clear", "sync"]), max_size=12), st.data())
def test_incremental_canvas_equals_full_render(strokes, ops, data) -> None:
    """Canvas after any push/pop/clear/sync sequence equals render() of the strokes it holds."""
    canvas = Canvas()
    for held in drive_canvas(canvas, strokes, ops, data):
        assert np.array_equal(canvas.image(), render(held))


def test_incremental_canvas_skips_full_renders_inside_the_frame() -> None:
    """A stroke inside the drawing's box is drawn onto the kept canvas, not re-rendered."""
    c = Canvas()
    c.push(as_points([0, 100], [0, 100]))
    before = c.full_renders
    c.push(as_points([10, 50, 90], [50, 20, 80]))
    assert c.full_renders == before
    c.push(as_points([0, 200], [0, 0]))
    assert c.full_renders == before + 1


def test_undo_inside_the_box_redraws_from_the_cache_without_normalizing_again() -> None:
    """Dropping a stroke that leaves the box as it was redraws the kept normalized strokes; one that
    shrinks the box normalizes again; both equal render()."""
    c = Canvas()
    frame, inside, outside = as_points([0, 100], [0, 100]), as_points([10, 90], [50, 60]), as_points([0, 300], [0, 0])
    for s in (frame, inside):
        c.push(s)
    renders = c.full_renders
    c.pop()
    assert c.full_renders == renders and c.redraws == 1 and np.array_equal(c.image(), render([frame]))
    c.push(outside)
    c.pop()
    assert c.full_renders == renders + 2 and np.array_equal(c.image(), render([frame]))


def test_work_bounds_what_a_render_would_touch() -> None:
    """Canvas.work counts only new points inside the box; anything that re-renders counts every point."""
    c = Canvas()
    a, b = as_points([0, 100, 100], [0, 0, 100]), as_points([20, 80], [50, 60])
    assert c.work([a]) == 3
    c.sync([a])
    assert c.work([a]) == 0 and c.work([a, b]) == 2 and c.work([a], b) == 2
    assert c.work([a], as_points([0, 500], [0, 0])) == 5 and c.work([]) == 0 and c.work([b]) == 2


def test_pending_stroke_is_drawn_as_the_next_stroke() -> None:
    """image(pending=...) equals render() of finished strokes plus the pending one."""
    c = Canvas()
    a, b = as_points([0, 100, 100], [0, 0, 100]), as_points([20, 80], [50, 60])
    c.push(a)
    assert np.array_equal(c.image(pending=b), render([a, b]))
    assert np.array_equal(c.image(pending=as_points([0, 500], [0, 0])), render([a, as_points([0, 500], [0, 0])]))


def test_empty_canvas_holds_no_pixels_until_its_first_stroke() -> None:
    """An idle session's canvas allocates nothing; empty, it renders like render([]), and clear frees it again."""
    c = Canvas()
    assert c._canvas is None
    assert np.array_equal(c.image(), render([])) and np.array_equal(c.image(size=32), render([], 32))
    a = as_points([0, 100, 100], [0, 0, 100])
    assert np.array_equal(c.image(pending=a), render([a]))
    c.push(a)
    assert c._canvas is not None and np.array_equal(c.image(), render([a]))
    c.clear()
    assert c._canvas is None and np.array_equal(c.image(), render([]))


def test_simplified_data_stays_in_place_through_normalize() -> None:
    """Google's simplified drawings pass through normalize() nearly unchanged: it is the same space."""
    worst = []
    for d in quickdraw.read_file(SIMPLIFIED / "cat.ndjson.gz", limit=100):
        strokes = [as_points(s.x, s.y) for s in d.strokes]
        got, orig = np.concatenate(normalize(strokes)), np.concatenate(strokes)
        worst.append(np.sqrt(((got[:, None, :] - orig[None, :, :]) ** 2).sum(-1)).min(1).max())
    assert np.median(worst) <= 2.0 and np.percentile(worst, 90) <= 4.0


def test_raw_drawing_renders_like_its_shape() -> None:
    """A real raw drawing renders with ink covering a plausible share of the canvas."""
    d = raw_sample()[0]
    img = render([as_points(s[0], s[1]) for s in d["drawing"]])
    assert 0.03 < (img > 64).mean() < 0.5


def test_later_strokes_are_drawn_fainter() -> None:
    """Stroke order is encoded: the first stroke is brightest."""
    a, b = as_points([0, 100], [0, 0]), as_points([0, 100], [100, 100])
    img = render([a, b])
    assert img[1:8].max() > img[-8:-1].max() > 0


def picture(bg: int, ink: int, *, channels: int = 3) -> bytes:
    img = np.full((200, 300, channels), bg, np.uint8)
    cv2.circle(img, (150, 100), 60, (ink,) * channels, 5)
    cv2.line(img, (120, 90), (180, 110), (ink,) * channels, 5)
    return cv2.imencode(".png", img)[1].tobytes()


@pytest.mark.parametrize(("bg", "ink"), [(255, 0), (0, 255), (230, 90), (30, 200)])
def test_image_path_inverts_light_backgrounds_and_crops(bg: int, ink: int) -> None:
    """Pictures with light or dark backgrounds give bright ink on black, cropped to the content."""
    img = render_image(picture(bg, ink))
    assert img.shape == (INPUT_PX, INPUT_PX) and img[0].max() < 40 and img[:, 0].max() < 40
    assert img.max() > 150
    _, xs = np.nonzero(img > 64)
    assert xs.min() <= 4 and xs.max() >= INPUT_PX - 5  # cropped: the circle spans the canvas


def test_image_path_handles_transparency_and_jpeg() -> None:
    """RGBA with transparent background and JPEG pictures are understood."""
    rgba = np.zeros((100, 100, 4), np.uint8)
    cv2.circle(rgba, (50, 50), 30, (0, 0, 0, 255), 4)
    img = render_image(cv2.imencode(".png", rgba)[1].tobytes())
    assert img.max() > 150 and img[0].max() < 40
    white = np.full((120, 120, 3), 255, np.uint8)
    cv2.circle(white, (60, 60), 40, (0, 0, 0), 4)
    jpg = cv2.imencode(".jpg", white)[1].tobytes()
    assert render_image(jpg).max() > 150


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_image_path_rejects_undecodable_bytes(data: bytes) -> None:
    """Garbage bytes raise BadImage, not a crash."""
    with pytest.raises(BadImage):
        render_image(data)


def test_image_path_rejects_a_blank_picture_and_huge_dimensions() -> None:
    """A flat picture has no drawing; a picture over the pixel limit is refused."""
    with pytest.raises(BadImage, match="no drawing"):
        render_image(cv2.imencode(".png", np.full((50, 50), 255, np.uint8))[1].tobytes())
    with pytest.raises(LimitExceeded, match="pixels") as info:
        render_image(cv2.imencode(".png", np.zeros((2100, 2100), np.uint8))[1].tobytes())
    assert info.value.code == "image_too_many_pixels"


def test_image_pixel_limit_is_exact() -> None:
    """max_pixels admits a picture of exactly that many pixels and refuses one pixel row more."""
    img = np.full((100, 100), 255, np.uint8)
    cv2.line(img, (5, 5), (90, 90), 0, 3)
    assert render_image(cv2.imencode(".png", img)[1].tobytes(), max_pixels=10_000).shape == (INPUT_PX, INPUT_PX)
    taller = cv2.imencode(".png", np.vstack([img, img[:1]]))[1].tobytes()
    with pytest.raises(LimitExceeded):
        render_image(taller, max_pixels=10_000)


SAMPLES = [
    picture(255, 0),
    cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(picture(0, 255), np.uint8), 1))[1].tobytes(),
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_fuzz_corrupted_pictures_render_or_raise_a_protocol_error(base: bytes, flips, cut) -> None:
    """Valid PNG/JPEG bytes with random bytes overwritten and/or truncated: a 64x64 image or a ClientFault."""
    data = bytearray(base)
    for pos, val in flips:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        img = render_image(bytes(data))
    except ClientFault:
        return
    assert img.shape == (INPUT_PX, INPUT_PX) and img.dtype == np.uint8


def test_a_drawing_spanning_the_whole_space_is_drawn_whole_inside_the_margins() -> None:
    """A box over the full 0..255 space renders to a 64 px image with ink one pixel from every edge and the
    outermost rows and columns blank: the canvas's margins hold the line width, nothing is clipped."""
    img = render([as_points([0, 100, 100, 0, 0], [0, 0, 100, 100, 0])])
    assert img.shape == (INPUT_PX, INPUT_PX) and CANVAS_PX > SPACE
    rows, cols = np.flatnonzero(img.max(axis=1)), np.flatnonzero(img.max(axis=0))
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (1, INPUT_PX - 2, 1, INPUT_PX - 2)


def _render_unbounded(strokes: list[np.ndarray]) -> np.ndarray:
    """The normalisation before its cost was bounded: every stroke resampled at 1 unit."""
    kept = [s for s in strokes if len(s)]
    placement = render_module.Placement.of(kept)
    if placement is None:
        return np.zeros((INPUT_PX, INPUT_PX), np.uint8)
    out = []
    for s in kept:
        pts = placement.apply(s)
        if len(pts) >= 3:
            pts = render_module._rdp(render_module._resample(pts))
        out.append(np.rint(pts).astype(np.int32))
    return render_module.draw_normalized(out)


@pytest.mark.slow
def test_bounded_normalisation_renders_the_raw_set_as_before() -> None:
    """Every raw validation drawing renders as the unbounded normalisation did: identical
    when no stroke is longer than MAX_RESAMPLED_POINTS units, else within 3 grey levels on average."""
    differing = 0
    for drawing in quickdraw.read(RAW):
        strokes = [as_points(s.x, s.y) for s in drawing.strokes]
        new, old = render(strokes).astype(np.int16), _render_unbounded(strokes).astype(np.int16)
        if np.array_equal(new, old):
            continue
        differing += 1
        placement = render_module.Placement.of([s for s in strokes if len(s)])
        assert placement is not None
        lengths = [np.hypot(*np.diff(placement.apply(s), axis=0).T).sum() for s in strokes if len(s) > 1]
        assert max(lengths) > render_module.MAX_RESAMPLED_POINTS, f"{drawing.source}: an ordinary drawing changed"
        assert np.abs(new - old).mean() <= 3.0
    assert differing <= 20  # 9 of 9,118 when this was written


@settings(max_examples=100, deadline=None)
@given(
    st.integers(3, 3000),
    st.floats(1.0, 1e6),
    st.sampled_from(["zigzag", "random", "spiral"]),
    st.integers(0, 2**32 - 1),
)
def test_normalisation_work_is_bounded_by_points_not_path_length(n, size, shape, seed) -> None:
    """However long the path, resampling makes at most MAX_RESAMPLED_POINTS + 1 points and
    no simplifier call sees more points than that (or than RDP_RUN_POINTS for long paths)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n, dtype=np.float64)
    if shape == "zigzag":
        pts = np.stack([(i % 2) * size, i / n * size], axis=1)
    elif shape == "random":
        pts = rng.uniform(0, size, (n, 2))
    else:
        pts = np.stack([i * np.cos(i), i * np.sin(i)], axis=1) * size / n
    seen: list[tuple[str, int]] = []
    real_resample, real_rdp = render_module._resample, render_module._rdp

    def resample(p: np.ndarray, step: float = render_module.RESAMPLE_STEP) -> np.ndarray:
        out = real_resample(p, step)
        seen.append(("resample", len(out)))
        return out

    def rdp(p: np.ndarray) -> np.ndarray:
        seen.append(("rdp", len(p)))
        return real_rdp(p)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(render_module, "_resample", resample)
        mp.setattr(render_module, "_rdp", rdp)
        image = render([pts, pts[::-1]])
    assert image.shape == (INPUT_PX, INPUT_PX) and image.any()
    cap = render_module.MAX_RESAMPLED_POINTS + 1
    assert seen and all(k <= cap for _, k in seen)
    if any(kind == "resample" for kind, _ in seen):
        return
    assert all(k <= render_module.RDP_RUN_POINTS for _, k in seen)


def test_render_parameters_are_recorded_by_name() -> None:
    """render_params() names every constant that changes what the model sees."""
    params = render_module.render_params()
    assert params["input_px"] == INPUT_PX and params["canvas_px"] == CANVAS_PX
    assert render_module.stroke_intensity(0) == params["first_stroke_intensity"]
    assert render_module.stroke_intensity(1) == params["first_stroke_intensity"] - params["fade_per_stroke"]
    assert render_module.stroke_intensity(10_000) == params["min_stroke_intensity"]


TWO = render_module.Encoding(("order", "progress"))


@settings(max_examples=200, deadline=None)
@given(strokes_st(any_float))
def test_encode_is_total_and_the_picture_encoding_is_the_v2_render(strokes: list[np.ndarray]) -> None:
    """encode() never fails; with PICTURE it is exactly render(); with two channels its first is render() and
    the shape is (64, 64, 2)."""
    assert np.array_equal(render_module.encode(strokes), render(strokes))
    two = render_module.encode(strokes, TWO)
    assert two.shape == TWO.shape == (INPUT_PX, INPUT_PX, 2) and two.dtype == np.uint8
    assert np.array_equal(two[:, :, 0], render(strokes))


@settings(max_examples=120, deadline=None)
@given(strokes_st(), st.lists(st.sampled_from(["push", "pop", "clear", "sync"]), max_size=10), st.data())
def test_incremental_multichannel_canvas_equals_encode(strokes, ops, data) -> None:
    """A two-channel Canvas after any push/pop/clear/sync sequence, with or without a pending stroke, equals
    encode() of the strokes it holds: serving's incremental input is training's input."""
    canvas = Canvas(TWO)
    for held in drive_canvas(canvas, strokes, ops, data):
        assert np.array_equal(canvas.image(), render_module.encode(held, TWO))
        pending = data.draw(st.sampled_from(strokes or [as_points([0, 1], [0, 1])]))
        assert np.array_equal(canvas.image(pending=pending), render_module.encode([*held, pending], TWO))


def test_progress_channel_shows_the_direction_a_stroke_was_drawn_in() -> None:
    """The progress channel is bright where a stroke starts and dim where it ends; drawn backwards it mirrors,
    while the order channel cannot tell the two apart."""
    forward = [as_points([0, 100], [0, 0])]
    backward = [as_points([100, 0], [0, 0])]
    a, b = render_module.encode(forward, TWO), render_module.encode(backward, TWO)
    assert np.array_equal(a[:, :, 0], b[:, :, 0]) and not np.array_equal(a[:, :, 1], b[:, :, 1])
    for image, sign in ((a, 1), (b, -1)):
        row = image[:, :, 1].max(axis=0).astype(int)
        ink = np.nonzero(row)[0]
        quarter = len(ink) // 4
        start, end = row[ink[:quarter]].mean(), row[ink[-quarter:]].mean()
        assert sign * (start - end) > 60  # PROGRESS_START (255) at the first point, PROGRESS_END (64) at the last


def test_encodings_round_trip_through_their_recorded_parameters() -> None:
    """Encoding.of(render_params(e)) == e; PICTURE records exactly the shipped (r2) model's render parameters,
    so an old model.json still matches; bad channel lists and sizes are refused."""
    from tests.conftest import SHIPPED_META

    for enc in (render_module.PICTURE, TWO, render_module.Encoding(("progress",), 96)):
        assert render_module.Encoding.of(render_module.render_params(enc)) == enc
    assert render_module.render_params() == SHIPPED_META["render"] and "channels" not in SHIPPED_META["render"]
    assert render_module.Encoding.of(SHIPPED_META["render"]) == render_module.PICTURE
    for bad in ((), ("order", "order"), ("colour",), ("order", "progress") * 3):
        with pytest.raises(ValueError):
            render_module.Encoding(bad)
    with pytest.raises(ValueError):
        render_module.Encoding(input_px=8)
    with pytest.raises(ValueError):
        render_module.Encoding.of({"channels": "order"})


def test_a_picture_encodes_for_every_encoding() -> None:
    """render_image() gives the encoding's shape: the picture as the order channel, a mid grey for progress."""
    ink = np.full((100, 100), 255, np.uint8)
    cv2.circle(ink, (50, 50), 30, 0, 3)
    png = cv2.imencode(".png", ink)[1].tobytes()
    one, two = render_image(png), render_image(png, TWO)
    assert two.shape == (INPUT_PX, INPUT_PX, 2) and np.array_equal(two[:, :, 0], one)
    assert 0 < two[:, :, 1].max() < one.max()
