"""The adversarial phase: a neighbour's pen-up latency while another client sends the costliest legal messages.

:func:`run` starts one **attacker** session in its own process (``python -m
bench.adversary URL SECONDS``, so the attack's client
work never delays the neighbour's clock) and measures, in this process, one
**neighbour** session that draws small strokes and times each ``pen_up`` to its
guesses.  Promises:

* The attacker stays within every limit the server announces in ``welcome`` (it is a
  legal client) and sends what costs the server most: live guesses at the shortest
  interval; strokes of ``max_points_per_stroke`` points zigzagging across the whole
  drawing, in ``max_points_per_message`` chunks; until its drawing is full, a new such
  stroke in the drawing's box each cycle; then each cycle a stroke that grows the box
  (every stroke normalized again, while drawn and on pen-up), an ``undo`` of it (the box
  shrinks back: everything again), and an ``image`` of ``max_image_pixels`` pixels.
  It answers a refusal (``drawing_too_large``, ``too_many_strokes``) by undoing one
  stroke and going on, so its drawing stays full.
* :func:`run` returns the neighbour's latencies (count, p50, p99, max, in ms) and what
  the attacker got done (messages, guesses, errors by code), as plain JSON-able data.
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


async def attack(url: str, seconds: float) -> dict[str, Any]:
    """Attack ``url`` for ``seconds`` (then finish the cycle under way); prints ``attacking`` once under way."""
    async with DoodleClient(url, open_timeout_s=60) as c:
        attacker = Attacker(c)
        await attacker.start()
        print("attacking", flush=True)
        end = time.monotonic() + seconds
        k = 0
        while time.monotonic() < end:
            await attacker.cycle(k)
            k += 1
        return attacker.stats.as_dict()


async def neighbour(url: str, seconds: float, pause_s: float = 0.02) -> list[float]:
    """A session drawing small strokes for ``seconds``: each ``pen_up``'s latency to its guesses, in ms."""
    lat: list[float] = []
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
            if k % 8 == 0:
                await c.call({"type": "clear"})
            await asyncio.sleep(pause_s)
    return lat


def run(url: str, seconds: float) -> dict[str, Any]:
    """Attack ``url`` from another process for ``seconds`` while a neighbour draws; the figures."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.adversary", url, str(seconds + START_S + 1.0)],
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
        lat = asyncio.run(neighbour(url, seconds))
        out, err = proc.communicate(timeout=ATTACKER_EXIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the attacker failed ({proc.returncode}): {err[-2000:]}")
    attack = json.loads(out.strip().splitlines()[-1])
    return {"seconds": seconds, "neighbour": summarize(lat), "attacker": attack, "latencies_ms": lat}


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.adversary URL SECONDS``: the attacker alone; prints its figures as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.adversary URL SECONDS", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(attack(args[0], float(args[1])))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
