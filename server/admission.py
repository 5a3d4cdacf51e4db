"""Which TCP connections get as far as the HTTP request: per-address handshakes, open files, pipelining.

The server hands ``websockets.serve`` the connection class :func:`connection_class`
builds over one :class:`Admission`.  Promises:

* At most ``max_handshakes_per_address`` connections per client address (see
  :func:`server.addresses.address_key`: an IPv6 /64 counts as one) may be between the
  TCP accept and a complete HTTP request; the next one is answered **429** at once and
  closed.  Connections from a ``--trusted-proxy`` are not counted (a proxy forwards
  only complete requests).
* Near the open-file limit (``RLIMIT_NOFILE``, raised to its hard limit by
  :func:`raise_open_file_limit` at start) a new connection is answered **503** at once
  and closed: at most ``soft limit - files open at start - fd_margin - LISTEN_BACKLOG``
  connections are open together (asyncio accepts up to ``LISTEN_BACKLOG`` connections
  before the server hears of any), so the process keeps descriptors for its database,
  logs and model, and ``accept`` does not fail.
* Refusals are logged as one warning line per :data:`REFUSAL_LOG_S` with their counts,
  never one line (or traceback) per connection.
* A client that sends more bytes after its HTTP request, before the answer (two
  pipelined requests, or WebSocket frames before the ``101``), gets the answer to its
  first request and the connection closes; the early bytes are discarded
  (``early_data`` on the protocol tells the front, which refuses such a ``/ws``
  handshake with 400).  Without this, websockets parses them as frames and fails
  with an ``AssertionError`` traceback and no answer.  websockets has no public hook
  for those bytes: the override of its parser is isolated in :mod:`server.early_data`.

Everything else here uses websockets' public interface: ``serve(create_connection=)``
takes a :class:`websockets.asyncio.server.ServerConnection` subclass, whose asyncio
``connection_made`` / ``connection_lost`` callbacks count connections.
* :meth:`Admission.abort_handshakes` drops every connection still in its handshake
  (shutdown must not wait for them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections import Counter
from http import HTTPStatus
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request
from websockets.protocol import Event
from websockets.server import ServerProtocol

from server.addresses import address_key
from server.early_data import gate_early_data
from server.limits import LISTEN_BACKLOG, Limits

log = logging.getLogger("doodlestream.server")

#: Refusals are summed up in one log line at most this often, in seconds.
REFUSAL_LOG_S = 10.0


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; the ``(soft, hard)`` limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as e:  # e.g. an unlimited hard limit some systems refuse
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, e)
    return soft, hard


def files_open() -> int:
    """How many file descriptors this process has open now (0 where ``/proc`` cannot tell)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def refusal(status: HTTPStatus, message: str) -> bytes:
    """A complete HTTP response sent straight to the socket (before any request was read)."""
    body = f'{{"error":"{message}","status":{int(status)}}}'.encode()
    head = (
        f"HTTP/1.1 {int(status)} {status.phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\nServer: doodlestream\r\n\r\n"
    )
    return head.encode("ascii") + body


class Admission:
    """Counts open connections and handshakes in progress per address (see module docstring)."""

    def __init__(self, limits: Limits, trusted_proxies: set[str]) -> None:
        self.limits = limits
        self.trusted = trusted_proxies
        self.open = 0
        self.handshaking: Counter[str] = Counter()
        self._pending: dict[ServerConnection, str] = {}
        #: Connections allowed open together (set by :meth:`measure`; ``None``: not measured, no cap).
        self.capacity: int | None = None
        self.refused: Counter[str] = Counter()
        self._refused_logged_at = 0.0

    def measure(self) -> None:
        """Size :attr:`capacity` from the open-file limit and the files open now (call once listening)."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            self.capacity = None
            return
        self.capacity = max(0, soft - files_open() - self.limits.fd_margin - LISTEN_BACKLOG)

    def enter(self, conn: ServerConnection, peer: str) -> bytes | None:
        """Count a new connection from ``peer``; the refusal to send it, or ``None`` to let it in."""
        self.open += 1
        if self.capacity is not None and self.open > self.capacity:
            return self._refuse("near the open-file limit", HTTPStatus.SERVICE_UNAVAILABLE, "server busy, retry soon")
        if peer not in self.trusted:
            key = address_key(peer, ipv6_prefix_bits=self.limits.ipv6_prefix_bits)
            limit = self.limits.max_handshakes_per_address
            if self.handshaking[key] >= limit:
                message = f"at most {limit} handshakes in progress per address"
                return self._refuse("handshakes per address", HTTPStatus.TOO_MANY_REQUESTS, message)
            self.handshaking[key] += 1
            self._pending[conn] = key
        return None

    def request_received(self, conn: ServerConnection) -> None:
        """The connection's HTTP request is complete: its handshake no longer counts."""
        key = self._pending.pop(conn, None)
        if key is not None:
            self.handshaking[key] -= 1
            if self.handshaking[key] <= 0:
                del self.handshaking[key]

    def leave(self, conn: ServerConnection) -> None:
        """The connection is closed."""
        self.request_received(conn)
        self.open -= 1

    def abort_handshakes(self) -> None:
        """Drop every connection whose HTTP request has not arrived (shutdown)."""
        for conn in list(self._pending):
            conn.transport.abort()

    def _refuse(self, why: str, status: HTTPStatus, message: str) -> bytes:
        self.refused[why] += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= REFUSAL_LOG_S:
            self._refused_logged_at = now
            counts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.refused.items()))
            log.warning("refusing connections (%s since start); %d open", counts, self.open)
        return refusal(status, message)


def connection_class(admission: Admission) -> type[ServerConnection]:
    """A ``ServerConnection`` class that passes every new connection through ``admission``."""

    class AdmittedConnection(ServerConnection):
        gate: ClassVar[Admission] = admission

        def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
            super().__init__(protocol, *args, **kwargs)
            gate_early_data(protocol)  # nothing has been read yet
            self._admitted = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._admitted = True
            peer = transport.get_extra_info("peername")
            answer = self.gate.enter(self, str(peer[0]) if peer else "?")
            if answer is not None:
                self.transport.write(answer)
                self.transport.close()

        def process_event(self, event: Event) -> None:
            if self.request is None and isinstance(event, Request):
                self.gate.request_received(self)
            super().process_event(event)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._admitted:
                self.gate.leave(self)
            super().connection_lost(exc)

    return AdmittedConnection
