"""Property-based fuzzing of specs: generated cells and mutated built-in specs.

Every case either generates its outputs or raises a DeriveError (a clean message); no other
exception escapes, none takes longer than 2 s (hypothesis' deadline), and memory stays bounded.
Cases are derandomized so CI sees the same thousands of cases on every run.
"""
import re
import resource
import tempfile
from pathlib import Path

import numpy as np
import oracle

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from derive import contract
from derive.catalog import builtin_names, builtin_spec
from derive.errors import DeriveError
from derive.gradcheck import gradcheck
from derive.loader import load_generated
from derive.pipeline import generate
from derive.spec import spec_from_text

def fuzz(examples: int, deadline: int | None = 2000):
    """Derandomized settings; deadline (ms) catches a pathologically slow case (None where a case also
    renders every document: on a loaded 2-core machine one took 2.7 s, and the deadline's retry made
    hypothesis shrink into other cases)."""
    return settings(max_examples=examples, deadline=deadline, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_RSS_MIB = 2048

STATES = ["h", "s", "c"]
PARAMS = {"W": '["H", "D"]', "U": '["H", "H"]', "V": '["H", "D + H"]', "b": '["H"]', "p": '["H"]', "Q": '["D", "H"]', "e": '["D"]'}
FUNCTIONS = ["sigmoid", "tanh", "exp", "relu", "identity", "softplus", "concat", "h", "W"]
ATOMS = ["x", "h", "s", "c", "b", "p", "e", "a", "g", "W", "t", "0", "1", "3", "2.5", "-1", "h(t-1)", "s(t-1)", "c(t-1)", "x(t-1)"]


def expressions(depth=3):
    atom = st.sampled_from(ATOMS)
    if depth == 0:
        return atom
    inner = expressions(depth - 1)
    return st.one_of(
        atom,
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "@", "**"]), inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(st.sampled_from(["W", "U", "V", "Q", "b"]), inner).map(lambda t: f"{t[0]} @ ({t[1]})"),
        st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, min_size=1, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"-{e}"),
    )


@st.composite
def specs(draw):
    states = draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=3, unique=True))
    params = draw(st.lists(st.sampled_from(sorted(PARAMS)), min_size=1, max_size=5, unique=True))
    targets = states + draw(st.lists(st.sampled_from(["a", "g"]), max_size=2, unique=True))
    order = draw(st.permutations(targets))
    equations = [f"{target} = {draw(expressions())}" for target in order]
    lines = ['name = "fuzz"', 'inputs = ["x"]', f"states = {states!r}".replace("'", '"'), f'output = "{states[0]}"',
             'equations = """', *equations, '"""', "[params]", *(f"{p} = {PARAMS[p]}" for p in params)]
    return "\n".join(lines) + "\n"


# Well-typed cells: every expression has the size its context needs, every name is declared
# before use, so each spec must build, and its backward pass must pass finite differences.
TYPED_PARAMS = {"W": '["H", "D"]', "U": '["H", "H"]', "V": '["H", "D + H"]', "b": '["H"]', "p": '["H"]', "Q": '["D", "H"]'}
SAFE_FUNCTIONS = ["sigmoid", "tanh", "identity", "relu"]  # bounded or tame, so finite differences stay accurate
# The functions added by issue 16, each applied where finite differences are valid: log and sqrt of
# positive values only (maximum and minimum below).
RICH_FORMS = ["softplus({})", "abs({})", "log(1 + sigmoid({}))", "sqrt(exp({}))", "sqrt(0.5 + sigmoid({}))", "log(softplus({}))"]


def vectors_h(names: tuple, depth: int, rich: bool = False):
    atom = st.sampled_from(names)
    if depth == 0:
        return atom
    h, d = vectors_h(names, depth - 1, rich), vectors_d(names, depth - 1, rich)
    return st.one_of(
        *(rich_forms(h) if rich else ()),
        atom,
        st.tuples(h, st.sampled_from(["+", "-", "*"]), h).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(h, st.sampled_from(["+ b", "* p"])).map(lambda t: f"({t[0]}) {t[1]}"),  # bias and peephole vectors
        st.tuples(st.sampled_from(["0.5", "2", "1 -"]), h).map(lambda t: f"{t[0]} * ({t[1]})" if t[0] != "1 -" else f"1 - {t[1]}"),
        st.tuples(h, st.sampled_from(["2", "4"])).map(lambda t: f"({t[0]}) / {t[1]}"),
        st.tuples(st.sampled_from(SAFE_FUNCTIONS), h).map(lambda t: f"{t[0]}({t[1]})"),
        d.map(lambda e: f"(W @ ({e}))"),
        h.map(lambda e: f"(U @ ({e}))"),
        st.tuples(d, h).map(lambda t: f"(V @ concat({t[0]}, {t[1]}))"),
    )


