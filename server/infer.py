"""The classifier and its micro-batcher.

:class:`Classifier` loads a model directory once (``doodle.tflite``, ``labels.txt``,
``model.json``, as written by :mod:`training.train`) and classifies batches of uint8
images with a LiteRT interpreter (TensorFlow's TFLite runtime).  One interpreter per
batch-size bucket (1, 2, 4, ... ``max_batch``): a batch is padded up to its bucket, so no
call re-allocates tensors.  It is not thread-safe; :class:`Batcher` owns it.

:class:`Batcher` is what sessions call.  ``await batcher.classify(image)`` queues the
image as a pending future; a flusher task runs up to ``max_batch`` waiting images as one
model call when ``max_batch`` are waiting or the oldest has waited ``batch_wait_ms``, in a
single worker thread so the event loop never blocks.  Results are identical to
unbatched calls.

The queue is fair (no session can buy the model for itself): each request names its
``owner`` (the session) and its :class:`Priority`.  A batch takes every waiting
:attr:`Priority.INTERACTIVE` request (pen-ups, live guesses, pictures) before any
:attr:`Priority.BULK` one (the images of a ``teach``), and within a priority one request
per owner in turn (round-robin), an owner's own requests in the order they came.  So a
pen-up waits at most for the model call in progress and its own (with fewer than
``max_batch`` other sessions' interactive requests waiting), however many ``teach``
images another session queued.  :meth:`Batcher.queue_report` gives the queue's depth and
waits (``/healthz`` ``model_queue``, ``/metrics``).  ``await batcher.predict(image)`` is the same request
for the whole :class:`Prediction`: every calibrated score and the embedding (the
model's second output; width 0 for a model without one), from the same batched call
(``Model.predict_with_embedding`` when the model has it).  If a batch call fails, each of its images is
retried alone, so one failing input fails only its own request (with
:class:`server.errors.InferenceFailed`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import deque
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from server.errors import InferenceFailed, ModelError
from server.limits import BATCH_WAIT_MS, MAX_BATCH
from server.render import PICTURE, Encoding, render_params

log = logging.getLogger("doodlestream.infer")

_PACKAGE = Path(__file__).resolve().parent
#: The shipped model: inside the package when installed (``pip install .`` copies it to
#: ``server/models/``), else the checkout's ``models/``.
DEFAULT_MODEL_DIR = (
    _PACKAGE / "models" if (_PACKAGE / "models" / "doodle.tflite").is_file() else _PACKAGE.parent / "models"
)
TOP_K = 5

Images = npt.NDArray[np.uint8]
Probs = npt.NDArray[np.float32]
Embeddings = npt.NDArray[np.float32]
Top = list[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Prediction:
    """One image's calibrated ``scores`` ``(classes,)`` and its ``embedding`` ``(D,)`` (``D`` may be 0)."""

    scores: Probs
    embedding: Embeddings


class Model(Protocol):
    """What the batcher needs of a model: labels and a batch prediction."""

    labels: list[str]
    name: str

    def predict(self, images: Images) -> Probs: ...


def apply_temperature(probs: npt.NDArray[np.floating], temperature: float) -> Probs:
    """Calibrated scores ``softmax(log p / T)`` of probabilities ``p`` (one row each): the
    ranking is unchanged, only the confidence moves (:mod:`training.calibrate`)."""
    logp = np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    scores: Probs = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return scores


def calibration_temperature(meta: dict[str, object], model_dir: Path) -> float:
    """``model.json``'s ``calibration.temperature`` (1.0 when the model has none)."""
    calibration = meta.get("calibration", {})
    value = calibration.get("temperature", 1.0) if isinstance(calibration, dict) else None
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0.01 <= value <= 100:
        raise ModelError(f"{model_dir / 'model.json'}: calibration.temperature must be a number in 0.01..100")
    return float(value)


