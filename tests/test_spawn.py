"""server/spawn.py: ready on the listening line, start failures carry the log, stop checks the exit status."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from server.spawn import ServerExitError, ServerProcess, ServerStartError

FAKE = """
import signal, sys, time
print("starting", file=sys.stderr, flush=True)
mode = sys.argv[sys.argv.index("--mode") + 1]
if mode == "crash":
    sys.exit("cannot load the model")
if mode == "silent":
    time.sleep(60)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0 if mode == "clean" else 3))
print("booting...", flush=True)
time.sleep(0.2)
print(f"fake listening on http://127.0.0.1:4321 ({sys.argv[1:]})", flush=True)
while True:
    time.sleep(1)
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    (tmp_path / "fakeserver.py").write_text(textwrap.dedent(FAKE))
    return tmp_path


def test_port_comes_from_the_listening_line_and_a_clean_stop_is_0(fake: Path) -> None:
    """The port is read from the line printed once ready; SIGTERM -> status 0; the log outlives stop."""
    with ServerProcess("--mode", "clean", module="fakeserver", cwd=fake) as srv:
        assert (srv.host, srv.port, srv.url) == ("127.0.0.1", 4321, "ws://127.0.0.1:4321/ws")
        assert srv.proc.poll() is None and srv.log_path.exists()
    assert srv.proc.returncode == 0 and "starting" in srv.stderr() and not srv.log_path.exists()


def test_a_dirty_exit_on_sigterm_fails_the_check(fake: Path) -> None:
    """A server exiting non-zero on SIGTERM raises ServerExitError with check, returns the status without."""
    srv = ServerProcess("--mode", "dirty", module="fakeserver", cwd=fake)
    with pytest.raises(ServerExitError, match="exited 3"):
        srv.stop(check=True)
    assert srv.stop() == 3
    with pytest.raises(ServerExitError), ServerProcess("--mode", "dirty", module="fakeserver", cwd=fake):
        pass


def test_a_server_that_exits_before_listening_raises_with_its_log(fake: Path) -> None:
    """Exiting before the listening line raises ServerStartError quoting the server's stderr."""
    with pytest.raises(ServerStartError, match=r"(?s)exited 1 before listening.*cannot load the model"):
        ServerProcess("--mode", "crash", module="fakeserver", cwd=fake)


def test_a_silent_server_times_out_and_is_stopped(fake: Path) -> None:
    """No listening line within start_timeout_s: ServerStartError after about that long."""
    t0 = time.monotonic()
    with pytest.raises(ServerStartError, match="no listening line within 1 s"):
        ServerProcess("--mode", "silent", module="fakeserver", cwd=fake, start_timeout_s=1)
    assert time.monotonic() - t0 < 10
