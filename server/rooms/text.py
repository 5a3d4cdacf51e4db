"""Text one player types that other players see: names and guesses (Sans-I/O).

:func:`clean` passes such text through the server's one gate for text a player names
(:func:`server.protocol.clean_text`: NFC, trimmed; lone surrogates, control, bidi and
invisible format characters refused as ``bad_text``, empty or over-long text as
``invalid_field``, counted in characters after normalising) and makes runs of spaces one.
Clients still render the text as text (never HTML): cleaning is not escaping.

:func:`comparable` is how guesses are compared with the word: NFKD without accents,
casefolded, letters and digits only (``"T-Shirt"`` is ``"tshirt"``); :func:`closeness`
tells a right guess from a close one (one edit away, or the word inside a longer guess).
"""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from server.protocol import clean_text

__all__ = ["Closeness", "clean", "closeness", "comparable", "edit_distance", "hint"]

Closeness = Literal["right", "close", "wrong"]


def clean(value: Any, field: str, *, max_chars: int) -> str:
    """``value`` as text fit to show other players: :func:`server.protocol.clean_text` (the one gate for
    text a player names: NFC, trimmed, no lone surrogates, no control, bidi or invisible format
    characters: ``bad_text``; empty or over-long: ``invalid_field``), with runs of spaces made one."""
    return " ".join(clean_text(value, field, max_chars=max_chars).split())


def comparable(text: str) -> str:
    """``text`` as guesses are compared: no accents, casefolded, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed.casefold() if c.isalnum())


def edit_distance(a: str, b: str, *, cap: int = 2) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``cap + 1`` once it is surely above ``cap``."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > cap:
            return cap + 1
        previous = current
    return min(previous[-1], cap + 1)


def closeness(guess: str, word: str) -> Closeness:
    """Whether ``guess`` names ``word`` (both compared by :func:`comparable`): right, close, or wrong.

    Close: one edit away (two for words of 8 or more letters), or the word inside a longer guess
    ("is it a cat"): a close guess's text is not shown to the others, as it would spoil the word."""
    g, w = comparable(guess), comparable(word)
    if not g:
        return "wrong"
    if g == w:
        return "right"
    if w and w in g:
        return "close"
    if len(w) >= 4 and edit_distance(g, w, cap=2) <= (2 if len(w) >= 8 else 1):
        return "close"
    return "wrong"


def hint(word: str) -> str:
    """The word as guessers see it: each letter or digit an underscore, spaces and punctuation kept."""
    return "".join("_" if c.isalnum() else c for c in word)
