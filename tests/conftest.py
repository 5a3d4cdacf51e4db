"""Shared fixtures: the real server as a subprocess on a free port, with the shipped model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DOODLE_SHARED", ROOT.parent / "shared")) / "quickdraw"
RAW = SHARED / "raw"
SIMPLIFIED = SHARED / "simplified"
MODEL_DIR = ROOT / "models"
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


def http_get(url: str) -> tuple[int, bytes, str]:
    """GET ``url``: status, body and Content-Type, for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


class ServerProcess:
    """``python -m server --port 0 ...`` running until :meth:`stop` (``prefix``: a wrapper command, e.g. setpriv)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()) -> None:
        self.log_path = (
            Path(os.environ.get("TMPDIR", "/tmp")) / f"doodle-server-{os.getpid()}-{time.monotonic_ns()}.log"
        )
        self.log = self.log_path.open("w+")
        if "--db" not in args:  # tests keep their history in memory unless they name a file
            args = (*args, "--db", ":memory:")
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "server", "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 90
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"listening on http://([^ ]+):(\d+)", line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.stderr()}")
        else:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.stderr()}")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self, timeout_s: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One real server with the shipped model for the whole test session."""
    srv = ServerProcess()
    yield srv
    srv.stop()


def raw_sample(per_word: int = 1) -> list[dict[str, object]]:
    """A fixed sample of real raw drawings: the first ``per_word`` of every word (sorted)."""
    out: list[dict[str, object]] = []
    for path in sorted(RAW.glob("*.ndjson")):
        with path.open() as fh:
            for _, line in zip(range(per_word), fh, strict=False):
                out.append(json.loads(line))
    return out
