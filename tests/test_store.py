"""The doodle database (server/history/store.py, postgres.py): each backend behind DoodleStore, and the writer thread.

Tests taking ``make`` run against SQLite and against a real PostgreSQL server (marked ``postgres``)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.errors import LimitExceeded, StoreError, StoreTimeout
from server.history.databases import open_database
from server.history.store import SCHEMA_VERSION, AsyncStore, DoodleStore, NewDoodle, Quota, SQLiteStore
from tests.support import doodle

Make = Callable[..., DoodleStore]
"""Opens the test's database (the same one each call), with an optional :class:`Quota`."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    """Opens one new database of the parametrised backend (SQLite file, or a PostgreSQL database)."""
    spec = str(tmp_path / "h.sqlite3") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened: list[DoodleStore] = []

    def opener(quota: Quota | None = None) -> DoodleStore:
        opened.append(open_database(spec, quota))
        return opened[-1]

    yield opener
    for store in opened:
        try:
            store.close()  # closing twice is harmless for both backends
        except sqlite3.ProgrammingError:
            pass  # opened and closed by an AsyncStore on its own thread


def test_a_drawing_comes_back_exactly_as_added(make: Make) -> None:
    """add -> get returns every field unchanged (numbers, guess lists, word, times) plus id and storage time."""
    store = make()
    before = time.time()
    new = doodle(3, word="the Mona Lisa", guess="cat")
    doodle_id = store.add(new)
    d = store.get(doodle_id)
    assert d is not None and d.id == doodle_id >= 1
    assert (d.session, d.client, d.word, d.reason, d.started_at) == (
        new.session,
        "pytest",
        "the Mona Lisa",
        "submit",
        new.started_at,
    )
    assert d.drawing == new.drawing and d.guesses == new.guesses and d.final == new.final
    assert d.strokes == 2 and d.guess == "cat" and d.label == "the Mona Lisa" and not d.recognized
    assert before <= d.created_at <= time.time()
    assert store.get(doodle_id + 1) is None
    store.close()


def test_the_file_is_in_wal_mode_and_survives_reopening(tmp_path: Path) -> None:
    """The SQLite file uses WAL; what was added is there after closing and reopening it."""
    path = tmp_path / "sub" / "h.sqlite3"
    store = SQLiteStore(path)
    ids = [store.add(doodle(i)) for i in range(5)]
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = SQLiteStore(path)
    assert again.count() == 5 and [again.get(i).id for i in ids] == ids  # type: ignore[union-attr]
    assert again.add(doodle(9)) > max(ids)
    again.close()


def test_pages_are_newest_first_filtered_by_label_and_paged_by_id(make: Make) -> None:
    """page(): newest first, `before` pages by id, `word` matches the player's word else the final guess."""
    store = make()
    ids = [
        store.add(doodle(i, word=("cat" if i % 3 == 0 else None), guess=("cat" if i % 2 else "dog"))) for i in range(12)
    ]
    everything = store.page(word=None, limit=100, before=None)
    assert [d.id for d in everything] == ids[::-1]
    first = store.page(word=None, limit=5, before=None)
    second = store.page(word=None, limit=5, before=first[-1].id)
    assert [d.id for d in first + second] == ids[::-1][:10]
    cats = store.page(word="cat", limit=100, before=None)
    expected = [ids[i] for i in range(12) if i % 3 == 0 or i % 2 == 1][::-1]
    assert [d.id for d in cats] == expected
    assert all(d.label == "cat" for d in cats)
    assert store.page(word="nothing", limit=10, before=None) == []


