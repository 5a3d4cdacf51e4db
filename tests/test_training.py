"""training/: data loading, label mapping, augmentation bounds, render parity, train/resume/export."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from server import quickdraw
from server.render import SPACE, Canvas, Encoding, as_points, encode, render, render_params
from tests.conftest import RAW, ROOT, SIMPLIFIED
from training import data as train_data
from training import train
from training.train import RECIPE_VERSION


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return train_data.labels_of(SIMPLIFIED)


@pytest.fixture(scope="module")
def small(labels: list[str], tmp_path_factory: pytest.TempPathFactory) -> train_data.DrawingSet:
    return train_data.load_simplified(SIMPLIFIED, labels=labels, per_class=4, cache=tmp_path_factory.mktemp("cache"))


def test_labels_are_the_345_words_sorted_and_match_raw(labels: list[str]) -> None:
    """Class order is the sorted file names; raw/ has exactly the same words."""
    assert len(labels) == 345 and labels == sorted(labels)
    assert train_data.labels_of(RAW) == labels


def test_label_mapping_is_right_for_every_drawing(labels: list[str], small: train_data.DrawingSet) -> None:
    """Each loaded drawing's label indexes the word of the file it came from."""
    assert len(small) == 345 * 4
    assert np.array_equal(np.bincount(small.labels, minlength=345), np.full(345, 4))
    import gzip

    with gzip.open(SIMPLIFIED / f"{labels[100]}.ndjson.gz", "rt") as fh:
        first = json.loads(fh.readline())["drawing"]
    i = int(np.nonzero(small.labels == 100)[0][0])
    assert [s[:, 0].astype(int).tolist() for s in small.strokes(i)] == [s[0] for s in first if s[0]]


def test_cache_gives_the_same_data_back(labels: list[str], tmp_path: Path) -> None:
    """The .npz cache round-trips the compact drawing set exactly."""
    a = train_data.load_simplified(SIMPLIFIED, labels=labels[:3], per_class=5, cache=tmp_path)
    assert list(tmp_path.glob("*.npz"))
    b = train_data.load_simplified(SIMPLIFIED, labels=labels[:3], per_class=5, cache=tmp_path)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.labels, b.labels)


def test_training_images_are_exactly_what_the_server_renders(small: train_data.DrawingSet) -> None:
    """Un-augmented training batches equal server.render.render of the same strokes (parity)."""
    idx = np.arange(0, len(small), 97)
    x, y = train_data.render_batch(small, idx, seed=None)
    for k, i in enumerate(idx):
        assert np.array_equal(x[k, :, :, 0], render(small.strokes(int(i))))
    assert np.array_equal(y, small.labels[idx])


@pytest.mark.slow
def test_raw_validation_drawings_render_like_served_ones(labels: list[str]) -> None:
    """load_raw gives strokes that render() turns into the server's input; labels match words."""
    strokes, y, records = train_data.load_raw(RAW, labels=labels)
    assert len(y) == len(records) == 9118
    for k in (0, 500, 9000):
        assert labels[y[k]] == records[k].word
        served = render([as_points(s.x, s.y) for s in records[k].strokes])
        assert np.array_equal(render(strokes[k]), served)


def test_augmentation_stays_within_its_bounds(small: train_data.DrawingSet) -> None:
    """Augmented drawings keep their stroke order, lose only trailing strokes, and stay near the original shape."""
    rng = np.random.default_rng(0)
    for i in range(0, len(small), 50):
        orig = small.strokes(i)
        aug = train_data.augment(orig, rng)
        assert 1 <= len(aug) <= len(orig)
        for a, o in zip(aug, orig, strict=False):
            assert a.shape == o.shape
            # rotation <= 12 deg, scale/aspect <= 1.15^2, shear <= .15, jitter ~1.2: bounded displacement
            centre = np.array([SPACE / 2, SPACE / 2])
            limit = np.linalg.norm(o - centre, axis=1).max() * 0.9 + 0.8 * SPACE
            assert np.abs(a - o).max() < limit


