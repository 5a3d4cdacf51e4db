"""``python -m replay_client``: replay Quick, Draw! drawings through a server; print or evaluate.

Without ``--eval`` it prints each drawing's answers as they come; with ``--eval`` a
progress bar (on a terminal; written to a log or a pipe, one plain line per tenth of the
run instead, so logs are not flooded), then the metrics of :mod:`replay_client.metrics`; ``--report FILE`` writes
them as JSON.  Exit status: 0 when the run completed (rejected drawings are counted and
reported, not fatal), 1 for bad data or options, 2 when the server cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from tqdm import tqdm
from websockets.exceptions import InvalidHandshake, InvalidURI

from replay_client import metrics as replay_metrics
from replay_client.replay import AUTO_TARGET, RunOptions, open_player, replay_all, synthesise_times
from server.quickdraw import DataError, Drawing, hit, raw_dir, sample

DEFAULT_URL = "ws://127.0.0.1:8765/ws"
#: Progress lines written over a whole run when stderr is not a terminal.
PROGRESS_LINES = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m replay_client",
        description="Stream Quick, Draw! drawings point by point through a doodlestream server.",
    )
    p.add_argument(
        "data",
        nargs="*",
        type=Path,
        default=[raw_dir()],
        help=f"ndjson(.gz) files or folders (default {raw_dir()}, from $DOODLE_SHARED)",
    )
    p.add_argument("--url", default=DEFAULT_URL, help=f"server WebSocket URL (default {DEFAULT_URL})")
    p.add_argument("--speed", type=float, default=1.0, help="1 = recorded speed, 10 = ten times faster, 0 = no waiting")
    p.add_argument("--concurrency", type=int, default=1, help="simulated players, one connection each")
    p.add_argument("--limit", type=int, help="replay at most N drawings")
    p.add_argument("--per-word", type=int, help="take the first N drawings of each file (word)")
    p.add_argument("--seed", type=int, help="shuffle the selected drawings with this seed")
    p.add_argument("--batch-ms", type=float, default=0.0, help="group points within N ms of recorded time per message")
    p.add_argument("--live-ms", type=int, default=0, help="ask for live guesses every N ms while drawing (0: off)")
    p.add_argument(
        "--words",
        type=lambda v: [w.strip() for w in v.split(",") if w.strip()],
        help="protocol v1.1: rank only these comma-separated words (hello.words)",
    )
    p.add_argument(
        "--target",
        help=f"protocol v1.1: the target word of every drawing, or '{AUTO_TARGET}' for each drawing's own word;"
        " --eval then reports how often and how soon the server recognized it",
    )
    p.add_argument("--eval", action="store_true", help="progress bar, then accuracy and latency")
    p.add_argument("--report", type=Path, help="write the metrics as JSON to this file")
    args = p.parse_args(argv)
    if args.speed < 0 or args.concurrency < 1 or (args.limit is not None and args.limit < 1):
        p.error("--speed must be >= 0, --concurrency and --limit >= 1")
    if args.per_word is not None and args.per_word < 1:
        p.error("--per-word must be >= 1")
    return args


def classes_url(ws_url: str) -> str:
    """The server's ``/classes`` HTTP URL beside its WebSocket URL."""
    u = urlsplit(ws_url)
    return urlunsplit(("https" if u.scheme == "wss" else "http", u.netloc, "/classes", "", ""))


def fetch_classes(ws_url: str) -> list[str] | None:
    """The model's words from ``GET /classes``; ``None`` when the server does not say."""
    try:
        with urllib.request.urlopen(classes_url(ws_url), timeout=10) as r:
            classes = json.load(r).get("classes")
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return [str(w) for w in classes] if isinstance(classes, list) else None


