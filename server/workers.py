"""``python -m server --workers N``: N server processes sharing one port, watched and replaced.

The process the operator starts becomes a supervisor that loads no model.  It reserves
the port with an ``SO_REUSEPORT`` socket (so ``--port 0`` picks one free port for all
workers) and starts N children, ``python -m server <same options> --workers N --port P
--reuse-port --worker-index i --heartbeat-fd F``, each with its own model, batcher and
event loop.  The kernel spreads new connections across the children's listening
sockets; a session stays with the worker that accepted it.

Rooms are off: the kernel does not look at ``?room=CODE``, so a room's players would
reach different workers and be told ``unknown_room`` at random.  A worker (``--workers``
above 1) installs no rooms feature (:func:`server.assembly.create_server`), and the
supervisor says so once at start (:data:`ROOMS_OFF`).  Rooms need one worker per
instance; several instances, each with its own ``--room-prefix``, behind HAProxy.

Promises:

* The usual ``doodlestream listening on http://HOST:PORT ...`` line is printed once
  every worker listens (scripts and tests read it); ``/healthz`` names the ``pid`` and
  ``worker`` index that answered.  A worker that fails to start the first time stops
  the set (exit 1): a bad model or option would fail again.
* Health: every worker's event loop writes a heartbeat to a pipe every
  :data:`server.limits.WORKER_HEARTBEAT_S`.  A worker silent for ``hung_s`` (stopped,
  hung, its loop blocked) is killed (SIGKILL); a worker that exits on its own (a crash)
  is noted.  Either is replaced, at the same index, after a back-off that starts at
  ``restart_min_s`` and doubles with each failure in a row up to ``restart_max_s``; a
  worker that served ``stable_s`` resets the back-off.  A replacement that does not
  listen within :data:`START_TIMEOUT_S` counts as a failure too.  The other workers
  serve meanwhile, so the port keeps answering.
* SIGTERM or SIGINT: forwarded to every worker as SIGTERM; the supervisor exits 0 when
  they all exit 0 (each closes its sessions with 1001 first), else with the first
  failing code (128 + signal for a worker killed by a signal).  A worker still running
  :data:`STOP_TIMEOUT_S` after it is killed.  A second SIGTERM or SIGINT while stopping
  kills every worker at once and the supervisor exits 128 + that signal.  Workers get
  SIGTERM if the supervisor itself dies (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from server.limits import WORKER_HUNG_S, WORKER_RESTART_MAX_S, WORKER_RESTART_MIN_S, WORKER_STABLE_S

log = logging.getLogger("doodlestream.workers")

#: How long workers get to close their sessions after SIGTERM before being killed, in seconds.
STOP_TIMEOUT_S = 30.0
#: How long one worker may take to load its model and listen, in seconds.
START_TIMEOUT_S = 120.0
#: How often the supervisor checks its workers, in seconds.
POLL_S = 0.1

LISTENING = "doodlestream listening on "
#: What the supervisor logs at start (``%d``: the workers).
ROOMS_OFF = (
    "rooms are off: the kernel spreads connections over the %d workers without looking at the room code,"
    " so a room's players would reach different workers; for rooms, run one worker per instance (--workers 1)"
    " and several instances behind HAProxy, each with its own --room-prefix (docs/OPERATIONS.md)"
)


@dataclass(frozen=True)
class Health:
    """When the supervisor declares a worker dead and how it waits before replacing it (seconds)."""

    hung_s: float = WORKER_HUNG_S
    restart_min_s: float = WORKER_RESTART_MIN_S
    restart_max_s: float = WORKER_RESTART_MAX_S
    stable_s: float = WORKER_STABLE_S

    def backoff(self, failures: int) -> float:
        """The wait before the replacement after ``failures`` failures in a row (1 or more)."""
        return float(min(self.restart_max_s, self.restart_min_s * 2 ** max(0, failures - 1)))


@dataclass
class Worker:
    """One child process and what the supervisor knows of it."""

    index: int
    proc: subprocess.Popen[str]
    beat_fd: int
    started: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)
    listening: threading.Event = field(default_factory=threading.Event)
    detail: str = ""


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


def _read_output(worker: Worker, stream: IO[str]) -> None:
    """Forward a worker's stdout; note its listening line (kept for the supervisor's own)."""
    for line in stream:
        if not worker.listening.is_set() and line.startswith(LISTENING):
            worker.detail = line[len(LISTENING) :].strip()
            worker.listening.set()
            continue
        sys.stdout.write(line)
        sys.stdout.flush()


def exit_code(returncode: int) -> int:
    """A child's exit status as a shell reports it: 128 + signal for one killed by a signal."""
    return 128 - returncode if returncode < 0 else returncode


