"""``GET /metrics``: the server's counters in Prometheus' text format (:mod:`prometheus_client`).

:class:`Metrics` is a feature (:mod:`server.plugin`).  It counts what the core tells its
:class:`server.plugin.Observer` (messages by type, errors by code, guesses and their
latency) and, at each scrape, reads the rest from the server's health report (sessions,
batches, model time, the history's queue and failures, resume and custom-word syncs),
so nothing on a message's path waits for it.  Every metric is named ``doodlestream_*``
and listed in docs/OPERATIONS.md with the alerts to set.

The route is :attr:`server.plugin.Access.PRIVATE`: with ``--token`` set, a scrape must
carry it (``Authorization: Bearer`` or ``?token=``); without one, anyone may read it.
Each server keeps its own :class:`prometheus_client.CollectorRegistry` (no global state);
the process's CPU, memory and open files come with it (``process_*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from websockets.http11 import Response

from server.http import respond
from server.plugin import Access, HttpRequest, Registry, Services

#: The text format's content type.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Buckets of the pen-up-to-guesses latency histogram, in seconds (the target is p99 <= 50 ms).
LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5)
#: Buckets of the batch-size histogram, in images per model call.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def message_type(cls: type) -> str:
    """The wire name of a decoded message class: ``PenUpMsg`` -> ``pen_up``."""
    name = cls.__name__.removesuffix("Msg")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _FromHealth(Collector):
    """The metrics read from the server's health report at each scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        h = self.services.health()
        yield GaugeMetricFamily("doodlestream_sessions", "Open WebSocket sessions.", value=h["sessions"])
        yield GaugeMetricFamily(
            "doodlestream_pending_drawings", "Drawings handed to the drawing hooks not yet done.", h["pending_drawings"]
        )
        yield CounterMetricFamily(
            "doodlestream_classifications", "Images classified by the model.", value=h["classifications"]
        )
        yield CounterMetricFamily("doodlestream_model_seconds", "Time spent in the model.", value=h["model_s"])
        yield CounterMetricFamily(
            "doodlestream_model_failures", "Images the model failed on.", value=h["model_failures"]
        )
        yield _batch_histogram(h["batch_sizes"])
        queue = h.get("model_queue")
        if isinstance(queue, Mapping):
            yield GaugeMetricFamily(
                "doodlestream_model_queue_depth", "Images waiting for a model call.", value=queue["depth"]
            )
            yield GaugeMetricFamily(
                "doodlestream_model_queue_oldest_wait_seconds",
                "How long the oldest image waiting for a model call has waited.",
                value=queue["oldest_wait_ms"] / 1000,
            )
            yield CounterMetricFamily(
                "doodlestream_model_queue_wait_seconds",
                "Time images waited for their model call, all together (rate / classifications rate = mean wait).",
                value=queue["wait_s"],
            )
        ended = CounterMetricFamily("doodlestream_drawings_ended", "Drawings that ended, by reason.", labels=["reason"])
        for reason, n in sorted(h.get("drawings_ended", {}).items()):
            ended.add_metric([reason], n)
        yield ended
        history = h.get("history")
        if isinstance(history, Mapping):
            yield from _history(history)
        resume = h.get("resume")
        if isinstance(resume, Mapping) and "sync_failures" in resume:
            yield CounterMetricFamily(
                "doodlestream_resume_sync_failures",
                "Resume keys not written to the shared database.",
                value=resume["sync_failures"],
            )


def _batch_histogram(sizes: Mapping[int, int]) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = []
    for bound in BATCH_BUCKETS:
        buckets.append((str(float(bound)), sum(n for size, n in sizes.items() if int(size) <= bound)))
    buckets.append(("+Inf", sum(sizes.values())))
    total = sum(int(size) * n for size, n in sizes.items())
    return HistogramMetricFamily(
        "doodlestream_batch_size", "Images per model call (micro-batches).", buckets=buckets, sum_value=total
    )


def _history(history: Mapping[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "doodlestream_storage_queue", "Drawings accepted and not yet committed to the database.", history["queue"]
    )
    yield GaugeMetricFamily(
        "doodlestream_storage_queue_max", "Most drawings the storage queue holds.", history["queue_max"]
    )
    lost = CounterMetricFamily("doodlestream_storage_failures", "Drawings not stored, by why.", labels=["reason"])
    for reason in ("failures", "timeouts", "dropped", "too_large"):
        lost.add_metric([reason], history.get(reason, 0))
    yield lost
    yield GaugeMetricFamily(
        "doodlestream_storage_ok",
        "1 while the database answers in time and the last write succeeded, else 0.",
        1 if history.get("state") == "ok" else 0,
    )
    if "drawings" in history:
        yield GaugeMetricFamily("doodlestream_history_drawings", "Drawings stored.", history["drawings"])
        yield GaugeMetricFamily("doodlestream_history_bytes", "Bytes the stored drawings take.", history["bytes"])


class _Counts(Collector):
    """Messages by type and errors by code: plain integers on the event loop (a ``prometheus_client.Counter``
    takes a lock per increment, which the profile showed on every ``points`` message), read at scrape time."""

    def __init__(self) -> None:
        self.messages: dict[type, int] = {}
        self.errors: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        messages = CounterMetricFamily("doodlestream_messages", "Client messages decoded, by type.", labels=["type"])
        for cls, n in sorted(self.messages.items(), key=lambda kv: message_type(kv[0])):
            messages.add_metric([message_type(cls)], n)
        yield messages
        errors = CounterMetricFamily("doodlestream_errors", "Errors answered, by code.", labels=["code"])
        for code, n in sorted(self.errors.items()):
            errors.add_metric([code], n)
        yield errors


class Metrics:
    """The ``/metrics`` feature (see module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.counts = _Counts()
        self.registry.register(self.counts)
        self.guesses = Histogram(
            "doodlestream_guess_latency_seconds",
            "From a pen-up (or live points) arriving to its guesses being ready.",
            ["live"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._latency = {True: self.guesses.labels("true"), False: self.guesses.labels("false")}

    def install(self, registry: Registry) -> None:
        self.registry.register(_FromHealth(registry.services))
        registry.route("/metrics", self.endpoint, access=Access.PRIVATE)
        registry.observe(self)

    # ------------------------------------------------------------ Observer

    def on_message(self, msg: object) -> None:
        messages = self.counts.messages
        messages[type(msg)] = messages.get(type(msg), 0) + 1

    def on_error(self, code: str) -> None:
        self.counts.errors[code] = self.counts.errors.get(code, 0) + 1

    def on_guesses(self, seconds: float, *, live: bool) -> None:
        self._latency[live].observe(seconds)

    # ------------------------------------------------------------ HTTP

    async def endpoint(self, request: HttpRequest) -> Response:
        return respond(200, generate_latest(self.registry), CONTENT_TYPE)
