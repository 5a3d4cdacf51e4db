"""Who may connect and what can be read: token, origins, query checks, traversal, no code from clients, no root."""

from __future__ import annotations

import ast
import asyncio
import http.client
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from replay_client.client import DoodleClient
from server.app import DoodleServer, ServerConfig
from server.web import WebClient
from tests.conftest import ROOT, ServerProcess
from tests.support import FakeModel, InProcessServer

TOKEN = "s3cret-tök3n"  # non-ASCII on purpose: compared as UTF-8 bytes


def raw_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = dict(headers or {})
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True, skip_host="Host" in headers)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


#: The headers of a complete WebSocket handshake (RFC 6455's example key).
HANDSHAKE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


async def status_of(url: str, **kw: object) -> int:
    """101 when the WebSocket handshake succeeds, else the HTTP status it was refused with."""
    try:
        async with connect(url, open_timeout=10, **kw) as ws:  # type: ignore[arg-type]
            await ws.recv()
            return 101
    except InvalidStatus as e:
        return e.response.status_code


@pytest.fixture(scope="module")
def guarded() -> Iterator[InProcessServer]:
    """A live server with a token (from the environment), an extra origin, one session per address, and
    127.0.0.1 trusted as a proxy."""
    srv = InProcessServer(
        "--origin",
        "https://app.example",
        "--max-sessions-per-address",
        "1",
        "--trusted-proxy",
        "127.0.0.1",
        env={"DOODLESTREAM_TOKEN": TOKEN},
    )
    yield srv
    srv.stop()


async def test_token_is_required_in_query_or_bearer_header(guarded: InProcessServer) -> None:
    """With a token set: none or a wrong one gets 401; ?token= or Authorization: Bearer opens the socket;
    /healthz still answers (its status alone: tests/test_access.py)."""
    from urllib.parse import quote

    url = guarded.url
    assert await status_of(url) == 401
    assert await status_of(url + "?token=wrong") == 401
    assert await status_of(url + "?token=" + quote(TOKEN[:-1])) == 401
    assert await status_of(url, additional_headers={"Authorization": "Bearer nope"}) == 401
    assert await status_of(url + "?token=" + quote(TOKEN)) == 101
    assert await status_of(url + "?token=" + quote(TOKEN) + "&token=" + quote(TOKEN)) == 400
    assert raw_get(guarded.port, "/healthz")[0] == 200


async def test_bearer_header_token() -> None:
    """An ASCII token passed with --token is accepted from an Authorization: Bearer header."""
    srv = InProcessServer("--token", "abc123XYZ")
    try:
        assert await status_of(srv.url, additional_headers={"Authorization": "Bearer abc123XYZ"}) == 101
        assert await status_of(srv.url, additional_headers={"Authorization": "Bearer abc123XY"}) == 401
        assert await status_of(srv.url, additional_headers={"Authorization": "Basic abc123XYZ"}) == 401
        assert await status_of(srv.url) == 401
    finally:
        srv.stop()


async def test_browser_origins_are_checked_against_the_host_and_the_allow_list(
    server: ServerProcess, guarded: InProcessServer
) -> None:
    """No Origin (not a browser) is allowed; an Origin must match the Host it reached, or be listed with
    --origin; a foreign or "null" origin is refused with 403."""
    p = server.port
    assert await status_of(server.url) == 101
    assert await status_of(server.url, origin=f"http://127.0.0.1:{p}") == 101
    assert await status_of(server.url, origin="https://evil.example") == 403
    assert await status_of(server.url, origin=f"http://127.0.0.1:{p + 1}") == 403
    assert await status_of(server.url, origin="null") == 403
    h = {"Host": f"doodle.example:{p}", "Origin": f"https://doodle.example:{p}", **HANDSHAKE}
    assert raw_get(p, "/ws", h)[0] == 101
    assert raw_get(p, "/ws", {**h, "Origin": "https://doodle.example"})[0] == 403
    assert raw_get(p, "/ws", {**h, "Host": "doodle.example", "Origin": "https://doodle.example:443"})[0] == 101
    from urllib.parse import quote

    tok = "?token=" + quote(TOKEN)
    assert await status_of(guarded.url + tok, origin="https://app.example") == 101
    assert await status_of(guarded.url + tok, origin="https://other.example") == 403


async def test_ws_query_parameters_are_validated(server: ServerProcess) -> None:
    """/ws accepts only encoding=msgpack|json, each once: anything else is refused with 400."""
    for q in ("?encoding=xml", "?foo=1", "?encoding=json&encoding=json", "?encoding", "?a=1&" * 40):
        assert await status_of(server.url + q) == 400, q
    async with DoodleClient(server.url + "?encoding=json", text=True) as c:
        assert c.welcome["type"] == "welcome"