def check_render_params(meta: dict[str, object], model_dir: Path) -> Encoding:
    """The input :class:`server.render.Encoding` a model records; refuse a model trained on
    other pictures than :mod:`server.render` draws: its ``model.json`` must record ``render``
    parameters equal to :func:`render_params` of that encoding (a model that records no
    ``channels`` takes :data:`server.render.PICTURE`, as every model up to recipe r2)."""
    recorded = meta.get("render")
    if not isinstance(recorded, dict):
        raise ModelError(
            f"{model_dir / 'model.json'} does not record the renderer's parameters ('render'); "
            "retrain with training/train.py, which records them"
        )
    try:
        encoding = Encoding.of(recorded)
    except ValueError as e:
        raise ModelError(f"{model_dir / 'model.json'}: {e}") from None
    ours = render_params(encoding)
    differ = sorted(k for k in ours.keys() | recorded.keys() if recorded.get(k) != ours.get(k))
    if differ:
        detail = ", ".join(f"{k}: model {recorded.get(k)!r} vs server {ours.get(k)!r}" for k in differ)
        raise ModelError(f"{model_dir} was trained with other rendering parameters than server/render.py ({detail})")
    return encoding


def _buckets(max_batch: int) -> list[int]:
    out, b = [], 1
    while b < max_batch:
        out.append(b)
        b *= 2
    out.append(max_batch)
    return out


class Classifier:
    """A LiteRT model directory, loaded once."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, *, max_batch: int = MAX_BATCH, threads: int = 1) -> None:
        model_dir = Path(model_dir)
        tflite = model_dir / "doodle.tflite"
        labels = model_dir / "labels.txt"
        if not tflite.is_file() or not labels.is_file():
            raise ModelError(f"{model_dir} must hold doodle.tflite and labels.txt (see training/train.py)")
        self.labels = [w for w in labels.read_text(encoding="utf-8").splitlines() if w]
        meta_path = model_dir / "model.json"
        self.meta: dict[str, object] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        self.name = str(self.meta.get("name", model_dir.name))
        #: The model's input (:func:`server.render.encode` with it gives what :meth:`predict` takes).
        self.encoding = check_render_params(self.meta, model_dir)
        #: Temperature applied to every score (:func:`apply_temperature`); 1.0 = the network's own.
        self.temperature = calibration_temperature(self.meta, model_dir)
        self._content = tflite.read_bytes()
        self._threads = threads
        self.buckets = _buckets(max_batch)
        self._interpreters: dict[int, object] = {}
        #: The network's own input shape, read before any resize (checked against the encoding).
        self._native_input: tuple[int, ...] = (0,)
        first = self._interpreter(1)
        px, depth = self.encoding.input_px, self.encoding.depth
        if list(self._native_input[1:]) != [px, px, depth]:
            raise ModelError(
                f"model input {self._native_input} is not (batch, {px}, {px}, {depth}) as model.json records"
            )
        outputs = first.get_output_details()  # type: ignore[attr-defined]
        widths = [int(o["shape"][-1]) for o in outputs]
        scores = [i for i, w in enumerate(widths) if w == len(self.labels)]
        if len(scores) != 1 or len(outputs) > 2:
            raise ModelError(
                f"model outputs have widths {widths}; expected one of {len(self.labels)} (labels.txt) "
                "and at most one embedding"
            )
        self._scores_index = int(outputs[scores[0]]["index"])
        others = [o for i, o in enumerate(outputs) if i != scores[0]]
        self._embedding_index: int | None = int(others[0]["index"]) if others else None
        #: Width of the embedding output (0: the model has none).
        self.embedding_dim = widths[1 - scores[0]] if others else 0

    def _interpreter(self, bucket: int) -> object:
        it = self._interpreters.get(bucket)
        if it is None:
            from ai_edge_litert.interpreter import Interpreter

            it = Interpreter(model_content=self._content, num_threads=self._threads)
            detail = it.get_input_details()[0]
            idx = detail["index"]
            self._native_input = tuple(int(v) for v in detail["shape"])
            px = self.encoding.input_px
            it.resize_tensor_input(idx, [bucket, px, px, self.encoding.depth])
            it.allocate_tensors()
            self._interpreters[bucket] = it
        return it

    def warm_up(self) -> None:
        """Create every bucket's interpreter and run it once (no first-call latency)."""
        for b in self.buckets:
            self.predict(np.zeros((b, *self.encoding.shape), np.uint8))

    def predict(self, images: Images) -> Probs:
        """``(B, *encoding.shape)`` uint8 (``(B, 64, 64)`` or ``(B, 64, 64, 1)`` for one channel) ->
        ``(B, classes)`` calibrated scores."""
        return self.predict_with_embedding(images)[0]

    def predict_with_embedding(self, images: Images) -> tuple[Probs, Embeddings]:
        """Calibrated scores ``(B, classes)`` and embeddings ``(B, embedding_dim)`` (unit
        length; ``(B, 0)`` for a model without an embedding output) in one model call."""
        n = len(images)
        bucket = next((b for b in self.buckets if b >= n), None)
        if bucket is None:
            parts = [
                self.predict_with_embedding(images[i : i + self.buckets[-1]]) for i in range(0, n, self.buckets[-1])
            ]
            return np.concatenate([p for p, _ in parts]), np.concatenate([e for _, e in parts])
        px, depth = self.encoding.input_px, self.encoding.depth
        x = np.zeros((bucket, px, px, depth), np.float32)
        x[:n] = images.reshape(n, px, px, depth)
        it = self._interpreter(bucket)
        it.set_tensor(it.get_input_details()[0]["index"], x)  # type: ignore[attr-defined]
        it.invoke()  # type: ignore[attr-defined]
        out: Probs = it.get_tensor(self._scores_index)  # type: ignore[attr-defined]
        scores = apply_temperature(out[:n], self.temperature) if self.temperature != 1.0 else out[:n].copy()
        if self._embedding_index is None:
            return scores, np.zeros((n, 0), np.float32)
        emb: Embeddings = it.get_tensor(self._embedding_index)  # type: ignore[attr-defined]
        return scores, emb[:n].copy()


