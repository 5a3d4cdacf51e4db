"""Teaching words by drawing (protocol v1.1 ``teach`` and ``forget``).

:class:`Teaching` is installed only for a model that can have custom words
(:attr:`server.ranking.Ranker.teachable`: an embedding output and fitted ``custom_words``
parameters in ``model.json``); it then offers ``"teach"`` in ``welcome.features``.  Its
messages, replies and error codes are in :mod:`server.teach_protocol`.

Promises:

* ``teach {"word", "drawings", "scope"}`` turns each example drawing into one vector
  (:mod:`server.custom_words`: the drawing and its augmented copies are rendered on the
  render pool in the session's lane, embedded through the micro-batcher, and their
  features under the model's custom-word parameters averaged by
  :func:`server.custom_words.example_vectors`, the function the evaluation uses) and
  adds them to ``word`` in the scope's vocabulary, creating it; the reply is
  ``{"type": "taught", "word", "examples", "scope"}`` with the word's example count.
* ``"scope": "session"`` (the default): the session's own vocabulary, stored nowhere,
  gone with the session.  ``"scope": "server"``: the server's vocabulary, seen by every
  session of this process, stored in the history database (table ``custom_words``, by
  model name and feature space, :attr:`Teaching.key`) and loaded again at start.  The
  stored vectors are features under the transform they were taught with: after the
  model's parameters are refitted with another transform (``power``, ``center``), the
  words stored before stay in the database but are not loaded (they would score as
  noise); teach them again.  With a database several instances share
  (``--db postgresql://``, ``shared``), each instance reads the stored words again when
  any instance changed them (it looks every ``CUSTOM_WORDS_SYNC_S``; a teach or forget
  on this instance is applied from the database at once), so a word taught on one
  instance is used by all within ``CUSTOM_WORDS_SYNC_S`` plus a database read.  It
  needs ``admin_token`` on the message equal to the server's ``--admin-token``
  (compared in constant time); without one configured, or with a wrong or missing one,
  it answers ``forbidden``; wrong tokens are logged and throttled per address
  (:class:`server.admin.AdminGate`: ``rate_limited``).
* The example images wait for the model behind every pen-up and live guess
  (:attr:`server.infer.Priority.BULK`, in the session's turn), and render in the session's
  lane within its address's render budget (:mod:`server.render_pool`), so a ``teach``
  delays other players by at most a model call.
* Refused before any work: more example drawings than the sessions of the client's
  address may still teach this minute (``rate_limited``: ``max_teach_examples_per_minute``,
  a token bucket per address holding a minute's worth), a model word, or for a session a server custom word
  (``word_taken``); a new word past the vocabulary's size (``too_many_words``: a
  session's ``max_custom_words``, the server's ``max_server_custom_words``); a word
  that would hold more than ``max_custom_examples_per_word`` examples
  (``too_many_examples``).
* ``forget {"word", "scope"}`` removes the word (server scope: the admin token, and the
  stored examples too) and answers ``{"type": "forgotten", "word", "scope"}``; a word the
  scope does not hold answers ``unknown_word``.  A forgotten word drops out of word lists
  and targets that named it.
"""

from __future__ import annotations

import asyncio
import logging
import math

import numpy as np

from server import protocol
from server import teach_protocol as wire
from server.admin import AdminGate
from server.custom_words import CustomVocabulary, CustomWordError, example_images
from server.errors import ErrorCode, LimitExceeded, StoreError, StoreFailed, UnknownWord
from server.infer import Priority
from server.limits import CUSTOM_WORDS_SYNC_S, MAX_TEACH_EXAMPLES_PER_MINUTE
from server.periodic import Periodic
from server.plugin import Conversation, Registry, Services
from server.ranking import Ranker
from server.ratelimit import PerAddress
from server.stores import CustomWordStore, SharedCustomWordStore
from server.teach_protocol import ForgetMsg, TeachCode, TeachMsg, WordTaken

log = logging.getLogger("doodlestream.teach")


