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
#: Points in one drawing (every stroke, the one in progress included), in points.
#: Code: ``drawing_too_large`` (undo or clear to go on).  With 24 bytes a point stored
#: (see :mod:`server.session`), a full drawing holds 768 KiB of points.
MAX_POINTS_PER_DRAWING = 32_768
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
#: Share of the event loop's time that decoding the messages of one client address's sessions
#: may take, as a fraction (long-run; with ``DECODE_BURST_S`` of allowance): past it, those
#: sessions' next messages are read only once the share is back in credit, so no address can
#: buy the loop with costly legal messages (a 20-example ``teach`` decodes in about 20 ms).
LOOP_SHARE_PER_ADDRESS = 0.25
#: Allowance of ``LOOP_SHARE_PER_ADDRESS``, in seconds of decoding.
DECODE_BURST_S = 0.25
#: Errors a session may provoke in a row before it is closed with 1008, in errors.
MAX_ERRORS_IN_A_ROW = 64
#: Open sessions per client IP address, in sessions (beyond it the handshake is refused
#: with HTTP 429).  With the other defaults one session holds at most about 10.8 MiB (its
#: custom words and a ``teach`` in flight included), so one address at most about 680 MiB
#: with the one frame and the one picture being decoded server-wide (the arithmetic
#: is in docs/OPERATIONS.md).
MAX_SESSIONS_PER_ADDRESS = 48
#: Connections per client address between the TCP accept and a complete HTTP request, in
#: connections (beyond it the connection is answered HTTP 429 at once and closed).
MAX_HANDSHAKES_PER_ADDRESS = 64
#: IPv6 addresses count per network of this prefix for the per-address limits, in bits
#: (a /64: one host can use any address of its LAN).  IPv4 addresses count alone.
IPV6_PREFIX_BITS = 64
#: File descriptors kept free beyond those open at start (database, logs, model threads),
#: in descriptors: once ``RLIMIT_NOFILE - open at start - FD_MARGIN - LISTEN_BACKLOG``
#: connections are open, new ones are answered HTTP 503 at once and closed.
FD_MARGIN = 64
#: Connections the kernel queues for ``accept``, in connections; asyncio accepts up to this
#: many in one go before the server sees any of them, so that many descriptors are kept free too.
LISTEN_BACKLOG = 100
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
#: HTTP requests (pages, files, the JSON API, pictures; not ``/ws`` handshakes nor ``/healthz``)
#: one client address may make per second, in requests (a token bucket): past it, HTTP 429
#: with ``Retry-After``.
MAX_HTTP_REQUESTS_PER_SECOND = 10
#: Burst allowance of the HTTP request rate, in requests (a gallery page and its files are about 5).
HTTP_REQUEST_BURST = 40
#: Query parameters one HTTP request may carry, in fields (more: 400).
MAX_QUERY_FIELDS = 16
#: Classifications run in one model call, in requests (micro-batch size cap).
MAX_BATCH = 32
#: Longest a request waits for its batch to fill, in milliseconds (micro-batch deadline).
BATCH_WAIT_MS = 0.0
#: Threads that render strokes and decode pictures off the event loop, in threads (one
#: session uses at most one at a time: :mod:`server.render_pool`).
RENDER_THREADS = 4
#: Share of one render thread's CPU one session may use, as a fraction: after a render of
#: ``c`` CPU seconds its next one waits ``c * (1 / share - 1)`` (ordinary renders take well
#: under a millisecond; only a client sending the costliest messages is slowed, to itself).
RENDER_SHARE = 0.5
#: Render jobs of the sessions of one client address run at once, in jobs: however many
#: sessions an address opens, its renders (strokes, pictures, ``teach`` examples) use at
#: most this many render threads and ``RENDER_SHARE`` of each (:mod:`server.render_pool`).
RENDER_JOBS_PER_ADDRESS = 1
#: ``image`` pictures decoded at once, server-wide, in pictures (decoding one of
#: ``MAX_IMAGE_PIXELS`` pixels peaks near 90 MiB); the others wait their turn in order.
IMAGE_DECODES = 1
#: How much nicer (lower CPU priority) the render threads run than the event loop, in
#: nice levels: under CPU contention the loop, which answers every session, goes first.
RENDER_NICE = 5
#: Points a render may normalize and draw on the event loop itself, in points (when the
#: session has no render job outstanding; at most about 2 ms, the costliest geometry).  Bigger
#: renders go to the render threads.  Most real drawings re-render under it: handing them to
#: a thread (256 points) cost a full-speed lobby a fifth of its throughput in hand-offs.
INLINE_RENDER_POINTS = 1_024
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
#: Time a stop (SIGTERM) may take beyond ``SHUTDOWN_GRACE_S`` and the history's last wait
#: (``STORE_TIMEOUT_S``) before the process leaves at once, in seconds (``python -m server``).
SHUTDOWN_MARGIN_S = 2.0
#: Identical log lines (same logger, level and text) let through per window, in lines;
#: the rest of the window's repeats are counted and reported with the next one let through
#: (:mod:`server.logfilter`).
LOG_REPEAT_BURST = 3
#: The window of ``LOG_REPEAT_BURST``, in seconds.
LOG_REPEAT_WINDOW_S = 10.0
#: Distinct log lines the repeat filter remembers, in lines (past it, it forgets the oldest).
LOG_REPEAT_KEYS = 1_024
#: Largest ``limit`` of the gallery's JSON listing, in drawings.
MAX_PAGE = 200
#: Custom words one vocabulary holds (a session's, or the server's), in words
#: (:class:`server.custom_words.CustomVocabulary`; the ``teach`` message is refused past it).
MAX_CUSTOM_WORDS = 32
#: Example drawings one custom word holds, all ``teach`` messages together, in drawings.
#: Code: ``too_many_examples``.
MAX_CUSTOM_EXAMPLES_PER_WORD = 20
#: Custom words the server scope holds (``teach`` with ``"scope": "server"``), in words.
#: Code: ``too_many_words`` (a session's own words, ``MAX_CUSTOM_WORDS``, answer the same code).
MAX_SERVER_CUSTOM_WORDS = 256
#: Example drawings in one ``teach`` message, in drawings (each within the drawing limits:
#: strokes, points per stroke, points per drawing). Code: ``invalid_field``.
MAX_TEACH_DRAWINGS = 20
#: Points in one example drawing of a ``teach`` message (every stroke), in points: an example
#: is rendered five times (itself and its augmented copies), and real drawings need far
#: fewer than a live canvas (the largest of the 9,118 raw Quick, Draw! drawings has 1,174).
#: Code: ``drawing_too_large``.
MAX_TEACH_POINTS_PER_DRAWING = 2_048
#: Example drawings the sessions of one client address may teach per minute, all ``teach``
#: messages together, in drawings (a token bucket holding a minute's worth; each costs five
#: model calls' worth of images, queued behind every pen-up). Code: ``rate_limited``.
MAX_TEACH_EXAMPLES_PER_MINUTE = 60
#: Words in ``hello.words``, in words. Code: ``invalid_field``.
MAX_WORD_LIST = 345
#: Largest ``hello.top_k``, in guesses (the smallest is 1; the default ``server.infer.TOP_K``).
#: Code: ``invalid_field``.
MAX_TOP_K = 20
#: How long the key of a drawing stays resumable (``hello.resume``) after its session ended,
#: in seconds. Code: ``unknown_drawing`` past it.
RESUME_TTL_S = 600.0
#: Ended drawings' keys remembered for resuming, in keys (past it the oldest is forgotten:
#: its ``hello.resume`` answers ``unknown_drawing``).
MAX_RESUME_KEYS = 10_000
#: Drawing keys one v1.1 ``mine`` message may ask about ("my drawings": which of a browser's
#: drawings are kept), in keys. Code: ``invalid_field``.
MAX_MINE_KEYS = 200
#: How long a ``hello.resume`` waits for the session that still holds its drawing (a connection the
#: server has not yet seen drop, as after a Wi-Fi handover) to be closed and its drawing ended, in
#: seconds. Code: ``unknown_drawing`` past it.
RESUME_TAKEOVER_S = 5.0
#: Wrong ``admin_token`` values one client address may send per minute, in tokens (a token bucket
#: holding a minute's worth); past it its admin requests answer ``rate_limited`` unchecked.
#: Code: ``rate_limited``.
MAX_ADMIN_FAILURES_PER_MINUTE = 10

