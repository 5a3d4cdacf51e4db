"""server/custom_words.py (prototypes, one combined ranking, restriction, vocabulary limits),
training --exclude-words, and training/custom_words_eval.py (fit and a tiny evaluation run)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from server import custom_words as cw
from server import quickdraw
from server.infer import Classifier
from server.render import Points, render
from tests.conftest import MODEL_DIR, RAW, SIMPLIFIED
from training import custom_words_eval as E
from training import data as D
from training import train as T

finite = st.floats(-10, 10, allow_nan=False, width=32)
LABELS = [f"w{i}" for i in range(6)]
#: Parameters of the tests without a model (a, b as fitted for the shipped model's size; a center).
PARAMS = cw.Params(20.0, -15.0, (0.1, 0.2, 0.1, 0.2))


def fake_embed(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """A stand-in model: 16 block means of each image, unit length."""
    x = images.reshape(len(images), 4, 16, 4, 16).mean(axis=(2, 4)).reshape(len(images), 16) + 1.0
    return cw.unit(x)


def spiral(turns: float, phase: float, n: int = 120) -> list[Points]:
    """One stroke: an Archimedean spiral."""
    t = np.linspace(0, turns * 2 * np.pi, n)
    return [np.stack([t * np.cos(t + phase), t * np.sin(t + phase)], axis=1) * 10 + 300]


# ------------------------------------------------------------------ prototypes


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(2, 12)), elements=finite))
def test_prototype_is_the_unit_mean_of_its_examples(examples: npt.NDArray[np.float32]) -> None:
    """A prototype has unit length and points the way of the examples' mean."""
    mean = examples.astype(np.float64).mean(axis=0)
    if np.linalg.norm(mean) < 1e-3:
        return
    p = cw.prototype(examples)
    assert math.isclose(float(np.linalg.norm(p)), 1.0, rel_tol=1e-5)
    assert np.allclose(p, mean / np.linalg.norm(mean), atol=1e-5)


def test_adding_examples_equals_teaching_them_all_at_once() -> None:
    """Teaching in two messages gives the prototype of all examples together."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 8)), rng.normal(size=(2, 8))
    vocab = cw.CustomVocabulary()
    vocab.teach("thing", a)
    word = vocab.teach("thing", b)
    assert len(word.examples) == 5
    assert np.allclose(word.prototype, cw.prototype(np.concatenate([a, b])), atol=1e-6)


def test_example_embeddings_average_the_drawing_and_its_augmented_copies() -> None:
    """Each example is the mean of the unit embeddings of itself and EXAMPLE_COPIES warped copies,
    the same for the same drawing every time."""
    drawings = [spiral(2, 0.0), spiral(3, 1.0)]
    images = cw.example_images(drawings)
    assert images.shape == (2 * (1 + cw.EXAMPLE_COPIES), 64, 64)
    assert np.array_equal(images[0], render(drawings[0]))
    assert not np.array_equal(images[0], images[1])  # copies are warped
    assert np.array_equal(images, cw.example_images(drawings))  # deterministic
    got = cw.example_embeddings(fake_embed, drawings, cw.Params(1.0, 0.0))
    per = fake_embed(images).reshape(2, 1 + cw.EXAMPLE_COPIES, -1).mean(axis=1)
    assert np.allclose(got, per, atol=1e-6)


# ------------------------------------------------------------------ ranking


def vocabulary_of(protos: npt.NDArray[np.float32]) -> cw.CustomVocabulary:
    vocab = cw.CustomVocabulary(reserved=LABELS)
    for k, p in enumerate(protos):
        vocab.teach(f"c{k}", p[None])
    return vocab


case = st.tuples(
    arrays(np.float64, len(LABELS), elements=st.floats(1e-6, 1.0)),
    arrays(np.float32, 4, elements=finite),
    arrays(np.float32, st.tuples(st.integers(0, 4), st.just(4)), elements=st.floats(0.125, 1.0, width=32)),
)


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(case)
def test_ranking_is_one_renormalised_softmax_keeping_the_model_words_ratios(
    c: tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> None:
    """Every model and custom word appears once, best first, scores sum to 1; the model's
    words keep their ratios; a custom word scores exp(a cos + b) against the model's whole mass."""
    raw, emb, protos = c
    scores = raw / raw.sum()
    vocab = vocabulary_of(protos)
    ranking = cw.rank(LABELS, scores, emb, vocab, params=PARAMS)
    words = [w for w, _ in ranking]
    assert sorted(words) == sorted(LABELS + vocab.words())
    values = np.array([s for _, s in ranking])
    assert math.isclose(values.sum(), 1.0, rel_tol=1e-9) and (np.diff(values) <= 1e-12).all()
    got = dict(ranking)
    model_mass = sum(got[w] for w in LABELS)
    for w, s in zip(LABELS, scores, strict=True):
        assert math.isclose(got[w], s * model_mass, rel_tol=1e-6, abs_tol=1e-300)
    for w in vocab.words():
        cos = float(cw.features(emb[None], PARAMS)[0] @ vocab[w].prototype)
        expected = math.exp(PARAMS.a * cos + PARAMS.b) * model_mass
        assert math.isclose(got[w], expected, rel_tol=1e-5, abs_tol=1e-300)


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(case, st.data())
def test_a_restricted_ranking_is_the_full_one_renormalised_among_the_words(
    c: tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float32]], data: st.DataObject
) -> None:
    """Restricting keeps exactly the words asked for, with scores proportional to the full
    ranking's and summing to 1."""
    raw, emb, protos = c
    vocab = vocabulary_of(protos)
    full = dict(cw.rank(LABELS, raw / raw.sum(), emb, vocab, params=PARAMS))
    subset = data.draw(st.lists(st.sampled_from(sorted(full)), min_size=1, unique=True))
    restricted = cw.rank(LABELS, raw / raw.sum(), emb, vocab, params=PARAMS, restrict_to=subset)
    assert sorted(w for w, _ in restricted) == sorted(subset)
    total = sum(full[w] for w in subset)
    assert math.isclose(sum(s for _, s in restricted), 1.0, rel_tol=1e-9)
    if total > 1e-250:
        for w, s in restricted:
            assert math.isclose(s, full[w] / total, rel_tol=1e-6, abs_tol=1e-12)


