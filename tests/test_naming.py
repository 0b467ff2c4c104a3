"""Names cannot collide: a spec may use any name a generated name could have, and its cell stays right.

derive makes up names from the spec's (`d_h`, `h_prev`, `h_pre`, `d_h_in`, `h_tanh`, `W_x`, ...). A spec
whose own names are exactly those forms used to be refused, or worse (two states h and h_in gave a
silently wrong backward pass: the adjoint arriving at h was d_h_in, the adjoint of the state h_in).
Every cell below must build, pass central finite differences, and agree with the autograd oracle,
which reads the spec on its own.
"""
import ast
import builtins
import re

import hypothesis.strategies as st
import pytest
from conftest import CATALOG, ROOT
from test_bad_specs import GOOD
from hypothesis import given
from test_fuzz import ALLOWED_REFUSALS, agrees_with_the_oracle_and_the_readable_steps, fuzz, typed_specs

from derive import naming
from derive.errors import DeriveError
from derive.gradcheck import gradcheck
from derive.loader import load_generated
from derive.model import build_model
from derive.pipeline import generate
from derive.spec import spec_from_text

CLASH_IN = '''name = "clash_in"
inputs = ["x"]
states = ["h", "h_in"]
output = "h"
equations = """
h_in = tanh(W @ x + U @ h(t-1) + b)
h = 0.5 * h_in + 0.5 * h_in(t-1)
"""
[params]
W = ["H", "D"]
U = ["H", "H"]
b = ["H"]
'''

TINY = GOOD  # the tiny cell of the bad-spec tests

# Spec names that are generated names of other spec names (each was refused, or silently wrong, before).
LOOK_ALIKES = {
    "clash_in": CLASH_IN,
    "variable-is-an-adjoint": TINY.replace("z", "d_h"),
    "parameter-is-a-previous-state": TINY.replace("U_h", "h_prev"),
    "input-is-a-previous-state": TINY.replace('inputs = ["x"]', 'inputs = ["h_prev"]').replace("x,", "h_prev,").replace("W_h @ x", "W_h @ h_prev"),
    "target-is-a-pre-activation": TINY.replace("h = z * tanh", "z_pre = z * 2\nh = z_pre * tanh"),
    "target-is-a-complement": TINY.replace("h = z * tanh", "z_complement = 1 - z\nh = z_complement * tanh"),
    "target-is-a-lifted-value": TINY.replace("h = z * tanh(W_h @ x + U_h @ h(t-1))",
                                             "h_tanh = 2 * z\nh = h_tanh * tanh(W_h @ x + U_h @ h(t-1))"),
    "target-is-a-shared-subexpression": TINY.replace("h = z * tanh", "common0 = z * z\nh = common0 * tanh"),
    "state-is-an-incoming-adjoint": CLASH_IN.replace("h_in", "d_h_in"),
}


def passes_every_check(text: str) -> None:
    spec = spec_from_text(text, f"{text.split(chr(34))[1]}.toml")
    module = load_generated(generate(spec)[f"{spec.name}/{spec.name}.py"], spec.name)
    worst = max(gradcheck(module, input_size=2, hidden_size=3, steps=3, batch=2, seed=0), key=lambda row: row.error)
    assert worst.error < 1e-6, f"{worst.name}: {worst.error:.1e}"
    agrees_with_the_oracle_and_the_readable_steps(module, text)


@pytest.mark.parametrize("case", sorted(LOOK_ALIKES))
def test_a_spec_may_use_any_generated_form_as_its_own_name(case):
    passes_every_check(LOOK_ALIKES[case])


def test_the_incoming_adjoint_of_h_is_not_the_adjoint_of_h_in():
    model = build_model(spec_from_text(CLASH_IN, "clash_in.toml"))
    assert model.names.adjoint("h_in") == "d_h_in"  # the variable keeps its readable adjoint
    assert model.names.incoming("h") not in ("d_h_in", "d_h")


def test_made_up_names_are_unique_and_never_a_spec_name():
    for name in CATALOG:
        text = (ROOT / "derive" / "cells" / f"{name}.toml").read_text()
        model = build_model(spec_from_text(text, f"{name}.toml"))
        made = list(model.names.made.values())
        assert len(made) == len(set(made)), name
        spec_names = {n for n, (family, _) in model.names.owner.items() if family == "spec"}
        assert not spec_names & set(made), name


