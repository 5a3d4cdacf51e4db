"""The game API's ranking (protocol v1.1): word lists, ``top_k``, a target word, custom words.

numpy only; no I/O but :meth:`Ranker.for_model` reading the model's custom-word parameters
file.  :class:`Ranker` belongs to the server (one per model) and holds the
server-scope custom words; :class:`Game` belongs to one session and holds what its
``hello`` asked for and the session-scope custom words.

Contract
--------
* **Candidates.** A session's candidates are the model's words, then the server's custom
  words, then its own (a session word shadows a server word of the same name, which the
  ``teach`` handler never lets happen).  With ``Game.words`` set, only those words are
  candidates (a word forgotten since drops out).
* **Scores.** With no custom word and no word list, the scores are the model's calibrated
  scores and the top guesses are exactly :func:`server.infer.top_k`'s (protocol v1).
  Otherwise each custom word is one more logit beside the model's ``log p`` and one
  softmax over the candidates gives every score (:mod:`server.custom_words`): a word list
  renormalises the scores among its words.
* **Target.** :meth:`Ranking.target` is the target's score and its 1-based rank among all
  candidates (ties in the stable order of the candidates), whether or not it is in the top.
* **Rule.** :func:`recognizes` decides ``recognized`` by the session's ``hello.recognize``
  (:data:`RULES`; when it chose none, ``"score"`` if it set its own ``target_threshold``,
  else :data:`DEFAULT_RULE`: :attr:`Game.rule_in_force`): ``"top1"`` when the target is
  the top guess (rank 1) at a pen-up (live guesses, taken mid-stroke, do not decide: with
  them the random-target false wins measured over the aim); ``"score"`` when the target's
  score (live guesses included) reaches the session's
  ``target_threshold``, else :attr:`Ranker.threshold`: ``model.json``'s
  ``calibration.threshold_95`` (the calibrated score from which the top guess is right 95%
  of the time on the calibration half of the raw set), else :data:`FALLBACK_THRESHOLD`.
  ``python -m training.recognize_rules`` measures both, and the candidates the default was
  chosen from, on the raw set (the model card's table).
* **Almost.** :func:`almost`: the target is within the top :data:`ALMOST_RANK` and not yet
  recognized in this drawing (what a client shows as "almost!").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from server.custom_words import (
    CustomVocabulary,
    CustomWordError,
    Params,
    check_params,
    combined_logits,
    example_vectors,
    params_of,
    softmax,
)
from server.errors import ModelError, UnknownWord
from server.infer import TOP_K, Prediction, top_k
from server.limits import MAX_CUSTOM_EXAMPLES_PER_WORD, MAX_CUSTOM_WORDS, MAX_SERVER_CUSTOM_WORDS
from server.protocol import RECOGNIZE_RULES

#: ``recognized`` threshold of a model whose ``model.json`` records no ``calibration.threshold_95``,
#: as a calibrated score: a documented stand-in, not a measured precision.
FALLBACK_THRESHOLD = 0.9
#: The ``recognized`` rules a session may choose (``hello.recognize``).
RULES = RECOGNIZE_RULES
#: The rule of a session that chose none: measured by ``training.recognize_rules`` (model card).
DEFAULT_RULE = "top1"
#: ``guesses.target.almost`` while the target ranks within this many guesses, in ranks.
ALMOST_RANK = 3

Top = list[tuple[str, float]]


def threshold_of(meta: Mapping[str, object]) -> float:
    """``calibration.threshold_95`` of ``model.json`` when it is a score in (0, 1], else :data:`FALLBACK_THRESHOLD`."""
    calibration = meta.get("calibration")
    value = calibration.get("threshold_95") if isinstance(calibration, Mapping) else None
    if isinstance(value, int | float) and math.isfinite(value) and 0 < value <= 1:
        return float(value)
    return FALLBACK_THRESHOLD


@dataclass
class Game:
    """One session's game settings (from ``hello``) and its own custom words."""

    vocabulary: CustomVocabulary
    #: Only these words are ranked (``None``: every candidate).
    words: tuple[str, ...] | None = None
    top_k: int = TOP_K
    target: str | None = None
    #: The session's own ``recognized`` threshold (``None``: the server's).
    threshold: float | None = None
    #: The session's ``recognized`` rule as ``hello.recognize`` set it (``None``: see :attr:`rule_in_force`).
    rule: str | None = None
    #: Whether ``recognized`` was sent for the drawing in progress.
    recognized: bool = False

    @property
    def rule_in_force(self) -> str:
        """The session's ``recognized`` rule: its ``hello.recognize``; else ``"score"`` when it set
        its own ``target_threshold`` (a client from before ``recognize`` that asked for a
        threshold keeps getting it); else :data:`DEFAULT_RULE`."""
        if self.rule is not None:
            return self.rule
        return "score" if self.threshold is not None else DEFAULT_RULE


@dataclass(frozen=True)
class Ranking:
    """Every candidate's score for one drawing (order: :attr:`names`)."""

    names: Sequence[str]
    scores: npt.NDArray[np.floating]
    #: Candidate indices, best first (stable: ties keep the candidates' order); ``None`` on the
    #: v1 path, which needs only :attr:`v1_top` (a full sort per guess cost 8% of a loaded server).
    order: npt.NDArray[np.intp] | None
    #: The top guesses when they were computed by the v1 path (exactly ``infer.top_k``).
    v1_top: Top | None = None

    def top(self, k: int) -> Top:
        if self.v1_top is not None:
            return self.v1_top
        assert self.order is not None
        return [(self.names[i], float(self.scores[i])) for i in self.order[:k]]

    def target(self, word: str) -> tuple[float, int] | None:
        """``(score, rank)`` of ``word`` (rank 1-based, as in the stable best-first order), or
        ``None`` when it is not a candidate."""
        try:
            i = self.names.index(word)
        except ValueError:
            return None
        score = self.scores[i]
        rank = int(np.count_nonzero(self.scores > score) + np.count_nonzero(self.scores[:i] == score)) + 1
        return float(score), rank