def test_restricting_to_unknown_words_names_them_all() -> None:
    """Words that are neither model nor custom words raise UnknownWords listing each once."""
    vocab = vocabulary_of(np.ones((1, 4), np.float32))
    with pytest.raises(cw.UnknownWords) as e:
        cw.rank(
            LABELS,
            np.full(6, 1 / 6),
            np.ones(4),
            vocab,
            params=PARAMS,
            restrict_to=["w1", "zebra", "c0", "yak", "zebra"],
        )
    assert e.value.words == ["yak", "zebra"]


def test_without_custom_words_the_ranking_is_the_models() -> None:
    """An empty vocabulary changes nothing: the model's scores in the model's order."""
    scores = np.array([0.1, 0.4, 0.05, 0.3, 0.1, 0.05])
    ranking = cw.rank(LABELS, scores, np.ones(4), cw.CustomVocabulary(), params=PARAMS)
    assert [w for w, _ in ranking] == ["w1", "w3", "w0", "w4", "w2", "w5"]
    assert np.allclose([s for _, s in ranking], sorted(scores, reverse=True))


# ------------------------------------------------------------------ vocabulary and parameters


def test_vocabulary_limits_refuse_before_changing_anything() -> None:
    """Model words are taken; past max_words or max_examples a teach is refused and nothing changes."""
    vocab = cw.CustomVocabulary(reserved=LABELS, max_words=2, max_examples=3)
    with pytest.raises(cw.WordTaken):
        vocab.teach("w0", np.ones((1, 4)))
    vocab.teach("a", np.ones((2, 4)))
    vocab.teach("b", np.ones((1, 4)))
    with pytest.raises(cw.VocabularyFull):
        vocab.teach("c", np.ones((1, 4)))
    with pytest.raises(cw.TooManyExamples):
        vocab.teach("a", np.ones((2, 4)))
    assert vocab.words() == ["a", "b"] and len(vocab["a"].examples) == 2
    assert vocab.forget("a") and not vocab.forget("a")
    vocab.teach("c", np.ones((3, 4)))
    assert vocab.words() == ["b", "c"]


