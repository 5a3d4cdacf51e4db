"""The code's layout: no import cycles among server modules (type-only ones included), one error-code list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from server.errors import ErrorCode
from server.history.errors import HistoryCode
from server.resume import ResumeCode
from server.rooms.errors import RoomCode
from server.teach_protocol import TeachCode
from tests.conftest import ROOT

SERVER = ROOT / "server"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def server_imports(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The ``server.*`` modules ``path`` imports anywhere (functions and ``if TYPE_CHECKING:`` blocks too)."""
    found: set[str] = set()
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        found |= {n for n in names if n in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(SERVER.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): server_imports(p, modules) - {module_name(p)} for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a package's ``__init__`` counts as imported by its modules), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (cycle := visit(n)) is not None:
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)) is not None:
            return cycle
    return None


def test_server_modules_import_no_cycle() -> None:
    """No chain of imports among server/ modules, type-only imports included, leads back to where it began."""
    graph = import_graph()
    assert "server.app" in graph and "server.history.gallery" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_type_only_cycle(tmp_path: Path) -> None:
    """The check itself: an import under TYPE_CHECKING that closes a loop is reported."""
    a = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from server.b import B\n"
    b = "def f():\n    from server import a\n"
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "a.py").write_text(a)
    (tmp_path / "server" / "b.py").write_text(b)
    modules = {"server.a", "server.b", "server"}
    parse = {
        m: server_imports(tmp_path / "server" / f"{m[7:]}.py", modules, tmp_path) for m in ("server.a", "server.b")
    }
    assert parse == {"server.a": {"server.b"}, "server.b": {"server.a", "server"}}
    assert find_cycle(parse) in (["server.a", "server.b", "server.a"], ["server.b", "server.a", "server.b"])


def test_readme_lists_exactly_the_error_codes_of_the_enum() -> None:
    """The README's "Error codes:" paragraph names every code of the core and the shipped features, nothing else."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("Error codes:") :].split("\n\n", 1)[0]
    codes_part = re.sub(r"\([^)]*\)", "", paragraph.split(". An error never")[0])  # drop the explanations
    listed = re.findall(r"`([a-z_]+)`", codes_part)
    codes = [code.value for enum in (ErrorCode, HistoryCode, TeachCode, ResumeCode, RoomCode) for code in enum]
    assert sorted(listed) == sorted(codes)
    assert len(listed) == len(set(listed))


def test_no_error_code_is_a_bare_string_at_a_raise_site() -> None:
    """Every ``code=`` given in server/ is an ErrorCode member, never a string literal."""
    offenders = []
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant):
                offenders.append(f"{path.relative_to(ROOT)}:{node.value.lineno}")
    assert offenders == []


def test_no_test_module_imports_another() -> None:
    """Test modules share helpers through conftest.py or support modules, never by importing a test_*.py."""
    offenders = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if re.match(r"tests\.test_", n)]
    assert offenders == []


def test_every_exception_type_lives_where_errors_py_says() -> None:
    """Each exception class defined under server/ is in server/errors.py or a module its docstring names for it."""
    import importlib
    import inspect

    import server.errors

    doc = server.errors.__doc__ or ""
    misplaced, found = [], []
    for path in sorted(SERVER.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "server/errors.py" or rel.endswith("__main__.py"):
            continue
        module = importlib.import_module(rel.removesuffix(".py").replace("/", "."))
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.append(name)
                if f"``{rel}``" not in doc:
                    misplaced.append(f"{rel}: {name}")
    assert misplaced == [] and len(found) >= 10, found


def layout_rows() -> list[tuple[list[str], str]]:
    """The README's layout table: each row's paths (first column) and its description."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Layout") :].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            rows.append((re.findall(r"`([^`]+)`", cells[0]), " | ".join(cells[1:])))
    return rows


def test_the_readme_layout_table_matches_the_tree() -> None:
    """Every server module is a row of the README's layout table (or named in its package's row), every path
    there exists, and the files a folder's row names are in that folder."""
    rows = layout_rows()
    listed = {p for paths, _ in rows for p in paths}
    missing_paths = sorted(p for p in listed if not (ROOT / p).exists())
    # A package's own row may name its modules instead: `server/rooms/` ... `room.py` ...
    listed |= {
        folder + name
        for paths, text in rows
        for folder in paths
        if folder.endswith("/")
        for name in re.findall(r"`([\w.]+\.py)`", text)
    }
    modules = {p.relative_to(ROOT).as_posix() for p in SERVER.rglob("*.py") if p.name != "__init__.py"}
    unlisted = sorted(modules - listed)
    wrong_files = [
        f"{folder}: {name}"
        for paths, text in rows
        for folder in paths
        if folder.endswith("/")
        for name in re.findall(r"`([\w.]+\.(?:py|js|cs|cfg|md|json|txt|tflite|npz))`", text)
        if not list((ROOT / folder).rglob(name))
    ]
    assert (missing_paths, unlisted, wrong_files) == ([], [], [])
