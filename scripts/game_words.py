"""Write ``web_client/words.json``: the words the play mode asks for, how its prompt says each, and why the others
are left out.

Run ``.venv/bin/python scripts/game_words.py`` after shipping a new model (it reads the
model's ``models/eval.json``).  A word is in the game when people can draw it in 20
seconds and the model can tell it apart; it is left out, with the reason recorded in the
file, when:

* it is on :data:`HAND_EXCLUDED` (too abstract, too slow to draw, or a twin by meaning);
* the model read it as another word in the evaluation's most confused pairs (``cup``
  drawn, ``mug`` guessed: a player would lose for drawing well);
* the model's top-1 on the evaluation's real drawings of it is under :data:`MIN_TOP1`.

Each of the model's words has its phrase (``"say"``: "an hourglass", "binoculars", "the sun"): the prompt
says the asked word, and the verdict a wrong guess, the same way.  :func:`say` makes them from the rule
lists below; tests/test_game_words.py checks every phrase against them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The file this script writes (served with the web client; game.js imports it as a JSON module).
WORDS_FILE = ROOT / "web_client/words.json"
#: Least top-1 accuracy (on the evaluation's real drawings of the word) for a word in the game.
MIN_TOP1 = 0.7
#: Words left out by hand, with the reason.
HAND_EXCLUDED: dict[str, str] = {
    "animal migration": "an idea, not a thing: no one draws it the same way",
    "camouflage": "an idea, not a thing: drawn as anything",
    "The Great Wall of China": "too slow to draw in 20 seconds",
    "The Mona Lisa": "too slow to draw in 20 seconds",
    "yoga": "a pose, drawn as a stick figure like many others",
    "hurricane": "drawn as a spiral like tornado",
    "coffee cup": "a twin of cup and mug",
    "mug": "a twin of cup and coffee cup",
    "pickup truck": "a twin of truck",
    "hockey stick": "a twin of golf club",
    "string bean": "a twin of peas",
    "line": "too easy: one stroke",
    "square": "too easy: one stroke",
    "circle": "too easy: one stroke",
    "triangle": "too easy: one stroke",
    "zigzag": "too easy: one stroke",
    "squiggle": "too easy: one stroke",
}
#: Words said without "a"/"an": plurals (things that come in pairs or sets) and mass nouns.
NO_ARTICLE = frozenset(
    {
        # plurals
        "binoculars",
        "drums",
        "eyeglasses",
        "flip flops",
        "grapes",
        "headphones",
        "matches",
        "pliers",
        "pants",
        "peas",
        "rollerskates",
        "scissors",
        "shorts",
        "stairs",
        "stitches",
        "underwear",
        # mass nouns and ideas
        "animal migration",
        "asparagus",
        "bread",
        "broccoli",
        "camouflage",
        "grass",
        "ice cream",
        "lightning",
        "rain",
        "toothpaste",
        "yoga",
    }
)
#: Words ending in "s" that are one thing ("a cactus"): any other word ending in "s" must be in NO_ARTICLE.
SINGULAR_S = frozenset({"bus", "cactus", "compass", "hourglass", "octopus", "rhinoceros", "school bus", "wine glass"})
#: Words that take "the": there is one of them.
THE = frozenset({"sun", "moon"})
#: Words that start with a vowel letter but a consonant sound ("a unicorn").
A_BEFORE_VOWEL = frozenset({"ukulele", "unicorn", "university", "one", "eucalyptus"})
#: Words that start with a consonant letter but a vowel sound ("an hourglass").
AN_BEFORE_CONSONANT = frozenset({"hourglass", "hour", "honey", "honeycomb"})
#: How a word is written in the prompt when its label is spelled otherwise.
SPELLED = {"teddy-bear": "teddy bear", "t-shirt": "T-shirt", "see saw": "seesaw"}


def say(word: str) -> str:
    """How the prompt says the word: "a bicycle", "an hourglass", "the Eiffel Tower", "binoculars"."""
    if word.startswith("The "):
        return "the " + word[4:]
    shown = SPELLED.get(word, word)
    if word in NO_ARTICLE:
        return shown
    if word in THE:
        return "the " + shown
    vowel = word[0].lower() in "aeiou"
    if (vowel and word not in A_BEFORE_VOWEL) or word in AN_BEFORE_CONSONANT:
        return "an " + shown
    return "a " + shown


def words_file(ev: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """The play mode's word list (what :func:`main` writes) from the model's evaluation and labels."""
    excluded: dict[str, str] = {}
    for w, reason in HAND_EXCLUDED.items():
        if w in labels:
            excluded[w] = reason
    for true, guessed, n in ev["confused_pairs"]:
        excluded.setdefault(true, f"the model often reads it as {guessed} ({n} of its evaluation drawings)")
    for w in labels:
        top1 = ev["per_class"].get(w)
        if top1 is not None and top1 < MIN_TOP1:
            why = f"the model gets only {top1:.0%} of real drawings of it right (under {MIN_TOP1:.0%})"
            excluded.setdefault(w, why)
    return {
        "about": "Words of the play mode (web_client/game.js), made by scripts/game_words.py from the model's"
        f" evaluation ({ev.get('model', '?')}): left out are words people cannot draw in 20 s, twins the model"
        f" confuses, and words it gets right under {MIN_TOP1:.0%} of the time; each with its reason. `say` is"
        " how the prompt says each of the model's words (a guess is said the same way).",
        "words": [w for w in labels if w not in excluded],
        "say": {w: say(w) for w in labels},
        "excluded": dict(sorted(excluded.items())),
    }


def render(data: dict[str, Any]) -> str:
    """The file's text (one format, so a test can compare it with a fresh run)."""
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    ev = json.loads((ROOT / "models/eval.json").read_text())
    labels = [w for w in (ROOT / "models/labels.txt").read_text().split("\n") if w]
    data = words_file(ev, labels)
    WORDS_FILE.write_text(render(data))
    print(f"{len(data['words'])} words in the game, {len(data['excluded'])} left out")


if __name__ == "__main__":
    main()
