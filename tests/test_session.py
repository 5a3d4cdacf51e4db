"""server/session.py: drawing state, limits before changes, undo/clear, raw format."""

from __future__ import annotations

import numpy as np
import pytest

from server.errors import LimitExceeded
from server.limits import Limits
from server.render import as_points, render
from server.session import Session


def arr(*v: float) -> np.ndarray:
    return np.asarray(v, np.float64)


def test_points_then_pen_up_make_a_stroke_with_timing() -> None:
    """Points accumulate into one stroke; pen_up stores it in raw format with the client's t."""
    s = Session(Limits())
    s.add_points(arr(0, 1), arr(0, 1), np.asarray([0, 10]))
    s.add_points(arr(2), arr(3), np.asarray([20]))
    assert s.drawing_in_progress and s.strokes == 0
    assert s.pen_up() and s.strokes == 1 and not s.pen_up()
    assert s.drawing() == [[[0.0, 1.0, 2.0], [0.0, 1.0, 3.0], [0, 10, 20]]]


def test_server_stamps_time_when_the_client_sends_none() -> None:
    """Without t, points are stamped in ms since the drawing's first point (non-decreasing)."""
    s = Session(Limits())
    s.add_points(arr(0, 1), arr(0, 1), None)
    s.pen_up()
    s.add_points(arr(5), arr(5), None)
    s.pen_up()
    ts = [t for stroke in s.drawing() for t in stroke[2]]
    assert ts[0] == 0 and ts == sorted(ts)


def test_model_input_matches_render_of_the_strokes() -> None:
    """The session's model input is render() of its finished strokes (and pending, when asked)."""
    s = Session(Limits())
    a, b = (arr(0, 50, 100), arr(0, 80, 0)), (arr(10, 90), arr(50, 50))
    for x, y in (a, b):
        s.add_points(x, y, None)
        s.pen_up()
    s.add_points(arr(0, 100), arr(100, 100), None)
    full = [as_points(*a), as_points(*b)]
    assert np.array_equal(s.model_input(), render(full))
    assert np.array_equal(s.model_input(pending=True), render([*full, as_points(arr(0, 100), arr(100, 100))]))


def test_limits_are_checked_before_anything_changes() -> None:
    """A rejected stroke or point batch leaves the drawing exactly as it was."""
    s = Session(Limits(max_strokes=2, max_points_per_stroke=4))
    for _ in range(2):
        s.add_points(arr(0, 1), arr(0, 1), None)
        s.pen_up()
    before = s.drawing()
    with pytest.raises(LimitExceeded) as e:
        s.add_points(arr(0), arr(0), None)
    assert e.value.code == "too_many_strokes" and s.drawing() == before and not s.drawing_in_progress
    s.undo()
    s.add_points(arr(0, 1, 2), arr(0, 1, 2), None)
    with pytest.raises(LimitExceeded) as e:
        s.add_points(arr(3, 4), arr(3, 4), None)
    assert e.value.code == "stroke_too_long"
    s.pen_up()
    assert s.drawing()[-1][0] == [0.0, 1.0, 2.0]


def test_undo_drops_the_pending_stroke_first_then_finished_ones() -> None:
    """undo removes an unfinished stroke before finished ones, and guess history past the drawing."""
    s = Session(Limits())
    s.add_points(arr(0, 1), arr(0, 1), None)
    s.pen_up()
    s.record_guesses([("cat", 0.5)])
    s.add_points(arr(0, 9), arr(0, 9), None)
    assert s.undo() and s.strokes == 1 and not s.drawing_in_progress
    assert s.undo() and s.strokes == 0 and s.guesses_sent == []
    assert not s.undo()


def test_clear_forgets_the_strokes_and_the_guess_history() -> None:
    """drawing() gives the finished strokes in raw format with their times; clear() empties strokes and guesses."""
    s = Session(Limits(), client="test")
    s.add_points(arr(0, 1), arr(0, 1), np.asarray([0, 5]))
    s.pen_up()
    s.record_guesses([("cat", 0.6), ("dog", 0.2)])
    assert s.drawing() == [[[0.0, 1.0], [0.0, 1.0], [0, 5]]] and s.guesses_sent[0].strokes == 1
    key = s.drawing_key
    s.clear()
    assert not s.has_drawing and s.guesses_sent == [] and s.drawing() == [] and s.drawing_key != key


def test_points_per_drawing_limit_counts_every_stroke_and_leaves_the_drawing_intact() -> None:
    """More than max_points_per_drawing points in all is drawing_too_large; undo makes room again."""
    s = Session(Limits(max_points_per_drawing=5))
    s.add_points(arr(0, 1, 2), arr(0, 1, 2), None)
    s.pen_up()
    s.add_points(arr(5), arr(5), None)
    before = (s.drawing(), s._cur_n)
    with pytest.raises(LimitExceeded) as e:
        s.add_points(arr(6, 7), arr(6, 7), None)
    assert e.value.code == "drawing_too_large" and (s.drawing(), s._cur_n) == before
    s.add_points(arr(6), arr(6), None)
    s.pen_up()
    assert s.points == 5 and s.undo() and s.points == 3
    s.add_points(arr(8, 9), arr(8, 9), None)
    s.clear()
    assert s.points == 0 and not s.has_drawing


def test_strokes_are_stored_once_compactly_and_shared_with_the_canvas() -> None:
    """A finished stroke is one (N, 2) float64 array and an int64 time array; the canvas holds the same array."""
    s = Session(Limits())
    s.add_points(arr(0, 1, 2), arr(3, 4, 5), np.asarray([0, 1, 2]))
    s.pen_up()
    s.model_input()
    stroke = s.raw[0]
    assert stroke.xy.shape == (3, 2) and stroke.xy.dtype == np.float64 and stroke.t.dtype == np.int64
    assert s.canvas.strokes[0] is stroke.xy


def test_guess_records_stay_one_per_stroke_count() -> None:
    """Repeated pen-ups and undo/redo cycles replace guess records instead of piling them up."""
    s = Session(Limits())
    for _ in range(3):
        s.add_points(arr(0, 1), arr(0, 1), None)
        s.pen_up()
        s.record_guesses([("cat", 0.5)])
    for _ in range(50):
        s.record_guesses([("dog", 0.5)])  # pen_up with nothing in progress
        s.add_points(arr(0, 1), arr(0, 1), None)
        s.pen_up()
        s.record_guesses([("cow", 0.5)])
        s.undo()
        s.record_guesses([("owl", 0.5)])
    assert [g.strokes for g in s.guesses_sent] == [1, 2, 3] and s.guesses_sent[-1].guesses == [("owl", 0.5)]


def test_snapshot_then_render_elsewhere_equals_render_of_the_strokes() -> None:
    """A snapshot taken before later changes renders the drawing as it was then."""
    s = Session(Limits())
    a = (arr(0, 50, 100), arr(0, 80, 0))
    s.add_points(*a, None)
    s.pen_up()
    s.add_points(arr(10, 90), arr(50, 50), None)
    snap = s.snapshot(pending=True)
    s.undo()
    s.undo()
    full = [as_points(*a), as_points(arr(10, 90), arr(50, 50))]
    assert np.array_equal(s.render_snapshot(snap), render(full))
    assert np.array_equal(s.model_input(), render([]))
