"""The Unity client's WebGL side: the .jslib in Chromium, the pumped (thread-free) client, the WebGL build.

``unity_client/Runtime/Plugins/WebGL/DoodleStreamWebSocket.jslib`` runs in Debian's Chromium through
tests/unity/webgl_runtime.js, which stands in for the Unity/Emscripten runtime (mergeInto, HEAPU8,
_malloc, UTF8ToString...) and for the C# caller, against a live server. The pumped DoodleClient runs
under Mono over ClientWebSocketTransport, pumped from one thread as Update would, against the live
server. The WebGL-only C# (``#if UNITY_WEBGL && !UNITY_EDITOR``) is compiled with that define against
the UnityEngine stub, and its imports are checked against the functions the .jslib defines.
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import msgpack
import pytest

from tests.conftest import CHROMIUM, ROOT, ServerProcess
from tests.unity_support import STUB, UNITY, FaultServer, build_harness, free_port, mcs, run

JSLIB = UNITY / "Runtime" / "Plugins" / "WebGL" / "DoodleStreamWebSocket.jslib"
WEBGL_CS = UNITY / "Runtime" / "WebGLWebSocketTransport.cs"
RUNTIME_JS = ROOT / "tests" / "unity" / "webgl_runtime.js"

# ------------------------------------------------------------------ C#: the WebGL build


def imports() -> dict[str, int]:
    """The jslib functions WebGLWebSocketTransport.cs imports, with their parameter counts."""
    found = re.findall(
        r'DllImport\("__Internal"\)\]\s*private static extern \w+ (\w+)\(([^)]*)\)', WEBGL_CS.read_text()
    )
    return {name: len([p for p in params.split(",") if p.strip()]) for name, params in found}


def jslib_functions() -> dict[str, int]:
    """The functions DoodleStreamWebSocket.jslib defines, with their parameter counts."""
    found = re.findall(r"^  (\w+): function \(([^)]*)\)", JSLIB.read_text(), re.M)
    return {name: len([p for p in params.split(",") if p.strip()]) for name, params in found}


@pytest.mark.mono
def test_webgl_transport_compiles_only_for_webgl_players(tmp_path: Path) -> None:
    """-define:UNITY_WEBGL compiles the runtime with the WebGL transport for games; Editor and other builds lack it."""
    stub = tmp_path / "UnityEngine.dll"
    assert mcs("-target:library", f"-out:{stub}", str(STUB)).returncode == 0
    runtime = sorted((UNITY / "Runtime").glob("*.cs"))
    game = tmp_path / "Game.cs"
    game.write_text(
        "public static class Game {\n"
        "  public static Doodlestream.IDoodleTransport Make() { return new Doodlestream.WebGLWebSocketTransport(); }\n"
        "  public static void Use(Doodlestream.DoodleStreamBehaviour b) { b.TransportFactory = Make; }\n"
        "}\n"
    )
    for define, ok in (["-define:UNITY_WEBGL"], True), ([], False), (["-define:UNITY_WEBGL;UNITY_EDITOR"], False):
        out = tmp_path / "Runtime.dll"
        r = mcs("-target:library", f"-out:{out}", *define, f"-r:{stub}", *map(str, runtime), str(game))
        assert (r.returncode == 0) == ok, (define, r.stdout + r.stderr)
        if not ok:
            assert "WebGLWebSocketTransport" in r.stdout + r.stderr


def test_webgl_imports_match_the_jslib_functions() -> None:
    """Every [DllImport("__Internal")] of the WebGL transport is a .jslib function with as many parameters."""
    assert imports() and imports() == jslib_functions(), (imports(), jslib_functions())


def test_jslib_reads_every_pointer_unsigned() -> None:
    """Each pointer parameter of the .jslib is read as `ptr >>> 0` before any other use (heaps over 2 GB in Unity 6)."""
    text = JSLIB.read_text()
    functions = list(re.finditer(r"^  (\w+): function \(([^)]*)\) \{\n(.*?)^  \},", text, re.M | re.S))
    assert len(functions) == len(jslib_functions())
    pointers = 0
    for f in functions:
        for param in (p.strip() for p in f.group(2).split(",")):
            if not param.lower().endswith("ptr"):
                continue
            pointers += 1
            uses = [m.start() for m in re.finditer(rf"\b{param}\b", f.group(3))]
            unsigned = [m.start() for m in re.finditer(rf"\b{param}( = {param})? >>> 0", f.group(3))]
            assert uses and unsigned and uses[0] == unsigned[0], (f.group(1), param)
    assert pointers == 4  # url, the bytes to send, the close reason, the buffer to pop into


def test_jslib_meta_enables_the_plugin_for_webgl_only() -> None:
    """The .jslib's .meta is a PluginImporter enabled for WebGL and disabled for Any and the Editor."""
    meta = JSLIB.with_name(JSLIB.name + ".meta").read_text()
    assert "PluginImporter:" in meta
    enabled = dict(re.findall(r"- first:\n\s+(\w+): \w*\n\s+second:\n\s+enabled: (\d)", meta))
    assert enabled == {"Any": "0", "Editor": "0", "WebGL": "1"}, enabled


