"""training/recognize_rules.py and the rule it chose (issue 26): the candidate rules, the command's table,
and real raw drawings of the play mode's words replayed through a live server with pen-up guesses only,
recognized by the default rule when the target is their word and almost never when it is another word."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import numpy as np
import pytest

from replay_client.metrics import ROUND_S, DrawingResult
from replay_client.replay import RunOptions, open_player, play
from server import quickdraw
from server.ranking import DEFAULT_RULE, RULES, Ranking, recognizes
from tests.conftest import MODEL_DIR, RAW, ServerProcess
from training.calibrate import is_calibration
from training.recognize_rules import (
    States,
    game_words,
    held_rule,
    main,
    moments,
    per_word_thresholds,
    score_rule,
    top1_rule,
)

#: Drawings replayed (one per word, from the held-out half), fixed seed: about 10 s of replay.
SAMPLE = 120
SEED = 26
#: The issue's bars: recognized for at least this share with their own word as target, at most this
#: share with a random other word (measured on the whole held-out set: 88% and 0.35%, see the model card).
MIN_WIN = 0.80
MAX_FALSE = 0.02
#: Sessions replaying at once.
PLAYERS = 4


def sample() -> list[quickdraw.Drawing]:
    """One held-out raw drawing of each of ``SAMPLE`` game words chosen with a fixed seed."""
    words = random.Random(SEED).sample(game_words(), SAMPLE)
    out = []
    for w in words:
        held_out = [d for d in quickdraw.read_file(RAW / f"{w}.ndjson", limit=20) if not is_calibration(d.key_id)]
        out.append(held_out[0])
    return out


async def replay(url: str, drawings: list[quickdraw.Drawing], targets: list[str]) -> list[DrawingResult]:
    """Each drawing with its target through ``url`` at full speed, pen-up guesses only (no live guesses)."""
    queue = list(range(len(drawings)))
    results: list[DrawingResult | None] = [None] * len(drawings)

    async def player() -> None:
        client, pacer = await open_player(url, RunOptions())
        try:
            while queue:
                i = queue.pop()
                results[i] = await play(client, pacer, drawings[i], speed=0, batch_ms=0, target=targets[i])
        finally:
            await client.close()

    await asyncio.gather(*(player() for _ in range(PLAYERS)))
    return [r for r in results if r is not None]


def won(r: DrawingResult) -> bool:
    assert not r.rejected, r.errors
    return r.recognized_ms is not None and r.recognized_ms <= ROUND_S * 1000


async def test_the_default_rule_recognizes_real_drawings_of_the_target_and_not_of_other_words(
    server: ServerProcess,
) -> None:
    """>= 80% of real drawings recognized with their own word as target (within a 20 s round, pen-ups
    only), <= 2% with a random other game word as target."""
    drawings = sample()
    words = game_words()
    rng = random.Random(SEED + 1)
    others = [rng.choice([w for w in words if w != d.word]) for d in drawings]
    own = await replay(server.url, drawings, [d.word for d in drawings])
    wrong = await replay(server.url, drawings, others)
    win = sum(map(won, own)) / len(own)
    false = sum(map(won, wrong)) / len(wrong)
    assert win >= MIN_WIN, f"recognized {win:.1%} of drawings of the target ({DEFAULT_RULE})"
    assert false <= MAX_FALSE, f"recognized {false:.1%} with another word as target ({DEFAULT_RULE})"


def test_candidate_rules_fire_when_they_should() -> None:
    """The table's rules on a hand-made drawing: per word, the first state's time its rule holds."""
    # three words, four states at 1, 2, 3 and 9 s; word 1 leads at 2 s (0.5 vs 0.4) and from 3 s on
    s = np.array([[0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.85, 0.05]], np.float32)
    t = np.array([1000.0, 2000, 3000, 9000])
    p = np.ones(4, bool)
    inf = np.inf
    assert list(top1_rule()(s, t, p)) == [1000, 2000, inf]
    assert list(top1_rule(margin=0.2)(s, t, p)) == [1000, 3000, inf]
    assert list(top1_rule(floor=0.65)(s, t, p)) == [inf, 3000, inf]
    assert list(score_rule(0.5)(s, t, p)) == [1000, 2000, inf]
    assert list(score_rule(np.array([0.7, 0.8, 0.1]))(s, t, p)) == [inf, 9000, 1000]
    assert list(held_rule(500)(s, t, p)) == [1500, 2500, inf]  # word 0 leads 1 s before word 1 takes over
    assert list(held_rule(1500)(s, t, p)) == [inf, 3500, inf]  # word 0's lead is broken at 2 s
    live = np.array([False, False, True, True])  # the first two states are live guesses
    assert list(top1_rule(pen_ups_only=True)(s, t, live)) == [inf, 3000, inf]
    assert list(top1_rule()(s, t, live)) == [1000, 2000, inf]
    assert list(score_rule(0.5)(s, t, live)) == [1000, 2000, inf]


def test_the_servers_decision_is_the_tables_rule() -> None:
    """server.ranking.recognizes ("top1": at pen-ups, "score": at every guess) agrees with the table's rules
    on random scores."""
    rng = np.random.default_rng(0)
    names = [f"w{i}" for i in range(8)]
    for k in range(200):
        row = rng.dirichlet(np.ones(8) * 0.3).astype(np.float32)
        ranking = Ranking(names, row, np.argsort(-row, kind="stable"))
        pen_up = np.array([k % 2 == 0])
        top1 = top1_rule(pen_ups_only=True)(row[None], np.zeros(1), pen_up) == 0
        score = score_rule(0.4)(row[None], np.zeros(1), pen_up) == 0
        for i, w in enumerate(names):
            assert recognizes("top1", ranking, w, 0.4, live=not pen_up[0]) == top1[i]
            assert recognizes("score", ranking, w, 0.4, live=not pen_up[0]) == score[i]


def test_the_command_prints_and_writes_every_rule_for_both_word_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m training.recognize_rules` on a fixed sample: every rule's figures for all words and game
    words in the JSON and the printed table, the shipped rules checked through the server's decision."""
    assert main(["--model", str(MODEL_DIR), "--limit", "300", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "recognize_rules.json").read_text())
    out = capsys.readouterr().out
    assert res["default"] == res["shipped"][DEFAULT_RULE] and set(res["shipped"]) == set(RULES)
    assert len(res["rules"]) >= 10 and res["held_out_drawings"] > 100
    for name, r in res["rules"].items():
        assert f"| {name}" in out
        for pool in ("all", "game"):
            f = r[pool]
            assert 0 <= f["win"] <= 1 and 0 <= f["false_random"] <= 1 and 0 <= f["false_neighbour"] <= 1
    strict, top1 = res["rules"][res["shipped"]["score"]]["all"], res["rules"][res["shipped"]["top1"]]["all"]
    assert strict["win"] < top1["win"] and strict["false_random"] <= top1["false_random"]
    assert f"default {DEFAULT_RULE!r} on game words" in out


