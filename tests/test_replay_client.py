"""The replay CLI (replay_client/): metrics on hand-made cases, data reading, live runs against real servers."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from replay_client import metrics as replay_metrics
from replay_client.__main__ import PROGRESS_LINES, Progress
from replay_client.replay import SYNTH_PEN_UNITS_PER_MS, SYNTH_PEN_UP_MS, synthesise_times
from server.quickdraw import Rate, parse_line, read, sample
from tests.conftest import RAW, ROOT, ServerProcess

# ------------------------------------------------------------------ metrics


def R(
    word: str, strokes: int, guesses: list[list[str]], errors: list[str] | None = None
) -> replay_metrics.DrawingResult:
    return replay_metrics.DrawingResult(word=word, strokes=strokes, guesses=guesses, errors=errors or [], source=word)


CASES = [
    # cat: 3 strokes, found at rank 2 after stroke 2 and rank 1 at the end
    R("cat", 3, [["dog", "a", "b", "c", "d"], ["dog", "cat", "b", "c", "d"], ["cat", "dog", "b", "c", "d"]]),
    # dog: 1 stroke, rank 3
    R("dog", 1, [["a", "b", "dog", "c", "d"]]),
    # sun: rejected on its second stroke (its first answer had it at rank 1: still a miss)
    R("sun", 2, [["sun", "a", "b", "c", "d"]], ["pen-up 2: too_many_points: at most 2048"]),
    # car: 4 strokes, rank 1 after stroke 1, rank 5 at the end
    R(
        "car",
        4,
        [
            ["car", "a", "b", "c", "d"],
            ["a", "b", "c", "d", "e"],
            ["a", "b", "c", "d", "e"],
            ["a", "b", "c", "d", "car"],
        ],
    ),
]


def test_top_k_and_map3_on_hand_made_results() -> None:
    """top-1/3/5 and MAP@3 of four hand-made drawings (one rejected) have the exact expected values."""
    assert replay_metrics.final_top_k(CASES, 1) == Rate(1, 4)
    assert replay_metrics.final_top_k(CASES, 3) == Rate(2, 4)
    assert replay_metrics.final_top_k(CASES, 5) == Rate(3, 4)
    assert replay_metrics.final_map_at_3(CASES) == pytest.approx((1 + 1 / 3) / 4)
    assert replay_metrics.final_map_at_3([]) is None and replay_metrics.final_top_k([], 1).value is None


def test_after_stroke_k_both_variants() -> None:
    """Accuracy after stroke k: over drawings with >= k strokes, and over all with the final answer for shorter ones."""
    assert (replay_metrics.after_stroke(CASES, 1, 1), replay_metrics.after_stroke(CASES, 1, 3)) == (
        Rate(1, 4),
        Rate(2, 4),
    )
    assert (replay_metrics.after_stroke(CASES, 2, 1), replay_metrics.after_stroke(CASES, 2, 3)) == (
        Rate(0, 3),
        Rate(1, 3),
    )
    assert (replay_metrics.after_stroke(CASES, 3, 1), replay_metrics.after_stroke(CASES, 3, 3)) == (
        Rate(1, 2),
        Rate(1, 2),
    )
    assert replay_metrics.after_stroke_or_final(CASES, 2, 1) == Rate(0, 4)
    assert replay_metrics.after_stroke_or_final(CASES, 2, 3) == Rate(2, 4)  # cat at rank 2, dog (1 stroke) final rank 3
    assert replay_metrics.after_stroke_or_final(CASES, 3, 1) == Rate(1, 4)
    assert replay_metrics.after_stroke_or_final(CASES, 3, 3) == Rate(2, 4)


def test_rejected_drawings_are_misses_and_fewer_answers_than_strokes_is_a_rejection() -> None:
    """A drawing with an error, or with fewer answers than strokes, has no final answer."""
    assert CASES[2].rejected and CASES[2].final is None and CASES[2].answer_after(1) is None
    short = R("cat", 2, [["cat", "a", "b", "c", "d"]])
    assert short.rejected and replay_metrics.final_top_k([short], 5) == Rate(0, 1)
    assert not CASES[0].rejected and CASES[0].answer_after(2)[1] == "cat"


def test_percentiles_interpolate_linearly() -> None:
    """p50/p95/p99 of [1, 2, 3, 4, 100] are 3, 80.8 and 96.16; none for no values."""
    p = replay_metrics.percentiles([4, 100, 1, 3, 2])
    assert p == {"p50": pytest.approx(3.0), "p95": pytest.approx(80.8), "p99": pytest.approx(96.16)}
    assert replay_metrics.percentiles([]) == {"p50": None, "p95": None, "p99": None}


def test_summary_counts_rejections_and_unknown_words() -> None:
    """The summary counts every drawing, lists rejection messages and words the model does not know."""
    rep = replay_metrics.summarize(CASES, classes=["cat", "dog", "car"])
    assert rep["drawings"] == 4 and rep["answered"] == 3 and rep["strokes"] == 10
    assert rep["rejected"]["count"] == 1 and "too_many_points" in rep["rejected"]["first"][0]
    assert rep["not_in_classes"] == {"sun": 1}
    assert rep["top5"] == {"rate": 0.75, "hits": 3, "n": 4}
    # balanced: cat 1, dog 1, sun 0 (rejected), car 1 -> top-5 averaged over 4 words
    assert rep["balanced"]["top5"] == pytest.approx(0.75) and rep["balanced"]["top1"] == pytest.approx(0.25)
    assert replay_metrics.summarize(CASES)["not_in_classes"] is None


# ------------------------------------------------------------------ timing and progress


def test_simplified_drawings_get_synthesised_times() -> None:
    """Without t, the pen moves at SYNTH_PEN_UNITS_PER_MS and rests SYNTH_PEN_UP_MS between strokes."""
    d = synthesise_times(parse_line('{"word": "line", "drawing": [[[0, 255], [0, 0]], [[0, 0, 0], [0, 100, 255]]]}'))
    one = round(255 / SYNTH_PEN_UNITS_PER_MS)
    assert d.timed and d.strokes[0].t == (0, one)
    assert d.strokes[1].t == (
        one + SYNTH_PEN_UP_MS,
        round(one + SYNTH_PEN_UP_MS + 100 / SYNTH_PEN_UNITS_PER_MS),
        2 * one + SYNTH_PEN_UP_MS,
    )
    assert d.duration_ms == 2 * one + SYNTH_PEN_UP_MS
    assert synthesise_times(parse_line('{"word": "dot", "drawing": [[[5], [5]]]}')).strokes[0].t == (0,)
    timed = parse_line('{"word": "a", "drawing": [[[0, 9], [0, 9], [3, 70]]]}')
    assert synthesise_times(timed) is timed


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_ten_lines_in_a_log() -> None:
    """Not a terminal: one plain line per tenth of the run, no carriage returns; a terminal gets tqdm's bar."""
    log = io.StringIO()
    p = Progress(1234, log)
    for _ in range(1234):
        p.update()
    p.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == PROGRESS_LINES and "\r" not in log.getvalue() and lines[-1].endswith("1234/1234 drawings")
    tty = Terminal()
    p = Progress(3, tty)
    for _ in range(3):
        p.update()
    p.close()
    assert "\r" in tty.getvalue() and "3/3" in tty.getvalue()


