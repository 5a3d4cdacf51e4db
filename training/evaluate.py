"""Evaluate a model the way players meet it, and regenerate the model card's figures.

``python -m training.evaluate --model models`` starts the real server on a free port with
the model, replays every raw drawing (``$DOODLE_SHARED/quickdraw/raw``) through the
socket (each stroke as a ``stroke`` message, which the server handles exactly like its
points followed by ``pen_up``), and records the guesses and their scores after every
pen-up.  Scoring follows :mod:`server.quickdraw`: a drawing the server rejected (an
``error`` on any of its strokes, a lost connection) is a miss in every figure from the
stroke that failed on.  Every figure comes two ways: over all drawings, and *balanced*
(the mean of per-word figures, so every word weighs the same).

* top-1, top-3, top-5 and MAP@3 of the final guesses;
* the same after the first 1..5 strokes, two variants: ``or_final`` over all drawings (a
  drawing with fewer strokes counts with its final guesses: what the player saw then)
  and ``at_least`` over the drawings with at least k strokes;
* calibration, on the half of the raw set that :mod:`training.calibrate` did not fit on:
  the expected calibration error of the top guess over every pen-up state and over final
  guesses, the reliability diagram (``reliability.png``), and ``threshold_95``, the
  lowest score from which top guesses are right 95% of the time;
* per-word top-1 (``per_class.png``) and the most confused pairs;
* the model's own time at batch 1 (LiteRT, 1 thread, median of many calls), and the
  pen-up-to-guess latency of one session replaying alone (p50) and of
  ``--concurrency`` sessions replaying at once;
* the learning curve (``learning_curve.png``) from the training log
  (``training_log.jsonl`` in the model folder, written by :mod:`training.train`).

It writes ``eval.json`` and the pictures into ``--out`` (default: the model folder) and
rewrites the figures block of ``MODEL_CARD.md`` between its ``<!-- figures -->``
markers, so the card always shows what this command measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from replay_client.client import DoodleClient
from server import quickdraw
from server.app import DoodleServer, ServerConfig
from server.infer import Classifier
from training.calibrate import is_calibration, reliability, score_at

FIGURES_START = "<!-- figures -->"
FIGURES_END = "<!-- /figures -->"
#: Strokes after which partial figures are reported, in strokes.
PARTIAL_STROKES = (1, 2, 3, 4, 5)
#: Drawings replayed by one session alone for the latency figure, in drawings.
SOLO_DRAWINGS = 150
#: Precision at which ``threshold_95`` is read, unitless.
THRESHOLD_PRECISION = 0.95
#: The recognition issue's targets on balanced figures (None: not a target).
TARGETS: dict[str, float] = {
    "map3": 0.85,
    "top1": 0.77,
    "top5": 0.93,
    "after1_top1": 0.28,
    "after1_top3": 0.42,
    "after3_top1": 0.55,
    "ece": 0.03,
    "model_ms": 1.0,
    "solo_p50_ms": 2.0,
}


@dataclass
class Replay:
    """One drawing replayed: the guesses (words best first, scores) after each pen-up it
    got, the round trip of each, and the error that ended it early (if any)."""

    words: list[list[str]] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    error: str | None = None

    def answer_after(self, strokes: int, total: int) -> list[str] | None:
        """The answer seen after pen-up number ``strokes`` (capped at ``total``): ``None``
        when the drawing had been rejected by then."""
        k = min(strokes, total)
        return self.words[k - 1] if len(self.words) >= k else None


async def replay_all(url: str, drawings: list[quickdraw.Drawing], *, concurrency: int) -> list[Replay]:
    """Replay each drawing stroke by stroke through ``url``, ``concurrency`` sessions at a time."""
    sem = asyncio.Semaphore(concurrency)
    out = [Replay() for _ in drawings]

    async def one(r: Replay, d: quickdraw.Drawing) -> None:
        async with sem:
            try:
                async with DoodleClient(url) as c:
                    for s in d.strokes:
                        msg: dict[str, Any] = {"type": "stroke", "x": list(s.x), "y": list(s.y)}
                        if s.t is not None:
                            msg["t"] = list(s.t)
                        t = time.perf_counter()
                        reply = await c.request(msg)
                        r.latency_ms.append((time.perf_counter() - t) * 1000)
                        if reply.get("type") != "guesses":
                            r.error = f"{reply.get('code')}: {reply.get('message')}"
                            return
                        r.words.append([g["word"] for g in reply["guesses"]])
                        r.scores.append([float(g["score"]) for g in reply["guesses"]])
            except Exception as e:  # a lost connection rejects the drawing, it is not skipped
                r.error = f"{type(e).__name__}: {e}"

    await asyncio.gather(*(one(r, d) for r, d in zip(out, drawings, strict=True)))
    return out


def model_time_ms(model: Classifier, *, calls: int = 2000) -> dict[str, float]:
    """Median and p99 of one batch-1 model call (LiteRT, the serving interpreter)."""
    rng = np.random.default_rng(0)
    x = (rng.random((16, *model.encoding.shape)) > 0.9).astype(np.uint8) * 255
    for i in range(50):
        model.predict(x[i % 16 : i % 16 + 1])
    ts = []
    for i in range(calls):
        t = time.perf_counter()
        model.predict(x[i % 16 : i % 16 + 1])
        ts.append((time.perf_counter() - t) * 1000)
    return {"median": statistics.median(ts), "p99": float(np.percentile(ts, 99)), "calls": calls}


def partial_figures(drawings: list[quickdraw.Drawing], runs: list[Replay]) -> dict[str, Any]:
    """Accuracy after the first k strokes, both variants (see module docstring)."""
    out: dict[str, Any] = {}
    for k in PARTIAL_STROKES:
        answers = [r.answer_after(k, len(d.strokes)) for d, r in zip(drawings, runs, strict=True)]
        longer = [i for i, d in enumerate(drawings) if len(d.strokes) >= k]
        out[str(k)] = {
            "or_final": quickdraw.accuracy([d.word for d in drawings], answers),
            "at_least": quickdraw.accuracy([drawings[i].word for i in longer], [answers[i] for i in longer]),
        }
    return out


def calibration_figures(drawings: list[quickdraw.Drawing], runs: list[Replay]) -> dict[str, Any]:
    """ECE of the top guess on the held-out half, over pen-up states and final guesses."""
    states_conf, states_ok, final_conf, final_ok = [], [], [], []
    for d, r in zip(drawings, runs, strict=True):
        if is_calibration(d.key_id) or r.error is not None:
            continue
        for words, scores in zip(r.words, r.scores, strict=True):
            states_conf.append(scores[0])
            states_ok.append(words[0] == d.word)
        final_conf.append(r.scores[-1][0])
        final_ok.append(r.words[-1][0] == d.word)
    return {
        "held_out_drawings": len(final_conf),
        "states": reliability(states_conf, states_ok),
        "final": reliability(final_conf, final_ok),
        "threshold_95": score_at(states_conf, states_ok, precision=THRESHOLD_PRECISION),
    }


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_class_plot(per_class: dict[str, float], path: Path, *, worst: int = 25) -> None:
    """Per-class top-1: every class sorted (left) and the ``worst`` classes by name (right)."""
    plt = _plt()
    items = sorted(per_class.items(), key=lambda kv: kv[1])
    values = [v for _, v in items]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 6), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    ax.bar(range(len(items)), values, width=1.0, color="#4c78a8")
    ax.axhline(float(np.mean(values)), color="#e45756", lw=1, ls="--", label=f"mean {np.mean(values):.2f}")
    ax.set(xlim=(-1, len(items)), ylim=(0, 1), xlabel="classes, sorted", ylabel="top-1 on raw drawings")
    ax.set_title(f"Per-class top-1, {len(items)} classes, replayed through the server")
    ax.legend(loc="upper left")
    low = items[:worst]
    bx.barh(range(len(low)), [v for _, v in low], color="#f58518")
    bx.set_yticks(range(len(low)), [w for w, _ in low], fontsize=8)
    bx.invert_yaxis()
    bx.set(xlim=(0, 1), xlabel="top-1")
    bx.set_title(f"The {worst} weakest classes")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reliability_plot(calibration: dict[str, Any], path: Path) -> None:
    """Reliability diagram: accuracy against mean score per bin, pen-up states and finals."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 6), dpi=110)
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="calibrated")
    for key, colour in (("states", "#4c78a8"), ("final", "#e45756")):
        bins = calibration[key]["bins"]
        ax.plot(
            [b["score"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            color=colour,
            label=f"{key} (ECE {calibration[key]['ece']:.3f}, n={calibration[key]['n']})",
        )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="score of the top guess", ylabel="share right")
    ax.set_title("Reliability of the top guess (held-out half of raw)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def learning_curve(log: Path) -> list[dict[str, float]]:
    """Validation points of a training log: samples seen and top-1 / MAP@3 (all and balanced)."""
    points = []
    for line in log.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        val = rec.get("val")
        if not val:
            continue
        samples = rec.get("samples") or rec["chunk"] * 51_200
        balanced = val.get("balanced", {})
        points.append(
            {
                "samples": float(samples),
                "top1": float(val["top1"]),
                "map3": float(val["map3"]),
                "balanced_top1": float(balanced.get("top1", val["top1"])),
                "train_acc": float(rec.get("acc", 0.0)),
            }
        )
    return points


def learning_curve_plot(points: list[dict[str, float]], path: Path) -> None:
    """Validation top-1 (raw, rendered) and training accuracy against samples seen."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    xs = [p["samples"] / 1e6 for p in points]
    ax.plot(xs, [p["top1"] for p in points], marker=".", label="raw top-1 (all)")
    ax.plot(xs, [p["balanced_top1"] for p in points], marker=".", label="raw top-1 (balanced)")
    ax.plot(xs, [p["train_acc"] for p in points], color="#999999", lw=1, label="training accuracy (augmented)")
    ax.set(xlabel="training samples seen (millions)", ylabel="accuracy", ylim=(0, 1))
    ax.set_title("Learning curve")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def card_figures(ev: dict[str, Any]) -> str:
    """The markdown block of figures for MODEL_CARD.md."""
    f, p, cal = ev["final"], ev["partial"], ev["calibration"]

    def row(name: str, fig: dict[str, Any], key: str, target: str | None = None) -> str:
        goal = f"≥ {TARGETS[target]:.2f}" if target else ""
        return f"| {name} | {_pct(fig[key])} | {_pct(fig['balanced'][key])} | {goal} |"

    lines = [
        FIGURES_START,
        f"Measured by `python -m training.evaluate` on {ev['date']} over all {f['n']:,} drawings of",
        "`../shared/quickdraw/raw`, replayed through the live server (never used for training). Balanced =",
        "the mean of per-word figures; the targets are on balanced figures.",
        "",
        "| metric | all drawings | balanced | target |",
        "| --- | --- | --- | --- |",
        row("top-1", f, "top1", "top1"),
        row("top-3", f, "top3"),
        row("top-5", f, "top5", "top5"),
        row("MAP@3", f, "map3", "map3"),
    ]
    for k in PARTIAL_STROKES:
        fig = p[str(k)]["or_final"]
        t1 = f"after{k}_top1" if f"after{k}_top1" in TARGETS else None
        t3 = f"after{k}_top3" if f"after{k}_top3" in TARGETS else None
        lines.append(row(f"top-1 after {k} stroke{'s' if k > 1 else ''}", fig, "top1", t1))
        lines.append(row(f"top-3 after {k} stroke{'s' if k > 1 else ''}", fig, "top3", t3))
    lines += [
        "",
        "After k strokes: over all drawings, one with fewer strokes counted with its final guesses",
        "(`or_final` in `eval.json`, which also has `at_least`: only drawings with k strokes or more).",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| expected calibration error of the top guess, every pen-up (held-out half, "
        f"{cal['held_out_drawings']:,} drawings) | {cal['states']['ece']:.3f} | ≤ {TARGETS['ece']:.2f} |",
        f"| expected calibration error, final guesses | {cal['final']['ece']:.3f} | |",
        f"| score from which the top guess is right 95% of the time | {_pct(cal['threshold_95'])} | |",
        f"| model time, batch 1 (LiteRT, 1 thread), median / p99 | {ev['model_ms']['median']:.3f} / "
        f"{ev['model_ms']['p99']:.3f} ms | ≤ {TARGETS['model_ms']:.1f} ms |",
        f"| pen-up to guesses, one session alone, p50 / p99 | {ev['solo_latency_ms']['p50']:.2f} / "
        f"{ev['solo_latency_ms']['p99']:.2f} ms | ≤ {TARGETS['solo_p50_ms']:.0f} ms |",
        f"| pen-up to guesses, {ev['concurrency']} sessions at full speed, p50 / p99 | "
        f"{ev['latency_ms']['p50']:.2f} / {ev['latency_ms']['p99']:.2f} ms | |",
        f"| drawings rejected by the server | {f['rejected']} | |",
        "",
        "Worst classes (top-1): " + ", ".join(f"{w} {v:.2f}" for w, v in ev["worst_classes"]),
        "",
        "Best classes (top-1): " + ", ".join(f"{w} {v:.2f}" for w, v in ev["best_classes"]),
        "",
        "Most confused pairs (true -> guessed, count): "
        + ", ".join(f"{a} -> {b} ({n})" for a, b, n in ev["confused_pairs"]),
        "",
        "![per-class accuracy](per_class.png) ![reliability](reliability.png)",
    ]
    if ev.get("learning_curve"):
        lines += ["", "![learning curve](learning_curve.png)"]
    lines.append(FIGURES_END)
    return "\n".join(lines)


def update_card(card: Path, block: str) -> None:
    """Replace the figures block of the card (or append one)."""
    text = card.read_text(encoding="utf-8") if card.exists() else ""
    if FIGURES_START in text and FIGURES_END in text:
        head, rest = text.split(FIGURES_START, 1)
        tail = rest.split(FIGURES_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n## Figures\n\n" + block + "\n"
    card.write_text(text, encoding="utf-8")


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "guesses": 0}
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
        "guesses": len(values),
    }


async def evaluate(model_dir: Path, raw: Path, *, limit: int | None, concurrency: int) -> dict[str, Any]:
    """Replay the raw set through a live server on ``model_dir`` and compute every figure."""
    drawings = list(quickdraw.read(raw))
    if limit is not None:
        drawings = [drawings[i] for i in np.random.default_rng(0).permutation(len(drawings))[:limit]]
    server = DoodleServer(ServerConfig(port=0, model_dir=model_dir))
    await server.start()
    try:
        model = Classifier(model_dir, max_batch=1)
        missing = sorted({d.word for d in drawings} - set(model.labels))
        if missing:
            raise SystemExit(f"words not in the model's labels: {missing[:10]}")
        url = f"ws://127.0.0.1:{server.port}/ws"
        solo = await replay_all(url, drawings[:SOLO_DRAWINGS], concurrency=1)
        t0 = time.time()
        runs = await replay_all(url, drawings, concurrency=concurrency)
        took = time.time() - t0
    finally:
        await server.close()
    mtime = model_time_ms(model)
    truth = [d.word for d in drawings]
    finals = [r.words[-1] if r.error is None and r.words else None for r in runs]
    per_class = {
        w: rate.value
        for w, rate in quickdraw.per_word_top_k_accuracy(truth, finals, 1).items()
        if rate.value is not None
    }
    confused: Counter[tuple[str, str]] = Counter()
    for t, g in zip(truth, finals, strict=True):
        if g and g[0] != t:
            confused[(t, g[0])] += 1
    ranked = sorted(per_class.items(), key=lambda kv: kv[1])
    log = model_dir / "training_log.jsonl"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "model": model.name,
        "final": quickdraw.accuracy(truth, finals),
        "partial": partial_figures(drawings, runs),
        "calibration": calibration_figures(drawings, runs),
        "per_class": per_class,
        "worst_classes": [(w, round(v, 3)) for w, v in ranked[:10]],
        "best_classes": [(w, round(v, 3)) for w, v in ranked[-5:][::-1]],
        "confused_pairs": [(a, b, n) for (a, b), n in confused.most_common(12)],
        "model_ms": mtime,
        "solo_latency_ms": _latency([v for r in solo for v in r.latency_ms]),
        "latency_ms": _latency([v for r in runs for v in r.latency_ms]),
        "errors": Counter(r.error.split(":")[0] for r in runs if r.error),
        "concurrency": concurrency,
        "replay_seconds": round(took, 1),
        "learning_curve": learning_curve(log) if log.is_file() else [],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("models"), help="model folder")
    p.add_argument("--raw", type=Path, default=quickdraw.raw_dir(), help="raw/ drawings to replay")
    p.add_argument("--out", type=Path, default=None, help="where eval.json and the plots go (default: --model)")
    p.add_argument("--limit", type=int, default=None, help="evaluate a fixed random sample of this many drawings")
    p.add_argument("--concurrency", type=int, default=16, help="sessions replaying at once")
    p.add_argument("--no-card", action="store_true", help="do not rewrite MODEL_CARD.md")
    args = p.parse_args(argv)
    out: Path = args.out or args.model
    out.mkdir(parents=True, exist_ok=True)
    ev = asyncio.run(evaluate(args.model, args.raw, limit=args.limit, concurrency=args.concurrency))
    (out / "eval.json").write_text(json.dumps(ev, indent=1) + "\n", encoding="utf-8")
    per_class_plot(ev["per_class"], out / "per_class.png")
    reliability_plot(ev["calibration"], out / "reliability.png")
    if ev["learning_curve"]:
        learning_curve_plot(ev["learning_curve"], out / "learning_curve.png")
    if not args.no_card:
        update_card(out / "MODEL_CARD.md", card_figures(ev))
    f, b, cal = ev["final"], ev["final"]["balanced"], ev["calibration"]
    after1, after3 = ev["partial"]["1"]["or_final"]["balanced"], ev["partial"]["3"]["or_final"]["balanced"]
    print(
        f"all: top-1 {_pct(f['top1'])} top-3 {_pct(f['top3'])} top-5 {_pct(f['top5'])} MAP@3 {_pct(f['map3'])} "
        f"(n={f['n']}, rejected={f['rejected']})\n"
        f"balanced: top-1 {_pct(b['top1'])} top-3 {_pct(b['top3'])} top-5 {_pct(b['top5'])} MAP@3 {_pct(b['map3'])}; "
        f"after 1 stroke top-1/top-3 {_pct(after1['top1'])}/{_pct(after1['top3'])}, "
        f"after 3 top-1 {_pct(after3['top1'])}\n"
        f"ECE {cal['states']['ece']:.3f} (final {cal['final']['ece']:.3f}), threshold_95 {_pct(cal['threshold_95'])}; "
        f"model {ev['model_ms']['median']:.3f} ms/call; solo pen-up p50 {ev['solo_latency_ms']['p50']:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
