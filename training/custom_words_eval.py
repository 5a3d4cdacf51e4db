"""Evaluate custom words honestly and fit their score: ``python -m training.custom_words_eval``.

Contract
--------
* **Left-out words.** The model under test was trained without some words
  (``training.train --exclude-words``; ``model.json`` ``excluded_words``).
  :func:`choose_left_out` is how they were chosen: ``LEFT_OUT`` words drawn with
  ``random.Random(LEFT_OUT_SEED)`` from the sorted 345 (``--write-left-out FILE`` writes
  them).  ``--hide WORD...`` adds model words to them by dropping their score columns and
  renormalising (a quick, optimistic stand-in: the embedding did see those words).
* **Teaching.** Each left-out word is taught from its first ``n`` drawings of
  ``simplified/`` for each ``n`` of ``--shots`` (default 1, 5, 10), through
  :mod:`server.custom_words` exactly as the server does it.
* **Reference drawings** of every model word: ``--reference-per-word`` drawings of
  ``simplified-extra/`` after its fitting ones (``simplified/`` for a word that has none
  there).  The embedding ``center`` is the mean of their power-transformed unit embeddings
  over the known words (``--no-center``: none; ``--power``: the exponent, 1 = none), and
  each word's ``known_means`` row the unit mean of its drawings' features
  (:mod:`server.custom_words`; ``--no-near``: no nearness terms).
* **Fitting** uses a split that is never reported: the next ``--fit-per-word`` simplified
  drawings of each left-out word (after every teaching drawing) and as many
  ``simplified-extra/`` drawings of each known word from ``--known-start`` (every word
  equally likely, as in the raw set; ``KNOWN_START`` is past what a model trained with
  ``--per-class 1500`` saw of that folder).  The weights of the custom-word logit
  (:data:`server.custom_words.TERMS`) are fitted with ``--fit-shots`` examples per word by
  maximum likelihood (:func:`fit_params`: Newton's method on the convex negative
  log-likelihood: the logits are linear in the weights); then ``b`` is lowered until the
  known words' top-1 on that split falls by at most ``FIT_MAX_KNOWN_DROP``
  (:func:`constrain_offset`): the issue's bound, with a margin, decides the trade-off.
  The split's own figures are reported too (``fit_split``), to compare methods without
  looking at ``raw/``.
* **Reported**, on ``raw/`` (validation only; never taught or fitted on), for each ``n``:
  ``taught_top3`` (and top-1): the share of the left-out words' raw drawings whose word is
  in the top 3 among all the model's words plus every taught word; ``known_top1``: top-1
  on the known words' raw drawings without and with the taught words present, and the
  drop in points.  Also the model's own accuracy on the known words' raw drawings.
* Writes ``--out`` (JSON) and ``--card`` (the markdown block for ``MODEL_CARD.md``);
  ``--write-params`` records the fitted weights and ``power`` in the model's ``model.json``
  (``custom_words``) and ``center`` and ``known_means`` (every model word, hidden ones
  included) in ``custom_words.npz`` beside it, which :func:`server.custom_words.params_of`
  reads: refitting a new model is this one command.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from server import custom_words as cw
from server import quickdraw
from server.infer import Classifier
from server.render import Points, encode
from training.data import read_words_file, strokes_of

#: Words left out of the evaluation model, in words.
LEFT_OUT = 20
#: Seed of :func:`choose_left_out`, unitless.
LEFT_OUT_SEED = 13
#: Example counts reported, in drawings per word.
SHOTS = (1, 5, 10)
#: Example count ``a``, ``b`` are fitted with, in drawings per word (the issue's target count).
FIT_SHOTS = 5
#: Fitting drawings per word (left-out and known alike), in drawings.
FIT_PER_WORD = 20
#: Where the known words' fitting drawings start in ``simplified-extra/``, in drawings (a model
#: trained with ``--per-class 1500`` never saw them; one trained on every drawing, as the
#: v2-recipe evaluation model was, did, and its raw drops still came out below this split's).
KNOWN_START = 1500
#: Reference drawings per model word (center and known means), in drawings.
REFERENCE_PER_WORD = 40
#: Exponent of the features' power transform (:func:`server.custom_words.features`), unitless.
POWER = 0.5
#: Targets of issue 13: taught-word top-3 at ``FIT_SHOTS`` examples (share), and the most the
#: known words' top-1 may fall when the taught words are present (in points, i.e. 0.01).
TARGET_TAUGHT_TOP3 = 0.70
TARGET_KNOWN_DROP = 0.01
#: Newton iterations of :func:`fit_params`, in iterations.
FIT_ITERATIONS = 50
#: Where :func:`fit_params` starts: ``a`` per unit cosine, ``b`` in logit units, nearness weights 0.
FIT_START = cw.Params(10.0, -10.0)
#: Ridge added to the Hessian of :func:`fit_params`, unitless.
FIT_RIDGE = 1e-6
#: Most the known words' top-1 may fall on the *fitting* split, as a share (0.0075 = three
#: quarters of a point: a quarter-point margin under ``TARGET_KNOWN_DROP``, which is judged on
#: raw drawings; the split's own sampling error is about 0.1 point).  With the v2-recipe
#: evaluation model, raw drops came out below the split's (0.64 point at 5 examples, 0.87 at 10).
FIT_MAX_KNOWN_DROP = 0.0075
#: How far below the maximum-likelihood ``b`` :func:`constrain_offset` searches, in logit units.
OFFSET_SEARCH = 40.0
CARD_START = "<!-- custom-words -->"
CARD_END = "<!-- /custom-words -->"

Float = npt.NDArray[np.float64]


def choose_left_out(words: Sequence[str], n: int = LEFT_OUT, seed: int = LEFT_OUT_SEED) -> list[str]:
    """``n`` of the sorted ``words``, drawn with ``random.Random(seed)`` (the order drawn)."""
    return random.Random(seed).sample(sorted(words), n)


# ------------------------------------------------------------------ fitting


def nll_and_derivatives(
    theta: Float, logp: Float, terms: Float, y: npt.NDArray[np.int64]
) -> tuple[float, Float, Float]:
    """Mean negative log-likelihood of classes ``y`` (index into ``C + K``) under logits
    ``[logp, terms @ theta]`` (``terms`` ``(B, K, M)``: :func:`server.custom_words.score_terms`),
    with its gradient and Hessian in ``theta`` ``(M,)``."""
    z = np.concatenate([logp, terms @ theta], axis=1)
    z -= z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    n, c = logp.shape
    nll = float((lse - z[np.arange(n), y]).mean())
    p = np.exp(z[:, c:] - lse[:, None])  # custom words' probabilities (B, K)
    mean_t = np.einsum("bk,bkm->bm", p, terms)
    custom = y >= c
    ty = np.where(custom[:, None], terms[np.arange(n), np.where(custom, y - c, 0)], 0.0)
    grad = (mean_t - ty).mean(axis=0)
    second = np.einsum("bk,bkm,bkl->ml", p, terms, terms) / n
    hess = second - np.einsum("bm,bl->ml", mean_t, mean_t) / n
    return nll, grad, hess


def with_weights(params: cw.Params, theta: Float) -> cw.Params:
    """``params`` with the logit's weights ``theta`` (:data:`server.custom_words.TERMS` order)."""
    a, b, near_input, near_word = (float(v) for v in theta)
    return dataclasses.replace(params, a=a, b=b, near_input=near_input, near_word=near_word)


