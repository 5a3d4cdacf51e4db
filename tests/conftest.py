"""Shared fixtures: the real server as a subprocess on a free port, with the shipped model; what ``slow`` means.

Tests that are not about processes use :class:`tests.support.InProcessServer` (or :func:`tests.support.serving`,
in the test's own event loop) instead of :class:`ServerProcess`.  A test marked ``slow`` takes more than
:data:`SLOW_TEST_S` of test time alone on a quiet 2-core machine: ``-m "not slow"`` is the quick loop, CI runs
them all, and modules holding slow tests are collected first so parallel workers finish together.  The run's
summary names unmarked tests that took longer than that (a report, never a failure: machines vary).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from server import quickdraw, spawn

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter
    from playwright.async_api import Browser as AsyncBrowser
    from playwright.sync_api import Browser


ROOT = Path(__file__).resolve().parent.parent
#: What ``slow`` means: more test time than this alone on a quiet 2-core machine, in seconds.
SLOW_TEST_S = 10.0
SHARED = quickdraw.quickdraw_dir()
RAW = quickdraw.raw_dir()
SIMPLIFIED = quickdraw.simplified_dir()
MODEL_DIR = ROOT / "models"
#: The shipped model's ``model.json``: tests compare with its own figures (name, threshold), never copies of them.
SHIPPED_META: dict[str, Any] = json.loads((MODEL_DIR / "model.json").read_text())
#: The shipped model's words, in output order: tests count them from here, never from a copied number.
SHIPPED_LABELS: list[str] = [w for w in (MODEL_DIR / "labels.txt").read_text(encoding="utf-8").splitlines() if w]
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
def postgres() -> Iterator[Any]:
    """One real PostgreSQL server (bench/services.py, imported only by the tests that need one) for the session."""
    from bench.services import PostgresServer

    pg = PostgresServer()
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(postgres: Any) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    return postgres.new_database()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding ``slow`` tests first (each module's tests stay together, in their order)."""
    slow_modules = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    first = {id(item): item.nodeid.split("::")[0] not in slow_modules for item in items}
    items.sort(key=lambda item: first[id(item)])  # a stable sort: the order within each group is kept


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    """Name the tests that took longer than SLOW_TEST_S without the ``slow`` mark (see module docstring)."""
    unmarked = sorted(
        (r.duration, r.nodeid)
        for r in terminalreporter.stats.get("passed", [])
        if r.when == "call" and r.duration > SLOW_TEST_S and "slow" not in r.keywords
    )
    if unmarked:
        terminalreporter.section(f"over {SLOW_TEST_S:g} s without the slow mark (this machine, this run)")
        for duration, nodeid in reversed(unmarked):
            terminalreporter.write_line(f"{duration:6.1f} s  {nodeid}")
