"""The adversarial phase: a neighbour's pen-up latency while another client attacks, in each of :data:`ATTACKS`.

:func:`run` starts the **attacker** in its own process (``python -m bench.adversary URL
SECONDS [KIND]``, so the attack's client work never delays the neighbour's clock) and
measures, in this process, one **neighbour** session that draws small strokes, times
each ``pen_up`` to its guesses, and every ``SUBMIT_EVERY`` pen-ups submits its drawing
(the **victim**: each ``submit`` answered ``saved`` or not).  The kinds:

* ``costly``: one session sending the costliest drawing messages (below).
* ``teach``: ``TEACHERS`` sessions of one address, each sending the costliest legal
  ``teach`` in a loop (``max_teach_drawings`` examples of ``max_teach_points_per_drawing``
  zigzag points; ``forget`` when the word is full), whatever the answer.
* ``reader``: first plants ``PLANTED`` drawings of about ``PLANTED_KB`` each (submitted),
  then ``READERS`` anonymous loops reading ``/api/doodles?limit=200``, ``/gallery?limit=200``
  and thumbnails as fast as they are answered (refusals, 429, counted).

Promises of the ``costly`` kind:

* The attacker stays within every limit the server announces in ``welcome`` (it is a
  legal client) and sends what costs the server most: live guesses at the shortest
  interval; strokes of ``max_points_per_stroke`` points zigzagging across the whole
  drawing, in ``max_points_per_message`` chunks; until its drawing is full, a new such
  stroke in the drawing's box each cycle; then each cycle a stroke that grows the box
  (every stroke normalized again, while drawn and on pen-up), an ``undo`` of it (the box
  shrinks back: everything again), and an ``image`` of ``max_image_pixels`` pixels.
  It answers a refusal (``drawing_too_large``, ``too_many_strokes``) by undoing one
  stroke and going on, so its drawing stays full.
* :func:`run` returns the neighbour's latencies (count, p50, p99, max, in ms), the
  victim's submits (``saved``, ``failed`` with codes) and what the attacker got done
  (messages, guesses, errors by code or HTTP status), as plain JSON-able data.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import cv2
import msgpack
import numpy as np
from websockets.exceptions import ConnectionClosed

from bench.drawings import ROOT
from bench.metrics import summarize
from replay_client.client import DoodleClient, Msg

#: Side of the attacker's drawing box, and of the stroke that grows it, in client pixels.
BOX_PX = 1_000.0
GROW_PX = 2_000.0
#: How long the neighbour waits after the attack starts before it measures, in seconds.
START_S = 0.5
#: How long the attacker may take to finish its last cycle and exit, in seconds.
ATTACKER_EXIT_S = 300.0
#: Codes the attacker answers by undoing a stroke (its drawing is full).
FULL_CODES = frozenset({"drawing_too_large", "too_many_strokes"})
#: The kinds of attack (see module docstring), in the order the benchmark runs them.
ATTACKS = ("costly", "teach", "reader")
#: Sessions of the teach attack (one address), in sessions.
TEACHERS = 8
#: Drawings the reader attack plants, in drawings, and the size of each (its strokes), in KB.
PLANTED = 40
PLANTED_KB = 150
#: Concurrent anonymous reading loops of the reader attack, in loops.
READERS = 4
#: The loopback address the attacker connects from (the neighbour uses 127.0.0.1): the server's
#: per-address limits see two clients, as they would two machines.
ATTACKER_ADDRESS = "127.0.0.2"
#: The neighbour submits its drawing every this many pen-ups (then starts a new one), in pen-ups.
SUBMIT_EVERY = 8


def zigzag(n: int, side: float, phase: float = 0.0) -> tuple[list[float], list[float]]:
    """``n`` points zigzagging across a ``side`` square: x alternates between the edges, y climbs."""
    i = np.arange(n)
    x = np.where(i % 2 == 0, 0.0, side)
    y = (i + phase) * side / max(1, n)
    return x.tolist(), np.clip(y, 0.0, side).tolist()


def costly_png(max_pixels: int, max_bytes: int) -> bytes | None:
    """The largest square picture within ``max_pixels`` whose PNG fits ``max_bytes`` (dark lines on white)."""
    side = math.isqrt(max_pixels)
    while side >= 64:
        img = np.full((side, side), 255, np.uint8)
        for k in range(0, 2 * side, 16):
            cv2.line(img, (k, 0), (0, k), 0, 3)
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if ok and len(buf) <= max_bytes:
            return bytes(buf)
        side //= 2
    return None


def chunks(x: list[float], y: list[float], size: int) -> list[bytes]:
    """``points`` frames of at most ``size`` points each."""
    return [
        msgpack.packb({"type": "points", "x": x[i : i + size], "y": y[i : i + size]}) for i in range(0, len(x), size)
    ]


@dataclass
class AttackStats:
    """What the attacker sent and got back."""

    messages: int = 0
    guesses: int = 0
    live_guesses: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "guesses": self.guesses,
            "live_guesses": self.live_guesses,
            "errors": dict(self.errors),
        }


class Attacker:
    """One legal session sending the costliest messages (see module docstring)."""

    def __init__(self, client: DoodleClient) -> None:
        self.c = client
        lim = client.welcome["limits"]
        n, per = int(lim["max_points_per_stroke"]), int(lim["max_points_per_message"])
        self.inside = chunks(*zigzag(n, BOX_PX), per)
        self.inside_shifted = chunks(*zigzag(n, BOX_PX, phase=0.5), per)
        self.grow = chunks(*zigzag(n, GROW_PX), per)
        self.png = costly_png(int(lim["max_image_pixels"]), int(lim["max_image_bytes"]))
        self.stats = AttackStats()
        self.full = False

    async def send(self, frame: bytes) -> None:
        await self.c.send_raw(frame)
        self.stats.messages += 1

    async def answered(self, msg: Msg) -> Msg:
        """Send ``msg`` and read until its reply (live guesses and refused ``points`` counted on the way)."""
        await self.send(msgpack.packb(msg))
        while True:
            r = await self.c.recv()
            if r.get("live"):
                self.stats.live_guesses += 1
                continue
            if r.get("type") == "error":
                self.stats.errors[str(r.get("code"))] += 1
                if r.get("code") in FULL_CODES:
                    self.full = True
                if "seq" not in r:  # it answered a points message: ours is still to come
                    continue
            elif r.get("type") == "guesses":
                self.stats.guesses += 1
            if r.get("seq") == msg.get("seq"):
                return r

    async def stroke(self, frames: list[bytes]) -> None:
        for f in frames:
            await self.send(f)
        await self.answered({"type": "pen_up", "seq": self.stats.messages})

    async def cycle(self, k: int) -> None:
        if not self.full:
            await self.stroke(self.inside if k % 2 == 0 else self.inside_shifted)
        if self.full:
            await self.answered({"type": "undo", "seq": self.stats.messages})  # room for the growing stroke
            self.full = False
        await self.stroke(self.grow)
        await self.answered({"type": "undo", "seq": self.stats.messages})
        if self.png is not None:
            await self.answered({"type": "image", "png": self.png, "seq": self.stats.messages})

    async def start(self) -> None:
        """Ask for live guesses at the shortest interval."""
        lim = self.c.welcome["limits"]
        await self.answered({"type": "hello", "live_ms": int(lim.get("min_live_ms", 50)), "seq": 0})


async def attack(url: str, seconds: float, kind: str = "costly") -> dict[str, Any]:
    """Attack ``url`` with ``kind`` for ``seconds`` (then finish what is under way); prints ``attacking`` once under
    way."""
    if kind == "teach":
        return await teach_flood(url, seconds)
    if kind == "reader":
        return await read_flood(url, seconds)
    async with DoodleClient(url, open_timeout_s=60, local_addr=(ATTACKER_ADDRESS, 0)) as c:
        attacker = Attacker(c)
        await attacker.start()
        print("attacking", flush=True)
        end = time.monotonic() + seconds
        k = 0
        while time.monotonic() < end:
            await attacker.cycle(k)
            k += 1
        return attacker.stats.as_dict()


def teach_frame(limits: Msg, word: str, seq: int) -> bytes:
    """The costliest legal ``teach``: ``max_teach_drawings`` zigzags of ``max_teach_points_per_drawing`` points."""
    n = int(limits.get("max_teach_points_per_drawing", 2_048))
    per = int(limits.get("max_points_per_stroke", 8_192))
    drawings = int(limits.get("max_teach_drawings", 20))
    x, y = zigzag(n, BOX_PX)
    strokes = [{"x": x[i : i + per], "y": y[i : i + per]} for i in range(0, n, per)]
    frame: bytes = msgpack.packb({"type": "teach", "word": word, "drawings": [strokes] * drawings, "seq": seq})
    return frame


async def teach_flood(url: str, seconds: float) -> dict[str, Any]:
    """``TEACHERS`` sessions sending the costliest ``teach`` in a loop for ``seconds`` (see module docstring)."""
    stats = AttackStats()

    async def session(k: int, end: float) -> None:
        async with DoodleClient(url, open_timeout_s=60, local_addr=(ATTACKER_ADDRESS, 0)) as c:
            frame = teach_frame(c.welcome["limits"], f"flood{k}", 1)
            forget = msgpack.packb({"type": "forget", "word": f"flood{k}", "seq": 2})
            while time.monotonic() < end:
                await c.send_raw(frame)
                stats.messages += 1
                r = await c.recv()
                if r.get("type") == "taught":
                    stats.guesses += 1
                elif r.get("code") == "too_many_examples":
                    await c.send_raw(forget)
                    stats.messages += 1
                    await c.recv()
                else:
                    stats.errors[str(r.get("code"))] += 1

    async def teacher(k: int, end: float) -> None:
        while time.monotonic() < end:  # closed after too many refusals in a row (1008): it comes back
            try:
                await session(k, end)
            except ConnectionClosed:
                stats.errors["closed"] += 1

    end = time.monotonic() + seconds
    tasks = [asyncio.create_task(teacher(k, end)) for k in range(TEACHERS)]
    await asyncio.sleep(0.2)
    print("attacking", flush=True)
    await asyncio.gather(*tasks)
    out = stats.as_dict()
    out["taught"] = out.pop("guesses")
    return out


def planted_drawing(kb: int) -> list[dict[str, list[float]]]:
    """Strokes whose stored record is about ``kb`` KB (zigzags of 2,048 points, about 50 KB each)."""
    return [{"x": x, "y": y} for x, y in (zigzag(2_048, BOX_PX, phase=k / 7) for k in range(max(1, kb // 50)))]


async def read_flood(url: str, seconds: float) -> dict[str, Any]:
    """Plant ``PLANTED`` big drawings, then ``READERS`` anonymous loops read listings and thumbnails for
    ``seconds`` (see module docstring)."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    ids: list[int] = []
    async with DoodleClient(url, open_timeout_s=60, local_addr=(ATTACKER_ADDRESS, 0)) as c:
        for _ in range(PLANTED):
            for s in planted_drawing(PLANTED_KB):
                await c.call({"type": "stroke", **s})
            saved = await c.call({"type": "submit", "word": "planted"})
            if saved.get("type") == "saved":
                ids.append(int(saved["id"]))
            await c.call({"type": "clear"})
    stats = AttackStats()
    statuses: Counter[str] = Counter()
    read_bytes = 0

    def get(path: str) -> None:
        nonlocal read_bytes
        conn = http.client.HTTPConnection(
            where.hostname or "127.0.0.1", where.port, timeout=30, source_address=(ATTACKER_ADDRESS, 0)
        )
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            read_bytes += len(r.read())
            statuses[str(r.status)] += 1
        except OSError as e:
            statuses[type(e).__name__] += 1
        finally:
            conn.close()

    def reader(k: int, end: float) -> None:
        i = 0
        while time.monotonic() < end:
            path = ("/api/doodles?limit=200", "/gallery?limit=200", f"/doodles/{ids[i % len(ids)] if ids else 1}.png")
            get(path[i % 3])
            stats.messages += 1
            i += 1 + k

    end = time.monotonic() + seconds
    print("attacking", flush=True)
    await asyncio.gather(*(asyncio.to_thread(reader, k, end) for k in range(READERS)))
    out = stats.as_dict()
    out.update(planted=len(ids), http_status=dict(statuses), read_mb=round(read_bytes / 1e6, 1))
    return out