class Supervisor:
    """Starts, watches, replaces and stops the worker processes (see module docstring)."""

    def __init__(
        self, argv: Sequence[str], *, workers: int, host: str, port: int, health: Health | None = None
    ) -> None:
        if workers < 2:
            raise ValueError("a supervisor needs at least 2 workers")
        self.argv = list(argv)
        self.count = workers
        self.health = health or Health()
        self.sock = reserve_port(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.workers: dict[int, Worker] = {}
        self.failures: dict[int, int] = {}
        self.restart_at: dict[int, float] = {}
        self.stopping = False
        self.stop_signalled_at: float | None = None
        self.forced: int | None = None

    # ------------------------------------------------------------ signals

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            log.error("supervisor: second %s, killing every worker", signal.Signals(signum).name)
            self.forced = signum
            self._signal_all(signal.SIGKILL)
            return
        log.info("supervisor: %s, stopping %d workers", signal.Signals(signum).name, len(self.workers))
        self._stop()

    def _stop(self) -> None:
        self.stopping = True
        self.stop_signalled_at = time.monotonic()
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for worker in list(self.workers.values()):
            if worker.proc.poll() is None:
                try:
                    worker.proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    # ------------------------------------------------------------ workers

    def _spawn(self, index: int) -> Worker:
        beat_r, beat_w = os.pipe()
        os.set_blocking(beat_r, False)
        extra = ["--workers", str(self.count), "--port", str(self.port), "--reuse-port", "--worker-index", str(index)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", *self.argv, *extra, "--heartbeat-fd", str(beat_w)],
            stdout=subprocess.PIPE,
            text=True,
            pass_fds=(beat_w,),
            preexec_fn=_die_with_parent,
        )
        os.close(beat_w)
        worker = Worker(index, proc, beat_r)
        assert proc.stdout is not None
        threading.Thread(target=_read_output, args=(worker, proc.stdout), daemon=True).start()
        self.workers[index] = worker
        return worker

    def _wait_listening(self) -> bool:
        """Whether every worker listens (``False`` if one exited, took too long, or a stop came first)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        for worker in self.workers.values():
            while not worker.listening.wait(POLL_S):
                if self.stopping:
                    return False
                if worker.proc.poll() is not None:
                    log.error("worker %d (pid %d) exited before listening", worker.index, worker.proc.pid)
                    return False
                if time.monotonic() > deadline:
                    log.error("worker %d did not listen within %g s", worker.index, START_TIMEOUT_S)
                    return False
            worker.last_beat = time.monotonic()
        return True

    def _read_beats(self, timeout_s: float) -> None:
        fds = {w.beat_fd: w for w in self.workers.values()}
        try:
            ready, _, _ = select.select(list(fds), [], [], timeout_s)
        except InterruptedError:  # a signal arrived
            return
        for fd in ready:
            try:
                if os.read(fd, 4096):
                    fds[fd].last_beat = time.monotonic()
            except (BlockingIOError, InterruptedError):
                pass

    def _retire(self, worker: Worker, why: str) -> None:
        """Note a failed worker (already dead or killed here) and schedule its replacement."""
        if worker.proc.poll() is None:
            worker.proc.kill()
        worker.proc.wait()
        os.close(worker.beat_fd)
        del self.workers[worker.index]
        now = time.monotonic()
        stable = worker.listening.is_set() and now - worker.started >= self.health.stable_s
        failures = 1 if stable else self.failures.get(worker.index, 0) + 1
        self.failures[worker.index] = failures
        wait = self.health.backoff(failures)
        self.restart_at[worker.index] = now + wait
        log.error("worker %d (pid %d) %s; replacing it in %g s", worker.index, worker.proc.pid, why, wait)

    def _watch(self) -> None:
        """One round of health checks: retire dead or silent workers, start the replacements that are due."""
        now = time.monotonic()
        for worker in list(self.workers.values()):
            code = worker.proc.poll()
            if code is not None:
                self._retire(worker, f"exited with {exit_code(code)}")
            elif worker.listening.is_set():
                if now - worker.last_beat > self.health.hung_s:
                    self._retire(worker, f"sent no heartbeat for {now - worker.last_beat:.1f} s (hung); killed")
            elif now - worker.started > START_TIMEOUT_S:
                self._retire(worker, f"did not listen within {START_TIMEOUT_S:g} s; killed")
        for index, due in list(self.restart_at.items()):
            if now >= due:
                del self.restart_at[index]
                worker = self._spawn(index)
                log.info("worker %d replaced by pid %d", index, worker.proc.pid)

    # ------------------------------------------------------------ main loop

    def run(self) -> int:
        """Serve until a signal; the exit code (see module docstring)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        log.warning(ROOMS_OFF, self.count)
        for i in range(self.count):
            self._spawn(i)
        if not self._wait_listening():
            if not self.stopping:
                self._stop()
            self._reap()
            return self.forced + 128 if self.forced else 1
        detail = self.workers[0].detail
        print(LISTENING + detail.replace("(model ", f"({self.count} workers, model ", 1), flush=True)
        log.info("workers: %s", ", ".join(str(w.proc.pid) for w in self.workers.values()))
        while not self.stopping:
            self._read_beats(POLL_S)
            if not self.stopping:
                self._watch()
        codes = self._reap()
        if self.forced is not None:
            return 128 + self.forced
        return next((c for c in codes if c != 0), 0)

    def _reap(self) -> list[int]:
        """Wait for every worker to exit (killing them after ``STOP_TIMEOUT_S``); their exit codes."""
        codes: list[int] = []
        for worker in list(self.workers.values()):
            while True:
                try:
                    code = worker.proc.wait(POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    since = time.monotonic() - (self.stop_signalled_at or time.monotonic())
                    if since > STOP_TIMEOUT_S:
                        log.error(
                            "worker %d still running %g s after SIGTERM; killing it", worker.index, STOP_TIMEOUT_S
                        )
                        worker.proc.kill()
            codes.append(exit_code(code))
            os.close(worker.beat_fd)
        self.workers.clear()
        self.sock.close()
        return codes


def supervise(argv: Sequence[str], *, workers: int, host: str, port: int, health: Health | None = None) -> int:
    """Run ``workers`` server processes on one port until stopped; the exit code."""
    return Supervisor(argv, workers=workers, host=host, port=port, health=health).run()
