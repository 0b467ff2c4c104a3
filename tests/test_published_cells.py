"""Published cells that the catalog does not have (tests/cells/*.toml), each built by derive's own
pipeline in memory and checked like the catalog: central finite differences on every parameter,
the inputs and every initial state (float64, a short sequence), and the autograd oracle
(tests/oracle.py), which reads the same spec on its own, for the forward outputs, the final
states and every gradient. Each spec's comment says how it maps to its paper.
"""
import functools
from pathlib import Path

import numpy as np
import pytest
from conftest import TESTS, module_from_file
from test_gradients import fast_sequence_matches_the_oracle

from derive.catalog import builtin_names
from derive.gradcheck import gradcheck

oracle = pytest.importorskip("oracle")

CELLS = sorted((TESTS / "cells").glob("*.toml"))
FD_TOLERANCE = 1e-6  # as tests/test_gradients.py holds the catalog


@functools.lru_cache(maxsize=None)
def module(path: Path):
    return module_from_file(path)


@pytest.fixture(params=CELLS, ids=lambda path: path.stem)
def spec(request) -> Path:
    """Each spec under tests/cells in turn: adding a file adds its tests."""
    return request.param


def test_published_cells_are_outside_the_catalog():
    """A cell promoted to the catalog is moved there, not copied: no second spec to drift from it."""
    assert CELLS, "tests/cells/ has no spec"
    promoted = sorted({path.stem for path in CELLS} & set(builtin_names()))
    assert not promoted, f"in the catalog and in tests/cells/ as well: {promoted}"


def test_finite_differences(spec):
    cell = module(spec)
    rows = gradcheck(cell, input_size=3, hidden_size=4, steps=3, batch=2, seed=3)
    assert {row.name for row in rows} == set(cell.PARAM_SHAPES) | {"xs"} | {f"state0[{k}]" for k in cell.STATE}
    wrong = [f"{row.name}: {row.error:.2e}" for row in rows if not row.error < FD_TOLERANCE]
    assert not wrong, f"{spec.name}: relative error above {FD_TOLERANCE:g} for " + ", ".join(wrong)


def test_autograd_oracle(spec):
    """Outputs, parameter gradients and dL/dx, by the helper test_gradients.py uses for its own cells."""
    fast_sequence_matches_the_oracle(spec, seed=5)


def test_final_state_and_initial_state_gradients_match_the_oracle(spec):
    """What fast_sequence_matches_the_oracle leaves out: every state's final value and dL/dstate(0)."""
    cell = module(spec)
    problem = oracle.random_problem(spec, 3, 2, 2, 3, seed=5)
    _, expected_final = oracle.evaluate_sequence(spec, problem["params"], problem["xs"], problem["state0"])
    expected_d_state0 = oracle.oracle_gradients(spec, **problem)["state0"]
    _, cache = cell.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    *_, d_state0 = cell.backward_sequence(problem["params"], cache, problem["d_outputs"], problem["d_state_last"])
    for name in cell.STATE:
        np.testing.assert_allclose(cache["final_state"][name], expected_final[name], rtol=1e-12, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(d_state0[name], expected_d_state0[name], rtol=1e-10, atol=1e-12, err_msg=name)
