"""server/infer.py: the shipped model and the micro-batcher (order, identity, isolation)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from server.errors import InferenceFailed, ModelError
from server.infer import DEFAULT_MODEL_DIR, Batcher, Classifier, Priority, top_k
from server.render import INPUT_PX, as_points, render, render_params
from tests.conftest import ROOT, raw_sample


@pytest.fixture(scope="module")
def model() -> Classifier:
    return Classifier(DEFAULT_MODEL_DIR)


def images(n: int) -> np.ndarray:
    return np.stack([render([as_points(s[0], s[1]) for s in d["drawing"]]) for d in raw_sample()[:n]])


def test_shipped_model_loads_with_345_labels_and_metadata(model: Classifier) -> None:
    """models/ holds a LiteRT model, 345 labels in class order and model.json."""
    assert len(model.labels) == 345 and len(set(model.labels)) == 345
    assert model.labels == sorted(model.labels) and "The Eiffel Tower" in model.labels
    assert model.meta["classes"] == 345 and model.meta["input_px"] == INPUT_PX


def test_predict_gives_probabilities_for_any_batch_size(model: Classifier) -> None:
    """Batches of any size (beyond the largest bucket too) give rows that sum to 1, equal to one-by-one."""
    x = images(40)
    probs = model.predict(x)
    assert probs.shape == (40, 345) and np.allclose(probs.sum(1), 1, atol=1e-3)
    one = np.stack([model.predict(x[i : i + 1])[0] for i in range(40)])
    assert np.allclose(probs, one, atol=1e-5)


def test_top_k_is_sorted_best_first() -> None:
    """top_k returns k words by falling probability."""
    p = np.asarray([0.1, 0.5, 0.05, 0.3, 0.05], np.float32)
    assert top_k(list("abcde"), p, 3) == [("b", 0.5), ("d", pytest.approx(0.3)), ("a", pytest.approx(0.1))]


def test_missing_or_mismatched_model_is_a_clear_error(tmp_path) -> None:
    """A folder without the model, or labels that disagree with it, raise ModelError."""
    with pytest.raises(ModelError, match=r"doodle\.tflite"):
        Classifier(tmp_path)
    (tmp_path / "doodle.tflite").write_bytes((DEFAULT_MODEL_DIR / "doodle.tflite").read_bytes())
    (tmp_path / "model.json").write_bytes((DEFAULT_MODEL_DIR / "model.json").read_bytes())
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    with pytest.raises(ModelError, match="labels"):
        Classifier(tmp_path)


async def test_batched_results_equal_unbatched_and_keep_order(model: Classifier) -> None:
    """Concurrent requests are batched, yet each gets exactly its own unbatched answer, in order."""
    x = images(64)
    expected = [top_k(model.labels, p) for p in model.predict(x)]
    b = Batcher(model, max_batch=16, batch_wait_ms=5)
    await b.start()
    try:
        got = await asyncio.gather(*(b.classify(img) for img in x))
    finally:
        await b.close()
    assert [[w for w, _ in g] for g in got] == [[w for w, _ in e] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert [s for _, s in g] == pytest.approx([s for _, s in e], abs=1e-5)
    assert b.stats.requests == 64 and b.stats.batches < 64 and b.stats.largest <= 16


class Flaky:
    """A model that fails on any batch holding an all-white image."""

    def __init__(self, inner: Classifier) -> None:
        self.inner, self.labels, self.name = inner, inner.labels, "flaky"

    def predict(self, x: np.ndarray) -> np.ndarray:
        if any(img.min() == 255 for img in x):
            raise RuntimeError("poisoned input")
        return self.inner.predict(x)


async def test_a_failing_input_fails_only_its_own_request(model: Classifier) -> None:
    """One poisoned image in a batch gets InferenceFailed; its batch-mates still get answers."""
    x = list(images(8))
    x[3] = np.full((INPUT_PX, INPUT_PX), 255, np.uint8)
    b = Batcher(Flaky(model), max_batch=8, batch_wait_ms=20)
    await b.start()
    try:
        res = await asyncio.gather(*(b.classify(img) for img in x), return_exceptions=True)
    finally:
        await b.close()
    assert isinstance(res[3], InferenceFailed)
    assert all(isinstance(r, list) and len(r) == 5 for i, r in enumerate(res) if i != 3)
    assert b.stats.failures == 1


async def test_wrong_image_shape_is_refused() -> None:
    """classify() refuses images that are not 64x64 uint8."""
    b = Batcher(Classifier(DEFAULT_MODEL_DIR))
    with pytest.raises(InferenceFailed):
        await b.classify(np.zeros((32, 32), np.uint8))
    await b.close()


def test_model_card_figures_come_from_the_shipped_model(model: Classifier) -> None:
    """model.json describes the model that loads (name, classes, input size, architecture) and the README
    quotes its validation figures to three places."""
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    assert meta["name"] == model.name and meta["classes"] == len(model.labels) and meta["input_px"] == INPUT_PX
    assert meta["recipe"]["arch"] == meta["architecture"] and meta["recipe"]["width"] == meta["width"]
    figures = meta["val_raw_rendered"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = (
        f"top-1 {figures['top1']:.3f}, top-3 {figures['top3']:.3f}, top-5 {figures['top5']:.3f},"
        f" MAP@3 {figures['map3']:.3f}"
    )
    assert quoted in " ".join(readme.split()), quoted


def test_a_model_rendered_with_other_parameters_is_refused(tmp_path) -> None:
    """Loading a model whose model.json records other (or no) renderer parameters fails, naming them."""
    import shutil

    for name in ("doodle.tflite", "labels.txt"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    ours = render_params()["line_px"]
    meta["render"]["line_px"] = ours + 1
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=f"line_px: model {ours + 1} vs server {ours}"):
        Classifier(tmp_path)
    del meta["render"]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="does not record the renderer's parameters"):
        Classifier(tmp_path)


def test_the_shipped_model_gives_unit_embeddings_with_the_same_scores(model: Classifier) -> None:
    """One model call gives the calibrated scores (as predict) and a unit-length embedding per image."""
    x = images(6)
    scores, emb = model.predict_with_embedding(x)
    assert model.embedding_dim > 0 and emb.shape == (6, model.embedding_dim)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(scores, model.predict(x))
    same, _ = model.predict_with_embedding(np.concatenate([x, x]))
    assert np.allclose(same[:6], same[6:], atol=1e-6)


async def test_predict_returns_every_score_and_the_embedding_batched(model: Classifier) -> None:
    """Batcher.predict: each request gets its own unbatched scores and embedding; a poisoned one fails alone."""
    x = list(images(12))
    scores, emb = model.predict_with_embedding(np.stack(x))
    b = Batcher(model, max_batch=8, batch_wait_ms=20)
    await b.start()
    try:
        got = await asyncio.gather(*(b.predict(img) for img in x))
    finally:
        await b.close()
    assert emb.shape[1] == model.embedding_dim > 0
    for g, s, e in zip(got, scores, emb, strict=True):
        assert g.scores == pytest.approx(s, abs=1e-5) and g.embedding == pytest.approx(e, abs=1e-4)
    x[5] = np.full((INPUT_PX, INPUT_PX), 255, np.uint8)
    b = Batcher(Flaky(model), max_batch=8, batch_wait_ms=20)
    await b.start()
    try:
        res = await asyncio.gather(*(b.predict(img) for img in x), return_exceptions=True)
    finally:
        await b.close()
    assert isinstance(res[5], InferenceFailed)
    assert all(not isinstance(r, BaseException) and r.embedding.shape == (0,) for i, r in enumerate(res) if i != 5)


def test_an_r2_model_json_loads_as_one_picture_channel_and_channels_must_match_the_network(
    model: Classifier, tmp_path
) -> None:
    """The shipped (r2) model.json records no channels: it loads with the PICTURE encoding and serves encode()'s
    64x64 input; a model.json claiming two channels for that one-channel network is refused, naming the shapes."""
    import shutil

    from server.render import PICTURE, Encoding, encode, render_params

    assert "channels" not in model.meta["render"] and model.encoding == PICTURE
    strokes = [as_points(s[0], s[1]) for s in raw_sample()[0]["drawing"]]
    assert np.array_equal(model.predict(encode(strokes)[None]), model.predict(images(1)))
    for name in ("doodle.tflite", "labels.txt"):
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    meta["render"] = render_params(Encoding(("order", "progress")))
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"is not \(batch, 64, 64, 2\)"):
        Classifier(tmp_path)
    meta["render"]["channels"] = ["order", "speed"]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="channels must be distinct names"):
        Classifier(tmp_path)


class Gated:
    """A model whose calls wait for ``gate``; each call records the first pixel of its images (who sent them)."""

    name = "gated"

    def __init__(self) -> None:
        import threading

        self.labels = ["a", "b"]
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[list[int]] = []

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.entered.set()
        self.gate.wait(30)
        self.calls.append([int(img.flat[0]) for img in images])
        return np.full((len(images), 2), 0.5, np.float32)


def tagged(tag: int) -> np.ndarray:
    img = np.zeros((INPUT_PX, INPUT_PX), np.uint8)
    img.flat[0] = tag
    return img


async def test_a_pen_up_waits_at_most_one_model_call_behind_another_sessions_teach_flood() -> None:
    """Fair queue: with one call in progress and 100 teach images of session A queued (bulk), session B's
    pen-up goes in the very next model call; two bulk floods take turns; the queue reports its depth."""
    model = Gated()
    b = Batcher(model, max_batch=4)
    await b.start()
    try:
        first = asyncio.create_task(b.predict(tagged(9), owner="A", priority=Priority.BULK))
        await asyncio.to_thread(model.entered.wait, 10)  # the first call is in progress, held by the gate
        flood = [asyncio.create_task(b.predict(tagged(1), owner="A", priority=Priority.BULK)) for _ in range(100)]
        other = [asyncio.create_task(b.predict(tagged(3), owner="C", priority=Priority.BULK)) for _ in range(4)]
        pen_up = asyncio.create_task(b.predict(tagged(2), owner="B"))
        await asyncio.sleep(0)
        report = b.queue_report()
        assert report["depth"] == 105 and report["owners"] == 3
        model.gate.set()
        await pen_up
        await asyncio.gather(first, *flood, *other)
    finally:
        model.gate.set()
        await b.close()
    calls_ahead = next(i for i, call in enumerate(model.calls) if 2 in call)
    assert calls_ahead <= 1, model.calls[:4]  # the call in progress, then its own
    assert model.calls[1] == [2, 1, 3, 1]  # B first, then A and C in turn
    assert max(i for i, call in enumerate(model.calls) if 3 in call) == 3  # C's 4 images did not wait for A's 100
    assert b.queue_report()["depth"] == 0 and b.stats.queue_wait_max_ms > 0
