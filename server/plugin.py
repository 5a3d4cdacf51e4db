"""How a feature plugs into the server: HTTP routes, message handlers, drawing hooks, start/stop.

A feature is any object with ``install(registry)`` (:class:`Feature`).  The server hands
each feature a :class:`Registry` once, before it starts, in one place
(:func:`server.assembly.create_server`).  The registry is the only way in: a feature
never touches the server's own state; the server reads what was registered.

* :meth:`Registry.route` adds a GET (and HEAD) route, a werkzeug rule such as
  ``/doodles/<int:doodle_id>.png``; the endpoint gets an :class:`HttpRequest` and returns
  a response or raises a :class:`server.errors.Fault` (answered with its HTTP status).
  Each route declares who may read it (:class:`Access`; private unless it says
  otherwise); the server enforces it before the endpoint runs, in one place.
* :meth:`Registry.handle` adds one client message type: ``registry.handle("submit",
  parse, handler)``.  ``parse(map, seq, limits, text)`` turns the frame's map into the
  feature's own frozen message class or raises a :class:`server.errors.ClientFault`
  (:class:`server.protocol.Parser`; build it from :mod:`server.protocol`'s field checks,
  and fuzz it as tests/test_protocol.py does); ``handler(conversation, message,
  received)`` returns the reply (``None``: none) or raises a :class:`server.errors.Fault`.
  The type joins ``welcome.features`` under its own name, or ``feature=`` (``forget``
  is offered as ``teach``).  A type no installed
  feature handles is answered ``unknown_type``, exactly as a type nobody knows.  The
  core's types (``hello``, ``points``...) cannot be taken.
* :meth:`Registry.errors` declares the feature's own error codes, a ``StrEnum`` whose
  values are new codes (its faults carry them: ``code = MyCode.X``); a code already
  taken by the core or another feature is refused.  Codes shared by several features
  (``forbidden``, ``store_failed``, ``not_found``) are the core's
  (:class:`server.errors.ErrorCode`).
* :meth:`Registry.collector` adds a Prometheus collector (``collect()`` yielding metric
  families) that ``/metrics`` reads at each scrape: a feature reports its own metrics
  from its own state; the metrics feature knows none of them.
* :meth:`Registry.drawing_hook` is called with every drawing that ends (clear,
  disconnect, shutdown) and the reason.
  A hook that could not do its part for the drawing raises a
  :class:`server.errors.Fault`; ``clear`` reports the first one to its client.
* :meth:`Registry.on_start` / :meth:`Registry.on_close` run when the server starts
  (before it accepts connections) and after it has closed every connection.
* :meth:`Registry.health` adds a named part to ``/healthz`` (a function returning a JSON
  map; it runs on the event loop and must be quick).
* ``welcome.features`` (protocol v1.1) is what is installed: the message types handled
  (above) and what :meth:`Registry.offer` names (a capability without a message type of
  its own, as ``resume``, a ``hello`` field), so clients never probe with messages that fail.
* :meth:`Registry.hello_hook` sees every ``hello`` after the core applied it; the map it
  returns joins the ``hello`` reply (a :class:`server.errors.Fault` it raises answers the
  ``hello`` instead).
* :meth:`Registry.drawing_message_hook` is called after the core answered one of its
  drawing messages (``points``, ``stroke``, ``pen_up``, ``undo``, ``clear``) with the
  conversation, the message and the reply (``None`` for ``points``; ``guesses`` after a
  pen-up): the rooms relay a drawer's strokes and the AI's guesses from it.
* :meth:`Registry.session_end_hook` is called once for every connection that ends (the
  client left, dropped or idled out, or the server stops), before its drawing is handed to
  the drawing hooks.
* :meth:`Registry.observe` adds an :class:`Observer` the core tells of every decoded
  message, every ``error`` it answers and every ``guesses`` it sends (synchronously, on
  the event loop: an observer only counts, quickly, and never raises).

:attr:`Registry.services` is what a feature may use of the running server: the model,
the micro-batched classifier (top guesses, or every score with the embedding), the
game ranker (:class:`server.ranking.Ranker`: custom words), a session's model input
rendered off the event loop, the render pool for other work in a session's lane, and the
server's health report (what an authorized ``/healthz`` shows).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from websockets.datastructures import Headers
from websockets.http11 import Response
from werkzeug.routing import Map, Rule

from server.errors import ErrorCode
from server.infer import Model, Prediction, Priority
from server.protocol import CORE_PARSERS, HelloMsg, Message, Parser, Payload
from server.ranking import Ranker
from server.render import Image
from server.session import Session

M = TypeVar("M", bound=Message)

__all__ = [
    "Access",
    "Collector",
    "Conversation",
    "DrawingHook",
    "Endpoint",
    "Feature",
    "HelloHook",
    "HttpRequest",
    "MessageHandler",
    "Observer",
    "Registry",
    "Services",
]


class Access(Enum):
    """Who may read a route when the server has a token (``--token``); without one, everyone may."""

    #: Anyone: the sketchpad's files, the model's words, that the server is up.
    PUBLIC = "public"
    #: The players' drawings (gallery, API, pictures): the token, unless ``--public-gallery``.
    GALLERY = "gallery"
    #: The token, always.
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request routed to an endpoint."""

    method: str
    path: str
    #: Query parameters, each with every value it was given.
    args: Mapping[str, list[str]]
    #: Values taken from the URL by the route's rule (e.g. ``doodle_id``).
    params: Mapping[str, Any]
    headers: Headers
    #: Whether the request carries the server's token (always true when the server has none).
    authorized: bool = True


