"""Every built-in cell: central finite differences and the independent autograd oracle.

The oracle (tests/oracle.py) reads the spec itself and evaluates it with autograd.numpy;
it shares no code with derive.
"""
import numpy as np
import pytest
from conftest import module_for, spec_path

from derive import contract
from derive.gradcheck import gradcheck
from derive.pipeline import generate
from derive.spec import load_spec

oracle = pytest.importorskip("oracle")


def test_finite_differences(cell):
    rows = gradcheck(module_for(cell), input_size=3, hidden_size=4, steps=3, batch=2, seed=3)
    checked = {row.name for row in rows}
    module = module_for(cell)
    inputs = {"xs"} if len(module.INPUTS) == 1 else {f"xs[{name}]" for name in module.INPUTS}
    assert checked == set(module.PARAM_SHAPES) | inputs | {f"state0[{k}]" for k in module.STATE}
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
    assert_inputs_close(module, dxs, expected["xs"], rtol=1e-10, atol=1e-12)
    for name in module.STATE:
        np.testing.assert_allclose(d_state0[name], expected["state0"][name], rtol=1e-10, atol=1e-12, err_msg=name)


def assert_inputs_close(module, actual, expected, **tolerance):
    """Inputs or their adjoints: one array, or a dict by input name for several inputs."""
    actual, expected = contract.as_dict(module, actual), contract.as_dict(module, expected)
    assert actual.keys() == expected.keys() == module.INPUTS.keys()
    for name in actual:
        np.testing.assert_allclose(actual[name], expected[name], **tolerance, err_msg=name)


def test_float32_stays_float32(cell):
    module = module_for(cell)
    rng = np.random.default_rng(0)
    sizes = contract.sizes_of(module, 3, 4)
    params = contract.init(module, sizes, rng=rng, dtype=np.float32)
    xs = contract.inputs(module, sizes, (2, 2), lambda shape: rng.normal(size=shape).astype(np.float32))
    outputs, cache = module.forward_sequence(params, xs)
    grads, dxs, d_state0 = module.backward_sequence(params, cache, np.ones_like(outputs))
    arrays = [outputs, *contract.as_dict(module, dxs).values(), *grads.values(), *d_state0.values(), *cache["final_state"].values()]
    assert all(array.dtype == np.float32 for array in arrays)


def test_init_params_accepts_seed_generator_and_none(cell):
    module = module_for(cell)
    sizes = contract.sizes_of(module, 3, 4)
    by_seed = contract.init(module, sizes, rng=5)
    by_generator = contract.init(module, sizes, rng=np.random.default_rng(5))
    assert all(np.array_equal(by_seed[k], by_generator[k]) for k in by_seed)
    assert set(contract.init(module, sizes)) == set(module.PARAM_SHAPES)
    bound = 1 / np.sqrt(4)
    assert all(np.all(np.abs(v) <= bound) for v in by_seed.values())


def test_gradcheck_catches_a_wrong_backward():
    """The checker is only worth its threshold if a small error in a backward line fails it."""
    from derive.catalog import builtin_spec
    from derive.loader import load_generated
    from derive.pipeline import generate

    source = generate(builtin_spec("nico"))["nico/nico.py"]
    line = "np.multiply(d_s, f, out=d_s_prev)"  # in backward_sequence, which the checker runs
    assert source.count(line) == 1
    broken = load_generated(source.replace(line, "np.multiply(d_s, f * 1.001, out=d_s_prev)"), "nico_broken")
    rows = {row.name: row.error for row in gradcheck(broken)}
    assert rows["state0[s]"] > 1e-4