class Progress:
    """Drawings done, on ``out``: a tqdm bar on a terminal, else a line at each tenth of ``total``."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.out = out
        self.done = 0
        self.bar = tqdm(total=total, unit="drawing", file=out) if out.isatty() else None

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.done * PROGRESS_LINES // self.total > (self.done - 1) * PROGRESS_LINES // self.total:
            print(f"replay_client: {self.done}/{self.total} drawings", file=self.out, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def pct(rate: dict[str, Any]) -> str:
    return "n/a" if rate["rate"] is None else f"{100 * rate['rate']:.1f}% ({rate['hits']}/{rate['n']})"


def print_result(i: int, total: int, r: replay_metrics.DrawingResult, out: TextIO) -> None:
    if r.final is None:
        mark, detail = "!", f"REJECTED: {'; '.join(r.errors) or 'fewer answers than strokes'}"
    else:
        mark = "✓" if hit(r.word, r.final, 1) else ("~" if hit(r.word, r.final, 5) else "✗")
        final = ", ".join(f"{w} {s:.2f}" for w, s in zip(r.final, r.scores, strict=False))
        steps = " > ".join(g[0] if g else "-" for g in r.guesses)
        lat = f"{max(r.latencies_ms):.1f}" if r.latencies_ms else "-"
        detail = f"{final}  | after each stroke: {steps}  | max {lat} ms"
    w = len(str(total))
    print(f"[{i + 1:>{w}}/{total}] {mark} {r.word} ({r.source}, {r.strokes} strokes): {detail}", file=out, flush=True)


def print_summary(rep: dict[str, Any], out: TextIO) -> None:
    rej = rep["rejected"]
    print(f"\n{rep['drawings']} drawings, {rep['strokes']} strokes, {rej['count']} rejected", file=out)
    for msg in rej["first"]:
        print(f"  rejected: {msg}", file=out)
    if rep["not_in_classes"] is None:
        print("  (the server did not list its classes: words were not checked)", file=out)
    elif rep["not_in_classes"]:
        print(f"  words not in the model's classes: {rep['not_in_classes']}", file=out)
    map3 = "n/a" if rep["map3"] is None else f"{rep['map3']:.3f}"
    print(f"top-1 {pct(rep['top1'])}  top-3 {pct(rep['top3'])}  top-5 {pct(rep['top5'])}  MAP@3 {map3}", file=out)
    bal = " ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in rep["balanced"].items())
    print(f"balanced (mean over words): {bal}", file=out)
    for key, title in (
        ("after_stroke", "after stroke k (drawings with >= k strokes)"),
        ("after_stroke_or_final", "after stroke k (shorter drawings: final answer)"),
    ):
        print(title + ":", file=out)
        for k, m in rep[key].items():
            print(f"  k={k}: top-1 {pct(m['top1'])}  top-3 {pct(m['top3'])}", file=out)
    rec = rep.get("recognized")
    if rec is not None:
        median = "n/a" if rec["median_s"] is None else f"{rec['median_s']:.1f} s"
        print(
            f"target recognized: {100 * rec['rate']:.1f}% ({rec['recognized']}/{rec['n']}), median {median} after"
            f" the first point, {100 * rec['within_round']:.1f}% within {rec['round_s']:g} s",
            file=out,
        )
    lat = rep["latency_ms"]
    if lat["n"]:
        print(
            f"latency pen-up -> guesses: p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms  p99 {lat['p99']:.1f} ms"
            f"  (n={lat['n']})",
            file=out,
        )
    print(f"{rep['elapsed_s']:.1f} s for {rep['recorded_s']:.1f} s of recorded drawing", file=out)


async def run(args: argparse.Namespace, drawings: list[Drawing]) -> int:
    opts = RunOptions(
        speed=args.speed,
        concurrency=args.concurrency,
        batch_ms=args.batch_ms,
        live_ms=args.live_ms,
        words=args.words,
        target=args.target,
    )
    try:
        probe, _ = await open_player(args.url, RunOptions(open_timeout_s=5.0))
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
        why = str(e) or type(e).__name__
        print(f"replay_client: cannot reach the server at {args.url}: {why}", file=sys.stderr)
        return 2
    model = str(probe.welcome.get("model", "?"))
    await probe.close()
    classes = await asyncio.get_running_loop().run_in_executor(None, fetch_classes, args.url)

    progress = Progress(len(drawings), sys.stderr) if args.eval else None
    done = 0

    def on_result(i: int, r: replay_metrics.DrawingResult) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress.update()
        else:
            print_result(done - 1, len(drawings), r, sys.stdout)

    started = time.perf_counter()
    results = await replay_all(args.url, drawings, opts, on_result)
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress.close()

    rep: dict[str, Any] = {
        "url": args.url,
        "model": model,
        "data": ", ".join(map(str, args.data)),
        "options": {
            "speed": args.speed,
            "concurrency": args.concurrency,
            "limit": args.limit,
            "per_word": args.per_word,
            "seed": args.seed,
            "batch_ms": args.batch_ms,
            "live_ms": args.live_ms,
            "words": args.words,
            "target": args.target,
        },
        "synthesised_times": sum(not d.timed for d in drawings),
        **replay_metrics.summarize(results, classes),
        "elapsed_s": elapsed,
        "recorded_s": sum(synthesise_times(d).duration_ms for d in drawings) / 1000.0,
    }
    if args.eval:
        print_summary(rep, sys.stdout)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(rep, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        drawings = sample(args.data, per_word=args.per_word, limit=args.limit, seed=args.seed)
    except (DataError, OSError) as e:
        print(f"replay_client: bad data: {e}", file=sys.stderr)
        return 1
    if not drawings:
        print(f"replay_client: no drawings in {', '.join(map(str, args.data))}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(run(args, drawings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
