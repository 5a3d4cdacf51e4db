"""Room codes and rejoin keys (server/rooms/codes.py)."""

from __future__ import annotations

import math

from server.rooms.codes import ALPHABET, CODE_CHARS, new_code, new_key, parse_code, shown


def test_codes_use_only_unambiguous_characters_and_are_unguessable() -> None:
    """Codes are 8 characters without 0/O/1/I/L/U: at least 39 bits; a thousand are all different."""
    assert not set("01OILU") & set(ALPHABET)
    assert CODE_CHARS * math.log2(len(ALPHABET)) >= 39
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(c) == CODE_CHARS and set(c) <= set(ALPHABET) for c in codes)


def test_codes_are_parsed_as_people_type_them() -> None:
    """Any case, with the dash or spaces; anything else is no code."""
    code = new_code()
    assert parse_code(shown(code).lower()) == code
    assert parse_code(" ".join(code)) == code
    assert parse_code(code[:-1]) is None
    assert parse_code(code[:-1] + "0") is None
    assert parse_code("x" * 10_000) is None
    assert shown("ABCDEFGH") == "ABCD-EFGH"


def test_rejoin_keys_are_long_and_distinct() -> None:
    """Rejoin keys carry 128 random bits (22 URL-safe characters)."""
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100 and all(len(k) == 22 for k in keys)