def test_params_come_from_model_json_or_the_defaults() -> None:
    """model.json custom_words {a, b, center?}; absent: None (no custom words); malformed: refused."""
    assert cw.params_of({}) is None
    assert cw.params_of({"custom_words": {"a": 12.5, "b": -3}}) == cw.Params(12.5, -3.0)
    assert cw.params_of({"custom_words": {"a": 1, "b": 0, "center": [0.5, 0]}}) == cw.Params(1.0, 0.0, (0.5, 0.0))
    bads = (
        {"a": -1, "b": 0},
        {"a": 1},
        {"a": float("nan"), "b": 0},
        {"a": "1", "b": 0},
        {"a": 1, "b": 0, "center": 3},
        [1, 2],
    )
    for bad in bads:
        with pytest.raises(cw.CustomWordError):
            cw.params_of({"custom_words": bad})


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(arrays(np.float32, (3, 4), elements=st.floats(0.125, 1.0, width=32)))
def test_features_are_the_centred_embedding_renormalised(emb: npt.NDArray[np.float32]) -> None:
    """With a center, features are unit(unit(e) - center); without, the unit embedding; a
    center of the wrong width is refused."""
    center = (0.25, 0.25, 0.25, 0.25)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    want = e - np.asarray(center)
    got = cw.features(emb, cw.Params(1.0, 0.0, center))
    for g, w in zip(got, want, strict=True):
        if np.linalg.norm(w) > 1e-3:
            assert np.allclose(g, w / np.linalg.norm(w), atol=1e-4)
    assert np.allclose(cw.features(emb), e, atol=1e-6)
    with pytest.raises(cw.CustomWordError):
        cw.features(emb, cw.Params(1.0, 0.0, (0.1, 0.2)))


def test_shipped_model_records_fitted_params() -> None:
    """The shipped model.json carries a, b and a center of the embedding's width, fitted by
    training.custom_words_eval."""
    meta = json.loads((MODEL_DIR / "model.json").read_text())
    params = cw.params_of(meta)
    assert params is not None and params.a > 0 and "fitted_on" in meta["custom_words"]
    assert len(params.center) == Classifier(MODEL_DIR).embedding_dim


# ------------------------------------------------------------------ with the shipped model


@pytest.fixture(scope="module")
def model() -> Classifier:
    return Classifier(MODEL_DIR, max_batch=16)


def test_a_word_taught_from_spirals_wins_on_new_spirals_and_leaves_cats_alone(model: Classifier) -> None:
    """Taught from 5 synthetic spirals, "twirl" ranks first on 5 other spirals with the shipped
    model; raw cats the model gets right still rank "cat" first."""
    params = cw.params_of(model.meta)
    assert params is not None
    vocab = cw.CustomVocabulary(reserved=model.labels)
    embed = lambda x: model.predict_with_embedding(x)[1]  # noqa: E731
    vocab.teach("twirl", cw.example_embeddings(embed, [spiral(2 + 0.5 * k, 0.7 * k) for k in range(5)], params))
    tests = [spiral(2.25 + 0.5 * k, 0.3 + 0.9 * k) for k in range(5)]
    scores, emb = model.predict_with_embedding(np.stack([render(s) for s in tests]))
    for s, e in zip(scores, emb, strict=True):
        assert cw.rank(model.labels, s, e, vocab, params=params)[0][0] == "twirl"
    cats = [D.strokes_of(d) for d in quickdraw.read_file(RAW / "cat.ndjson")]
    scores, emb = model.predict_with_embedding(np.stack([render(s) for s in cats]))
    right = [(s, e) for s, e in zip(scores, emb, strict=True) if model.labels[int(s.argmax())] == "cat"]
    assert len(right) >= 10
    for s, e in right:
        assert cw.rank(model.labels, s, e, vocab, params=params)[0][0] == "cat"


# ------------------------------------------------------------------ --exclude-words


def _tiny_data(root: Path, words: list[str], n: int) -> tuple[Path, Path]:
    """simplified/ and raw/ folders holding the first ``n`` drawings of ``words``."""
    simp, raw = root / "simplified", root / "raw"
    simp.mkdir()
    raw.mkdir()
    for w in words:
        with gzip.open(SIMPLIFIED / f"{w}.ndjson.gz", "rt") as src, gzip.open(simp / f"{w}.ndjson.gz", "wt") as dst:
            dst.writelines(src.readline() for _ in range(n))
        with (RAW / f"{w}.ndjson").open() as src, (raw / f"{w}.ndjson").open("w") as dst:
            dst.writelines(src.readline() for _ in range(n))
    return simp, raw


