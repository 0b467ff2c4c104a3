"""Values of size 1: reductions over a vector's units (mean(v) and sum(v), one number per example)
and scalar parameters (shape []), broadcast in element-wise operations; the fast loops write them
in place like everything else. Every cell here is checked by central differences and against the
autograd oracle (tests/oracle.py reads the spec on its own), forward and backward; a property
test does the same for generated cells with a reduction at a random place."""
import ast
import re
import tempfile
from pathlib import Path

import numpy as np
import oracle
import pytest
from test_fuzz import TYPED_PARAMS, fuzz, vectors_h
from test_inplace import allocates, loop_statements

import hypothesis.strategies as st
from hypothesis import given

from derive.errors import DeriveError
from derive.gradcheck import gradcheck
from derive.loader import load_generated
from derive.pipeline import generate
from derive.spec import spec_from_text

HEAD = 'name = "red"\ninputs = ["x"]\n'
VECTORS = '[params]\nW = ["H", "D"]\nU = ["H", "H"]\nb = ["H"]\ng = ["H"]\n'

# name -> (states, equations): each puts a reduction somewhere else
CELLS = {
    "layer-norm": (["h"], "a = W @ x + U @ h(t-1)\nc = a - mean(a)\nv = mean(c * c)\nh = tanh(g * c / (v + 1) + b)"),
    "mean-of-the-input": (["h"], "h = tanh(W @ x + U @ h(t-1) + g * mean(x) + b)"),  # a size-D vector's mean, into H
    "sum-as-an-equation": (["h"], "m = sum(h(t-1))\nh = tanh(W @ x + g * m + b * (U @ h(t-1)))"),
    "mean-of-a-compound": (["h"], "h = tanh(W @ x + b) * mean(tanh(U @ h(t-1)) + g)"),
    "two-states": (["h", "c"], "c = tanh(W @ x + U @ h(t-1) + b)\nh = c - mean(c) + g * c(t-1)"),
    "one-mean-used-twice": (["h"], "a = W @ x + U @ h(t-1)\nh = tanh(a - mean(a)) * sigmoid(g - mean(a)) + b"),
    "maximum-with-a-mean": (["h"], "h = tanh(W @ x + maximum(U @ h(t-1), mean(h(t-1) + g)) + b)"),
}
SCALAR = VECTORS.replace('g = ["H"]', "g = []")  # g: one learned number
# name -> (states, equations) with the scalar g
SCALAR_CELLS = {
    "leaky-rate": (["h"], "h = (1 - sigmoid(g)) * h(t-1) + sigmoid(g) * tanh(W @ x + U @ h(t-1) + b)"),
    "scaled-product": (["h"], "h = tanh(g * (W @ x) + U @ h(t-1) + b)"),
    "scalar-with-a-mean": (["h"], "a = W @ x + U @ h(t-1)\nh = tanh(a - g * mean(a) + b)"),
}


def spec_text(states: list[str], equations: str, params: str = VECTORS) -> str:
    states_line = "states = [" + ", ".join(f'"{s}"' for s in states) + "]"
    return f'{HEAD}{states_line}\noutput = "h"\nequations = """\n{equations}\n"""\n{params}'


def module_of(text: str):
    return load_generated(generate(spec_from_text(text, "red.toml"))["red/red.py"], "red")


