"""Train the doodle classifier: ``python -m training.train``.

Reproducible (seeded), resumable (a checkpoint after every chunk of samples; run the
same command again and it continues), and it shows progress (one line per chunk with
loss, accuracy, samples/s and time left, plus validation figures on the raw set).

The steps of :func:`main`: load the data (:func:`load_data`), build or resume the model
(:func:`build_or_resume`), train chunk by chunk (:func:`train_chunks`), and at the end, or
with ``--export-only`` at any checkpoint, :func:`finish`: validate and write under
``--out``:

* ``doodle.tflite``: the serving model (float32 input ``(px, px, channels)`` in 0..255; outputs the
  scores and an L2-normalised embedding, :func:`training.model.serving_model`),
* ``doodle.weights.npz``: the same weights for Keras (:func:`training.model.load_keras`),
* ``labels.txt``: one category word per line, in class order,
* ``training_log.jsonl``: the run's progress lines (the learning curve),
* ``model.json``: name, architecture, the renderer's parameters
  (:func:`server.render.render_params`, checked by the server when it loads the model),
  recipe and validation figures.

By default it trains on ``simplified/`` and ``simplified-extra/`` of the shared data
(:func:`server.quickdraw.quickdraw_dir`: ``$DOODLE_SHARED/quickdraw``, default
``../shared/quickdraw``).  ``raw/`` is used only to
validate, never to train.  ``--exclude-words FILE`` leaves the words it lists out entirely
(no class, no training drawing, no validation drawing; ``model.json`` records them as
``excluded_words``): a model for evaluating custom words honestly
(:mod:`training.custom_words_eval`).  The training drawings that near-copy a raw validation
drawing (``--near-copies``, :mod:`training.near_copies`) are always left out
(``near_copies_left_out`` in ``model.json``).  ``--channels`` and ``--input-px`` choose the
model's input (:class:`server.render.Encoding`, recorded in ``model.json`` ``render``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import numpy.typing as npt

from server import quickdraw
from server.render import Encoding, encode, render_params
from training import data as train_data
from training import near_copies

#: The recipe's version, the end of the model's name (``doodle-mobile0.75-345-r2``): bump it when
#: the recipe changes, so two different models never share a name (clients read it in ``welcome``
#: and ``/healthz``; server-scope custom words are filed under it).
RECIPE_VERSION = 3

#: r3's passes over the data (r2: 3.0; about 8.2 M samples, 5.8 h at r2's 420 samples/s with the machine alone).
EPOCHS = 5.0
#: r3's thin-word floor: each word is drawn at least this many times per epoch (r2: 600, when
#: the other words had grown to about 4,900 a pass; 1,000 gives the seven thin words back
#: the share they had in r1, 600 of about 3,000).
FLOOR = 1_000
#: r3's input channels (:data:`server.render.CHANNELS`): the picture alone. Two channels
#: (``order,progress``) scored 1.5 points lower in balanced top-1 after 153,600 samples in the
#: same run beside it (models/MODEL_CARD.md, Recognition v3).
CHANNELS = ("order",)
#: r3's input side, in pixels.
INPUT_PX = 64
#: The training drawings that near-copy a raw validation drawing (:mod:`training.near_copies`).
NEAR_COPIES = Path(__file__).resolve().parent / "near_copies.tsv"

_DS: train_data.DrawingSet | None = None
_ENCODING: Encoding | None = None


def _init_worker(ds: train_data.DrawingSet, encoding: Encoding) -> None:
    global _DS, _ENCODING
    _DS, _ENCODING = ds, encoding


def _batch_job(args: tuple[npt.NDArray[np.int64], int]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int16]]:
    assert _DS is not None and _ENCODING is not None
    idx, seed = args
    return train_data.render_batch(_DS, idx, seed=seed, encoding=_ENCODING)


def encoding_of(args: argparse.Namespace) -> Encoding:
    """The input encoding the recipe names (``--channels``, ``--input-px``)."""
    return Encoding(tuple(c.strip() for c in str(args.channels).split(",") if c.strip()), int(args.input_px))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data",
        type=Path,
        nargs="+",
        default=[quickdraw.simplified_dir(), quickdraw.simplified_extra_dir()],
        help="simplified folders to train on",
    )
    p.add_argument("--val", type=Path, default=quickdraw.raw_dir(), help="raw/ folder (validation only)")
    p.add_argument("--out", type=Path, default=Path("models"), help="where the model is written")
    p.add_argument("--work", type=Path, default=Path("build/train"), help="checkpoints, logs and data cache")
    p.add_argument("--arch", default="mobile", help="architecture (training/model.py)")
    p.add_argument("--width", type=float, default=0.75, help="width multiplier of the architecture")
    p.add_argument(
        "--exclude-words",
        type=Path,
        default=None,
        help="file of words (one a line) left out entirely: not trained, not validated, not a class",
    )
    p.add_argument("--per-class", type=int, default=None, help="at most this many drawings per word and folder")
    p.add_argument("--epochs", type=float, default=EPOCHS, help="passes over the data (fractions allowed)")
    p.add_argument("--batch", type=int, default=256, help="batch size, in drawings")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    p.add_argument("--chunk", type=int, default=51_200, help="samples between checkpoints")
    p.add_argument("--floor", type=int, default=FLOOR, help="thin words are oversampled to this many per epoch")
    p.add_argument(
        "--channels",
        default=",".join(CHANNELS),
        help="input channels, comma-separated (server.render.CHANNELS; recorded in model.json)",
    )
    p.add_argument("--input-px", type=int, default=INPUT_PX, help="side of the model input, in pixels")
    p.add_argument(
        "--near-copies",
        type=Path,
        default=NEAR_COPIES,
        help="training drawings left out because they near-copy a validation drawing (training.near_copies); "
        "'none' for none",
    )
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--render-workers", type=int, default=1, help="processes rendering batches")
    p.add_argument("--max-chunks", type=int, default=None, help="stop (resumably) after this many chunks in this run")
    p.add_argument("--val-limit", type=int, default=None, help="validate on at most this many raw drawings")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument("--export-only", action="store_true", help="export the latest checkpoint and stop")
    return p.parse_args(argv)


def evaluate(model: object, x: npt.NDArray[np.uint8], y: npt.NDArray[np.int16], labels: list[str]) -> dict[str, Any]:
    """:func:`server.quickdraw.accuracy` (all drawings and balanced) of a Keras model on rendered images."""
    probs = model.predict(x, batch_size=512, verbose=0)  # type: ignore[attr-defined]
    return quickdraw.accuracy([labels[i] for i in y], quickdraw.ranked_answers(probs, labels))


def export(model: object, labels: list[str], out: Path, meta: dict[str, object]) -> None:
    """Write the TFLite model, the Keras model, labels and metadata atomically."""
    from training.model import to_tflite

    out.mkdir(parents=True, exist_ok=True)
    (out / "doodle.tflite.tmp").write_bytes(to_tflite(model))  # type: ignore[arg-type]
    os.replace(out / "doodle.tflite.tmp", out / "doodle.tflite")
    from training.model import save_weights

    save_weights(model, out / "doodle.weights.tmp.npz")  # type: ignore[arg-type]
    os.replace(out / "doodle.weights.tmp.npz", out / "doodle.weights.npz")
    (out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


@dataclass
class Data:
    """What a run trains and validates on."""

    labels: list[str]
    train: train_data.DrawingSet
    val_x: npt.NDArray[np.uint8]
    val_y: npt.NDArray[np.int16]
    excluded: list[str]
    #: Training drawings left out as near-copies of validation drawings (``--near-copies``).
    near_copies: int


@dataclass
class Plan:
    """The schedule: a pure function of the recipe and the data, so a resumed run may
    change ``--epochs`` and the cosine then decays over the new total from where it is."""

    epoch_len: int
    chunks: int
    steps_per_chunk: int

    @property
    def total_steps(self) -> int:
        return self.chunks * self.steps_per_chunk


def load_data(args: argparse.Namespace) -> Data:
    """Training drawings (cached compact form) and the rendered raw validation set."""
    excluded = train_data.read_words_file(args.exclude_words) if args.exclude_words else []
    labels = train_data.without(train_data.labels_of(args.data[0]), excluded)
    t0 = time.time()
    ds = train_data.load_simplified(args.data, labels=labels, per_class=args.per_class, cache=args.work / "cache")
    print(f"loaded {len(ds):,} drawings of {len(labels)} words in {time.time() - t0:.0f}s", flush=True)
    dropped = 0
    if args.near_copies is not None and str(args.near_copies) != "none":
        drop = near_copies.mask(ds, args.data, labels, near_copies.read(args.near_copies))
        dropped = int(drop.sum())
        ds = ds.subset(~drop)
        print(f"left out {dropped:,} near-copies of validation drawings ({args.near_copies})", flush=True)
    if excluded:
        print(f"left out {len(excluded)} words: {', '.join(excluded)}", flush=True)
    val_strokes, val_y, _ = train_data.load_raw(args.val, labels=labels, exclude=excluded)
    if args.val_limit is not None:
        keep = np.random.default_rng(0).permutation(len(val_y))[: args.val_limit]
        val_strokes, val_y = [val_strokes[i] for i in keep], val_y[keep]
    encoding = encoding_of(args)
    val_x = np.stack([encode(s, encoding) for s in val_strokes]).reshape(len(val_strokes), *model_shape(encoding))
    print(f"validation: {len(val_y):,} raw drawings", flush=True)
    return Data(labels, ds, val_x, val_y, excluded, dropped)


def model_shape(encoding: Encoding) -> tuple[int, int, int]:
    """One model input's shape, channels last."""
    return (encoding.input_px, encoding.input_px, encoding.depth)


