"""Geometric augmentation of a drawing, shared by training and custom words.

:func:`warp` is the one random distortion both sides use: an affine map (rotation up to
``AUG_MAX_ROTATION_DEG``, aspect factor in ``AUG_ASPECT``, shear up to ``AUG_MAX_SHEAR``)
then Gaussian per-point jitter of ``AUG_JITTER`` units.  It is a pure function of the
strokes and the generator: the same seed gives the same copy.  Strokes are taken in the
simplified space (0..255, :func:`server.render.normalize`) so the jitter means the same at
any client scale; the result is float strokes for :func:`server.render.render`, which
re-normalises them.  numpy only (the server imports it; training adds the stroke-prefix
cut in :func:`training.data.augment`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from server.render import Points

#: Most degrees a drawing is rotated, in degrees.
AUG_MAX_ROTATION_DEG = 12.0
#: Range of the aspect-ratio factor (x stretched, y squeezed by it), unitless.  There is no
#: scale augmentation: :func:`server.render.normalize` rescales every drawing to the same
#: size, so a uniform scale would be undone.
AUG_ASPECT = (0.85, 1.15)
#: Most shear, unitless (x += shear * y).
AUG_MAX_SHEAR = 0.15
#: Standard deviation of per-point jitter, in simplified units (0..255 space).
AUG_JITTER = 1.2


def warp(strokes: Sequence[Points], rng: np.random.Generator) -> list[Points]:
    """A randomly rotated, stretched, sheared and jittered copy of ``strokes`` (see module docstring)."""
    angle = math.radians(rng.uniform(-AUG_MAX_ROTATION_DEG, AUG_MAX_ROTATION_DEG))
    aspect = rng.uniform(*AUG_ASPECT)
    shear = rng.uniform(-AUG_MAX_SHEAR, AUG_MAX_SHEAR)
    cos, sin = math.cos(angle), math.sin(angle)
    m = np.array([[cos, -sin], [sin, cos]]) @ np.array([[aspect, shear], [0.0, 1.0 / aspect]])
    return [np.asarray(s, np.float64) @ m.T + rng.normal(0.0, AUG_JITTER, (len(s), 2)) for s in strokes]
