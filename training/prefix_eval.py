"""A quick offline comparison of models: ``python -m training.prefix_eval MODEL_DIR...``.

Cheaper than :mod:`training.evaluate` (no server, no sockets) and meant for choosing
between recipes: each model directory is loaded as the server loads it
(:class:`server.infer.Classifier`, LiteRT, its input :class:`server.render.Encoding`
from ``model.json``), the raw validation drawings are encoded with
:func:`server.render.encode` after their first 1 and 3 strokes and whole (a drawing with
fewer strokes counts with all of them, as ``or_final`` in :mod:`training.evaluate`), and
it prints one table row per model: balanced top-1 and MAP@3 of the whole drawings,
balanced top-1 after 1 and 3 strokes, the model's own time at batch 1 and the encoding's
time per drawing (median, ms).  ``--limit`` takes a fixed subset (the same for every
model); ``--json`` writes the figures.

``--bn-batches N`` first re-estimates each model's BatchNormalization statistics from N
augmented batches of its own training data (the recipe in ``model.json``), as the statistics
of a short run lag far behind its weights (a 51k-sample run scored 0.004 top-1 on training
drawings in inference mode, 0.12 with batch statistics); the re-estimated model is exported
beside the original (``DIR-bn``) and evaluated instead.  This is for comparing short runs
only: a full run's statistics settle as its learning rate decays.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from server import quickdraw
from server.infer import Classifier
from server.render import Encoding, encode
from training import data as train_data

__all__ = ["PREFIXES", "evaluate_model", "main"]

#: Stroke counts after which top-1 is reported (0: the whole drawing).
PREFIXES = (1, 3, 0)


def evaluate_model(model_dir: Path, drawings: list[quickdraw.Drawing], *, timing_calls: int = 300) -> dict[str, Any]:
    """The figures of one model directory on ``drawings`` (module docstring)."""
    model = Classifier(model_dir)
    strokes = [train_data.strokes_of(d) for d in drawings]
    truth = [d.word for d in drawings]
    out: dict[str, Any] = {"model": model.name, "channels": list(model.encoding.channels)}
    out["input_px"] = model.encoding.input_px
    encode_ms: list[float] = []
    for k in PREFIXES:
        images = []
        for s in strokes:
            t = time.perf_counter()
            images.append(encode(s if k == 0 else s[:k], model.encoding))
            encode_ms.append((time.perf_counter() - t) * 1000)
        answers = quickdraw.ranked_answers(model.predict(np.stack(images)), model.labels)
        fig = quickdraw.accuracy(truth, answers)
        key = "final" if k == 0 else f"after{k}"
        out[key] = {"top1": fig["balanced"]["top1"], "map3": fig["balanced"]["map3"], "top1_all": fig["top1"]}
    one = np.stack([encode(strokes[0], model.encoding)])
    for _ in range(20):
        model.predict(one)
    ts = []
    for _ in range(timing_calls):
        t = time.perf_counter()
        model.predict(one)
        ts.append((time.perf_counter() - t) * 1000)
    out["model_ms"] = statistics.median(ts)
    out["encode_ms"] = statistics.median(encode_ms)
    return out


def recalibrate_bn(model_dir: Path, batches: int, *, batch: int = 256, seed: int = 99) -> Path:
    """Re-estimate the BatchNormalization statistics of ``model_dir``'s Keras weights from
    ``batches`` augmented batches of the training data its recipe names (a plain average over
    the batches), export the result to ``DIR-bn`` and return that path."""
    import keras

    from training import near_copies
    from training.model import load_keras
    from training.train import export

    meta = json.loads((model_dir / "model.json").read_text())
    recipe = meta["recipe"]
    encoding = Encoding.of(meta["render"])
    folders = [Path(p) for p in recipe["data"]]
    labels = (model_dir / "labels.txt").read_text(encoding="utf-8").split("\n")[:-1]
    cache = Path(recipe["work"]) / "cache"
    ds = train_data.load_simplified(folders, labels=labels, per_class=recipe["per_class"], cache=cache)
    if recipe.get("near_copies") not in (None, "none"):
        ds = ds.subset(~near_copies.mask(ds, folders, labels, near_copies.read(Path(recipe["near_copies"]))))
    model = load_keras(model_dir)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    rng = np.random.default_rng(seed)
    for k in range(batches):
        for layer in norms:  # the k-th batch weighs 1/(k+1) of the statistics
            layer.momentum = k / (k + 1)
        idx = rng.choice(len(ds), batch, replace=False)
        x, _ = train_data.render_batch(ds, idx, seed=seed + k, encoding=encoding)
        model(x.astype(np.float32), training=True)
    out = model_dir.with_name(model_dir.name + "-bn")
    meta["bn_recalibrated_batches"] = batches
    export(model, labels, out, meta)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.prefix_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("models", type=Path, nargs="+", help="model directories (doodle.tflite, labels.txt, model.json)")
    p.add_argument("--val", type=Path, default=quickdraw.raw_dir(), help="raw/ folder")
    p.add_argument("--limit", type=int, default=None, help="a fixed random subset of this many raw drawings")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    p.add_argument("--bn-batches", type=int, default=0, help="re-estimate BatchNorm statistics first (short runs)")
    args = p.parse_args(argv)
    drawings = list(quickdraw.read(args.val))
    if args.limit is not None:
        keep = sorted(np.random.default_rng(0).permutation(len(drawings))[: args.limit].tolist())
        drawings = [drawings[i] for i in keep]
    dirs = [recalibrate_bn(m, args.bn_batches) if args.bn_batches else m for m in args.models]
    rows = [evaluate_model(m, drawings) for m in dirs]
    print(f"{len(drawings)} raw drawings, balanced figures")
    print("| model | channels | px | top-1 | MAP@3 | top-1 after 1 | top-1 after 3 | model ms | encode ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['model']} | {', '.join(r['channels'])} | {r['input_px']} | {r['final']['top1']:.3f} "
            f"| {r['final']['map3']:.3f} | {r['after1']['top1']:.3f} | {r['after3']['top1']:.3f} "
            f"| {r['model_ms']:.3f} | {r['encode_ms']:.3f} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"drawings": len(drawings), "models": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