Endpoint = Callable[[HttpRequest], Awaitable[Response]]
DrawingHook = Callable[[Session, str], Awaitable[None]]
LifecycleHook = Callable[[], Awaitable[None]]
HealthReport = Callable[[], Mapping[str, Any]]


class Conversation(Protocol):
    """What a message handler may use of the connection whose message it answers."""

    @property
    def session(self) -> Session: ...

    def cancel_live(self) -> None:
        """Drop a pending live guess (before the drawing changes)."""
        ...

    def end(self, code: int, reason: str) -> None:
        """Read no further message and close with ``code``; the drawing ends as at a disconnect."""
        ...

    @property
    def address(self) -> str:
        """What the per-address limits count this client under (:func:`server.addresses.address_key`)."""
        ...

    @property
    def text(self) -> bool:
        """Whether the client speaks JSON (text frames), else msgpack."""
        ...

    def push(self, frame: bytes | str) -> None:
        """Send an encoded message now, without waiting (fan-out from another session's message).

        A client whose unread messages already fill ``max_send_buffer_bytes`` is dropped instead
        (as a reply that waits ``send_timeout_s`` drops it): pushing never waits on a slow reader."""
        ...


MessageHandler = Callable[[Conversation, M, float], Awaitable[Payload | None]]
"""``(conversation, message, received)`` -> the reply (``received``: ``time.perf_counter()``)."""
DrawingMessageHook = Callable[[Conversation, object, Payload | None], Awaitable[None]]
"""``(conversation, message, reply)`` after the core answered a drawing message."""
SessionEndHook = Callable[[Conversation], Awaitable[None]]
HelloHook = Callable[[Conversation, HelloMsg], Awaitable[Payload]]
"""``(conversation, hello)`` -> fields added to the ``hello`` reply."""


