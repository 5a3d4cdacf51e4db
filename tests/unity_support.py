"""Helpers the Unity client's test modules share (no test module imports another): where the package and
the C# harnesses are, compiling with mcs, running under Mono (JIT or fully ahead of time), free ports, and
FaultServer, a WebSocket server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.conftest import ROOT

UNITY = ROOT / "unity_client"
HARNESS = ROOT / "tests" / "unity" / "Harness.cs"
ROOM_HARNESS = ROOT / "tests" / "unity" / "RoomHarness.cs"
BEHAVIOUR_HARNESS = ROOT / "tests" / "unity" / "BehaviourHarness.cs"
STUB = ROOT / "tests" / "unity" / "UnityEngineStub.cs"
SAMPLE = UNITY / "Samples~" / "DrawWithMouse"
GAME_SAMPLE = UNITY / "Samples~" / "DoodleToLife"
SAMPLES = (SAMPLE, GAME_SAMPLE)


def mcs(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("mcs") is None or shutil.which("mono") is None:
        pytest.fail("Mono's mcs/mono are missing: run scripts/setup.sh (apt packages mono-mcs, mono-runtime)")
    return subprocess.run(
        ["mcs", "-langversion:7.2", "-warnaserror", *args], capture_output=True, text=True, timeout=300
    )


def sources() -> tuple[list[Path], list[Path]]:
    """The runtime's and the samples' C# files split into (plain .NET, needs UnityEngine)."""
    files = sorted([*(UNITY / "Runtime").rglob("*.cs"), *(f for sample in SAMPLES for f in sample.rglob("*.cs"))])
    engine = [f for f in files if re.search(r"^\s*using\s+UnityEngine\b", f.read_text(encoding="utf-8"), re.M)]
    return [f for f in files if f not in engine], engine


def build_harness(folder: Path) -> Path:
    """Harness.exe (Harness.cs and its rooms part) built in ``folder`` from the plain client files, or fail."""
    plain, _ = sources()
    names = {f.name for f in plain}
    assert {"DoodleClient.cs", "MsgPack.cs", "Messages.cs", "RoomMessages.cs"} <= names, names
    exe = folder / "Harness.exe"
    r = mcs(f"-out:{exe}", *map(str, plain), str(HARNESS), str(ROOM_HARNESS))
    assert r.returncode == 0, r.stdout + r.stderr
    return exe


def build_aot_harness(harness: Path, folder: Path) -> Path:
    """A copy of ``harness`` in ``folder`` with the framework it loads, all compiled fully ahead of time."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in aot_framework().glob("*.dll*"):
        shutil.copy(f, folder / f.name)
    exe = folder / harness.name
    shutil.copy(harness, exe)
    mono_aot(folder, exe)
    return exe


# Full ahead-of-time compilation (no JIT at run time), a stand-in for IL2CPP: the framework
# assemblies the harness loads, compiled once per Mono version into build/ (about 30 s).
AOT_CACHE = ROOT / "build" / "unity-aot"
AOT_FRAMEWORK = ("mscorlib", "System", "System.Core", "Mono.Security", "System.Configuration", "System.Xml")
AOT_FRAMEWORK += ("System.Numerics", "System.Security")


def mono_aot(folder: Path, assembly: Path) -> None:
    r = subprocess.run(
        ["mono", "--aot=full", str(assembly)],
        env={"MONO_PATH": str(folder), "PATH": "/usr/bin:/bin"},
        cwd=folder,  # where a crashing Mono writes its mono_crash.*.json
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0 and assembly.with_name(assembly.name + ".so").is_file(), (
        r.stdout[-2000:] + r.stderr[-2000:]
    )


def aot_framework() -> Path:
    """A folder of the framework assemblies with their full-AOT images (.dll.so), built once per Mono version."""
    version = subprocess.run(["mono", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    folder = AOT_CACHE / re.sub(r"[^\w.]+", "_", version)[:80]
    if (folder / "done").is_file():
        return folder
    building = AOT_CACHE / f"building-{time.time_ns()}"
    building.mkdir(parents=True)
    for name in AOT_FRAMEWORK:
        src = Path("/usr/lib/mono/4.5") / f"{name}.dll"
        if not src.is_file():
            src = next(Path("/usr/lib/mono/gac").glob(f"{name}/*/{name}.dll"))
        shutil.copy(src.resolve(), building / src.name)
    for dll in sorted(building.glob("*.dll")):
        mono_aot(building, dll)
    (building / "done").touch()
    try:
        building.rename(folder)
    except OSError:  # another test process finished first
        shutil.rmtree(building)
    return folder


def run(exe: Path, *args: str, timeout_s: float = 60, aot: bool = False) -> list[dict[str, Any]]:
    cmd, env = ["mono", str(exe), *args], None
    if aot:  # every method precompiled; a method the AOT compiler could not handle fails here, as in IL2CPP
        cmd, env = ["mono", "--full-aot", str(exe), *args], {"MONO_PATH": str(exe.parent), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=exe.parent)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FaultServer:
    """A WebSocket server on a free port that sends a welcome and then misbehaves as ``mode`` says.

    ``hang``: answers the first ``hello`` of a connection, then nothing (a server that stopped
    answering: Wi-Fi hand-over, suspended phone). ``close``: closes (1000) right after the welcome.
    ``too_big``: closes with 1009 on the first message. ``record``: answers every ``hello``, nothing
    else. ``received[i]`` lists the message types the i-th connection sent; ``gaps_s`` the time from
    each server-side close to the next connection (the client's wait, plus its connect time).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.received: list[list[str]] = []
        self.opened: list[float] = []
        self.closed: list[float] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def gaps_s(self) -> list[float]:
        return [opened - closed for closed, opened in zip(self.closed, self.opened[1:], strict=False)]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        stop = self._stop
        assert stop is not None
        self._loop.call_soon_threadsafe(stop.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(self._handle, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    async def _handle(self, ws: ServerConnection) -> None:
        got: list[str] = []
        self.received.append(got)
        self.opened.append(time.monotonic())
        try:
            await self._misbehave(ws, got)
        except ConnectionClosed:
            pass  # the client gave up on us: what the tests want

    async def _misbehave(self, ws: ServerConnection, got: list[str]) -> None:
        welcome = {"type": "welcome", "protocol": 1, "session": f"fault-{len(self.received)}", "model": "none"}
        await ws.send(msgpack.packb({**welcome, "classes": 1, "limits": {}, "protocol_minor": 1, "features": []}))
        if self.mode == "close":
            self.closed.append(time.monotonic())
            await ws.close(1000, "bye")
            return
        answered_hello = False
        async for frame in ws:
            msg = msgpack.unpackb(frame) if isinstance(frame, bytes) else {}
            got.append(str(msg.get("type")))
            if self.mode == "too_big":
                self.closed.append(time.monotonic())
                await ws.close(1009, "frame too large")
                return
            if msg.get("type") == "hello" and (not answered_hello or self.mode == "record"):
                answered_hello = True
                await ws.send(msgpack.packb({"type": "hello", "seq": msg.get("seq"), "protocol": 1, "live_ms": 0}))