# maximum and minimum of two vectors, or of a vector and a number. An exact tie, where finite differences
# see a kink, needs two sides of different slopes with equal values, which random inputs never give: the
# ties that do occur are between equal expressions (maximum(h, h): any split of the gradient is right)
# or where both sides are flat (relu(u) = 0 against 0).
PAIR_FORMS = ["maximum({}, {})", "minimum({}, {})"]
NUMBER_FORMS = ["maximum({}, 0)", "minimum(0.5, {})"]
POWER_FORMS = ["({}) ** 2", "({}) ** 3", "tanh({}) ** 4", "1 / (1 + ({}) ** 2)"]


def rich_forms(h):
    """The new functions' forms around vectors of size H."""
    return [st.tuples(st.sampled_from(RICH_FORMS + NUMBER_FORMS + POWER_FORMS), h).map(lambda t: t[0].format(t[1])),
            st.tuples(st.sampled_from(PAIR_FORMS), h, h).map(lambda t: t[0].format(t[1], t[2]))]


def vectors_d(names: tuple, depth: int, rich: bool = False):
    if depth == 0:
        return st.just("x")
    return st.one_of(st.just("x"), vectors_h(names, depth - 1, rich).map(lambda e: f"(Q @ ({e}))"),
                     st.tuples(st.sampled_from(SAFE_FUNCTIONS), st.just("x")).map(lambda t: f"{t[0]}(x)"))


@st.composite
def typed_specs(draw, rich: bool = False):
    """A well-typed cell; rich: also with the functions of issue 16 (RICH_FORMS)."""
    states = draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=2, unique=True))
    intermediates = draw(st.lists(st.sampled_from(["a", "g"]), max_size=2, unique=True))
    known = [f"{s}(t-1)" for s in states]  # vectors that read data; b and p enter only through `+ b`, `* p`
    equations = []
    for target in intermediates + states:
        expression = draw(vectors_h(tuple(known), 2, rich))
        if target == states[-1]:
            expression = f"({expression}) + W @ x"  # the input reaches a state
        equations.append(f"{target} = {expression}")
        known.append(target)
    body = "\n".join(equations)
    used = [p for p in TYPED_PARAMS if re.search(rf"\b{p}\b", body)]
    lines = ['name = "typed"', 'inputs = ["x"]', f"states = {states!r}".replace("'", '"'), f'output = "{states[0]}"',
             'equations = """', *equations, '"""', "[params]", *(f"{p} = {TYPED_PARAMS[p]}" for p in used)]
    return "\n".join(lines) + "\n"


# Random cells can be degenerate in ways the engine refuses on purpose.
ALLOWED_REFUSALS = ("cancel", "parameters alone", "never reaches")


@fuzz(250)
@given(typed_specs())
def test_well_typed_specs_build_and_pass_finite_differences(text):
    builds_and_passes_finite_differences(text)


@fuzz(150)
@given(typed_specs(rich=True))
def test_well_typed_specs_with_the_new_functions_pass_finite_differences_and_the_oracle(text):
    """sqrt, log, softplus, abs, maximum, minimum and powers (issue 16) inside random cells: finite differences,
    the oracle, fast = readable."""
    builds_and_passes_finite_differences(text)


# Cells over the sizes a spec declares (issue 16): a state k of its own size P, read back through
# S (H x P) and written through R (P x H); a second input u of size H; or D declared equal to H, so
# that x meets vectors of size H element-wise. Each builds and passes finite differences, the oracle
# (which gives P its own value) and fast = readable.
SIZED_PARAMS = {**TYPED_PARAMS, "R": '["P", "H"]', "S": '["H", "P"]'}


@st.composite
def sized_specs(draw):
    with_p, with_u, equal = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    known = ["h(t-1)", *(["(S @ k(t-1))"] if with_p else []), *(["u"] if with_u else []), *(["x"] if equal else [])]
    h = draw(vectors_h(tuple(known), 2))
    equations = [f"h = ({h}) + W @ x"]
    if with_p:
        k = draw(vectors_h(tuple(known + ["h"]), 1))
        equations.append(f"k = {draw(st.sampled_from(['tanh', 'sigmoid', 'identity']))}(R @ ({k})) + 0.5 * k(t-1)")
    if with_u and not any(re.search(r"\bu\b", e) for e in equations):
        equations[0] += " * u"  # the second input is read
    body = "\n".join(equations)
    used = [name for name in SIZED_PARAMS if re.search(rf"\b{name}\b", body)]
    sizes = [*(["P"] if with_p else []), *(["D = H"] if equal else [])]
    lines = ['name = "sized"', f"sizes = {sizes!r}".replace("'", '"'), 'inputs = ["x"' + (', "u: H"' if with_u else "") + "]",
             'states = ["h"' + (', "k: P"' if with_p else "") + "]", 'output = "h"', 'equations = """', *equations, '"""',
             "[params]", *(f"{name} = {SIZED_PARAMS[name]}" for name in used)]
    return "\n".join(lines) + "\n"


