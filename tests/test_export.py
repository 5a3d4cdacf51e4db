"""The export command (server/history/export.py): history -> Quick Draw raw ndjson -> training loader and replay."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from replay_client.client import DoodleClient
from tests.conftest import MODEL_DIR, ROOT, raw_sample
from tests.support import InProcessServer
from training.data import load_raw

KEYS = {"word", "countrycode", "timestamp", "recognized", "key_id", "drawing"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export") / "doodles.sqlite3"


@pytest.fixture(scope="module")
def srv(db: Path) -> Iterator[InProcessServer]:
    s = InProcessServer("--db", str(db))
    yield s
    s.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stored(srv: InProcessServer) -> list[dict[str, Any]]:
    """Twelve real drawings streamed point by point; ten submitted with their word, two cleared unnamed."""
    out = []
    for i, d in enumerate(raw_sample()[300:312]):
        async with DoodleClient(srv.url) as c:
            replies = []
            for xs, ys, ts in d["drawing"]:
                await c.points(xs, ys, ts)
                replies.append(await c.pen_up())
            named = i % 6 != 5
            reply = await c.request({"type": "submit", "word": d["word"]} if named else {"type": "submit"})
            out.append({"id": reply["id"], "word": d["word"] if named else None, "raw": d, "replies": replies})
    return out


def export(db: Path, out: Path, *args: str) -> tuple[int, str]:
    p = subprocess.run(
        [sys.executable, "-m", "server.history.export", "--db", str(db), "--out", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return p.returncode, p.stderr


def read(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        return [json.loads(line) for line in fh]


def test_export_writes_every_drawing_in_quickdraw_raw_format(db: Path, stored: list, tmp_path: Path) -> None:
    """Every stored drawing, oldest first, with exactly the six Quick Draw keys and its strokes unchanged."""
    rc, err = export(db, tmp_path / "all.ndjson")
    assert rc == 0, err
    rows = read(tmp_path / "all.ndjson")
    assert [r["key_id"] for r in rows] == [str(s["id"]) for s in stored]
    assert "wrote 12 drawings" in err and "2 labelled by their final guess" in err
    for row, s in zip(rows, stored, strict=True):
        assert set(row) == KEYS and row["countrycode"] == "ZZ"
        assert row["drawing"] == s["raw"]["drawing"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC", row["timestamp"])
        final_top = s["replies"][-1]["guesses"][0]["word"]
        if s["word"] is None:
            assert row["word"] == final_top and row["recognized"] is False
        else:
            assert row["word"] == s["word"] and row["recognized"] == (final_top == s["word"])


def test_export_filters_by_word_and_time_gzips_and_skips_unnamed_when_asked(
    db: Path, stored: list, tmp_path: Path
) -> None:
    """--word, --since (ISO, UTC), --labelled-only and a .gz name each do what they say."""
    word = stored[0]["word"]
    rc, _ = export(db, tmp_path / "w.ndjson.gz", "--word", word)
    assert rc == 0 and [r["key_id"] for r in read(tmp_path / "w.ndjson.gz")] == [str(stored[0]["id"])]
    with gzip.open(tmp_path / "w.ndjson.gz") as fh:  # a real gzip file
        assert fh.read(1) == b"{"
    rc, err = export(db, tmp_path / "named.ndjson", "--labelled-only")
    rows = read(tmp_path / "named.ndjson")
    assert rc == 0 and len(rows) == 10 and "skipped 2 without a player's word" in err
    assert {r["word"] for r in rows} == {s["word"] for s in stored if s["word"]}
    rc, _ = export(db, tmp_path / "future.ndjson", "--since", "2999-01-01")
    assert rc == 0 and read(tmp_path / "future.ndjson") == []
    rc, _ = export(db, tmp_path / "past.ndjson", "--since", "2000-01-01T00:00:00+02:00")
    assert rc == 0 and len(read(tmp_path / "past.ndjson")) == 12


def test_export_refuses_bad_arguments_clearly(db: Path, tmp_path: Path) -> None:
    """A missing database, an unreadable date or a file that is not SQLite fail with a message and no output."""
    rc, err = export(tmp_path / "missing.sqlite3", tmp_path / "x.ndjson")
    assert rc == 1 and "no such history database" in err
    rc, err = export(db, tmp_path / "x.ndjson", "--since", "last tuesday")
    assert rc == 2 and "not an ISO date" in err
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    rc, err = export(junk, tmp_path / "x.ndjson")
    assert rc == 1 and "export failed" in err
    assert not (tmp_path / "x.ndjson").exists() and not list(tmp_path.glob(".x.ndjson*"))


def test_exported_file_loads_with_the_training_reader(db: Path, stored: list, tmp_path: Path) -> None:
    """training.data.load_raw reads the export as it reads Google's raw files: same strokes, model labels."""
    folder = tmp_path / "raw"
    folder.mkdir()
    assert export(db, folder / "players.ndjson.gz", "--labelled-only")[0] == 0
    labels = (MODEL_DIR / "labels.txt").read_text().split("\n")
    strokes, labs, records = load_raw(folder, labels=[w for w in labels if w])
    named = [s for s in stored if s["word"]]
    assert len(strokes) == len(named) and [labels[i] for i in labs] == [s["word"] for s in named]
    assert [len(s) for s in strokes] == [len(s["raw"]["drawing"]) for s in named]
    assert [r.to_json()["drawing"] for r in records] == [s["raw"]["drawing"] for s in named]  # timing kept


async def test_replaying_the_export_gives_the_stored_guesses(
    srv: InProcessServer, db: Path, stored: list, tmp_path: Path
) -> None:
    """Each exported drawing replayed through a fresh live server gets, stroke by stroke, the guesses stored with it."""
    assert export(db, tmp_path / "replay.ndjson")[0] == 0
    rows = read(tmp_path / "replay.ndjson")
    assert len(rows) == len(stored)
    fresh = InProcessServer("--db", ":memory:")
    try:
        for row in rows:
            async with DoodleClient(fresh.url) as c:
                replayed = []
                for xs, ys, ts in row["drawing"]:
                    await c.points(xs, ys, ts)
                    replayed.append(await c.pen_up())
            with urllib.request.urlopen(f"{srv.http}/api/doodles/{row['key_id']}", timeout=10) as r:
                kept_guesses = json.loads(r.read())["guesses"]
            assert [g["strokes"] for g in kept_guesses] == [r["strokes"] for r in replayed]
            for kept, again in zip(kept_guesses, replayed, strict=True):
                assert [g["word"] for g in kept["guesses"]] == [g["word"] for g in again["guesses"]]
                assert [g["score"] for g in kept["guesses"]] == pytest.approx(
                    [g["score"] for g in again["guesses"]], abs=1e-4
                )
    finally:
        fresh.stop()
