"""How a feature plugs into the server: HTTP routes, message handlers, drawing hooks, start/stop.

A feature is any object with ``install(registry)`` (:class:`Feature`).  The server hands
each feature a :class:`Registry` once, before it starts, in one place
(:func:`server.assembly.create_server`).  The registry is the only way in: a feature
never touches the server's own state; the server reads what was registered.

* :meth:`Registry.route` adds a GET (and HEAD) route, a werkzeug rule such as
  ``/doodles/<int:doodle_id>.png``; the endpoint gets an :class:`HttpRequest` and returns
  a response or raises a :class:`server.errors.Fault` (answered with its HTTP status).
* :meth:`Registry.handle` answers one decoded message type (:mod:`server.protocol`).
* :meth:`Registry.drawing_hook` is called with every drawing that ends (clear,
  disconnect, shutdown) and the reason.
* :meth:`Registry.on_start` / :meth:`Registry.on_close` run when the server starts
  (before it accepts connections) and after it has closed every connection.

:attr:`Registry.services` is what a feature may use of the running server: the model,
the micro-batched classifier, and a session's model input rendered off the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from websockets.datastructures import Headers
from websockets.http11 import Response
from werkzeug.routing import Map, Rule

from server.infer import Model
from server.protocol import Payload
from server.render import Image
from server.session import Session

M = TypeVar("M")


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


Endpoint = Callable[[HttpRequest], Awaitable[Response]]
DrawingHook = Callable[[Session, str], Awaitable[None]]
LifecycleHook = Callable[[], Awaitable[None]]


class Conversation(Protocol):
    """What a message handler may use of the connection whose message it answers."""

    @property
    def session(self) -> Session: ...

    def cancel_live(self) -> None:
        """Drop a pending live guess (before the drawing changes)."""
        ...


MessageHandler = Callable[[Conversation, M, float], Awaitable[Payload | None]]
"""``(conversation, message, received)`` -> the reply (``received``: ``time.perf_counter()``)."""


class Services(Protocol):
    """What a feature may use of the running server."""

    @property
    def model(self) -> Model: ...

    async def classify(self, image: Image) -> list[tuple[str, float]]:
        """The top guesses for one model input (micro-batched with other sessions')."""
        ...

    async def model_input(self, session: Session) -> Image:
        """The model input of ``session``'s finished strokes, rendered off the event loop."""
        ...


class Feature(Protocol):
    """Something that adds routes, message handlers or hooks to the server."""

    def install(self, registry: Registry) -> None: ...


class Registry:
    """What features added (see module docstring); read by the server, written through methods only."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._rules: list[Rule] = []
        self._handlers: dict[type, MessageHandler[Any]] = {}
        self._hooks: list[DrawingHook] = []
        self._on_start: list[LifecycleHook] = []
        self._on_close: list[LifecycleHook] = []

    # ------------------------------------------------------------ for features

    def route(self, rule: str, endpoint: Endpoint) -> None:
        """Answer ``GET`` (and ``HEAD``) requests whose path matches the werkzeug ``rule``."""
        self._rules.append(Rule(rule, endpoint=endpoint, methods=["GET"]))

    def handle(self, msg_type: type[M], handler: MessageHandler[M]) -> None:
        """Answer decoded messages of ``msg_type`` with ``handler`` (one handler per type)."""
        if msg_type in self._handlers:
            raise ValueError(f"{msg_type.__name__} already has a handler")
        self._handlers[msg_type] = handler

    def drawing_hook(self, hook: DrawingHook) -> None:
        """Call ``hook(session, reason)`` for every drawing that ends with strokes."""
        self._hooks.append(hook)

    def on_start(self, hook: LifecycleHook) -> None:
        self._on_start.append(hook)

    def on_close(self, hook: LifecycleHook) -> None:
        self._on_close.append(hook)

    # ------------------------------------------------------------ for the server

    def url_map(self) -> Map:
        """Every route, as one werkzeug map (no redirects: a path matches or it does not)."""
        return Map(
            [rule.empty() for rule in self._rules],
            strict_slashes=True,
            merge_slashes=False,
            redirect_defaults=False,
        )

    def handler(self, msg_type: type) -> MessageHandler[Any] | None:
        return self._handlers.get(msg_type)

    @property
    def drawing_hooks(self) -> tuple[DrawingHook, ...]:
        return tuple(self._hooks)

    @property
    def start_hooks(self) -> tuple[LifecycleHook, ...]:
        return tuple(self._on_start)

    @property
    def close_hooks(self) -> tuple[LifecycleHook, ...]:
        return tuple(self._on_close)
