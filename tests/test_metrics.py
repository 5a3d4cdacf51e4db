"""GET /metrics (server/metrics.py): Prometheus text from a live server, counting what clients did; token-guarded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from replay_client.client import DoodleClient
from server.metrics import message_type
from server.protocol import PenUpMsg, PointsMsg, StrokeMsg
from tests.conftest import http_get
from tests.support import InProcessServer, get, get_json, wait_idle

TOKEN = "m3trics-s3cret"


def scrape(
    srv: InProcessServer, headers: dict[str, str] | None = None
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    status, head, body = get(srv.port, "/metrics", headers)
    assert status == 200 and head["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


@pytest.fixture(scope="module")
def srv() -> Iterator[InProcessServer]:
    s = InProcessServer()
    yield s
    s.stop()


def test_message_type_names_are_the_wire_names() -> None:
    """Message classes are labelled by their wire type: PenUpMsg -> pen_up."""
    assert [message_type(c) for c in (PointsMsg, PenUpMsg, StrokeMsg)] == ["points", "pen_up", "stroke"]


async def test_metrics_count_messages_errors_guesses_latency_batches_and_storage(srv: InProcessServer) -> None:
    """After 3 strokes, a bad message and a submit: messages by type, errors by code, latency histogram
    counts, sessions, batch sizes, model time, the model queue (/healthz too) and the storage queue all show it."""
    before = scrape(srv)
    async with DoodleClient(srv.url) as c:
        for i in range(3):
            await c.call({"type": "stroke", "x": [0, 50 + i, 100], "y": [0, 80, 0]})
        assert (await c.call({"type": "hello", "top_k": 999}))["code"] == "invalid_field"
        during = scrape(srv)
        assert during[("doodlestream_sessions", ())] >= 1
        assert (await c.call({"type": "submit"}))["type"] == "saved"
    await wait_idle(srv.http)
    after = scrape(srv)

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert grew("doodlestream_messages_total", (("type", "stroke"),)) == 3
    assert grew("doodlestream_messages_total", (("type", "submit"),)) == 1
    assert grew("doodlestream_errors_total", (("code", "invalid_field"),)) == 1
    assert grew("doodlestream_guess_latency_seconds_count", (("live", "false"),)) == 3
    assert grew("doodlestream_guess_latency_seconds_bucket", (("le", "+Inf"), ("live", "false"))) == 3
    assert 0 < grew("doodlestream_guess_latency_seconds_sum", (("live", "false"),)) < 30
    assert grew("doodlestream_classifications_total") >= 3 and grew("doodlestream_model_seconds_total") > 0
    assert grew("doodlestream_batch_size_count") >= 1 and grew("doodlestream_batch_size_sum") >= 3
    assert after[("doodlestream_model_queue_depth", ())] == 0  # the fair model queue (server/infer.py)
    assert after[("doodlestream_model_queue_oldest_wait_seconds", ())] == 0
    assert ("doodlestream_model_queue_wait_seconds_total", ()) in after
    queue = get_json(srv.http + "/healthz")["model_queue"]
    assert queue["depth"] == 0 and queue["owners"] == 0 and set(queue) >= {"oldest_wait_ms", "wait_s", "max_wait_ms"}
    assert after[("doodlestream_storage_queue", ())] == 0 and after[("doodlestream_storage_ok", ())] == 1
    assert grew("doodlestream_history_drawings") == 1
    assert after[("doodlestream_storage_failures_total", (("reason", "failures"),))] == 0
    assert ("process_cpu_seconds_total", ()) in after


@pytest.fixture(scope="module")
def tokened() -> Iterator[InProcessServer]:
    s = InProcessServer(env={"DOODLESTREAM_TOKEN": TOKEN})
    yield s
    s.stop()


def test_metrics_need_the_token_when_one_is_set(tokened: InProcessServer) -> None:
    """With --token, /metrics answers 401 without it or with a wrong one, and the metrics with it."""
    assert get(tokened.port, "/metrics")[0] == 401
    assert get(tokened.port, "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    assert ("doodlestream_sessions", ()) in scrape(tokened, {"Authorization": f"Bearer {TOKEN}"})


def test_metrics_are_open_without_a_token(srv: InProcessServer) -> None:
    """Without a token anyone may scrape /metrics (as any route)."""
    status, body, ctype = http_get(srv.http + "/metrics")
    assert status == 200 and ctype.startswith("text/plain") and b"doodlestream_sessions" in body
