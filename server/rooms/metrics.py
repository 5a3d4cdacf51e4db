"""The rooms' metrics, read from the feature at each scrape (a collector registered with the server).

Every metric is listed in docs/OPERATIONS.md; :mod:`server.metrics` serves them beside the
core's without knowing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["RoomMetrics"]


class RoomMetrics:
    """``doodlestream_rooms_*`` from ``report()``: :meth:`server.rooms.feature.Rooms.health`."""

    def __init__(self, report: Callable[[], Mapping[str, Any]]) -> None:
        self.report = report

    def collect(self) -> Iterator[Metric]:
        health = self.report()
        yield GaugeMetricFamily("doodlestream_rooms_open", "Rooms open (in the lobby or playing).", health["rooms"])
        yield GaugeMetricFamily("doodlestream_rooms_playing", "Rooms playing a game.", health["playing"])
        yield GaugeMetricFamily("doodlestream_rooms_members", "Connections seated in a room.", health["members"])
        yield CounterMetricFamily("doodlestream_rooms_games", "Games started.", health["games_started"])
        yield CounterMetricFamily("doodlestream_rooms_guesses", "Guesses typed.", health["guesses"])
        yield CounterMetricFamily(
            "doodlestream_rooms_pushed", "Room messages pushed to members (one per member's copy).", health["pushed"]
        )
