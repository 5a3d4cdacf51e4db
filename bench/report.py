"""Renders benchmark results: the markdown tables and the latency figure.

:func:`markdown` turns ``results.json`` into ``results.md`` (the same tables go into
the README's "Performance" section: ``python -m bench.report [--targets]`` prints them);
:func:`plot` draws ``latency.png`` from a run's latency samples.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _f(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *(_row(r) for r in rows)]


def targets_table(results: dict[str, Any]) -> list[str]:
    """Target | measured | met, one row per target of the issue."""
    rows = [
        [t["name"], t["target"], _f(t["value"], t.get("digits", 1)) + " " + t["unit"], _f(t["met"])]
        for t in results["targets"]
    ]
    return _table(["target", "goal", "measured", "met"], rows)


def scenarios_table(results: dict[str, Any]) -> list[str]:
    """One row per load scenario: players, pace, guesses/s, latency percentiles, fairness, CPU."""
    rows = []
    for name, r in results["scenarios"].items():
        rows.append(
            [
                name,
                _f(r["spec"]["players"]),
                r["spec"]["pace"],
                _f(r["guesses_per_s"], 0),
                _f(r["p50"], 2),
                _f(r["p99"], 2),
                _f(r["worst_session_p99"], 2),
                _f(r["starved_sessions"]),
                _f(r["errors"] + r.get("failed_count", 0)),
                _f(r.get("server_cpu_ms_per_guess"), 2),
                _f(r.get("client_cpu_ms_per_guess"), 2),
            ]
        )
    head = ["scenario", "players", "pace", "guesses/s", "p50 ms", "p99 ms", "worst session p99 ms", "starved"]
    head += ["errors", "server CPU ms/guess", "client CPU ms/guess"]
    return _table(head, rows)


def sweep_table(results: dict[str, Any]) -> list[str]:
    """The micro-batching sweep: light-load latency and full-speed throughput per setting."""
    rows = []
    for r in results["sweep"]:
        rows.append(
            [
                _f(r["max_batch"]),
                _f(r["batch_wait_ms"]),
                _f(r["model_threads"]),
                _f(r["single_p50"], 2),
                _f(r["single_p99"], 2),
                _f(r["guesses_per_s"], 0),
                _f(r["p50"], 2),
                _f(r["p99"], 2),
                _f(r["mean_batch"], 1),
                "**chosen**" if r.get("recommended") else "",
            ]
        )
    head = ["max_batch", "batch_wait_ms", "model threads", "1 session p50", "1 session p99"]
    head += ["loaded guesses/s", "loaded p50", "loaded p99", "mean batch", ""]
    return _table(head, rows)


def memory_table(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            "on" if m["compression"] else "off",
            _f(m["sessions"]),
            _f(m["rss_before_kib"] / 1024, 1),
            _f(m["rss_after_kib"] / 1024, 1),
            _f(m["kb_per_session"], 1),
            _f(m["bytes_per_guess"], 0),
            _f(m["single_p50"], 2),
        ]
        for m in results["memory"]
    ]
    head = ["compression", "idle sessions", "RSS before MiB", "RSS after MiB", "KB/session", "bytes/guess", "p50 ms"]
    return _table(head, rows)


def adversarial_table(results: dict[str, Any]) -> list[str]:
    """The neighbour's pen-up latency and submits while another client attacks, one row per kind of attack."""
    adv = results.get("adversarial")
    if not adv:
        return []
    attacks = adv.get("attacks") or {"costly": adv}  # results of runs before the other kinds existed
    rows = []
    for kind, r in attacks.items():
        n, a, v = r["neighbour"], r["attacker"], r.get("victim", {})
        refused = {**a.get("errors", {}), **{f"HTTP {k}": c for k, c in a.get("http_status", {}).items()}}
        errors = ", ".join(f"{k} {c}" for k, c in sorted(refused.items())) or "none"
        submits = f"{v['saved']} saved, {v['failed']} failed" if v else "-"
        latency = [_f(n["n"]), _f(n["p50"], 2), _f(n["p99"], 2), _f(n["max"], 2)]
        rows.append([kind, _f(r["seconds"]), *latency, submits, _f(a["messages"]), errors])
    head = ["attack", "seconds", "neighbour pen-ups", "p50 ms", "p99 ms", "max ms", "neighbour submits"]
    return [
        "Adversarial: a neighbour's pen-up latency and submits while another client attacks (`bench/adversary.py`): "
        "`costly` sends 8,192-point zigzags, live guesses, undo after each, 4 MP images; `teach` is 8 sessions of "
        "one address sending the costliest legal teach in a loop; `reader` plants 40 drawings of 150 KB, then 4 "
        "anonymous loops read `/api/doodles?limit=200`, `/gallery?limit=200` and thumbnails:",
        "",
        *_table([*head, "attacker messages", "attacker answers (refused)"], rows),
        "",
    ]


