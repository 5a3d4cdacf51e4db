"""Server processes for the benchmark: ours (``python -m server``) and the baseline.

:class:`Proc` starts a command, waits for its ``listening on http://HOST:PORT`` line,
and stops it with SIGTERM (then SIGKILL).  :func:`ours` passes the bench's server
options: the per-session message rate limit is lifted (full-speed players send far
more messages per second than a person; the limit is anti-abuse, not capacity) and
the per-address session cap is raised (every simulated player comes from 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.drawings import ROOT

#: Options every benchmarked server of ours gets (see module docstring).
BENCH_SERVER_ARGS = [
    "--max-messages-per-second",
    "1000000",
    "--message-burst",
    "1000000",
    "--max-sessions-per-address",
    "100000",
    "--max-handshakes-per-address",
    "100000",
    "--log-level",
    "WARNING",
]


class Proc:
    """A server subprocess that prints ``listening on http://HOST:PORT``."""

    def __init__(self, args: list[str], *, start_timeout_s: float = 180) -> None:
        self.args = args
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + start_timeout_s
        while True:
            line = self.proc.stdout.readline()
            m = re.search(r"listening on http://([^ ]+):(\d+)", line)
            if m:
                self.port = int(m.group(2))
                break
            if not line or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{' '.join(args)} did not start: {self.stderr()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def healthz(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.http + "/healthz", timeout=30) as r:
            out: dict[str, Any] = json.loads(r.read())
            return out

    def stderr(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-3000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
        return self.proc.returncode

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ours(*extra: str, model: Path | None = None) -> Proc:
    """``python -m server`` on a free port with the bench options and ``extra``."""
    args = ["-m", "server", "--port", "0", *BENCH_SERVER_ARGS, *extra]
    if model is not None:
        args += ["--model", str(model)]
    return Proc(args)


def baseline(model: Path | None = None) -> Proc:
    """``python -m bench.baseline`` (Flask + Keras) on a free port."""
    args = ["-m", "bench.baseline", "--port", "0"]
    if model is not None:
        args += ["--model", str(model)]
    return Proc(args)
