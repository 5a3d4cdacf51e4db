"""Evaluate a model the way players meet it, and regenerate the model card's figures.

``python -m training.evaluate --model models --raw ../shared/quickdraw/raw`` starts the real
server on a free port with the model, replays every raw drawing through the socket (each
stroke as a ``stroke`` message, which the server handles exactly like its points followed
by ``pen_up``), and records the top-5 guesses after every pen-up.  From those it computes:

* top-1, top-3, top-5 and MAP@3 of the final guesses over all drawings;
* accuracy after the first 1, 2 and 3 strokes (a drawing with fewer strokes counts with
  its final guesses: that is what the player saw at that moment);
* per-class top-1 and the most confused pairs (true word -> guessed word);
* the model's own time at batch 1 (LiteRT, median of many calls) and the client-measured
  pen-up-to-guess latency of the replay.

It writes ``eval.json`` and ``per_class.png`` into ``--out`` (default: the model folder)
and rewrites the figures block of ``MODEL_CARD.md`` between its ``<!-- figures -->``
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
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from replay_client.client import DoodleClient
from server.app import DoodleServer, ServerConfig
from server.infer import Classifier
from server.render import INPUT_PX
from training.data import labels_of, open_ndjson

FIGURES_START = "<!-- figures -->"
FIGURES_END = "<!-- /figures -->"


def final_metrics(truth: list[str], tops: list[list[str]]) -> dict[str, float]:
    """Top-1/3/5 and MAP@3 of ``tops`` (best-first word lists) against ``truth``."""
    n = len(truth)
    if not n:
        return {"top1": 0.0, "top3": 0.0, "top5": 0.0, "map3": 0.0, "n": 0}
    top1 = sum(t in g[:1] for t, g in zip(truth, tops, strict=True)) / n
    top3 = sum(t in g[:3] for t, g in zip(truth, tops, strict=True)) / n
    top5 = sum(t in g[:5] for t, g in zip(truth, tops, strict=True)) / n
    map3 = sum(1.0 / (g[:3].index(t) + 1) if t in g[:3] else 0.0 for t, g in zip(truth, tops, strict=True)) / n
    return {"top1": top1, "top3": top3, "top5": top5, "map3": map3, "n": n}


async def replay_all(url: str, drawings: list[dict[str, Any]], *, concurrency: int) -> list[dict[str, Any]]:
    """Replay each drawing stroke by stroke; per drawing its guesses after every pen-up and latencies."""
    sem = asyncio.Semaphore(concurrency)
    out: list[dict[str, Any]] = [{} for _ in drawings]

    async def one(i: int, d: dict[str, Any]) -> None:
        async with sem, DoodleClient(url) as c:
            steps, lat, errors = [], [], []
            for xs, ys, *rest in d["drawing"]:
                msg: dict[str, Any] = {"type": "stroke", "x": xs, "y": ys}
                if rest:
                    msg["t"] = [int(v) for v in rest[0]]
                t = time.perf_counter()
                r = await c.request(msg)
                lat.append((time.perf_counter() - t) * 1000)
                if r.get("type") == "guesses":
                    steps.append([g["word"] for g in r["guesses"]])
                else:
                    errors.append(str(r.get("message")))
                    steps.append([])
            out[i] = {"steps": steps, "latency_ms": lat, "errors": errors}

    await asyncio.gather(*(one(i, d) for i, d in enumerate(drawings)))
    return out


def model_time_ms(model: Classifier, *, calls: int = 2000) -> dict[str, float]:
    """Median and p99 of one batch-1 model call (LiteRT, the serving interpreter)."""
    rng = np.random.default_rng(0)
    x = (rng.random((16, INPUT_PX, INPUT_PX)) > 0.9).astype(np.uint8) * 255
    for i in range(50):
        model.predict(x[i % 16 : i % 16 + 1])
    ts = []
    for i in range(calls):
        t = time.perf_counter()
        model.predict(x[i % 16 : i % 16 + 1])
        ts.append((time.perf_counter() - t) * 1000)
    return {"median": statistics.median(ts), "p99": float(np.percentile(ts, 99)), "calls": calls}


def per_class_plot(per_class: dict[str, float], path: Path, *, worst: int = 25) -> None:
    """Per-class top-1: every class sorted (left) and the ``worst`` classes by name (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def card_figures(ev: dict[str, Any]) -> str:
    """The markdown block of figures for MODEL_CARD.md."""
    f, p = ev["final"], ev["partial"]
    lines = [
        FIGURES_START,
        f"Measured by `python -m training.evaluate` on {ev['date']} over all {f['n']:,} drawings of",
        "`../shared/quickdraw/raw`, replayed through the live server (never used for training).",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| top-1 | {f['top1']:.3f} |",
        f"| top-3 | {f['top3']:.3f} |",
        f"| top-5 | {f['top5']:.3f} |",
        f"| MAP@3 | {f['map3']:.3f} |",
        f"| top-1 / top-3 after 1 stroke | {p['1']['top1']:.3f} / {p['1']['top3']:.3f} |",
        f"| top-1 / top-3 after 2 strokes | {p['2']['top1']:.3f} / {p['2']['top3']:.3f} |",
        f"| top-1 / top-3 after 3 strokes | {p['3']['top1']:.3f} / {p['3']['top3']:.3f} |",
        f"| model time, batch 1 (LiteRT, 1 thread), median / p99 | {ev['model_ms']['median']:.3f} / "
        f"{ev['model_ms']['p99']:.3f} ms |",
        f"| pen-up to guesses over loopback, {ev['concurrency']} sessions replaying at full speed "
        f"(client-measured), p50 / p99 | {ev['latency_ms']['p50']:.2f} / {ev['latency_ms']['p99']:.2f} ms |",
        f"| drawings rejected by the server | {ev['rejected']} |",
        "",
        "Worst classes (top-1): " + ", ".join(f"{w} {v:.2f}" for w, v in ev["worst_classes"]),
        "",
        "Best classes (top-1): " + ", ".join(f"{w} {v:.2f}" for w, v in ev["best_classes"]),
        "",
        "Most confused pairs (true -> guessed, count): "
        + ", ".join(f"{a} -> {b} ({n})" for a, b, n in ev["confused_pairs"]),
        "",
        "![per-class accuracy](per_class.png)",
        FIGURES_END,
    ]
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


async def evaluate(model_dir: Path, raw: Path, *, limit: int | None, concurrency: int) -> dict[str, Any]:
    labels = labels_of(raw)
    drawings = [d for p in sorted(raw.glob("*.ndjson*")) for d in open_ndjson(p)]
    if limit is not None:
        drawings = [drawings[i] for i in np.random.default_rng(0).permutation(len(drawings))[:limit]]
    server = DoodleServer(ServerConfig(port=0, model_dir=model_dir))
    await server.start()
    try:
        assert isinstance(server.model, Classifier)
        missing = sorted({str(d["word"]) for d in drawings} - set(server.model.labels))
        if missing:
            raise SystemExit(f"words not in the model's labels: {missing[:10]}")
        t0 = time.time()
        runs = await replay_all(f"ws://127.0.0.1:{server.port}/ws", drawings, concurrency=concurrency)
        took = time.time() - t0
        mtime = model_time_ms(server.model)
    finally:
        await server.close()
    truth = [str(d["word"]) for d in drawings]
    finals = [r["steps"][-1] if r["steps"] else [] for r in runs]
    partial = {}
    for k in (1, 2, 3):
        at_k = [r["steps"][min(k, len(r["steps"])) - 1] if r["steps"] else [] for r in runs]
        partial[str(k)] = final_metrics(truth, at_k)
    per_class_hits: dict[str, list[bool]] = {w: [] for w in labels}
    confused: Counter[tuple[str, str]] = Counter()
    for t, g in zip(truth, finals, strict=True):
        per_class_hits[t].append(bool(g) and g[0] == t)
        if g and g[0] != t:
            confused[(t, g[0])] += 1
    per_class = {w: float(np.mean(v)) for w, v in per_class_hits.items() if v}
    lat = [v for r in runs for v in r["latency_ms"]]
    ranked = sorted(per_class.items(), key=lambda kv: kv[1])
    return {
        "date": time.strftime("%Y-%m-%d"),
        "model": json.loads((model_dir / "model.json").read_text()).get("name"),
        "final": final_metrics(truth, finals),
        "partial": partial,
        "per_class": per_class,
        "worst_classes": [(w, round(v, 3)) for w, v in ranked[:10]],
        "best_classes": [(w, round(v, 3)) for w, v in ranked[-5:][::-1]],
        "confused_pairs": [(a, b, n) for (a, b), n in confused.most_common(12)],
        "model_ms": mtime,
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99)),
            "guesses": len(lat),
        },
        "rejected": sum(bool(r["errors"]) for r in runs),
        "concurrency": concurrency,
        "replay_seconds": round(took, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("models"), help="model folder")
    p.add_argument("--raw", type=Path, default=Path("../shared/quickdraw/raw"), help="raw/ drawings to replay")
    p.add_argument("--out", type=Path, default=None, help="where eval.json, per_class.png go (default: --model)")
    p.add_argument("--limit", type=int, default=None, help="evaluate a fixed random sample of this many drawings")
    p.add_argument("--concurrency", type=int, default=16, help="sessions replaying at once")
    p.add_argument("--no-card", action="store_true", help="do not rewrite MODEL_CARD.md")
    args = p.parse_args(argv)
    out: Path = args.out or args.model
    out.mkdir(parents=True, exist_ok=True)
    ev = asyncio.run(evaluate(args.model, args.raw, limit=args.limit, concurrency=args.concurrency))
    (out / "eval.json").write_text(json.dumps(ev, indent=1) + "\n", encoding="utf-8")
    per_class_plot(ev["per_class"], out / "per_class.png")
    if not args.no_card:
        update_card(out / "MODEL_CARD.md", card_figures(ev))
    f = ev["final"]
    print(
        f"top-1 {f['top1']:.3f}  top-3 {f['top3']:.3f}  top-5 {f['top5']:.3f}  MAP@3 {f['map3']:.3f}  "
        f"(n={f['n']}, rejected={ev['rejected']}, model {ev['model_ms']['median']:.3f} ms/call, "
        f"replay p50 {ev['latency_ms']['p50']:.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
