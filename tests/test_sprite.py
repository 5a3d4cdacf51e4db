"""Sprites and thumbnails (server/history/sprite.py): tight crop, transparent background, anti-aliased ink, limits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.history.errors import BadSprite
from server.history.sprite import SpriteOptions, parse_sprite_options, sprite_png, sprite_rgba, thumbnail_png
from server.limits import MAX_SPRITE_PX, MAX_SPRITE_WIDTH_PX, MIN_SPRITE_PX

# A wide "house": 300 x 150 client pixels, two strokes.
HOUSE = [
    [[100, 400, 400, 100, 100], [200, 200, 350, 350, 200], [0, 10, 20, 30, 40]],
    [[100, 250, 400], [200, 230, 200], [50, 60, 70]],
]


def decode(png: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    return img


@pytest.mark.parametrize("size", [MIN_SPRITE_PX, 100, 256, MAX_SPRITE_PX])
def test_sprite_is_cropped_to_the_ink_with_its_longer_side_size(size: int) -> None:
    """RGBA PNG, longer side `size`, aspect of the drawing, ink within 1 px of every edge."""
    img = decode(sprite_png(HOUSE, SpriteOptions(size=size, width=4)))
    assert img.ndim == 3 and img.shape[2] == 4
    h, w = img.shape[:2]
    assert w == size and abs(h - size / 2) <= 8
    alpha = img[:, :, 3]
    assert alpha[:2].any() and alpha[-2:].any() and alpha[:, :2].any() and alpha[:, -2:].any()


def test_background_is_transparent_ink_is_the_colour_and_edges_are_anti_aliased() -> None:
    """Alpha is coverage: 0 off the lines, 255 on them, partial values at the edges; RGB is the colour everywhere."""
    rgba = sprite_rgba(HOUSE, parse_sprite_options(200, "#FF8000", 5))
    alpha = rgba[:, :, 3]
    h, w = alpha.shape
    assert alpha[h // 2, w // 4] == 0  # inside the house, off every line
    assert (alpha == 255).sum() > 500
    assert ((alpha > 0) & (alpha < 255)).sum() > 200  # anti-aliased edges
    b, g, r = rgba[:, :, 0], rgba[:, :, 1], rgba[:, :, 2]
    assert (r == 255).all() and (g == 0x80).all() and (b == 0).all()


def test_wider_lines_cover_more() -> None:
    """More `width` gives more ink (sum of alpha) at the same size."""
    covered = [int(sprite_rgba(HOUSE, SpriteOptions(size=256, width=w))[:, :, 3].sum()) for w in (1, 4, 12, 40)]
    assert covered == sorted(covered) and covered[0] < covered[-1] / 5


def test_a_single_point_or_a_still_drawing_is_a_dot() -> None:
    """A drawing with no extent becomes a round dot of the line width, not an error."""
    for drawing in ([[[50], [50], [0]]], [[[7, 7, 7], [3, 3, 3], [0, 1, 2]]]):
        rgba = sprite_rgba(drawing, SpriteOptions(size=64, width=10))
        h, w = rgba.shape[:2]
        assert 8 <= h <= 14 and 8 <= w <= 14 and rgba[h // 2, w // 2, 3] == 255


def test_thumbnail_is_an_opaque_square_with_dark_ink_on_white() -> None:
    """thumbnail_png: size x size, 3 channels, white corners, dark ink somewhere."""
    img = decode(thumbnail_png(HOUSE, 160))
    assert img.shape == (160, 160, 3)
    assert (img[0, 0] == 255).all() and img.min() < 80


@pytest.mark.parametrize(
    ("size", "color", "width", "what"),
    [
        (MIN_SPRITE_PX - 1, None, None, "size"),
        (MAX_SPRITE_PX + 1, None, None, "size"),
        (64.0, None, None, "size"),
        (True, None, None, "size"),
        ("64", None, None, "size"),
        (None, "red", None, "color"),
        (None, "#12345", None, "color"),
        (None, "#1234567", None, "color"),
        (None, 0xFF0000, None, "color"),
        (None, None, 0, "width"),
        (None, None, MAX_SPRITE_WIDTH_PX + 0.5, "width"),
        (None, None, float("nan"), "width"),
        (None, None, "3", "width"),
    ],
)
def test_bad_options_raise_bad_sprite_naming_the_option(size: object, color: object, width: object, what: str) -> None:
    """Out-of-range or mistyped size/color/width raise BadSprite (code bad_sprite) naming the option."""
    with pytest.raises(BadSprite, match=what) as e:
        parse_sprite_options(size, color, width)
    assert e.value.code == "bad_sprite"


def test_defaults_and_colour_forms() -> None:
    """Missing options take the defaults; colours with or without '#' in any case are normalised."""
    assert parse_sprite_options() == SpriteOptions()
    assert parse_sprite_options(32, "AbCdEf", 2.5) == SpriteOptions(32, "#abcdef", 2.5)