def recognizes(rule: str, ranking: Ranking, word: str, threshold: float, *, live: bool = False) -> bool:
    """Whether ``word`` counts as recognized in ``ranking`` (a ``live`` guess or not) by ``rule``
    (see module docstring)."""
    found = ranking.target(word)
    if found is None:
        return False
    score, rank = found
    if rule == "score":
        return score >= threshold
    if rule == "top1":
        return rank == 1 and not live
    raise ValueError(f"unknown rule {rule!r}")


def almost(rank: int, recognized: bool) -> bool:
    """Whether a target ranked ``rank`` is "almost" there (see module docstring)."""
    return rank <= ALMOST_RANK and not recognized


@dataclass
class Ranker:
    """The server's ranking of predictions for sessions (see module docstring)."""

    labels: list[str]
    #: Custom-word parameters of the model (``None``: it cannot have custom words).
    params: Params | None
    threshold: float = FALLBACK_THRESHOLD
    max_session_words: int = MAX_CUSTOM_WORDS
    max_examples: int = MAX_CUSTOM_EXAMPLES_PER_WORD
    server: CustomVocabulary = field(init=False)
    max_server_words: int = MAX_SERVER_CUSTOM_WORDS

    def __post_init__(self) -> None:
        self._label_set = frozenset(self.labels)
        self.server = CustomVocabulary(
            reserved=self._label_set, max_words=self.max_server_words, max_examples=self.max_examples
        )

    @classmethod
    def for_model(
        cls,
        labels: list[str],
        meta: Mapping[str, object],
        *,
        embedding_dim: int,
        model_dir: Path | None = None,
        max_session_words: int = MAX_CUSTOM_WORDS,
        max_examples: int = MAX_CUSTOM_EXAMPLES_PER_WORD,
        max_server_words: int = MAX_SERVER_CUSTOM_WORDS,
    ) -> Ranker:
        """The ranker of a model with ``labels``, its ``model.json`` ``meta``, embedding width and
        folder (custom words need both the ``custom_words`` parameters and an embedding; their
        arrays file is read from ``model_dir``).  Parameters that are malformed or do not fit
        the model raise :class:`ModelError` saying why."""
        params = None
        if embedding_dim > 0:
            try:
                params = params_of(meta, model_dir)
                if params is not None:
                    check_params(params, len(labels), embedding_dim)
            except CustomWordError as e:
                raise ModelError(f"{model_dir or 'the model'}: {e}") from None
        return cls(
            list(labels),
            params,
            threshold_of(meta),
            max_session_words=max_session_words,
            max_examples=max_examples,
            max_server_words=max_server_words,
        )

    @property
    def teachable(self) -> bool:
        """Whether custom words can be taught (the model has an embedding and fitted parameters)."""
        return self.params is not None

    def new_game(self) -> Game:
        """A session's fresh settings and empty vocabulary (its words may not be model words).

        Every session shares the ranker's one frozenset of labels (``frozenset`` of a frozenset is
        that same object): a copy per session was 32 KB, twice an idle session's whole cost."""
        return Game(
            CustomVocabulary(reserved=self._label_set, max_words=self.max_session_words, max_examples=self.max_examples)
        )

    def known(self, word: str, game: Game) -> bool:
        return word in self._label_set or word in self.server or word in game.vocabulary

    def check_words(self, words: Sequence[str], game: Game) -> None:
        """Raise :class:`UnknownWord` naming every word the session cannot see."""
        unknown = [w for w in words if not self.known(w, game)]
        if unknown:
            raise UnknownWord(unknown)

    def example_vectors(self, embeddings: npt.NDArray[np.floating], drawings: int) -> npt.NDArray[np.float32]:
        """One vector per example drawing from the embeddings of its images
        (:func:`server.custom_words.example_images` order: each drawing then its copies)."""
        assert self.params is not None
        return example_vectors(embeddings, drawings, self.params)

    def rank(self, prediction: Prediction, game: Game) -> Ranking:
        """Every candidate of ``game``'s session scored for ``prediction`` (see module docstring)."""
        server_words = [w for w in self.server.words() if w not in game.vocabulary]
        session_words = game.vocabulary.words()
        scores = prediction.scores
        if game.words is None and not server_words and not session_words:
            return Ranking(self.labels, scores, None, v1_top=top_k(self.labels, scores, game.top_k))
        names: list[str] = list(self.labels)
        if self.params is not None and (server_words or session_words) and prediction.embedding.size:
            taught = [self.server[w] for w in server_words] + [game.vocabulary[w] for w in session_words]
            protos = np.stack([w.prototype for w in taught])
            near = np.array([w.nearness(self.params) for w in taught])
            logits = combined_logits(scores[None], prediction.embedding[None], protos, self.params, near)[0]
            names += server_words + session_words
        else:
            logits = np.log(np.clip(np.asarray(scores, np.float64), 1e-30, 1.0))
        if game.words is not None:
            where = {w: i for i, w in enumerate(names)}
            keep = sorted({where[w] for w in game.words if w in where})
            names = [names[i] for i in keep]
            logits = logits[keep]
        if not names:
            return Ranking([], np.zeros(0), np.zeros(0, np.intp))
        probs = softmax(logits)
        return Ranking(names, probs, np.argsort(-probs, kind="stable"))