def fit_params(
    logp: Float, terms: Float, y: npt.NDArray[np.int64], start: cw.Params = FIT_START, fit: Sequence[bool] | None = None
) -> cw.Params:
    """``start`` with the weights minimising :func:`nll_and_derivatives` (damped Newton; the
    objective is convex: logits linear in the weights).  ``fit`` says which weights are
    fitted (default: ``a``, ``b``, and the nearness weights when ``start`` has known means);
    the others keep ``start``'s values."""
    if fit is None:
        fit = [True, True, start.known_means is not None, start.known_means is not None]
    free = np.asarray(fit, bool)
    theta = start.weights.copy()
    fixed = terms[:, :, ~free] @ theta[~free]
    sub = terms[:, :, free]

    def objective(t: Float) -> tuple[float, Float, Float]:
        return _shifted(t, logp, sub, fixed, y)

    t = theta[free]
    f, g, h = objective(t)
    for _ in range(FIT_ITERATIONS):
        step = np.linalg.solve(h + FIT_RIDGE * np.eye(len(t)), g)
        scale = 1.0
        while scale > 1e-6:
            cand = t - scale * step
            fc, gc, hc = objective(cand)
            if fc <= f:
                break
            scale /= 2
        if scale <= 1e-6 or f - fc < 1e-10:
            t, f = (cand, fc) if fc <= f else (t, f)
            break
        t, f, g, h = cand, fc, gc, hc
    theta[free] = t
    return with_weights(start, theta)