def agrees_with_the_oracle(module, text: str, T=3, B=2, D=3, H=4) -> None:
    """Forward values and every gradient of the readable steps against autograd of the spec, and the
    fast loops against the readable steps."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "red.toml"
        path.write_text(text)
        problem = oracle.random_problem(path, T, B, D, H, seed=7)
        expected_outputs, _ = oracle.evaluate_sequence(path, problem["params"], problem["xs"], problem["state0"])
        expected = oracle.oracle_gradients(path, **problem)
    outputs, cache = module.forward_sequence_steps(problem["params"], problem["xs"], problem["state0"])
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-10, atol=1e-12, err_msg=text)
    grads, dxs, d_state0 = module.backward_sequence_steps(problem["params"], cache, problem["d_outputs"], problem["d_state_last"])
    for name in module.PARAM_SHAPES:
        np.testing.assert_allclose(grads[name], expected["params"][name], rtol=1e-9, atol=1e-11, err_msg=f"{name}\n{text}")
    np.testing.assert_allclose(dxs, expected["xs"], rtol=1e-9, atol=1e-11, err_msg=text)
    for state in module.STATE:
        np.testing.assert_allclose(d_state0[state], expected["state0"][state], rtol=1e-9, atol=1e-11, err_msg=text)
    fast, fast_cache = module.forward_sequence(problem["params"], problem["xs"], problem["state0"], workspace={})
    np.testing.assert_allclose(fast, outputs, rtol=1e-12, atol=1e-14, err_msg=text)
    fast_grads, fast_dxs, _ = module.backward_sequence(problem["params"], fast_cache, problem["d_outputs"],
                                                       problem["d_state_last"], workspace=fast_cache["workspace"])
    for name in module.PARAM_SHAPES:
        np.testing.assert_allclose(fast_grads[name], grads[name], rtol=1e-10, atol=1e-12, err_msg=f"fast {name}\n{text}")
    np.testing.assert_allclose(fast_dxs, dxs, rtol=1e-10, atol=1e-12, err_msg=text)


def checks_or_is_refused_on_purpose(text: str) -> None:
    """A random cell passes finite differences and the oracle, or is degenerate in a way the engine
    refuses on purpose (its terms cancel, it depends on parameters alone, it never reaches a state)."""
    try:
        module = module_of(text)
    except DeriveError as error:
        assert any(reason in str(error) for reason in ("cancel", "parameters alone", "never reaches")), f"{error}\n{text}"
        return
    passes_finite_differences(module)
    agrees_with_the_oracle(module, text)


def passes_finite_differences(module) -> None:
    rows = gradcheck(module, input_size=3, hidden_size=4, steps=3, batch=2, seed=3)
    worst = max(rows, key=lambda row: row.error)
    assert worst.error < 1e-6, f"{worst.name}: {worst.error:.2e}"


@pytest.mark.parametrize("case", sorted(CELLS))
def test_a_reduction_derives_the_backward_of_its_cell(case):
    text = spec_text(*CELLS[case])
    module = module_of(text)
    passes_finite_differences(module)
    agrees_with_the_oracle(module, text)


@pytest.mark.parametrize("case", sorted(SCALAR_CELLS))
def test_a_scalar_parameter_gets_one_gradient_summed_over_units_and_examples(case):
    text = spec_text(*SCALAR_CELLS[case], SCALAR)
    module = module_of(text)
    assert module.PARAM_SHAPES["g"] == ("1",) and module.init_params(3, 4, rng=0)["g"].shape == (1,)
    passes_finite_differences(module)
    agrees_with_the_oracle(module, text)


@pytest.mark.parametrize("case", sorted(CELLS))
def test_the_fast_loops_of_a_cell_with_a_reduction_allocate_nothing(case):
    source = generate(spec_from_text(spec_text(*CELLS[case]), "red.toml"))["red/red.py"]
    for function in ("forward_sequence", "backward_sequence"):
        statements = loop_statements(source, function)
        assert statements and not [ast.unparse(s) for s in statements if allocates(s)], function


def test_a_mean_of_one_size_broadcasts_only_as_one_number():
    """A size-1 value meets any vector; two vectors of different sizes still do not meet."""
    with pytest.raises(DeriveError, match="sizes H and D"):
        generate(spec_from_text(spec_text(["h"], "h = tanh(U @ h(t-1) + mean(h(t-1)) * x)"), "red.toml"))


@pytest.mark.parametrize("equation, message", [
    ("h = tanh(W @ x + mean())", "mean takes one argument, given 0"),
    ("h = tanh(W @ x + sum(x, x))", "sum takes one argument, given 2"),
    ("h = tanh(W @ x + mean(b))", "depends on parameters alone"),
    ("h = mean(tanh(W @ x + U @ h(t-1)))", "state h has size 1"),
    ("h = tanh(W @ x + U @ h(t-1)) + mean", "mean is a function, used here without arguments"),
])
def test_a_reduction_used_wrongly_is_refused_with_a_clear_message(equation, message):
    with pytest.raises(DeriveError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate(spec_from_text(spec_text(["h"], equation), "red.toml"))


REDUCED = st.tuples(st.sampled_from(["mean", "sum"]), st.sampled_from(["*", "+", "-", "/ 2 *"]))


@fuzz(40)
@given(vectors_h(("h(t-1)",), 2), vectors_h(("h(t-1)",), 1), REDUCED)
def test_a_reduction_anywhere_in_a_generated_cell_derives_correctly(outer, inner, reduced):
    function, op = reduced
    equations = f"h = tanh(({outer}) {op} {function}(tanh({inner})) + W @ x)"
    used = [name for name in TYPED_PARAMS if re.search(rf"\b{name}\b", equations)]
    text = spec_text(["h"], equations, "[params]\n" + "".join(f"{name} = {TYPED_PARAMS[name]}\n" for name in used))
    checks_or_is_refused_on_purpose(text)


def test_a_mean_divides_by_a_size_and_an_epsilon_reads_as_written():
    """The documents print a mean's 1/n with n a size (4 H), never as an element-wise product of
    vectors (4 \\odot H), and a small constant as the decimal the spec wrote."""
    from derive.catalog import builtin_spec

    documents = generate(builtin_spec("layernorm_lstm"))["layernorm_lstm/layernorm_lstm.md"]
    assert "{4 H}" in documents and "\\odot H" not in documents
    assert "0.00001" in documents and "\\frac{1}{100000}" not in documents
