"""server/plugin.py: features bring their own message types, error codes and metrics; the core knows none of them."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from enum import StrEnum

import pytest
from prometheus_client.core import GaugeMetricFamily, Metric

from replay_client.client import DoodleClient
from server import protocol
from server.app import DoodleServer, ServerConfig
from server.assembly import create_server
from server.errors import ClientFault, ErrorCode, InvalidField
from server.history.errors import HistoryCode
from server.metrics import Metrics
from server.plugin import Conversation, Registry
from server.protocol import Payload
from server.resume import ResumeCode
from server.rooms.errors import RoomCode
from server.teach_protocol import TeachCode
from tests.support import FakeModel


class EchoCode(StrEnum):
    TOO_LOUD = "too_loud"


class TooLoud(ClientFault):
    code = EchoCode.TOO_LOUD


@dataclass(frozen=True, slots=True)
class EchoMsg:
    seq: int | None
    text: str


def parse_echo(m: Payload, seq: int | None, limits: object, text: bool) -> EchoMsg:
    value = m.get("text")
    if not isinstance(value, str) or len(value) > 20:
        raise InvalidField("'text' must be a string of at most 20 characters")
    return EchoMsg(seq, value)


class Echo:
    """A feature as a newcomer would write one: a message, an error code and a metric of its own."""

    def __init__(self) -> None:
        self.echoed = 0

    def install(self, registry: Registry) -> None:
        registry.errors(EchoCode)
        registry.handle("echo", parse_echo, self.on_echo)
        registry.collector(self)

    async def on_echo(self, conv: Conversation, msg: EchoMsg, received: float) -> Payload:
        if msg.text.isupper():
            raise TooLoud("no shouting")
        self.echoed += 1
        return protocol.with_seq({"type": "echoed", "text": msg.text, "strokes": conv.session.strokes}, msg.seq)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("doodlestream_echoed", "Messages echoed.", self.echoed)


@pytest.fixture
async def echo_server() -> AsyncIterator[DoodleServer]:
    srv = DoodleServer(ServerConfig(host="127.0.0.1", port=0), model=FakeModel(), features=[Echo(), Metrics()])
    await srv.start()
    yield srv
    await srv.close()


async def test_a_feature_message_is_decoded_answered_offered_and_counted(echo_server: DoodleServer) -> None:
    """A registered type is decoded by its parser and answered by its handler; its name is in welcome.features,
    its own error code is answered and counted from 0, and its collector shows in /metrics."""
    url = f"ws://127.0.0.1:{echo_server.port}/ws"
    async with DoodleClient(url) as c:
        assert c.welcome["features"] == ["echo", "recognize", "target", "words"]
        reply = await c.call({"type": "echo", "text": "hi"})
        assert reply["type"] == "echoed" and reply["text"] == "hi" and reply["strokes"] == 0 and "seq" in reply
        assert (await c.call({"type": "echo", "text": 5}))["code"] == ErrorCode.INVALID_FIELD
        assert (await c.call({"type": "echo", "text": "HI"}))["code"] == "too_loud"
        url = f"http://127.0.0.1:{echo_server.port}/metrics"
        body = (await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())).decode()
    assert "doodlestream_echoed 1.0" in body
    assert 'doodlestream_errors_total{code="too_loud"} 1.0' in body
    assert 'doodlestream_errors_total{code="unknown_type"} 0.0' in body  # every declared code, from 0


async def test_types_of_features_not_installed_are_unknown_type() -> None:
    """Without the history and teach features, submit and teach are answered unknown_type (not internal) and
    welcome.features offers only the core's."""
    srv = DoodleServer(ServerConfig(host="127.0.0.1", port=0), model=FakeModel())
    await srv.start()
    try:
        async with DoodleClient(f"ws://127.0.0.1:{srv.port}/ws") as c:
            assert c.welcome["features"] == ["recognize", "target", "words"]
            for kind in ("submit", "teach", "sprite", "moderate"):
                err = await c.call({"type": kind, "word": "cat"})
                assert err["type"] == "error" and err["code"] == ErrorCode.UNKNOWN_TYPE and kind in err["message"]
    finally:
        await srv.close()


def test_a_core_type_or_a_taken_code_cannot_be_registered() -> None:
    """The core's message types and error codes, and another feature's, are refused at install."""
    registry = Registry(DoodleServer.__new__(DoodleServer))  # services are not used by these methods
    with pytest.raises(ValueError, match="already handled"):
        registry.handle("points", parse_echo, Echo().on_echo)
    registry.handle("echo", parse_echo, Echo().on_echo)
    with pytest.raises(ValueError, match="already handled"):
        registry.handle("echo", parse_echo, Echo().on_echo)

    class Clash(StrEnum):
        MALFORMED = "malformed"

    with pytest.raises(ValueError, match="already declared"):
        registry.errors(Clash)
    registry.errors(EchoCode)
    with pytest.raises(ValueError, match="already declared"):
        registry.errors(EchoCode)


async def test_the_shipped_server_declares_the_cores_and_its_features_codes() -> None:
    """create_server with the shipped model: its features declare their own codes beside the core's, and their types."""
    srv = create_server(ServerConfig(host="127.0.0.1", port=0))  # the shipped model: it can be taught
    codes = [c.value for enum in (ErrorCode, HistoryCode, TeachCode, ResumeCode, RoomCode) for c in enum]
    assert srv.registry.error_codes == sorted(codes)
    assert set(srv.registry.parsers) >= {"submit", "sprite", "delete", "mine", "moderate", "room_create", "guess"}
    assert set(srv.registry.features) >= {"resume", "submit", "sprite", "delete", "mine", "moderate", "rooms"}