def _shifted(t: Float, logp: Float, terms: Float, fixed: Float, y: npt.NDArray[np.int64]) -> tuple[float, Float, Float]:
    """:func:`nll_and_derivatives` with a fixed part ``fixed`` ``(B, K)`` added to the custom logits."""
    extra = np.concatenate([terms, fixed[:, :, None]], axis=2)
    f, g, h = nll_and_derivatives(np.append(t, 1.0), logp, extra, y)
    return f, g[:-1], h[:-1, :-1]


def known_top1_drop(params: cw.Params, logp: Float, terms: Float, y: npt.NDArray[np.int64]) -> float:
    """How much the top-1 rate of the known words' drawings (``y < C``) falls when the
    custom words join the ranking with ``params`` (a share; 0.01 = one point)."""
    known = y < logp.shape[1]
    if not known.any():
        return 0.0
    z = np.concatenate([logp[known], terms[known] @ params.weights], axis=1)
    return float((logp[known].argmax(axis=1) == y[known]).mean() - (z.argmax(axis=1) == y[known]).mean())


def constrain_offset(
    params: cw.Params, logp: Float, terms: Float, y: npt.NDArray[np.int64], max_drop: float = FIT_MAX_KNOWN_DROP
) -> cw.Params:
    """``params`` with ``b`` lowered just enough that :func:`known_top1_drop` is at most
    ``max_drop`` (bisection over ``b``: lowering it never takes a known drawing's top-1 away)."""
    if known_top1_drop(params, logp, terms, y) <= max_drop:
        return params
    lo, hi = params.b - OFFSET_SEARCH, params.b  # drop(lo) <= max_drop < drop(hi)
    for _ in range(40):
        mid = (lo + hi) / 2
        if known_top1_drop(dataclasses.replace(params, b=mid), logp, terms, y) <= max_drop:
            lo = mid
        else:
            hi = mid
    return dataclasses.replace(params, b=lo)


def taught_top_k(logits: Float, y: npt.NDArray[np.int64], k: int) -> float | None:
    """Share of rows whose class ``y`` is among the ``k`` highest ``logits`` (ties: lower index first)."""
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return share((top == y[:, None]).any(axis=1))


# ------------------------------------------------------------------ data


def simplified_of(folder: Path, word: str, start: int, count: int) -> list[list[Points]]:
    """Drawings ``start .. start + count`` of ``word`` in a simplified folder (fewer if it has fewer)."""
    path = folder / f"{word}.ndjson.gz"
    return [strokes_of(d) for d in quickdraw.read_file(path, limit=start + count)][start:]


def raw_of(folder: Path, words: Sequence[str], per_word: int | None) -> tuple[list[list[Points]], list[str]]:
    """Raw drawings of ``words`` (at most ``per_word`` each) and their words."""
    groups = quickdraw.files_by_word(folder)
    strokes, truth = [], []
    for w in words:
        for d in quickdraw.read_word(groups[w], limit=per_word):
            strokes.append(strokes_of(d))
            truth.append(w)
    return strokes, truth