def test_scan_filters_by_word_and_time_in_id_order(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    """scan() yields every drawing oldest first across its internal batches, filtered by label and time."""
    monkeypatch.setattr("server.history.store.SCAN_BATCH", 4)
    store = make()
    ids = [store.add(doodle(i, word="cat" if i % 2 else "dog")) for i in range(10)]
    cut = time.time()
    time.sleep(0.01)
    later = [store.add(doodle(i, word="cat")) for i in range(3)]
    assert [d.id for d in store.scan()] == ids + later
    assert [d.id for d in store.scan(word="cat")] == ids[1::2] + later
    assert [d.id for d in store.scan(since=cut)] == later


def test_relabel_sets_the_players_word(make: Make) -> None:
    """relabel() replaces the word, and the label filter follows it."""
    store = make()
    doodle_id = store.add(doodle(word=None, guess="dog"))
    assert [d.id for d in store.page(word="dog", limit=5, before=None)] == [doodle_id]
    store.relabel(doodle_id, "cat")
    d = store.get(doodle_id)
    assert d is not None and d.word == "cat" and d.guess == "dog"
    assert store.page(word="dog", limit=5, before=None) == []


async def test_async_store_runs_every_call_on_one_thread_and_loses_nothing(make: Make) -> None:
    """200 concurrent adds through AsyncStore: distinct ids, all stored, all on the one doodle-store thread."""
    threads: set[str] = set()

    def recording() -> DoodleStore:
        inner = make()
        add = inner.add

        def recorded(d: NewDoodle) -> int:
            threads.add(threading.current_thread().name)
            return add(d)

        inner.add = recorded  # type: ignore[method-assign,assignment]
        return inner

    store = AsyncStore(recording)
    await store.open()
    ids = [doodle_id for doodle_id, _ in await asyncio.gather(*(store.add(doodle(i)) for i in range(200)))]
    assert len(set(ids)) == 200 and await store.count() == 200
    assert len(threads) == 1 and next(iter(threads)).startswith("doodle-store")
    assert threading.current_thread().name not in threads
    await store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer schema version is not opened (nothing is guessed)."""
    path = tmp_path / "h.sqlite3"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(sqlite3.DatabaseError, match="schema 99"):
        SQLiteStore(path)


def test_the_byte_quota_evicts_automatic_drawings_first_and_usage_survives_reopening(make: Make) -> None:
    """A byte quota of three records: automatic drawings go first, then the oldest submitted; usage is exact."""
    first = make()
    one = first.add(doodle(0))
    size = first.usage().bytes
    first.close()
    store = make(Quota(max_record_bytes=size + 8, max_drawings=0, max_bytes=3 * size + 8))
    auto = store.add(dataclasses.replace(doodle(0), reason="disconnect"))
    two = store.add(doodle(0))
    three = store.add(doodle(0))  # over the quota: the disconnect goes, not the older submitted one
    assert [d.id for d in store.page(word=None, limit=9, before=None)] == [three, two, one]
    four = store.add(doodle(0))  # nothing automatic left: the oldest submitted goes
    assert [d.id for d in store.page(word=None, limit=9, before=None)] == [four, three, two]
    assert store.usage().evicted == 2 and auto not in (d.id for d in store.page(word=None, limit=9, before=None))
    store.close()
    again = make()
    assert (again.usage().drawings, again.usage().bytes) == (3, 3 * size)
    again.close()


def test_a_record_over_the_cap_is_refused_without_encoding_it_all(make: Make) -> None:
    """A drawing of a million points against a 4 KB cap: record_too_large, nothing stored, quickly."""
    store = make(Quota(max_record_bytes=4_096))
    xs = [float(i) + 0.5 for i in range(1_000_000)]
    huge = dataclasses.replace(doodle(0), drawing=[[xs, xs, list(range(len(xs)))]])
    t = time.perf_counter()
    with pytest.raises(LimitExceeded, match="4096 bytes") as refused:
        store.add(huge)
    assert refused.value.code == "record_too_large" and time.perf_counter() - t < 0.5
    assert store.usage().drawings == 0


def test_a_schema_1_database_is_migrated_with_sizes_and_usage(tmp_path: Path) -> None:
    """A database written by schema 1 opens: every record gets its size and kind, usage counts them."""
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    old_schema = (
        "CREATE TABLE doodles (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL,"
        " started_at REAL NOT NULL, session TEXT NOT NULL, client TEXT, word TEXT, guess TEXT,"
        " label TEXT GENERATED ALWAYS AS (coalesce(word, guess)) VIRTUAL, reason TEXT NOT NULL,"
        " strokes INTEGER NOT NULL, drawing TEXT NOT NULL, guesses TEXT NOT NULL, final TEXT NOT NULL)"
    )
    db.execute(old_schema)
    db.execute(
        "INSERT INTO doodles (created_at, started_at, session, client, word, guess, reason, strokes, drawing,"
        " guesses, final) VALUES (1, 1, 's', 'c', 'cat', 'cat', 'clear', 1, '[[[1],[2],[3]]]', '[]', '[]')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    expected = len("[[[1],[2],[3]]]") + 2 + 2 + len("s") + len("c") + len("cat") + len("clear")
    assert (store.usage().drawings, store.usage().bytes) == (1, expected)
    assert store.get(1) is not None and store.get(1).drawing == [[[1], [2], [3]]]  # type: ignore[union-attr]


def test_one_record_per_drawing_key_keeps_word_and_submission(make: Make) -> None:
    """Adding a key stored already replaces its record in place: same id, word kept unless given, still submitted."""
    store = make()
    first = store.add(dataclasses.replace(doodle(0, word="cat"), key="k1"))  # reason submit
    other = store.add(dataclasses.replace(doodle(1), key="k2"))
    again = store.add(dataclasses.replace(doodle(2, word=None, guess="dog"), key="k1", reason="disconnect"))
    assert again == first != other and store.count() == 2
    d = store.get(first)
    assert d is not None and d.word == "cat" and d.guess == "dog" and d.drawing == doodle(2).drawing
    assert [x.id for x in store.page(word=None, limit=9, before=None)] == [other, first]
    usage = store.usage()
    assert usage.drawings == 2 and usage.bytes > 0
    store.add(dataclasses.replace(doodle(3), key=None))
    store.add(dataclasses.replace(doodle(4), key=None))
    assert store.count() == 4  # no key: always a new record


def test_server_custom_words_are_kept_per_model_in_teaching_order(make: Make) -> None:
    """Custom words: examples added in order, per model, forget removes them and says how many there were."""
    store = make()
    store.add_custom_word("m", "boat", [[1.0, 2.0]])
    store.add_custom_word("m", "kite", [[0.5, 0.25]])
    store.add_custom_word("m", "boat", [[3.0, 4.0], [5.0, 6.0]])
    store.add_custom_word("other", "boat", [[9.0, 9.0]])
    assert store.custom_words("m") == [("boat", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), ("kite", [[0.5, 0.25]])]
    assert store.forget_custom_word("m", "boat") == 3 and store.forget_custom_word("m", "boat") == 0
    assert store.custom_words("m") == [("kite", [[0.5, 0.25]])]
    assert store.custom_words("other") == [("boat", [[9.0, 9.0]])]


def test_kept_key_tells_why_and_when_a_drawing_key_was_last_written(make: Make) -> None:
    """kept_key: the reason and write time of a key's record; None for an unknown key or a drawing without one."""
    store = make()
    before = time.time()
    store.add(dataclasses.replace(doodle(1), reason="shutdown", key="k1"))
    store.add(doodle(2))
    kept = store.kept_key("k1")
    assert kept is not None and kept[0] == "shutdown" and before <= kept[1] <= time.time()
    store.add(dataclasses.replace(doodle(1), reason="clear", key="k1"))  # the same drawing, ended by the player
    assert store.kept_key("k1") is not None and store.kept_key("k1")[0] == "clear"  # type: ignore[index]
    assert store.kept_key("k2") is None
    store.close()


def test_pages_find_a_word_in_any_case_and_in_part_and_treat_wildcards_as_text(make: Make) -> None:
    """page(word=) matches labels holding the word, any case ("Bicycle", "bike"); % and _ are plain characters."""
    store = make()
    ids = {w: store.add(doodle(i, word=w)) for i, w in enumerate(["bicycle", "motorbike", "cat", "100%_sure"])}

    def found(word: str) -> list[int]:
        return [d.id for d in store.page(word=word, limit=10, before=None)]

    assert found("Bicycle") == [ids["bicycle"]]
    assert found("BIKE") == [ids["motorbike"]]
    assert found("%") == [ids["100%_sure"]] and found("_") == [ids["100%_sure"]] and found("x%y") == []
    assert [d.id for d in store.scan(word="cat")] == [ids["cat"]] and list(store.scan(word="Cat")) == []  # exact
    store.close()


def test_delete_by_id_or_key_and_hidden_drawings_leave_every_listing(make: Make) -> None:
    """delete and delete_key remove for good; a hidden drawing is in no page, get or scan until shown again."""
    store = make()
    a = store.add(dataclasses.replace(doodle(1), key="ka"))
    b = store.add(dataclasses.replace(doodle(2), key="kb"))
    c = store.add(doodle(3))
    assert store.set_hidden(b, True) and not store.set_hidden(999, True)
    assert [d.id for d in store.page(word=None, limit=10, before=None)] == [c, a]
    assert store.get(b) is None and [d.id for d in store.scan()] == [a, c]
    assert store.set_hidden(b, False) and store.get(b) is not None
    assert store.delete_key("ka") == a and store.delete_key("ka") is None and store.get(a) is None
    assert store.delete(c) and not store.delete(c)
    assert [d.id for d in store.page(word=None, limit=10, before=None)] == [b]
    assert store.usage().drawings == 1
    store.close()


def test_ids_of_keys_finds_the_kept_shown_drawings_of_the_keys_asked(make: Make) -> None:
    """ids_of_keys: the id of each asked key with a record; unknown, keyless and hidden ones are left out."""
    store = make()
    a = store.add(dataclasses.replace(doodle(1), key="ka"))
    b = store.add(dataclasses.replace(doodle(2), key="kb"))
    store.add(dataclasses.replace(doodle(3), key="kc"))
    assert store.ids_of_keys(["ka", "kb", "nope"]) == {"ka": a, "kb": b}
    assert store.set_hidden(b, True) and store.ids_of_keys(["kb"]) == {} and store.ids_of_keys([]) == {}
    store.close()


def test_a_schema_3_database_gains_the_hidden_column(tmp_path: Path) -> None:
    """Opening a schema-3 file adds `hidden` (every drawing shown) and keeps its drawings."""
    path = tmp_path / "h.sqlite3"
    store = SQLiteStore(path)
    doodle_id = store.add(doodle(1))
    store.close()
    db = sqlite3.connect(path)
    for column in ("hidden", "target", "target_recognized"):  # as schema 3 was
        db.execute(f"ALTER TABLE doodles DROP COLUMN {column}")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.get(doodle_id) is not None and store.set_hidden(doodle_id, True) and store.get(doodle_id) is None
    assert int(store.db.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION
    store.close()


def test_recognized_is_the_rounds_verdict_where_there_was_a_target(make: Make) -> None:
    """With a target, recognized is whether the server sent `recognized` for it and it is the drawing's word (not
    the final top guess); without one, the final top guess is the word; a re-stored key stays recognized while its
    target stays, in get, page and scan alike."""
    store = make()
    cases = {
        "led below the threshold": (doodle(0, word="car", guess="car"), "car", False, False),
        "recognized at a pen-up": (doodle(1, word="car", guess="dog"), "car", True, True),
        "another word submitted": (doodle(2, word="bus", guess="bus"), "car", True, False),
        "no word given": (doodle(3, word=None, guess="car"), "car", True, False),
        "sketchpad, right guess": (doodle(4, word="car", guess="car"), None, False, True),
        "sketchpad, wrong guess": (doodle(5, word="car", guess="dog"), None, True, False),
    }
    ids = {
        name: store.add(dataclasses.replace(d, target=target, target_recognized=sent))
        for name, (d, target, sent, _) in cases.items()
    }
    expected = {ids[name]: want for name, (*_, want) in cases.items()}
    assert {i: store.get(i).recognized for i in ids.values()} == expected  # type: ignore[union-attr]
    assert {d.id: d.recognized for d in store.page(word=None, limit=10, before=None)} == expected
    assert {d.id: d.public()["recognized"] for d in store.scan()} == expected
    assert store.get(ids["recognized at a pen-up"]).public()["target"] == "car"  # type: ignore[union-attr]
    assert store.get(ids["sketchpad, right guess"]).target is None  # type: ignore[union-attr]
    kept = dataclasses.replace(doodle(6, word="car", guess="dog"), key="k", target="car", target_recognized=True)
    first = store.add(kept)
    again = store.add(dataclasses.replace(kept, target_recognized=False, reason="disconnect"))  # resumed, re-kept
    assert again == first and store.get(first).recognized  # type: ignore[union-attr]
    store.add(dataclasses.replace(kept, word="bus", target="bus", target_recognized=False))  # another round's target
    d = store.get(first)
    assert d is not None and (d.target, d.target_recognized, d.recognized) == ("bus", False, False)
    store.close()


def test_a_schema_4_database_gains_targets_and_its_drawings_keep_their_meaning(tmp_path: Path) -> None:
    """Opening a schema-4 file adds `target` and `target_recognized`: its drawings still list, recognized when
    their final top guess was their word (what it meant then), and new drawings keep their verdict."""
    path = tmp_path / "h.sqlite3"
    store = SQLiteStore(path)
    right, wrong = store.add(doodle(1, word="cat", guess="cat")), store.add(doodle(2, word="cat", guess="dog"))
    store.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE doodles DROP COLUMN target")
    db.execute("ALTER TABLE doodles DROP COLUMN target_recognized")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert int(store.db.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION == 5
    assert [(d.id, d.target, d.recognized) for d in store.page(word=None, limit=10, before=None)] == [
        (wrong, None, False),
        (right, None, True),
    ]
    new = store.add(dataclasses.replace(doodle(3, word="cat", guess="cat"), target="cat", target_recognized=False))
    assert [d.recognized for d in store.scan()] == [True, False, False] and store.get(new).target == "cat"  # type: ignore[union-attr]
    store.close()


async def test_an_engines_error_reaches_callers_as_a_store_error(tmp_path: Path) -> None:
    """AsyncStore raises StoreError for SQLite's own errors (the engine's error chained), so no caller names sqlite3."""
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"this is not a database file" * 100)
    store = AsyncStore(lambda: SQLiteStore(bad))
    with pytest.raises(StoreError) as e:
        await store.open()
    assert isinstance(e.value.__cause__, sqlite3.DatabaseError) and "DatabaseError" in str(e.value)
    await store.close()


async def test_a_lock_held_past_the_deadline_is_a_timeout_whichever_deadline_fires_first(tmp_path: Path) -> None:
    """SQLite giving up on a lock held elsewhere (its busy timeout is the call's deadline) is StoreTimeout, as the
    caller's own wait would be: the two race, and the history counts either as a timeout, not a failure."""
    path = tmp_path / "h.sqlite3"

    def quick_to_give_up() -> SQLiteStore:
        inner = SQLiteStore(path)
        set_lock_timeout = inner.set_lock_timeout
        inner.set_lock_timeout = lambda seconds: set_lock_timeout(min(seconds, 0.05))  # type: ignore[method-assign]
        return inner

    store = AsyncStore(quick_to_give_up, timeout_s=30)
    await store.open()
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreTimeout, match="locked"):
            await store.add(doodle(0))
    finally:
        lock.rollback()
        lock.close()
    assert (await store.add(doodle(1)))[0] > 0
    await store.close()
