"""``python -m bench.rooms``: the rooms phase: ``rooms`` rooms of ``players`` with human-paced drawers.

One server process (``python -m server`` with the bench's options and the room limits lifted:
every simulated player comes from 127.0.0.1).  Rooms live in the process their members
reach, so this is one instance (``--workers 1``); more instances need balancer affinity by
room code (README: Rooms, beyond one machine).

Client processes each hold whole rooms (:mod:`replay_client.rooms`): in every room one
player creates it with the longest turn (``MAX_TURN_S``), the others join, the host starts,
and the drawer replays raw drawings at their recorded pace (points per 16 ms frame, a
pen-up after each stroke, a second between drawings) while the guessers watch.  Measured
over ``window_s`` once every room plays:

* **drawer-point -> guesser latency**: from the drawer sending a ``points`` message to each
  guesser receiving it as ``drawn`` (both in one client process: one clock), p50/p99/max;
* **server CPU** (user + system, ``/proc``) per room, in cores, and the capacity it implies
  per core of server CPU (rooms and players at this pace);
* what the rooms send: ``drawn`` and ``ai`` messages per second, client CPU.

Writes ``bench/rooms_results.json`` (``--out``) and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from bench import drawings as bench_drawings
from bench import procs
from bench.metrics import cpu_seconds, summarize, tree
from replay_client.client import Msg
from replay_client.rooms import BOT_KINDS, RoomPlayer
from server.limits import MAX_TURN_S
from server.quickdraw import Drawing

#: Options of the benchmarked server beyond :data:`bench.procs.BENCH_SERVER_ARGS`: room limits per address lifted.
ROOM_SERVER_ARGS = [
    "--max-rooms-per-address",
    "1000000",
    "--max-room-joins-per-minute",
    "1000000",
    "--max-rooms",
    "1000000",
]
#: Pause of a drawer between two drawings, in seconds (as a person would).
BETWEEN_DRAWINGS_S = 1.0
#: Longest a player waits for its socket to open, in seconds (the whole lobby connects within the ramp).
OPEN_TIMEOUT_S = 60.0
#: Spacing of drawers' start offsets into the drawing list (a prime: rooms draw different drawings).
DRAWING_STRIDE = 7_919


@dataclass(frozen=True)
class RoomsSpec:
    """One rooms run."""

    url: str
    rooms: int
    players: int
    ramp_s: float  # rooms start spread over this
    warmup_s: float  # after the last room started, before the window
    window_s: float
    processes: int


def _drawings() -> list[Drawing]:
    return [s.drawing for s in bench_drawings.load(per_word=1)]


class _Room:
    """One benchmarked room in a client process: its players, and the drawer's send times to match guessers'."""

    def __init__(self, url: str, players: int) -> None:
        keep = lambda m: m.get("type") in BOT_KINDS  # noqa: E731  (drawn only goes to on_message)
        self.players = [RoomPlayer(url, keep=keep, open_timeout_s=OPEN_TIMEOUT_S) for _ in range(players)]
        #: Why the room could not play (``None``: it did).
        self.failed: str | None = None
        self.sent: list[tuple[int, float]] = []  # (first t of the message, loop time sent)
        self.samples: list[tuple[float, float]] = []  # (arrived at, latency ms)
        self.drawn = 0
        self.ai = 0

    def watcher(self) -> Any:
        index = 0

        def on_message(now: float, msg: Msg) -> None:
            nonlocal index
            kind = msg.get("type")
            if kind == "ai":
                self.ai += 1
            if kind != "drawn" or msg.get("op") != "points":
                return
            self.drawn += 1
            t = msg["t"][0] if msg.get("t") else None
            while index < len(self.sent) and self.sent[index][0] != t:
                index += 1  # a message lost to a drop: skip its send time
            if index < len(self.sent):
                self.samples.append((now, (now - self.sent[index][1]) * 1000.0))
                index += 1

        return on_message

    async def play(self, drawings: list[Drawing], first: int, stop_at: float) -> None:
        loop = asyncio.get_running_loop()
        host, *guests = self.players
        for p in self.players:
            await p.connect()
        room = await host.create("host", rounds=1, seconds=MAX_TURN_S)
        if room.get("type") != "room":
            raise RuntimeError(f"room_create: {room}")
        for i, p in enumerate(guests):
            joined = await p.join(room["code"], f"guest {i}")
            if joined.get("type") != "room":
                raise RuntimeError(f"room_join: {joined}")
        for p in guests:
            p.on_message = self.watcher()
        await host.start()

        def sent(msg: Msg) -> None:
            self.sent.append((msg["t"][0], loop.time()))

        k = first
        while loop.time() < stop_at:
            await host.draw(drawings[k % len(drawings)], speed=1.0, sent=sent)
            k += 1
            await asyncio.sleep(BETWEEN_DRAWINGS_S)
            await host.send({"type": "clear"})
        for p in self.players:
            await p.close()


async def _client(spec: RoomsSpec, ids: list[int], t0: float) -> dict[str, Any]:
    drawings = _drawings()
    loop = asyncio.get_running_loop()
    offset = loop.time() - time.monotonic()  # loop time <-> the processes' shared monotonic clock
    start = t0 + offset
    window_start = start + spec.ramp_s + spec.warmup_s
    stop_at = window_start + spec.window_s
    rooms = [_Room(spec.url, spec.players) for _ in ids]

    async def one(room: _Room, i: int) -> None:
        await asyncio.sleep(max(0.0, start + spec.ramp_s * i / max(1, spec.rooms) - loop.time()))
        try:
            await room.play(drawings, i * DRAWING_STRIDE, stop_at)
        except (OSError, RuntimeError, TimeoutError, ConnectionError, ConnectionClosed) as e:
            room.failed = f"{type(e).__name__}: {e}"
            for p in room.players:
                await p.close()

    await asyncio.gather(*(one(r, i) for r, i in zip(rooms, ids, strict=True)))
    window = [lat for r in rooms for at, lat in r.samples if window_start <= at < stop_at]
    failed = [r.failed for r in rooms if r.failed is not None]
    return {
        "latencies": window,
        "drawn": sum(r.drawn for r in rooms),
        "ai": sum(r.ai for r in rooms),
        "failed": failed,
    }


def _client_process(spec: RoomsSpec, ids: list[int], t0: float, q: Any) -> None:
    started = time.process_time()
    out = asyncio.run(_client(spec, ids, t0))
    out["cpu_s"] = time.process_time() - started
    q.put(out)


def run(spec: RoomsSpec, server_pid: int) -> dict[str, Any]:
    """Run ``spec`` against the server ``server_pid`` serves; the figures (see module docstring)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    t0 = time.monotonic() + 3.0  # every client process has loaded its drawings by then
    parts = [list(range(i, spec.rooms, spec.processes)) for i in range(spec.processes)]
    workers = [ctx.Process(target=_client_process, args=(spec, ids, t0, q)) for ids in parts if ids]
    for w in workers:
        w.start()
    window_start = t0 + spec.ramp_s + spec.warmup_s
    time.sleep(max(0.0, window_start - time.monotonic()))
    cpu0 = sum(cpu_seconds(p) for p in tree(server_pid))
    time.sleep(spec.window_s)
    cpu1 = sum(cpu_seconds(p) for p in tree(server_pid))
    outs = [q.get(timeout=spec.ramp_s + spec.warmup_s + spec.window_s + 120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    latencies = [lat for o in outs for lat in o["latencies"]]
    cores = (cpu1 - cpu0) / spec.window_s
    per_room = cores / spec.rooms
    return {
        "rooms": spec.rooms,
        "players_per_room": spec.players,
        "window_s": spec.window_s,
        "latency_ms": summarize(latencies),
        "server_cores": cores,
        "server_cpu_per_room": per_room,
        "rooms_per_core": 1 / per_room if per_room > 0 else math.inf,
        "players_per_core": spec.players / per_room if per_room > 0 else math.inf,
        "drawn_per_s": sum(o["drawn"] for o in outs) / (spec.ramp_s + spec.warmup_s + spec.window_s),
        "ai_per_s": sum(o["ai"] for o in outs) / (spec.ramp_s + spec.warmup_s + spec.window_s),
        "client_cpu_s": sum(o["cpu_s"] for o in outs),
        "client_processes": len(workers),
        "rooms_failed": sum(len(o["failed"]) for o in outs),
        "failures": [f for o in outs for f in o["failed"]][:5],
    }


def notify_hop(messages: int = 2_000) -> dict[str, Any]:
    """What shared state would add to each relayed ``drawn``: one PostgreSQL ``NOTIFY`` -> ``LISTEN`` hop.

    One message at a time on loopback (the least it can cost): the latency from ``pg_notify`` to the
    listener receiving it, and PostgreSQL's CPU per message.  Affinity by room code relays in-process
    instead (:func:`run`'s latency includes the whole server path)."""
    import psycopg  # the postgres extra: only this measurement needs it

    from bench.services import PostgresServer

    pg = PostgresServer()
    payload = json.dumps(
        {
            "type": "drawn",
            "player": "p1",
            "op": "points",
            "x": [512.5] * 3,
            "y": [300.5] * 3,
            "t": [1200, 1216, 1232],
            "room": "K7QMXT4P",
        }
    )
    try:
        with psycopg.connect(pg.url, autocommit=True) as listener, psycopg.connect(pg.url, autocommit=True) as sender:
            listener.execute("LISTEN room")
            assert pg.proc is not None
            cpu0 = sum(cpu_seconds(p) for p in tree(pg.proc.pid))
            latencies = []
            for _ in range(messages):
                start = time.perf_counter()
                sender.execute("SELECT pg_notify('room', %s)", (payload,))
                next(listener.notifies(timeout=5))
                latencies.append((time.perf_counter() - start) * 1000.0)
            cpu1 = sum(cpu_seconds(p) for p in tree(pg.proc.pid))
    finally:
        pg.stop()
    return {"latency_ms": summarize(latencies), "postgres_cpu_ms_per_message": (cpu1 - cpu0) * 1000 / messages}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rooms", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rooms", type=int, default=250)
    ap.add_argument("--players", type=int, default=4, help="players per room (one draws)")
    ap.add_argument("--ramp-s", type=float, default=60.0)
    ap.add_argument("--warmup-s", type=float, default=5.0)
    ap.add_argument("--window-s", type=float, default=30.0)
    ap.add_argument("--processes", type=int, default=2, help="client processes")
    ap.add_argument("--quick", action="store_true", help="4 rooms for a few seconds (a smoke test)")
    ap.add_argument("--notify", action="store_true", help="also measure one PostgreSQL NOTIFY hop (shared state)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "rooms_results.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.rooms, args.ramp_s, args.warmup_s, args.window_s = 4, 1.0, 1.0, 4.0
    server = procs.ours(*ROOM_SERVER_ARGS)
    try:
        spec = RoomsSpec(
            server.url, args.rooms, args.players, args.ramp_s, args.warmup_s, args.window_s, args.processes
        )
        print(f"rooms phase: {spec.rooms} rooms x {spec.players} players, window {spec.window_s:g} s", flush=True)
        result = run(spec, server.pid)
    finally:
        server.stop()
    if args.notify:
        result["notify_hop"] = hop = notify_hop()
        print(
            f"a PostgreSQL NOTIFY hop: p50 {hop['latency_ms']['p50']:.2f} ms, p99 {hop['latency_ms']['p99']:.2f} ms,"
            f" {hop['postgres_cpu_ms_per_message']:.3f} ms of PostgreSQL CPU a message",
            flush=True,
        )
    result["machine"] = {"cpus": os.cpu_count(), "loadavg_1m_after": os.getloadavg()[0]}
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lat = result["latency_ms"]
    print(
        f"drawer point -> guesser: p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms"
        f" ({lat['n']} deliveries); server {result['server_cores']:.2f} cores,"
        f" {result['server_cpu_per_room'] * 1000:.2f} ms of CPU per room-second ->"
        f" {result['rooms_per_core']:.0f} rooms ({result['players_per_core']:.0f} players) per core;"
        f" {result['rooms_failed']} rooms failed",
        flush=True,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**result, "spec": asdict(spec)}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