class Scorer:
    """A model's calibrated scores and embeddings, with hidden words' columns dropped."""

    def __init__(self, model: Classifier, hidden: Sequence[str]) -> None:
        self.model = model
        self.keep = [i for i, w in enumerate(model.labels) if w not in set(hidden)]
        self.labels = [model.labels[i] for i in self.keep]

    def embed(self, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return self.model.predict_with_embedding(images)[1]

    def __call__(self, drawings: Sequence[Sequence[Points]]) -> tuple[Float, npt.NDArray[np.float32]]:
        """``log p`` over the kept labels (renormalised) and unit embeddings of ``drawings``."""
        shape = self.model.encoding.shape
        images = (
            np.stack([encode(s, self.model.encoding) for s in drawings])
            if drawings
            else np.zeros((0, *shape), np.uint8)
        )
        scores, emb = self.model.predict_with_embedding(images)
        p = scores[:, self.keep].astype(np.float64)
        p /= p.sum(axis=1, keepdims=True)
        return np.log(np.clip(p, 1e-30, 1.0)), emb


def transform(
    scorer: Scorer, reference: dict[str, list[list[Points]]], power: float, center: bool, near: bool
) -> tuple[cw.Params, cw.Params]:
    """The feature transform fitted on the reference drawings: ``(for_model, for_scoring)``,
    both with ``FIT_START``'s weights; ``for_model`` has a ``known_means`` row for every model
    word, ``for_scoring`` for the known (not hidden) ones only (``None`` without ``near``)."""
    words = list(reference)
    images = [encode(s, scorer.model.encoding) for w in words for s in reference[w]]
    owner = np.asarray([i for i, w in enumerate(words) for _ in reference[w]], np.int64)
    emb = np.concatenate([scorer.embed(np.stack(images[i : i + 512])) for i in range(0, len(images), 512)])
    raw = cw.features(emb, cw.Params(1.0, 0.0, power=power))
    known = np.isin(owner, [i for i, w in enumerate(words) if w in set(scorer.labels)])
    mid = tuple(round(float(v), 6) for v in raw[known].mean(axis=0)) if center else ()
    base = dataclasses.replace(FIT_START, center=mid, power=power)
    if not near:
        return base, base
    feats = cw.features(emb, base).astype(np.float64)
    sums = np.zeros((len(words), feats.shape[1]))
    np.add.at(sums, owner, feats)
    means = cw.unit(sums)
    kept = [words.index(w) for w in scorer.labels]
    return dataclasses.replace(base, known_means=means), dataclasses.replace(base, known_means=means[kept])


def teach_all(
    scorer: Scorer, teach: dict[str, list[list[Points]]], shots: int, params: cw.Params
) -> cw.CustomVocabulary:
    """A vocabulary of every left-out word taught from its first ``shots`` drawings."""
    vocab = cw.CustomVocabulary(reserved=scorer.labels, max_words=len(teach), max_examples=shots)
    for word, drawings in teach.items():
        vocab.teach(word, cw.example_embeddings(scorer.embed, drawings[:shots], params, scorer.model.encoding))
    return vocab


def share(hits: npt.NDArray[np.bool_]) -> float | None:
    return float(hits.mean()) if len(hits) else None


# ------------------------------------------------------------------ the run


def weights_of(params: cw.Params) -> dict[str, float]:
    """The logit's weights and the power of ``params``, by name (JSON-able)."""
    return {
        "a": params.a,
        "b": params.b,
        "near_input": params.near_input,
        "near_word": params.near_word,
        "power": params.power,
    }


def reference_of(args: argparse.Namespace, word: str) -> list[list[Points]]:
    """A model word's reference drawings (see the module docstring)."""
    got = simplified_of(args.simplified_extra, word, args.known_start + args.fit_per_word, args.reference_per_word)
    return got or simplified_of(args.simplified, word, 0, args.reference_per_word)


def evaluate(args: argparse.Namespace) -> tuple[dict[str, Any], cw.Params]:
    """Everything the module docstring lists, as one JSON-able dict, and the fitted parameters
    for the model (``known_means`` of every model word, hidden ones included)."""
    t0 = time.time()
    model = Classifier(args.model, max_batch=64)
    recorded = model.meta.get("excluded_words")
    excluded = [str(w) for w in recorded] if isinstance(recorded, list) else []
    unknown = [w for w in args.hide if w not in model.labels]
    if unknown:
        raise SystemExit(f"--hide: {unknown} are not words of {args.model}")
    hidden = list(dict.fromkeys(args.hide))
    left_out = (excluded + hidden)[: args.words] if args.words else excluded + hidden
    if not left_out:
        raise SystemExit(f"{args.model} left no words out (model.json excluded_words) and --hide names none")
    scorer = Scorer(model, hidden)
    known = scorer.labels
    shots = sorted(set(args.shots) | {args.fit_shots})
    teach = {w: simplified_of(args.simplified, w, 0, max(shots)) for w in left_out}

    # fitting split: later simplified drawings of the left-out words, simplified-extra of the known
    fit_s: list[list[Points]] = []
    fit_y: list[int] = []
    known_fit = known if args.known_fit_words is None else known[:: max(1, len(known) // args.known_fit_words)]
    for k, w in enumerate(left_out):
        got = simplified_of(args.simplified, w, max(shots), args.fit_per_word)
        fit_s += got
        fit_y += [len(known) + k] * len(got)
    for i, w in enumerate(known):
        if w not in known_fit:
            continue
        got = simplified_of(args.simplified_extra, w, args.known_start, args.fit_per_word)
        fit_s += got
        fit_y += [i] * len(got)
    reference = {w: reference_of(args, w) for w in model.labels}
    fit_logp, fit_emb = scorer(fit_s)
    fit_yy = np.asarray(fit_y, np.int64)
    for_model, start = transform(scorer, reference, args.power, args.center, args.near)
    fit_vocab = teach_all(scorer, teach, args.fit_shots, start)
    fit_terms = cw.score_terms(fit_emb, fit_vocab.prototypes(), start, fit_vocab.nearness(start))
    likeliest = fit_params(fit_logp, fit_terms, fit_yy, start)
    params = constrain_offset(likeliest, fit_logp, fit_terms, fit_yy, args.fit_max_drop)
    fit_left = fit_yy >= len(known)
    fit_split: dict[str, Any] = {}
    vocabs = {n: teach_all(scorer, teach, n, params) for n in shots}  # the fit split and raw score the same words
    for n in shots:
        vocab = vocabs[n]
        terms = cw.score_terms(fit_emb, vocab.prototypes(), params, vocab.nearness(params))
        z = np.concatenate([fit_logp, terms @ params.weights], axis=1)
        fit_split[str(n)] = {
            "taught_top3": taught_top_k(z[fit_left], fit_yy[fit_left], 3),
            "known_top1_drop": known_top1_drop(params, fit_logp, terms, fit_yy),
        }

    # reported split: raw
    new_s, new_w = raw_of(args.raw, left_out, args.raw_per_word)
    old_s, old_w = raw_of(args.raw, known, args.raw_per_word)
    new_logp, new_emb = scorer(new_s)
    old_logp, old_emb = scorer(old_s)
    old_y = np.asarray([known.index(w) for w in old_w], np.int64)
    new_y = np.asarray([len(known) + left_out.index(w) for w in new_w], np.int64)
    own_top1 = share(old_logp.argmax(axis=1) == old_y)
    own_top3 = share((np.argsort(-old_logp, axis=1)[:, :3] == old_y[:, None]).any(axis=1))
    by_shots: dict[str, Any] = {}
    for n in shots:
        vocab = vocabs[n]
        protos = vocab.prototypes()
        near = vocab.nearness(params)
        z_new = cw.combined_logits(np.exp(new_logp), new_emb, protos, params, near)
        z_old = cw.combined_logits(np.exp(old_logp), old_emb, protos, params, near)
        top3 = np.argsort(-z_new, axis=1, kind="stable")[:, :3]
        with_top1 = share(z_old.argmax(axis=1) == old_y)
        per_word = {
            w: share((top3[np.asarray(new_w) == w] == new_y[np.asarray(new_w) == w][:, None]).any(axis=1))
            for w in left_out
        }
        by_shots[str(n)] = {
            "taught_top1": share(z_new.argmax(axis=1) == new_y),
            "taught_top3": share((top3 == new_y[:, None]).any(axis=1)),
            "known_top1_without": own_top1,
            "known_top1_with": with_top1,
            "known_top1_drop": None if own_top1 is None or with_top1 is None else own_top1 - with_top1,
            "known_taken_by_custom": share(z_old.argmax(axis=1) >= len(known)),
            "examples_per_word": {w: min(n, len(teach[w])) for w in left_out},
            "taught_top3_per_word": per_word,
        }
    res = {
        "date": dt.date.today().isoformat(),
        "model": {"dir": str(args.model), "name": model.name, "val_raw_rendered": model.meta.get("val_raw_rendered")},
        "left_out": left_out,
        "hidden_model_words": hidden,
        "known_words": len(known),
        "own_accuracy_known_raw": {"top1": own_top1, "top3": own_top3, "n": len(old_y)},
        "params": weights_of(params),
        "fit": {
            "shots": args.fit_shots,
            "maximum_likelihood": weights_of(likeliest),
            "centered": bool(args.center),
            "near": bool(args.near),
            "reference_per_word": args.reference_per_word,
            "max_known_drop": args.fit_max_drop,
            "known_top1_drop_on_fit": fit_split[str(args.fit_shots)]["known_top1_drop"],
            "drawings": len(fit_y),
            "left_out_drawings": int(sum(y >= len(known) for y in fit_y)),
            "known_words": len(known_fit),
            "per_word": args.fit_per_word,
        },
        "raw": {"left_out_drawings": len(new_y), "known_drawings": len(old_y), "per_word": args.raw_per_word},
        "augmented_copies": cw.EXAMPLE_COPIES,
        "fit_split": fit_split,
        "by_shots": by_shots,
        "targets": {"taught_top3_at_fit_shots": TARGET_TAUGHT_TOP3, "known_top1_drop": TARGET_KNOWN_DROP},
        "seconds": round(time.time() - t0, 1),
    }
    return res, with_weights(for_model, params.weights)


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def card_block(res: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` block (between ``CARD_START`` and ``CARD_END``)."""
    own = res["own_accuracy_known_raw"]
    m = res["model"]["val_raw_rendered"] or {}
    hidden = res["hidden_model_words"]
    how = (
        f"with {len(hidden)} of its words hidden (score columns dropped; its embedding did see them)"
        if hidden
        else "trained without them (`training.train --exclude-words`)"
    )
    lines = [
        CARD_START,
        f"Measured by `python -m training.custom_words_eval` on {res['date']} with `{res['model']['name']}`,",
        f"{how}. The {len(res['left_out'])} left-out words (chosen with seed {LEFT_OUT_SEED}):",
        f"{', '.join(res['left_out'])}. The model's own accuracy on the raw drawings of its",
        f"{res['known_words']} words: top-1 {_f(own['top1'])}, top-3 {_f(own['top3'])} ({own['n']:,} drawings;"
        f" training's figure {_f(m.get('top1'))}).",
        f"Each left-out word is taught from its first n drawings of `simplified/` (+{res['augmented_copies']}"
        " augmented copies each); the",
        f"{res['raw']['left_out_drawings']:,} raw drawings of the left-out words compete against all"
        f" {res['known_words']} model words plus the",
        f"{len(res['left_out'])} taught ones. The custom-word logit `a·cos + b + near_input·n(drawing) +"
        " near_word·n(word)` (n: the largest cosine with a known word's mean; features: embedding^"
        f"{res['params']['power']:g}, centred) was fitted at {res['fit']['shots']} examples on",
        f"{res['fit']['drawings']:,} other simplified drawings (never raw): a = {res['params']['a']:.2f},"
        f" b = {res['params']['b']:.2f}, near_input = {res['params']['near_input']:.2f},"
        f" near_word = {res['params']['near_word']:.2f} (maximum likelihood, then `b` lowered until the known"
        f" words' top-1 falls by at most {100 * res['fit']['max_known_drop']:g} point on that split;"
        f" unconstrained b = {res['fit']['maximum_likelihood']['b']:.2f}). On that split the taught word is in"
        " the top 3 for "
        + " / ".join(_f(r["taught_top3"]) for r in res["fit_split"].values())
        + f" of the left-out words' drawings at {' / '.join(res['fit_split'])} examples.",
        "",
        "| examples per word | taught word top-1 | taught word top-3 | known words top-1 without → with | drop |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, r in res["by_shots"].items():
        drop = r["known_top1_drop"]
        lines.append(
            f"| {n} | {_f(r['taught_top1'])} | {_f(r['taught_top3'])} | {_f(r['known_top1_without'])} → "
            f"{_f(r['known_top1_with'])} | {'n/a' if drop is None else f'{100 * drop:.1f} points'} |"
        )
    lines += [
        "",
        f"Targets (issue 13, at {FIT_SHOTS} examples): taught word top-3 ≥ {TARGET_TAUGHT_TOP3:.2f}; known words'"
        f" top-1 falls by ≤ {100 * TARGET_KNOWN_DROP:.0f} point.",
        CARD_END,
    ]
    return "\n".join(lines)


def update_card(card: Path, block: str) -> None:
    """Replace the block between the markers in ``card`` (which must hold them)."""
    text = card.read_text(encoding="utf-8")
    start, end = text.find(CARD_START), text.find(CARD_END)
    if start < 0 or end < start:
        raise SystemExit(f"{card} has no {CARD_START} ... {CARD_END} block")
    card.write_text(text[:start] + block + text[end + len(CARD_END) :], encoding="utf-8")


def write_params(model_dir: Path, res: dict[str, Any], params: cw.Params) -> None:
    """Record a run's weights and ``power`` in ``model_dir/model.json`` (``custom_words``) and
    ``center`` and ``known_means`` in ``model_dir/custom_words.npz`` (written first, then
    read back through :func:`server.custom_words.params_of` as the server will)."""
    meta_path = model_dir / "model.json"
    meta = json.loads(meta_path.read_text())
    fit, hidden = res["fit"], res["hidden_model_words"]
    how = f"{len(hidden)} model words hidden" if hidden else f"{len(res['left_out'])} words left out of training"
    entry: dict[str, Any] = {k: round(v, 5) for k, v in weights_of(params).items()}
    entry["fitted_on"] = (
        f"{fit['drawings']} simplified drawings, {fit['shots']} examples per word, {how}"
        f" ({res['date']}, python -m training.custom_words_eval)"
    )
    if params.known_means is not None:
        arrays = model_dir / cw.PARAMS_FILE
        center = np.asarray(params.center, np.float32)
        np.savez_compressed(arrays, center=center, known_means=params.known_means.astype(np.float32))
        entry["file"] = cw.PARAMS_FILE
    else:
        entry["center"] = list(params.center)
    meta["custom_words"] = entry
    cw.params_of(meta, model_dir)  # what the server will read must load
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.custom_words_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("models"), help="model folder trained with --exclude-words")
    p.add_argument("--raw", type=Path, default=quickdraw.raw_dir(), help="raw/ (the reported split)")
    p.add_argument("--simplified", type=Path, default=quickdraw.simplified_dir(), help="teaching + fitting drawings")
    p.add_argument("--simplified-extra", type=Path, default=quickdraw.simplified_extra_dir(), help="known-word fit")
    p.add_argument("--hide", nargs="*", default=[], help="model words treated as left out (columns dropped)")
    p.add_argument("--hide-file", type=Path, default=None, help="more words to --hide, one a line")
    p.add_argument("--words", type=int, default=None, help="use only the first N left-out words")
    p.add_argument("--shots", type=int, nargs="+", default=list(SHOTS), help="examples per word to report")
    p.add_argument("--fit-shots", type=int, default=FIT_SHOTS, help="examples per word when fitting a, b")
    p.add_argument("--fit-per-word", type=int, default=FIT_PER_WORD, help="fitting drawings per word")
    p.add_argument(
        "--fit-max-drop", type=float, default=FIT_MAX_KNOWN_DROP, help="most known top-1 may fall on the fit split"
    )
    p.add_argument("--power", type=float, default=POWER, help="exponent of the features' power transform (1: none)")
    p.add_argument(
        "--near",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="nearness terms: the drawing's and the taught word's closeness to the known words' means",
    )
    p.add_argument("--known-start", type=int, default=KNOWN_START, help="first simplified-extra drawing to fit on")
    p.add_argument(
        "--reference-per-word", type=int, default=REFERENCE_PER_WORD, help="reference drawings per model word"
    )
    p.add_argument(
        "--center",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="subtract the mean embedding of the known words' fitting drawings before comparing",
    )
    p.add_argument("--known-fit-words", type=int, default=None, help="fit on about this many known words")
    p.add_argument("--raw-per-word", type=int, default=None, help="at most this many raw drawings per word")
    p.add_argument("--out", type=Path, default=None, help="results JSON")
    p.add_argument("--card", type=Path, default=None, help="MODEL_CARD.md whose custom-words block is rewritten")
    p.add_argument("--write-params", action="store_true", help="record the parameters in the model's folder")
    p.add_argument("--write-left-out", type=Path, default=None, help="write choose_left_out(345 words) and stop")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_left_out:
        args.write_left_out.write_text("\n".join(choose_left_out(quickdraw.words(args.simplified))) + "\n")
        return 0
    if args.hide_file:
        args.hide = [*args.hide, *read_words_file(args.hide_file)]
    res, params = evaluate(args)
    block = card_block(res)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    if args.card:
        update_card(args.card, block)
    if args.write_params:
        write_params(args.model, res, params)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
