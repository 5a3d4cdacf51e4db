"""Text one player types that other players see: names and guesses (Sans-I/O, stdlib only).

:func:`clean` is the one gate for such text: it returns the text NFC-normalised and trimmed,
or raises :class:`server.errors.InvalidField` saying why not.  Refused: anything that is
not a string, lone surrogates (a JSON ``"\\ud800"``), control characters (Unicode category
``Cc``), the bidirectional controls that can reorder what others see (``BIDI_CONTROLS``),
other invisible format characters except the joiners emoji need, empty text, and text
longer than its limit (counted in characters after normalising).  Clients still render
the text as text (never HTML): cleaning is not escaping.

:func:`comparable` is how guesses are compared with the word: NFKD without accents,
casefolded, letters and digits only (``"T-Shirt"`` is ``"tshirt"``); :func:`closeness`
tells a right guess from a close one (one edit away, or the word inside a longer guess).
"""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from server.errors import InvalidField

__all__ = ["BIDI_CONTROLS", "Closeness", "clean", "closeness", "comparable", "edit_distance", "hint"]

#: Bidirectional formatting characters (embeddings, overrides, isolates, marks): refused in names and guesses.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Format characters (category ``Cf``) a name may hold: the zero-width joiners emoji sequences use.
ALLOWED_FORMAT = frozenset("\u200c\u200d\ufe0f")

Closeness = Literal["right", "close", "wrong"]


def clean(value: Any, field: str, *, max_chars: int) -> str:
    """``value`` as text fit to show other players (see module docstring), or :class:`InvalidField`."""
    if not isinstance(value, str):
        raise InvalidField(f"'{field}' must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(f"'{field}' must be valid Unicode (no lone surrogates)") from None
    if len(value) > 4 * max_chars:  # bound the normalisation's work before doing it
        raise InvalidField(f"'{field}' must be at most {max_chars} characters")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise InvalidField(f"'{field}' must not be empty")
    if len(text) > max_chars:
        raise InvalidField(f"'{field}' must be at most {max_chars} characters")
    for c in text:
        if c in BIDI_CONTROLS:
            raise InvalidField(f"'{field}' must not hold bidirectional control characters (U+{ord(c):04X})")
        category = unicodedata.category(c)
        if category == "Cc" or (category == "Cf" and c not in ALLOWED_FORMAT):
            raise InvalidField(f"'{field}' must not hold control or format characters (U+{ord(c):04X})")
    return " ".join(text.split())


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