@pytest.mark.parametrize("T,B,D,H", [(1, 1, 2, 3), (4, 3, 5, 2)])
def test_fast_sequence_matches_the_readable_steps(cell, T, B, D, H):
    """The fused forward_sequence/backward_sequence agree with the readable per-step functions."""
    module = module_for(cell)
    rng = np.random.default_rng(T + H)
    sizes = contract.sizes_of(module, D, H, {size: H + 1 for size in module.SIZES if size not in ("D", "H")})
    params = {k: v * 2 for k, v in contract.init(module, sizes, rng=rng).items()}
    xs = contract.inputs(module, sizes, (T, B), lambda shape: rng.normal(size=shape))
    state0 = contract.states(module, sizes, B, lambda shape: rng.normal(0, 0.5, shape))
    d_outputs = rng.normal(size=(T, B, contract.output_size(module, sizes)))
    d_last = contract.states(module, sizes, B, lambda shape: rng.normal(size=shape))
    fast_out, fast_cache = module.forward_sequence(params, xs, state0)
    slow_out, slow_cache = module.forward_sequence_steps(params, xs, state0)
    np.testing.assert_allclose(fast_out, slow_out, rtol=1e-12, atol=1e-14)
    fast = module.backward_sequence(params, fast_cache, d_outputs, d_last)
    slow = module.backward_sequence_steps(params, slow_cache, d_outputs, d_last)
    for name in module.PARAM_SHAPES:
        np.testing.assert_allclose(fast[0][name], slow[0][name], rtol=1e-12, atol=1e-13, err_msg=name)
    assert_inputs_close(module, fast[1], slow[1], rtol=1e-12, atol=1e-13)
    for name in module.STATE:
        np.testing.assert_allclose(fast[2][name], slow[2][name], rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("equations,params", [
    # the same product twice with different coefficients: two adjoints, both counted
    ("h = tanh(U @ h(t-1)) + 0.5 * (W @ x)\nc = (W @ x) / 4 + c(t-1)", 'W = ["H", "D"]\nU = ["H", "H"]'),
    # a parameter named like a product the generator caches (W_x for W @ x)
    ("h = (W @ x) * (W @ x) + W_x * h(t-1)\nc = c(t-1) + h", 'W = ["H", "D"]\nW_x = ["H"]'),
    # two different products whose made-up names would coincide (W_a @ b and W @ a_b)
    ("a_b = tanh(V @ x)\nb = sigmoid(Q @ x)\nh = (W_a @ b) * (W @ a_b) + h(t-1)\nc = c(t-1) + h",
     'V = ["H", "D"]\nQ = ["H", "D"]\nW_a = ["H", "H"]\nW = ["H", "H"]'),
])
def test_cells_with_colliding_products_agree_with_the_oracle(equations, params, tmp_path):
    fast_sequence_matches_the_oracle(two_state_cell(tmp_path, "clash", equations, params), seed=5)


def test_another_name_for_a_scratch_value_keeps_its_array(tmp_path):
    """b = identity(a) names a's scratch array in the forward loop; a's last use is b's line, but the
    array must stay b's until b's last use (here after the scratch array that (g + 1) * (g - 1) takes)."""
    equations = "a = W @ x + U @ h(t-1)\nb = identity(a)\ng = sigmoid(V @ x)\nh = (g + 1) * (g - 1) + b\nc = c(t-1) + h"
    params = 'W = ["H", "D"]\nU = ["H", "H"]\nV = ["H", "D"]'
    fast_sequence_matches_the_oracle(two_state_cell(tmp_path, "alias", equations, params), seed=6)


def two_state_cell(folder, name: str, equations: str, params: str):
    """A spec file of a cell with states h and c over input x."""
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ninputs = ["x"]\nstates = ["h", "c"]\noutput = "h"\n'
                    f'equations = """\n{equations}\n"""\n[params]\n{params}\n')
    return path


def fast_sequence_matches_the_oracle(path, seed: int) -> None:
    """forward_sequence and backward_sequence of the spec at path against tests/oracle.py."""
    from conftest import module_from_file

    module = module_from_file(path)
    problem = oracle.random_problem(path, 3, 2, 2, 3, seed=seed)
    outputs, cache = module.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    expected_outputs, _ = oracle.evaluate_sequence(path, problem["params"], problem["xs"], problem["state0"])
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-12, atol=1e-14)
    grads, dxs, _ = module.backward_sequence(problem["params"], cache, problem["d_outputs"], problem["d_state_last"])
    expected = oracle.oracle_gradients(path, **problem)
    for name in module.PARAM_SHAPES:
        np.testing.assert_allclose(grads[name], expected["params"][name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dxs, expected["xs"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("equations,params,calls", [
    # two tanh gates over the sums of the same two projections: one addition, one np.tanh over both
    ("b = tanh(W_b @ x + U_b @ h(t-1))\na = tanh(W_a @ x + U_a @ h(t-1))\nh = a * b + 0.5 * h(t-1)\nc = c(t-1) + h",
     'W_a = ["H", "D"]\nU_a = ["H", "H"]\nW_b = ["H", "D"]\nU_b = ["H", "H"]', ["np.tanh(_act0[t], out=_act0[t])"]),
    # sigmoids and relus mixed: a run per function, and a lone gate of a third kept as it was
    ("f = sigmoid(W_f @ x)\nr = relu(W_r @ x)\ng = sigmoid(W_g @ x)\nq = relu(W_q @ x)\ne = exp(W_e @ x)\n"
     "h = f * h(t-1) + g * r * q\nc = c(t-1) * e",
     'W_f = ["H", "D"]\nW_r = ["H", "D"]\nW_g = ["H", "D"]\nW_q = ["H", "D"]\nW_e = ["H", "D"]',
     ["sigmoid_pair_into(_proj_x[t, :, :2 * H], _act0[t], _act0_complement[t])",
      "np.maximum(_proj_x[t, :, 2 * H:4 * H], 0, out=_act1[t])"]),
])
def test_gates_of_one_function_computed_in_one_call_agree_with_the_oracle(equations, params, calls, tmp_path):
    """Adjacent pre-activation blocks under one function are activated by one call (render_fast's runs),
    and each gate is a view of its result: the forward and backward still match the oracle."""
    path = two_state_cell(tmp_path, "runs", equations, params)
    source = generate(load_spec(path))["runs/runs.py"]
    for call in calls:
        assert call in source, f"{call} not in\n{source}"
    fast_sequence_matches_the_oracle(path, seed=7)