# ---------------------------------------------------------------- rooms (server/rooms/, protocol v1.2)

#: Human players in one room (the AI is one more), in players. Code: ``room_full``.
MAX_ROOM_PLAYERS = 8
#: Rooms open at once whose creator came from one address, in rooms. Code: ``too_many_rooms``.
MAX_ROOMS_PER_ADDRESS = 3
#: Rooms open at once on one server, in rooms. Code: ``too_many_rooms``.
MAX_ROOMS = 5_000
#: ``room_create`` and ``room_join`` messages from one address in any 60 seconds, in messages
#: (room codes cannot be found by trying them). Code: ``rate_limited``.
MAX_ROOM_JOINS_PER_MINUTE = 20
#: Characters in a player's name, in characters (after NFC; no control or bidi characters).
#: Code: ``invalid_field``.
MAX_NAME_CHARS = 24
#: Characters in a guess, in characters (after NFC; no control or bidi characters). Code: ``invalid_field``.
MAX_GUESS_CHARS = 48
#: Guesses one player may type per second (token bucket rate), in guesses/s. Code: ``rate_limited``.
MAX_GUESSES_PER_SECOND = 2.0
#: Burst allowance of the guess rate limit, in guesses.
GUESS_BURST = 5
#: How long a dropped player's seat is kept for a rejoin (``room_join`` with its ``key``), in
#: seconds. Code: ``unknown_seat`` past it.
ROOM_REJOIN_S = 60.0
#: Shortest and longest turn a room may ask for (``room_create.seconds``), in seconds. Code: ``invalid_field``.
MIN_TURN_S = 15
MAX_TURN_S = 240
#: Most rounds a room may ask for (``room_create.rounds``), in rounds. Code: ``invalid_field``.
MAX_ROUNDS = 10