def test_exclude_words_leaves_them_out_of_classes_training_and_validation(tmp_path: Path) -> None:
    """training.train --exclude-words: the words are no class, no training drawing and no validation drawing."""
    words = ["apple", "cat", "dog", "eye"]
    simp, raw = _tiny_data(tmp_path, words, 3)
    (tmp_path / "out.txt").write_text("# left out\ncat\n\neye\n")
    args = T.parse_args(
        [
            "--data",
            str(simp),
            "--val",
            str(raw),
            "--work",
            str(tmp_path / "w"),
            "--exclude-words",
            str(tmp_path / "out.txt"),
        ]
    )
    data = T.load_data(args)
    assert data.labels == ["apple", "dog"] and data.excluded == ["cat", "eye"]
    assert np.array_equal(np.bincount(data.train.labels), [3, 3]) and len(data.train) == 6
    assert len(data.val_y) == 6 and set(data.val_y.tolist()) == {0, 1}
    first_dog = next(quickdraw.read_file(simp / "dog.ndjson.gz"))
    assert [s[:, 0].astype(int).tolist() for s in data.train.strokes(3)] == [list(s.x) for s in first_dog.strokes]
    with pytest.raises(ValueError, match="not in the data"):
        D.without(words, ["cat", "unicorn"])


# ------------------------------------------------------------------ the evaluation


def test_fit_params_recovers_the_parameters_that_made_the_data() -> None:
    """Labels drawn from the combined softmax with known a, b give back about those a, b."""
    rng = np.random.default_rng(1)
    n, c, k = 4000, 6, 3
    logp = np.log(rng.dirichlet(np.ones(c), size=n))
    cos = rng.uniform(-0.2, 1.0, size=(n, k))
    z = np.concatenate([logp, 8.0 * cos - 4.0], axis=1)
    p = cw.softmax(z)
    y = np.array([rng.choice(c + k, p=row) for row in p])
    got = E.fit_params(logp, cos, y)
    assert abs(got.a - 8.0) < 1.0 and abs(got.b + 4.0) < 0.7


def test_constrain_offset_lowers_b_just_enough_to_keep_known_words() -> None:
    """b comes down until the known words' top-1 falls by at most the bound, and no further
    than needed (a little more b breaks the bound); a already within it is kept."""
    rng = np.random.default_rng(2)
    n, c, k = 600, 5, 2
    logp = np.log(rng.dirichlet(np.ones(c) * 0.5, size=n))
    cos = rng.uniform(0.0, 1.0, size=(n, k))
    y = np.where(rng.random(n) < 0.8, logp.argmax(axis=1), c + rng.integers(0, k, n))
    loose = cw.Params(10.0, -2.0)
    assert E.known_top1_drop(loose, logp, cos, y) > 0.05
    tight = E.constrain_offset(loose, logp, cos, y, max_drop=0.01)
    assert tight.a == loose.a and tight.b < loose.b
    assert E.known_top1_drop(tight, logp, cos, y) <= 0.01
    assert E.known_top1_drop(cw.Params(tight.a, tight.b + 0.05), logp, cos, y) > 0.01
    assert E.constrain_offset(tight, logp, cos, y, max_drop=0.01) == tight


def test_choose_left_out_is_fixed_by_its_seed() -> None:
    """The left-out words are the same every time, and 20 distinct words of the 345."""
    words = quickdraw.words(SIMPLIFIED)
    chosen = E.choose_left_out(words)
    assert chosen == E.choose_left_out(list(reversed(words)))
    assert len(set(chosen)) == E.LEFT_OUT and set(chosen) <= set(words)


def test_the_evaluation_command_runs_and_writes_results_and_card(tmp_path: Path) -> None:
    """A tiny run (shipped model, 2 model words hidden): JSON with every figure in 0..1 and the
    card's custom-words block rewritten, the rest of the card untouched."""
    card = tmp_path / "CARD.md"
    card.write_text(f"# card\n{E.CARD_START}\nold\n{E.CARD_END}\ntail\n")
    out = tmp_path / "res.json"
    argv = ["--hide", "snake", "eye", "--shots", "1", "3", "--fit-shots", "3", "--fit-per-word", "3"]
    argv += ["--known-fit-words", "20", "--raw-per-word", "2", "--out", str(out), "--card", str(card)]
    assert E.main(argv) == 0
    res = json.loads(out.read_text())
    assert res["left_out"] == ["snake", "eye"] and res["known_words"] == 343
    assert res["raw"]["left_out_drawings"] == 4 and res["raw"]["known_drawings"] == 343 * 2
    for n in ("1", "3"):
        r = res["by_shots"][n]
        for key in ("taught_top1", "taught_top3", "known_top1_without", "known_top1_with"):
            assert 0.0 <= r[key] <= 1.0
        assert r["taught_top1"] <= r["taught_top3"]
    text = card.read_text()
    assert text.startswith("# card\n") and text.endswith("\ntail\n") and "old" not in text
    assert "| 3 |" in text and res["date"] in text
