"""Room codes and rejoin keys (Sans-I/O, :mod:`secrets` only).

A room code is :data:`CODE_CHARS` characters drawn by :mod:`secrets` from :data:`ALPHABET`:
digits and capitals without the look-alikes 0/O, 1/I/L and U, so it can be read aloud
and typed from hearing.  That is 30 ** 8, about 6.6e11 codes (39 bits): with the
server's most rooms open (``MAX_ROOMS``) and every address held to
``MAX_ROOM_JOINS_PER_MINUTE`` joins, one address needs on the order of
``6.6e11 / (MAX_ROOMS * rate)`` minutes to hit any room by guessing (README: Rooms).
Codes are shown as ``ABCD-EFGH``; :func:`parse_code` accepts any case, with or without the
dash and spaces (a code with 0, 1, I, L, O or U cannot be one: ``None``).

A rejoin key is :func:`secrets.token_urlsafe` of :data:`KEY_BYTES` bytes (128 bits), sent
only to its player.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

__all__ = [
    "ALPHABET",
    "CODE_CHARS",
    "KEY_BYTES",
    "MAX_KEY_CHARS",
    "new_code",
    "new_key",
    "parse_code",
    "prefixed",
    "shown",
]

#: Characters of a room code: digits and capitals that are not mistaken for one another aloud or on screen.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Characters in a room code, in characters.
CODE_CHARS = 8
#: Random bytes of a rejoin key, in bytes.
KEY_BYTES = 16
#: Longest rejoin key a client may send back, in characters.
MAX_KEY_CHARS = 64


def new_code() -> str:
    """A fresh room code (:data:`CODE_CHARS` characters of :data:`ALPHABET`)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))


def prefixed(prefix: str | None) -> Callable[[], str]:
    """New codes that begin with ``prefix`` (one character of :data:`ALPHABET`; ``None``: :func:`new_code`).

    An instance behind a balancer makes every code with its own first character, so the
    balancer can send a room's players to it by the code alone (deploy/haproxy.cfg).  One
    character fewer is drawn: 30 ** 7, about 2.2e10 codes (34 bits) per instance."""
    if prefix is None:
        return new_code
    if len(prefix) != 1 or prefix not in ALPHABET:
        raise ValueError(f"a room code prefix is one character of {ALPHABET}")
    return lambda: prefix + new_code()[1:]


def new_key() -> str:
    """A fresh rejoin key (22 URL-safe characters)."""
    return secrets.token_urlsafe(KEY_BYTES)


def parse_code(text: str) -> str | None:
    """The code ``text`` names (any case; dashes and spaces ignored), or ``None`` if it cannot be one."""
    if len(text) > 4 * CODE_CHARS:
        return None
    code = "".join(c for c in text.upper() if c not in "- ")
    if len(code) != CODE_CHARS or any(c not in ALPHABET for c in code):
        return None
    return code


def shown(code: str) -> str:
    """``code`` as people read it: two groups of four (``ABCD-EFGH``)."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"
