"""Shared fixtures: the real server as a subprocess on a free port, with the shipped model."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from bench.services import PostgresServer
from server import quickdraw, spawn

if TYPE_CHECKING:
    from playwright.async_api import Browser as AsyncBrowser
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
SHARED = quickdraw.quickdraw_dir()
RAW = quickdraw.raw_dir()
SIMPLIFIED = quickdraw.simplified_dir()
MODEL_DIR = ROOT / "models"
#: The shipped model's ``model.json``: tests compare with its own figures (name, threshold), never copies of them.
SHIPPED_META: dict[str, Any] = json.loads((MODEL_DIR / "model.json").read_text())
#: Debian's browser, driven by Playwright (never `playwright install`: no downloads here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless, launched by ``playwright`` (sync or async API: a browser, or its awaitable).

    The one place tests start a browser; skips where chromium is missing (bash scripts/setup.sh installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian chromium (bash scripts/setup.sh)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A chromium (:func:`launch_chromium`) for a module's sync tests, on Playwright's sync API.

    Its event loop stays current while it is open, so a module that also has asyncio tests uses
    :func:`async_browser` instead."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def async_browser() -> AsyncIterator[AsyncBrowser]:
    """A chromium (:func:`launch_chromium`) for one asyncio test, on Playwright's async API."""
    async_api = pytest.importorskip("playwright.async_api")
    async with async_api.async_playwright() as p:
        b = await launch_chromium(p)
        try:
            yield b
        finally:
            await b.close()


def http_get(url: str) -> tuple[int, bytes, str]:
    """GET ``url``: status, body and Content-Type, for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


class ServerProcess(spawn.ServerProcess):
    """`python -m server --port 0 ...` (server.spawn) keeping its history in memory unless `--db` is given, with
    a generous HTTP request rate unless one is given (every test's requests come from one address)."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (), module: str = "server"
    ) -> None:
        if "--db" not in args:
            args = (*args, "--db", ":memory:")
        if "--max-http-requests-per-second" not in args:  # every test's requests come from one address
            args = (*args, "--max-http-requests-per-second", "1000", "--http-request-burst", "1000")
        super().__init__(*args, module=module, env=env, prefix=prefix, cwd=ROOT, start_timeout_s=90)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One real server with the shipped model for the whole test session."""
    srv = ServerProcess()
    yield srv
    srv.stop()


def raw_sample(per_word: int = 1) -> list[dict[str, Any]]:
    """A fixed sample of real raw drawings as ndjson records: the first ``per_word`` of every word, word by word."""
    return [d.to_json() for d in quickdraw.read(RAW, per_word=per_word)]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server (bench/services.py) for the whole test session."""
    pg = PostgresServer()
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    return postgres.new_database()