class Services(Protocol):
    """What a feature may use of the running server."""

    @property
    def model(self) -> Model: ...

    async def classify(self, image: Image, *, owner: Hashable = None) -> list[tuple[str, float]]:
        """The top guesses for one model input (micro-batched with other sessions'; ``owner``: the session
        whose turn it takes in the fair queue, :class:`server.infer.Batcher`)."""
        ...

    async def model_input(self, session: Session) -> Image:
        """The model input of ``session``'s finished strokes, rendered off the event loop."""
        ...

    async def predict(
        self, image: Image, *, owner: Hashable = None, priority: Priority = Priority.INTERACTIVE
    ) -> Prediction:
        """Every calibrated score and the embedding of one model input (micro-batched, in ``owner``'s turn
        at ``priority``: :class:`server.infer.Batcher`)."""
        ...

    @property
    def ranker(self) -> Ranker: ...

    def holding(self, drawing_key: str) -> Conversation | None:
        """The open session of this process whose drawing in progress has ``drawing_key``, if any."""
        ...

    def health(self) -> dict[str, Any]:
        """What an authorized ``/healthz`` answers: sessions, batching and model counters, each feature's part."""
        ...

    async def in_lane(self, session: Session, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the render pool, in ``session``'s lane (off the event loop)."""
        ...


class Collector(Protocol):
    """A Prometheus collector (as :class:`prometheus_client.registry.Collector`): metric families at each scrape."""

    def collect(self) -> Iterable[Any]: ...


class Observer(Protocol):
    """Told of what the core does (see module docstring); each method is quick and never raises."""

    def on_message(self, msg: object) -> None:
        """A client message was decoded (a :mod:`server.protocol` message object)."""
        ...

    def on_error(self, code: str) -> None:
        """An ``error`` with ``code`` (an :class:`server.errors.ErrorCode` value) is being answered."""
        ...

    def on_guesses(self, seconds: float, *, live: bool) -> None:
        """A ``guesses`` is ready, ``seconds`` after its message (the pen-up, or the points of a live one) arrived."""
        ...


class Feature(Protocol):
    """Something that adds routes, message handlers or hooks to the server."""

    def install(self, registry: Registry) -> None: ...


class Registry:
    """What features added (see module docstring); read by the server, written through methods only."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._rules: list[Rule] = []
        self._access: dict[str, Access] = {}
        self._parsers: dict[str, Parser[Message]] = dict(CORE_PARSERS)
        self._parsers_view = MappingProxyType(self._parsers)
        self._handlers: dict[str, MessageHandler[Any]] = {}
        self._codes: dict[str, StrEnum] = {code.value: code for code in ErrorCode}
        self._collectors: list[Collector] = []
        self._hooks: list[DrawingHook] = []
        self._on_start: list[LifecycleHook] = []
        self._on_close: list[LifecycleHook] = []
        self._health: dict[str, HealthReport] = {}
        self._features: list[str] = []
        self._hello: list[HelloHook] = []
        self._observers: list[Observer] = []
        self._drawing_messages: list[DrawingMessageHook] = []
        self._session_ends: list[SessionEndHook] = []

    # ------------------------------------------------------------ for features

    def route(self, rule: str, endpoint: Endpoint, *, access: Access = Access.PRIVATE) -> None:
        """Answer ``GET`` (and ``HEAD``) requests whose path matches the werkzeug ``rule``, for ``access``."""
        if rule in self._access:
            raise ValueError(f"route {rule} is already registered")
        self._rules.append(Rule(rule, endpoint=(endpoint, access), methods=["GET"]))
        self._access[rule] = access

    def handle(
        self, msg_type: str, parse: Parser[M], handler: MessageHandler[M], *, feature: str | None = None
    ) -> None:
        """Decode client messages of type ``msg_type`` with ``parse`` and answer them with ``handler``;
        offer ``feature`` (by default ``msg_type``) in ``welcome.features``."""
        if msg_type in self._parsers:
            raise ValueError(f"message type {msg_type!r} is already handled")
        self._parsers[msg_type] = parse
        self._handlers[msg_type] = handler
        self.offer(feature or msg_type)

    def errors(self, codes: type[StrEnum]) -> None:
        """Declare a feature's own ``error`` codes (each value new to the server)."""
        for code in codes:
            if code.value in self._codes:
                raise ValueError(f"error code {code.value!r} is already declared")
            self._codes[code.value] = code

    def collector(self, collector: Collector) -> None:
        """Have ``/metrics`` read ``collector.collect()`` at each scrape."""
        self._collectors.append(collector)

    def drawing_hook(self, hook: DrawingHook) -> None:
        """Call ``hook(session, reason)`` for every drawing that ends with strokes."""
        self._hooks.append(hook)

    def on_start(self, hook: LifecycleHook) -> None:
        self._on_start.append(hook)

    def on_close(self, hook: LifecycleHook) -> None:
        self._on_close.append(hook)

    def health(self, name: str, report: HealthReport) -> None:
        """Show ``report()`` as ``/healthz``'s ``name`` field (one report per name)."""
        if name in self._health:
            raise ValueError(f"/healthz already has a {name!r} report")
        self._health[name] = report

    def offer(self, name: str) -> None:
        """Name a capability in ``welcome.features`` (once)."""
        if name not in self._features:
            self._features.append(name)

    def hello_hook(self, hook: HelloHook) -> None:
        """Call ``hook(conversation, hello)`` for every ``hello``; its map joins the reply."""
        self._hello.append(hook)

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` of every message, error and guesses (see :class:`Observer`)."""
        self._observers.append(observer)

    def drawing_message_hook(self, hook: DrawingMessageHook) -> None:
        """Call ``hook(conversation, message, reply)`` after the core answered a drawing message."""
        self._drawing_messages.append(hook)

    def session_end_hook(self, hook: SessionEndHook) -> None:
        """Call ``hook(conversation)`` once when a connection ends, before its drawing hooks."""
        self._session_ends.append(hook)

    # ------------------------------------------------------------ for the server

    @property
    def observers(self) -> tuple[Observer, ...]:
        return tuple(self._observers)

    @property
    def drawing_message_hooks(self) -> tuple[DrawingMessageHook, ...]:
        return tuple(self._drawing_messages)

    @property
    def session_end_hooks(self) -> tuple[SessionEndHook, ...]:
        return tuple(self._session_ends)

    @property
    def features(self) -> list[str]:
        return sorted(self._features)

    @property
    def hello_hooks(self) -> tuple[HelloHook, ...]:
        return tuple(self._hello)

    def url_map(self) -> Map:
        """Every route, as one werkzeug map whose endpoints are ``(endpoint, access)`` (no redirects)."""
        return Map(
            [rule.empty() for rule in self._rules],
            strict_slashes=True,
            merge_slashes=False,
            redirect_defaults=False,
        )

    def access(self) -> dict[str, Access]:
        """Each rule with who may read it."""
        return dict(self._access)

    @property
    def parsers(self) -> Mapping[str, Parser[Message]]:
        """Every client message type the server decodes: the core's and the installed features' (a live view)."""
        return self._parsers_view

    def handler(self, msg_type: str) -> MessageHandler[Any] | None:
        """The handler of feature message type ``msg_type`` (``None`` for the core's types)."""
        return self._handlers.get(msg_type)

    @property
    def error_codes(self) -> list[str]:
        """Every ``error`` code the server may answer: the core's and the installed features'."""
        return sorted(self._codes)

    @property
    def collectors(self) -> tuple[Collector, ...]:
        return tuple(self._collectors)

    @property
    def drawing_hooks(self) -> tuple[DrawingHook, ...]:
        return tuple(self._hooks)

    @property
    def start_hooks(self) -> tuple[LifecycleHook, ...]:
        return tuple(self._on_start)

    @property
    def close_hooks(self) -> tuple[LifecycleHook, ...]:
        return tuple(self._on_close)

    @property
    def health_reports(self) -> Mapping[str, HealthReport]:
        return dict(self._health)
