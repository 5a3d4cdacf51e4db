"""Writes (or checks) the Unity ``.meta`` file of every asset in ``unity_client/``.

Unity imports nothing from a read-only package (installed by git URL) that has no ``.meta``, and
writes random GUIDs into a package installed from disk, so teammates get "missing script". Every
file and folder of the package therefore carries a committed ``.meta`` whose GUID is derived from
its path inside the package (MD5 of ``doodlestream:`` + the POSIX path): stable across clones and
unique per path. A ``.meta`` that exists keeps its GUID, whatever its file's path: scenes and
prefabs reference scripts by GUID, so a file that moves or is split keeps the ``.meta`` (and GUID)
it was released with; only a new file gets a derived GUID. Unity skips names starting with ``.``
and folders ending in ``~`` (it copies a
``Samples~`` sample into the project on request), so those folders get no ``.meta``, but what lies
inside them does, so an imported sample keeps its GUIDs.

    python scripts/unity_meta.py           # write missing or stale .meta files, remove orphans
    python scripts/unity_meta.py --check   # list differences, exit status 1 if any

Renaming a file: move its ``.meta`` with it (``git mv`` both) so that its GUID, and every reference
to it, survives; the generator then only rewrites the importer settings around the kept GUID.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "unity_client"

_COMMON = "  externalObjects: {{}}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
_TEMPLATES = {
    "folder": "fileFormatVersion: 2\nguid: {guid}\nfolderAsset: yes\nDefaultImporter:\n" + _COMMON,
    ".cs": (
        "fileFormatVersion: 2\nguid: {guid}\nMonoImporter:\n  externalObjects: {{}}\n  serializedVersion: 2\n"
        "  defaultReferences: []\n  executionOrder: 0\n  icon: {{instanceID: 0}}\n  userData: \n"
        "  assetBundleName: \n  assetBundleVariant: \n"
    ),
    ".asmdef": "fileFormatVersion: 2\nguid: {guid}\nAssemblyDefinitionImporter:\n" + _COMMON,
    ".json": "fileFormatVersion: 2\nguid: {guid}\nTextScriptImporter:\n" + _COMMON,
    ".md": "fileFormatVersion: 2\nguid: {guid}\nTextScriptImporter:\n" + _COMMON,
    # A browser plugin: compiled into WebGL players only.
    ".jslib": (
        "fileFormatVersion: 2\nguid: {guid}\nPluginImporter:\n  externalObjects: {{}}\n  serializedVersion: 2\n"
        "  iconMap: {{}}\n  executionOrder: {{}}\n  defineConstraints: []\n  isPreloaded: 0\n  isOverridable: 0\n"
        "  isExplicitlyReferenced: 0\n  validateReferences: 1\n  platformData:\n  - first:\n      Any: \n"
        "    second:\n      enabled: 0\n      settings: {{}}\n  - first:\n      Editor: Editor\n    second:\n"
        "      enabled: 0\n      settings:\n        DefaultValueInitialized: true\n  - first:\n"
        "      WebGL: WebGL\n    second:\n      enabled: 1\n      settings: {{}}\n  userData: \n"
        "  assetBundleName: \n  assetBundleVariant: \n"
    ),
    "other": "fileFormatVersion: 2\nguid: {guid}\nDefaultImporter:\n" + _COMMON,
}


def guid(rel: str) -> str:
    """The GUID of the asset at POSIX path ``rel`` inside the package: 32 hex digits."""
    return hashlib.md5(f"doodlestream:{rel}".encode()).hexdigest()


def _skipped(name: str) -> bool:
    return name.startswith(".") or name.endswith(".meta")


def assets(root: Path = PACKAGE) -> list[Path]:
    """Every file and folder under ``root`` that Unity imports or that an imported sample holds."""
    out: list[Path] = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(_skipped(part) for part in rel.parts):
            continue
        if p.is_dir() and p.name.endswith("~"):
            continue  # Unity never imports the folder itself
        out.append(p)
    return out


_GUID_LINE = re.compile(r"^guid: ([0-9a-f]{32})$", re.M)


def existing_guid(meta: Path) -> str | None:
    """The GUID an existing ``.meta`` file holds, or None (no file, or no GUID line in it)."""
    if not meta.is_file():
        return None
    m = _GUID_LINE.search(meta.read_text(encoding="utf-8"))
    return m.group(1) if m else None


def expected(root: Path = PACKAGE) -> dict[Path, str]:
    """The ``.meta`` path and text each asset under ``root`` should have: its existing GUID kept,
    a derived one (:func:`guid`) for an asset that has no ``.meta`` yet."""
    metas = {}
    for p in assets(root):
        kind = "folder" if p.is_dir() else p.suffix if p.suffix in _TEMPLATES else "other"
        meta = p.with_name(p.name + ".meta")
        kept = existing_guid(meta)
        metas[meta] = _TEMPLATES[kind].format(guid=kept or guid(p.relative_to(root).as_posix()))
    return metas


def differences(root: Path = PACKAGE) -> tuple[dict[Path, str], list[Path]]:
    """(metas missing or stale with their wanted text, orphan metas to delete)."""
    want = expected(root)
    stale = {m: text for m, text in want.items() if not m.is_file() or m.read_text(encoding="utf-8") != text}
    orphans = [m for m in sorted(root.rglob("*.meta")) if m not in want]
    return stale, orphans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list differences; exit 1 if any")
    args = parser.parse_args(argv)
    stale, orphans = differences()
    for m in stale:
        print(("stale " if m.exists() else "missing ") + str(m.relative_to(PACKAGE)))
    for m in orphans:
        print("orphan " + str(m.relative_to(PACKAGE)))
    if args.check:
        return 1 if stale or orphans else 0
    for m, text in stale.items():
        m.write_text(text, encoding="utf-8")
    for m in orphans:
        m.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
