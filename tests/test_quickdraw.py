"""server/quickdraw.py: ndjson formats, the Drawing type, data paths and the accuracy metrics."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import quickdraw as qd

# ------------------------------------------------------------------ drawings

coords = st.one_of(st.integers(-5000, 5000), st.floats(-5000, 5000, allow_nan=False, allow_infinity=False))


@st.composite
def drawings(draw: st.DrawFn, *, timed: bool | None = None) -> qd.Drawing:
    is_timed = draw(st.booleans()) if timed is None else timed
    strokes = []
    for _ in range(draw(st.integers(1, 5))):
        n = draw(st.integers(1, 8))
        xs = tuple(draw(st.lists(coords, min_size=n, max_size=n)))
        ys = tuple(draw(st.lists(coords, min_size=n, max_size=n)))
        ts = tuple(sorted(draw(st.lists(st.integers(0, 10**7), min_size=n, max_size=n)))) if is_timed else None
        strokes.append(qd.Stroke(xs, ys, ts))
    meta = draw(st.booleans())
    return qd.Drawing(
        draw(st.text(min_size=1, max_size=20)),
        tuple(strokes),
        key_id=str(draw(st.integers(0, 2**64 - 1))) if meta else None,
        countrycode=draw(st.sampled_from(["GB", "BR", "ZZ"])) if meta else None,
        recognized=draw(st.booleans()) if meta else None,
        timestamp="2017-03-26 18:43:54.78083 UTC" if meta else None,
    )


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(drawings())
def test_a_drawing_survives_its_ndjson_line(d: qd.Drawing) -> None:
    """to_json -> one ndjson line -> parse_line gives the same drawing back, raw or simplified, with its metadata."""
    back = qd.parse_line(json.dumps(d.to_json()), source="x#1")
    assert back == d and back.timed == d.timed and back.source == "x#1"
    assert len(d.to_json()["drawing"][0]) == (3 if d.timed else 2)


def test_duration_points_and_timing_of_a_raw_and_a_simplified_drawing() -> None:
    """duration_ms spans first to last time, points counts every point, simplified drawings are untimed."""
    raw = qd.parse_line('{"word": "cat", "drawing": [[[1, 2], [3, 4], [100, 150]], [[5], [6], [400]]]}')
    simple = qd.parse_line('{"drawing": [[[1, 2], [3, 4]]]}', word="dog")
    assert (raw.timed, raw.duration_ms, raw.points) == (True, 300, 3)
    assert (simple.timed, simple.duration_ms, simple.word) == (False, 0, "dog")
    assert qd.parse_line('{"word": "a", "drawing": [[[0], [0], [12.6]]]}').strokes[0].t == (13,)
    assert qd.parse_line('{"word": "a", "key_id": 42, "drawing": [[[0], [0]]]}').key_id == "42"


@pytest.mark.parametrize(
    "line, why",
    [
        ("{not json", "not JSON"),
        ('{"word": "a", "drawing": [[[NaN], [1]]]}', "not JSON"),
        ('{"word": "a", "drawing": [[[Infinity], [1]]]}', "not JSON"),
        ("[1, 2]", "'drawing' list"),
        ('{"word": "a"}', "'drawing' list"),
        ('{"word": "", "drawing": [[[1], [1]]]}', "'word'"),
        ('{"word": 3, "drawing": [[[1], [1]]]}', "'word'"),
        ('{"word": "a", "drawing": []}', "no strokes"),
        ('{"word": "a", "drawing": [[[1], [1]], [[1], [1], [5]]]}', "stroke 2 must be"),
        ('{"word": "a", "drawing": [[[1], [1], [5]], [[1], [1]]]}', "stroke 2 must be"),
        ('{"word": "a", "drawing": [[[1, 2], [1]]]}', "different lengths"),
        ('{"word": "a", "drawing": [[[], []]]}', "no points"),
        ('{"word": "a", "drawing": [[[1], ["1"]]]}', "not a number"),
        ('{"word": "a", "drawing": [[[true], [1]]]}', "not a number"),
        ('{"word": "a", "drawing": [[[1], [1], [null]]]}', "not a number"),
        ('{"word": "a", "recognized": "yes", "drawing": [[[1], [1]]]}', "'recognized'"),
        ('{"word": "a", "countrycode": 7, "drawing": [[[1], [1]]]}', "'countrycode'"),
    ],
)
def test_a_bad_line_is_a_data_error_naming_its_source(line: str, why: str) -> None:
    """Every malformed line raises DataError that names file#line and the reason."""
    with pytest.raises(qd.DataError, match=why) as e:
        qd.parse_line(line, source="bad.ndjson#7", word="w")
    assert "bad.ndjson#7" in str(e.value)


