"""Shared helpers: the built-in catalog, generated modules loaded fresh, spec paths."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))  # reference_cells.py and oracle.py sit beside the tests

from derive.catalog import builtin_names, builtin_spec  # noqa: E402
from derive.loader import load_generated  # noqa: E402
from derive.pipeline import generate  # noqa: E402
from derive.spec import load_spec  # noqa: E402

CATALOG = builtin_names()


def spec_path(name: str) -> Path:
    return ROOT / "derive" / "cells" / f"{name}.toml"


@functools.lru_cache(maxsize=None)
def module_for(name: str):
    """The generated module of a built-in cell, generated now (not read from generated/)."""
    spec = builtin_spec(name)
    return load_generated(generate(spec)[f"{name}/{name}.py"], name)


def module_from_file(path: Path):
    spec = load_spec(path)
    return load_generated(generate(spec)[f"{spec.name}/{spec.name}.py"], spec.name)


@pytest.fixture(params=CATALOG)
def cell(request) -> str:
    """Each built-in cell name in turn: adding a spec adds its tests."""
    return request.param