def test_numbered_families_count_for_themselves():
    """Lifted values, operands and product adjoints are numbered by Names (next_number), not by their callers;
    the CSE temporaries by position, so a second CSE over the same lines gets the same names."""
    names = naming.Names(["h", "W", "x"])
    assert [names.lifted("h", "tanh") for _ in range(3)] == ["h_tanh", "h_tanh2", "h_tanh3"]
    assert (names.lifted("h", "sigmoid"), names.lifted("c", "tanh")) == ("h_sigmoid", "c_tanh")
    assert [names.operand("h"), names.operand("h"), names.operand("c")] == ["h_arg", "h_arg2", "c_arg"]
    assert [names.product_adjoint("W", "x"), names.product_adjoint("W", "x")] == ["d_W_x", "d_W_x2"]
    first, again = names.shared_names(), names.shared_names()
    assert [next(first), next(first)] == [next(again), next(again)] == ["common0", "common1"]


def test_first_repeated_names_the_first_repeated_name_in_sorted_order():
    assert naming.first_repeated(["lstm", "gru", "lstm", "gru", "rnn"]) == "gru"
    assert naming.first_repeated(iter(["lstm", "gru"])) is None and naming.first_repeated([]) is None


def test_fast_path_prefixes_cannot_make_one_name_twice():
    """`_F_` + name is never `_G_` + another name: no family's prefix starts another's."""
    prefixes = [f"_{family}_" for family in naming.FAST_FAMILIES]
    for first in prefixes:
        for second in prefixes:
            assert first == second or not second.startswith(first), (first, second)
    # a numbered name (_act3, _tmp0) is its prefix and digits: no family's "_F_" starts it
    for prefix in naming.FAST_NUMBERED:
        numbered = naming.fast_numbered(prefix, 3)
        assert not any(numbered.startswith(family) for family in prefixes), numbered


def test_every_builtin_a_generated_module_calls_is_a_reserved_name():
    """A spec variable named like a builtin the code calls would shadow it inside the functions."""
    called = set()
    for path in (ROOT / "generated").glob("*/*.py"):
        called |= {node.id for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.Name) and node.id in vars(builtins)}
    assert called <= set(naming.MODULE_NAMES), called - set(naming.MODULE_NAMES)


def test_a_module_name_is_refused_naming_its_use():
    with pytest.raises(DeriveError, match="'params' is used by the generated code as an argument"):
        build_model(spec_from_text(TINY.replace("z", "params"), "tiny.toml"))


# -- the property: names drawn from every generated-name family ------------------------------
PLACEHOLDERS = ("h", "s", "c", "a", "g", "W", "U", "V", "b", "p", "Q", "x")
FAMILIES = ("{}", "{}_in", "{}_prev", "{}_pre", "d_{}", "{}_complement", "{}_sigmoid", "{}_tanh", "{}_relu", "{}_arg",
            "{}_arg2", "d_{}_in", "d_{}_prev", "{}_prev_pre", "{}_T", "d_{}_pre", "{}_pre_pre", "{}2", "{}_x", "{}_h_prev")
BASES = ("h", "s", "x", "W", "a", "c", "common0", "common1", "V_h")


@st.composite
def renamed_specs(draw):
    """A well-typed random cell with every name replaced by a generated form of another."""
    text = draw(typed_specs())
    used = [name for name in PLACEHOLDERS if re.search(rf"\b{name}\b", text.split('equations = """')[1])]
    pool = sorted({family.format(base) for family in FAMILIES for base in BASES})
    chosen = draw(st.lists(st.sampled_from(pool), min_size=len(used), max_size=len(used), unique=True))
    renaming = dict(zip(used, chosen))
    body = re.sub(r"\b[A-Za-z]\w*\b", lambda m: renaming.get(m.group(0), m.group(0)), text.split("\n", 1)[1])
    return 'name = "renamed"\n' + body


@fuzz(120)
@given(renamed_specs())
def test_cells_named_like_generated_names_build_and_pass_finite_differences(text):
    try:
        generate(spec_from_text(text, "renamed.toml"))
    except DeriveError as error:
        # Refused on purpose: degenerate random cells, and two names that would print alike in LaTeX.
        assert any(reason in str(error) for reason in (*ALLOWED_REFUSALS, "would both print as")), f"{error}\n{text}"
        return
    passes_every_check(text)