async def neighbour(url: str, seconds: float, pause_s: float = 0.02) -> tuple[list[float], dict[str, Any]]:
    """A session drawing small strokes for ``seconds``: each ``pen_up``'s latency to its guesses, in ms, and
    its submits (every ``SUBMIT_EVERY`` pen-ups): ``{"saved", "failed", "codes"}``."""
    lat: list[float] = []
    submits: dict[str, Any] = {"saved": 0, "failed": 0, "codes": Counter()}
    x, y = zigzag(24, 200.0)
    points = msgpack.packb({"type": "points", "x": x, "y": y})
    async with DoodleClient(url, open_timeout_s=60) as c:
        end = time.monotonic() + seconds
        k = 0
        while time.monotonic() < end:
            await c.send_raw(points)
            start = time.perf_counter()
            r = await c.call({"type": "pen_up"})
            lat.append((time.perf_counter() - start) * 1000)
            if r.get("type") != "guesses":
                raise RuntimeError(f"the neighbour's pen-up got {r}")
            k += 1
            if k % SUBMIT_EVERY == 0:
                saved = await c.call({"type": "submit", "word": "neighbour"})
                if saved.get("type") == "saved":
                    submits["saved"] += 1
                else:
                    submits["failed"] += 1
                    submits["codes"][str(saved.get("code"))] += 1
                await c.call({"type": "clear"})
            await asyncio.sleep(pause_s)
    submits["codes"] = dict(submits["codes"])
    return lat, submits


def run(url: str, seconds: float, kind: str = "costly") -> dict[str, Any]:
    """Attack ``url`` with ``kind`` from another process for ``seconds`` while a neighbour draws; the figures."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.adversary", url, str(seconds + START_S + 1.0), kind],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "attacking":
            raise RuntimeError(f"the attacker did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(START_S)  # the attack is under way before the first measurement
        lat, submits = asyncio.run(neighbour(url, seconds))
        out, err = proc.communicate(timeout=ATTACKER_EXIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the attacker failed ({proc.returncode}): {err[-2000:]}")
    attack = json.loads(out.strip().splitlines()[-1])
    return {
        "kind": kind,
        "seconds": seconds,
        "neighbour": summarize(lat),
        "victim": submits,
        "attacker": attack,
        "latencies_ms": lat,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.adversary URL SECONDS [KIND]``: the attacker alone; prints its figures as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3) or (len(args) == 3 and args[2] not in ATTACKS):
        print(f"usage: python -m bench.adversary URL SECONDS [{'|'.join(ATTACKS)}]", file=sys.stderr)
        return 2
    kind = args[2] if len(args) == 3 else "costly"
    print(json.dumps(asyncio.run(attack(args[0], float(args[1]), kind))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
