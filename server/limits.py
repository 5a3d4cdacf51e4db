"""Every limit the server enforces, in one place, each with its unit.

These are the defaults; :class:`Limits` carries them per server so tests and operators
can tune them (``python -m server --help`` lists the flags).  The ``welcome`` message
tells each client the limits in force.  Exceeding a limit is answered with an ``error``
whose code is the ``code`` given beside it here; a client that keeps exceeding them is
closed with WebSocket code 1008.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Largest WebSocket frame (message) accepted, in bytes.  A bigger frame is never read
#: into memory: the websockets library closes the connection with code 1009 ("message
#: too big") while the frame header arrives, so no ``error`` can be sent; the server goes
#: on.  (:func:`server.protocol.load` also refuses one with code ``frame_too_large``.)
MAX_FRAME_BYTES = 1_048_576
#: Points in one ``points``/``stroke`` message, in points. Code: ``too_many_points``.
MAX_POINTS_PER_MESSAGE = 2_048
#: Points in one stroke (all its ``points`` messages together), in points.
#: Code: ``stroke_too_long``.
MAX_POINTS_PER_STROKE = 8_192
#: Largest coordinate magnitude a client may send, in client pixels. Code: ``invalid_field``.
MAX_COORDINATE = 1e9
#: Largest point time a client may send, in milliseconds since the drawing began. Code: ``invalid_field``.
MAX_TIME_MS = 2**40
#: Strokes in one drawing, in strokes. Code: ``too_many_strokes``.
MAX_STROKES = 256
#: Messages one session may send per second (token bucket rate), in messages/s.
#: Code: ``rate_limited``.
MAX_MESSAGES_PER_SECOND = 1_000
#: Burst allowance of the message rate limit, in messages.
MESSAGE_BURST = 2_000
#: Errors a session may provoke in a row before it is closed with 1008, in errors.
MAX_ERRORS_IN_A_ROW = 64
#: Open sessions per client IP address, in sessions (beyond it the handshake is refused
#: with HTTP 429).
MAX_SESSIONS_PER_ADDRESS = 256
#: Encoded bytes of one ``image`` message's picture, in bytes. Code: ``image_too_large``.
MAX_IMAGE_BYTES = 786_432
#: Decoded pixels of one ``image`` picture (width x height), in pixels.
#: Code: ``image_too_many_pixels``.
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
#: Query parameters one HTTP request may carry, in fields (more: 400).
MAX_QUERY_FIELDS = 16
#: Classifications run in one model call, in requests (micro-batch size cap).
MAX_BATCH = 32
#: Longest a request waits for its batch to fill, in milliseconds (micro-batch deadline).
BATCH_WAIT_MS = 0.0
#: Outgoing bytes buffered for a slow client (websockets' ``write_limit`` high-water
#: mark), in bytes.  Past it a send waits for the client to read, at most
#: ``SEND_TIMEOUT_S``; then the client is dropped (TCP reset, logged).
MAX_SEND_BUFFER_BYTES = 262_144
#: Longest one reply may wait for a client that does not read, in seconds.
SEND_TIMEOUT_S = 10.0
#: Incoming frames buffered per connection while its previous message is handled, in
#: frames (websockets' ``max_queue``); past it the server stops reading that socket.
RECV_QUEUE_FRAMES = 4
#: Longest a shutdown (SIGTERM) waits for in-flight replies and drawing hooks before it
#: drops the connections left, in seconds.
SHUTDOWN_GRACE_S = 10.0
#: Largest ``limit`` of the gallery's JSON listing, in drawings.
MAX_PAGE = 200
#: Custom words one vocabulary holds (a session's, or the server's), in words
#: (:class:`server.custom_words.CustomVocabulary`; the ``teach`` message is refused past it).
MAX_CUSTOM_WORDS = 32
#: Example drawings one custom word holds, all ``teach`` messages together, in drawings.
MAX_CUSTOM_EXAMPLES_PER_WORD = 20


#: Fields of :class:`Limits` that only tune the server and are not sent in ``welcome``.
SERVER_SIDE = frozenset({"max_send_buffer_bytes", "recv_queue_frames", "shutdown_grace_s"})


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
    max_send_buffer_bytes: int = MAX_SEND_BUFFER_BYTES
    send_timeout_s: float = SEND_TIMEOUT_S
    recv_queue_frames: int = RECV_QUEUE_FRAMES
    shutdown_grace_s: float = SHUTDOWN_GRACE_S

    def public(self) -> dict[str, float | int]:
        """The limits as sent to clients in ``welcome`` (those that concern a client)."""
        out: dict[str, float | int] = {k: v for k, v in asdict(self).items() if k not in SERVER_SIDE}
        out["min_live_ms"] = MIN_LIVE_MS
        out["max_live_ms"] = MAX_LIVE_MS
        out["max_sprite_px"] = MAX_SPRITE_PX
        out["min_sprite_px"] = MIN_SPRITE_PX
        out["max_sprite_width_px"] = MAX_SPRITE_WIDTH_PX
        out["max_word_chars"] = MAX_WORD_CHARS
        return out
