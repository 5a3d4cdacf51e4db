"""DoodleStreamBehaviour (unity_client/) against servers that misbehave, and its resume after a pause.

Fault-injection servers are small websockets servers in this process (``FaultServer``): one that
stops answering after its welcome, one that closes every connection right after its welcome, one
that answers the first message with close code 1009. tests/unity/BehaviourHarness.cs runs the
behaviour on tests/unity/UnityEngineStub.cs under Mono against them, and against the real server
for the pause/resume and game-API run. Assertions on time are lower bounds only (a loaded machine
makes waits longer, never shorter).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.unity_support import BEHAVIOUR_HARNESS, STUB, UNITY, FaultServer, aot_framework, mcs, mono_aot, sources

pytestmark = pytest.mark.mono


@pytest.fixture(scope="module")
def behaviour_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BehaviourHarness.exe: the runtime files and the harness, compiled against the UnityEngine stub."""
    out = tmp_path_factory.mktemp("unity-faults")
    stub = out / "UnityEngine.dll"
    r = mcs("-target:library", f"-out:{stub}", str(STUB))
    assert r.returncode == 0, r.stdout + r.stderr
    plain, _ = sources()
    exe = out / "BehaviourHarness.exe"
    behaviour = [UNITY / "Runtime" / "DoodleStreamBehaviour.cs", UNITY / "Runtime" / "DoodleSprites.cs"]
    r = mcs(f"-out:{exe}", f"-r:{stub}", *map(str, plain + behaviour), str(BEHAVIOUR_HARNESS))
    assert r.returncode == 0, r.stdout + r.stderr
    return exe


