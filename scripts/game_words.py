"""Write ``web_client/words.js``: the words the play mode asks for, and why the others are left out.

Run ``.venv/bin/python scripts/game_words.py`` after shipping a new model (it reads the
model's ``models/eval.json``).  A word is in the game when people can draw it in 20
seconds and the model can tell it apart; it is left out, with the reason recorded in the
file, when:

* it is on :data:`HAND_EXCLUDED` (too abstract, too slow to draw, or a twin by meaning);
* the model read it as another word in the evaluation's most confused pairs (``cup``
  drawn, ``mug`` guessed: a player would lose for drawing well);
* the model's top-1 on the evaluation's real drawings of it is under :data:`MIN_TOP1`.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
#: Words said without "a"/"an" (plurals, names, mass nouns).
NO_ARTICLE = {
    "pants",
    "shorts",
    "jeans",
    "scissors",
    "eyeglasses",
    "headphones",
    "stairs",
    "underwear",
    "grapes",
    "peas",
    "broccoli",
    "asparagus",
    "bread",
    "rain",
    "snow",
    "lightning",
    "grass",
    "camouflage",
    "animal migration",
    "yoga",
}


def say(word: str) -> str:
    """How the prompt says the word: "a bicycle", "an apple", "the Eiffel Tower", "scissors"."""
    if word.startswith("The "):
        return "the " + word[4:]
    if word in NO_ARTICLE:
        return word
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


def main() -> None:
    ev = json.loads((ROOT / "models/eval.json").read_text())
    labels = (ROOT / "models/labels.txt").read_text().split("\n")
    labels = [w for w in labels if w]
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
    words = [{"word": w, "say": say(w)} for w in labels if w not in excluded]
    out = {
        "about": "Words of the play mode (web_client/game.js), made by scripts/game_words.py from the model's"
        f" evaluation ({ev.get('model', '?')}): left out are words people cannot draw in 20 s, twins the model"
        f" confuses, and words it gets right under {MIN_TOP1:.0%} of the time; each with its reason.",
        "words": words,
        "excluded": dict(sorted(excluded.items())),
    }
    body = json.dumps(out, indent=1, ensure_ascii=False)
    header = "// Made by scripts/game_words.py: do not edit by hand.\n"
    (ROOT / "web_client/words.js").write_text(f"{header}export default {body};\n")
    print(f"{len(words)} words in the game, {len(excluded)} left out")


if __name__ == "__main__":
    main()
