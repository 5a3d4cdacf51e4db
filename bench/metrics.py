"""Metric helpers of the benchmark: percentiles, per-session summaries, bytes on the wire,
and process memory and CPU read from ``/proc``.

Everything is a plain function over numbers or a pid, so tests can check it directly.
Latencies are in milliseconds; memory in KiB as ``/proc`` reports it.
"""

from __future__ import annotations

import math
import os
import socket
import struct
from collections.abc import Iterable, Sequence
from typing import Any

#: Offset of ``tcpi_bytes_acked`` (u64) in Linux's ``struct tcp_info``.
TCPI_BYTES_ACKED_OFFSET = 120
#: Bytes of ``struct tcp_info`` read (enough for the fields used).
TCP_INFO_LEN = 232


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summarize(latencies_ms: Sequence[float]) -> dict[str, float]:
    """Count, mean, p50, p90, p99 and max of latencies in ms."""
    n = len(latencies_ms)
    return {
        "n": n,
        "mean": sum(latencies_ms) / n if n else math.nan,
        "p50": percentile(latencies_ms, 50),
        "p90": percentile(latencies_ms, 90),
        "p99": percentile(latencies_ms, 99),
        "max": max(latencies_ms) if n else math.nan,
    }


def window(samples: Iterable[tuple[float, float]], start: float, end: float) -> list[float]:
    """Latencies of the ``(completed_at, latency)`` samples completed in ``[start, end)``."""
    return [lat for t, lat in samples if start <= t < end]


def starved(samples: Sequence[tuple[float, float]], start: float, end: float) -> bool:
    """Whether a session waited for guesses during ``[start, end)`` yet got none in it.

    A session drawing a long stroke or thinking between drawings asks for nothing, so it
    is not starved; one whose pen-up went unanswered through the window is."""
    if any(start <= t < end for t, _ in samples):
        return False
    return any(t - lat / 1000.0 < end and t >= start for t, lat in samples)


def load_summary(sessions: Sequence[Sequence[tuple[float, float]]], start: float, end: float) -> dict[str, Any]:
    """Throughput and latency over a window, across all sessions and for the worst one.

    ``sessions`` holds, per session, ``(completed_at_s, latency_ms)`` of each guess.
    The worst session is the one with the highest p99; see :func:`starved`."""
    per = [window(s, start, end) for s in sessions]
    every = [lat for p in per for lat in p]
    span = end - start
    p99s = [percentile(p, 99) for p in per if p]
    out: dict[str, Any] = summarize(every)
    out["seconds"] = span
    out["guesses_per_s"] = len(every) / span if span > 0 else math.nan
    out["sessions"] = len(per)
    out["starved_sessions"] = sum(1 for s in sessions if starved(s, start, end))
    out["sessions_without_guess"] = sum(1 for p in per if not p)
    out["worst_session_p99"] = max(p99s) if p99s else math.nan
    return out


def ratio(baseline: float, ours: float) -> float:
    """How many times ``ours`` is smaller than ``baseline`` (inf when ours is 0)."""
    if ours <= 0:
        return math.inf
    return baseline / ours


def ws_client_frame_bytes(payload: int) -> int:
    """Bytes on the wire of one masked client WebSocket frame carrying ``payload`` bytes."""
    header = 2 + (2 if 126 <= payload < 65_536 else 8 if payload >= 65_536 else 0)
    return header + 4 + payload


def tcp_bytes_acked(sock: socket.socket) -> int:
    """Payload bytes this TCP socket has sent and had acknowledged (Linux ``TCP_INFO``)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_LEN)
    return int(struct.unpack_from("Q", info, TCPI_BYTES_ACKED_OFFSET)[0])


def rss_kib(pid: int) -> int:
    """Resident memory of a process (``VmRSS`` in ``/proc/PID/status``), in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/PID/stat``), in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(p) for p in fh.read().split())
        except FileNotFoundError:
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all of its descendants."""
    out = [pid]
    for child in children(pid):
        out.extend(tree(child))
    return out