class Teaching:
    """The ``teach`` feature; server-scope words kept in ``store`` (``None``: in memory only), or in ``shared``,
    a store other instances change too."""

    def __init__(
        self,
        store: CustomWordStore | None,
        *,
        admin_token: str | None,
        shared: SharedCustomWordStore | None = None,
        examples_per_minute: int = MAX_TEACH_EXAMPLES_PER_MINUTE,
        admin: AdminGate | None = None,
    ) -> None:
        self.store: CustomWordStore | None = shared or store
        #: The admin-token check (shared with the history's ``moderate`` when the server passes one).
        self.admin = admin or AdminGate(admin_token)
        self.examples_per_minute = examples_per_minute
        #: Per client address: the example drawings it may still teach (refilled at ``examples_per_minute``).
        self._allowance = PerAddress(examples_per_minute / 60.0, examples_per_minute)
        self.admin_token = admin_token
        self.shared = shared
        self._services: Services | None = None
        #: The shared database's custom-words version last applied (``None``: none yet).
        self._version: int | None = None
        self._sync_lock = asyncio.Lock()
        self._syncing = Periodic(
            self.sync, interval_s=CUSTOM_WORDS_SYNC_S, name="custom-words-sync", what="reading custom words", log=log
        )

    @property
    def services(self) -> Services:
        assert self._services is not None, "not installed"
        return self._services

    @property
    def ranker(self) -> Ranker:
        return self.services.ranker

    def install(self, registry: Registry) -> None:
        self._services = registry.services
        if not self.ranker.teachable:
            return
        registry.errors(TeachCode)
        registry.handle("teach", wire.parse_teach, self.on_teach)
        registry.handle("forget", wire.parse_forget, self.on_forget, feature="teach")
        if self.shared is not None:
            registry.on_start(self.start_sync)
            registry.on_close(self._syncing.stop)
        elif self.store is not None:
            registry.on_start(self.load)

    @property
    def key(self) -> str:
        """What the stored words are filed under: the model's name and its feature space
        (:attr:`server.custom_words.Params.space`), so vectors made in another space are never mixed in."""
        assert self.ranker.params is not None
        return f"{self.services.model.name}@{self.ranker.params.space}"

    async def load(self) -> None:
        """Start hook: the stored server-scope words of this model (after the history opened its database)."""
        assert self.store is not None
        loaded = 0
        for word, vectors in await self.store.custom_words(self.key):
            try:
                self.ranker.server.teach(word, np.asarray(vectors, np.float32)[-self.ranker.max_examples :])
                loaded += 1
            except CustomWordError as e:
                log.warning("stored custom word %r skipped: %s", word, e)
        if loaded:
            log.info("%d server-scope custom words loaded", loaded)

    async def sync(self) -> None:
        """Shared database: make the server's words the stored ones, if any instance changed them since last time."""
        assert self.shared is not None
        async with self._sync_lock:
            version, words = await self.shared.custom_words_since(self.key, self._version)
            if words is None:
                return
            vocabulary = self.ranker.server
            for word in vocabulary.words():
                vocabulary.forget(word)
            for word, vectors in words:
                try:
                    vocabulary.teach(word, np.asarray(vectors, np.float32)[-self.ranker.max_examples :])
                except CustomWordError as e:
                    log.warning("stored custom word %r skipped: %s", word, e)
            self._version = version

    async def start_sync(self) -> None:
        """Start hook (shared database): the stored words now, then every ``CUSTOM_WORDS_SYNC_S``."""
        await self.sync()
        self._syncing.start()

    async def _sync_now(self) -> None:
        """After this instance wrote a word: the stored words, now (the write is committed, so they hold it)."""
        try:
            await self.sync()
        except (StoreError, OSError) as e:
            raise StoreFailed(f"the custom words could not be read back ({type(e).__name__})") from None

    def _authorize(self, scope: str, token: str | None, address: str) -> None:
        if scope == "server":
            self.admin.check(token, address=address, what="server-scope words")

    def _vocabulary(self, conv: Conversation, scope: str) -> CustomVocabulary:
        return self.ranker.server if scope == "server" else conv.session.game.vocabulary

    def _check(self, vocabulary: CustomVocabulary, word: str, scope: str, adding: int) -> None:
        """Refuse a teach that cannot be honoured (before anything is rendered)."""
        if word in self.ranker.labels:
            raise WordTaken(f"{word!r} is one of the model's words")
        if scope == "session" and word in self.ranker.server:
            raise WordTaken(f"{word!r} is a server-scope custom word; teach it with scope 'server'")
        if word not in vocabulary and len(vocabulary) >= vocabulary.max_words:
            raise LimitExceeded(
                f"the {scope} scope holds at most {vocabulary.max_words} custom words; forget one first",
                code=TeachCode.TOO_MANY_WORDS,
            )
        held = len(vocabulary[word].examples) if word in vocabulary else 0
        if held + adding > vocabulary.max_examples:
            raise LimitExceeded(
                f"{word!r} would hold {held + adding} examples; at most {vocabulary.max_examples}",
                code=TeachCode.TOO_MANY_EXAMPLES,
            )

    def _charge(self, address: str, examples: int) -> None:
        """Take ``examples`` from the address's allowance, or refuse (``rate_limited``) taking none."""
        per_minute = self.examples_per_minute
        bucket = self._allowance.bucket(address)
        if not bucket.take(examples):
            raise LimitExceeded(
                f"at most {per_minute} example drawings per minute per address; "
                f"retry in {math.ceil(bucket.wait_s(examples))} s",
                code=ErrorCode.RATE_LIMITED,
            )

    async def on_teach(self, conv: Conversation, msg: TeachMsg, received: float) -> protocol.Payload:
        self._authorize(msg.scope, msg.admin_token, conv.session.address)
        vocabulary = self._vocabulary(conv, msg.scope)
        n = len(msg.drawings)
        self._check(vocabulary, msg.word, msg.scope, n)
        self._charge(conv.session.address, n)
        drawings = [list(d) for d in msg.drawings]
        images = await self.services.in_lane(conv.session, example_images, drawings, conv.session.canvas.encoding)
        owner = conv.session.id
        predictions = await asyncio.gather(
            *(self.services.predict(img, owner=owner, priority=Priority.BULK) for img in images)
        )
        vectors = self.ranker.example_vectors(np.stack([p.embedding for p in predictions]), n)
        self._check(vocabulary, msg.word, msg.scope, n)  # again: another request may have taught meanwhile
        if msg.scope == "server" and self.store is not None:
            try:
                await self.store.add_custom_word(self.key, msg.word, vectors.tolist())
            except (StoreError, OSError) as e:
                raise StoreFailed(f"the custom word could not be stored ({type(e).__name__})") from None
            if self.shared is not None:
                await self._sync_now()
                held = len(vocabulary[msg.word].examples) if msg.word in vocabulary else 0
                return protocol.with_seq(wire.taught(word=msg.word, examples=held, scope=msg.scope), msg.seq)
        taught = vocabulary.teach(msg.word, vectors)
        return protocol.with_seq(wire.taught(word=msg.word, examples=len(taught.examples), scope=msg.scope), msg.seq)

    async def on_forget(self, conv: Conversation, msg: ForgetMsg, received: float) -> protocol.Payload:
        self._authorize(msg.scope, msg.admin_token, conv.session.address)
        vocabulary = self._vocabulary(conv, msg.scope)
        if msg.word not in vocabulary:
            raise UnknownWord([msg.word], f"{msg.word!r} is not a {msg.scope}-scope custom word")
        if msg.scope == "server" and self.store is not None:
            try:
                await self.store.forget_custom_word(self.key, msg.word)
            except (StoreError, OSError) as e:
                raise StoreFailed(f"the custom word could not be removed ({type(e).__name__})") from None
            if self.shared is not None:
                await self._sync_now()
                return protocol.with_seq(wire.forgotten(word=msg.word, scope=msg.scope), msg.seq)
        vocabulary.forget(msg.word)
        return protocol.with_seq(wire.forgotten(word=msg.word, scope=msg.scope), msg.seq)
