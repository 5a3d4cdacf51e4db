"""The history's metrics, read from its service at each scrape (a collector registered with the server).

Every metric is listed in docs/OPERATIONS.md; :mod:`server.metrics` serves them beside the
core's without knowing them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from server.history.service import HistoryService

__all__ = ["HistoryMetrics"]


class HistoryMetrics:
    """``doodlestream_storage_*`` and ``doodlestream_history_*`` of one :class:`HistoryService`."""

    def __init__(self, service: HistoryService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        s = self.service
        yield GaugeMetricFamily(
            "doodlestream_storage_queue",
            "Drawings accepted and not yet committed to the database.",
            s.store.writes_pending,
        )
        yield GaugeMetricFamily(
            "doodlestream_storage_queue_max", "Most drawings the storage queue holds.", s.limits.store_queue_drawings
        )
        lost = CounterMetricFamily("doodlestream_storage_failures", "Drawings not stored, by why.", labels=["reason"])
        lost.add_metric(["failures"], s.failures)
        lost.add_metric(["timeouts"], s.timeouts)
        lost.add_metric(["dropped"], sum(s.dropped.values()))
        lost.add_metric(["too_large"], s.too_large)
        yield lost
        yield GaugeMetricFamily(
            "doodlestream_storage_ok",
            "1 while the database answers in time and the last write succeeded, else 0.",
            1 if s.state() == "ok" else 0,
        )
        if s.usage is not None:
            yield GaugeMetricFamily("doodlestream_history_drawings", "Drawings stored.", s.usage.drawings)
            yield GaugeMetricFamily("doodlestream_history_bytes", "Bytes the stored drawings take.", s.usage.bytes)