def test_augmentation_is_reproducible_and_varied(small: train_data.DrawingSet) -> None:
    """The same seed gives the same batch; different seeds give different batches."""
    idx = np.arange(32)
    a, _ = train_data.render_batch(small, idx, seed=5)
    b, _ = train_data.render_batch(small, idx, seed=5)
    c, _ = train_data.render_batch(small, idx, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_epoch_order_oversamples_thin_classes_to_the_floor() -> None:
    """Every drawing appears; classes below the floor are topped up to it."""
    labels = np.asarray([0] * 100 + [1] * 5 + [2] * 40, np.int16)
    order = train_data.epoch_order(labels, rng=np.random.default_rng(1), floor=50)
    counts = np.bincount(labels[order])
    assert counts.tolist() == [100, 50, 50] and set(range(len(labels))) <= set(order.tolist())


def run_train(tmp: Path, *extra: str) -> str:
    # Half an epoch of 1,035 drawings in 256-sample chunks is three chunks, as a full epoch in 512 was, at a
    # quarter of the width: the run stops, resumes and exports the same way with a fraction of the compute.
    cmd = [sys.executable, "-m", "training.train", "--data", str(SIMPLIFIED), "--val", str(RAW),
           "--per-class", "3", "--floor", "3", "--epochs", "0.5", "--width", "0.25",
           "--batch", "32", "--chunk", "256", "--val-limit", "50", "--work", str(tmp / "work"),
           "--out", str(tmp / "model"), *extra]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_train_stops_resumes_and_exports_a_servable_model(tmp_path: Path) -> None:
    """A time-boxed run stops after a chunk, the same command resumes, and the export loads in the server."""
    first = run_train(tmp_path, "--max-chunks", "1", "--channels", "order,progress")
    assert '"chunk": 1' in first and "run the same command to resume" in first
    assert not (tmp_path / "model").exists()
    second = run_train(tmp_path, "--channels", "order,progress")
    assert "resuming at chunk 1/3" in second and "exported to" in second
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["classes"] == 345 and meta["trained_chunks"] == 3
    assert meta["name"].endswith(f"-345-r{RECIPE_VERSION}")  # a new recipe's model never reuses an old name
    encoding = Encoding(("order", "progress"))
    assert meta["render"] == render_params(encoding) and meta["render"]["channels"] == ["order", "progress"]
    assert meta["recipe"]["floor"] == 3 and meta["near_copies_left_out"] > 0
    assert meta["val_raw_rendered"]["top1"] is not None
    from server.infer import Batcher, Classifier
    from server.limits import Limits
    from server.session import Session

    clf = Classifier(tmp_path / "model")
    assert clf.encoding == encoding
    scores, embedding = clf.predict_with_embedding(np.zeros((2, *encoding.shape), np.uint8))
    assert scores.shape == (2, 345) and embedding.shape == (2, clf.embedding_dim) and clf.embedding_dim > 0
    # Serving: a session's canvas with the model's encoding gives what training encodes, and the batcher takes it.
    drawing = next(quickdraw.read(RAW))
    session = Session(Limits(), canvas=Canvas(clf.encoding))
    for s in drawing.strokes:
        session.add_points(np.asarray(s.x, np.float64), np.asarray(s.y, np.float64), None)
        session.pen_up()
    served = session.model_input()
    assert np.array_equal(served, encode(train_data.strokes_of(drawing), encoding))

    async def classify() -> list[tuple[str, float]]:
        batcher = Batcher(clf)
        try:
            return await batcher.classify(served)
        finally:
            await batcher.close()

    assert len(asyncio.run(classify())) == 5


def test_multichannel_training_inputs_are_exactly_what_the_server_encodes(small: train_data.DrawingSet) -> None:
    """Un-augmented two-channel training batches equal server.render.encode of the same strokes."""
    encoding = Encoding(("order", "progress"))
    idx = np.arange(0, len(small), 97)
    x, _ = train_data.render_batch(small, idx, seed=None, encoding=encoding)
    assert x.shape == (len(idx), *encoding.shape)
    for k, i in enumerate(idx):
        assert np.array_equal(x[k], encode(small.strokes(int(i)), encoding))


def test_near_copies_are_found_listed_and_left_out(labels: list[str], tmp_path: Path) -> None:
    """A training drawing whose stroke endpoints lie within 3 units of a normalized raw drawing's matches, one 4
    units off does not; the written list reads back and masks exactly the matched drawings, which subset drops."""
    from training import near_copies

    strokes = [
        [[0, 0], [128, 255], [255, 0]],  # the raw drawing itself
        [[3, 3], [128, 255], [252, 0]],  # endpoints 3 units off
        [[4, 0], [128, 255], [255, 0]],  # 4 units off
        [[0, 0], [255, 255]],  # another shape
    ]
    points = np.asarray([p for s in strokes for p in s], np.uint8)
    ds = train_data.DrawingSet(
        points, np.asarray([len(s) for s in strokes], np.int32), np.ones(4, np.int32), np.zeros(4, np.int16),
        np.asarray([[0, k] for k in range(4)], np.int32),
    )  # fmt: skip
    raw = quickdraw.Drawing(word=labels[0], key_id="1", strokes=(quickdraw.Stroke((10, 138, 265), (5, 260, 5)),))
    pairs = near_copies.find(ds, [raw])
    assert pairs == [(0, 0), (1, 0)]
    path = tmp_path / "near.tsv"
    near_copies.write(path, ds, [SIMPLIFIED], labels, [raw], pairs)
    assert near_copies.read(path) == {(SIMPLIFIED.name, labels[0]): {0, 1}}
    drop = near_copies.mask(ds, [SIMPLIFIED], labels, near_copies.read(path))
    assert drop.tolist() == [True, True, False, False]
    kept = ds.subset(~drop)
    assert len(kept) == 2 and kept.source[:, 1].tolist() == [2, 3]
    assert np.array_equal(kept.strokes(1)[0], np.asarray(strokes[3], np.float64))


def test_the_shipped_near_copy_list_names_real_drawings_and_states_its_count(labels: list[str]) -> None:
    """training/near_copies.tsv (the r3 recipe's default) names existing folders and words, its header's count
    equals its entries, and the model card records that count."""
    from training import near_copies

    entries = near_copies.read(train.NEAR_COPIES)
    total = sum(len(v) for v in entries.values())
    assert {f for f, _ in entries} <= {"simplified", "simplified-extra"} and {w for _, w in entries} <= set(labels)
    header = train.NEAR_COPIES.read_text(encoding="utf-8").splitlines()[2]
    assert header.startswith(f"# {total} training drawings")
    card = " ".join((ROOT / "models" / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert f"{total:,} training drawings" in card