# ---------------------------------------------------------------- instances sharing PostgreSQL (--db postgresql://)

#: How often an instance writes the keys of its sessions' drawings to the shared database, so that
#: another instance can resume them if this one dies, in seconds (a drawing begun less than this
#: before a crash may not be resumable elsewhere).
RESUME_SYNC_S = 0.5
#: How often an instance looks for server-scope custom words taught or forgotten on another one, in
#: seconds: a word taught on one instance is used by every other within this (plus a database read).
CUSTOM_WORDS_SYNC_S = 1.0

# ---------------------------------------------------------------- --workers N (the supervisor)

#: How often each worker tells the supervisor its event loop runs, in seconds.
WORKER_HEARTBEAT_S = 0.5
#: A worker silent for this long (hung, stopped, its loop blocked) is killed and replaced, in seconds.
WORKER_HUNG_S = 5.0
#: First wait before replacing a worker that died or hung, in seconds; doubles for each
#: failure in a row, up to ``WORKER_RESTART_MAX_S``.
WORKER_RESTART_MIN_S = 0.5
WORKER_RESTART_MAX_S = 30.0
#: A worker that has served this long counts as healthy: its next failure waits
#: ``WORKER_RESTART_MIN_S`` again, in seconds.
WORKER_STABLE_S = 60.0

# ---- History storage (server/history/); budgets with their arithmetic: docs/OPERATIONS.md.
#: Largest stored record (a drawing's strokes, guess lists and final top-5 as JSON, plus its
#: text fields), in bytes.  ``submit`` of a bigger drawing is answered with
#: ``record_too_large``; a bigger drawing that is cleared or left is not kept (counted).
MAX_RECORD_BYTES = 262_144
#: Drawings the history keeps, in drawings.  Past it the oldest automatically kept drawing
#: (clear, disconnect, shutdown) is deleted first, the oldest submitted one only when no
#: automatically kept one is left.  0: no drawing quota.
HISTORY_MAX_DRAWINGS = 100_000
#: Bytes of records the history keeps (the sum of their ``MAX_RECORD_BYTES`` measure),
#: in bytes; evicts as ``HISTORY_MAX_DRAWINGS`` does.  Must be at least ``MAX_RECORD_BYTES``.
HISTORY_MAX_BYTES = 1_073_741_824
#: Drawings accepted for storing and not yet committed (waiting, encoding or being
#: written), in drawings.  When it is full ``submit`` is answered with ``store_failed``,
#: a cleared or left drawing is dropped (counted in ``/healthz``), and a drawing left at
#: shutdown waits for a place at most ``STORE_TIMEOUT_S``.
STORE_QUEUE_DRAWINGS = 64
#: Longest a drawing may take from being accepted for storing to being committed, and a
#: history read to be answered, in seconds.  Past it: ``store_failed`` (HTTP 500); a
#: database locked by another process is given up on at that moment.
STORE_TIMEOUT_S = 5.0


