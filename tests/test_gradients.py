"""Every built-in cell: central finite differences and the independent autograd oracle.

The oracle (tests/oracle.py) reads the spec itself and evaluates it with autograd.numpy;
it shares no code with derive.
"""
import numpy as np
import pytest
from conftest import module_for, spec_path

from derive.gradcheck import gradcheck

oracle = pytest.importorskip("oracle")


def test_finite_differences(cell):
    rows = gradcheck(module_for(cell), input_size=3, hidden_size=4, steps=3, batch=2, seed=3)
    checked = {row.name for row in rows}
    module = module_for(cell)
    assert checked == set(module.PARAM_SHAPES) | {"xs"} | {f"state0[{k}]" for k in module.STATE}
    worst = max(rows, key=lambda row: row.error)
    assert worst.error < 1e-6, f"{worst.name}: {worst.error:.2e}"


@pytest.mark.parametrize("T,B,D,H", [(1, 1, 2, 3), (4, 3, 5, 2), (3, 2, 3, 3)])
def test_autograd_oracle(cell, T, B, D, H):
    path = spec_path(cell)
    problem = oracle.random_problem(path, T, B, D, H, seed=T * 100 + H)
    module = module_for(cell)
    outputs, cache = module.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    expected_outputs, expected_final = oracle.evaluate_sequence(path, problem["params"], problem["xs"], problem["state0"])
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-12, atol=1e-14)
    for name in module.STATE:
        np.testing.assert_allclose(cache["final_state"][name], expected_final[name], rtol=1e-12, atol=1e-14)
    grads, dxs, d_state0 = module.backward_sequence(problem["params"], cache, problem["d_outputs"], problem["d_state_last"])
    expected = oracle.oracle_gradients(path, **problem)
    for name in module.PARAM_SHAPES:
        np.testing.assert_allclose(grads[name], expected["params"][name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dxs, expected["xs"], rtol=1e-10, atol=1e-12)
    for name in module.STATE:
        np.testing.assert_allclose(d_state0[name], expected["state0"][name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_float32_stays_float32(cell):
    module = module_for(cell)
    rng = np.random.default_rng(0)
    params = module.init_params(3, 4, rng=rng, dtype=np.float32)
    xs = rng.normal(size=(2, 2, 3)).astype(np.float32)
    outputs, cache = module.forward_sequence(params, xs)
    grads, dxs, d_state0 = module.backward_sequence(params, cache, np.ones_like(outputs))
    arrays = [outputs, dxs, *grads.values(), *d_state0.values(), *cache["final_state"].values()]
    assert all(array.dtype == np.float32 for array in arrays)


def test_init_params_accepts_seed_generator_and_none(cell):
    module = module_for(cell)
    by_seed = module.init_params(3, 4, rng=5)
    by_generator = module.init_params(3, 4, rng=np.random.default_rng(5))
    assert all(np.array_equal(by_seed[k], by_generator[k]) for k in by_seed)
    assert set(module.init_params(3, 4)) == set(module.PARAM_SHAPES)
    bound = 1 / np.sqrt(4)
    assert all(np.all(np.abs(v) <= bound) for v in by_seed.values())


def test_gradcheck_catches_a_wrong_backward():
    """The checker is only worth its threshold if a small error in a backward line fails it."""
    from derive.catalog import builtin_spec
    from derive.gradcheck import load_generated
    from derive.pipeline import generate

    source = generate(builtin_spec("nico"))["nico/nico.py"]
    assert "d_s_prev = d_s*f\n" in source
    broken = load_generated(source.replace("d_s_prev = d_s*f\n", "d_s_prev = d_s*f*1.001\n"), "nico_broken")
    rows = {row.name: row.error for row in gradcheck(broken)}
    assert rows["state0[s]"] > 1e-4
