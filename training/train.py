"""Train the doodle classifier: ``python -m training.train --data ../shared/quickdraw/simplified``.

Reproducible (seeded), resumable (a checkpoint after every chunk of samples; run the
same command again and it continues), and it shows progress (one line per chunk with
loss, accuracy, samples/s and time left, plus validation figures on the raw set).
At the end, or with ``--export-only`` at any checkpoint, it writes under ``--out``:

* ``doodle.tflite``: the serving model (float32 input 64x64x1 in 0..255),
* ``doodle.weights.npz``: the same weights for Keras (:func:`training.model.load_keras`),
* ``labels.txt``: one category word per line, in class order,
* ``model.json``: name, architecture, input size, recipe and validation figures.

``../shared/quickdraw/raw`` is used only to validate, never to train.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import numpy.typing as npt

from server.render import render
from training import data as D

_DS: D.DrawingSet | None = None


def _init_worker(ds: D.DrawingSet) -> None:
    global _DS
    _DS = ds


def _batch_job(args: tuple[npt.NDArray[np.int64], int]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int16]]:
    assert _DS is not None
    idx, seed = args
    return D.render_batch(_DS, idx, seed=seed)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/quickdraw/simplified"), help="simplified/ folder")
    p.add_argument("--val", type=Path, default=Path("../shared/quickdraw/raw"), help="raw/ folder (validation only)")
    p.add_argument("--out", type=Path, default=Path("models"), help="where the model is written")
    p.add_argument("--work", type=Path, default=Path("build/train"), help="checkpoints, logs and data cache")
    p.add_argument("--arch", default="mobile", help="architecture (training/model.py)")
    p.add_argument("--width", type=float, default=0.75, help="width multiplier of the architecture")
    p.add_argument("--per-class", type=int, default=None, help="at most this many drawings per word")
    p.add_argument("--epochs", type=float, default=2.2, help="passes over the data (fractions allowed)")
    p.add_argument("--batch", type=int, default=256, help="batch size, in drawings")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    p.add_argument("--chunk", type=int, default=51_200, help="samples between checkpoints")
    p.add_argument("--floor", type=int, default=600, help="thin words are oversampled to this many per epoch")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--render-workers", type=int, default=1, help="processes rendering batches")
    p.add_argument("--max-chunks", type=int, default=None, help="stop (resumably) after this many chunks in this run")
    p.add_argument("--val-limit", type=int, default=None, help="validate on at most this many raw drawings")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument("--export-only", action="store_true", help="export the latest checkpoint and stop")
    return p.parse_args(argv)


def evaluate(model: object, x: npt.NDArray[np.uint8], y: npt.NDArray[np.int16]) -> dict[str, float]:
    """Top-1/3/5 and MAP@3 of a Keras model on rendered images."""
    probs = model.predict(x, batch_size=512, verbose=0)  # type: ignore[attr-defined]
    return topk_metrics(probs, y)


def topk_metrics(probs: npt.NDArray[np.floating], y: npt.NDArray[np.integer]) -> dict[str, float]:
    """Top-1/3/5 accuracy and MAP@3 from class probabilities."""
    top = np.argsort(-probs, axis=1)[:, :5]
    hit = top == np.asarray(y)[:, None]
    map3 = (hit[:, 0] * 1.0 + hit[:, 1] / 2.0 + hit[:, 2] / 3.0).mean()
    return {
        "top1": float(hit[:, :1].any(1).mean()),
        "top3": float(hit[:, :3].any(1).mean()),
        "top5": float(hit[:, :5].any(1).mean()),
        "map3": float(map3),
    }


def export(model: object, labels: list[str], out: Path, meta: dict[str, object]) -> None:
    """Write the TFLite model, the Keras model, labels and metadata atomically."""
    import tensorflow as tf

    out.mkdir(parents=True, exist_ok=True)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    tflite = converter.convert()
    (out / "doodle.tflite.tmp").write_bytes(tflite)
    os.replace(out / "doodle.tflite.tmp", out / "doodle.tflite")
    from training.model import save_weights

    save_weights(model, out / "doodle.weights.tmp.npz")  # type: ignore[arg-type]
    os.replace(out / "doodle.weights.tmp.npz", out / "doodle.weights.npz")
    (out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    from training.model import build

    keras.utils.set_random_seed(args.seed)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "checkpoint.keras"
    state_path = work / "state.json"
    log_path = work / "log.jsonl"

    labels = D.labels_of(args.data)
    t0 = time.time()
    ds = D.load_simplified(args.data, labels=labels, per_class=args.per_class, cache=work / "cache")
    print(f"loaded {len(ds):,} drawings of {len(labels)} words in {time.time() - t0:.0f}s", flush=True)
    val_strokes, val_y, _ = D.load_raw(args.val, labels=labels)
    if args.val_limit is not None:
        keep = np.random.default_rng(0).permutation(len(val_y))[: args.val_limit]
        val_strokes, val_y = [val_strokes[i] for i in keep], val_y[keep]
    val_x = np.stack([render(s) for s in val_strokes])[..., None]
    print(f"validation: {len(val_y):,} raw drawings", flush=True)

    epoch_len = len(D.epoch_order(ds.labels, rng=np.random.default_rng(0), floor=args.floor))
    total = int(args.epochs * epoch_len)
    chunks = max(1, -(-total // args.chunk))
    steps_per_chunk = args.chunk // args.batch
    total_steps = chunks * steps_per_chunk

    # The schedule is a pure function of the recipe, so a resumed run may change --epochs:
    # the cosine then decays over the new total from where the run is.
    warmup = max(1, total_steps // 50)
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr / 10, total_steps - warmup, alpha=0.02, warmup_target=args.lr, warmup_steps=warmup
    )
    state = {"chunk": 0, "seconds": 0.0}
    if ckpt.exists() and not args.fresh:
        model = keras.models.load_model(ckpt)
        model.optimizer.learning_rate = schedule
        state = json.loads(state_path.read_text())
        print(f"resuming at chunk {state['chunk']}/{chunks}", flush=True)
    else:
        model = build(args.arch, len(labels), width=args.width)
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
            metrics=["accuracy"],
        )
    meta: dict[str, object] = {
        "name": f"doodle-{args.arch}{args.width:g}-{len(labels)}",
        "architecture": args.arch,
        "width": args.width,
        "input_px": int(model.input_shape[1]),
        "classes": len(labels),
        "recipe": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in {"fresh", "export_only", "max_chunks"}
        },
        "train_drawings": len(ds),
        "params": int(model.count_params()),
    }

    def finish() -> int:
        metrics = evaluate(model, val_x, val_y)
        meta.update(
            {
                "trained_chunks": state["chunk"],
                "trained_samples": int(state["chunk"]) * steps_per_chunk * args.batch,
                "training_seconds": round(float(state["seconds"])),
                "val_raw_rendered": metrics,
            }
        )
        export(model, labels, args.out, meta)
        print(f"exported to {args.out}: {json.dumps(metrics)}", flush=True)
        return 0

    if args.export_only:
        return finish()

    ctx = mp.get_context("fork")
    pool = ctx.Pool(args.render_workers, initializer=_init_worker, initargs=(ds,))

    def batches(chunk: int) -> Iterator[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]]:
        start = chunk * steps_per_chunk * args.batch
        epoch = start // epoch_len
        order = D.epoch_order(ds.labels, rng=np.random.default_rng(args.seed + epoch), floor=args.floor)
        nxt = D.epoch_order(ds.labels, rng=np.random.default_rng(args.seed + epoch + 1), floor=args.floor)
        order = np.concatenate([order, nxt])
        off = start - epoch * epoch_len
        jobs = [
            (order[off + k * args.batch : off + (k + 1) * args.batch], args.seed * 1_000_003 + chunk * 10_007 + k)
            for k in range(steps_per_chunk)
        ]
        eye = np.eye(len(labels), dtype=np.float32)
        for x, y in pool.imap(_batch_job, jobs, chunksize=1):
            yield x, eye[y]

    stop_at = chunks if args.max_chunks is None else min(chunks, int(state["chunk"]) + args.max_chunks)
    try:
        while state["chunk"] < stop_at:
            c = int(state["chunk"])
            t = time.time()
            hist = model.fit(batches(c), steps_per_epoch=steps_per_chunk, epochs=1, verbose=0)
            took = time.time() - t
            state = {"chunk": c + 1, "seconds": float(state["seconds"]) + took}
            rec: dict[str, object] = {
                "chunk": c + 1,
                "of": chunks,
                "epoch": round((c + 1) * steps_per_chunk * args.batch / epoch_len, 3),
                "loss": round(float(hist.history["loss"][-1]), 4),
                "acc": round(float(hist.history["accuracy"][-1]), 4),
                "samples_per_s": round(steps_per_chunk * args.batch / took),
                "eta_min": round((chunks - c - 1) * took / 60, 1),
            }
            if (c + 1) % 5 == 0 or c + 1 == chunks:
                rec["val"] = evaluate(model, val_x, val_y)
            model.save(work / "checkpoint.tmp.keras")
            os.replace(work / "checkpoint.tmp.keras", ckpt)
            state_path.write_text(json.dumps(state))
            with log_path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)
    finally:
        pool.terminate()
    if state["chunk"] < chunks:
        print(f"stopped at chunk {state['chunk']}/{chunks}; run the same command to resume", flush=True)
        return 0
    return finish()


if __name__ == "__main__":
    sys.exit(main())
