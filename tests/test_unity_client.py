"""The Unity client (unity_client/): its plain C# files run under Mono against the real server.

tests/unity/Harness.cs is compiled with ``mcs`` together with every unity_client file that does
not use UnityEngine; the MonoBehaviour files are compiled against tests/unity/UnityEngineStub.cs
(and the sample against tests/unity/InputSystemStub.cs too), and tests/unity/BehaviourHarness.cs
runs DoodleStreamBehaviour on that stub through a server restart. unity_client/Tests (Unity Test
Framework) runs here with tests/unity/NUnitStub.cs. Build outputs go to a temporary directory.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import msgpack
import numpy as np
import pytest

from replay_client.client import DoodleClient
from scripts import unity_meta
from server import quickdraw
from tests.conftest import RAW, ROOT, ServerProcess
from tests.unity_support import (
    BEHAVIOUR_HARNESS,
    GAME_SAMPLE,
    SAMPLE,
    SAMPLES,
    STUB,
    UNITY,
    build_aot_harness,
    build_harness,
    free_port,
    mcs,
    run,
    sources,
)

pytestmark = pytest.mark.mono

INPUT_SYSTEM_STUB = ROOT / "tests" / "unity" / "InputSystemStub.cs"
NUNIT_STUB = ROOT / "tests" / "unity" / "NUnitStub.cs"
NUNIT_RUNNER = ROOT / "tests" / "unity" / "NUnitRunner.cs"
LIVE_MS = 50
PACE_MS = 3  # pause between points, so that live guesses have time to fire


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Harness.exe built from the plain client files; fails the tests when it does not compile."""
    return build_harness(tmp_path_factory.mktemp("unity"))


