"""One WebSocket session's loop: rate limit, decode, dispatch, reply.

A :class:`Connection` wraps one ``websockets`` connection and its
:class:`server.session.Session`.  Promises:

* Every client message gets its reply in order; a message that cannot be accepted gets
  an ``error`` (code + message) and the session goes on.  A client that provokes
  ``max_errors_in_a_row`` errors in a row (a rate-limited flood included) is closed with
  1008 and the reason.  A session that sends nothing for ``idle_timeout_s`` is closed
  with 1001 (:meth:`Connection.run`).
* A reply that waits more than ``send_timeout_s`` for a client that does not read drops
  that client (:class:`server.errors.ClientTooSlow`).
* Rendering and classification never block the event loop: strokes are rendered and
  pictures decoded on the :class:`server.render_pool.RenderPool`, in the session's own
  lane (one job at a time per session), and classified by the batcher's worker thread;
  only a render of at most ``INLINE_RENDER_POINTS`` points runs on the loop (it costs
  less than the hand-off).  At most ``IMAGE_DECODES`` pictures are decoded at once,
  server-wide (memory), in the order they came.
  What is left on the loop (decoding, validating, bookkeeping) is bounded by the message
  size, whatever the geometry.
* Live guesses (``hello`` with ``live_ms``) are sent at most every ``live_ms`` while a
  stroke is in progress and new points arrived, with at most one pending live
  classification per session (a new one starts only once the session's lane is idle);
  pen-up, undo and clear cancel a pending one.
* Frames are decoded for the core's message types and those the installed features
  registered (:class:`server.plugin.Registry`), so a type no installed feature handles
  is ``unknown_type``; a feature's type is answered by its handler.  A ``hello`` is
  also handed to every feature's hello hook (``resume``), whose fields join the reply.
* v1.1 (:mod:`server.ranking`): guesses are ranked by the server's :class:`server.ranking.Ranker`
  for the session's ``hello`` settings; every ``guesses`` and ``cleared`` carries the
  drawing's key, ``guesses`` the target's score, rank and ``almost`` when there is a
  target.  Once per drawing, the first time the session's rule (``hello.recognize``,
  :func:`server.ranking.recognizes`: ``"top1"`` at pen-ups, ``"score"`` at live guesses too)
  recognizes the target, a ``recognized`` message naming the rule follows the ``guesses``
  that showed it.  A v1 client
  (no v1.1 field in its ``hello``) gets the same messages as from a v1 server, with the
  ``drawing`` field added to ``guesses`` and ``cleared``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from server import protocol
from server.errors import ClientTooSlow, ErrorCode, Fault, InvalidField, LimitExceeded
from server.infer import TOP_K
from server.limits import INLINE_RENDER_POINTS, Limits
from server.plugin import Registry, Services
from server.ranking import almost, recognizes
from server.ratelimit import TokenBucket
from server.render import Image, render_image
from server.session import Session

log = logging.getLogger("doodlestream.connection")

#: The core's drawing messages, shown to :meth:`server.plugin.Registry.drawing_message_hook` once answered.
DRAWING_MESSAGES = (protocol.PointsMsg, protocol.StrokeMsg, protocol.PenUpMsg, protocol.UndoMsg, protocol.ClearMsg)
#: Errors after which the frame's ``seq`` is not looked for (the frame is unreadable or was not read).
NO_SEQ_CODES = frozenset({ErrorCode.MALFORMED, ErrorCode.RATE_LIMITED})


class Host(Services, Protocol):
    """What a :class:`Connection` uses of its server: the services features use, and a little more."""

    @property
    def limits(self) -> Limits: ...

    @property
    def registry(self) -> Registry:
        """The installed features: message types, observers, hello hooks."""
        ...

    @property
    def image_slots(self) -> asyncio.Semaphore:
        """Pictures decoded at once, server-wide (``IMAGE_DECODES``)."""
        ...

    async def drawing_ended(self, session: Session, reason: str) -> Fault | None:
        """Hand a finished drawing to every drawing hook; the first fault one raised."""
        ...


class Connection:
    """One session's loop and state around its :class:`Session` (see module docstring)."""

    def __init__(self, ws: ServerConnection, session: Session, *, text: bool, host: Host, address: str = "?") -> None:
        self.ws = ws
        self._address = address
        self._session = session
        self.text = text
        self.host = host
        self.limits = limits = host.limits
        self.registry = host.registry
        self.observers = host.registry.observers
        self.drawing_message_hooks = host.registry.drawing_message_hooks
        self.ranker = host.ranker
        #: Messages to send after the reply being prepared (``recognized``).
        self.followups: list[protocol.Payload] = []
        self.live_task: asyncio.Task[None] | None = None
        #: When the loop began waiting in ``recv`` (``loop.time()``), or ``None`` while it handles a frame.
        self._reading_since: float | None = None
        #: Set by the idle watchdog (or :meth:`stop_reading`) just before it cancels the reading task.
        self._interrupted = False
        self._task: asyncio.Task[Any] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.last_live = 0.0
        self.errors_in_a_row = 0
        self.stopping = False
        #: The close :meth:`end` asked for: ``(code, reason)``.
        self._ending: tuple[int, str] | None = None
        self.bucket = TokenBucket(limits.max_messages_per_second, limits.message_burst)

    @property
    def session(self) -> Session:
        return self._session

    @property
    def address(self) -> str:
        return self._address

    def push(self, frame: bytes | str) -> None:
        """Send ``frame`` now, never waiting (:class:`server.plugin.Conversation`); drop a client that does not read."""
        transport = self.ws.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > self.limits.max_send_buffer_bytes:
            log.warning(
                "session %s: dropped, %d bytes it did not read", self.session.id, transport.get_write_buffer_size()
            )
            transport.abort()
            return
        broadcast((self.ws,), frame)

    async def run(self) -> None:
        """Read and answer messages until the client leaves, idles out, or :meth:`stop_reading`.

        The idle timeout is one watchdog timer per session, moved on lazily (:meth:`_watch`), not
        an ``asyncio.timeout`` per message: a timer made and cancelled for every ``points``
        message was a tenth of the event loop's time at human pace."""
        idle = self.limits.idle_timeout_s
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._watchdog = loop.call_at(loop.time() + idle, self._watch)
        try:
            while not self.stopping:
                debt = self.session.decoding.debt_s() if self.session.decoding is not None else 0.0
                if debt > 0:  # its address's share of decoding is spent: read on once it is back in credit
                    await asyncio.sleep(debt)
                    continue
                self._reading_since = loop.time()
                try:
                    frame = await self.ws.recv()
                except asyncio.CancelledError:
                    if not self._interrupted or self._task is None or self._task.uncancel() > 0:
                        raise  # not (only) ours: the server is cancelling this task
                    if self._ending is not None:
                        await self.close(*self._ending)
                    elif not self.stopping:
                        await self.close(CloseCode.GOING_AWAY, f"idle for {idle:g} s")
                    return
                finally:
                    self._reading_since = None
                await self.handle_frame(frame)
            if self._ending is not None:  # end() came while a message was being handled
                await self.close(*self._ending)
        finally:
            self._watchdog.cancel()

    def _watch(self) -> None:
        """The idle watchdog: interrupt a ``recv`` that has waited ``idle_timeout_s``, else look again then."""
        loop = asyncio.get_running_loop()
        idle = self.limits.idle_timeout_s
        since = self._reading_since
        due = (loop.time() if since is None else since) + idle  # handling a frame: not idle
        if since is None or loop.time() < due:
            self._watchdog = loop.call_at(due, self._watch)
            return
        self._interrupt()

    def _interrupt(self) -> None:
        """Cancel the ``recv`` the loop waits in (once)."""
        if self._reading_since is not None and not self._interrupted and self._task is not None:
            self._interrupted = True
            self._task.cancel()

    async def send(self, msg: protocol.Payload, *, text: bool | None = None) -> None:
        """Send one message; drop the client (:class:`ClientTooSlow`) if it does not read."""
        frame = protocol.encode(msg, text=self.text if text is None else text)
        timeout = self.limits.send_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self.ws.send(frame)
        except TimeoutError:
            log.warning("session %s: dropped, a reply waited %g s for it to read", self.session.id, timeout)
            self.ws.transport.abort()
            raise ClientTooSlow(f"the client did not read for {timeout:g} s") from None

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``, discarding what the client sent before it saw our close frame.

        (Waiting for the client's close frame without reading would stall once
        ``recv_queue_frames`` unread messages fill the queue, until websockets' close timeout.)
        """
        closing = asyncio.create_task(self.ws.close(code, reason))
        try:
            while True:
                await self.ws.recv()
        except ConnectionClosed:
            pass
        await closing

    def stop_reading(self) -> None:
        """Shutdown: read no further message (the one being handled still gets its reply)."""
        self.stopping = True
        self._interrupt()

    def end(self, code: int, reason: str) -> None:
        """Read no further message, then close with ``code`` (the one being handled still gets its reply)."""
        if self._ending is None and not self.stopping:
            self._ending = (code, reason)
            self.stopping = True
            self._interrupt()

    # ------------------------------------------------------------ live guesses

    def cancel_live(self) -> None:
        if self.live_task is not None and not self.live_task.done():
            self.live_task.cancel()
        self.live_task = None

    def maybe_live(self) -> None:
        s = self.session
        if not s.live_ms or (self.live_task is not None and not self.live_task.done()) or s.lane.pending:
            return
        self.live_task = asyncio.create_task(self._live(s.live_ms / 1000.0))

    async def _live(self, interval_s: float) -> None:
        try:
            await self._live_guess(interval_s)
        except (ConnectionClosed, ClientTooSlow):
            pass
        except Fault as e:  # a failed model call: no live guess this time
            log.warning("session %s: live guess failed: %s", self.session.id, e.message)

    async def _live_guess(self, interval_s: float) -> None:
        wait = self.last_live + interval_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        s = self.session
        if not s.drawing_in_progress or not s.points_since_live:
            return
        start = time.perf_counter()
        s.points_since_live = 0
        image = await self.model_input(pending=True)
        followups: list[protocol.Payload] = []
        reply, _ = await self.guesses(image, start, drawing=True, live=True, followups=followups)
        self.last_live = time.monotonic()
        await self.send(reply)
        for extra in followups:
            await self.send(extra)

    # ------------------------------------------------------------ messages

    async def in_lane(self, fn: Any, *args: Any) -> Image:
        """``fn(*args)`` on the render pool, in this session's lane."""
        image: Image = await self.host.in_lane(self.session, fn, *args)
        return image

    async def model_input(self, *, pending: bool = False) -> Image:
        """The session's model input: rendered here when it is small (at most
        ``INLINE_RENDER_POINTS`` points to draw and no render job outstanding), else off the loop."""
        s = self.session
        snapshot = s.snapshot(pending=pending)
        if not s.lane.pending and s.render_work(snapshot) <= INLINE_RENDER_POINTS:
            return s.render_snapshot(snapshot)
        return await self.in_lane(s.render_snapshot, snapshot)

    async def guesses(
        self,
        image: Image | None,
        received: float,
        *,
        drawing: bool,
        live: bool = False,
        followups: list[protocol.Payload],
    ) -> tuple[protocol.Payload, list[tuple[str, float]]]:
        """The ``guesses`` for ``image`` (``None``: an empty canvas) ranked for the session, and
        its top; a ``recognized`` due for the drawing goes to ``followups``."""
        s = self.session
        g = s.game
        top: list[tuple[str, float]] = []
        target: tuple[str, float, int, bool] | None = None
        if image is not None:
            ranking = self.ranker.rank(await self.host.predict(image, owner=s.id), g)
            top = ranking.top(g.top_k)
            found = ranking.target(g.target) if g.target is not None else None
            if g.target is not None and found is not None:
                rule = g.rule_in_force
                threshold = g.threshold if g.threshold is not None else self.ranker.threshold
                if drawing and not g.recognized and recognizes(rule, ranking, g.target, threshold, live=live):
                    g.recognized = True
                    followups.append(
                        protocol.recognized(
                            word=g.target, score_=found[0], strokes=s.strokes, ms=s.drawing_ms(), rule=rule
                        )
                    )
                target = (g.target, *found, almost(found[1], g.recognized))
        elapsed = time.perf_counter() - received
        for observer in self.observers:
            observer.on_guesses(elapsed, live=live)
        ms = elapsed * 1000
        reply = protocol.guesses(
            strokes=s.strokes if drawing else 0, top=top, ms=ms, live=live, drawing=s.drawing_key, target=target
        )
        return reply, top

    async def classify_drawing(self, seq: int | None, received: float) -> protocol.Payload:
        s = self.session
        image = await self.model_input() if s.strokes else None
        reply, top = await self.guesses(image, received, drawing=True, followups=self.followups)
        if s.strokes:
            s.record_guesses(top)
        return protocol.with_seq(reply, seq)

    async def hello(self, msg: protocol.HelloMsg) -> protocol.Payload:
        """Apply a ``hello`` (v1.1 fields checked first: a refused one changes nothing of the game)."""
        s, g = self.session, self.session.game
        given = msg.given
        words = msg.words if "words" in given else g.words
        target = msg.target if "target" in given else g.target
        if words is not None and "words" in given:
            self.ranker.check_words(words, g)
        if target is not None and "target" in given:
            self.ranker.check_words([target], g)
        if target is not None and words is not None and target not in words:
            raise InvalidField(f"'target' {target!r} is not one of 'words'")
        s.live_ms = msg.live_ms
        s.client = msg.client or s.client
        if target != g.target:
            g.recognized = False
        g.words, g.target = words, target
        if "top_k" in given:
            g.top_k = msg.top_k or TOP_K
        if "target_threshold" in given:
            g.threshold = msg.target_threshold
        if "recognize" in given:
            g.rule = msg.recognize
        reply: protocol.Payload = {"type": "hello", "protocol": protocol.PROTOCOL_VERSION, "live_ms": s.live_ms or 0}
        if given:
            reply.update(
                protocol_minor=protocol.PROTOCOL_MINOR,
                words=None if g.words is None else list(g.words),
                top_k=g.top_k,
                target=g.target,
                target_threshold=g.threshold if g.threshold is not None else self.ranker.threshold,
                recognize=g.rule_in_force,
            )
        for hook in self.registry.hello_hooks:
            reply.update(await hook(self, msg))
        return reply

    async def dispatch(self, kind: str, msg: protocol.Message, received: float) -> protocol.Payload | None:
        handler = self.registry.handler(kind)
        if handler is not None:  # a feature's own message type
            return await handler(self, msg, received)
        if not self.drawing_message_hooks or not isinstance(msg, DRAWING_MESSAGES):
            return await self.dispatch_core(kind, msg, received)
        reply = await self.dispatch_core(kind, msg, received)
        for hook in self.drawing_message_hooks:
            await hook(self, msg, reply)
        return reply

    async def dispatch_core(self, kind: str, msg: protocol.Message, received: float) -> protocol.Payload | None:
        """Answer one of the core's own messages."""
        s = self.session
        if isinstance(msg, protocol.PointsMsg):
            s.add_points(msg.x, msg.y, msg.t)
            self.maybe_live()
            return None
        if isinstance(msg, protocol.PenUpMsg):
            self.cancel_live()
            s.pen_up()
            return await self.classify_drawing(msg.seq, received)
        if isinstance(msg, protocol.StrokeMsg):
            self.cancel_live()
            if s.drawing_in_progress:
                s.pen_up()
            s.add_points(msg.x, msg.y, msg.t)
            s.pen_up()
            return await self.classify_drawing(msg.seq, received)
        if isinstance(msg, protocol.UndoMsg):
            self.cancel_live()
            s.undo()
            return await self.classify_drawing(msg.seq, received)
        if isinstance(msg, protocol.ClearMsg):
            self.cancel_live()
            failure = None
            if s.pen_up() or s.strokes:
                failure = await self.host.drawing_ended(s, "clear")
            s.clear()
            await self.model_input()  # the canvas lets go of the old strokes now, not at the next render
            reply = protocol.cleared(drawing=s.drawing_key)
            if failure is not None:  # the drawing was to be kept but could not be (README: clear)
                reply.update(stored=False, error={"code": failure.code.value, "message": failure.message})
            return protocol.with_seq(reply, msg.seq)
        if isinstance(msg, protocol.ImageMsg):
            async with self.host.image_slots:  # a picture's decoding peaks at tens of MiB: IMAGE_DECODES at once
                image = await self.in_lane(
                    partial(
                        render_image, msg.data, self.session.canvas.encoding, max_pixels=self.limits.max_image_pixels
                    )
                )
            reply, _ = await self.guesses(image, received, drawing=False, followups=self.followups)
            return protocol.with_seq(reply, msg.seq)
        assert isinstance(msg, protocol.HelloMsg), f"core message {kind!r} has no dispatch"
        return protocol.with_seq(await self.hello(msg), msg.seq)

    async def handle_frame(self, frame: bytes | str) -> None:
        received = time.perf_counter()
        limits = self.limits
        is_text = isinstance(frame, str)
        seq: int | None = None
        try:
            if not self.bucket.take():
                raise LimitExceeded(
                    f"more than {limits.max_messages_per_second:g} messages per second", code=ErrorCode.RATE_LIMITED
                )
            started = time.perf_counter()
            try:
                kind, msg = protocol.decode_typed(frame, limits=limits, parsers=self.registry.parsers)
            finally:
                if self.session.decoding is not None:
                    self.session.decoding.charge(time.perf_counter() - started)
            seq = msg.seq
            for observer in self.observers:
                observer.on_message(msg)
            self.followups = []
            reply = await self.dispatch(kind, msg, received)
            self.errors_in_a_row = 0
            if reply is not None:
                await self.send(reply, text=is_text)
            for extra in self.followups:
                await self.send(extra, text=is_text)
        except (ConnectionClosed, ClientTooSlow):
            raise
        except Fault as e:
            await self.reject(frame, e.code, e.message, seq)
        except Exception:
            log.exception("session %s: unexpected error", self.session.id)
            await self.reject(frame, ErrorCode.INTERNAL, "the server failed on this message; it was logged", seq)

    async def reject(self, frame: bytes | str, code: StrEnum, message: str, seq: int | None) -> None:
        self.errors_in_a_row += 1
        for observer in self.observers:
            observer.on_error(code.value)
        limits = self.limits
        if seq is None and code not in NO_SEQ_CODES:
            seq = protocol.seq_of(frame, limits=limits)
        reply = protocol.with_seq(protocol.error(code=code, message=message), seq)
        await self.send(reply, text=isinstance(frame, str))
        if self.errors_in_a_row >= limits.max_errors_in_a_row:
            reason = f"too many bad messages in a row ({self.errors_in_a_row}; last: {code.value})"
            await self.close(CloseCode.POLICY_VIOLATION, reason[:120])
