"""scripts/game_words.py and web_client/words.json: the play mode's words, and every word's phrase checked against
the rules of English articles and plurals."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import MODEL_DIR, ROOT

WORDS_JSON = ROOT / "web_client/words.json"
LABELS = [w for w in (MODEL_DIR / "labels.txt").read_text().split("\n") if w]
#: Phrases a person wrote down (the prompts the issue found wrong, and one of each kind).
EXPECTED = {
    "drums": "drums",
    "flip flops": "flip flops",
    "binoculars": "binoculars",
    "rollerskates": "rollerskates",
    "hourglass": "an hourglass",
    "apple": "an apple",
    "umbrella": "an umbrella",
    "bicycle": "a bicycle",
    "cactus": "a cactus",
    "scissors": "scissors",
    "grass": "grass",
    "sun": "the sun",
    "The Eiffel Tower": "the Eiffel Tower",
    "teddy-bear": "a teddy bear",
    "t-shirt": "a T-shirt",
}


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("game_words", ROOT / "scripts/game_words.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def words() -> dict[str, Any]:
    return json.loads(WORDS_JSON.read_text())  # type: ignore[no-any-return]


def test_the_file_is_what_the_script_makes_from_the_model(script: ModuleType, words: dict[str, Any]) -> None:
    """words.json is the script's output for the shipped model's evaluation (regenerate it after a new model)."""
    ev = json.loads((MODEL_DIR / "eval.json").read_text())
    assert WORDS_JSON.read_text() == script.render(script.words_file(ev, LABELS))
    assert set(words["say"]) == set(LABELS)
    game = words["words"]
    assert isinstance(game, list) and len(game) >= 100 and set(game) <= set(LABELS)
    assert not set(game) & set(words["excluded"])


def test_every_phrase_follows_the_rule_list(script: ModuleType, words: dict[str, Any]) -> None:
    """Each of the model's words: a plural or mass noun has no article, "the" for one-of-a-kind things, "an" before a
    vowel sound, "a" otherwise; a word ending in "s" must be declared plural or singular; the phrase ends with the
    word as written (or its spelling fix)."""
    for word, phrase in words["say"].items():
        shown = script.SPELLED.get(word, word)
        if word.startswith("The "):
            assert phrase == "the " + word[4:], word
            continue
        if word.endswith("s"):
            assert (word in script.NO_ARTICLE) != (word in script.SINGULAR_S), f"{word}: plural or singular?"
        if word in script.NO_ARTICLE:
            expected = shown
        elif word in script.THE:
            expected = "the " + shown
        else:
            vowel_sound = (word[0].lower() in "aeiou") != (
                word in script.A_BEFORE_VOWEL or word in script.AN_BEFORE_CONSONANT
            )
            expected = ("an " if vowel_sound else "a ") + shown
        assert phrase == expected, word
    for word, phrase in EXPECTED.items():
        assert words["say"][word] == phrase