async def test_per_address_limit_sees_the_client_behind_a_trusted_proxy(guarded: InProcessServer) -> None:
    """From a trusted proxy, X-Forwarded-For's last hop is the client address the per-address cap counts."""
    from urllib.parse import quote

    url = guarded.url + "?token=" + quote(TOKEN)
    async with (
        connect(url, additional_headers={"X-Forwarded-For": "203.0.113.7"}) as a,
        connect(url, additional_headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.8"}) as b,
    ):
        await a.recv()
        await b.recv()
        assert await status_of(url, additional_headers={"X-Forwarded-For": "203.0.113.7"}) == 429
        assert await status_of(url, additional_headers={"X-Forwarded-For": "203.0.113.9"}) == 101


TRAVERSALS = [
    "/../server/app.py",
    "/%2e%2e/server/app.py",
    "/%2E%2E%2Fserver%2Fapp.py",
    "/%252e%252e/server/app.py",
    "/%252e%252e%252fserver%252fapp.py",
    "//etc/passwd",
    "/%2fetc/passwd",
    "/%2Fetc%2Fpasswd",
    "/..%5c..%5cserver%5capp.py",
    "/....//server/app.py",
    "/%00/etc/passwd",
    "/index.html%00.png",
    "/.git/config",
    "/%2e/secret.css",
    "/.secret.css",
    "/out",
    "/out/passwd",
    "/outfile.css",
    "/package.json",
    "/package-lock.json",
    "/node_modules/@msgpack/msgpack/package.json",
    "/node_modules/@msgpack/msgpack/dist.umd/msgpack.min.js",
    "/sub/../../README.md",
]


@pytest.fixture
async def static_server(tmp_path: Path) -> AsyncIterator[DoodleServer]:
    """An in-process server whose web root holds a file, a hidden file and symlinks pointing out of it."""
    root = tmp_path / "web"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<p>hello</p>")
    (root / "sub" / "ok.css").write_text("fine")
    (root / ".secret.css").write_text("hidden")
    (tmp_path / "outside.css").write_text("OUTSIDE")
    (root / "out").symlink_to("/etc")
    (root / "outfile.css").symlink_to(tmp_path / "outside.css")
    srv = DoodleServer(ServerConfig(host="127.0.0.1", port=0), model=FakeModel(), features=[WebClient(root)])
    await srv.start()
    yield srv
    await srv.close()


async def test_static_files_cannot_be_read_outside_their_folder(static_server: DoodleServer) -> None:
    """Encoded, double-encoded, absolute, backslash, NUL, hidden and symlinked-out paths all get 404."""
    port = static_server.port
    assert await asyncio.to_thread(raw_get, port, "/sub/ok.css") == (200, b"fine")
    assert (await asyncio.to_thread(raw_get, port, "/"))[0] == 200
    for path in TRAVERSALS:
        status, body = await asyncio.to_thread(raw_get, port, path)
        assert status in (400, 404), path
        assert b"OUTSIDE" not in body and b"root:" not in body and b"import" not in body and b"hidden" not in body


def test_static_traversal_against_the_live_server(server: ServerProcess) -> None:
    """The same hostile paths against the real server process: never 200."""
    for path in TRAVERSALS:
        status, body = raw_get(server.port, path)
        assert status in (400, 404), path
        assert b"root:" not in body and b"import" not in body


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}


def unsafe_uses(source: str, where: str) -> list[str]:
    """Imports of pickle-like modules, eval/exec/compile/__import__ calls, yaml.load, allow_pickle=... in a module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{at} imports {n}" for n in names if n and n.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.Call):
            f = node.func
            # Bare builtins (eval(...)) and builtins.eval(...); re.compile and friends are fine.
            if isinstance(f, ast.Name):
                name = f.id
            elif isinstance(f, ast.Attribute) and ast.unparse(f.value) in {"builtins", "__builtins__"}:
                name = f.attr
            else:
                name = f.attr if isinstance(f, ast.Attribute) and f.attr == "load" else ""
            if name in FORBIDDEN_CALLS or (name == "load" and "yaml" in ast.unparse(f)):
                found.append(f"{at} calls {name}")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{at} passes allow_pickle")
    return found


def test_server_package_never_unpickles_or_evaluates_client_data() -> None:
    """No module of server/ imports pickle/marshal/shelve, calls eval/exec/compile/__import__ or yaml.load, or
    loads numpy files with allow_pickle."""
    found = [hit for p in sorted((ROOT / "server").rglob("*.py")) for hit in unsafe_uses(p.read_text(), p.name)]
    assert not found, found


def test_the_unsafe_code_scan_flags_each_thing_it_looks_for() -> None:
    """The scan flags pickle/marshal imports, eval/exec calls, yaml.load and allow_pickle=True; not safe code."""
    bad = {
        "import pickle": "imports pickle",
        "from marshal import loads": "imports marshal",
        "x = eval('1')": "calls eval",
        "exec(code)": "calls exec",
        "yaml.load(s)": "calls load",
        "np.load('f', allow_pickle=True)": "passes allow_pickle",
    }
    for line, what in bad.items():
        assert [h.split(" ", 1)[1] for h in unsafe_uses(line, "m")] == [what], line
    assert (
        unsafe_uses("import json\njson.loads(s)\nnp.load('f', allow_pickle=False)\nloop.run_in_executor(None, f)", "m")
        == []
    )


async def test_it_runs_unprivileged_with_nothing_writable() -> None:
    """As an unprivileged user (nobody, via setpriv when the tests run as root), with HOME and TMPDIR
    unwritable and a read-only working tree, it starts, classifies, and stops with 0."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root in this test"
        prefix = (setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--reset-env")
    env = {"HOME": "/nonexistent", "TMPDIR": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    srv = ServerProcess(env=env, prefix=prefix)
    try:
        pid_uid = int(Path(f"/proc/{srv.proc.pid}/status").read_text().split("Uid:")[1].split()[1])
        assert pid_uid != 0
        async with DoodleClient(srv.url) as c:
            r = await c.request({"type": "stroke", "x": [0, 50, 100], "y": [0, 80, 0]})
            assert r["type"] == "guesses" and len(r["guesses"]) == 5
        assert "running as root" not in srv.stderr()
    finally:
        assert srv.stop() == 0
