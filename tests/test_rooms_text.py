"""Names and guesses: what other players may be shown, and how guesses are compared (server/rooms/text.py)."""

from __future__ import annotations

import pytest

from server.errors import ClientFault
from server.rooms.text import clean, closeness, comparable, edit_distance, hint


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada ", "Ada"),
        ("Cafe\u0301", "Caf\u00e9"),  # NFC
        ("a   b  c", "a b c"),  # runs of spaces are one
        ("\U0001f469\u200d\U0001f3a8 Zoë", "\U0001f469\u200d\U0001f3a8 Zoë"),  # emoji ZWJ sequences kept
        ("日本語", "日本語"),
    ],
)
def test_clean_keeps_ordinary_text_normalised(raw: str, expected: str) -> None:
    """Names and guesses come back NFC, trimmed, one space between words; joiners emoji need are kept."""
    assert clean(raw, "name", max_chars=24) == expected


@pytest.mark.parametrize(
    ("raw", "code", "why"),
    [
        ("\ud800", "invalid_field", "surrogates"),
        ("a\x00b", "bad_text", "control"),
        ("a\x1bb", "bad_text", "control"),
        ("a\u0085b", "bad_text", "control"),
        ("evil\u202egnp.exe", "bad_text", "bidi"),
        ("x\u2066y", "bad_text", "bidi"),
        ("x\u200by", "bad_text", "U\\+200B"),  # zero width space: an invisible format character
        ("   ", "invalid_field", "1 to 24"),
        ("", "invalid_field", "1 to 24"),
        ("x" * 25, "invalid_field", "1 to 24"),
        (5, "invalid_field", "strings"),
        (None, "invalid_field", "strings"),
    ],
)
def test_clean_refuses_what_could_hide_or_reorder_text(raw: object, code: str, why: str) -> None:
    """Control, bidi and invisible format characters are bad_text; surrogates, empty, over-long text invalid_field."""
    with pytest.raises(ClientFault, match=why) as caught:
        clean(raw, "name", max_chars=24)
    assert caught.value.code == code


def test_clean_counts_characters_after_normalising() -> None:
    """24 precomposed characters pass even when sent decomposed (48 code points)."""
    assert clean("e\u0301" * 24, "name", max_chars=24) == "\u00e9" * 24


def test_comparable_ignores_case_accents_spaces_and_punctuation() -> None:
    """'T-Shirt', 't shirt' and 'tshirt' compare equal; accents do not count."""
    assert comparable("T-Shirt") == comparable("t shirt") == "tshirt"
    assert comparable("Café") == "cafe"


@pytest.mark.parametrize(
    ("guess", "word", "verdict"),
    [
        ("cat", "cat", "right"),
        ("  CAT ", "cat", "right"),
        ("hot-dog", "hot dog", "right"),
        ("the eiffel tower", "The Eiffel Tower", "right"),
        ("is it a cat?", "cat", "close"),  # the word inside a longer guess
        ("bananna", "banana", "close"),  # one edit
        ("elefant", "elephant", "close"),  # two edits on a long word
        ("cats", "cat", "close"),
        ("dog", "cat", "wrong"),
        ("cot", "cat", "wrong"),  # short words need the exact word
        ("!!!", "cat", "wrong"),
    ],
)
def test_closeness(guess: str, word: str, verdict: str) -> None:
    """A guess is right, close (near, or containing the word) or wrong."""
    assert closeness(guess, word) == verdict


def test_edit_distance_stops_early_past_its_cap() -> None:
    """Distances above the cap come back as cap + 1 (bounded work on long guesses)."""
    assert edit_distance("kitten", "sitting", cap=5) == 3
    assert edit_distance("a" * 40, "b" * 40, cap=2) == 3
    assert edit_distance("abc", "abcdefgh", cap=2) == 3


def test_hint_hides_letters_and_keeps_word_breaks() -> None:
    """A hint shows each letter or digit as '_' and keeps spaces and hyphens."""
    assert hint("hot dog") == "___ ___"
    assert hint("t-shirt") == "_-_____"
