"""Packaging (pyproject.toml): the wheel carries the server and its model, and serves from anywhere."""

from __future__ import annotations

import ast
import email
import ensurepip
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from hatchling.builders.wheel import WheelBuilder

from server.spawn import ServerProcess
from tests.conftest import MODEL_DIR, ROOT, http_get
from tests.support import js_imports

#: Top-level module a server import names -> the distribution that provides it.
DISTRIBUTION_OF = {
    "cv2": "opencv-python-headless",
    "ai_edge_litert": "ai-edge-litert",
    "numpy": "numpy",
    "websockets": "websockets",
    "msgpack": "msgpack",
    "werkzeug": "werkzeug",
    "jinja2": "jinja2",
    "prometheus_client": "prometheus-client",
    "uvloop": "uvloop",
}
#: Top-level modules behind an optional extra -> (the distribution, the only server module that may import them:
#: itself imported only when the extra's feature is asked for).
OPTIONAL_OF = {
    "psycopg": ("psycopg", "server/history/postgres.py"),
    "psycopg_pool": ("psycopg-pool", "server/history/postgres.py"),
}
#: What serving must not pull in.
TRAINING_ONLY = {"tensorflow", "tensorflow-cpu", "keras", "matplotlib", "flask"}


#: Pages whose every file must load from an installed wheel.
PAGES = ["/", "/?mode=play", "/gallery", "/gallery/mine", "/r"]


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    (path,) = WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])
    return Path(path)


@pytest.fixture(scope="module")
def wheel(wheel_path: Path) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(wheel_path) as z:
        yield z


def tracked(pattern: str) -> set[str]:
    res = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(res.stdout.split())


def requirements(wheel: zipfile.ZipFile) -> tuple[set[str], set[str]]:
    """Names of the wheel's unconditional requirements, and of those behind an extra."""
    meta = email.message_from_bytes(wheel.read("doodlestream-0.1.0.dist-info/METADATA"))
    plain, extra = set(), set()
    for req in meta.get_all("Requires-Dist") or []:
        name = req.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()
        (extra if "extra ==" in req else plain).add(name)
    return plain, extra


def test_the_wheel_holds_every_server_file_and_the_shipped_model(wheel: zipfile.ZipFile) -> None:
    """Every tracked file of server/ and replay_client/ is in the wheel; the model files are byte-identical."""
    names = set(wheel.namelist())
    missing = {f for f in tracked("server") | tracked("replay_client") if f not in names}
    assert not missing, f"not in the wheel: {sorted(missing)}"
    for f in ("doodle.tflite", "labels.txt", "model.json", "custom_words.npz"):
        assert wheel.read(f"server/models/{f}") == (MODEL_DIR / f).read_bytes()
    assert not {n for n in names if n.startswith(("tests/", "training/", "bench/", "models/"))}


def test_serving_needs_no_tensorflow_and_every_server_import_is_a_dependency(wheel: zipfile.ZipFile) -> None:
    """The wheel's plain requirements cover each third-party module server/ imports (PostgreSQL's psycopg: its
    extra, imported by server/history/postgres.py alone), and include no training stack."""
    plain, extra = requirements(wheel)
    assert not plain & TRAINING_ONLY and {"tensorflow-cpu", "keras", "tqdm", "flask"} <= extra
    imported: set[str] = set()
    for path in (ROOT / "server").rglob("*.py"):
        here: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                here |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                here.add(node.module.split(".")[0])
        rel = path.relative_to(ROOT).as_posix()
        for m in here & set(OPTIONAL_OF):
            assert OPTIONAL_OF[m][1] == rel, f"{rel} imports {m}, which only the optional extra installs"
            assert OPTIONAL_OF[m][0] in extra, f"{OPTIONAL_OF[m][0]} is not in an extra"
        imported |= here - set(OPTIONAL_OF)
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in {"server", "__future__"}}
    assert third_party <= set(DISTRIBUTION_OF), f"add to [project] dependencies: {third_party - set(DISTRIBUTION_OF)}"
    assert {DISTRIBUTION_OF[m] for m in third_party} <= plain


def test_the_unpacked_wheel_serves_its_model_and_sketchpad_elsewhere(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    """Unpacked outside the checkout (as pip installs it), the server runs on the wheel's model, answers /healthz and
    serves the sketchpad with its msgpack file."""
    site = tmp_path / "site"
    wheel.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    srv = ServerProcess("--db", ":memory:", env=env, cwd=elsewhere)
    try:
        health = srv.healthz()
        assert health["status"] == "ok" and health["classes"] == 345
        for path, marker in (("/", b"<canvas"), ("/vendor/msgpack.min.js", b"msgpack")):
            status, body, _ = http_get(srv.http + path)
            assert status == 200 and marker in body, path  # the sketchpad ships in the wheel too
    finally:
        assert srv.stop() == 0, srv.stderr()
    assert (
        str(site)
        in subprocess.run(  # the server imported was the wheel's, not the checkout's
            [sys.executable, "-c", "import server; print(server.__file__)"],
            env=env,
            cwd=elsewhere,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


class _References(HTMLParser):
    """The files an HTML page loads: scripts, stylesheets, icons and images (not links to other pages)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        ref = a.get("src") if tag in ("script", "img") else a.get("href") if tag == "link" else None
        if ref and not ref.startswith("data:"):
            self.found.append(ref)


def referenced(url: str, body: bytes, ctype: str) -> list[str]:
    """The URLs a page, stylesheet or ES module loads (HTML tags, CSS ``url()``, static and dynamic imports)."""
    text = body.decode("utf-8")
    if ctype.startswith("text/html"):
        parser = _References()
        parser.feed(text)
        refs = parser.found
    elif ctype.startswith("text/css"):
        refs = [r for r in re.findall(r"""url\(\s*["']?([^"')]+)["']?\s*\)""", text) if not r.startswith("data:")]
    elif "javascript" in ctype and "MessagePack" not in text:  # npm's bundle is not an ES module
        refs = [spec for _, spec in js_imports(text)]
    else:
        refs = []
    return [urljoin(url, r) for r in refs]


def test_an_installed_wheel_serves_every_file_its_pages_load(wheel_path: Path, tmp_path: Path) -> None:
    """pip-installed (no dependencies, into a folder outside the checkout), the server serves /, the play mode and
    the gallery with every file they load: scripts, stylesheets, pictures, ES-module imports followed."""
    pip = next((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))  # Python's own pip, offline
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            f"{pip}/pip",
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(site),
            str(wheel_path),
        ],
        check=True,
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    srv = ServerProcess("--db", ":memory:", env={"PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}, cwd=elsewhere)
    try:
        loaded: dict[str, int] = {}
        todo = [srv.http + p for p in PAGES]
        while todo:
            url = todo.pop()
            key = urlsplit(url)._replace(fragment="").geturl()
            if key in loaded:
                continue
            status, body, ctype = http_get(key)
            loaded[key] = status
            if status == 200:
                todo += [u for u in referenced(key, body, ctype) if u.startswith(srv.http)]
        assert srv.healthz()["status"] == "ok"
    finally:
        assert srv.stop() == 0, srv.stderr()
    paths = {urlsplit(u).path for u in loaded}
    failed = {u: s for u, s in loaded.items() if s != 200}
    assert not failed, f"not served by the installed wheel: {failed}"
    expected = {"/main.js", "/game.js", "/pad.js", "/socket.js", "/words.json", "/vendor/msgpack.min.js", "/logo.svg"}
    assert expected | {"/gallery/gallery.js", "/gallery/mine.js", "/storage.js", "/drawing.js", "/room.js"} <= paths
