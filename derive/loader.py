"""Generated module source imported in memory, for the commands and tests that run a cell."""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType

from .errors import DeriveError


def load_generated(source: str, name: str) -> ModuleType:
    """Import generated module source under a private name, from a temporary file."""
    with tempfile.TemporaryDirectory(prefix="derive-") as folder:
        path = Path(folder) / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"derive_generated_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


# What gradcheck (and derive/contract.py) read of a module: a user's own module must define them too.
CONTRACT = ("SIZES", "INPUTS", "STATE", "STATE_SIZES", "OUTPUT", "PARAM_SHAPES", "init_params", "forward_sequence",
            "backward_sequence")


def user_module(path: Path) -> ModuleType:
    """A user's module that follows the generated-module contract (`derive gradcheck --module FILE.py`),
    imported from its file: its code runs, as the user asked. Refused, naming what is missing, if it
    does not define the contract's names."""
    if path.suffix != ".py" or not path.is_file():
        raise DeriveError(f"--module {path}: expected a Python file (.py) that exists")
    spec = importlib.util.spec_from_file_location(f"derive_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: any failure is theirs, reported as such
        raise DeriveError(f"--module {path}: importing it raised {type(error).__name__}: {error}") from None
    missing = [name for name in CONTRACT if not hasattr(module, name)]
    if missing:
        raise DeriveError(f"--module {path}: it does not define {', '.join(missing)}; expected the generated-module "
                          f"contract ({', '.join(CONTRACT)}), as generated/NAME/NAME.py defines it")
    return module


def generated_module(spec) -> ModuleType:
    """A CellSpec's generated NumPy module, generated now and imported under a private name."""
    from .pipeline import generate  # generation loads SymPy: only when a cell is generated

    return load_generated(generate(spec)[f"{spec.name}/{spec.name}.py"], spec.name)