# ------------------------------------------------------------------ C#: the pumped client under Mono


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Harness.exe built from the plain client files (its "pumped" mode drives a pumped DoodleClient)."""
    return build_harness(tmp_path_factory.mktemp("unity-webgl"))


@pytest.mark.mono
def test_pumped_client_runs_from_one_thread_against_the_live_server(harness: Path, server: ServerProcess) -> None:
    """A pumped DoodleClient (no threads, own clock) gets replies and events, closes, and times out a deaf server."""
    by = {e["event"]: e for e in run(harness, "pumped", server.url, timeout_s=120)}
    p = by["pumped"]
    assert not p["completed_before_pump"]
    assert p["events"] == ["welcome", "hello", "guesses", "guesses", "error unknown_type", "cleared"], p
    assert p["stroke_strokes"] == 1 and p["stroke_words"] == 5 and p["stroke_reply_seq"] == p["hello_seq"] + 1
    assert p["continuation_on_pump_thread"] and isinstance(p["drawing"], str)
    closed = by["closed"]
    assert closed["by_client"] and closed["state"] == "Disconnected" and closed["close_status"] == 1000
    # The pen-up's answer was dropped: the reply timeout (0.5 s on the pumped clock) ended the connection.
    t = by["reply_timeout"]
    assert t["error"] == "TimeoutException" and not t["by_client"] and t["dropped"] >= 1
    assert t["awaiting_failed_with"] == "DoodleDisconnectedException" and t["after_s"] >= 0.5
    # Idle for 1.5 s with a 0.2 s keep-alive: answered hellos kept it up and raised nothing; unanswered, one ended it.
    k = by["keep_alive"]
    assert k["up_after_idle"] and k["raised"] == ["welcome"] and k["error"] == "TimeoutException" and k["dropped"] >= 1
    assert by["threads"]["off_pump_thread"] == 0


@pytest.mark.mono
@pytest.mark.parametrize(
    ("url", "token", "query"),
    [
        ("ws://127.0.0.1:8765/ws", "a b+c/\u00e9&=?", {"token": ["a b+c/\u00e9&=?"]}),
        ("ws://h:1/ws?encoding=msgpack", "t0k", {"encoding": ["msgpack"], "token": ["t0k"]}),
        ("wss://example.com/ws?mytoken=x", "t", {"mytoken": ["x"], "token": ["t"]}),
        ("wss://example.com/ws?token=kept", "other", {"token": ["kept"]}),
        ("ws://h:1/ws", "", {}),
    ],
)
def test_webgl_transport_puts_the_token_in_the_query(
    harness: Path, url: str, token: str, query: dict[str, list[str]]
) -> None:
    """The URL the WebGL transport opens carries the token as ?token= (escaped), keeps the rest, never doubles it."""
    r = subprocess.run(["mono", str(harness), "token_url", url, token], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got, want = urlsplit(r.stdout.strip()), urlsplit(url)
    assert (got.scheme, got.hostname, got.port, got.path) == (want.scheme, want.hostname, want.port, want.path)
    assert parse_qs(got.query) == query, r.stdout


# ------------------------------------------------------------------ JavaScript: the .jslib in Chromium

chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (bash scripts/setup.sh)")

PAGE = "<!doctype html><title>webgl</title><script src='webgl_runtime.js'></script><script src='plugin.jslib'></script>"


@pytest.fixture(scope="module")
def game_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server for the page that loads the runtime stand-in and the .jslib, as a game's host would."""
    root = tmp_path_factory.mktemp("webgl-page")
    (root / "index.html").write_text(PAGE)
    (root / "webgl_runtime.js").write_text(RUNTIME_JS.read_text())
    (root / "plugin.jslib").write_text(JSLIB.read_text())

    class Quiet(http.server.SimpleHTTPRequestHandler):
        extensions_map: ClassVar[dict[str, str]] = {
            ".jslib": "text/javascript",
            ".js": "text/javascript",
            ".html": "text/html",
        }

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


