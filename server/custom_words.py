"""Custom words: words taught by drawing, ranked together with the model's words.

numpy only (no TensorFlow); the model is reached through an ``embed`` callable
(images -> unit embeddings, e.g. ``lambda x: classifier.predict_with_embedding(x)[1]``).

Contract
--------
* **Features.** What is compared is :func:`features`: the model's unit embedding ``u``,
  raised element-wise to ``power`` and renormalised (``power`` < 1 evens out the pooled
  ReLU activations, a few of which otherwise dominate every cosine; negative values, which
  a ReLU embedding never has, count as 0), less the ``center`` (the mean of those vectors
  over ordinary drawings of the model's words: raw cosines crowd near 1, centring spreads
  them), renormalised.  Without ``center`` and with ``power`` 1 it is the unit embedding.
* **Examples.** :func:`example_images` renders each example drawing (strokes in client
  pixels, as :func:`server.render.render` takes them) plus ``EXAMPLE_COPIES`` augmented
  copies (:func:`server.augment.warp` in the simplified space, seeded by
  ``AUGMENT_SEED`` and the copy's number: the same drawing always gives the same images).
  :func:`example_vectors` turns each example into one vector: the mean of the features
  of its ``1 + EXAMPLE_COPIES`` images.
* **Prototype.** A :class:`CustomWord` keeps its examples' vectors; its prototype is their
  mean, renormalised to unit length (:func:`prototype`).  Every example weighs the same.
* **Known words' means.** ``known_means`` ``(C, D)``: per model word (``labels.txt``
  order), the unit mean of the features of ordinary drawings of it.  Two nearness terms
  come from them (:func:`nearness`: the largest cosine with any row): the drawing's
  (how much it looks like some word the model knows) and each custom word's prototype's
  (how much the taught word looks like one).
* **Score.** Each custom word ``k`` is one more logit beside the model's ``log p``
  (``p`` the calibrated scores, which sum to 1)::

      a * cos_k + b + near_input * nearness(drawing) + near_word * nearness(prototype_k)

  where ``cos_k`` is the cosine of the drawing's features and the prototype
  (:func:`score_terms` gives the four terms, :data:`TERMS` names them); one softmax over
  all logits gives the combined scores (:func:`combined_logits`, :func:`rank`).  So the
  model's words keep their order and ratios, scaled by ``1 / (1 + sum_k exp(logit_k))``.
  ``near_input`` < 0 lowers every custom word for a drawing that looks like a known word;
  ``near_word`` < 0 lowers a taught word that resembles a known one (it would take that
  word's drawings).  The weights are fitted offline by maximum likelihood, ``b`` then
  lowered to bound the known words' loss (``python -m training.custom_words_eval``).
* **Parameters.** :func:`params_of` reads ``model.json`` ``custom_words``: ``a``, ``b``,
  and optionally ``near_input``, ``near_word`` (default 0), ``power`` (default 1),
  ``center`` (a list; older models) and ``file``: the name of an ``.npz`` file in the
  model folder (``PARAMS_FILE`` by default) holding ``center`` ``(D,)`` and
  ``known_means`` ``(C, D)``.  The file is validated on load (:func:`load_arrays`): a
  missing file, a missing or misshapen array, a value that is not finite, or nearness
  weights without ``known_means`` raise :class:`CustomWordError` saying which;
  :func:`check_params` checks the widths against the model (``C`` words, ``D`` embedding
  values).  A model without ``custom_words`` has none (``None``: there is no sensible
  default, the values belong to one model's embedding).  Vectors taught with one
  ``Params`` must be scored with the same: stored vectors of a model whose parameters
  were refitted with another ``power`` or ``center`` no longer match (teach them again).
* **Restriction.** ``rank(..., restrict_to=words)`` ranks only those words (model or
  custom), renormalised among them (a softmax over their logits); a word that is neither
  raises :class:`UnknownWords` naming every such word.
* **Vocabulary.** :class:`CustomVocabulary` holds custom words by name: ``teach`` adds
  examples (creating the word), ``forget`` removes it.  A word may not be one of the
  model's words (:class:`ModelWordTaken`); ``max_words`` and ``max_examples`` (defaults from
  :mod:`server.limits`) are enforced with :class:`VocabularyFull` /
  :class:`TooManyExamples`, before anything changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

from server.augment import warp
from server.limits import MAX_CUSTOM_EXAMPLES_PER_WORD, MAX_CUSTOM_WORDS
from server.render import PICTURE, Encoding, Points, encode, encode_normalized, normalize

#: Augmented copies rendered of each example drawing besides the drawing itself, in copies.
EXAMPLE_COPIES = 4
#: Seed of the augmented copies (copy ``k`` uses ``default_rng((AUGMENT_SEED, k))``), unitless.
AUGMENT_SEED = 13
#: Smallest norm a mean vector may have and still be normalised, unitless.
MIN_NORM = 1e-12
#: File name of the arrays beside ``model.json`` (``custom_words.file``) written by the fit.
PARAMS_FILE = "custom_words.npz"
#: The terms of a custom word's logit, in :func:`score_terms` order, and the parameter weighing each.
TERMS = ("cos", "one", "near_input", "near_word")
#: Range ``power`` may take (exclusive low, inclusive high), unitless.
POWER_RANGE = (0.0, 4.0)

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


class ModelWordTaken(CustomWordError):
    """A custom word may not be named like one of the model's words."""