# ------------------------------------------------------------------ live runs


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replay_client", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_eval_report_over_real_drawings_adds_up(server: ServerProcess, tmp_path: Path) -> None:
    """--eval --report over 60 real drawings at speed 0: every drawing answered, counts and latencies add up."""
    report = tmp_path / "report.json"
    args = ["--url", server.url, "--speed", "0", "--per-word", "1", "--limit", "60", "--concurrency", "4"]
    res = cli(str(RAW), *args, "--eval", "--report", str(report))
    assert res.returncode == 0, res.stderr
    assert "top-1" in res.stdout and "p95" in res.stdout
    assert "\r" not in res.stderr and res.stderr.count("drawings") == PROGRESS_LINES  # piped: no bar flooding the log
    rep = json.loads(report.read_text())
    drawings = sample(RAW, per_word=1, limit=60)
    assert rep["drawings"] == 60 and rep["strokes"] == sum(len(d.strokes) for d in drawings)
    assert rep["answered"] + rep["rejected"]["count"] == 60 and rep["rejected"]["count"] == 0
    assert rep["not_in_classes"] == {}
    assert rep["latency_ms"]["n"] == rep["strokes"]
    assert 0 < rep["latency_ms"]["p50"] <= rep["latency_ms"]["p95"] <= rep["latency_ms"]["p99"]
    hits = [rep[k]["hits"] for k in ("top1", "top3", "top5")]
    assert hits == sorted(hits) and all(rep[k]["n"] == 60 for k in ("top1", "top3", "top5"))
    assert rep["map3"] is not None and hits[0] / 60 <= rep["map3"] <= hits[1] / 60
    for k in ("1", "2", "3"):
        assert rep["after_stroke"][k]["top1"]["n"] == sum(len(d.strokes) >= int(k) for d in drawings)
        assert rep["after_stroke_or_final"][k]["top3"]["n"] == 60
    assert rep["options"]["concurrency"] == 4 and rep["synthesised_times"] == 0


