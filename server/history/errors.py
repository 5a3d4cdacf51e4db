"""The history feature's error codes and faults (registered by :class:`server.history.feature.DoodleHistory`).

Shared ones stay the core's (:mod:`server.errors`): ``not_found`` (the gallery's HTTP
routes answer it too), ``store_failed`` and ``forbidden``.
"""

from __future__ import annotations

from enum import StrEnum

from server.errors import ClientFault

__all__ = ["BadSprite", "HistoryCode", "NothingToSave"]


class HistoryCode(StrEnum):
    """The ``error`` codes only the history answers."""

    #: ``submit`` or ``sprite`` on an empty canvas.
    NOTHING_TO_SAVE = "nothing_to_save"
    #: A sprite's ``size``, ``color`` or ``width`` out of its limits.
    BAD_SPRITE = "bad_sprite"
    #: A drawing whose stored record would pass ``max_record_bytes``.
    RECORD_TOO_LARGE = "record_too_large"


class BadSprite(ClientFault):
    """A sprite's ``size``, ``color`` or ``width`` is out of its limits."""

    code = HistoryCode.BAD_SPRITE


class NothingToSave(ClientFault):
    """``submit`` (or a sprite of the current drawing) on an empty canvas."""

    code = HistoryCode.NOTHING_TO_SAVE
