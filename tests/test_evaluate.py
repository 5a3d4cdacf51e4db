"""training/evaluate.py: metric arithmetic, card rewriting and a small live evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MODEL_DIR, RAW
from training.evaluate import FIGURES_END, FIGURES_START, final_metrics, main, update_card


def test_final_metrics_on_hand_made_guesses() -> None:
    """top-k and MAP@3 match values worked out by hand."""
    truth = ["cat", "dog", "sun", "car"]
    tops = [
        ["cat", "dog", "sun", "a", "b"],  # rank 1
        ["cat", "dog", "sun", "a", "b"],  # rank 2
        ["a", "b", "c", "d", "sun"],  # rank 5
        [],  # rejected drawing: a miss
    ]
    m = final_metrics(truth, tops)
    assert m["top1"] == 0.25 and m["top3"] == 0.5 and m["top5"] == 0.75
    assert m["map3"] == pytest.approx((1 + 0.5) / 4) and m["n"] == 4


def test_update_card_replaces_only_the_figures_block(tmp_path: Path) -> None:
    """The block between the markers is replaced; text around it is kept."""
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(f"# Card\nintro\n{FIGURES_START}\nold\n{FIGURES_END}\nlimits\n")
    update_card(card, f"{FIGURES_START}\nnew\n{FIGURES_END}")
    text = card.read_text()
    assert "new" in text and "old" not in text and text.startswith("# Card\nintro") and text.endswith("limits\n")


def test_evaluate_command_replays_through_the_server_and_writes_figures(tmp_path: Path) -> None:
    """A 60-drawing evaluation writes eval.json (consistent counts), the plot and a card block."""
    assert main(["--model", str(MODEL_DIR), "--raw", str(RAW), "--out", str(tmp_path), "--limit", "60"]) == 0
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert ev["final"]["n"] == 60 and ev["rejected"] == 0
    assert ev["final"]["top1"] <= ev["final"]["top3"] <= ev["final"]["top5"]
    assert ev["partial"]["1"]["n"] == 60 and ev["latency_ms"]["guesses"] >= 60
    assert ev["model_ms"]["median"] > 0 and (tmp_path / "per_class.png").stat().st_size > 10_000
    assert FIGURES_START in (tmp_path / "MODEL_CARD.md").read_text()
