"""The built-in cells (derive/cells/*.toml) and how a command-line argument names a cell."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .errors import UnknownCellError
from .spec import CellSpec, load_spec, spec_from_text

CELLS_PACKAGE = "derive.cells"


def builtin_names() -> list[str]:
    """Names of the built-in cells, sorted."""
    folder = resources.files(CELLS_PACKAGE)
    return sorted(entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def builtin_spec(name: str) -> CellSpec:
    text = (resources.files(CELLS_PACKAGE) / f"{name}.toml").read_text(encoding="utf-8")
    return spec_from_text(text, f"derive/cells/{name}.toml")


def resolve(argument: str) -> CellSpec:
    """A built-in cell by name, or a spec file by path (anything ending in .toml or naming a file)."""
    # Anything that exists and is not a folder is read as a spec, so that /dev/zero or a FIFO is
    # refused as such by load_spec (never read) rather than called an unknown cell.
    if argument.endswith(".toml") or (os.path.lexists(argument) and not Path(argument).is_dir()):
        return load_spec(argument)
    if argument in builtin_names():
        return builtin_spec(argument)
    raise UnknownCellError(f"unknown cell {argument!r}: expected a built-in cell ({', '.join(builtin_names())}) or a path to a .toml spec")
