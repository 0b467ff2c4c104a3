"""Skip cells whose inputs have not changed since the last build into the same folder.

A cell's key hashes everything that can change its outputs: derive's own code, the templates
(derive's and a user's), the spec text and SymPy's version. The manifest (.derive-cache.json
in the output folder, not committed) maps each cell to its key and the hashes of the files it
wrote; a cell is skipped only when its key matches and every one of its files still has
those bytes, so an edited or deleted output is always regenerated.
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

MANIFEST = ".derive-cache.json"


def _digest(*chunks: bytes) -> str:
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(len(chunk).to_bytes(8, "little"))
        hasher.update(chunk)
    return hasher.hexdigest()


def generator_digest(template_dirs: list[Path]) -> str:
    """Hash of derive's code, the templates in use, and the SymPy version."""
    package = Path(__file__).resolve().parent
    files = sorted(package.rglob("*.py")) + [p for d in template_dirs for p in sorted(Path(d).glob("*.j2"))]
    return _digest(metadata.version("sympy").encode(), *(p.as_posix().encode() + p.read_bytes() for p in files))


def cell_key(generator: str, spec_path: str, spec_text: str) -> str:
    return _digest(generator.encode(), spec_path.encode(), spec_text.encode())


def load(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
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
            data = (out_dir / relative).read_bytes()
        except OSError:
            return None
        if _digest(data) != digest:
            return None
        files[relative] = data.decode("utf-8")
    return files


def entry(key: str, files: dict[str, str]) -> dict:
    return {"key": key, "files": {relative: _digest(text.encode("utf-8")) for relative, text in sorted(files.items())}}


def save(out_dir: Path, manifest: dict) -> None:
    """Best effort: a manifest that cannot be written only costs the next build its shortcut."""
    try:
        (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass
