"""training/calibrate.py: temperature fitting, the calibration split, ECE and the served temperature."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from server.infer import DEFAULT_MODEL_DIR, Classifier, apply_temperature
from server.quickdraw import Drawing, Stroke
from training.calibrate import fit_temperature, is_calibration, prefix_images, reliability, score_at


def synthetic(temperature: float, n: int = 20_000, classes: int = 20, seed: int = 0):
    """Network probabilities softmax(z) whose labels really follow softmax(z / temperature)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (n, classes))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    truth = apply_temperature(p, temperature).astype(np.float64)
    y = np.array([rng.choice(classes, p=row / row.sum()) for row in truth])
    return p, y


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_fit_recovers_the_temperature_that_made_the_labels(temperature: float) -> None:
    """Labels drawn from softmax(z / T) give back T within 10%."""
    p, y = synthetic(temperature)
    assert fit_temperature(p, y) == pytest.approx(temperature, rel=0.1)


def test_temperature_keeps_the_ranking_and_one_is_the_identity() -> None:
    """Scaling changes scores, never their order; T = 1 returns the probabilities."""
    p, _ = synthetic(1.0, n=200)
    for t in (0.3, 1.7):
        q = apply_temperature(p, t)
        assert np.array_equal(np.argsort(-q, 1), np.argsort(-p, 1)) and np.allclose(q.sum(1), 1, atol=1e-5)
    assert np.allclose(apply_temperature(p, 1.0), p, atol=1e-6)


def test_ece_is_small_when_calibrated_and_large_when_not() -> None:
    """ECE of calibrated scores is near 0; of over-confident scores (T = 0.3 applied) it is large."""
    p, y = synthetic(1.0)
    good = reliability(p.max(1), p.argmax(1) == y)
    bad = reliability(apply_temperature(p, 0.3).max(1), p.argmax(1) == y)
    assert good["ece"] < 0.02 < 0.1 < bad["ece"]  # type: ignore[operator]
    assert sum(b["n"] for b in good["bins"]) == len(y)  # type: ignore[union-attr]


def test_score_at_finds_the_lowest_score_with_the_precision() -> None:
    """score_at gives the lowest score whose guesses at or above it are right often enough."""
    conf = [0.9, 0.8, 0.7, 0.6, 0.5]
    correct = [True, True, True, False, False]
    assert score_at(conf, correct, precision=1.0) == 0.7
    assert score_at(conf, correct, precision=0.75) == 0.6
    assert score_at([0.4], [False], precision=0.5) is None
    assert score_at([0.9] * 100 + [0.3] * 100, [True] * 100 + [False] * 100, precision=0.95) == 0.9  # ties judged whole


def test_the_split_is_stable_and_about_half() -> None:
    """is_calibration depends on key_id alone and takes about half of the drawings."""
    keys = [str(5_000_000_000_000_000 + i) for i in range(4000)]
    share = np.mean([is_calibration(k) for k in keys])
    assert 0.45 < share < 0.55 and [is_calibration(k) for k in keys[:50]] == [is_calibration(k) for k in keys[:50]]


def test_the_server_serves_scores_at_the_recorded_temperature(tmp_path: Path) -> None:
    """A model.json temperature changes every served score exactly as apply_temperature says."""
    for name in ("doodle.tflite", "labels.txt"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    meta["calibration"] = {"temperature": 1.0}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    x = (np.random.default_rng(1).random((4, 64, 64)) > 0.9).astype(np.uint8) * 255
    plain = Classifier(tmp_path).predict(x)
    meta["calibration"] = {"temperature": 2.5}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    served = Classifier(tmp_path).predict(x)
    assert np.allclose(served, apply_temperature(plain, 2.5), atol=1e-6) and not np.allclose(served, plain)
    meta["calibration"] = {"temperature": -1}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="temperature"):
        Classifier(tmp_path)


def test_prefix_images_skip_words_the_model_does_not_know() -> None:
    """A left-out word's drawing (a model trained with --exclude-words) is skipped, not a KeyError."""
    stroke = Stroke(x=(10.0, 60.0, 110.0), y=(10.0, 60.0, 10.0))
    known = Drawing(word="cat", strokes=(stroke, stroke), key_id="1")
    left_out = Drawing(word="dog", strokes=(stroke,), key_id="2")
    x, y = prefix_images([left_out, known, left_out], ["axe", "cat"])
    assert x.shape == (2, 64, 64) and y.tolist() == [1, 1]
