"""``python -m server --workers N``: N server processes sharing one port.

The process the operator starts becomes a supervisor that loads no model.  It reserves
the port with an ``SO_REUSEPORT`` socket (so ``--port 0`` picks one free port for all
workers) and starts N children, ``python -m server <same options> --port P
--reuse-port --worker-index i``, each with its own model, batcher and event loop.  The
kernel spreads new connections across the children's listening sockets; a session
stays with the worker that accepted it.

Promises:

* The usual ``doodlestream listening on http://HOST:PORT ...`` line is printed once
  every worker listens (scripts and tests read it); ``/healthz`` names the ``pid`` and
  ``worker`` index that answered.
* SIGTERM and SIGINT are forwarded to every worker; the supervisor exits 0 when they
  all exit 0 (each closes its sessions with 1001 first), else with the first failing
  code.  A worker that is still running ``STOP_TIMEOUT_S`` after the signal is killed.
* A worker that exits on its own (a crash) stops the others and the supervisor exits
  non-zero, so a process manager restarts the whole set.  Workers get SIGTERM if the
  supervisor itself dies (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import IO

log = logging.getLogger("doodlestream.workers")

#: How long workers get to close their sessions after SIGTERM before being killed, in seconds.
STOP_TIMEOUT_S = 30.0
#: How long one worker may take to load its model and listen, in seconds.
START_TIMEOUT_S = 120.0
#: How often the supervisor checks its workers, in seconds.
POLL_S = 0.1

LISTENING = "doodlestream listening on "


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) ``SO_REUSEPORT`` socket holding ``host:port`` for the workers."""
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(addr)
    return sock


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _forward(stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()


class Supervisor:
    """Starts, watches and stops the worker processes (see module docstring)."""

    def __init__(self, argv: Sequence[str], *, workers: int, host: str, port: int) -> None:
        if workers < 2:
            raise ValueError("a supervisor needs at least 2 workers")
        self.argv = list(argv)
        self.workers = workers
        self.host = host
        self.sock = reserve_port(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.children: list[subprocess.Popen[str]] = []
        self.stopping = False
        self.stop_signalled_at: float | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("supervisor: %s, stopping %d workers", signal.Signals(signum).name, len(self.children))
        self.stopping = True
        self.stop_signalled_at = self.stop_signalled_at or time.monotonic()
        self._signal_children(signal.SIGTERM)

    def _signal_children(self, sig: int) -> None:
        for child in self.children:
            if child.poll() is None:
                try:
                    child.send_signal(sig)
                except ProcessLookupError:
                    pass

    def _spawn(self, index: int) -> subprocess.Popen[str]:
        extra = ["--workers", "1", "--port", str(self.port), "--reuse-port", "--worker-index", str(index)]
        return subprocess.Popen(
            [sys.executable, "-m", "server", *self.argv, *extra],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,
        )

    def _wait_listening(self) -> str | None:
        """Read each worker's listening line; ``None`` if one failed or a stop came first."""
        detail = ""
        deadline = time.monotonic() + START_TIMEOUT_S
        for i, child in enumerate(self.children):
            assert child.stdout is not None
            while True:
                line = child.stdout.readline()
                if not line:  # the worker exited before listening
                    if not self.stopping:
                        log.error("worker %d (pid %d) exited before listening", i, child.pid)
                    return None
                if line.startswith(LISTENING):
                    detail = line[len(LISTENING) :].strip()
                    break
                sys.stdout.write(line)
                if time.monotonic() > deadline:
                    log.error("worker %d did not listen within %g s", i, START_TIMEOUT_S)
                    return None
            threading.Thread(target=_forward, args=(child.stdout,), daemon=True).start()
        return detail

    def run(self) -> int:
        """Serve until a signal (exit 0 when every worker stops cleanly) or a worker's crash."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.children = [self._spawn(i) for i in range(self.workers)]
        detail = self._wait_listening()
        if detail is not None and not self.stopping:
            url_and_model = detail.replace("(model ", f"({self.workers} workers, model ", 1)
            print(LISTENING + url_and_model, flush=True)
            log.info("workers: %s", ", ".join(str(c.pid) for c in self.children))
        elif not self.stopping:
            self.stopping = True
            self.stop_signalled_at = time.monotonic()
            self._signal_children(signal.SIGTERM)
            self._reap()
            return 1
        crashed: int | None = None
        while any(c.poll() is None for c in self.children):
            if not self.stopping:
                dead = [c for c in self.children if c.poll() is not None]
                if dead:
                    crashed = dead[0].returncode or 1
                    log.error("worker pid %d exited with %s; stopping the others", dead[0].pid, dead[0].returncode)
                    self.stopping = True
                    self.stop_signalled_at = time.monotonic()
                    self._signal_children(signal.SIGTERM)
            if self.stop_signalled_at is not None and time.monotonic() - self.stop_signalled_at > STOP_TIMEOUT_S:
                log.error("workers still running %g s after SIGTERM; killing them", STOP_TIMEOUT_S)
                self._signal_children(signal.SIGKILL)
                self.stop_signalled_at = time.monotonic()
            time.sleep(POLL_S)
        codes = self._reap()
        if crashed is not None:
            return crashed
        return next((c for c in codes if c != 0), 0)

    def _reap(self) -> list[int]:
        codes = [c.wait() for c in self.children]
        self.sock.close()
        return [128 - c if c < 0 else c for c in codes]  # killed by signal s: 128 + s


def supervise(argv: Sequence[str], *, workers: int, host: str, port: int) -> int:
    """Run ``workers`` server processes on one port until stopped; the exit code."""
    return Supervisor(argv, workers=workers, host=host, port=port).run()