def f32(v: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", v))[0])


def expected_sample() -> dict[str, Any]:
    """The value Harness.cs ``Sample()`` builds, as Python sees it."""
    ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1]
    ints += [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
    ints += [200, -100, -300, 60000, 3000000000]
    return {
        "ints": ints,
        "f32": [1.5, -0.25, f32(3.4028235e38)],
        "f64": [0.1, -1e300, 123456.789],
        "bools": [True, False, None],
        "strs": ["", "h\u00e9llo \u732b", "a" * 31, "b" * 32, "c" * 300, "d" * 70000],
        "bins": [b"", *(bytes((i * 7) % 256 for i in range(n)) for n in (255, 256, 70000))],
        "arr16": list(range(16)),
        "map16": {f"k{i}": i for i in range(20)},
        "nested": [[{"deep": [1, "x"]}]],
    }


def test_codec_encodes_every_format_as_the_reference_decodes_it(harness: Path, tmp_path: Path) -> None:
    """MsgPackCodec.Serialize output decodes (Python msgpack) to the same value, in the smallest formats."""
    out = tmp_path / "sample.msgpack"
    run(harness, "encode", str(out))
    ours = out.read_bytes()
    assert msgpack.unpackb(ours, raw=False) == expected_sample()
    # Smallest formats: as long as the reference packer's output, less 4 bytes per float32
    # (Python always writes float64).
    assert len(ours) == len(msgpack.packb(expected_sample(), use_bin_type=True)) - 3 * 4


def handmade_frames() -> bytes:
    """An array holding every msgpack format of the subset, many in wider-than-needed encodings."""
    items = [
        b"\x05",  # positive fixint
        b"\xf0",  # negative fixint
        b"\xcc\x05",  # uint8
        b"\xcd\x00\x01",  # uint16
        b"\xce\x00\x00\x00\x02",  # uint32
        b"\xcf\x00\x00\x00\x00\x00\x00\x00\x03",  # uint64 (small)
        b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",  # uint64 max
        b"\xd0\xfb",  # int8
        b"\xd1\x00\x07",  # int16 (positive)
        b"\xd2\xff\xff\xff\xfe",  # int32
        b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",  # int64 min
        b"\xca" + struct.pack(">f", 2.5),  # float32
        b"\xcb" + struct.pack(">d", -0.1),  # float64
        b"\xc0\xc2\xc3",  # nil false true (three items)
        b"\xd9\x02ab",  # str8
        b"\xda\x00\x03abc",  # str16
        b"\xdb\x00\x00\x00\x04\xe7\x8c\xabx",  # str32, UTF-8
        b"\xc4\x01\x01",  # bin8
        b"\xc5\x00\x02\x01\x02",  # bin16
        b"\xc6\x00\x00\x00\x01\xff",  # bin32
        b"\xdc\x00\x01\x01",  # array16
        b"\xdd\x00\x00\x00\x01\x02",  # array32
        b"\xde\x00\x01\xa1k\x01",  # map16
        b"\xdf\x00\x00\x00\x01\xa1k\x02",  # map32
        b"\x81\xa4type\xa6points",  # fixmap
    ]
    count = len(items) + 2  # the nil/false/true entry holds three values
    return b"\xdc" + count.to_bytes(2, "big") + b"".join(items)


def test_codec_decodes_every_format_and_round_trips(harness: Path, tmp_path: Path) -> None:
    """Decoding (every width, non-minimal ones too) then re-encoding in C# keeps the value Python sees."""
    rng = np.random.default_rng(3)
    rich = {
        "type": "guesses",
        "seq": -(2**40),
        "guesses": [{"word": f"w\u00f6rd {i}", "score": float(rng.random())} for i in range(5)],
        "ints": [int(v) for v in rng.integers(-(2**62), 2**62, 50)],
        "png": rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(),
        "empty": {},
        "live": True,
    }
    for i, frame in enumerate([handmade_frames(), msgpack.packb(rich, use_bin_type=True)]):
        src, dst = tmp_path / f"in{i}", tmp_path / f"out{i}"
        src.write_bytes(frame)
        run(harness, "roundtrip", str(src), str(dst))
        assert msgpack.unpackb(dst.read_bytes(), raw=False, strict_map_key=False) == msgpack.unpackb(
            frame, raw=False, strict_map_key=False
        )


def test_codec_rejects_truncated_and_malformed_input_without_hanging(harness: Path, tmp_path: Path) -> None:
    """Every prefix of a frame, and malformed frames, raise MsgPackException (the whole file within 60 s)."""
    frame = msgpack.packb(
        {"type": "sprite", "seq": 2**40, "png": b"\x89PNG" * 40, "s": "\u732b" * 20, "x": [1.5, -3, 70000]},
        use_bin_type=True,
    )
    bad = [frame[:n] for n in range(len(frame))]  # every truncation, the empty input included
    bad += [
        b"\xc1",  # never used
        b"\xd4\x01\x00",  # fixext
        b"\xc7\x01\x05\x00",  # ext8
        b"\x81\x01\x02",  # map with an int key
        b"\xdd\xff\xff\xff\xff",  # array of 4 billion items, 0 present
        b"\xdb\xff\xff\xff\xffa",  # str of 4 GB, 1 byte present
        b"\xdf\x7f\xff\xff\xff\xc0",  # map of 2 billion pairs
        b"\xc6\x80\x00\x00\x00",  # bin longer than int.MaxValue
        b"\xa2\xff\xfe",  # invalid UTF-8
        b"\x91" * 1000 + b"\xc0",  # nested 1000 deep
        b"\xc0\xc0",  # trailing bytes
        frame + b"\x00",
    ]
    lines = [b.hex() for b in bad] + [frame.hex()]  # the last one is valid
    src = tmp_path / "bad.txt"
    src.write_text("\n".join(lines) + "\n")
    results = run(harness, "reject", str(src), timeout_s=60)
    assert len(results) == len(lines)
    for r, hexed in zip(results[:-1], lines[:-1], strict=True):
        assert r["rejected"] and r["exception"] == "MsgPackException", (hexed[:80], r)
        assert r["message"].startswith("msgpack: ")
    assert results[-1]["rejected"] is False, results[-1]
    assert any("truncated" in r["message"] for r in results[: len(frame)])


def test_backoff_has_decorrelated_jitter_capped_escalated_and_a_spread_restart_delay(harness: Path) -> None:
    """Backoff(0.5 s, 8 s): delay i in [0.5, min(8, 3 x delay i-1)]; Escalate(2) floors the next at 2 s."""
    (out,) = run(harness, "backoff")
    prev = 0.5
    for i, d in enumerate(out["delays"]):
        assert 0.5 - 1e-3 <= d <= min(8.0, 3 * prev) + 1e-3, (i, d, prev)
        prev = d
    assert max(out["delays"]) > 2.0  # it grows (seeded: a fixed sequence)
    assert 0.5 - 1e-3 <= out["after_reset"] <= 1.5 + 1e-3
    assert out["escalated"] >= 2.0 - 1e-3
    restart = out["after_restart"]  # 200 unseeded back-offs: uniform over [0, 10 s], not all alike
    assert all(0 <= d <= 10 for d in restart) and len(set(restart)) >= 190  # not one seed for all
    assert min(restart) < 1 and max(restart) > 9


def test_a_server_restart_is_not_a_stampede(harness: Path) -> None:
    """10,000 clients dropped by one restart (1001, server down 1 s): at most 5 % reconnect in any 50 ms window."""
    (out,) = run(harness, "stampede", "10000", "1.0")
    ours, old = out["schemes"]["decorrelated"], out["schemes"]["v0.2"]
    print(
        f"\nstampede, 10,000 clients, server down 1 s: busiest 50 ms holds {ours['busiest_connects']:.2%} of the "
        f"reconnects ({ours['busiest_attempts']:.2%} of all {ours['attempts']} attempts); "
        f"0.2.0 back-off: {old['busiest_connects']:.2%} ({old['busiest_attempts']:.2%} of {old['attempts']})"
    )
    assert ours["busiest_connects"] <= 0.05 and ours["busiest_attempts"] <= 0.05, ours
    assert old["busiest_connects"] > 0.2, old  # the measure does see the old lock-step
    assert ours["last_connect_s"] < 40, ours  # everyone is back within the 10 s spread plus a capped back-off


def raw_drawing() -> list[list[list[int]]]:
    """The first recognised cat in the raw data with 3..6 strokes and at most 300 points."""
    for d in quickdraw.read_file(RAW / "cat.ndjson"):
        if d.recognized and 3 <= len(d.strokes) <= 6 and d.points <= 300:
            return [[[round(v) for v in axis] for axis in (s.x, s.y, s.t or ())] for s in d.strokes]
    raise AssertionError("no suitable cat drawing in the raw data")


async def python_pen_up_guesses(url: str, strokes: list[list[list[int]]]) -> list[dict[str, float]]:
    """The reference: the Python client streaming the same points; word -> score per pen-up."""
    out = []
    async with DoodleClient(url) as c:
        for xs, ys, ts in strokes:
            for x, y, t in zip(xs, ys, ts, strict=True):
                await c.points([x], [y], [t])
            reply = await c.pen_up()
            out.append({g["word"]: g["score"] for g in reply["guesses"]})
    return out


@pytest.fixture(scope="module")
def aot_harness(harness: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Harness.exe and the framework it loads, all compiled fully ahead of time (mono --aot=full)."""
    return build_aot_harness(harness, tmp_path_factory.mktemp("aot"))


@pytest.mark.parametrize("compiled", ["jit", "full_aot"])
async def test_streamed_raw_drawing_gets_guesses_live_guesses_undo_clear_and_errors(
    request: pytest.FixtureRequest, compiled: str, server: ServerProcess, tmp_path: Path
) -> None:
    """C# client streams a raw drawing point by point: the same guesses as Python's, live ones, undo, clear, errors."""
    strokes = raw_drawing()
    path = tmp_path / "drawing.json"
    path.write_text(json.dumps(strokes))
    exe = request.getfixturevalue("aot_harness" if compiled == "full_aot" else "harness")
    events = run(exe, "session", server.url, str(path), str(PACE_MS), timeout_s=180, aot=compiled == "full_aot")
    by: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by.setdefault(e["event"], []).append(e)
    assert "fault" not in by, by["fault"]

    (welcome,) = by["welcome"]
    assert welcome["protocol"] == 1 and welcome["classes"] == 345 and welcome["welcomed_event"]
    assert welcome["max_points_per_message"] > 0
    (hello,) = by["hello"]
    assert hello["live_ms"] == LIVE_MS and hello["reply_seq"] == hello["seq"]

    pen_ups = by["pen_up"]
    assert len(pen_ups) == len(strokes)
    for k, p in enumerate(pen_ups):
        assert p["strokes"] == k + 1 and p["reply_seq"] == p["seq"] and not p["live"]
        assert len(p["words"]) == 5 and len(set(p["words"])) == 5
        assert all(0 <= s <= 1 for s in p["scores"]) and p["scores"] == sorted(p["scores"], reverse=True)
        assert p["ms"] >= 0

    # Same points -> same canvas -> the same guesses as the reference Python client.
    reference = await python_pen_up_guesses(server.url, strokes)
    for ours, ref in zip(pen_ups, reference, strict=True):
        assert ours["words"] == list(ref), (ours["words"], ref)
        assert all(math.isclose(s, ref[w], abs_tol=1e-3) for w, s in zip(ours["words"], ours["scores"], strict=True))

    live = by.get("live", [])
    assert live, "no live guesses after hello live_ms"
    assert all(e["live"] and len(e["words"]) == 5 and e["reply_seq"] is None for e in live)

    (undo,) = by["undo"]
    assert undo["strokes"] == len(strokes) - 1 and len(undo["words"]) == 5 and undo["reply_seq"] == undo["seq"]
    (stroke,) = by["stroke"]
    assert stroke["strokes"] == len(strokes) and len(stroke["words"]) == 5

    errors = {name: by[name][0] for name in ("bad_points", "bad_type", "garbage")}
    assert errors["bad_points"]["code"] == "invalid_field"
    assert errors["bad_type"]["code"] == "unknown_type"
    assert errors["garbage"]["code"] == "malformed"
    for name in ("bad_points", "bad_type"):
        assert errors[name]["reply_seq"] == errors[name]["seq"] and errors[name]["message"]

    # Client-side checks against welcome.limits: each refused here, the connection still up.
    (refused,) = by["refused"]
    assert refused["sends"] == ["image", "frame", "word", "stroke", "sprite_size", "live_ms"] and refused["connected"]
    # v1.1 game API through the awaitable calls.
    (game,) = by["game"]
    assert {"words", "target", "resume"} <= set(game["features"]) and game["protocol_minor"] >= 1, game
    assert game["words"] == ["cat", "dog", "house"] and sorted(game["ranked"]) == ["cat", "dog", "house"], game
    assert isinstance(game["drawing"], str) and len(game["drawing"]) >= 16
    assert game["unknown_target"] == "unknown_word"
    if "teach" in game["features"]:
        assert game["taught"] == "unity squiggle 1 session" and game["forgotten"] == "unity squiggle session"

    # submit / sprite: answered for real, or unknown_type by a server that predates them.
    (submit,) = by["submit"]
    assert submit["reply_seq"] == submit["seq"]
    if submit["type"] == "saved":
        assert isinstance(submit["id"], int)
    else:
        assert submit["type"] == "error" and submit["code"] == "unknown_type", submit
    (sprite,) = by["sprite"]
    assert sprite["reply_seq"] == sprite["seq"]
    if sprite["type"] == "sprite":
        png = base64.b64decode(sprite["png_base64"])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        assert img is not None and 0 < max(img.shape[:2]) <= 64
    else:
        assert sprite["type"] == "error" and sprite["code"] == "unknown_type", sprite

    (cleared,) = by["cleared"]
    assert cleared["reply_seq"] == cleared["seq"]
    (after,) = by["after_clear"]
    assert after["strokes"] == 0 and after["words"] == []

    (closed,) = by["closed"]
    assert closed["disconnected"] and closed["by_client"] and closed["state"] == "Disconnected"
    assert closed["send_after_close_throws"] and closed["live_total"] == len(live)


INPUT_HANDLING = {
    "none": [],
    "legacy": ["-define:ENABLE_LEGACY_INPUT_MANAGER"],
    "input_system": ["-define:ENABLE_INPUT_SYSTEM;DOODLESTREAM_INPUT_SYSTEM"],
    "both": ["-define:ENABLE_LEGACY_INPUT_MANAGER;ENABLE_INPUT_SYSTEM;DOODLESTREAM_INPUT_SYSTEM"],
    # Unity 6: the Input System by default, Rigidbody2D's linearVelocity/linearDamping (velocity/drag are obsolete).
    "unity6": ["-define:UNITY_6000_0_OR_NEWER;ENABLE_INPUT_SYSTEM;DOODLESTREAM_INPUT_SYSTEM"],
}


def test_token_goes_in_the_authorization_header(harness: Path) -> None:
    """DoodleClient.Token reaches a --token server as Authorization: Bearer (URL without ?token=); none is refused."""
    port = free_port()
    srv = ServerProcess("--port", str(port), "--token", "unity-secret")
    try:
        events = run(harness, "token", f"ws://127.0.0.1:{port}/ws", "unity-secret", timeout_s=90)
    finally:
        srv.stop()
    with_token, without = events
    assert with_token["with_token"] and with_token["outcome"].startswith("welcome "), with_token
    assert not without["with_token"] and without["outcome"].startswith("refused "), without


@pytest.mark.parametrize("handling", INPUT_HANDLING)
def test_unity_scripts_compile_against_the_unityengine_stub(tmp_path: Path, handling: str) -> None:
    """Runtime + both samples compile against the UnityEngine stub in each input handling; warnings fail."""
    plain, engine = sources()
    names = {f.name for f in engine}
    assert {"DoodleStreamBehaviour.cs", "DrawWithMouse.cs", "SpriteOwner.cs", "DoodleToLife.cs"} <= names, names
    assert {"DoodleBehaviours.cs", "DoodleOutline.cs", "DoodleSession.cs"} <= {f.name for f in plain}
    stub = tmp_path / "UnityEngine.dll"
    r = mcs("-target:library", f"-out:{stub}", str(STUB))
    assert r.returncode == 0, r.stdout + r.stderr
    inputs = tmp_path / "Unity.InputSystem.dll"
    r = mcs("-target:library", f"-out:{inputs}", f"-r:{stub}", str(INPUT_SYSTEM_STUB))
    assert r.returncode == 0, r.stdout + r.stderr
    # -doc turns on CS1591 (public member without an XML doc comment), an error with -warnaserror.
    out, doc = tmp_path / "Doodlestream.dll", tmp_path / "Doodlestream.xml"
    refs = [f"-r:{stub}", f"-r:{inputs}", *INPUT_HANDLING[handling]]
    r = mcs("-target:library", f"-out:{out}", f"-doc:{doc}", *refs, *map(str, plain + engine))
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_game_loop_compiles_against_the_package(tmp_path: Path) -> None:
    """The README's game loop compiles with the Input System (define set) and with legacy Input (it cannot rot)."""
    readme = (UNITY / "README.md").read_text()
    section = readme[readme.index("## A game loop") :]
    code = section[section.index("```csharp\n") + len("```csharp\n") : section.index("```\n", 10)]
    assert "SetTarget" in code and "Recognized" in code and "#if ENABLE_INPUT_SYSTEM" in code
    lines = code.splitlines()
    body = [line for line in lines if line.strip() not in ("", "{", "}") and not line.startswith(("using", "#"))]
    assert len(body) <= 24, body
    src = tmp_path / "DrawTheWord.cs"
    src.write_text(code)
    stub = tmp_path / "UnityEngine.dll"
    assert mcs("-target:library", f"-out:{stub}", str(STUB)).returncode == 0
    inputs = tmp_path / "Unity.InputSystem.dll"
    assert mcs("-target:library", f"-out:{inputs}", f"-r:{stub}", str(INPUT_SYSTEM_STUB)).returncode == 0
    runtime = sorted((UNITY / "Runtime").glob("*.cs"))
    for defines in ([], ["-define:ENABLE_INPUT_SYSTEM"]):
        out = tmp_path / f"Game{len(defines)}.dll"
        r = mcs("-target:library", f"-out:{out}", f"-r:{stub}", f"-r:{inputs}", *defines, *map(str, runtime), str(src))
        assert r.returncode == 0, r.stdout + r.stderr


def test_sample_reads_input_only_through_the_handling_the_project_has() -> None:
    """The samples use legacy Input only under ENABLE_LEGACY_INPUT_MANAGER, the Input System only under its defines."""
    for script in (SAMPLE / "DrawWithMouse.cs", GAME_SAMPLE / "DoodleToLife.cs"):
        text = script.read_text()
        legacy = [m.start() for m in re.finditer(r"\bInput\.(GetMouse|GetKey|mousePosition)", text)]
        new = [m.start() for m in re.finditer(r"\b(Pointer|Keyboard)\.current\b", text)]
        assert legacy and new, script
        legacy_blocks = list(re.finditer(r"#elif ENABLE_LEGACY_INPUT_MANAGER\n(.*?)#else", text, re.S))
        new_blocks = list(re.finditer(r"#if ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM\n(.*?)#el", text, re.S))
        assert legacy_blocks and new_blocks, script
        assert all(any(b.start(1) <= i < b.end(1) for b in legacy_blocks) for i in legacy), script
        assert all(any(b.start(1) <= i < b.end(1) for b in new_blocks) for i in new), script
    text = (SAMPLE / "DrawWithMouse.cs").read_text()
    behaviour = (UNITY / "Runtime" / "DoodleStreamBehaviour.cs").read_text()
    # Point times: a float of seconds since start-up has 8 ms steps after a day of play.
    assert "realtimeSinceStartup;" not in text + behaviour and "realtimeSinceStartupAsDouble" in behaviour


def test_package_manifest_samples_tests_and_assembly_definitions() -> None:
    """package.json is a UPM manifest listing Samples~; every .cs sits under an asmdef; the references resolve."""
    manifest = json.loads((UNITY / "package.json").read_text())
    assert re.fullmatch(r"com\.[a-z0-9-]+\.[a-z0-9.-]+", manifest["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"]) and manifest["unity"] >= "2021.3"
    assert [UNITY / sample["path"] for sample in manifest["samples"]] == list(SAMPLES)
    for sample in manifest["samples"]:
        assert sample["displayName"] and sample["description"] and sample["path"].startswith("Samples~/")
    assert manifest["license"] and (UNITY / "LICENSE.md").is_file() and (UNITY / "CHANGELOG.md").is_file()
    assert manifest["documentationUrl"].startswith("https://") and manifest["documentationUrl"].endswith("README.md")
    assert f"## {manifest['version']}" in (UNITY / "CHANGELOG.md").read_text()
    assert not (UNITY / "Samples").exists(), "a Samples folder without ~ compiles into every game"
    asmdefs = {p.parent: json.loads(p.read_text()) for p in UNITY.rglob("*.asmdef")}
    for cs in UNITY.rglob("*.cs"):
        assert any(folder in cs.parents for folder in asmdefs), f"{cs} is in no assembly definition"
    names = {a["name"] for a in asmdefs.values()}
    unity_assemblies = {"UnityEngine.TestRunner", "UnityEditor.TestRunner", "Unity.InputSystem"}
    for a in asmdefs.values():
        assert set(a.get("references", [])) <= names | unity_assemblies, a
    runtime = asmdefs[UNITY / "Runtime"]
    assert runtime["name"] == "Doodlestream.Client"
    for sample in SAMPLES:
        assert asmdefs[sample]["references"][0] == runtime["name"]
        assert {"name": "com.unity.inputsystem", "expression": "1.0.0", "define": "DOODLESTREAM_INPUT_SYSTEM"} in (
            asmdefs[sample]["versionDefines"]
        )
    assert len({asmdefs[sample]["name"] for sample in SAMPLES}) == len(SAMPLES)
    tests = asmdefs[UNITY / "Tests" / "Runtime"]
    assert tests["defineConstraints"] == ["UNITY_INCLUDE_TESTS"]
    assert "nunit.framework.dll" in tests["precompiledReferences"]
    assert runtime["name"] in tests["references"] and not tests["autoReferenced"]
    for cs in UNITY.rglob("*.cs"):
        assert "Doodlestream.Unity" not in cs.read_text(), f"{cs}: the namespace shadows Unity's own Unity.*"


def test_every_asset_has_a_meta_with_a_stable_unique_guid() -> None:
    """Every file and folder Unity imports has its .meta as scripts/unity_meta.py derives it; GUIDs are unique."""
    stale, orphans = unity_meta.differences()
    assert not stale, f"run python scripts/unity_meta.py: {sorted(map(str, stale))}"
    assert not orphans, orphans
    metas = sorted(UNITY.rglob("*.meta"))
    assert len(metas) == len(unity_meta.assets()) >= 15
    guids = [re.search(r"^guid: ([0-9a-f]{32})$", m.read_text(), re.M) for m in metas]
    assert all(guids)
    assert len({g.group(1) for g in guids if g}) == len(metas), "duplicate GUIDs"
    assert not (UNITY / "Samples~.meta").exists() and (SAMPLE / "DrawWithMouse.cs.meta").is_file()


RELEASED_GUIDS = ROOT / "tests" / "unity" / "released_guids.json"


def test_every_released_asset_keeps_its_guid() -> None:
    """Each GUID of the released package (0.2.0, recorded from git) is still in the package, on the same script."""
    released = json.loads(RELEASED_GUIDS.read_text())
    assert len(released["guids"]) >= 24
    now = {m.relative_to(UNITY).as_posix()[: -len(".meta")]: unity_meta.existing_guid(m) for m in UNITY.rglob("*.meta")}
    by_guid = {g: path for path, g in now.items()}
    for path, g in released["guids"].items():
        # A script that moved or was split keeps its GUID (on the moved file, or on the part that kept the name).
        assert g in by_guid, f"{path}: its released GUID {g} is gone; scenes referencing it break"
        if path in now:
            assert now[path] == g, f"{path}: GUID {now[path]} replaced the released {g}"
    # The record is what git holds for that release (when this clone has the commit).
    commit = released["commit"]
    if subprocess.run(["git", "cat-file", "-e", commit], cwd=ROOT, capture_output=True).returncode == 0:
        for path, g in released["guids"].items():
            text = subprocess.run(
                ["git", "show", f"{commit}:unity_client/{path}.meta"], cwd=ROOT, capture_output=True, text=True
            ).stdout
            assert f"guid: {g}\n" in text, path


def test_meta_generator_keeps_a_moved_files_guid_and_derives_new_ones(tmp_path: Path) -> None:
    """scripts/unity_meta.py keeps an existing .meta's GUID (a moved file) and derives one only for a new file."""
    root = tmp_path / "pkg"
    (root / "Runtime").mkdir(parents=True)
    (root / "Runtime" / "Old.cs").write_text("class Old {}")
    for m, text in unity_meta.expected(root).items():
        m.write_text(text)
    old_guid = unity_meta.existing_guid(root / "Runtime" / "Old.cs.meta")
    assert old_guid == unity_meta.guid("Runtime/Old.cs")
    (root / "Runtime" / "Moved").mkdir()
    (root / "Runtime" / "Old.cs").rename(root / "Runtime" / "Moved" / "Renamed.cs")
    (root / "Runtime" / "Old.cs.meta").rename(root / "Runtime" / "Moved" / "Renamed.cs.meta")
    (root / "Runtime" / "New.cs").write_text("class New {}")
    stale, orphans = unity_meta.differences(root)
    assert not orphans
    assert set(stale) == {root / "Runtime" / "Moved.meta", root / "Runtime" / "New.cs.meta"}
    want = unity_meta.expected(root)
    assert f"guid: {old_guid}\n" in want[root / "Runtime" / "Moved" / "Renamed.cs.meta"]
    assert f"guid: {unity_meta.guid('Runtime/New.cs')}\n" in want[root / "Runtime" / "New.cs.meta"]


MONO_LIB = Path("/usr/lib/mono")
NETSTANDARD_2_1 = MONO_LIB / "4.5" / "Facades" / "netstandard.dll"
NET_FRAMEWORK_REF = MONO_LIB / "4.8-api"


@functools.cache
def netstandard_types() -> frozenset[str]:
    """Every type .NET Standard 2.1 has: the forwarders of Mono's netstandard.dll 2.1 facade, as ikdasm lists them."""
    if shutil.which("ikdasm") is None or not NETSTANDARD_2_1.is_file():
        pytest.fail(
            "Mono's ikdasm and netstandard.dll are missing: run scripts/setup.sh --all (apt package mono-devel)"
        )
    r = subprocess.run(["ikdasm", str(NETSTANDARD_2_1)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    types = frozenset(re.findall(r"^\.class extern forwarder (\S+)", r.stdout, re.M))
    assert "System.Net.WebSockets.ClientWebSocket" in types and len(types) > 2000
    return types


@pytest.mark.parametrize("player", ["native", "webgl"])
def test_runtime_compiles_against_reference_assemblies_and_uses_only_net_standard_2_1_types(
    tmp_path: Path, player: str
) -> None:
    """Runtime/ (native or WebGL build) compiles against .NET Framework 4.8 refs; each BCL type used is .NET Std 2.1."""
    # Unity's two API compatibility levels. ".NET Framework": compile against Mono's 4.8 reference
    # assemblies (metadata only, no Mono extras), which checks every member used. ".NET Standard
    # 2.1": Debian's Mono has no netstandard 2.1 reference assembly, only the facade (type
    # forwarders), so each type the compiled IL references must be one the facade forwards.
    refs = [
        "-nostdlib",
        "-noconfig",
        *(f"-r:{NET_FRAMEWORK_REF / d}" for d in ("mscorlib.dll", "System.dll", "System.Core.dll")),
    ]
    stub = tmp_path / "UnityEngine.dll"
    r = mcs("-target:library", f"-out:{stub}", *refs, str(STUB))
    assert r.returncode == 0, r.stdout + r.stderr
    runtime = tmp_path / "Doodlestream.Client.dll"
    files = sorted((UNITY / "Runtime").glob("*.cs"))
    define = ["-define:UNITY_WEBGL"] if player == "webgl" else []
    r = mcs("-target:library", f"-out:{runtime}", *define, *refs, f"-r:{stub}", *map(str, files))
    assert r.returncode == 0, r.stdout + r.stderr
    il = subprocess.run(["ikdasm", str(runtime)], capture_output=True, text=True, timeout=120)
    assert il.returncode == 0, il.stderr
    assert ('pinvokeimpl("__Internal"' in il.stdout) == (player == "webgl")  # the .jslib imports
    used = set(re.findall(r"\[(mscorlib|System|System\.Core)\]([\w.`]+)", il.stdout))
    assert ("System", "System.Net.WebSockets.ClientWebSocket") in used
    outside = sorted(f"[{a}]{t}" for a, t in used if t not in netstandard_types())
    assert not outside, f"outside .NET Standard 2.1: {outside}"


def test_net_standard_check_catches_a_type_outside_the_standard(tmp_path: Path) -> None:
    """The .NET Standard type check flags System.Runtime.Remoting (in Mono and .NET Framework, not in the standard)."""
    src = tmp_path / "Remoting.cs"
    src.write_text(
        "public static class R { public static object M() { return typeof(System.Runtime.Remoting.ObjRef); } }"
    )
    out = tmp_path / "R.dll"
    assert mcs("-target:library", f"-out:{out}", str(src)).returncode == 0
    il = subprocess.run(["ikdasm", str(out)], capture_output=True, text=True, timeout=120).stdout
    used = {t for _, t in re.findall(r"\[(mscorlib|System|System\.Core)\]([\w.`]+)", il)}
    assert "System.Runtime.Remoting.ObjRef" in used and "System.Runtime.Remoting.ObjRef" not in netstandard_types()


def test_unity_test_framework_tests_pass_under_mono(tmp_path: Path) -> None:
    """unity_client/Tests (NUnit, as Unity Test Framework runs them) pass under Mono with a small NUnit stand-in."""
    runtime = sorted((UNITY / "Runtime").glob("*.cs"))
    plain = [f for f in runtime if "using UnityEngine" not in f.read_text()]
    tests = sorted((UNITY / "Tests").rglob("*.cs"))
    assert tests
    exe = tmp_path / "UnityTests.exe"
    r = mcs(f"-out:{exe}", *map(str, plain + tests), str(NUNIT_STUB), str(NUNIT_RUNNER))
    assert r.returncode == 0, r.stdout + r.stderr
    results = run(exe)
    assert len(results) >= 7
    failed = [x for x in results if not x["passed"]]
    assert not failed, failed


@pytest.mark.parametrize("mode", ["default", "lossy"])
def test_behaviour_raises_every_event_on_the_main_thread_and_reconnects_with_backoff(tmp_path: Path, mode: str) -> None:
    """DoodleStreamBehaviour (over its default transport, or one that drops its queue on Dispose) survives a restart."""
    plain, _ = sources()
    stub = tmp_path / "UnityEngine.dll"
    r = mcs("-target:library", f"-out:{stub}", str(STUB))
    assert r.returncode == 0, r.stdout + r.stderr
    exe = tmp_path / "BehaviourHarness.exe"
    behaviour = UNITY / "Runtime" / "DoodleStreamBehaviour.cs"
    r = mcs(f"-out:{exe}", f"-r:{stub}", *map(str, plain), str(behaviour), str(BEHAVIOUR_HARNESS))
    assert r.returncode == 0, r.stdout + r.stderr

    port = free_port()
    srv = ServerProcess("--port", str(port))
    proc = subprocess.Popen(
        ["mono", str(exe), "restart", f"ws://127.0.0.1:{port}/ws", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert json.loads(proc.stdout.readline() or "{}").get("event") == "connected", proc.stderr
        srv.stop()
        time.sleep(1.5)  # down long enough for several attempts to fail
        srv = ServerProcess("--port", str(port))
        proc.stdin.write("restarted\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        srv.stop()
    assert proc.returncode == 0, err[-4000:]
    summary = json.loads(out.strip().splitlines()[-1])

    assert summary["off_main_thread"] == 0
    assert summary["not_connected_seq"] is None
    assert len(summary["sessions"]) == 2 and len(set(summary["sessions"])) == 2
    # Each connection is a new session (this server restarted, so nothing to resume): the behaviour
    # replays the finished stroke and the one in progress (drawn on through the outage) first, so the
    # pen-up after the reconnect ends stroke 2 and the stroke sent then is the third.
    assert summary["guesses_strokes"] == [1, 1, 2, 3]
    assert summary["guesses_reply_seq"][3] == summary["seq2"] and summary["unity_events"] == 4
    # Backing off (0.1, 0.2, then 0.4 s with 20 % jitter) while the server is down for about 2-4 s:
    # a few failed attempts, not hundreds.
    assert summary["disconnects"] >= 1 and 2 <= summary["failures_while_down"] <= 30, summary
    waits = sorted(summary["retry_waits_s"])  # each disconnect/failure to the next attempt, seen on the main thread
    assert len(waits) >= 3, summary
    # Measured on the main thread, so a loaded machine stretches them: upper bounds leave room for that.
    # The first after the restart's 1001 is spread over [0, 0.4 s]; later ones stay under the 0.4 s cap.
    assert summary["retry_waits_s"][0] <= 0.75, waits
    assert waits[-1] <= 1.0, waits
    assert summary["final_state"] == "Disconnected"
    # A throwing C# handler and a throwing UnityEvent listener did not keep the events after them from running.
    assert summary["after_throwing_handler"] == 4 and summary["top_guess_events"] == 4
    # LiveMs set from code is clamped like the Inspector's Range: 0 or 50..5000.
    assert summary["live_ms_clamped"] == [50, 5000, 0, 120]


def test_no_garbage_while_drawing_and_little_per_received_guesses(harness: Path, server: ServerProcess) -> None:
    """A pumped DoodleSession allocates 0 B per frame idle and drawing (steady state), under 1 KB per guesses."""
    (out,) = run(harness, "alloc", server.url, timeout_s=120)
    print(
        f"\nallocations on the pumping thread: {out['idle_bytes_per_frame']:.1f} B/frame idle, "
        f"{out['drawing_bytes_per_frame']:.1f} B/frame drawing (2 points a frame), "
        f"{out['bytes_per_guesses']:.0f} B per received guesses"
    )
    assert out["faults"] == 0 and out["guesses"] >= 40, out
    assert out["idle_bytes_per_frame"] == 0, out
    assert out["drawing_bytes_per_frame"] == 0, out
    assert out["bytes_per_guesses"] < 1024, out


LABELS = ROOT / "models" / "labels.txt"


def test_game_sample_behaviour_table_uses_model_words_and_its_forces_do_what_they_say(harness: Path) -> None:
    """DoodleToLife's word -> behaviour table: model words; floats rise, fliers hover, heavy is heavy, rolls spin."""
    (out,) = run(harness, "behaviours")
    words = set(LABELS.read_text().split("\n"))
    table = out["table"]
    assert len(table) >= 40 and set(table) <= words, sorted(set(table) - words)
    assert set(table.values()) == {"Floats", "Flies", "Rolls", "Heavy"}
    b = out["bodies"]
    assert b["bird"]["motion"] == "Flies" and b["Hot Air Balloon "]["motion"] == "Floats"  # case and spaces ignored
    assert b["house"]["motion"] == b[""]["motion"] == b["null"]["motion"] == "Falls"
    # Mean force over a second at rest: a flier's lift cancels its weight (the wing beat averages out) and it
    # pushes sideways towards its cruising speed; a floater's lift beats its weight; a faller gets none.
    assert math.isclose(b["bird"]["mean_force_y"], b["bird"]["weight"], rel_tol=0.02) and b["bird"]["mean_force_x"] > 0
    assert b["Hot Air Balloon "]["mean_force_y"] > b["Hot Air Balloon "]["weight"]
    assert b["house"]["mean_force_y"] == 0 and b["house"]["mean_force_x"] == 0
    assert b["anvil"]["mass"] >= 10 * b["house"]["mass"] and b["anvil"]["gravity"] > 1
    assert b["wheel"]["round"] and b["wheel"]["spin"] != 0 and not b["house"]["round"]


def alpha_of_drawing(strokes: list[list[list[int]]], size: int) -> np.ndarray:
    """A raw drawing rendered as an alpha mask of side ``size`` (3 px lines), rows bottom-up as Unity's GetPixels32."""
    xs = np.concatenate([np.asarray(s[0], float) for s in strokes])
    ys = np.concatenate([np.asarray(s[1], float) for s in strokes])
    scale = (size - 12) / max(xs.max() - xs.min(), ys.max() - ys.min(), 1)
    img = np.zeros((size, size), np.uint8)
    for x, y, _ in strokes:
        pts = np.stack([(np.asarray(x) - xs.min()) * scale + 6, (np.asarray(y) - ys.min()) * scale + 6], 1)
        cv2.polylines(img, [pts.round().astype(np.int32)], False, 255, 3, cv2.LINE_AA)
    return np.flipud(img).copy()


@pytest.mark.parametrize("max_points", [24, 8])
def test_game_sample_outline_is_a_hull_around_every_drawn_pixel(harness: Path, tmp_path: Path, max_points: int) -> None:
    """DoodleToLife's collider outline of a real drawing: convex, holds every drawn pixel, near OpenCV's hull's area."""
    alpha = alpha_of_drawing(raw_drawing(), 128)
    src = tmp_path / "alpha.bin"
    src.write_bytes(alpha.tobytes())
    (out,) = run(harness, "outline", str(src), "128", "128", str(max_points))
    hull = np.asarray(out["hull"], np.float32).reshape(-1, 2)
    assert 3 <= len(hull) <= max_points
    assert out["area"] > 0  # counter-clockwise
    # Every drawn pixel's square lies inside (its centre at least half a pixel from the outside).
    rows, cols = np.nonzero(alpha >= 16)
    centres = zip(cols + 0.5, rows + 0.5, strict=True)
    inside = [cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in centres]
    assert min(inside) >= 0.5 - 1e-3, min(inside)
    # Close to the exact hull of the pixel squares (OpenCV's hull of the pixel corners): a few % more for fewer corners.
    corners = np.concatenate([np.stack([cols + dx, rows + dy], 1) for dx in (0, 1) for dy in (0, 1)]).astype(np.float32)
    reference = cv2.contourArea(cv2.convexHull(corners))
    assert reference <= out["area"] <= reference * (1.03 if max_points == 24 else 1.25), (out["area"], reference)
    print(f"\noutline with {len(hull)} corners: area {out['area']:.0f} px^2, exact hull {reference:.0f} px^2")
    # Local space: centred, 64 px per unit; the circle for a rolling doodle has the polygon's area.
    local = np.asarray(out["local"]).reshape(-1, 2)
    assert np.allclose(local, (hull - 64) / 64, atol=1e-5)
    assert math.isclose(math.pi * out["radius"] ** 2, out["area"] / 64**2, rel_tol=1e-4)
