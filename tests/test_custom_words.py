"""server/custom_words.py (features, prototypes, nearness terms, one combined ranking, restriction,
vocabulary limits, the parameters file), training --exclude-words, training/custom_words_eval.py (fit
and a tiny evaluation run), and a live server scoring taught words exactly as the evaluation does."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from replay_client.client import DoodleClient
from server import custom_words as cw
from server import quickdraw
from server.errors import ModelError
from server.infer import Classifier
from server.ranking import Ranker
from server.render import Points, as_points, render
from tests.conftest import MODEL_DIR, RAW, SIMPLIFIED, ServerProcess
from training import custom_words_eval, train
from training import data as train_data

finite = st.floats(-10, 10, allow_nan=False, width=32)
LABELS = [f"w{i}" for i in range(6)]
#: Parameters of the tests without a model (a, b as fitted for the shipped model's size; a center).
PARAMS = cw.Params(20.0, -15.0, (0.1, 0.2, 0.1, 0.2))
#: The same with every term: a power transform and the known words' means of LABELS.
MEANS = cw.unit(np.random.default_rng(7).uniform(-1, 1, size=(len(LABELS), 4))).astype(np.float32)
NEAR = cw.Params(20.0, -12.0, (0.1, 0.2, 0.1, 0.2), 0.5, -6.0, -2.0, MEANS)


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


def test_example_images_take_the_model_encoding() -> None:
    """A model with two input channels gets its taught examples encoded as it was trained: encode() of each
    drawing, then its copies, whose order channel is the one-channel example image."""
    from server.render import Encoding, encode

    two = Encoding(("order", "progress"))
    drawings = [spiral(2, 0.0), spiral(3, 1.0)]
    images = cw.example_images(drawings, two)
    assert images.shape == (2 * (1 + cw.EXAMPLE_COPIES), 64, 64, 2)
    assert np.array_equal(images[0], encode(drawings[0], two))
    assert np.array_equal(images[..., 0], cw.example_images(drawings))


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
@given(case)
def test_a_custom_words_logit_has_its_nearness_terms(
    c: tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> None:
    """With known words' means, a custom word scores exp(a cos + b + near_input n_x + near_word n_k)
    against the model's mass, n the largest cosine of the drawing's features / the prototype with
    any known mean."""
    raw, emb, protos = c
    scores = raw / raw.sum()
    vocab = vocabulary_of(protos)
    got = dict(cw.rank(LABELS, scores, emb, vocab, params=NEAR))
    model_mass = sum(got[w] for w in LABELS)
    f = cw.features(emb[None], NEAR)[0].astype(np.float64)
    for w in vocab.words():
        p = vocab[w].prototype.astype(np.float64)
        logit = NEAR.a * f @ p + NEAR.b + NEAR.near_input * (MEANS @ f).max() + NEAR.near_word * (MEANS @ p).max()
        assert math.isclose(got[w], math.exp(logit) * model_mass, rel_tol=1e-5, abs_tol=1e-300)
        assert vocab[w].nearness(NEAR) == pytest.approx((MEANS @ p).max(), abs=1e-6)


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
    with pytest.raises(cw.ModelWordTaken):
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


def test_params_come_from_model_json_or_the_defaults(tmp_path: Path) -> None:
    """model.json custom_words {a, b, near_*?, power?, center? | file?}; absent: None (no custom words);
    malformed: refused."""
    assert cw.params_of({}) is None
    assert cw.params_of({"custom_words": {"a": 12.5, "b": -3}}) == cw.Params(12.5, -3.0)
    assert cw.params_of({"custom_words": {"a": 1, "b": 0, "center": [0.5, 0]}}) == cw.Params(1.0, 0.0, (0.5, 0.0))
    np.savez(tmp_path / "cw.npz", center=np.array([0.5, 0.0]), known_means=np.eye(2)[[0, 1, 1]])
    entry = {"a": 2, "b": -1, "near_input": -3, "near_word": -0.5, "power": 0.5, "file": "cw.npz"}
    got = cw.params_of({"custom_words": entry}, tmp_path)
    assert got == cw.Params(2.0, -1.0, (0.5, 0.0), 0.5, -3.0, -0.5)
    assert got is not None and got.known_means is not None and got.known_means.shape == (3, 2)
    bads = (
        {"a": -1, "b": 0},
        {"a": 1},
        {"a": float("nan"), "b": 0},
        {"a": "1", "b": 0},
        {"a": True, "b": 0},
        {"a": 1, "b": 0, "center": 3},
        {"a": 1, "b": 0, "power": 0},
        {"a": 1, "b": 0, "power": 9},
        {"a": 1, "b": 0, "near_input": -1},  # nearness needs the known means
        {"a": 1, "b": 0, "file": "../cw.npz"},
        {**entry, "center": [0.5, 0.0]},
        [1, 2],
    )
    for bad in bads:
        with pytest.raises(cw.CustomWordError):
            cw.params_of({"custom_words": bad}, tmp_path)
    with pytest.raises(cw.CustomWordError, match="model folder"):
        cw.params_of({"custom_words": entry})


def test_the_parameters_file_is_validated_with_a_clear_error(tmp_path: Path) -> None:
    """A missing, unreadable or malformed custom_words.npz is refused naming the file and the fault,
    and a server's ranker turns that (or arrays that do not fit the model) into a ModelError."""
    path = tmp_path / cw.PARAMS_FILE
    entry = {"custom_words": {"a": 2, "b": -1, "file": cw.PARAMS_FILE}}
    good: dict[str, Any] = {"center": np.zeros(4), "known_means": np.ones((len(LABELS), 4))}
    cases: dict[str, Any] = {
        "not found": None,
        "not a readable": b"not an npz file",
        "BadZipFile": (MODEL_DIR / cw.PARAMS_FILE).read_bytes()[:2000],  # cut short
        "missing arrays": {"center": np.zeros(4)},
        "must be \\(D,\\)": {"center": np.zeros(4), "known_means": np.ones((len(LABELS), 3))},
        "floating-point": {"center": np.zeros(4, np.int64), "known_means": np.ones((len(LABELS), 4), np.int64)},
        "finite": {"center": np.full(4, np.nan), "known_means": np.ones((len(LABELS), 4))},
        "not a readable .npz": {"center": np.array([{"x": 1}], dtype=object), "known_means": np.ones((6, 4))},
    }
    for fault, content in cases.items():
        path.unlink(missing_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            with path.open("wb") as f:
                np.savez(f, **content)
        with pytest.raises(cw.CustomWordError, match=fault) as e:
            cw.params_of(entry, tmp_path)
        assert str(path) in str(e.value)
        with pytest.raises(ModelError, match=fault):
            Ranker.for_model(LABELS, entry, embedding_dim=4, model_dir=tmp_path)
    with path.open("wb") as f:
        np.savez(f, **good)
    assert Ranker.for_model(LABELS, entry, embedding_dim=4, model_dir=tmp_path).teachable
    for labels, dim in ((LABELS[:-1], 4), (LABELS, 5)):
        with pytest.raises(ModelError, match="custom-word"):
            Ranker.for_model(labels, entry, embedding_dim=dim, model_dir=tmp_path)


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(arrays(np.float32, (3, 4), elements=st.floats(0.125, 1.0, width=32)))
def test_features_are_the_centred_embedding_renormalised(emb: npt.NDArray[np.float32]) -> None:
    """With a center, features are unit(unit(unit(e) ** power) - center); without, the unit embedding;
    a center of the wrong width is refused."""
    center = (0.25, 0.25, 0.25, 0.25)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    for power in (1.0, 0.5):
        powered = e**power / np.linalg.norm(e**power, axis=1, keepdims=True)
        want = powered - np.asarray(center)
        got = cw.features(emb, cw.Params(1.0, 0.0, center, power))
        for g, w in zip(got, want, strict=True):
            if np.linalg.norm(w) > 1e-3:
                assert np.allclose(g, w / np.linalg.norm(w), atol=1e-4)
    assert np.allclose(cw.features(emb), e, atol=1e-6)
    with pytest.raises(cw.CustomWordError):
        cw.features(emb, cw.Params(1.0, 0.0, (0.1, 0.2)))


def test_shipped_model_records_fitted_params() -> None:
    """The shipped model.json carries the fitted weights and names custom_words.npz, whose center and
    known means fit the model, all written by training.custom_words_eval."""
    meta = json.loads((MODEL_DIR / "model.json").read_text())
    params = cw.params_of(meta, MODEL_DIR)
    model = Classifier(MODEL_DIR)
    assert params is not None and params.a > 0 and "fitted_on" in meta["custom_words"]
    assert meta["custom_words"]["file"] == cw.PARAMS_FILE and params.known_means is not None
    cw.check_params(params, len(model.labels), model.embedding_dim)
    assert len(params.center) == model.embedding_dim
    assert np.allclose(np.linalg.norm(params.known_means, axis=1), 1.0, atol=1e-4)


# ------------------------------------------------------------------ with the shipped model


@pytest.fixture(scope="module")
def model() -> Classifier:
    return Classifier(MODEL_DIR, max_batch=16)


def test_a_word_taught_from_spirals_wins_on_new_spirals_and_leaves_cats_alone(model: Classifier) -> None:
    """Taught from 5 synthetic spirals, "twirl" ranks first on 5 other spirals with the shipped
    model; raw cats the model gets right still rank "cat" first."""
    params = cw.params_of(model.meta, MODEL_DIR)
    assert params is not None
    vocab = cw.CustomVocabulary(reserved=model.labels)
    embed = lambda x: model.predict_with_embedding(x)[1]  # noqa: E731
    vocab.teach("twirl", cw.example_embeddings(embed, [spiral(2 + 0.5 * k, 0.7 * k) for k in range(5)], params))
    tests = [spiral(2.25 + 0.5 * k, 0.3 + 0.9 * k) for k in range(5)]
    scores, emb = model.predict_with_embedding(np.stack([render(s) for s in tests]))
    for s, e in zip(scores, emb, strict=True):
        assert cw.rank(model.labels, s, e, vocab, params=params)[0][0] == "twirl"
    cats = [train_data.strokes_of(d) for d in quickdraw.read_file(RAW / "cat.ndjson")]
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
    args = train.parse_args(
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
    data = train.load_data(args)
    assert data.labels == ["apple", "dog"] and data.excluded == ["cat", "eye"]
    assert np.array_equal(np.bincount(data.train.labels), [3, 3]) and len(data.train) == 6
    assert len(data.val_y) == 6 and set(data.val_y.tolist()) == {0, 1}
    first_dog = next(quickdraw.read_file(simp / "dog.ndjson.gz"))
    assert [s[:, 0].astype(int).tolist() for s in data.train.strokes(3)] == [list(s.x) for s in first_dog.strokes]
    with pytest.raises(ValueError, match="not in the data"):
        train_data.without(words, ["cat", "unicorn"])


# ------------------------------------------------------------------ the evaluation


def terms_of(
    cos: npt.NDArray[np.float64], near_x: npt.NDArray[np.float64], near_k: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """score_terms' layout (B, K, 4) from cosines (B, K), drawings' (B,) and words' (K,) nearness."""
    n, k = cos.shape
    return np.stack([cos, np.ones_like(cos), np.repeat(near_x[:, None], k, 1), np.repeat(near_k[None], n, 0)], axis=2)


def test_fit_params_recovers_the_parameters_that_made_the_data() -> None:
    """Labels drawn from the combined softmax with known weights give back about those weights,
    all four or only a and b (the nearness weights then kept at the start's)."""
    rng = np.random.default_rng(1)
    n, c, k = 4000, 6, 3
    logp = np.log(rng.dirichlet(np.ones(c), size=n))
    terms = terms_of(rng.uniform(-0.2, 1.0, size=(n, k)), rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, k))
    z = np.concatenate([logp, terms @ np.array([8.0, -2.0, -3.0, -1.5])], axis=1)
    p = cw.softmax(z)
    y = np.array([rng.choice(c + k, p=row) for row in p])
    got = custom_words_eval.fit_params(logp, terms, y, fit=[True] * 4)
    assert abs(got.a - 8.0) < 1.0 and abs(got.b + 2.0) < 1.0 and abs(got.near_input + 3.0) < 1.0
    assert abs(got.near_word + 1.5) < 1.5
    plain = terms_of(terms[:, :, 0], np.zeros(n), np.zeros(k))
    y2 = np.array(
        [rng.choice(c + k, p=row) for row in cw.softmax(np.concatenate([logp, plain @ [8.0, -4.0, 0, 0]], 1))]
    )
    two = custom_words_eval.fit_params(logp, terms, y2, start=cw.Params(10.0, -10.0), fit=[True, True, False, False])
    assert two.near_input == 0.0 and two.near_word == 0.0
    assert two == custom_words_eval.fit_params(logp, terms, y2)  # no known means: a and b only
    assert abs(custom_words_eval.fit_params(logp, plain, y2).a - 8.0) < 1.0


def test_constrain_offset_lowers_b_just_enough_to_keep_known_words() -> None:
    """b comes down until the known words' top-1 falls by at most the bound, and no further
    than needed (a little more b breaks the bound); a already within it is kept."""
    rng = np.random.default_rng(2)
    n, c, k = 600, 5, 2
    logp = np.log(rng.dirichlet(np.ones(c) * 0.5, size=n))
    terms = terms_of(rng.uniform(0.0, 1.0, size=(n, k)), rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, k))
    y = np.where(rng.random(n) < 0.8, logp.argmax(axis=1), c + rng.integers(0, k, n))
    loose = cw.Params(10.0, -2.0, near_input=-1.0, near_word=-0.5)
    assert custom_words_eval.known_top1_drop(loose, logp, terms, y) > 0.05
    tight = custom_words_eval.constrain_offset(loose, logp, terms, y, max_drop=0.01)
    assert (tight.a, tight.near_input, tight.near_word) == (10.0, -1.0, -0.5) and tight.b < loose.b
    assert custom_words_eval.known_top1_drop(tight, logp, terms, y) <= 0.01
    looser = cw.Params(tight.a, tight.b + 0.05, near_input=-1.0, near_word=-0.5)
    assert custom_words_eval.known_top1_drop(looser, logp, terms, y) > 0.01
    assert custom_words_eval.constrain_offset(tight, logp, terms, y, max_drop=0.01) == tight


def test_choose_left_out_is_fixed_by_its_seed() -> None:
    """The left-out words are the same every time, and 20 distinct words of the 345."""
    words = quickdraw.words(SIMPLIFIED)
    chosen = custom_words_eval.choose_left_out(words)
    assert chosen == custom_words_eval.choose_left_out(list(reversed(words)))
    assert len(set(chosen)) == custom_words_eval.LEFT_OUT and set(chosen) <= set(words)


@pytest.mark.slow
def test_the_evaluation_command_runs_and_writes_results_card_and_params(tmp_path: Path) -> None:
    """A tiny run (shipped model copied, 2 model words hidden): JSON with every figure in 0..1, the
    card's custom-words block rewritten, the rest of the card untouched, and the parameters written
    to model.json and custom_words.npz so that a server's ranker loads them."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("doodle.tflite", "labels.txt", "model.json"):
        (model_dir / name).write_bytes((MODEL_DIR / name).read_bytes())
    card = tmp_path / "CARD.md"
    card.write_text(f"# card\n{custom_words_eval.CARD_START}\nold\n{custom_words_eval.CARD_END}\ntail\n")
    out = tmp_path / "res.json"
    argv = ["--model", str(model_dir), "--hide", "snake", "eye", "--shots", "1", "3", "--fit-shots", "3"]
    argv += ["--fit-per-word", "3", "--known-fit-words", "20", "--known-start", "0", "--reference-per-word", "1"]
    argv += ["--raw-per-word", "2", "--out", str(out), "--card", str(card), "--write-params"]
    assert custom_words_eval.main(argv) == 0
    res = json.loads(out.read_text())
    assert res["left_out"] == ["snake", "eye"] and res["known_words"] == 343
    assert res["raw"]["left_out_drawings"] == 4 and res["raw"]["known_drawings"] == 343 * 2
    for n in ("1", "3"):
        r = res["by_shots"][n]
        for key in ("taught_top1", "taught_top3", "known_top1_without", "known_top1_with"):
            assert 0.0 <= r[key] <= 1.0
        assert r["taught_top1"] <= r["taught_top3"]
        assert 0.0 <= res["fit_split"][n]["taught_top3"] <= 1.0
    text = card.read_text()
    assert text.startswith("# card\n") and text.endswith("\ntail\n") and "old" not in text
    assert "| 3 |" in text and res["date"] in text
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["custom_words"]["file"] == cw.PARAMS_FILE and meta["custom_words"]["power"] == custom_words_eval.POWER
    ranker = Ranker.for_model(
        Classifier(model_dir).labels, meta, embedding_dim=Classifier(model_dir).embedding_dim, model_dir=model_dir
    )
    assert ranker.params is not None and ranker.params.known_means is not None
    assert ranker.params.known_means.shape[0] == 345  # the hidden words keep their rows
    assert ranker.params.a == pytest.approx(res["params"]["a"], abs=1e-4)


# ------------------------------------------------------------------ the server, as the evaluation


async def test_a_live_server_scores_a_taught_word_exactly_as_the_evaluation_does(server: ServerProcess) -> None:
    """Taught "zorblat" from 5 raw snails, a live server's target score and top 5 for 3 other snails
    equal the evaluation's own path (teach_all, Scorer, combined_logits with the model's parameters file)."""
    model = Classifier(MODEL_DIR, max_batch=16)
    params = cw.params_of(model.meta, MODEL_DIR)
    assert params is not None and params.known_means is not None and params.power != 1.0
    snails = list(quickdraw.read(RAW / "snail.ndjson", per_word=8))
    strokes = [[as_points(s.x, s.y) for s in d.strokes] for d in snails]
    scorer = custom_words_eval.Scorer(model, [])
    vocab = custom_words_eval.teach_all(scorer, {"zorblat": strokes[:5]}, 5, params)
    logp, emb = scorer(strokes[5:])
    want = cw.softmax(cw.combined_logits(np.exp(logp), emb, vocab.prototypes(), params, vocab.nearness(params)))
    names = [*model.labels, "zorblat"]
    async with DoodleClient(server.url) as c:
        taught = await c.teach("zorblat", [[(s.x, s.y) for s in d.strokes] for d in snails[:5]])
        assert taught["type"] == "taught", taught
        assert (await c.hello(target="zorblat", top_k=5))["type"] == "hello"
        for d, row in zip(snails[5:], want, strict=True):
            assert (await c.call({"type": "clear"}))["type"] == "cleared"
            for s in d.strokes:
                reply = await c.call({"type": "stroke", "x": list(s.x), "y": list(s.y), "t": list(s.t or [])})
            assert reply["target"]["score"] == pytest.approx(row[-1], abs=2e-5)
            assert reply["target"]["rank"] == 1 + int((row > row[-1] + 1e-6).sum())
            fifth = np.sort(row)[-5]
            for g in reply["guesses"]:
                got = row[names.index(g["word"])]
                assert g["score"] == pytest.approx(got, abs=2e-5) and got >= fifth - 1e-5
