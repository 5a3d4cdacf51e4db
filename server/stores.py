"""What instances share, by role: one typed interface per store a feature uses (mypy checks each).

Each role is a :class:`typing.Protocol` of ``async`` methods; a feature asks for the role
it needs, never for a backend, and :func:`server.assembly.create_server` hands it the
store that plays it (:class:`server.history.store.AsyncStore` over SQLite or PostgreSQL,
:class:`server.history.store.SharedAsyncStore` for what only a shared database does).

* :class:`CustomWordStore`: server-scope custom words (:mod:`server.teach`), on any database.
* :class:`SharedCustomWordStore`: the same, shared by several instances: what changed since.
* :class:`ResumeKeyStore`: drawing keys any instance may resume (:mod:`server.resume`);
  only a shared database (PostgreSQL) plays it.
* the kept drawings: the history's own role, :class:`server.history.store.DrawingStore`.

Every method raises :class:`server.errors.StoreError` when the database fails, whatever
the engine (:class:`server.errors.StoreTimeout` when it did not answer in time), and
nothing else for a database fault; callers catch that one type.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CustomWordStore", "CustomWords", "ResumeKeyStore", "SharedCustomWordStore"]

#: Stored custom words of one model: ``(word, example vectors)`` in teaching order.
CustomWords = list[tuple[str, list[list[float]]]]


class CustomWordStore(Protocol):
    """Server-scope custom words, filed by ``model`` (its name and feature space)."""

    async def custom_words(self, model: str) -> CustomWords: ...

    async def add_custom_word(self, model: str, word: str, vectors: list[list[float]]) -> None: ...

    async def forget_custom_word(self, model: str, word: str) -> int:
        """Remove ``word``; how many example rows went."""
        ...


class SharedCustomWordStore(CustomWordStore, Protocol):
    """Custom words several instances change."""

    async def custom_words_since(self, model: str, seen: int | None) -> tuple[int, CustomWords | None]:
        """The words' version now, and the words when it is not ``seen`` (``None``: unchanged), in one read."""
        ...


class ResumeKeyStore(Protocol):
    """Drawing keys resumable on any instance until they expire."""

    async def hold_keys(self, keys: list[str], expires_at: float) -> None:
        """Make ``keys`` resumable until ``expires_at`` (``time.time()``); forget expired ones."""
        ...

    async def claim_key(self, key: str) -> bool:
        """Take resumable ``key`` (no instance can take it again); whether it was resumable."""
        ...

    async def drop_keys(self, keys: list[str]) -> None:
        """Make ``keys`` no longer resumable."""
        ...