def plan(args: argparse.Namespace, data: Data) -> Plan:
    epoch_len = len(train_data.epoch_order(data.train.labels, rng=np.random.default_rng(0), floor=args.floor))
    total = int(args.epochs * epoch_len)
    return Plan(epoch_len, max(1, -(-total // args.chunk)), args.chunk // args.batch)


def build_or_resume(args: argparse.Namespace, data: Data, schedule_plan: Plan) -> tuple[Any, dict[str, Any]]:
    """The checkpointed model and its state, or a new compiled model at chunk 0."""
    import keras

    from training.model import build

    warmup = max(1, schedule_plan.total_steps // 50)
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr / 10, schedule_plan.total_steps - warmup, alpha=0.02, warmup_target=args.lr, warmup_steps=warmup
    )
    ckpt = args.work / "checkpoint.keras"
    if ckpt.exists() and not args.fresh:
        model = keras.models.load_model(ckpt)
        model.optimizer.learning_rate = schedule
        state = json.loads((args.work / "state.json").read_text())
        print(f"resuming at chunk {state['chunk']}/{schedule_plan.chunks}", flush=True)
        return model, state
    model = build(args.arch, len(data.labels), width=args.width, encoding=encoding_of(args))
    # No use_ema: Keras 3.15's optimizer EMA leaves BatchNormalization's moving statistics wrong
    # (a toy model: inference accuracy 0.19 with it, 0.94 without; a 563k-sample run of this
    # recipe: raw top-1 0.005 in inference mode, 0.37 with batch statistics).
    optimizer = keras.optimizers.Adam(schedule)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    return model, {"chunk": 0, "seconds": 0.0}


def batches(
    args: argparse.Namespace, data: Data, schedule_plan: Plan, pool: Any, chunk: int
) -> Iterator[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]]:
    """The augmented batches of one chunk, rendered by ``pool``; a pure function of the
    recipe and the chunk number (epochs reshuffle with ``seed + epoch``)."""
    size = schedule_plan.steps_per_chunk * args.batch
    start = chunk * size
    epoch = start // schedule_plan.epoch_len
    orders = [
        train_data.epoch_order(data.train.labels, rng=np.random.default_rng(args.seed + epoch + k), floor=args.floor)
        for k in range(2 + size // schedule_plan.epoch_len)
    ]
    order = np.concatenate(orders)
    off = start - epoch * schedule_plan.epoch_len
    jobs = [
        (order[off + k * args.batch : off + (k + 1) * args.batch], args.seed * 1_000_003 + chunk * 10_007 + k)
        for k in range(schedule_plan.steps_per_chunk)
    ]
    eye = np.eye(len(data.labels), dtype=np.float32)
    for x, y in pool.imap(_batch_job, jobs, chunksize=1):
        yield x, eye[y]


def train_chunks(
    args: argparse.Namespace, data: Data, schedule_plan: Plan, model: Any, state: dict[str, Any]
) -> dict[str, Any]:
    """Train until the plan's end or ``--max-chunks``, checkpointing after every chunk."""
    ckpt = args.work / "checkpoint.keras"
    stop_at = schedule_plan.chunks
    if args.max_chunks is not None:
        stop_at = min(stop_at, int(state["chunk"]) + args.max_chunks)
    pool = mp.get_context("fork").Pool(
        args.render_workers, initializer=_init_worker, initargs=(data.train, encoding_of(args))
    )
    try:
        while state["chunk"] < stop_at:
            c = int(state["chunk"])
            t = time.time()
            steps = schedule_plan.steps_per_chunk
            hist = model.fit(batches(args, data, schedule_plan, pool, c), steps_per_epoch=steps, epochs=1, verbose=0)
            took = time.time() - t
            state = {"chunk": c + 1, "seconds": float(state["seconds"]) + took}
            rec: dict[str, object] = {
                "chunk": c + 1,
                "of": schedule_plan.chunks,
                "samples": (c + 1) * steps * args.batch,
                "epoch": round((c + 1) * steps * args.batch / schedule_plan.epoch_len, 3),
                "loss": round(float(hist.history["loss"][-1]), 4),
                "acc": round(float(hist.history["accuracy"][-1]), 4),
                "samples_per_s": round(steps * args.batch / took),
                "eta_min": round((schedule_plan.chunks - c - 1) * took / 60, 1),
            }
            if (c + 1) % 5 == 0 or c + 1 == schedule_plan.chunks:
                rec["val"] = evaluate(model, data.val_x, data.val_y, data.labels)
            model.save(args.work / "checkpoint.tmp.keras")
            os.replace(args.work / "checkpoint.tmp.keras", ckpt)
            (args.work / "state.json").write_text(json.dumps(state))
            with (args.work / "log.jsonl").open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)
    finally:
        pool.terminate()
    return state


def finish(args: argparse.Namespace, data: Data, schedule_plan: Plan, model: Any, state: dict[str, Any]) -> None:
    """Validate and export."""
    metrics = evaluate(model, data.val_x, data.val_y, data.labels)
    meta: dict[str, object] = {
        "name": f"doodle-{args.arch}{args.width:g}-{len(data.labels)}-r{RECIPE_VERSION}",
        "architecture": args.arch,
        "width": args.width,
        "input_px": int(model.input_shape[1]),
        "classes": len(data.labels),
        "render": render_params(encoding_of(args)),
        "recipe": {
            k: ([str(p) for p in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in {"fresh", "export_only", "max_chunks"}
        },
        "excluded_words": data.excluded,
        "near_copies_left_out": data.near_copies,
        "train_drawings": len(data.train),
        "params": int(model.count_params()),
        "trained_chunks": state["chunk"],
        "trained_samples": int(state["chunk"]) * schedule_plan.steps_per_chunk * args.batch,
        "training_seconds": round(float(state["seconds"])),
        "val_raw_rendered": metrics,
    }
    export(model, data.labels, args.out, meta)
    log = args.work / "log.jsonl"
    if log.is_file():  # the learning curve, for training.evaluate and the model card
        shutil.copyfile(log, args.out / "training_log.jsonl")
    print(f"exported to {args.out}: {json.dumps(metrics)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    keras.utils.set_random_seed(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    data = load_data(args)
    schedule_plan = plan(args, data)
    model, state = build_or_resume(args, data, schedule_plan)
    if not args.export_only:
        state = train_chunks(args, data, schedule_plan, model, state)
        if state["chunk"] < schedule_plan.chunks:
            where = f"{state['chunk']}/{schedule_plan.chunks}"
            print(f"stopped at chunk {where}; run the same command to resume", flush=True)
            return 0
    finish(args, data, schedule_plan, model, state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
