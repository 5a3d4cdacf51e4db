"""Which ``recognized`` rule fits a round: ``python -m training.recognize_rules --model models``.

A round of the play mode knows the word the player is drawing (``hello.target``); the
question is when to say "I know, it's X".  This command replays every raw drawing
(``$DOODLE_SHARED/quickdraw/raw``, recorded with timing) through the server's own model
path -- :func:`server.render.encode` of the strokes so far at each pen-up (the function
the session canvas matches) and :class:`server.infer.Classifier` (the serving
interpreter, calibrated scores) -- and scores every candidate rule on the same states.
``--live-ms N`` adds a state every N ms of a stroke in progress, as the live guesses a
client asks for with ``hello.live_ms`` (the server applies the rule to those too).

Rules:

* ``score >= T``: the target's score reaches ``T`` whatever its rank (``T`` =
  ``calibration.threshold_95`` is the strict rule, ``hello.recognize = "score"``);
* ``per-word``: the target's score reaches a threshold fitted per word on the
  calibration half (the lowest score that at most 1% (or 0.5%) of the other words' drawings reach);
* ``top1``: the target is the top guess, at a pen-up (``hello.recognize = "top1"``: live
  guesses do not decide) or at every guess, alone or with a margin over the second guess,
  a score floor, or held for N ms (the target stays the top guess for N ms of drawing
  time: no state in between puts another word on top).

Figures per rule, on the *held-out* half of the raw set (:func:`training.calibrate.is_calibration`
false: the per-word thresholds and ``threshold_95`` were fitted on the other half):

* ``win``: share of the drawings of the target recognised within :data:`ROUND_MS` of
  drawing time (the state's time since the drawing's first point);
* ``false_random``: share recognised when the target is another word, drawn at random
  from the same word set (computed exactly: the mean over every other word);
* ``false_neighbour``: share recognised when the target is the drawn word's most
  confused neighbour (the word, of the same set, with the highest mean score on the
  calibration half's drawings of it);
* ``median_s``: median time to recognition of the wins.

Two word sets: all the model's words, and the play mode's game words
(``web_client/words.json``, made by ``scripts/game_words.py``); scores are always ranked
over all the model's words (the play mode sends no word list).  The shipped rules
(:data:`server.ranking.RULES`) are also scored through :func:`server.ranking.recognizes` itself,
and the command fails if that differs from the table.  Results go to
``recognize_rules.json`` (``recognize_rules_live.json`` with ``--live-ms``) in ``--out``
(default: the model folder).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from server import quickdraw
from server.infer import Classifier
from server.ranking import DEFAULT_RULE, RULES, Ranking, recognizes, threshold_of
from server.render import Points, encode
from training.calibrate import is_calibration
from training.data import strokes_of

#: A round's drawing time: a drawing is won when its target is recognised by then, in ms.
ROUND_MS = 20_000
#: The issue's aim for the default rule: win rate at least, random-target false wins at most.
AIM_WIN = 0.85
AIM_FALSE_RANDOM = 0.01
#: Shares of the other words' calibration drawings allowed to reach a per-word threshold (one rule each).
PER_WORD_FALSE = (0.01, 0.005)
#: Drawings rendered and classified per chunk (bounds memory), in drawings.
CHUNK = 400
GAME_WORDS_JSON = Path(__file__).resolve().parent.parent / "web_client" / "words.json"

Scores = npt.NDArray[np.float32]
Times = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]
#: A rule: (scores at each state ``(n, C)``, their times ``(n,)`` in ms, whether each is a
#: pen-up ``(n,)``) -> per word, the earliest time (ms) it would be recognised as the target
#: (``inf``: never).
Rule = Callable[[Scores, Times, Flags], Times]


@dataclass
class States:
    """Every raw drawing's calibrated scores at each of its :func:`moments`."""

    words: list[str]
    calibration: npt.NDArray[np.bool_]
    #: State rows of drawing ``i``: ``start[i]:start[i + 1]``.
    start: npt.NDArray[np.int64]
    #: Drawing time of each state (ms since the drawing's first point).
    times: Times
    scores: Scores
    #: Whether each state is a pen-up (else a live guess).
    pen_up: Flags

    def drawing(self, i: int | np.integer) -> tuple[Scores, Times, Flags]:
        a, b = self.start[i], self.start[i + 1]
        return self.scores[a:b], self.times[a:b], self.pen_up[a:b]


