"""Custom words: words taught by drawing, ranked together with the model's words.

numpy only (no TensorFlow); the model is reached through an ``embed`` callable
(images -> unit embeddings, e.g. ``lambda x: classifier.predict_with_embedding(x)[1]``).

Contract
--------
* **Features.** What is compared is :func:`features`: the model's unit embedding less
  the ``center`` recorded with the parameters (the mean unit embedding of ordinary
  drawings), renormalised.  The embedding is pooled ReLU activations, so raw cosines
  crowd near 1; centring spreads them (without ``center`` the embedding is used as is).
* **Examples.** :func:`example_images` renders each example drawing (strokes in client
  pixels, as :func:`server.render.render` takes them) plus ``EXAMPLE_COPIES`` augmented
  copies (:func:`server.augment.warp` in the simplified space, seeded by
  ``AUGMENT_SEED`` and the copy's number: the same drawing always gives the same images).
  :func:`example_embeddings` turns each example into one vector: the mean of the
  features of its ``1 + EXAMPLE_COPIES`` images.
* **Prototype.** A :class:`CustomWord` keeps its examples' vectors; its prototype is their
  mean, renormalised to unit length (:func:`prototype`).  Every example weighs the same.
* **Score.** Each custom word is one more logit ``a * cos + b`` beside the model's
  ``log p`` (``p`` the calibrated scores, which sum to 1), where ``cos`` is the cosine of
  the drawing's features and the prototype; one softmax over all of them gives the
  combined scores (:func:`combined_logits`, :func:`rank`).  So the model's words keep
  their order and ratios, scaled by ``1 / (1 + sum_j exp(a cos_j + b))``; ``b`` acts as a
  custom word's log-prior against the whole model.  ``a`` and ``b`` are fitted offline by
  maximum likelihood (``python -m training.custom_words_eval``); :func:`params_of` reads
  them from ``model.json`` (``custom_words``: ``a``, ``b``, ``center``); a model without
  them has no custom words (``None``: there is no sensible default, the values belong to
  one model's embedding).  Vectors taught with one ``Params`` must be scored with the same.
* **Restriction.** ``rank(..., restrict_to=words)`` ranks only those words (model or
  custom), renormalised among them (a softmax over their logits); a word that is neither
  raises :class:`UnknownWords` naming every such word.
* **Vocabulary.** :class:`CustomVocabulary` holds custom words by name: ``teach`` adds
  examples (creating the word), ``forget`` removes it.  A word may not be one of the
  model's words (:class:`WordTaken`); ``max_words`` and ``max_examples`` (defaults from
  :mod:`server.limits`) are enforced with :class:`VocabularyFull` /
  :class:`TooManyExamples`, before anything changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from server.augment import warp
from server.limits import MAX_CUSTOM_EXAMPLES_PER_WORD, MAX_CUSTOM_WORDS
from server.render import Points, draw_normalized, normalize, render

#: Augmented copies rendered of each example drawing besides the drawing itself, in copies.
EXAMPLE_COPIES = 4
#: Seed of the augmented copies (copy ``k`` uses ``default_rng((AUGMENT_SEED, k))``), unitless.
AUGMENT_SEED = 13
#: Smallest norm a mean vector may have and still be normalised, unitless.
MIN_NORM = 1e-12

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
Images = npt.NDArray[np.uint8]
Embed = Callable[[Images], Matrix]
Ranking = list[tuple[str, float]]


class CustomWordError(ValueError):
    """A custom-word request that cannot be honoured (the message says why)."""


class UnknownWords(CustomWordError):
    """Words that are neither model words nor custom words; ``words`` lists them, sorted."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted(set(words))
        super().__init__(f"unknown words: {', '.join(map(repr, self.words))}")


class WordTaken(CustomWordError):
    """A custom word may not be named like one of the model's words."""


class VocabularyFull(CustomWordError):
    """Teaching one more word would exceed ``max_words``."""


class TooManyExamples(CustomWordError):
    """A word would hold more than ``max_examples`` examples."""


@dataclass(frozen=True)
class Params:
    """The custom-word logit ``a * cos + b`` (``a`` per unit cosine, ``b`` in logit units) and
    the ``center`` subtracted from embeddings before comparing (empty: none)."""

    a: float
    b: float
    center: tuple[float, ...] = ()

    @cached_property
    def center_vector(self) -> Vector | None:
        return np.asarray(self.center, np.float32) if self.center else None