class VocabularyFull(CustomWordError):
    """Teaching one more word would exceed ``max_words``."""


class TooManyExamples(CustomWordError):
    """A word would hold more than ``max_examples`` examples."""


@dataclass(frozen=True)
class Params:
    """A custom word's logit ``a cos + b + near_input n_x + near_word n_k`` (``a``,
    ``near_*`` per unit cosine, ``b`` in logit units) and the feature transform: ``power``,
    the ``center`` subtracted (empty: none) and the known words' means (``None``: no
    nearness terms).  See the module docstring."""

    a: float
    b: float
    center: tuple[float, ...] = ()
    power: float = 1.0
    near_input: float = 0.0
    near_word: float = 0.0
    known_means: Matrix | None = field(default=None, compare=False, repr=False)

    @cached_property
    def center_vector(self) -> Vector | None:
        return np.asarray(self.center, np.float32) if self.center else None

    @cached_property
    def space(self) -> str:
        """A fingerprint of the feature transform (``power`` and ``center``): example vectors are
        comparable only with vectors made in the same space (12 hex digits of a SHA-256)."""
        text = json.dumps([round(self.power, 9), [round(v, 9) for v in self.center]])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def weights(self) -> npt.NDArray[np.float64]:
        """The weights of :func:`score_terms`' terms, in :data:`TERMS` order."""
        return np.array([self.a, self.b, self.near_input, self.near_word], np.float64)


def _number(entry: Mapping[str, object], key: str, default: float | None = None) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CustomWordError(f"model.json custom_words.{key} must be a finite number")
    return float(value)