def test_a_stroke_refuses_lists_of_different_lengths() -> None:
    """The Stroke type itself holds its invariant: x, y (and t) of one non-zero length."""
    with pytest.raises(ValueError):
        qd.Stroke((1.0, 2.0), (1.0,))
    with pytest.raises(ValueError):
        qd.Stroke((1.0,), (1.0,), (1, 2))
    with pytest.raises(ValueError):
        qd.Stroke((), ())


# ------------------------------------------------------------------ files and folders


def record(word: str, i: int, *, timed: bool = True) -> dict[str, Any]:
    stroke = [[i, i + 1], [0, 1], [0, 10]] if timed else [[i, i + 1], [0, 1]]
    return {"word": word, "drawing": [stroke]}


def write(path: Path, rows: list[dict[str, Any]], *, gz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_plain_and_gzipped_files_and_folders_are_read_word_by_word(tmp_path: Path) -> None:
    """A folder's .ndjson and .ndjson.gz files are read in name order; other files are ignored; blank lines skipped."""
    write(tmp_path / "bee.ndjson.gz", [record("bee", i, timed=False) for i in range(2)], gz=True)
    (tmp_path / "apple.ndjson").write_text(json.dumps(record("apple", 0)) + "\n\n" + json.dumps(record("apple", 1)))
    (tmp_path / "notes.txt").write_text("not data")
    assert [p.name for p in qd.data_files(tmp_path)] == ["apple.ndjson", "bee.ndjson.gz"]
    got = [(d.word, d.source, d.timed) for d in qd.read(tmp_path)]
    assert got == [
        ("apple", "apple.ndjson#1", True),
        ("apple", "apple.ndjson#3", True),
        ("bee", "bee.ndjson.gz#1", False),
        ("bee", "bee.ndjson.gz#2", False),
    ]
    assert [d.source for d in qd.read(tmp_path, per_word=1)] == ["apple.ndjson#1", "bee.ndjson.gz#1"]
    assert len(list(qd.read(tmp_path / "bee.ndjson.gz"))) == 2
    assert qd.words(tmp_path) == ["apple", "bee"]


def test_several_folders_make_one_word_of_the_same_file_name(tmp_path: Path) -> None:
    """simplified/ + simplified-extra/: a word's files in both folders are one word; per_word spans both."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write(a / "cat.ndjson.gz", [record("cat", 0)], gz=True)
    write(b / "cat.ndjson.gz", [record("cat", 1), record("cat", 2)], gz=True)
    write(b / "dog.ndjson", [record("dog", 0)])
    assert {w: [p.parent.name for p in fs] for w, fs in qd.files_by_word([a, b]).items()} == {
        "cat": ["a", "b"],
        "dog": ["b"],
    }
    assert [(d.word, d.strokes[0].x[0]) for d in qd.read([a, b], per_word=2)] == [("cat", 0), ("cat", 1), ("dog", 0)]


def test_sample_interleaves_words_and_limit_seed_and_max_words_select(tmp_path: Path) -> None:
    """sample: first drawing of every word, then the second...; limit spans words; seed shuffles; max_words cuts."""
    write(tmp_path / "apple.ndjson", [record("apple", i) for i in range(3)])
    write(tmp_path / "bee.ndjson.gz", [record("bee", i) for i in range(2)], gz=True)
    srcs = [d.source for d in qd.sample(tmp_path)]
    assert srcs == ["apple.ndjson#1", "bee.ndjson.gz#1", "apple.ndjson#2", "bee.ndjson.gz#2", "apple.ndjson#3"]
    assert [d.source for d in qd.sample(tmp_path, limit=3)] == srcs[:3]
    assert [d.source for d in qd.sample(tmp_path, per_word=1)] == ["apple.ndjson#1", "bee.ndjson.gz#1"]
    assert [d.word for d in qd.sample(tmp_path, max_words=1)] == ["apple"] * 3
    shuffled = [d.source for d in qd.sample(tmp_path, seed=3)]
    assert sorted(shuffled) == sorted(srcs) and shuffled == [d.source for d in qd.sample(tmp_path, seed=3)]
    assert len(qd.sample(tmp_path, seed=3, limit=2)) == 2


def test_bad_paths_and_bad_files_are_data_errors(tmp_path: Path) -> None:
    """A missing path, a folder without data, a broken gzip and a bad line each raise DataError saying which."""
    with pytest.raises(qd.DataError, match="does not exist"):
        qd.data_files(tmp_path / "missing")
    with pytest.raises(qd.DataError, match="holds no"):
        qd.data_files(tmp_path)
    (tmp_path / "junk.ndjson.gz").write_bytes(b"not gzip")
    with pytest.raises(qd.DataError, match=r"junk.ndjson.gz: cannot be read"):
        list(qd.read(tmp_path))
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(record("bad", 0)) + "\n{oops\n")
    with pytest.raises(qd.DataError, match=r"bad.ndjson#2"):
        list(qd.read(bad))


def test_data_paths_honour_doodle_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """DOODLE_SHARED moves every data path, read at call time; unset, they sit in shared/ beside the project."""
    monkeypatch.setenv("DOODLE_SHARED", str(tmp_path))
    assert qd.raw_dir() == tmp_path / "quickdraw" / "raw"
    assert qd.simplified_dir() == tmp_path / "quickdraw" / "simplified"
    assert qd.simplified_extra_dir() == tmp_path / "quickdraw" / "simplified-extra"
    monkeypatch.delenv("DOODLE_SHARED")
    assert qd.shared_dir() == qd.PROJECT_ROOT.parent / "shared"
    assert (qd.PROJECT_ROOT / "server" / "quickdraw.py").exists()


def test_the_shared_raw_set_reads_whole_with_its_metadata() -> None:
    """All 9,118 raw drawings parse strictly, timed, with key_id/countrycode; the raw and simplified words agree."""
    raw = list(qd.read(qd.raw_dir()))
    assert len(raw) == 9118 and all(d.timed and d.key_id and d.countrycode for d in raw)
    assert {d.word for d in raw} == set(qd.words(qd.raw_dir())) == set(qd.words(qd.simplified_dir()))
    assert len(qd.words(qd.raw_dir())) == 345


# ------------------------------------------------------------------ accuracy

TRUTH = ["cat", "cat", "dog", "sun"]
ANSWERS: list[qd.Answer] = [
    ["cat", "dog", "a"],  # rank 1
    ["dog", "a", "cat"],  # rank 3
    ["a", "b", "c", "d", "dog"],  # rank 5
    None,  # rejected
]


def test_top_k_and_map3_on_hand_made_answers() -> None:
    """top-k and MAP@3 of four hand-made answers (one rejected) have the exact expected values."""
    assert [qd.top_k_accuracy(TRUTH, ANSWERS, k) for k in (1, 3, 5)] == [qd.Rate(1, 4), qd.Rate(2, 4), qd.Rate(3, 4)]
    assert qd.map_at_3(TRUTH, ANSWERS) == pytest.approx((1 + 1 / 3) / 4)
    # balanced: cat (1/2, 2/2, map (1+1/3)/2), dog (0, 0, 0), sun (0, 0, 0) -> mean over 3 words
    assert qd.balanced_top_k_accuracy(TRUTH, ANSWERS, 1) == pytest.approx(0.5 / 3)
    assert qd.balanced_top_k_accuracy(TRUTH, ANSWERS, 5) == pytest.approx((1 + 1 + 0) / 3)
    assert qd.balanced_map_at_3(TRUTH, ANSWERS) == pytest.approx((1 + 1 / 3) / 2 / 3)
    acc = qd.accuracy(TRUTH, ANSWERS)
    assert (
        acc["n"] == 4
        and acc["rejected"] == 1
        and acc["top3"] == 0.5
        and acc["balanced"]["top1"] == pytest.approx(1 / 6)
    )
    assert qd.per_word_top_k_accuracy(TRUTH, ANSWERS, 3) == {
        "cat": qd.Rate(2, 2),
        "dog": qd.Rate(0, 1),
        "sun": qd.Rate(0, 1),
    }


def test_no_drawings_have_no_figures_and_mismatched_lengths_are_refused() -> None:
    """Empty input gives None (not 0); truth and answers of different lengths raise ValueError."""
    assert (
        qd.map_at_3([], []) is None
        and qd.top_k_accuracy([], [], 1).value is None
        and qd.balanced_map_at_3([], []) is None
    )
    with pytest.raises(ValueError):
        qd.top_k_accuracy(["cat"], [], 1)


words_st = st.sampled_from(["cat", "dog", "sun", "car"])
answer_st = st.one_of(st.none(), st.lists(words_st, max_size=5, unique=True))


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(st.lists(st.tuples(words_st, answer_st), min_size=1, max_size=40))
def test_metrics_are_ordered_and_a_rejection_is_a_miss(cases: list[tuple[str, qd.Answer]]) -> None:
    """top-1 <= MAP@3 <= top-3 <= top-5; a rejected drawing scores exactly as an answer without its word."""
    truth = [w for w, _ in cases]
    answers = [a for _, a in cases]
    t1, t3, t5 = (qd.top_k_accuracy(truth, answers, k).value for k in (1, 3, 5))
    m = qd.map_at_3(truth, answers)
    assert t1 is not None and t3 is not None and t5 is not None and m is not None
    assert t1 <= m + 1e-12 and m <= t3 + 1e-12 and t3 <= t5
    missed = [a if a is not None else [x for x in ["cat", "dog", "sun", "car"] if x != w] for w, a in cases]
    assert qd.accuracy(truth, answers) | {"rejected": 0} == qd.accuracy(truth, missed)


@settings(deadline=None)  # timing is not under test; a loaded CI machine must not fail it
@given(st.lists(answer_st, min_size=1, max_size=10), st.integers(1, 4))
def test_balanced_equals_plain_when_every_word_has_as_many_drawings(answers: list[qd.Answer], copies: int) -> None:
    """With the same answers for every word (equal counts), balanced figures equal the plain ones."""
    truth = [w for w in ("cat", "dog") for _ in answers * copies]
    both = [a for _ in ("cat", "dog") for a in answers * copies]
    for k in (1, 3):
        assert qd.balanced_top_k_accuracy(truth, both, k) == pytest.approx(qd.top_k_accuracy(truth, both, k).value)
    assert qd.balanced_map_at_3(truth, both) == pytest.approx(qd.map_at_3(truth, both))


def test_ranked_answers_are_the_best_scores_first() -> None:
    """Model scores -> best-first words, the top 5 of each row, ties in class order."""
    labels = ["a", "b", "c", "d", "e", "f"]
    scores = np.array([[0.1, 0.5, 0.0, 0.3, 0.05, 0.05], [1, 1, 1, 1, 1, 2]], dtype=np.float32)
    assert qd.ranked_answers(scores, labels) == [["b", "d", "a", "e", "f"], ["f", "a", "b", "c", "d"]]
    assert qd.ranked_answers(scores, labels, top=1) == [["b"], ["f"]]
    with pytest.raises(ValueError):
        qd.ranked_answers(scores, labels[:3])