@pytest.fixture(scope="module")
def aot_behaviour_exe(behaviour_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BehaviourHarness.exe, the UnityEngine stub and the framework, compiled fully ahead of time."""
    folder = tmp_path_factory.mktemp("unity-faults-aot")
    for f in aot_framework().glob("*.dll*"):
        shutil.copy(f, folder / f.name)
    for name in ("UnityEngine.dll", behaviour_exe.name):
        shutil.copy(behaviour_exe.parent / name, folder / name)
    for name in ("UnityEngine.dll", behaviour_exe.name):
        mono_aot(folder, folder / name)
    return folder / behaviour_exe.name


def run_fault(exe: Path, server: FaultServer, seconds: float, play: str = "", run: str = "default") -> dict[str, Any]:
    """Runs BehaviourHarness.exe against ``server``; ``play`` (default: the server's mode) says what the game does;
    ``run`` is the transport: ``default`` (ClientWebSocketTransport) or ``lossy`` (sends only when pumped, drops
    its queue on Dispose)."""
    r = subprocess.run(
        ["mono", str(exe), "fault", server.url, play or server.mode, str(seconds), run],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        cwd=exe.parent,  # where a crashing Mono writes its mono_crash.*.json
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    summary: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["off_main_thread"] == 0
    return summary


@pytest.fixture
def hang() -> Iterator[FaultServer]:
    with FaultServer("hang") as s:
        yield s


@pytest.mark.parametrize("run", ["default", "lossy"])
def test_a_server_that_stops_answering_is_noticed_by_the_reply_timeout_and_the_keep_alive(
    behaviour_exe: Path, hang: FaultServer, run: str
) -> None:
    """An unanswered pen-up ends the connection (reply timeout); so does an unanswered keep-alive while idle."""
    s = run_fault(behaviour_exe, hang, 20, run=run)
    assert s["connected"] >= 2, s
    first, second = s["ends"][:2]
    # Connection 1: the pen-up got a seq and no answer -> a TimeoutException ends it (it stayed Connected before).
    assert first["error"] == "TimeoutException" and f"seq {s['pen_up_seq']}" in first["reason"], s
    assert "pen_up" in hang.received[0]
    # Connection 2 sent nothing but the connect hello: the keep-alive hello went unanswered.
    assert second["error"] == "TimeoutException", s
    assert "pen_up" not in hang.received[1] and hang.received[1].count("hello") >= 2, hang.received
    assert s["states"][:4] == ["Connecting", "Connected", "Disconnected", "Connecting"], s


@pytest.mark.parametrize("run", ["default", "lossy"])
def test_close_after_welcome_backs_off_instead_of_a_reconnect_storm(behaviour_exe: Path, run: str) -> None:
    """Connections closing right after welcome: decorrelated waits (0.1 s to 3x the last), not one every 0.1 s."""
    with FaultServer("close") as server:
        s = run_fault(behaviour_exe, server, 6, run=run)
    # Measured by the server, from its close to the next connection: never shorter than the client's
    # delay, whatever the load. Lower bounds of each delay with 20 % jitter: 0.08, 0.16, 0.32, 0.64 s.
    waits = server.gaps_s
    assert len(waits) >= 4, (waits, s)
    assert all(w >= 0.1 for w in waits), waits  # never under Initial
    assert s["connecting"] <= 20, s  # the waits grow about 1.5x a step; a storm at 0.1 s would make about 60
    # The server's close (1000) is seen; a send racing with it may end one as a send failure instead.
    assert sum(e["code"] == 1000 for e in s["ends"]) >= len(waits) // 2, s


@pytest.mark.parametrize("run", ["default", "lossy"])
def test_a_1009_close_backs_off_harder(behaviour_exe: Path, run: str) -> None:
    """A close with 1009 (message too big) skips two doublings: the first wait is at least 0.32 s, not 0.08 s."""
    with FaultServer("too_big") as server:
        s = run_fault(behaviour_exe, server, 3, run=run)
    assert s["ends"] and s["ends"][0]["code"] == 1009, s
    assert server.gaps_s and server.gaps_s[0] >= 0.32, (server.gaps_s, s)
    assert all(got and got[0] == "hello" for got in server.received if got), server.received


def test_disabling_sends_what_is_queued_before_closing(behaviour_exe: Path) -> None:
    """A stroke sent just before OnDisable (a scene change) reaches the server: the disposed transport drains."""
    with FaultServer("record") as server:
        s = run_fault(behaviour_exe, server, 10, play="flush")
    assert s["connected"] == 1, s
    assert "stroke" in server.received[0], server.received


@pytest.mark.parametrize("compiled", ["jit", "full_aot", "lossy", "lossy_full_aot"])
def test_pause_and_resume_continue_the_drawing_and_the_awaitable_calls_answer(
    request: pytest.FixtureRequest, compiled: str, server: ServerProcess
) -> None:
    """Stroke helpers + target + recognized; pause closes, resume reconnects and resumes the drawing; *Async calls."""
    if compiled.endswith("full_aot"):  # every method precompiled, as IL2CPP does
        exe = request.getfixturevalue("aot_behaviour_exe")
        cmd, env = ["mono", "--full-aot", str(exe)], {"MONO_PATH": str(exe.parent), "PATH": "/usr/bin:/bin"}
    else:
        cmd, env = ["mono", str(request.getfixturevalue("behaviour_exe"))], None
    r = subprocess.run(
        [*cmd, "resume", server.url, "lossy" if compiled.startswith("lossy") else "default"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(cmd[-1]).parent,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["off_main_thread"] == 0
    assert {"target", "resume"} <= set(s["features"]) and s["protocol_minor"] >= 1, s
    assert s["target_hello"] == "cat"
    assert s["first_target"]["word"] == "cat" and s["first_target"]["rank"] >= 1, s
    assert s["strokes_before"] == [1, 2], s
    # Paused: closed at once; resumed: a new session continuing the same drawing key (a resume that
    # reached the server before it saw the old connection end is refused; the harness then tries again).
    assert s["state_paused"] == "Disconnected" and s["sessions_differ"], s
    assert s["last_resume_ok"] and s["resumed"][-1] == s["key_before"] and s["too_early"] == s["cycles"] - 1, s
    assert s["replayed_strokes"] == [1, 2] and s["replayed_keys"] == [s["key_before"]] * 2, s
    # Recognized once for the drawing, not again for its replays on the new sessions.
    assert s["recognized"] == ["cat"], s
    assert s["pen_up_async"] == 3, s
    assert s["submit_async"] == "saved", s
    assert isinstance(s["sprite_async"], int) and s["sprite_async"] > 8, s
    assert s["not_connected_throws"] and s["errors"] == [], s
    assert s["off_thread_stroke_throws"], s  # BeginStroke/AddPoint are main-thread only, and checked


@pytest.mark.parametrize("run", ["default", "lossy"])
def test_pausing_right_after_a_stroke_loses_nothing_with_a_transport_that_does_not_drain(
    behaviour_exe: Path, run: str
) -> None:
    """Paused in the frame a stroke is queued: the close is pumped until Closed, not disposed at once (0.2.0's bug)."""
    with FaultServer("record") as server:
        s = run_fault(behaviour_exe, server, 10, play="pause_flush", run=run)
    assert s["connected"] == 1, s
    assert "stroke" in server.received[0], server.received
    assert s["lossy_dropped"] == 0, s  # nothing was left in a LossyTransport when it was disposed
