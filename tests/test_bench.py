"""bench/: the metric helpers, drawing chunking and the baseline client's request (fast, no servers)."""

from __future__ import annotations

import base64
import json
import math
import os
import socket

import msgpack
import numpy as np
import pytest

from bench import drawings
from bench.__main__ import recommend
from bench.load import blank_browser_canvas, draw_browser_stroke, http_request, render_canvas
from bench.metrics import (
    cpu_seconds,
    load_summary,
    percentile,
    ratio,
    rss_kib,
    summarize,
    tcp_bytes_acked,
    ws_client_frame_bytes,
)
from server.render import render_image


def test_percentile_interpolates_and_handles_edges() -> None:
    """percentile matches numpy's linear interpolation; empty is NaN, one value is itself."""
    xs = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 10, 50, 90, 99, 100):
        assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))
    assert math.isnan(percentile([], 50)) and percentile([4.0], 99) == 4.0
    s = summarize([1.0, 2.0, 3.0])
    assert s["n"] == 3 and s["mean"] == 2.0 and s["p50"] == 2.0 and s["max"] == 3.0


def test_load_summary_counts_the_window_and_finds_the_worst_and_starved_sessions() -> None:
    """Only guesses completed inside the window count; the worst session p99 and starved sessions are found."""
    fast = [(t, 1.0) for t in np.arange(0.0, 10.0, 0.1)]
    slow = [(t, 40.0) for t in np.arange(0.0, 10.0, 1.0)]
    thinking = [(0.5, 3.0), (9.0, 3.0)]  # asked for nothing during the window: not starved
    stuck = [(0.5, 3.0), (8.0, 6500.0)]  # its pen-up at 1.5 s went unanswered through the window: starved
    out = load_summary([fast, slow, thinking, stuck], 2.0, 7.0)
    assert out["n"] == 50 + 5 and out["guesses_per_s"] == pytest.approx(55 / 5.0)
    assert out["worst_session_p99"] == 40.0 and out["sessions"] == 4
    assert out["starved_sessions"] == 1 and out["sessions_without_guess"] == 2


def test_ratio() -> None:
    """ratio says how many times smaller ours is, infinite for zero."""
    assert ratio(100.0, 4.0) == 25.0 and math.isinf(ratio(1.0, 0.0))


def test_frame_bytes_match_what_the_kernel_counts_on_a_real_socket() -> None:
    """tcp_bytes_acked counts exactly the bytes sent, and ws_client_frame_bytes the masked frame size."""
    assert ws_client_frame_bytes(10) == 16 and ws_client_frame_bytes(200) == 208
    assert ws_client_frame_bytes(70_000) == 70_014
    srv = socket.create_server(("127.0.0.1", 0))
    cli = socket.create_connection(srv.getsockname())
    peer, _ = srv.accept()
    try:
        before = tcp_bytes_acked(cli)
        payload = msgpack.packb({"type": "points", "x": [1, 2], "y": [3, 4], "t": [0, 16]})
        cli.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += peer.recv(4096)
        peer.sendall(b"ok")  # the reply carries the acknowledgement
        assert cli.recv(2) == b"ok"
        assert tcp_bytes_acked(cli) - before == len(payload)
    finally:
        for s in (cli, peer, srv):
            s.close()


def test_proc_readers_see_this_process() -> None:
    """rss_kib and cpu_seconds read plausible values for the test process itself."""
    assert 10_000 < rss_kib(os.getpid()) < 50_000_000
    assert cpu_seconds(os.getpid()) > 0


