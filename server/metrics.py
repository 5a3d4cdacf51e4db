"""``GET /metrics``: the server's counters in Prometheus' text format (:mod:`prometheus_client`).

:class:`Metrics` is a feature (:mod:`server.plugin`).  It counts what the core tells its
:class:`server.plugin.Observer` (messages by type, errors by code, guesses and their
latency), and at each scrape reads the core's figures from the server's health report
(sessions, batches, model time, drawings ended) and every collector a feature
registered (:meth:`server.plugin.Registry.collector`: the history's queue and failures,
resume's syncs), so nothing on a message's path waits for it and this module knows no
feature.  Every error code the installed features declared is counted from 0.  Every metric is named ``doodlestream_*``
and listed in docs/OPERATIONS.md with the alerts to set.

The route is :attr:`server.plugin.Access.PRIVATE`: with ``--token`` set, a scrape must
carry it (``Authorization: Bearer`` or ``?token=``); without one, anyone may read it.
Each server keeps its own :class:`prometheus_client.CollectorRegistry` (no global state);
the process's CPU, memory and open files come with it (``process_*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

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


def _batch_histogram(sizes: Mapping[int, int]) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = []
    for bound in BATCH_BUCKETS:
        buckets.append((str(float(bound)), sum(n for size, n in sizes.items() if int(size) <= bound)))
    buckets.append(("+Inf", sum(sizes.values())))
    total = sum(int(size) * n for size, n in sizes.items())
    return HistogramMetricFamily(
        "doodlestream_batch_size", "Images per model call (micro-batches).", buckets=buckets, sum_value=total
    )


class _Features(Collector):
    """What the installed features' collectors report at each scrape."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for collector in self.registry.collectors:
            yield from collector.collect()


class _Counts(Collector):
    """Messages by type and errors by code: plain integers on the event loop (a ``prometheus_client.Counter``
    takes a lock per increment, which the profile showed on every ``points`` message), read at scrape time."""

    def __init__(self) -> None:
        self.messages: dict[type, int] = {}
        self.errors: dict[str, int] = {}
        #: Every code the server may answer, each shown from 0 (set at the server's start).
        self.codes: list[str] = []

    def collect(self) -> Iterator[Metric]:
        messages = CounterMetricFamily("doodlestream_messages", "Client messages decoded, by type.", labels=["type"])
        for cls, n in sorted(self.messages.items(), key=lambda kv: message_type(kv[0])):
            messages.add_metric([message_type(cls)], n)
        yield messages
        errors = CounterMetricFamily("doodlestream_errors", "Errors answered, by code.", labels=["code"])
        for code in sorted({*self.codes, *self.errors}):
            errors.add_metric([code], self.errors.get(code, 0))
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
        self.registry.register(_Features(registry))

        async def codes() -> None:  # once every feature is installed
            self.counts.codes = registry.error_codes

        registry.on_start(codes)
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
