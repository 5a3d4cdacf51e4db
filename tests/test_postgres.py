"""The PostgreSQL backend (server/history/postgres.py) against a real PostgreSQL: what only it does.

The store promises both backends keep are in tests/test_store.py (parametrised over both)."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from bench.services import PostgresServer, free_port
from server.errors import StoreError
from server.history.databases import open_database
from server.history.postgres import PostgresError, PostgresStore
from server.history.record import NewDoodle
from tests.support import doodle

pytestmark = pytest.mark.postgres


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    """A database migrated by a newer server (schema 99) is not opened, and the error says why."""
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE doodle_schema SET version = 99")
    with pytest.raises(StoreError, match="schema 99"):
        PostgresStore(pg_url)


def older_schema(pg_url: str, version: int, columns: str, *doodles: NewDoodle) -> list[int]:
    """Store ``doodles`` in a new database, then make it one of schema ``version``: without ``columns``."""
    store = PostgresStore(pg_url)
    ids = [store.add(d) for d in doodles]
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE doodles " + ", ".join(f"DROP COLUMN {c}" for c in columns.split()))
        conn.execute("UPDATE doodle_schema SET version = %s", (version,))
    return ids


def test_a_schema_1_database_gains_the_hidden_column(pg_url: str) -> None:
    """A database of schema 1 (before moderation) is migrated to 2 at open: its drawings kept and shown."""
    [doodle_id] = older_schema(pg_url, 1, "hidden target target_recognized", doodle(1))
    store = PostgresStore(pg_url)
    try:
        assert store.get(doodle_id) is not None and store.set_hidden(doodle_id, True) and store.get(doodle_id) is None
    finally:
        store.close()


def test_a_schema_2_database_gains_targets_and_its_drawings_keep_their_meaning(pg_url: str) -> None:
    """A database of schema 2 (before targets) is migrated to 3 at open: its drawings still list, recognized when
    their final top guess was their word (what it meant then); a new drawing keeps the round's verdict."""
    right, wrong = older_schema(
        pg_url, 2, "target target_recognized", doodle(1, word="cat", guess="cat"), doodle(2, word="cat", guess="dog")
    )
    store = PostgresStore(pg_url)
    try:
        assert [(d.id, d.target, d.recognized) for d in store.page(word=None, limit=10, before=None)] == [
            (wrong, None, False),
            (right, None, True),
        ]
        new = store.add(dataclasses.replace(doodle(3, word="cat", guess="cat"), target="cat", target_recognized=False))
        assert [d.recognized for d in store.scan()] == [True, False, False]
        assert store.get(new).target == "cat"  # type: ignore[union-attr]
    finally:
        store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM doodle_schema").fetchone() == (3,)


def test_the_moderation_command_works_on_a_postgresql_url(pg_url: str) -> None:
    """python -m server.history.moderate --db postgresql://...: hide, show and delete as with a SQLite file."""
    from server.history import moderate

    store = PostgresStore(pg_url)
    a, b = store.add(doodle(1)), store.add(doodle(2))
    try:
        assert moderate.main(["--db", pg_url, "hide", str(a)]) == 0 and store.get(a) is None
        assert moderate.main(["--db", pg_url, "show", str(a)]) == 0 and store.get(a) is not None
        assert moderate.main(["--db", pg_url, "delete", str(b), "999"]) == 1 and store.get(b) is None
    finally:
        store.close()


def test_instances_opening_together_migrate_once(pg_url: str) -> None:
    """Four stores opening an empty database at once: one migrates, all work, the schema is there once."""
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: PostgresStore(pg_url), range(4)))
    ids = [s.add(doodle(i)) for i, s in enumerate(stores)]
    assert len(set(ids)) == 4 and all(s.count() == 4 for s in stores)
    for s in stores:
        s.close()


def test_an_unreachable_server_fails_opening_with_a_database_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL where nothing listens: a StoreError (the server's start reports it), the password not shown."""
    monkeypatch.setattr("server.history.postgres.CONNECT_TIMEOUT_S", 2.0)
    url = f"postgresql://doodle:secret@127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    t = time.monotonic()
    with pytest.raises(StoreError) as refused:
        open_database(url)
    assert "secret" not in str(refused.value) and time.monotonic() - t < 30


def test_resume_keys_are_claimed_once_and_expire(pg_url: str) -> None:
    """hold_keys makes keys claimable by any instance, once; expired or dropped keys are not claimable."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    a.hold_keys(["k1", "k2", "k3"], time.time() + 60)
    a.hold_keys(["old"], time.time() - 1)
    assert b.claim_key("k1") and not a.claim_key("k1") and not b.claim_key("k1")
    a.drop_keys(["k2"])
    assert not b.claim_key("k2") and not b.claim_key("old") and not b.claim_key("never")
    assert b.claim_key("k3")
    a.close()
    b.close()


def test_custom_words_version_changes_with_every_teach_and_forget(pg_url: str) -> None:
    """custom_words_version: what another instance polls; it moves on teach and forget, per model."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    assert b.custom_words_version("m") == 0
    a.add_custom_word("m", "boat", [[1.0]])
    v1 = b.custom_words_version("m")
    a.forget_custom_word("m", "boat")
    v2 = b.custom_words_version("m")
    assert 0 < v1 < v2 and b.custom_words_version("other") == 0
    a.close()
    b.close()


def test_every_acknowledged_drawing_survives_a_sigkill_of_postgresql_under_submit_load() -> None:
    """4 writers adding drawings; PostgreSQL's processes are SIGKILLed mid-load and restarted: every id
    add() returned is there with its drawing, failed adds were never acknowledged, and writing resumes."""
    pg = PostgresServer()
    try:
        url = pg.new_database()
        acked: dict[str, int] = {}
        failures = 0
        stop = threading.Event()
        lock = threading.Lock()

        def writer(w: int) -> None:
            nonlocal failures
            store = PostgresStore(url)
            store.set_lock_timeout(2)
            n = 0
            while not stop.is_set():
                n += 1
                key = f"w{w}-{n}"
                try:
                    doodle_id = store.add(dataclasses.replace(doodle(n), key=key))
                except PostgresError:
                    with lock:
                        failures += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    acked[key] = doodle_id
            store.close()

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        pg.kill()
        before_restart = len(acked)
        time.sleep(0.5)
        pg.start()
        deadline = time.monotonic() + 60
        while len(acked) < before_restart + 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join(60)
        assert before_restart >= 100 and len(acked) >= before_restart + 100, "writing did not resume"
        assert failures > 0, "the kill did not hit the load"
        check = PostgresStore(url)
        stored = {d.id: d for d in check.scan()}
        for key, doodle_id in acked.items():
            n = int(key.split("-")[1])
            assert doodle_id in stored and stored[doodle_id].drawing == doodle(n).drawing, key
        assert len(set(acked.values())) == len(acked)
        check.close()
    finally:
        pg.stop()


def test_a_server_whose_database_is_unreachable_does_not_start_and_hides_the_password() -> None:
    """python -m server --db postgresql://...:secret@(nothing listening): it exits before listening, saying
    which database, without the password."""
    from server.spawn import ServerStartError
    from tests.conftest import ServerProcess

    url = f"postgresql://doodle:s3cret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(ServerStartError) as failed:
        ServerProcess("--db", url)
    text = str(failed.value)
    assert "cannot open the history database" in text and "doodle:***@127.0.0.1" in text
    assert "PostgreSQL did not answer" in text
    assert "s3cret" not in text