def test_per_word_thresholds_let_at_most_the_share_of_other_words_drawings_reach_them() -> None:
    """A per-word threshold is just above the peaks of all but `share` of the other words' calibration drawings."""
    n = 100
    scores = np.zeros((n + 1, 2), np.float32)
    scores[:n, 1] = np.linspace(0, 0.99, n)  # drawings of "a": their peak score for "b"
    scores[n] = [0.0, 1.0]  # a drawing of "b" itself does not count
    states = States(
        ["a"] * n + ["b"], np.ones(n + 1, bool), np.arange(n + 2), np.zeros(n + 1), scores, np.ones(n + 1, bool)
    )
    thr = per_word_thresholds(states, ["a", "b"], np.ones(n + 1, bool), false_share=0.05)
    assert int((scores[:n, 1] >= thr[1]).sum()) == 5 and 0.93 < thr[1] < 0.95
    assert thr[0] == pytest.approx(0.0, abs=1e-6)  # no other drawing scores "a": anything above 0 is safe


def test_moments_are_pen_ups_and_live_guesses_in_drawing_time() -> None:
    """moments: one state per pen-up at its last point's time; with live_ms, one every live_ms of a stroke
    in progress holding the points drawn by then."""
    s1 = quickdraw.Stroke((0.0, 10, 20, 30, 40, 50), (0.0, 5, 10, 15, 20, 25), (500, 600, 700, 800, 900, 1000))
    s2 = quickdraw.Stroke((50.0, 60), (0.0, 0), (1500, 1600))
    d = quickdraw.Drawing("line", (s1, s2))
    assert [(len(m), t, p) for m, t, p in moments(d)] == [(1, 500.0, True), (2, 1100.0, True)]
    live = [([len(s) for s in m], t, p) for m, t, p in moments(d, 200)]
    assert live == [([3], 200.0, False), ([5], 400.0, False), ([6], 500.0, True), ([6, 2], 1100.0, True)]
