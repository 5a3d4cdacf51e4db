"""A server as a child process on a free port: what the tests and the benchmark start.

:class:`ServerProcess` runs ``[*prefix, python, -m, MODULE, --port, 0, *args]`` (``MODULE``
is ``server`` unless told otherwise, e.g. the benchmark's baseline), from the folder that
holds the ``server`` package so the child imports the same code, with stdout piped and
stderr written to a temporary log.  It is ready once the child prints its
``... listening on http://HOST:PORT`` line (``python -m server`` and ``--workers N``
print it once every process accepts connections); the host and port are read from
it.  A child that exits first, or stays silent for ``start_timeout_s``, raises
:class:`ServerStartError` carrying the end of its log.

:meth:`ServerProcess.stop` sends SIGTERM, waits ``timeout_s`` (then SIGKILL) and returns
the exit status (negative: the signal that ended it); with ``check`` it raises
:class:`ServerExitError` unless the status is 0, which is what ``python -m server``
promises on SIGTERM.  The log is read into memory and its file removed on stop, so
:meth:`ServerProcess.stderr` still answers afterwards.  Used as a context manager it
stops on exit, checking the status when ``check_exit`` (default) and no exception is
already propagating.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

#: The folder holding the ``server`` package: the project root, or ``site-packages`` when installed.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
#: The line a server prints once it accepts connections.
READY = re.compile(rb"listening on http://(\S+):(\d+)")
#: Most of the log kept in memory after stop, in characters.
LOG_TAIL_CHARS = 64_000


class ServerStartError(RuntimeError):
    """The server exited or stayed silent before printing its listening line."""


class ServerExitError(RuntimeError):
    """The server did not exit with status 0 when stopped."""


class Loopback:
    """The addresses of a server listening on loopback :attr:`port`, and its ``/healthz``."""

    port: int

    @property
    def http(self) -> str:
        """Base HTTP URL (loopback)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """WebSocket URL of ``/ws`` (loopback)."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def healthz(self, *, timeout_s: float = 30.0) -> dict[str, Any]:
        """``GET /healthz`` as a dict."""
        with urllib.request.urlopen(self.http + "/healthz", timeout=timeout_s) as r:
            out: dict[str, Any] = json.loads(r.read())
            return out


class ServerProcess(Loopback):
    """One server child process (see module docstring)."""

    def __init__(
        self,
        *args: str,
        module: str = "server",
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
        cwd: Path = PACKAGE_PARENT,
        start_timeout_s: float = 120.0,
        check_exit: bool = True,
    ) -> None:
        self.args = args
        self.check_exit = check_exit
        self.host = ""
        self.port = 0
        self._log_text: str | None = None
        fd, name = tempfile.mkstemp(prefix=f"doodle-{module.replace('.', '-')}-", suffix=".log")
        self.log_path = Path(name)
        self._log = os.fdopen(fd, "w+")
        child_env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", module, "--port", "0", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_env,
        )
        try:
            self._wait_ready(start_timeout_s)
        except BaseException:
            self.stop(timeout_s=5)
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        seen = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerStartError(f"no listening line within {timeout_s:g} s: {seen[-300:]!r}\n{self.stderr()}")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            chunk = os.read(fd, 4096) if ready else b""
            seen += chunk
            m = READY.search(seen)
            if m:
                self.host, self.port = m.group(1).decode(), int(m.group(2))
                return
            if ready and not chunk:  # stdout closed: the child is exiting
                code = self.proc.wait(10)
                raise ServerStartError(f"server exited {code} before listening:\n{self.stderr()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self, *, tail_chars: int = 4000) -> str:
        """The end of the server's log (stderr), during its run or after stop."""
        if self._log_text is not None:
            return self._log_text[-tail_chars:]
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail_chars:]

    def stop(self, *, timeout_s: float = 20.0, check: bool = False) -> int:
        """SIGTERM, wait up to ``timeout_s`` (then SIGKILL); the exit status (see module docstring)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_text is None:
            self._log_text = self.stderr(tail_chars=LOG_TAIL_CHARS)
            self._log.close()
            self.log_path.unlink(missing_ok=True)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        code = self.proc.returncode
        if check and code != 0:
            raise ServerExitError(f"server exited {code} on SIGTERM:\n{self.stderr()}")
        return code

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop(check=self.check_exit and et is None)