@fuzz(120, deadline=None)
@given(sized_specs())
def test_cells_with_declared_sizes_and_several_inputs_pass_finite_differences_and_the_oracle(text):
    builds_and_passes_finite_differences(text, name="sized")


def builds_and_passes_finite_differences(text: str, name: str = "typed") -> None:
    """The spec builds (or is refused for a reason random cells may have), its backward pass passes finite
    differences, its forward pass agrees with the oracle and its fast functions with its readable ones."""
    spec = spec_from_text(text, f"{name}.toml")
    try:
        source = generate(spec)[f"{name}/{name}.py"]
    except DeriveError as error:
        assert any(reason in str(error) for reason in ALLOWED_REFUSALS), f"{error}\n{text}"
        return
    module = load_generated(source, name)
    rows = gradcheck(module, input_size=2, hidden_size=3, steps=2, batch=1, seed=0, sizes={"P": 4})
    worst = max(rows, key=lambda row: row.error)
    assert worst.error < 1e-5, f"{worst.name}: {worst.error:.1e}\n{text}"
    agrees_with_the_oracle_and_the_readable_steps(module, text)


def agrees_with_the_oracle_and_the_readable_steps(module, text: str) -> None:
    """The forward pass against tests/oracle.py (which reads the spec on its own), fast against readable."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "typed.toml"
        path.write_text(text)
        problem = oracle.random_problem(path, 2, 2, 2, 3, seed=1)
        expected, _ = oracle.evaluate_sequence(path, problem["params"], problem["xs"], problem["state0"])
    fast, fast_cache = module.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    steps, steps_cache = module.forward_sequence_steps(problem["params"], problem["xs"], problem["state0"])
    np.testing.assert_allclose(fast, expected, rtol=1e-10, atol=1e-12, err_msg=text)
    np.testing.assert_allclose(steps, expected, rtol=1e-10, atol=1e-12, err_msg=text)
    fast_grads = module.backward_sequence(problem["params"], fast_cache, problem["d_outputs"], problem["d_state_last"])
    step_grads = module.backward_sequence_steps(problem["params"], steps_cache, problem["d_outputs"], problem["d_state_last"])
    for name in module.PARAM_SHAPES:
        np.testing.assert_allclose(fast_grads[0][name], step_grads[0][name], rtol=1e-10, atol=1e-12, err_msg=text)
    fast_inputs, step_inputs = contract.as_dict(module, fast_grads[1]), contract.as_dict(module, step_grads[1])
    for name in fast_inputs:
        np.testing.assert_allclose(fast_inputs[name], step_inputs[name], rtol=1e-10, atol=1e-12, err_msg=text)


def builds_or_refuses(text: str) -> bool:
    """True if the spec built, False if it was refused with a DeriveError; anything else fails the test."""
    try:
        generate(spec_from_text(text, "fuzz.toml"))
        return True
    except DeriveError:
        return False


@fuzz(600)
@given(specs())
def test_generated_specs_build_or_are_refused(text):
    builds_or_refuses(text)


MUTATION_ALPHABET = "abcxhstW_ ()[]{}=+-*/@.,:;'\"\\#\n0123456789\u00e9\u0445\x00"


@st.composite
def mutated_builtins(draw):
    text = builtin_spec(draw(st.sampled_from(builtin_names()))).source_text
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate-line", "drop-line"]))
        if kind == "insert":
            text = text[:position] + draw(st.text(MUTATION_ALPHABET, min_size=1, max_size=6)) + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 12)):]
        elif kind == "replace":
            text = text[:position] + draw(st.sampled_from(MUTATION_ALPHABET)) + text[position + 1:]
        else:
            lines = text.split("\n")
            index = draw(st.integers(0, len(lines) - 1))
            lines[index:index + 1] = [lines[index]] * 2 if kind == "duplicate-line" else []
            text = "\n".join(lines)
    return text


@fuzz(600)  # 20 per built-in cell: each case builds a whole cell, documents and page included
@given(mutated_builtins())
def test_mutated_builtin_specs_build_or_are_refused(text):
    builds_or_refuses(text)


def test_fuzzing_stayed_within_memory():
    """Run after the fuzz tests in this file: the process's peak resident memory stays bounded."""
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < MAX_RSS_MIB, f"peak memory {peak_mib:.0f} MiB"
