"""Calibrate a model's scores: ``python -m training.calibrate --model models``.

A score is calibrated when, of all top guesses scored about 0.8, about 80% are right.
The network's softmax is not (label smoothing makes it timid), so this command fits one
temperature ``T`` (temperature scaling: scores ``softmax(log p / T)``, which keeps every
ranking) by minimising the negative log-likelihood on the *calibration half* of the raw
set, and records it in ``model.json`` as ``calibration.temperature``, with ``threshold_95`` (the
calibrated score from which the top guess is right 95% of the time on those states: the
default ``recognized`` threshold);
:class:`server.infer.Classifier` applies it to every score it serves.

The raw set is split once, by drawing: :func:`is_calibration` puts a drawing in the
calibration half when the first byte of SHA-1 of its ``key_id`` is below 128.  The
other half is kept for the figures (:mod:`training.evaluate` reports the expected
calibration error there).  Fitting uses every state the server scores: the drawing
after each of its pen-ups, as the player sees guesses while drawing.

Running it again composes with the temperature already recorded (it fits on the served,
already-calibrated scores), so it converges instead of drifting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from server import quickdraw
from server.infer import apply_temperature
from server.render import PICTURE, Encoding, encode
from training.data import strokes_of

#: Bins of the reliability diagram and of the expected calibration error, in bins.
ECE_BINS = 15
#: Search range of log(T), natural log units.
LOG_T_RANGE = (-3.0, 3.0)


def is_calibration(key_id: object) -> bool:
    """Whether a raw drawing belongs to the calibration half (see module docstring)."""
    return hashlib.sha1(str(key_id).encode()).digest()[0] < 128


def nll(probs: npt.NDArray[np.floating], y: npt.NDArray[np.integer], temperature: float) -> float:
    """Mean negative log-likelihood of the true classes after temperature ``T``."""
    p = apply_temperature(probs, temperature)[np.arange(len(y)), y]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def fit_temperature(probs: npt.NDArray[np.floating], y: npt.NDArray[np.integer]) -> float:
    """The temperature minimising :func:`nll` (golden-section search on log T)."""
    lo, hi = LOG_T_RANGE
    g = (5**0.5 - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(probs, y, float(np.exp(a))), nll(probs, y, float(np.exp(b)))
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(probs, y, float(np.exp(a)))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(probs, y, float(np.exp(b)))
    return float(np.exp((lo + hi) / 2))


def reliability(confidence: Iterable[float], correct: Iterable[bool], *, bins: int = ECE_BINS) -> dict[str, object]:
    """Expected calibration error of top guesses and the reliability diagram's bins.

    ECE is the share-weighted mean of |accuracy - mean score| over ``bins`` equal-width
    score bins; each bin lists its count, mean score and accuracy."""
    conf = np.asarray(list(confidence), np.float64)
    ok = np.asarray(list(correct), np.float64)
    if not len(conf):
        return {"ece": 0.0, "n": 0, "bins": []}
    which = np.minimum((conf * bins).astype(int), bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        acc, mean = float(ok[m].mean()), float(conf[m].mean())
        ece += m.mean() * abs(acc - mean)
        out.append({"lo": b / bins, "hi": (b + 1) / bins, "n": int(m.sum()), "score": mean, "accuracy": acc})
    return {"ece": float(ece), "n": len(conf), "bins": out}


def score_at(confidence: Iterable[float], correct: Iterable[bool], *, precision: float) -> float | None:
    """The lowest score from which top guesses are right at least ``precision`` of the time
    (over all guesses scored at least that), or ``None`` when no score reaches it."""
    pairs = sorted(zip(confidence, correct, strict=True), key=lambda p: -p[0])
    best: float | None = None
    hits = 0
    for n, (c, ok) in enumerate(pairs, 1):
        hits += bool(ok)
        tie_follows = n < len(pairs) and pairs[n][0] == c  # judge a score with all guesses that share it
        if not tie_follows and hits / n >= precision:
            best = c
    return best


def prefix_images(
    drawings: Iterable[quickdraw.Drawing], labels: list[str], encoding: Encoding = PICTURE
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Model inputs (``encoding``) of every drawing after each of its pen-ups, with the true class of each.
    Drawings of words that are not in ``labels`` (a model trained with ``--exclude-words``)
    are skipped: there is no class to score them against."""
    index = {w: i for i, w in enumerate(labels)}
    xs, ys = [], []
    for drawing in drawings:
        if drawing.word not in index:
            continue
        strokes = strokes_of(drawing)
        for k in range(1, len(strokes) + 1):
            xs.append(encode(strokes[:k], encoding))
            ys.append(index[drawing.word])
    return np.asarray(xs, np.uint8), np.asarray(ys, np.int64)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 5)


def main(argv: list[str] | None = None) -> int:
    from server.infer import Classifier

    p = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("models"), help="model folder (model.json is updated)")
    p.add_argument("--raw", type=Path, default=quickdraw.raw_dir(), help="raw/ folder (validation drawings)")
    args = p.parse_args(argv)
    model = Classifier(args.model, max_batch=64)
    known = set(model.labels)  # a model trained with --exclude-words is calibrated on its own words
    calib = [d for d in quickdraw.read(args.raw) if is_calibration(d.key_id) and d.word in known]
    x, y = prefix_images(calib, model.labels, model.encoding)
    probs = model.predict(x)
    fitted = fit_temperature(probs, y)
    meta_path = args.model / "model.json"
    meta = json.loads(meta_path.read_text())
    before = float(meta.get("calibration", {}).get("temperature", 1.0))
    top = probs.max(axis=1)
    after = apply_temperature(probs, fitted).max(axis=1)
    correct = probs.argmax(axis=1) == y
    meta["calibration"] = {
        "temperature": round(before * fitted, 5),
        "fitted_on": f"{len(calib)} raw drawings (sha1(key_id)[0] < 128), {len(y)} pen-up states",
        "ece_fit_before": round(float(reliability(top, correct)["ece"]), 4),  # type: ignore[arg-type]
        "ece_fit_after": round(float(reliability(after, correct)["ece"]), 4),  # type: ignore[arg-type]
        # The default ``recognized`` threshold (server/ranking.py), on the same states' calibrated scores.
        "threshold_95": _rounded(score_at(after.tolist(), correct.tolist(), precision=0.95)),
        "threshold_95_on": f"the same {len(y)} pen-up states of the calibration half, calibrated scores: lowest "
        "top score from which the top guess is right 95% of the time (training.calibrate.score_at)",
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta["calibration"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