def test_chunk_stroke_groups_points_by_animation_frame() -> None:
    """Points drawn within one 16 ms frame travel together, in order, stamped with the last one's time."""
    chunks = drawings.chunk_stroke([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [0, 5, 16, 40, 47])
    assert [c.x for c in chunks] == [[1, 2], [3], [4, 5]]
    assert [c.at_ms for c in chunks] == [5, 16, 47]
    assert sum(len(c.t) for c in chunks) == 5


def test_load_is_deterministic_and_interleaves_words() -> None:
    """The same sample comes back every time, one word after another."""
    a, b = drawings.load(1, words=4), drawings.load(1, words=4)
    assert [d.drawing for d in a] == [d.drawing for d in b] and [d.chunks for d in a] == [d.chunks for d in b]
    assert len({d.word for d in a}) == 4 and all(d.duration_ms > 0 for d in a)


def test_baseline_request_carries_a_png_the_original_preprocessing_reads() -> None:
    """The baseline client's POST is valid HTTP with a base64 PNG that render_image turns into model input."""
    d = drawings.load(1, words=1)[0].drawing
    canvas = blank_browser_canvas(d)
    for s in d.strokes:
        draw_browser_stroke(canvas, s)
    req = http_request("127.0.0.1", 5000, render_canvas(canvas))
    head, body = req.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /predict HTTP/1.1") and f"Content-Length: {len(body)}".encode() in head
    png = base64.b64decode(json.loads(body)["image"].split(",", 1)[1])
    img = render_image(png)
    assert img.shape == (64, 64) and img.max() > 100


def test_recommend_prefers_throughput_among_low_latency_settings() -> None:
    """The pick is the fastest under load among settings whose one-session p50 is near the best."""
    sweep = [
        {"single_p50": 1.0, "guesses_per_s": 800.0},
        {"single_p50": 1.1, "guesses_per_s": 900.0},
        {"single_p50": 5.0, "guesses_per_s": 2000.0},
    ]
    assert recommend(sweep) is sweep[1]
    assert recommend([]) is None


@pytest.mark.slow
def test_adversarial_phase_measures_the_neighbour_and_reports_it() -> None:
    """The bench's adversarial phase, short, against real servers, for every kind of attack: neighbour figures,
    the victim's submits, attacker counts (taught examples refused past the address's allowance, HTTP
    statuses of the readers), a table with one row per attack."""
    from bench import __main__ as bench_main
    from bench import adversary, report

    profile = bench_main.Profile(**{**bench_main.QUICK.__dict__, "attack_s": 1.5})
    b = bench_main.Bench(profile, drawings.ROOT / "models")
    r = b.adversarial()
    assert list(r["attacks"]) == list(adversary.ATTACKS)
    for kind, a in r["attacks"].items():
        assert a["neighbour"]["n"] >= 5 and a["neighbour"]["max"] >= a["neighbour"]["p50"] > 0, kind
        assert a["attacker"]["messages"] >= 1 and b.latencies[f"adversarial {kind}: neighbour"], kind
        assert a["victim"]["saved"] + a["victim"]["failed"] >= 1, kind
    assert r["neighbour"] == r["attacks"]["costly"]["neighbour"]
    assert r["attacks"]["reader"]["attacker"]["planted"] == adversary.PLANTED
    assert sum(r["attacks"]["reader"]["attacker"]["http_status"].values()) >= 1
    table = "\n".join(report.adversarial_table(b.results))
    assert "neighbour pen-ups" in table and all(f"| {kind} |" in table for kind in adversary.ATTACKS)
    assert report.adversarial_table({}) == []  # results of runs before the phase existed still render


def tiny_bench():
    import dataclasses

    from bench.__main__ import QUICK, Bench
    from server.infer import DEFAULT_MODEL_DIR

    profile = dataclasses.replace(
        QUICK, ramp_s=0.5, capacity_players=(2, 3), capacity_s=3.0, cluster_players=3, cluster_s=3.0
    )
    return Bench(profile, DEFAULT_MODEL_DIR)


@pytest.mark.slow
def test_the_capacity_phase_runs_tiny_and_reports_players_per_core() -> None:
    """bench capacity, tiny: human-pace lobbies of 2 and 3 players on --workers 2, each row with its p99,
    server cores and players per core, the best passing lobby reported, and its table rendered."""
    from bench import report

    bench = tiny_bench()
    cap = bench.capacity()
    assert [r["players"] for r in cap["rows"]] == [2, 3][: len(cap["rows"])]
    assert all(r["guesses_total"] > 0 and r["server_cores"] >= 0 for r in cap["rows"])
    assert cap["players"] == max((r["players"] for r in cap["rows"] if r["ok"]), default=0)
    assert "players/core" in "\n".join(report.capacity_table(bench.results))


@pytest.mark.cluster
@pytest.mark.postgres
@pytest.mark.slow
def test_the_cluster_phase_runs_tiny_through_haproxy_and_postgresql() -> None:
    """bench cluster, tiny: 3 human-pace players through HAProxy to 2 instances sharing PostgreSQL; guesses
    arrive, drawings are stored and PostgreSQL's work per drawing is measured."""
    from bench import report

    bench = tiny_bench()
    c = bench.cluster()
    assert c["instances"] == 2 and c["failed"] == 0 and c["guesses_total"] > 0
    assert c["drawings_stored"] >= 1 and c["per_drawing"]["transactions"] >= 1 and c["per_drawing"]["wal_bytes"] > 0
    assert set(c["cores"]) == {"instances", "postgres", "haproxy"}  # tiny loads may round to 0 clock ticks
    assert "WAL bytes/drawing" in "\n".join(report.cluster_table(bench.results))