def top_k(labels: list[str], probs: Probs, k: int = TOP_K) -> Top:
    """The ``k`` most likely words with their probabilities, best first."""
    k = min(k, len(probs))
    idx = np.argpartition(-probs, k - 1)[:k]
    idx = idx[np.argsort(-probs[idx], kind="stable")]
    return [(labels[i], float(probs[i])) for i in idx]


class Priority(IntEnum):
    """Which requests a batch takes first: every waiting :attr:`INTERACTIVE` one (pen-ups, live
    guesses, pictures) before any :attr:`BULK` one (``teach`` examples)."""

    INTERACTIVE = 0
    BULK = 1


@dataclass
class BatchStats:
    """Counters of a :class:`Batcher` (for /healthz and benchmarks)."""

    requests: int = 0
    batches: int = 0
    failures: int = 0
    largest: int = 0
    model_ms: float = 0.0
    sizes: dict[int, int] = field(default_factory=dict)
    #: Seconds requests waited in the queue before their model call began, all together.
    queue_wait_s: float = 0.0
    #: The longest wait of one request in the queue, in milliseconds.
    queue_wait_max_ms: float = 0.0


@dataclass(slots=True)
class _Request:
    image: Images
    future: asyncio.Future[Prediction]
    #: Event-loop time it was queued.
    queued: float


