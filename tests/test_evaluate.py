"""training/evaluate.py: metric arithmetic, card rewriting and a small live evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server import quickdraw
from tests.conftest import MODEL_DIR, RAW
from training.calibrate import is_calibration
from training.evaluate import (
    FIGURES_END,
    FIGURES_START,
    Replay,
    calibration_figures,
    main,
    partial_figures,
    update_card,
)


def test_partial_figures_count_rejected_drawings_as_misses_from_the_failing_stroke() -> None:
    """After k strokes: a drawing rejected at stroke j is a miss from j on; shorter drawings count with their final
    answer in or_final and are left out of at_least."""
    stroke = quickdraw.Stroke((0.0, 1.0), (0.0, 1.0))
    drawings = [
        quickdraw.Drawing("cat", (stroke, stroke, stroke)),
        quickdraw.Drawing("dog", (stroke,)),
        quickdraw.Drawing("sun", (stroke, stroke)),
    ]
    runs = [
        Replay(words=[["dog"], ["cat"], ["cat"]], scores=[[0.5], [0.6], [0.9]]),
        Replay(words=[["dog"]], scores=[[0.8]]),
        Replay(words=[["sun"]], scores=[[0.7]], error="bad_image: x"),  # rejected at stroke 2
    ]
    p = partial_figures(drawings, runs)
    assert p["1"]["or_final"]["top1"] == pytest.approx(2 / 3)
    assert p["2"]["or_final"]["top1"] == pytest.approx(2 / 3)  # cat yes, dog (final) yes, sun rejected
    assert p["2"]["at_least"]["n"] == 2 and p["2"]["at_least"]["top1"] == 0.5
    assert p["3"]["at_least"]["n"] == 1 and p["3"]["at_least"]["top1"] == 1.0


def test_calibration_figures_use_only_the_held_out_half() -> None:
    """ECE is computed over drawings the calibration did not fit on, every pen-up and finals."""
    stroke = quickdraw.Stroke((0.0, 1.0), (0.0, 1.0))
    keys = [str(6_000_000_000_000 + i) for i in range(400)]
    drawings = [quickdraw.Drawing("cat", (stroke, stroke), key_id=k) for k in keys]
    runs = [Replay(words=[["dog"], ["cat"]], scores=[[0.3], [0.99]]) for _ in keys]
    cal = calibration_figures(drawings, runs)
    held_out = sum(not is_calibration(k) for k in keys)
    assert cal["held_out_drawings"] == held_out and cal["states"]["n"] == 2 * held_out
    assert cal["final"]["ece"] == pytest.approx(0.01) and cal["states"]["ece"] == pytest.approx((0.3 + 0.01) / 2)
    assert cal["threshold_95"] == 0.99


def test_update_card_replaces_only_the_figures_block(tmp_path: Path) -> None:
    """The block between the markers is replaced; text around it is kept."""
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(f"# Card\nintro\n{FIGURES_START}\nold\n{FIGURES_END}\nlimits\n")
    update_card(card, f"{FIGURES_START}\nnew\n{FIGURES_END}")
    text = card.read_text()
    assert "new" in text and "old" not in text and text.startswith("# Card\nintro") and text.endswith("limits\n")


@pytest.mark.slow
def test_evaluate_command_replays_through_the_server_and_writes_figures(tmp_path: Path) -> None:
    """A 60-drawing evaluation writes eval.json (consistent counts), the plot and a card block."""
    assert main(["--model", str(MODEL_DIR), "--raw", str(RAW), "--out", str(tmp_path), "--limit", "60"]) == 0
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert ev["final"]["n"] == 60 and ev["final"]["rejected"] == 0 and not ev["errors"]
    assert ev["final"]["top1"] <= ev["final"]["top3"] <= ev["final"]["top5"]
    assert 0.3 < ev["final"]["balanced"]["top5"] <= 1
    assert ev["partial"]["1"]["or_final"]["n"] == 60 and ev["latency_ms"]["guesses"] >= 60
    assert ev["partial"]["1"]["or_final"]["top1"] <= ev["partial"]["5"]["or_final"]["top1"] + 0.2
    assert 0 < ev["calibration"]["held_out_drawings"] < 60 and 0 <= ev["calibration"]["states"]["ece"] < 0.5
    assert ev["model_ms"]["median"] > 0 and ev["solo_latency_ms"]["guesses"] > 0
    for picture in ("per_class.png", "reliability.png"):
        assert (tmp_path / picture).stat().st_size > 10_000
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert FIGURES_START in card and "| top-1 | " in card and "balanced" in card