def params_of(meta: Mapping[str, object]) -> Params | None:
    """``model.json``'s ``custom_words`` ``{"a", "b", "center"?}``; ``None`` when it has none
    (that model cannot score custom words)."""
    entry = meta.get("custom_words")
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise CustomWordError("model.json custom_words must be an object")
    a, b, center = entry.get("a"), entry.get("b"), entry.get("center", [])
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (a, b)) or not float(a) > 0:  # type: ignore[arg-type]
        raise CustomWordError("model.json custom_words needs finite numbers a > 0 and b")
    if not isinstance(center, list) or not all(isinstance(v, int | float) and math.isfinite(v) for v in center):
        raise CustomWordError("model.json custom_words.center must be a list of finite numbers")
    return Params(float(a), float(b), tuple(float(v) for v in center))  # type: ignore[arg-type]


def unit(v: npt.NDArray[np.floating]) -> Matrix:
    """Rows of ``v`` scaled to unit length (a row of zeros stays zero)."""
    v = np.asarray(v, np.float64)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    out: Matrix = (v / np.maximum(norm, MIN_NORM)).astype(np.float32)
    return out


def features(embeddings: npt.NDArray[np.floating], params: Params | None = None) -> Matrix:
    """What custom words compare: ``unit(unit(e) - center)`` per row (see module docstring);
    the unit embeddings when ``params`` is ``None`` or has no center."""
    e = unit(embeddings)
    c = None if params is None else params.center_vector
    if c is None:
        return e
    if c.shape[-1] != e.shape[-1]:
        raise CustomWordError(f"custom-word center has {c.shape[-1]} values for embeddings of {e.shape[-1]}")
    return unit(e - c)


# ------------------------------------------------------------------ examples


def example_images(drawings: Sequence[Sequence[Points]]) -> Images:
    """``(len(drawings) * (1 + EXAMPLE_COPIES), 64, 64)`` uint8: each drawing, then its
    augmented copies (see module docstring); empty drawings render blank."""
    out = []
    for strokes in drawings:
        norm = normalize(strokes)
        out.append(draw_normalized(norm))
        for k in range(EXAMPLE_COPIES):
            rng = np.random.default_rng((AUGMENT_SEED, k))
            out.append(render(warp([s.astype(np.float64) for s in norm], rng)))
    return np.asarray(out, np.uint8).reshape(-1, *out[0].shape) if out else np.zeros((0, 64, 64), np.uint8)


def example_embeddings(embed: Embed, drawings: Sequence[Sequence[Points]], params: Params) -> Matrix:
    """One vector per drawing: the mean of its images' :func:`features` ``(n, D)``."""
    if not drawings:
        raise CustomWordError("a custom word needs at least one example drawing")
    emb = features(embed(example_images(drawings)), params)
    means: Matrix = emb.reshape(len(drawings), 1 + EXAMPLE_COPIES, -1).mean(axis=1).astype(np.float32)
    return means


def prototype(examples: npt.NDArray[np.floating]) -> Vector:
    """The unit-length mean of example vectors ``(n, D)``."""
    if len(examples) == 0:
        raise CustomWordError("a prototype needs at least one example")
    return unit(np.asarray(examples, np.float64).mean(axis=0))


@dataclass(frozen=True)
class CustomWord:
    """A taught word: its examples' vectors ``(n, D)`` and their unit-length prototype."""

    word: str
    prototype: Vector
    examples: Matrix

    @classmethod
    def of(cls, word: str, examples: npt.NDArray[np.floating]) -> CustomWord:
        ex = np.asarray(examples, np.float32).reshape(len(examples), -1)
        return cls(word, prototype(ex), ex)

    def with_examples(self, more: npt.NDArray[np.floating]) -> CustomWord:
        """This word with ``more`` example vectors added (prototype recomputed)."""
        return CustomWord.of(self.word, np.concatenate([self.examples, np.asarray(more, np.float32)]))


