"""Generated module source imported in memory, for the commands and tests that run a cell."""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType


def load_generated(source: str, name: str) -> ModuleType:
    """Import generated module source under a private name, from a temporary file."""
    with tempfile.TemporaryDirectory(prefix="derive-") as folder:
        path = Path(folder) / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"derive_generated_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def generated_module(spec) -> ModuleType:
    """A CellSpec's generated NumPy module, generated now and imported under a private name."""
    from .pipeline import generate  # generation loads SymPy: only when a cell is generated

    return load_generated(generate(spec)[f"{spec.name}/{spec.name}.py"], spec.name)