def capacity_table(results: dict[str, Any]) -> list[str]:
    """The human-pace lobbies of the capacity phase, up to the first past the target."""
    cap = results.get("capacity")
    if not cap:
        return []
    rows = [
        [
            _f(r["players"]),
            _f(r["p50"], 2),
            _f(r["p99"], 1),
            _f(r["worst_session_p99"], 1),
            _f(r["guesses_per_s"], 0),
            _f(r["server_cores"], 2),
            _f(r["server_cpu_ms_per_guess"], 2),
            _f(r["players_per_core"], 0),
            _f(r["starved_sessions"] + r["failed"]),
            _f(bool(r["ok"])),
        ]
        for r in cap["rows"]
    ]
    head = ["players", "p50 ms", "p99 ms", "worst session p99", "guesses/s", "server cores", "CPU ms/guess"]
    head += ["players/core", "starved+failed", "p99 <= 50 ms"]
    limit = "" if cap.get("limit_found") else " (the limit was not reached: the last lobby still met the target)"
    return [
        f"Capacity: human-pace lobbies on `--workers {cap['workers']}`, growing until p99 > 50 ms: "
        f"**{_f(cap['players'])} players** at p99 <= 50 ms, {_f(cap['players_per_core'], 0)} per core of "
        f"server CPU{limit}:",
        "",
        *_table(head, rows),
        "",
    ]


def cluster_table(results: dict[str, Any]) -> list[str]:
    """The cluster phase: a human-pace lobby through HAProxy to instances sharing PostgreSQL."""
    c = results.get("cluster")
    if not c:
        return []
    per, cores = c["per_drawing"], c["cores"]
    row = [
        _f(c["instances"]),
        _f(c["players"]),
        _f(c["p50"], 2),
        _f(c["p99"], 1),
        _f(c["guesses_per_s"], 0),
        _f(cores["instances"], 2),
        _f(cores["postgres"], 2),
        _f(cores["haproxy"], 2),
        _f(c["drawings_per_s"], 1),
        _f(per["transactions"], 1),
        _f(per["wal_bytes"], 0),
        _f(per["db_bytes"], 0),
    ]
    head = ["instances", "players", "p50 ms", "p99 ms", "guesses/s", "instances' cores", "PostgreSQL cores"]
    head += ["HAProxy cores", "drawings/s", "transactions/drawing", "WAL bytes/drawing", "DB bytes/drawing"]
    return [
        "Cluster: PostgreSQL, instances sharing it and HAProxy (`deploy/haproxy.cfg`) on loopback, a human-pace "
        "lobby through the balancer:",
        "",
        *_table(head, [row]),
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    """All tables of a run as markdown (``results.md`` and the README's figures)."""
    m = results["machine"]
    out = [
        f"Run {results['started']} ({results['mode']} mode) on {m['cpus']} CPUs ({m['cpu']}), loopback, "
        f"model `{results['model']}`; {results['drawings']} real drawings; total {results['seconds']:.0f} s.",
        "",
        *targets_table(results),
        "",
        "Latency is client-measured from sending `pen_up` (or the POST) to receiving the guesses.",
        "",
        *scenarios_table(results),
        "",
        "Micro-batching (full-speed load of "
        f"{results['sweep'][0]['players'] if results['sweep'] else '-'} players, one worker):",
        "",
        *sweep_table(results),
        "",
        *memory_table(results),
        "",
        *adversarial_table(results),
        *capacity_table(results),
        *cluster_table(results),
    ]
    split = results.get("client_split")
    if split:
        one, two = split["one_process"], split["two_processes"]
        out += [
            f"Load generator: {split['players']} full-speed players from one client process made "
            f"{_f(one['guesses_per_s'], 0)} guesses/s (client CPU {_f(one['client_cpu_s'])} s, server "
            f"{_f(one['server_cpu_s'])} s); from two, {_f(two['guesses_per_s'], 0)} guesses/s (client "
            f"{_f(two['client_cpu_s'])} s, server {_f(two['server_cpu_s'])} s). Every other run uses "
            f"{results['profile']['client_processes']} client processes.",
            "",
        ]
    return "\n".join(out)


def plot(results: dict[str, Any], latencies: dict[str, list[float]], path: Path) -> None:
    """Latency CDFs per scenario (log scale) beside the micro-batching sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5))
    for name, lat in latencies.items():
        if not lat:
            continue
        xs = sorted(max(v, 1e-3) for v in lat)
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        p50 = xs[len(xs) // 2]  # the phases outside results["scenarios"] (adversarial) have latencies too
        ax.plot(xs, ys, label=f"{name} (p50 {p50:.1f} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("pen-up to guesses, ms (log)")
    ax.set_ylabel("share of guesses")
    ax.set_title("Latency CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    for r in results["sweep"]:
        label = f"b{r['max_batch']} w{r['batch_wait_ms']:g} t{r['model_threads']}"
        bx.scatter(r["guesses_per_s"], r["p99"], color="C3" if r.get("recommended") else "C0")
        bx.annotate(label, (r["guesses_per_s"], r["p99"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    bx.set_xlabel("guesses per second (full-speed load)")
    bx.set_ylabel("p99 latency, ms")
    bx.set_title("Micro-batching settings")
    bx.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report", description="Print results.json as markdown tables.")
    p.add_argument("results", nargs="?", type=Path, default=HERE / "results.json")
    p.add_argument("--targets", action="store_true", help="only the targets table (for the README)")
    args = p.parse_args(argv)
    results = json.loads(args.results.read_text())
    print("\n".join(targets_table(results)) if args.targets else markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
