"""A small asyncio client for protocol v1.1 (msgpack frames, or JSON with ``text=True``).

:class:`DoodleClient` owns one socket.  ``request`` sends a map and returns the next
reply that is not a live guess nor a ``recognized``; live guesses are kept in ``live``
and ``recognized`` messages in ``recognized`` as they arrive.  v1.1 helpers: ``hello``
(word list, ``top_k``, target, resume key), ``teach`` and ``forget``; ``drawing`` is the
key of the drawing in progress (from the latest ``guesses`` or ``cleared``).
``call`` numbers a request with ``seq`` and returns exactly its reply, keeping errors
that answer other (unnumbered) messages, such as a rejected ``points``, in ``errors``.
Used by the replay CLI, the benchmarks and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import msgpack
from websockets.asyncio.client import ClientConnection, connect

Msg = dict[str, Any]


class ClientSocket:
    """Something that ``connect()`` s and ``close()`` s, used as ``async with`` (open on entry, closed on exit)."""

    async def connect(self) -> Msg:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class DoodleClient(ClientSocket):
    """One connection to a doodlestream server."""

    def __init__(self, url: str, *, text: bool = False, open_timeout_s: float = 10.0, **connect_kw: Any) -> None:
        self.url = url
        self.text = text
        self.open_timeout_s = open_timeout_s
        self.connect_kw = connect_kw
        self.ws: ClientConnection | None = None
        self.welcome: Msg = {}
        self.live: list[Msg] = []
        self.errors: list[Msg] = []
        self.recognized: list[Msg] = []
        self.drawing: str | None = None
        self.seq = 0

    async def connect(self) -> Msg:
        """Open the socket and return the server's ``welcome``."""
        self.ws = await connect(
            self.url, open_timeout=self.open_timeout_s, max_size=None, compression=None, **self.connect_kw
        )
        self.welcome = await self.recv()
        return self.welcome

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def encode(self, msg: Msg) -> bytes | str:
        if self.text:
            return json.dumps(msg)
        return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]

    async def send(self, msg: Msg) -> None:
        assert self.ws is not None, "not connected"
        await self.ws.send(self.encode(msg))

    async def send_raw(self, frame: bytes | str) -> None:
        assert self.ws is not None, "not connected"
        await self.ws.send(frame)

    async def recv(self) -> Msg:
        """The next message from the server, decoded."""
        assert self.ws is not None, "not connected"
        frame = await self.ws.recv()
        out = json.loads(frame) if isinstance(frame, str) else msgpack.unpackb(frame, raw=False)
        if not isinstance(out, dict):
            raise ValueError(f"server sent a non-map message: {out!r}")
        return out

    async def reply(self) -> Msg:
        """The next message that is not a live guess nor a ``recognized`` (those go to ``live`` and ``recognized``)."""
        while True:
            msg = await self.recv()
            kind = msg.get("type")
            if kind in ("guesses", "cleared") and isinstance(msg.get("drawing"), str):
                self.drawing = msg["drawing"]
            if kind == "guesses" and msg.get("live"):
                self.live.append(msg)
                continue
            if kind == "recognized":
                self.recognized.append(msg)
                continue
            return msg

    async def request(self, msg: Msg) -> Msg:
        await self.send(msg)
        return await self.reply()

    async def call(self, msg: Msg) -> Msg:
        """Send ``msg`` with a fresh ``seq`` and return the reply carrying that ``seq``.

        Live guesses met on the way go to ``live``; errors with another (or no) ``seq``,
        i.e. answers to messages that have no reply of their own, go to ``errors``.
        """
        self.seq += 1
        seq = self.seq
        await self.send({**msg, "seq": seq})
        while True:
            reply = await self.reply()
            if reply.get("seq") == seq:
                return reply
            if reply.get("type") == "error":
                self.errors.append(reply)

    async def hello(
        self,
        *,
        words: Sequence[str] | None = None,
        top_k: int | None = None,
        target: str | None = None,
        target_threshold: float | None = None,
        resume: str | None = None,
        **fields: Any,
    ) -> Msg:
        """Send a ``hello`` with the v1.1 fields given (``None``: not sent) and return its reply."""
        msg: Msg = {"type": "hello", **fields}
        for key, value in (
            ("words", None if words is None else list(words)),
            ("top_k", top_k),
            ("target", target),
            ("target_threshold", target_threshold),
            ("resume", resume),
        ):
            if value is not None:
                msg[key] = value
        reply = await self.call(msg)
        if reply.get("type") == "hello" and isinstance(reply.get("drawing"), str):
            self.drawing = reply["drawing"]
        return reply

    async def teach(
        self,
        word: str,
        drawings: Sequence[Sequence[tuple[Sequence[float], Sequence[float]]]],
        *,
        scope: str = "session",
        admin_token: str | None = None,
    ) -> Msg:
        """Teach ``word`` from example drawings (lists of ``(x, y)`` strokes); the reply (``taught`` or ``error``)."""
        msg: Msg = {
            "type": "teach",
            "word": word,
            "scope": scope,
            "drawings": [[{"x": list(x), "y": list(y)} for x, y in d] for d in drawings],
        }
        if admin_token is not None:
            msg["admin_token"] = admin_token
        return await self.call(msg)

    async def forget(self, word: str, *, scope: str = "session", admin_token: str | None = None) -> Msg:
        msg: Msg = {"type": "forget", "word": word, "scope": scope}
        if admin_token is not None:
            msg["admin_token"] = admin_token
        return await self.call(msg)

    async def points(self, x: Sequence[float], y: Sequence[float], t: Sequence[int] | None = None) -> None:
        msg: Msg = {"type": "points", "x": list(x), "y": list(y)}
        if t is not None:
            msg["t"] = list(t)
        await self.send(msg)

    async def pen_up(self, seq: int | None = None) -> Msg:
        msg: Msg = {"type": "pen_up"}
        if seq is not None:
            msg["seq"] = seq
        return await self.request(msg)