def moments(d: quickdraw.Drawing, live_ms: int = 0) -> Iterator[tuple[list[Points], float, bool]]:
    """The drawing as the server classifies it, with the drawing time of each moment (ms since
    its first point, what :meth:`server.session.Session.drawing_ms` reports) and whether it is
    a pen-up: after each pen-up and, with ``live_ms``, every ``live_ms`` of recorded time while
    a stroke is in progress (the finished strokes and the points of the pending one so far, as
    a live guess renders them)."""
    strokes = strokes_of(d)
    first = d.strokes[0].t[0] if d.strokes[0].t else 0
    for k, s in enumerate(d.strokes):
        t = s.t or (first,) * len(s)
        at = t[0] + live_ms
        while live_ms and at < t[-1]:
            yield [*strokes[:k], strokes[k][: bisect.bisect_right(t, at)]], float(at - first), False
            at += live_ms
        yield strokes[: k + 1], float(t[-1] - first), True


def replay(
    model: Classifier, drawings: Sequence[quickdraw.Drawing], *, live_ms: int = 0, progress: bool = True
) -> States:
    """Render each drawing at each of its :func:`moments` and classify it (see module docstring)."""
    starts, times, pen_ups, parts = [0], [], [], []
    for c in range(0, len(drawings), CHUNK):
        images = []
        for d in drawings[c : c + CHUNK]:
            for strokes, at, pen_up in moments(d, live_ms):
                images.append(encode(strokes, model.encoding))
                times.append(at)
                pen_ups.append(pen_up)
            starts.append(len(times))
        parts.append(model.predict(np.asarray(images, np.uint8)).astype(np.float32))
        if progress:
            print(f"  classified {min(c + CHUNK, len(drawings))}/{len(drawings)} drawings", file=sys.stderr)
    return States(
        [d.word for d in drawings],
        np.array([is_calibration(d.key_id) for d in drawings]),
        np.asarray(starts, np.int64),
        np.asarray(times, np.float64),
        np.concatenate(parts) if parts else np.zeros((0, len(model.labels)), np.float32),
        np.asarray(pen_ups, bool),
    )


# ------------------------------------------------------------------ candidate rules