@dataclass
class CustomVocabulary:
    """Custom words by name, in teaching order (see module docstring)."""

    reserved: Collection[str] = ()
    max_words: int = MAX_CUSTOM_WORDS
    max_examples: int = MAX_CUSTOM_EXAMPLES_PER_WORD
    _words: dict[str, CustomWord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reserved = frozenset(self.reserved)

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return word in self._words

    def __getitem__(self, word: str) -> CustomWord:
        return self._words[word]

    def words(self) -> list[str]:
        """The custom words, in teaching order."""
        return list(self._words)

    def teach(self, word: str, examples: npt.NDArray[np.floating]) -> CustomWord:
        """Add example vectors ``(n, D)`` (:func:`example_embeddings`) to ``word``, creating it."""
        ex = np.asarray(examples, np.float32)
        if ex.ndim != 2 or len(ex) == 0:
            raise CustomWordError("examples must be a non-empty (n, D) array")
        if word in self.reserved:
            raise WordTaken(f"{word!r} is one of the model's words")
        old = self._words.get(word)
        if old is None and len(self._words) >= self.max_words:
            raise VocabularyFull(f"at most {self.max_words} custom words")
        held = 0 if old is None else len(old.examples)
        if held + len(ex) > self.max_examples:
            raise TooManyExamples(f"{word!r} would have {held + len(ex)} examples; at most {self.max_examples}")
        if old is not None and old.examples.shape[1] != ex.shape[1]:
            raise CustomWordError(f"examples of width {ex.shape[1]}, {word!r} has {old.examples.shape[1]}")
        taught = CustomWord.of(word, ex) if old is None else old.with_examples(ex)
        self._words[word] = taught
        return taught

    def forget(self, word: str) -> bool:
        """Remove ``word``; whether it was there."""
        return self._words.pop(word, None) is not None

    def prototypes(self) -> Matrix:
        """The prototypes ``(words, D)``, in :meth:`words` order."""
        if not self._words:
            return np.zeros((0, 0), np.float32)
        return np.stack([w.prototype for w in self._words.values()])


# ------------------------------------------------------------------ scoring


def combined_logits(
    scores: npt.NDArray[np.floating],
    embeddings: npt.NDArray[np.floating],
    prototypes: npt.NDArray[np.floating],
    params: Params,
) -> npt.NDArray[np.float64]:
    """Logits ``(B, C + K)``: the model's ``log p`` for its ``C`` words, then ``a cos + b`` for
    each of ``K`` prototypes, ``cos`` taken on the :func:`features` (rows of ``scores``
    ``(B, C)`` and ``embeddings`` ``(B, D)``)."""
    logp = np.log(np.clip(np.asarray(scores, np.float64), 1e-30, 1.0))
    if len(prototypes) == 0:
        return logp
    cos = features(embeddings, params).astype(np.float64) @ np.asarray(prototypes, np.float64).T
    return np.concatenate([logp, params.a * cos + params.b], axis=1)


def softmax(logits: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Row-wise softmax, stable for any finite logits."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


def rank(
    labels: Sequence[str],
    scores: npt.NDArray[np.floating],
    embedding: npt.NDArray[np.floating],
    vocabulary: CustomVocabulary,
    *,
    params: Params,
    restrict_to: Collection[str] | None = None,
) -> Ranking:
    """Every candidate word with its combined score, best first (ties: model words first,
    in label order, then custom words in teaching order); scores sum to 1.

    ``scores`` ``(C,)`` are one drawing's calibrated scores over ``labels``, ``embedding``
    ``(D,)`` its embedding.  ``restrict_to`` ranks those words only, renormalised among
    them; words that are neither labels nor custom words raise :class:`UnknownWords`."""
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    names = [*labels, *vocabulary.words()]
    logits = combined_logits(np.asarray(scores)[None], np.asarray(embedding)[None], vocabulary.prototypes(), params)[0]
    if restrict_to is not None:
        where = {w: i for i, w in enumerate(names)}
        unknown = [w for w in restrict_to if w not in where]
        if unknown:
            raise UnknownWords(unknown)
        keep = sorted({where[w] for w in restrict_to})
        names = [names[i] for i in keep]
        logits = logits[keep]
    if not names:
        return []
    probs = softmax(logits)
    order = np.argsort(-probs, kind="stable")
    return [(names[i], float(probs[i])) for i in order]
