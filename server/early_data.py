"""Bytes a client sends after its HTTP request, before the answer: counted and dropped (a websockets override).

A client that pipelines a second request, or sends WebSocket frames before the ``101``,
would make websockets parse those bytes as frames and fail with an ``AssertionError``
and no answer.  websockets (its docs and issue tracker) offers no public hook for them,
so :func:`gate_early_data` swaps the class of one connection's Sans-I/O
:class:`websockets.server.ServerProtocol`, before anything was read, for one whose
``parse`` generator first discards such bytes and sets ``early_data``; then it hands on
to websockets' own ``parse``.  This relies on websockets internals (``parse``,
``parser``, ``reader.at_eof`` / ``reader.discard``, ``state``), checked with the
versions in :data:`VERIFIED_WITH`: tests/test_admission.py fails on any other version,
so whoever upgrades websockets checks this module (and whether a public hook appeared).
"""

from __future__ import annotations

from collections.abc import Generator

from websockets.protocol import CONNECTING, Protocol
from websockets.server import ServerProtocol

__all__ = ["VERIFIED_WITH", "EarlyDataProtocol", "gate_early_data"]

#: websockets versions whose internals this override was checked against.
VERIFIED_WITH = frozenset({"17.4"})


class _EarlyDataGate(Protocol):
    """Between the request and the answer, bytes from the client are counted and dropped."""

    early_data: bool = False

    def parse(self) -> Generator[None]:
        while self.state is CONNECTING:
            if (yield from self.reader.at_eof()) or self.state is not CONNECTING:
                break
            self.early_data = True
            self.reader.discard()
        yield from super().parse()


class EarlyDataProtocol(ServerProtocol, _EarlyDataGate):
    """websockets' server protocol, with the gate between the request and the frames."""


def gate_early_data(protocol: ServerProtocol) -> None:
    """Make ``protocol`` (nothing read yet) an :class:`EarlyDataProtocol`."""
    protocol.__class__ = EarlyDataProtocol
    protocol.parser = protocol.parse()
    next(protocol.parser)
