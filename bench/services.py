"""Real PostgreSQL and HAProxy processes for the tests and the benchmark's cluster phase.

:class:`PostgresServer` runs Debian's ``postgresql``: ``initdb`` in a fresh folder under
``/tmp``, owned by an unprivileged user (``nobody`` when run as root: PostgreSQL refuses
root), on a free loopback port with trust authentication, in its own process group so
:meth:`PostgresServer.kill` can SIGKILL the postmaster and every backend at once (a crash)
and :meth:`PostgresServer.start` bring it back on the same port and data.
:meth:`PostgresServer.new_database` creates an empty database and returns its URL.

:class:`HAProxy` runs Debian's ``haproxy`` in the foreground on ``deploy/haproxy.cfg``
unchanged, its addresses given through the environment variables the file reads.
"""

from __future__ import annotations

import csv
import glob
import io
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

#: The unprivileged user PostgreSQL runs as when the tests run as root.
PG_USER = "nobody"
#: The database role the tests connect as.
ROLE = "doodle"
#: deploy/haproxy.cfg, which :class:`HAProxy` runs unchanged.
HAPROXY_CFG = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"
#: How long PostgreSQL may take to start accepting connections, in seconds.
START_TIMEOUT_S = 60.0


def pg_bin() -> Path | None:
    """Debian's PostgreSQL binaries (the newest installed version), or ``None`` when not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder (see module docstring)."""

    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (bash scripts/setup.sh --all installs Debian's postgresql)")
        self.bin = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="doodle-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._names = itertools.count()
        self.proc: subprocess.Popen[bytes] | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            uid = pwd.getpwnam(PG_USER).pw_uid
            os.chown(self.dir, uid, -1)
            self._as_user = ["runuser", "-u", PG_USER, "--"]
        subprocess.run(
            [*self._as_user, str(self.bin / "initdb"), "-D", str(self.data), "-U", ROLE, "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            cwd=self.dir,
        )
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start (or restart after :meth:`kill`) the server and wait until it accepts connections."""
        log = open(self.dir / "log", "ab")  # noqa: SIM115 - the child keeps it open
        self.proc = subprocess.Popen(
            [
                *self._as_user,
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.dir}",
                "-c",
                "max_connections=100",
                "-c",
                "shared_buffers=16MB",
            ],
            stdout=log,
            stderr=log,
            cwd=self.dir,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", "postgres"],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {(self.dir / 'log').read_text()[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once (a crash), and wait until they are gone."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    def new_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg  # the postgres extra; imported only where PostgreSQL is used

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # fast shutdown (the group: runuser does not pass it on)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class HAProxy:
    """Debian's haproxy in the foreground on deploy/haproxy.cfg, in front of ``backends`` (host:port)."""

    def __init__(self, backends: list[str]) -> None:
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.port, self.stats_port = free_port(), free_port()
        env = {
            **os.environ,
            "DOODLE_FRONT": f"127.0.0.1:{self.port}",
            "DOODLE_STATS": f"127.0.0.1:{self.stats_port}",
            **{f"DOODLE_S{i + 1}": b for i, b in enumerate(backends)},
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - haproxy writes it until stop()
        self.proc = subprocess.Popen(
            [haproxy, "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=self.log, stderr=self.log
        )

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def states(self) -> dict[str, str]:
        """Each backend server's state as HAProxy's health checks see it (``UP``, ``DOWN``...)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5) as r:
            rows = csv.DictReader(io.StringIO(r.read().decode().lstrip("# ")))
            return {row["svname"]: row["status"] for row in rows if row["pxname"] == "doodlestream"}

    def wait_states(self, want: dict[str, str], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                got = self.states()
                if all(got.get(k, "").startswith(v) for k, v in want.items()):
                    return
            except OSError:
                got = {}
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError(f"haproxy: wanted {want}, got {got}: {self.log.read()[-2000:]!r}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
