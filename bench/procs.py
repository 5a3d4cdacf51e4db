"""Server processes for the benchmark: ours (``python -m server``) and the baseline.

Both are :class:`server.spawn.ServerProcess` es (free port, ready on the listening line,
SIGTERM to stop).  :func:`ours` passes the bench's server options: the per-session
message rate limit is lifted (full-speed players send far more messages per second
than a person; the limit is anti-abuse, not capacity) and the per-address session cap
is raised (every simulated player comes from 127.0.0.1).  The Flask baseline dies of
SIGTERM (status -15), so its exit is not checked.
"""

from __future__ import annotations

from pathlib import Path

from server.spawn import ServerProcess

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
    "--loop-share-per-address",  # every benchmark client comes from one address
    "1.0",
    "--log-level",
    "WARNING",
]
#: Longest wait for a benchmarked server to load its model and listen, in seconds.
START_TIMEOUT_S = 180.0


def ours(*extra: str, model: Path | None = None) -> ServerProcess:
    """``python -m server`` on a free port with the bench options and ``extra``."""
    args = [*BENCH_SERVER_ARGS, *extra]
    if model is not None:
        args += ["--model", str(model)]
    return ServerProcess(*args, start_timeout_s=START_TIMEOUT_S)


def baseline(model: Path | None = None) -> ServerProcess:
    """``python -m bench.baseline`` (Flask + Keras) on a free port."""
    args = ["--model", str(model)] if model is not None else []
    return ServerProcess(*args, module="bench.baseline", start_timeout_s=START_TIMEOUT_S, check_exit=False)
