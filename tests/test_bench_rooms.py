"""The benchmark's rooms phase (bench/rooms.py) runs end to end, small, and writes its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_rooms_phase_measures_latency_and_cpu_per_room(tmp_path: Path) -> None:
    """``python -m bench.rooms --quick``: every room plays, guessers receive the drawers' points, figures written."""
    out = tmp_path / "rooms.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.rooms", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["rooms"] == 4 and result["rooms_failed"] == 0, result.get("failures")
    assert result["latency_ms"]["n"] > 100 and result["latency_ms"]["p50"] > 0
    assert result["server_cpu_per_room"] > 0 and result["rooms_per_core"] > 0
    assert result["ai_per_s"] > 0
    assert "drawer point -> guesser" in run.stdout
