"""Test doubles shared by test modules (test modules never import each other)."""

from __future__ import annotations

import time

import numpy as np

WORDS = [f"word{i}" for i in range(10)]


class FakeModel:
    """Deterministic model: scores from the image's ink; fails on dense ink or while ``fail`` is set."""

    name = "fake"

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.labels = WORDS
        self.fail = False
        self.delay_s = delay_s

    def predict(self, images: np.ndarray) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s)
        ink = images.reshape(len(images), -1).astype(np.float64).mean(axis=1)
        if self.fail or (ink > 40).any():
            raise RuntimeError("model exploded")
        probs = np.zeros((len(images), len(self.labels)), np.float32)
        probs[np.arange(len(images)), (ink * 7).astype(int) % len(self.labels)] = 1.0
        return probs