def load_arrays(path: Path) -> tuple[Vector, Matrix]:
    """``center`` ``(D,)`` and ``known_means`` ``(C, D)`` from a :data:`PARAMS_FILE`, validated:
    any problem raises :class:`CustomWordError` naming the file and what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except FileNotFoundError:
        raise CustomWordError(f"{path}: custom-word parameters file not found (model.json custom_words.file)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CustomWordError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    missing = [k for k in ("center", "known_means") if k not in arrays]
    if missing:
        raise CustomWordError(f"{path}: missing arrays {missing} (it needs center and known_means)")
    center, means = arrays["center"], arrays["known_means"]
    if center.ndim != 1 or means.ndim != 2 or means.shape[1] != center.shape[0] or not len(center) or not len(means):
        raise CustomWordError(
            f"{path}: center must be (D,) and known_means (C, D), got {center.shape} and {means.shape}"
        )
    if center.dtype.kind != "f" or means.dtype.kind != "f":
        raise CustomWordError(f"{path}: center and known_means must be floating-point arrays")
    if not (np.isfinite(center).all() and np.isfinite(means).all()):
        raise CustomWordError(f"{path}: center and known_means must hold finite numbers only")
    return center.astype(np.float32), means.astype(np.float32)


def params_of(meta: Mapping[str, object], model_dir: Path | None = None) -> Params | None:
    """``model.json``'s ``custom_words`` (see the module docstring); ``None`` when it has none
    (that model cannot score custom words).  ``file`` is read from ``model_dir``."""
    entry = meta.get("custom_words")
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise CustomWordError("model.json custom_words must be an object")
    a, b = _number(entry, "a"), _number(entry, "b")
    near_input, near_word = _number(entry, "near_input", 0.0), _number(entry, "near_word", 0.0)
    power = _number(entry, "power", 1.0)
    if not a > 0:
        raise CustomWordError("model.json custom_words.a must be > 0")
    if not POWER_RANGE[0] < power <= POWER_RANGE[1]:
        raise CustomWordError(f"model.json custom_words.power must be in ({POWER_RANGE[0]}, {POWER_RANGE[1]}]")
    center = entry.get("center", [])
    if not isinstance(center, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in center
    ):
        raise CustomWordError("model.json custom_words.center must be a list of finite numbers")
    means: Matrix | None = None
    name = entry.get("file")
    if name is not None:
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise CustomWordError("model.json custom_words.file must be a file name in the model folder")
        if model_dir is None:
            raise CustomWordError(f"model.json custom_words.file {name!r} needs the model folder to read it from")
        if center:
            raise CustomWordError("model.json custom_words: center is given both inline and in the file")
        vec, means = load_arrays(Path(model_dir) / name)
        center = vec.tolist()
    if means is None and (near_input or near_word):
        raise CustomWordError("model.json custom_words: near_input and near_word need known_means (custom_words.file)")
    return Params(a, b, tuple(float(v) for v in center), power, near_input, near_word, means)


def check_params(params: Params, classes: int, embedding_dim: int) -> None:
    """Raise :class:`CustomWordError` unless ``params`` fit a model of ``classes`` words and an
    embedding of ``embedding_dim`` values."""
    if params.center and len(params.center) != embedding_dim:
        raise CustomWordError(f"custom-word center has {len(params.center)} values for an embedding of {embedding_dim}")
    m = params.known_means
    if m is not None and m.shape != (classes, embedding_dim):
        raise CustomWordError(f"custom-word known_means are {m.shape}, the model needs ({classes}, {embedding_dim})")


def unit(v: npt.NDArray[np.floating]) -> Matrix:
    """Rows of ``v`` scaled to unit length (a row of zeros stays zero)."""
    v = np.asarray(v, np.float64)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    out: Matrix = (v / np.maximum(norm, MIN_NORM)).astype(np.float32)
    return out


def features(embeddings: npt.NDArray[np.floating], params: Params | None = None) -> Matrix:
    """What custom words compare: ``unit(unit(max(unit(e), 0) ** power) - center)`` per row
    (see module docstring); the unit embeddings when ``params`` is ``None``."""
    e = unit(embeddings)
    if params is None:
        return e
    if params.power != 1.0:
        e = unit(np.maximum(e, 0.0) ** params.power)
    c = params.center_vector
    if c is None:
        return e
    if c.shape[-1] != e.shape[-1]:
        raise CustomWordError(f"custom-word center has {c.shape[-1]} values for embeddings of {e.shape[-1]}")
    return unit(e - c)


def nearness(vectors: npt.NDArray[np.floating], params: Params | None) -> npt.NDArray[np.float64]:
    """Per row of ``vectors`` (features or prototypes, ``(n, D)``): the largest cosine with
    the known words' means; zeros without ``known_means``."""
    v = np.asarray(vectors, np.float64)
    means = None if params is None else params.known_means
    if means is None or len(v) == 0:
        return np.zeros(len(v))
    out: npt.NDArray[np.float64] = (v @ means.T.astype(np.float64)).max(axis=1)
    return out


# ------------------------------------------------------------------ examples


def example_images(drawings: Sequence[Sequence[Points]], encoding: Encoding = PICTURE) -> Images:
    """``(len(drawings) * (1 + EXAMPLE_COPIES), *encoding.shape)`` uint8 model inputs: each
    drawing, then its augmented copies (see module docstring); empty drawings render blank."""
    out = []
    for strokes in drawings:
        norm = normalize(strokes)
        out.append(encode_normalized(norm, encoding))
        for k in range(EXAMPLE_COPIES):
            rng = np.random.default_rng((AUGMENT_SEED, k))
            out.append(encode(warp([s.astype(np.float64) for s in norm], rng), encoding))
    return np.asarray(out, np.uint8) if out else np.zeros((0, *encoding.shape), np.uint8)