def test_rejected_drawings_and_unknown_words_are_counted_and_reported(tmp_path: Path) -> None:
    """A drawing the server rejects is a reported miss; a word the model lacks is listed; the rest still runs."""
    data = tmp_path / "mixed.ndjson"
    rows = [
        {"word": "cat", "drawing": [[[0, 50, 100], [0, 80, 20], [0, 20, 40]]]},
        {"word": "cat", "drawing": [[list(range(40)), [0] * 40, list(range(40))]]},  # too long for this server
        {"word": "zebracorn", "drawing": [[[0, 50, 100], [0, 80, 20], [0, 20, 40]]]},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    srv = ServerProcess("--max-points-per-stroke", "30")
    try:
        res = cli(str(data), "--url", srv.url, "--speed", "0", "--report", str(tmp_path / "r.json"))
    finally:
        srv.stop()
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3 and sum("REJECTED" in ln and "stroke_too_long" in ln for ln in lines) == 1
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["drawings"] == 3 and rep["answered"] == 2 and rep["rejected"]["count"] == 1
    assert "stroke_too_long" in rep["rejected"]["first"][0] and "mixed.ndjson#2" in rep["rejected"]["first"][0]
    assert rep["not_in_classes"] == {"zebracorn": 1}
    assert rep["top5"]["n"] == 3 and rep["latency_ms"]["n"] == 3  # the rejected drawing's pen-up was answered too


def short_raw_drawing(lo_ms: int = 800, hi_ms: int = 1600) -> str:
    """A real raw line whose recorded duration is between lo_ms and hi_ms."""
    for d in read(RAW):
        if lo_ms <= d.duration_ms <= hi_ms:
            return json.dumps(d.to_json())
    raise AssertionError("no short raw drawing found")


@pytest.mark.serial
def test_speed_1_respects_recorded_timing_and_speed_10_is_faster(server: ServerProcess, tmp_path: Path) -> None:
    """--speed 1 takes at least the recorded duration of a real drawing; --speed 10 about a tenth of it."""
    path = tmp_path / "short.ndjson"
    path.write_text(short_raw_drawing())
    (d,) = read(path)
    timings = {}
    for speed in ("1", "10"):
        out = tmp_path / f"speed{speed}.json"
        res = cli(str(path), "--url", server.url, "--speed", speed, "--report", str(out))
        assert res.returncode == 0, res.stderr
        rep = json.loads(out.read_text())
        assert rep["recorded_s"] == pytest.approx(d.duration_ms / 1000) and rep["answered"] == 1
        timings[speed] = rep["elapsed_s"]
    recorded = d.duration_ms / 1000
    assert recorded * 0.98 <= timings["1"] < recorded + 2.0
    assert recorded / 10 * 0.98 <= timings["10"] < recorded * 0.6


def test_unreachable_server_exits_non_zero_with_a_clear_message() -> None:
    """No server on the port: exit status 2 and a message naming the URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/ws"
    res = cli(str(RAW / "cat.ndjson"), "--url", url, "--limit", "1", timeout=30)
    assert res.returncode == 2
    assert f"cannot reach the server at {url}" in res.stderr


def test_recognized_figures_count_every_targeted_drawing() -> None:
    """metrics.recognized: the rate and the within-20-s share count every drawing with a target; the median only
    the recognized ones; no target, no figure."""
    from replay_client.metrics import DrawingResult, recognized

    rs = [
        DrawingResult("cat", 1, guesses=[["cat"]], target="cat", recognized_ms=ms) for ms in (1000, 3000, 25000, None)
    ]
    fig = recognized(rs)
    assert fig is not None and fig["n"] == 4 and fig["recognized"] == 3 and fig["rate"] == 0.75
    assert fig["median_s"] == 3.0 and fig["within_round"] == 0.5
    assert recognized([DrawingResult("cat", 1)]) is None
