"""The browser client's ES modules (web_client/, the gallery's server/history/static/): every import resolves, no
import cycle, no export nobody imports, and localStorage keys declared in storage.js alone."""

from __future__ import annotations

import re
from pathlib import Path

from server.history.gallery import ASSETS, STATIC
from tests.conftest import ROOT
from tests.support import js_imports

WEB = ROOT / "web_client"
#: Every file of the client's own code (npm's packages are not ours).
MODULES = sorted(WEB.glob("*.js")) + sorted(STATIC / a for a in ASSETS if a.endswith(".js"))
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:const|let|function\*?|class)\s+(?P<name>[\w$]+)", re.MULTILINE)


def resolve(spec: str, importer: Path) -> Path:
    """The file a module specifier names, the way the server maps URLs to files (server/web.py, gallery.py)."""
    if spec.startswith("/gallery/"):
        return STATIC / spec.removeprefix("/gallery/")
    if spec.startswith("/"):
        return WEB / spec.removeprefix("/")
    assert spec.startswith("."), f"{importer.name}: bare specifier {spec!r} (browsers cannot load it)"
    return (importer.parent / spec).resolve()


def imports(module: Path) -> list[tuple[str, Path]]:
    """(what is imported, the file) for each import of ``module``: ``{ a, b }``, ``* as ns``, ``default``, or ``""``."""
    return [(what, resolve(spec, module)) for what, spec in js_imports(module.read_text())]


def test_every_import_resolves_to_a_served_file() -> None:
    """Each static and dynamic import (and the JSON word list) names a file that exists."""
    seen = 0
    for module in MODULES:
        for _, target in imports(module):
            assert target.is_file(), f"{module.relative_to(ROOT)} imports missing {target}"
            seen += 1
    assert seen >= 15  # the parser found the imports (pad, socket, view, storage, drawing, words.json, ...)


def test_there_is_no_import_cycle_and_game_never_imports_main() -> None:
    """The import graph is acyclic (depth-first search); main.js is imported by nothing; game.js uses pad and
    socket."""
    graph = {m.resolve(): {t.resolve() for _, t in imports(m) if t.suffix == ".js"} for m in MODULES}
    state: dict[Path, str] = {}

    def visit(node: Path, path: list[Path]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, set()):
            if state.get(nxt) == "open":
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(p.name for p in cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    main = (WEB / "main.js").resolve()
    assert not [m for m, targets in graph.items() if main in targets]
    assert {(WEB / "pad.js").resolve(), (WEB / "socket.js").resolve()} <= graph[(WEB / "game.js").resolve()]
    assert not (WEB / "app.js").exists()


def test_no_module_exports_what_no_module_imports() -> None:
    """Every named export is imported by name, or used through a namespace import (``pad.clear``)."""
    used: dict[Path, set[str]] = {}
    for module in MODULES:
        text = module.read_text()
        for what, target in imports(module):
            names = used.setdefault(target.resolve(), set())
            if what.startswith("* as "):
                ns = what.removeprefix("* as ").strip()
                names |= set(re.findall(rf"\b{re.escape(ns)}\.([\w$]+)", text))
            elif "{" in what:
                inner = what[what.index("{") + 1 : what.index("}")]
                names |= {part.split(" as ")[0].strip() for part in inner.split(",") if part.strip()}
    dead = {
        f"{m.name}: {name}"
        for m in MODULES
        for name in EXPORT.findall(m.read_text())
        if name not in used.get(m.resolve(), set())
    }
    assert not dead, f"exported, never imported: {sorted(dead)}"


def test_local_storage_keys_are_declared_once_in_storage_js() -> None:
    """Only web_client/storage.js names localStorage or a ``doodlestream.`` key; the gallery's pages import it."""
    for module in MODULES:
        if module.name == "storage.js":
            continue
        text = module.read_text()
        assert not re.search(r"\blocalStorage\s*\.", text), module.name
        assert not re.search(r"""["']doodlestream\.""", text), module.name
    assert (WEB / "storage.js").resolve() in {t.resolve() for _, t in imports(STATIC / "mine.js")}