TOKEN = "webgl-secret"


@pytest.fixture(scope="module")
def webgl_server(game_host: str) -> Iterator[ServerProcess]:
    """A live server that lets the game's origin open the socket (--origin), with a token, as a deployment would."""
    srv = ServerProcess("--port", str(free_port()), "--origin", game_host, "--token", TOKEN)
    yield srv
    srv.stop()


def with_token(srv: ServerProcess) -> str:
    """The URL WebGLWebSocketTransport opens: browsers cannot set headers, so the token goes in the query."""
    return f"{srv.url}?token={TOKEN}"


@pytest.fixture
def page(browser: Any, game_host: str) -> Iterator[Any]:
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(game_host + "/index.html")
    merged = pg.evaluate("unityRuntime.merged")
    assert "DoodleStreamWs_Connect" in merged and len(merged) == len(jslib_functions()), merged
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def until(page: Any, sock: int, kind: str, timeout_ms: int = 20_000) -> list[dict[str, Any]]:
    return page.evaluate("([id, kind, t]) => unityCaller.until(id, kind, t)", [sock, kind, timeout_ms])  # type: ignore[no-any-return]


def decoded(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [msgpack.unpackb(bytes(e["data"])) for e in events if e["kind"] == "message"]


@chromium
@pytest.mark.browser
def test_jslib_connects_sends_a_stroke_gets_guesses_and_closes(page: Any, webgl_server: ServerProcess) -> None:
    """The .jslib socket: open, welcome, a stroke and points + pen-up answered with guesses, a client close 1000."""
    sock = page.evaluate("url => unityCaller.connect(url, 2 * 1024 * 1024)", with_token(webgl_server))
    events = until(page, sock, "message")
    assert events[0]["kind"] == "open"
    (welcome,) = decoded(events)
    assert welcome["type"] == "welcome" and welcome["protocol"] == 1
    page.evaluate("growMemory(4 << 20)")  # the heap moved: the plugin must read HEAPU8 afresh

    stroke = msgpack.packb({"type": "stroke", "seq": 1, "x": [0, 40, 80, 120], "y": [0, 60, 0, 60]})
    assert page.evaluate("([id, b]) => unityCaller.send(id, b)", [sock, list(stroke)]) == 0
    (guesses,) = decoded(until(page, sock, "message"))
    assert guesses["type"] == "guesses" and guesses["seq"] == 1 and guesses["strokes"] == 1
    assert len(guesses["guesses"]) == 5

    points = msgpack.packb({"type": "points", "seq": 2, "x": [10.5, 60, 100], "y": [90, 5, 90]})
    pen_up = msgpack.packb({"type": "pen_up", "seq": 3})
    for frame in (points, pen_up):
        assert page.evaluate("([id, b]) => unityCaller.send(id, b)", [sock, list(frame)]) == 0
    (after,) = decoded(until(page, sock, "message"))
    assert after["type"] == "guesses" and after["seq"] == 3 and after["strokes"] == 2
    assert page.evaluate("id => unityCaller.buffered(id)", sock) == 0

    page.evaluate("id => unityCaller.close(id, 1000, 'client closing')", sock)
    closed = until(page, sock, "closed")
    assert [e["kind"] for e in closed] == ["closed"] and closed[0]["code"] == 1000
    assert page.evaluate("([id, b]) => unityCaller.send(id, b)", [sock, list(pen_up)]) == -1
    page.evaluate("id => unityCaller.free(id)", sock)
    assert page.evaluate("id => unityCaller.poll(id)", sock) == []


@chromium
@pytest.mark.browser
def test_jslib_reports_the_server_closing_and_an_oversized_message(page: Any, webgl_server: ServerProcess) -> None:
    """A frame over max_frame_bytes gets the server's 1009 close; a message over the caller's limit is an error."""
    sock = page.evaluate("url => unityCaller.connect(url, 2 * 1024 * 1024)", with_token(webgl_server))
    (welcome,) = decoded(until(page, sock, "message"))
    too_big = welcome["limits"]["max_frame_bytes"] + 1
    page.evaluate("([id, n]) => unityCaller.send(id, new Uint8Array(n).fill(0x90))", [sock, too_big])
    closed = until(page, sock, "closed")
    assert closed[-1]["kind"] == "closed" and closed[-1]["code"] == 1009, closed
    assert not [e for e in closed if e["kind"] == "message"]

    small = page.evaluate("url => unityCaller.connect(url, 64)", with_token(webgl_server))  # a welcome is larger
    events = until(page, small, "closed")
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "open" and "message" not in kinds and kinds[-1] == "closed", events
    (error,) = [e for e in events if e["kind"] == "error"]
    assert "over the limit of 64" in error["reason"]


@chromium
@pytest.mark.browser
def test_jslib_reports_failed_connections_as_error_then_close(page: Any, server: ServerProcess) -> None:
    """A refused origin (403), a closed port and a malformed URL each give an error then a 1006 close, never open."""
    for url in (server.url, f"ws://127.0.0.1:{free_port()}/ws", "not a url"):
        sock = page.evaluate("url => unityCaller.connect(url, 1024)", url)
        events = until(page, sock, "closed")
        assert [e["kind"] for e in events] == ["error", "closed"], (url, events)
        assert events[1]["code"] == 1006 and events[0]["reason"]
        page.evaluate("id => unityCaller.free(id)", sock)


@chromium
@pytest.mark.browser
def test_jslib_close_and_free_still_send_what_the_socket_holds(page: Any) -> None:
    """Close and Free right after many sends (a disabled component): every frame still reaches the server."""
    frames = 20
    with FaultServer("record") as server:
        sock = page.evaluate("url => unityCaller.connect(url, 1 << 20)", server.url)
        until(page, sock, "message")
        stroke = msgpack.packb({"type": "stroke", "x": list(range(10_000)), "y": list(range(10_000))})
        sent = page.evaluate(
            "([id, b, n]) => { const r = []; for (let i = 0; i < n; i++) r.push(unityCaller.send(id, b));"
            " unityCaller.close(id, 1000, 'client closing'); unityCaller.free(id); return r; }",
            [sock, list(stroke), frames],
        )
        assert sent == [0] * frames
        deadline = time.monotonic() + 20
        while len(server.received[0]) < frames and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.received[0] == ["stroke"] * frames


@chromium
@pytest.mark.browser
def test_jslib_opens_a_token_server_only_with_the_token_in_the_url(page: Any, webgl_server: ServerProcess) -> None:
    """Without ?token= a --token server refuses the browser (error, 1006); with it, the socket opens: welcome."""
    refused = page.evaluate("url => unityCaller.connect(url, 1 << 20)", webgl_server.url)
    assert [e["kind"] for e in until(page, refused, "closed")] == ["error", "closed"]
    sock = page.evaluate("url => unityCaller.connect(url, 1 << 20)", with_token(webgl_server))
    (welcome,) = decoded(until(page, sock, "message"))
    assert welcome["type"] == "welcome"