#: Fields of :class:`Limits` that only tune the server and are not sent in ``welcome``.
SERVER_SIDE = frozenset(
    {
        "max_send_buffer_bytes",
        "recv_queue_frames",
        "shutdown_grace_s",
        "max_handshakes_per_address",
        "ipv6_prefix_bits",
        "fd_margin",
        "history_max_drawings",
        "history_max_bytes",
        "store_queue_drawings",
        "store_timeout_s",
        "max_resume_keys",
        "max_rooms",
        "max_admin_failures_per_minute",
        "max_http_requests_per_second",
        "http_request_burst",
        "loop_share_per_address",
        "decode_burst_s",
    }
)


@dataclass(frozen=True)
class Limits:
    """The limits one server enforces; defaults are the constants above."""

    max_frame_bytes: int = MAX_FRAME_BYTES
    max_points_per_message: int = MAX_POINTS_PER_MESSAGE
    max_points_per_stroke: int = MAX_POINTS_PER_STROKE
    max_points_per_drawing: int = MAX_POINTS_PER_DRAWING
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
    max_handshakes_per_address: int = MAX_HANDSHAKES_PER_ADDRESS
    ipv6_prefix_bits: int = IPV6_PREFIX_BITS
    fd_margin: int = FD_MARGIN
    max_record_bytes: int = MAX_RECORD_BYTES
    history_max_drawings: int = HISTORY_MAX_DRAWINGS
    history_max_bytes: int = HISTORY_MAX_BYTES
    store_queue_drawings: int = STORE_QUEUE_DRAWINGS
    store_timeout_s: float = STORE_TIMEOUT_S
    max_custom_words: int = MAX_CUSTOM_WORDS
    max_custom_examples_per_word: int = MAX_CUSTOM_EXAMPLES_PER_WORD
    max_server_custom_words: int = MAX_SERVER_CUSTOM_WORDS
    max_teach_points_per_drawing: int = MAX_TEACH_POINTS_PER_DRAWING
    max_teach_examples_per_minute: int = MAX_TEACH_EXAMPLES_PER_MINUTE
    resume_ttl_s: float = RESUME_TTL_S
    max_resume_keys: int = MAX_RESUME_KEYS
    max_room_players: int = MAX_ROOM_PLAYERS
    max_rooms_per_address: int = MAX_ROOMS_PER_ADDRESS
    max_rooms: int = MAX_ROOMS
    max_room_joins_per_minute: int = MAX_ROOM_JOINS_PER_MINUTE
    max_guesses_per_second: float = MAX_GUESSES_PER_SECOND
    guess_burst: int = GUESS_BURST
    room_rejoin_s: float = ROOM_REJOIN_S
    max_admin_failures_per_minute: int = MAX_ADMIN_FAILURES_PER_MINUTE
    max_http_requests_per_second: float = MAX_HTTP_REQUESTS_PER_SECOND
    http_request_burst: int = HTTP_REQUEST_BURST
    loop_share_per_address: float = LOOP_SHARE_PER_ADDRESS
    decode_burst_s: float = DECODE_BURST_S

    def public(self) -> dict[str, float | int]:
        """The limits as sent to clients in ``welcome`` (those that concern a client)."""
        out: dict[str, float | int] = {k: v for k, v in asdict(self).items() if k not in SERVER_SIDE}
        out["min_live_ms"] = MIN_LIVE_MS
        out["max_live_ms"] = MAX_LIVE_MS
        out["max_sprite_px"] = MAX_SPRITE_PX
        out["min_sprite_px"] = MIN_SPRITE_PX
        out["max_sprite_width_px"] = MAX_SPRITE_WIDTH_PX
        out["max_word_chars"] = MAX_WORD_CHARS
        out["max_word_list"] = MAX_WORD_LIST
        out["max_top_k"] = MAX_TOP_K
        out["max_teach_drawings"] = MAX_TEACH_DRAWINGS
        out["max_name_chars"] = MAX_NAME_CHARS
        out["max_guess_chars"] = MAX_GUESS_CHARS
        out["min_turn_s"] = MIN_TURN_S
        out["max_turn_s"] = MAX_TURN_S
        out["max_rounds"] = MAX_ROUNDS
        return out