class Batcher:
    """Micro-batches classification requests from every session (see module docstring)."""

    def __init__(self, model: Model, *, max_batch: int = MAX_BATCH, batch_wait_ms: float = BATCH_WAIT_MS) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.model = model
        self.max_batch = max_batch
        self.batch_wait_s = max(0.0, batch_wait_ms) / 1000.0
        self.stats = BatchStats()
        #: Per priority, each owner's waiting requests; an owner's place in the dict is its turn.
        self._queues: tuple[dict[Hashable, deque[_Request]], ...] = tuple({} for _ in Priority)
        self._depth = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infer")

    async def start(self) -> None:
        """Start the flusher task on the running loop."""
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="batcher")

    async def close(self) -> None:
        """Finish every pending request, then stop."""
        while self._depth:
            await asyncio.sleep(0.001)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._executor.shutdown(wait=True)

    @property
    def in_flight(self) -> int:
        """Requests waiting for a model call (the queue's depth)."""
        return self._depth

    def queue_report(self) -> dict[str, float | int]:
        """The model queue now: its ``depth`` (requests), the ``oldest_wait_ms`` of a waiting request, the
        ``owners`` waiting, and since start the requests' summed ``wait_s`` and ``max_wait_ms``."""
        heads = [q[0].queued for queues in self._queues for q in queues.values() if q]
        oldest = (asyncio.get_running_loop().time() - min(heads)) * 1000 if heads else 0.0
        return {
            "depth": self._depth,
            "owners": sum(len(queues) for queues in self._queues),
            "oldest_wait_ms": round(oldest, 3),
            "wait_s": round(self.stats.queue_wait_s, 6),
            "max_wait_ms": round(self.stats.queue_wait_max_ms, 3),
        }

    async def classify(self, image: Images, *, owner: Hashable = None) -> Top:
        """Top-5 words for one ``(64, 64)`` uint8 image; raises :class:`InferenceFailed`."""
        return top_k(self.model.labels, (await self.predict(image, owner=owner)).scores)

    async def predict(
        self, image: Images, *, owner: Hashable = None, priority: Priority = Priority.INTERACTIVE
    ) -> Prediction:
        """Every score and the embedding of one uint8 model input (the model's
        :attr:`Classifier.encoding` shape; ``(64, 64)`` for most); raises :class:`InferenceFailed`.

        ``owner`` (a session) and ``priority`` place it in the queue (see module docstring)."""
        shape = getattr(self.model, "encoding", PICTURE).shape
        if image.shape[:2] != shape[:2] or image.size != math.prod(shape) or image.dtype != np.uint8:
            raise InferenceFailed(f"image must be uint8 of shape {shape}, got {image.shape} {image.dtype}")
        if self._task is None:
            await self.start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Prediction] = loop.create_future()
        queues = self._queues[priority]
        queue = queues.get(owner)
        if queue is None:
            queue = queues[owner] = deque()
        queue.append(_Request(image, fut, loop.time()))
        self._depth += 1
        assert self._wakeup is not None
        self._wakeup.set()
        return await fut

    def _take(self) -> list[_Request]:
        """The next batch: up to ``max_batch`` requests, one per owner in turn, interactive ones first."""
        batch: list[_Request] = []
        for queues in self._queues:
            while queues and len(batch) < self.max_batch:
                owner = next(iter(queues))
                queue = queues.pop(owner)
                batch.append(queue.popleft())
                if queue:
                    queues[owner] = queue  # to the back of the round
        self._depth -= len(batch)
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._depth:
                continue
            if self._depth < self.max_batch and self.batch_wait_s > 0:
                deadline = loop.time() + self.batch_wait_s
                while self._depth < self.max_batch:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), left)
                    except TimeoutError:
                        break
                    self._wakeup.clear()
            batch = self._take()
            if self._depth:
                self._wakeup.set()
            live = [r for r in batch if not r.future.done()]
            if not live:
                continue
            now = loop.time()
            s = self.stats
            for r in live:
                waited = now - r.queued
                s.queue_wait_s += waited
                s.queue_wait_max_ms = max(s.queue_wait_max_ms, waited * 1000)
            results = await loop.run_in_executor(self._executor, self._predict, [r.image for r in live])
            for r, res in zip(live, results, strict=True):
                if r.future.done():
                    continue
                if isinstance(res, BaseException):
                    r.future.set_exception(res)
                else:
                    r.future.set_result(res)

    def _call(self, images: Images) -> list[Prediction]:
        """One model call: scores and embeddings (an empty embedding when the model has none)."""
        with_embedding = getattr(self.model, "predict_with_embedding", None)
        if with_embedding is not None:
            probs, emb = with_embedding(images)
        else:
            probs = self.model.predict(images)
            emb = np.zeros((len(images), 0), np.float32)
        if len(probs) != len(images) or len(emb) != len(images):
            raise ValueError(f"the model answered {len(probs)} rows for {len(images)} images")
        return [Prediction(p, e) for p, e in zip(probs, emb, strict=True)]

    def _predict(self, images: list[Images]) -> list[Prediction | InferenceFailed]:
        """Runs in the worker thread: one model call, or one per image after a failure."""
        t = time.perf_counter()
        out: list[Prediction | InferenceFailed]
        try:
            out = list(self._call(np.stack(images)))
        except Exception:
            log.exception("batch of %d failed; retrying each alone", len(images))
            out = []
            for img in images:
                try:
                    out.append(self._call(img[None])[0])
                except Exception as e:
                    self.stats.failures += 1
                    out.append(InferenceFailed(f"the model failed on this input: {type(e).__name__}"))
        s = self.stats
        s.requests += len(images)
        s.batches += 1
        s.largest = max(s.largest, len(images))
        s.sizes[len(images)] = s.sizes.get(len(images), 0) + 1
        s.model_ms += (time.perf_counter() - t) * 1000
        return out