def _first(cond: npt.NDArray[np.bool_], at: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per column, the earliest ``at`` of a true row (``inf`` when none)."""
    return np.asarray(np.where(cond, at[:, None], np.inf).min(axis=0, initial=np.inf), np.float64)


def score_rule(threshold: float | npt.NDArray[np.float64]) -> Rule:
    """The target's score reaches ``threshold`` (one number, or one per word)."""
    return lambda s, t, p: _first(s >= threshold, t)


def _leader(s: Scores) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per state: the top word (first of equals, as the server's stable order), its score, the second score."""
    top = np.argmax(s, axis=1)
    part = -np.partition(-s, 1, axis=1)[:, :2] if s.shape[1] > 1 else np.concatenate([s, s * 0], axis=1)
    return top, part[:, 0], part[:, 1]


def top1_rule(*, margin: float = 0.0, floor: float = 0.0, pen_ups_only: bool = False) -> Rule:
    """The target is the top guess, ``margin`` ahead of the second and scored at least ``floor``
    (with ``pen_ups_only``, only at pen-ups: live guesses do not decide)."""

    def rule(s: Scores, t: Times, p: Flags) -> Times:
        top, first, second = _leader(s)
        ok = (first - second >= margin) & (first >= floor) & (p | (not pen_ups_only))
        cond = np.zeros(s.shape, bool)
        cond[np.arange(len(s))[ok], top[ok]] = True
        return _first(cond, t)

    return rule


def held_rule(hold_ms: float) -> Rule:
    """The target becomes the top guess and no pen-up in the next ``hold_ms`` of drawing time
    puts another word on top (after the last pen-up nothing changes: it stays on top)."""

    def rule(s: Scores, t: Times, p: Flags) -> Times:
        top = np.argmax(s, axis=1)
        out = np.full(s.shape[1], np.inf)
        i = 0
        while i < len(top):
            j = i
            while j + 1 < len(top) and top[j + 1] == top[i]:
                j += 1
            broken = t[j + 1] if j + 1 < len(top) else np.inf
            if t[i] + hold_ms < broken:
                out[top[i]] = min(out[top[i]], t[i] + hold_ms)
            i = j + 1
        return out

    return rule


def per_word_thresholds(
    states: States, labels: list[str], within: npt.NDArray[np.bool_], *, false_share: float
) -> npt.NDArray[np.float64]:
    """Per word, the lowest score that at most ``false_share`` of the calibration half's
    drawings of other words reach at a pen-up within the round."""
    peaks, drawn = [], []
    for i in np.flatnonzero(states.calibration):
        a, b = states.start[i], states.start[i + 1]
        peaks.append(states.scores[a:b][within[a:b]].max(axis=0, initial=0.0))
        drawn.append(states.words[i])
    peak = np.asarray(peaks, np.float64).reshape(-1, len(labels))
    drawn_words = np.asarray(drawn)
    out = np.ones(len(labels))
    for c, word in enumerate(labels):
        ranked = np.sort(peak[drawn_words != word, c])[::-1]
        allowed = math.floor(false_share * len(ranked))
        if allowed < len(ranked):  # just above the (allowed+1)-th highest peak: at most ``allowed`` reach it
            out[c] = float(np.nextafter(ranked[allowed], np.inf))
    return out


# ------------------------------------------------------------------ figures


def neighbours(states: States, labels: list[str], pool: list[str]) -> dict[str, str]:
    """Each pool word's most confused neighbour in the pool: the other pool word with the
    highest mean score over the calibration half's pen-up states of drawings of it."""
    index = {w: i for i, w in enumerate(labels)}
    cols = np.array([index[w] for w in pool])
    in_pool = set(pool)
    sums: dict[str, npt.NDArray[np.float64]] = {}
    for i in np.flatnonzero(states.calibration):
        w = states.words[i]
        if w in in_pool:
            s, _, _ = states.drawing(i)
            sums[w] = sums.get(w, np.zeros(len(cols))) + s[:, cols].sum(axis=0)
    out = {}
    for k, w in enumerate(pool):
        if w in sums:
            v = sums[w].copy()
            v[k] = -np.inf
            out[w] = pool[int(np.argmax(v))]
    return out


def figures(
    states: States, labels: list[str], rule: Rule, pool: list[str], neighbour: dict[str, str]
) -> dict[str, Any]:
    """The rule's win rate, false wins and time to win over held-out drawings of ``pool`` words."""
    index = {w: i for i, w in enumerate(labels)}
    cols = np.array([index[w] for w in pool])
    in_pool = set(pool)
    wins, false_random, false_nb, seconds = [], [], [], []
    for i in np.flatnonzero(~states.calibration):
        w = states.words[i]
        if w not in in_pool:
            continue
        s, t, p = states.drawing(i)
        at = rule(s, t, p)
        fire = at <= ROUND_MS
        own = index[w]
        wins.append(bool(fire[own]))
        if fire[own]:
            seconds.append(float(at[own]) / 1000)
        others = fire[cols].sum() - fire[own]
        false_random.append(others / (len(cols) - 1))
        if w in neighbour:
            false_nb.append(bool(fire[index[neighbour[w]]]))
    return {
        "drawings": len(wins),
        "win": float(np.mean(wins)) if wins else None,
        "false_random": float(np.mean(false_random)) if false_random else None,
        "false_neighbour": float(np.mean(false_nb)) if false_nb else None,
        "median_s": float(np.median(seconds)) if seconds else None,
    }


def shipped_check(states: States, labels: list[str], threshold: float, rule_figures: dict[str, float]) -> None:
    """Score each shipped rule's own-target wins through :func:`server.ranking.recognizes` (the
    server's decision) and fail when it differs from the table's vectorised rule."""
    for name, expected in rule_figures.items():
        wins = 0
        n = 0
        for i in np.flatnonzero(~states.calibration):
            s, t, p = states.drawing(i)
            n += 1
            for row, at, pen_up in zip(s, t, p, strict=True):
                if at > ROUND_MS:
                    break
                ranking = Ranking(labels, row, np.argsort(-row, kind="stable"))
                if recognizes(name, ranking, states.words[i], threshold, live=not pen_up):
                    wins += 1
                    break
        if abs(wins / n - expected) > 1e-9:
            raise SystemExit(f"rule {name!r}: the server's decision wins {wins / n:.4f}, the table {expected:.4f}")


def game_words(path: Path = GAME_WORDS_JSON) -> list[str]:
    """The play mode's words (``web_client/words.json``'s ``words``)."""
    words: list[str] = json.loads(path.read_text(encoding="utf-8"))["words"]
    return words


def candidates(threshold: float, per_word: dict[float, npt.NDArray[np.float64]]) -> dict[str, Rule]:
    """Every rule the table compares, by name (the shipped ones under their protocol names)."""
    return {
        f"score >= {threshold:.3f} (threshold_95; 'score')": score_rule(threshold),
        "score >= 0.7": score_rule(0.7),
        "score >= 0.5": score_rule(0.5),
        "score >= 0.3": score_rule(0.3),
        **{
            f"per-word threshold ({share:.1%} false on the calibration half)": score_rule(thresholds)
            for share, thresholds in per_word.items()
        },
        "top1 at pen-ups ('top1')": top1_rule(pen_ups_only=True),
        "top1 at every guess": top1_rule(),
        "top1, margin 0.05": top1_rule(margin=0.05),
        "top1, margin 0.1": top1_rule(margin=0.1),
        "top1, margin 0.2": top1_rule(margin=0.2),
        "top1, score >= 0.2": top1_rule(floor=0.2),
        "top1, score >= 0.3": top1_rule(floor=0.3),
        "top1, score >= 0.4": top1_rule(floor=0.4),
        "top1, held 500 ms": held_rule(500),
        "top1, held 1000 ms": held_rule(1000),
        "top1, held 2000 ms": held_rule(2000),
    }


def _pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def table(results: dict[str, Any]) -> str:
    """The rule table as markdown (the model card's)."""
    lines = [
        "| rule | all words: win | false (random) | false (neighbour) | median s "
        "| game words: win | false (random) | false (neighbour) | median s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["rules"].items():
        a, g = r["all"], r["game"]
        mark = " **(default)**" if name == results["default"] else ""
        lines.append(
            f"| {name}{mark} | {_pct(a['win'])} | {_pct(a['false_random'], 2)} | {_pct(a['false_neighbour'])} "
            f"| {_s(a['median_s'])} | {_pct(g['win'])} | {_pct(g['false_random'], 2)} "
            f"| {_pct(g['false_neighbour'])} | {_s(g['median_s'])} |"
        )
    return "\n".join(lines)


def evaluate(
    model_dir: Path, raw: Path, *, limit: int | None = None, live_ms: int = 0, progress: bool = True
) -> dict[str, Any]:
    """Replay the raw set and score every candidate rule (see module docstring)."""
    model = Classifier(model_dir, max_batch=64)
    labels = model.labels
    drawings = [d for d in quickdraw.read(raw) if d.word in set(labels) and d.timed]
    if limit is not None:
        drawings = [drawings[i] for i in sorted(np.random.default_rng(0).permutation(len(drawings))[:limit])]
    t0 = time.time()
    states = replay(model, drawings, live_ms=live_ms, progress=progress)
    within = states.times <= ROUND_MS
    threshold = threshold_of(model.meta)
    per_word = {share: per_word_thresholds(states, labels, within, false_share=share) for share in PER_WORD_FALSE}
    pools = {"all": sorted(set(labels)), "game": [w for w in game_words() if w in set(labels)]}
    nb = {k: neighbours(states, labels, pool) for k, pool in pools.items()}
    results: dict[str, Any] = {
        "model": model.name,
        "date": time.strftime("%Y-%m-%d"),
        "raw_drawings": len(drawings),
        "held_out_drawings": int((~states.calibration).sum()),
        "pen_up_states": len(states.times),
        "round_ms": ROUND_MS,
        "live_ms": live_ms,
        "threshold_95": threshold,
        "aim": {"win": AIM_WIN, "false_random": AIM_FALSE_RANDOM},
        "shipped": {"top1": "top1 at pen-ups ('top1')", "score": next(iter(candidates(threshold, per_word)))},
        "neighbours_game": nb["game"],
        "rules": {},
    }
    for name, rule in candidates(threshold, per_word).items():
        results["rules"][name] = {k: figures(states, labels, rule, pool, nb[k]) for k, pool in pools.items()}
    shipped_check(
        states,
        labels,
        threshold,
        {rule: results["rules"][results["shipped"][rule]]["all"]["win"] for rule in RULES},
    )
    results["default"] = results["shipped"][DEFAULT_RULE]
    results["default_meets_aim"] = {
        k: v["win"] is not None and v["win"] >= AIM_WIN and v["false_random"] <= AIM_FALSE_RANDOM
        for k, v in results["rules"][results["default"]].items()
    }
    results["seconds"] = round(time.time() - t0, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.recognize_rules", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("models"), help="model folder")
    p.add_argument("--raw", type=Path, default=quickdraw.raw_dir(), help="raw/ drawings (with timing)")
    p.add_argument("--out", type=Path, default=None, help="where recognize_rules.json goes (default: --model)")
    p.add_argument("--limit", type=int, default=None, help="score a fixed random sample of this many drawings")
    p.add_argument(
        "--live-ms",
        type=int,
        default=0,
        help="also classify every this many ms of a stroke in progress, as live guesses (default 0: pen-ups only; "
        "results go to recognize_rules_live.json)",
    )
    args = p.parse_args(argv)
    results = evaluate(args.model, args.raw, limit=args.limit, live_ms=args.live_ms)
    out: Path = args.out or args.model
    out.mkdir(parents=True, exist_ok=True)
    name = "recognize_rules_live.json" if args.live_ms else "recognize_rules.json"
    (out / name).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    moments = f"pen-ups and live guesses every {args.live_ms} ms" if args.live_ms else "pen-ups only"
    print(
        f"{results['held_out_drawings']} held-out raw drawings ({results['model']}, {moments}), recognised within "
        f"{ROUND_MS / 1000:.0f} s of drawing time; aim: win >= {AIM_WIN:.0%}, random-target false wins "
        f"<= {AIM_FALSE_RANDOM:.0%}"
    )
    print(table(results))
    for k, v in results["rules"][results["default"]].items():
        short = [f"win {AIM_WIN - v['win']:.1%} short"] if v["win"] < AIM_WIN else []
        short += (
            [f"false wins {v['false_random'] - AIM_FALSE_RANDOM:.2%} over"]
            if v["false_random"] > AIM_FALSE_RANDOM
            else []
        )
        print(
            f"default {DEFAULT_RULE!r} on {k} words: win {_pct(v['win'])}, random-target false wins "
            f"{_pct(v['false_random'], 2)}: {'misses the aim: ' + ', '.join(short) if short else 'meets the aim'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
