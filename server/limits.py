"""Every limit the server enforces, in one place, each with its unit.

These are the defaults; :class:`Limits` carries them per server so tests and operators
can tune them (``python -m server --help`` lists the flags).  The ``welcome`` message
tells each client the limits in force.  Exceeding a limit is answered with an ``error``
whose code is the ``code`` given beside it here; a client that keeps exceeding them is
closed with WebSocket code 1008.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Largest WebSocket frame (message) accepted, in bytes. Code: ``frame_too_large``
#: (the connection is closed with 1009 by the websockets library).
MAX_FRAME_BYTES = 1_048_576
#: Points in one ``points``/``stroke`` message, in points. Code: ``too_many_points``.
MAX_POINTS_PER_MESSAGE = 2_048
#: Points in one stroke (all its ``points`` messages together), in points.
#: Code: ``stroke_too_long``.
MAX_POINTS_PER_STROKE = 8_192
#: Strokes in one drawing, in strokes. Code: ``too_many_strokes``.
MAX_STROKES = 256
#: Messages one session may send per second (token bucket rate), in messages/s.
#: Code: ``rate_limited``.
MAX_MESSAGES_PER_SECOND = 1_000
#: Burst allowance of the message rate limit, in messages.
MESSAGE_BURST = 2_000
#: Errors a session may provoke in a row before it is closed with 1008, in errors.
MAX_ERRORS_IN_A_ROW = 64
#: Open sessions per client IP address, in sessions. Code: ``too_many_sessions``
#: (the handshake is refused with HTTP 429).
MAX_SESSIONS_PER_ADDRESS = 256
#: Encoded bytes of one ``image`` message's picture, in bytes. Code: ``image_too_large``.
MAX_IMAGE_BYTES = 786_432
#: Decoded pixels of one ``image`` picture (width x height), in pixels.
MAX_IMAGE_PIXELS = 4_194_304
#: Side of a sprite PNG, in pixels (smallest and largest). Code: ``bad_sprite``.
MIN_SPRITE_PX = 16
MAX_SPRITE_PX = 1_024
#: Stroke width of a sprite, in sprite pixels (largest).
MAX_SPRITE_WIDTH_PX = 64
#: A session that sends nothing for this long is closed (1001), in seconds.
IDLE_TIMEOUT_S = 300.0
#: Largest ``live_ms`` interval a client may ask for, and the smallest, in milliseconds.
MIN_LIVE_MS = 50
MAX_LIVE_MS = 5_000
#: Characters in a ``word`` a client submits, in characters.
MAX_WORD_CHARS = 64
#: Classifications run in one model call, in requests (micro-batch size cap).
MAX_BATCH = 32
#: Longest a request waits for its batch to fill, in milliseconds (micro-batch deadline).
BATCH_WAIT_MS = 0.0
#: Outgoing bytes buffered for a slow client before it is dropped, in bytes.
MAX_SEND_BUFFER_BYTES = 262_144
#: Largest ``limit`` of the gallery's JSON listing, in drawings.
MAX_PAGE = 200


@dataclass(frozen=True)
class Limits:
    """The limits one server enforces; defaults are the constants above."""

    max_frame_bytes: int = MAX_FRAME_BYTES
    max_points_per_message: int = MAX_POINTS_PER_MESSAGE
    max_points_per_stroke: int = MAX_POINTS_PER_STROKE
    max_strokes: int = MAX_STROKES
    max_messages_per_second: float = MAX_MESSAGES_PER_SECOND
    message_burst: int = MESSAGE_BURST
    max_errors_in_a_row: int = MAX_ERRORS_IN_A_ROW
    max_sessions_per_address: int = MAX_SESSIONS_PER_ADDRESS
    max_image_bytes: int = MAX_IMAGE_BYTES
    max_image_pixels: int = MAX_IMAGE_PIXELS
    idle_timeout_s: float = IDLE_TIMEOUT_S

    def public(self) -> dict[str, float | int]:
        """The limits as sent to clients in ``welcome``."""
        out: dict[str, float | int] = asdict(self)
        out["min_live_ms"] = MIN_LIVE_MS
        out["max_live_ms"] = MAX_LIVE_MS
        out["max_sprite_px"] = MAX_SPRITE_PX
        out["min_sprite_px"] = MIN_SPRITE_PX
        out["max_sprite_width_px"] = MAX_SPRITE_WIDTH_PX
        out["max_word_chars"] = MAX_WORD_CHARS
        return out