def example_vectors(embeddings: npt.NDArray[np.floating], drawings: int, params: Params) -> Matrix:
    """One vector per example drawing ``(drawings, D)`` from the embeddings of its images, in
    :func:`example_images` order: the mean of each drawing's images' :func:`features`."""
    f = features(embeddings, params)
    means: Matrix = f.reshape(drawings, -1, f.shape[-1]).mean(axis=1).astype(np.float32)
    return means


def example_embeddings(
    embed: Embed, drawings: Sequence[Sequence[Points]], params: Params, encoding: Encoding = PICTURE
) -> Matrix:
    """:func:`example_vectors` of ``drawings`` through the model ``embed`` (whose input is ``encoding``)."""
    if not drawings:
        raise CustomWordError("a custom word needs at least one example drawing")
    return example_vectors(embed(example_images(drawings, encoding)), len(drawings), params)


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
    #: :func:`nearness` of the prototype, with the known words' means it was computed against.
    _nearness: list[tuple[Matrix, float]] = field(default_factory=list, compare=False, repr=False)

    def nearness(self, params: Params | None) -> float:
        """:func:`nearness` of the prototype under ``params`` (it depends only on their
        ``known_means``: computed once while they stay the same array)."""
        means = None if params is None else params.known_means
        if means is None:
            return 0.0
        if not self._nearness or self._nearness[0][0] is not means:
            self._nearness[:] = [(means, float(nearness(self.prototype[None], params)[0]))]
        return self._nearness[0][1]

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
            raise ModelWordTaken(f"{word!r} is one of the model's words")
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

    def nearness(self, params: Params | None) -> npt.NDArray[np.float64]:
        """Each word's :meth:`CustomWord.nearness` ``(words,)``, in :meth:`words` order."""
        return np.array([w.nearness(params) for w in self._words.values()], np.float64)


# ------------------------------------------------------------------ scoring


def score_terms(
    embeddings: npt.NDArray[np.floating],
    prototypes: npt.NDArray[np.floating],
    params: Params,
    word_nearness: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.float64]:
    """The terms of each custom word's logit ``(B, K, 4)`` in :data:`TERMS` order (``cos``, 1,
    the drawing's nearness, the word's nearness) for ``embeddings`` ``(B, D)`` and ``K``
    prototypes; ``word_nearness`` ``(K,)`` is the prototypes' :func:`nearness` (computed
    when not given)."""
    f = features(embeddings, params).astype(np.float64)
    protos = np.asarray(prototypes, np.float64)
    cos = f @ protos.T
    near_x = nearness(f, params)
    near_k = nearness(protos, params) if word_nearness is None else np.asarray(word_nearness, np.float64)
    b, k = cos.shape
    return np.stack(
        [cos, np.ones_like(cos), np.broadcast_to(near_x[:, None], (b, k)), np.broadcast_to(near_k[None, :], (b, k))],
        axis=2,
    )


def combined_logits(
    scores: npt.NDArray[np.floating],
    embeddings: npt.NDArray[np.floating],
    prototypes: npt.NDArray[np.floating],
    params: Params,
    word_nearness: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.float64]:
    """Logits ``(B, C + K)``: the model's ``log p`` for its ``C`` words, then each of ``K``
    custom words' logit (:func:`score_terms` weighed by ``params.weights``) for rows of
    ``scores`` ``(B, C)`` and ``embeddings`` ``(B, D)``."""
    logp = np.log(np.clip(np.asarray(scores, np.float64), 1e-30, 1.0))
    if len(prototypes) == 0:
        return logp
    custom = score_terms(embeddings, prototypes, params, word_nearness) @ params.weights
    return np.concatenate([logp, custom], axis=1)


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
    protos, near = vocabulary.prototypes(), vocabulary.nearness(params)
    logits = combined_logits(np.asarray(scores)[None], np.asarray(embedding)[None], protos, params, near)[0]
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
