"""Skip cells whose inputs have not changed since the last build into the same folder.

A cell's key hashes everything that can change its outputs: the modules that generate (the
import closure of pipeline.py, read with ast, named relative to the package so that the key
does not depend on where derive is installed; the CLI, the experiments and the rest of derive
are outside it, so editing them keeps every key), every file of the templates folders (derive's
and a user's, recursively: a template may include, import or extend any of them, by a name
computed at render time), the spec text and SymPy's version. The manifest (.derive-cache.json
in the output folder, not committed) maps each cell to its key and the hashes of the files it
wrote; a cell is skipped only when its key matches and every one of its files still has
those bytes, so an edited or deleted output is always regenerated.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path, PurePosixPath

from .folder import Folder, read_own

MANIFEST = ".derive-cache.json"
PACKAGE = Path(__file__).resolve().parent
GENERATOR = "pipeline.py"  # runs every stage of a build: what it imports is what generates
# An import statement on its own line(s), at any indent: `from .x import (a,\n b)` or `import derive.y`.
# Only these lines go to ast: parsing whole modules cost a cold build 80 ms, the statements 3 ms.
_IMPORT_STATEMENT = re.compile(rb"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|[^\n]*)|import[ \t][^\n]*)", re.M)


def _digest(*chunks: bytes) -> str:
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(len(chunk).to_bytes(8, "little"))
        hasher.update(chunk)
    return hasher.hexdigest()


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    """Every file below folder as (name relative to it, path), sorted; links are followed as Jinja's
    loader follows them, each folder visited once (a link to a parent cannot loop)."""
    found, seen = [], set()
    for root, subfolders, names in os.walk(folder, followlinks=True):
        identity = (os.stat(root).st_dev, os.stat(root).st_ino)
        if identity in seen:
            subfolders[:] = []
            continue
        seen.add(identity)
        subfolders.sort()
        for name in names:
            path = Path(root) / name
            if path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    return sorted(found)


def generating_modules(package: Path, start: str = GENERATOR) -> list[str]:
    """The import closure of start within package, as paths relative to it, sorted: every module
    it imports, at the top or inside a function, and theirs, with each package's __init__.py on
    the way (importing a module runs them). Read with ast: nothing is imported to find it."""
    seen, waiting = set(), [start]
    while waiting:
        relative = waiting.pop()
        if relative in seen or not (package / relative).is_file():
            continue
        seen.add(relative)
        parts = PurePosixPath(relative).parts
        waiting.extend(PurePosixPath(*parts[:depth], "__init__.py").as_posix() for depth in range(len(parts)))
        for target in _imported(package.name, relative, (package / relative).read_bytes()):
            waiting += [PurePosixPath(*target).with_suffix(".py").as_posix() if target else "__init__.py",
                        PurePosixPath(*target, "__init__.py").as_posix()]
    return sorted(seen)


@functools.lru_cache(maxsize=256)  # keyed by the source itself: an edited module is read again
def _imported(package: str, relative: str, source: bytes) -> tuple[tuple[str, ...], ...]:
    """What one module imports from the package, as dotted names split into parts relative to it:
    `from .x import y` gives x and x.y (y may be a module), `from . import x` gives x,
    `from ..x import y` in a subpackage climbs one level, and `derive.x` is read as `.x`."""
    here = PurePosixPath(relative).parent.parts
    found = []
    for node in ast.walk(_import_statements(source, relative) if not relative.endswith("__init__.py") else _eager_part(source, relative)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(here):
                    continue
                base = here[:len(here) - node.level + 1] + (tuple(node.module.split(".")) if node.module else ())
            elif node.module and node.module.split(".")[0] == package:
                base = tuple(node.module.split(".")[1:])
            else:
                continue
            found += [base] + [base + (alias.name,) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [tuple(alias.name.split(".")[1:]) for alias in node.names if alias.name.split(".")[0] == package]
    return tuple(found)


def _eager_part(source: bytes, relative: str) -> ast.Module:
    """A package's __init__.py without its module-level __getattr__: what that imports (derive.Cell,
    derive.build) is imported when someone asks for the name, not when a module of the package is imported."""
    tree = ast.parse(source, relative)
    tree.body = [node for node in tree.body if not (isinstance(node, ast.FunctionDef) and node.name == "__getattr__")]
    return tree


def _import_statements(source: bytes, relative: str) -> ast.Module:
    """The module's import statements as one syntax tree. A line that only looks like an import (in
    a docstring) adds a module to the key, which costs a cache miss at most; if the statements do not
    parse on their own (a backslash continuation), the whole module is read instead."""
    statements = b"\n".join(match.group().strip() for match in _IMPORT_STATEMENT.finditer(source))
    try:
        return ast.parse(statements, relative)
    except SyntaxError:
        return ast.parse(source, relative)


def generator_digest(template_dirs: list[Path]) -> str:
    """Hash of the modules that generate, every file a template may read, and the SymPy version."""
    chunks = [name.encode() + b"\0" + (PACKAGE / name).read_bytes() for name in generating_modules(PACKAGE)]
    for index, folder in enumerate(template_dirs):  # the order matters: the first folder overrides
        chunks.append(f"templates folder {index}".encode())
        chunks.extend(name.encode() + b"\0" + path.read_bytes() for name, path in folder_files(Path(folder)))
    return _digest(metadata.version("sympy").encode(), *chunks)


def cell_key(generator: str, spec_path: str, spec_text: str) -> str:
    return _digest(generator.encode(), spec_path.encode(), spec_text.encode())


def load(out_dir: Path) -> dict:
    """The manifest, or {} if there is none (or it cannot be read); a link there is refused."""
    try:
        data = read_own(out_dir, MANIFEST)
        return json.loads(data.decode("utf-8")) if data is not None else {}
    except (OSError, ValueError):
        return {}


def reusable(manifest: dict, out_dir: Path, name: str, key: str) -> dict[str, str] | None:
    """The cell's files as they are on disk, if they are still exactly what this key produced."""
    entry = manifest.get(name)
    if not entry or entry.get("key") != key:
        return None
    files = {}
    for relative, digest in entry.get("files", {}).items():
        try:
            data = read_own(out_dir, relative)
        except OSError:
            return None
        if data is None or _digest(data) != digest:
            return None
        files[relative] = data.decode("utf-8")
    return files


def entry(key: str, files: dict[str, str]) -> dict:
    return {"key": key, "files": {relative: _digest(text.encode("utf-8")) for relative, text in sorted(files.items())}}


def save(folder: Folder, manifest: dict) -> None:
    """Best effort, atomically, in the locked folder: a manifest that cannot be written only
    costs the next build its shortcut."""
    try:
        folder.replace_file(MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    except OSError:
        pass
