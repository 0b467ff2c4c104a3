"""Blocks of a stacked vector: block(a, i, n) is the i-th of n equal blocks of a. Each cell here is
checked by central differences and against the autograd oracle (which slices on its own)."""
import re

import pytest
from test_fuzz import TYPED_PARAMS, fuzz, vectors_h
from test_reductions import agrees_with_the_oracle, checks_or_is_refused_on_purpose, module_of, passes_finite_differences

import hypothesis.strategies as st
from hypothesis import given

from derive.errors import DeriveError
from derive.pipeline import generate
from derive.spec import spec_from_text

HEAD = 'name = "red"\ninputs = ["x"]\n'
PARAMS = '[params]\nW = ["4*H", "D + H"]\nb = ["4*H"]\nV = ["2*H", "D"]\nU = ["H", "H"]\n'
LSTM = """a = W @ concat(x, h(t-1)) + b
i = sigmoid(block(a, 0, 4))
f = sigmoid(block(a, 1, 4))
g = tanh(block(a, 2, 4))
o = sigmoid(block(a, 3, 4))
c = f * c(t-1) + i * g
h = o * tanh(c)"""
CELLS = {  # name -> equations (states h and c)
    "lstm-as-torch-lays-it-out": LSTM,
    "layer-norm-over-all-gates": LSTM.replace("a = W @ concat(x, h(t-1)) + b",
                                              "z = W @ concat(x, h(t-1))\nn = z - mean(z)\na = n / (mean(n * n) + 1) + b"),
    "a-block-nothing-reads": LSTM.replace("o = sigmoid(block(a, 3, 4))", "o = sigmoid(block(a, 2, 4) + 1)"),
    "block-of-a-product-and-a-whole-equation": LSTM.replace("c = f * c(t-1) + i * g", "q = block(V @ x, 1, 2)\nc = f * c(t-1) + i * g * q"),
}


def spec_text(equations: str) -> str:
    used = [line for line in PARAMS.splitlines()[1:] if re.search(rf"\b{line.split(' = ')[0]}\b", equations)]
    return (f'{HEAD}states = ["h", "c"]\noutput = "h"\nequations = """\n{equations}\n"""\n[params]\n'
            + "\n".join(used) + "\n")


@pytest.mark.parametrize("case", sorted(CELLS))
def test_blocks_send_their_adjoints_back_into_their_rows(case):
    text = spec_text(CELLS[case])
    module = module_of(text)
    passes_finite_differences(module)
    agrees_with_the_oracle(module, text)


@pytest.mark.parametrize("replacement, message", [
    ("block(a, 4, 4)", "block 4 of 4"),
    ("block(a, 0, 1)", "block 0 of 1"),
    ("block(a, 0.5, 4)", "block 1/2 of 4"),
    ("block(a, 1/2, 4)", "block takes a vector and two whole numbers"),
    ("block(a, 0, 3)", "does not split into 3 equal blocks"),
    ("block(a, 0)", "block takes a vector and two whole numbers"),
    ("mean(block(a, 1, 2)) + block(a, 0, 4)", "a is split into 2 blocks and into 4"),
])
def test_a_block_asked_wrongly_is_refused_with_a_clear_message(replacement, message):
    text = spec_text(LSTM.replace("block(a, 0, 4)", replacement, 1))
    with pytest.raises(DeriveError, match=message):
        generate(spec_from_text(text, "red.toml"))


def test_indexing_points_at_block():
    with pytest.raises(DeriveError, match=r"indexing \(a\[i\]\) is not part of the equation language; expected block\(a, i, n\)"):
        generate(spec_from_text(spec_text(LSTM.replace("block(a, 0, 4)", "a[0]")), "red.toml"))


BLOCKS = st.sampled_from([2, 4]).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)))


@fuzz(40)
@given(BLOCKS, st.data())
def test_blocks_anywhere_in_a_generated_cell_derive_correctly(blocks, data):
    """Random element-wise cells over some blocks of one stacked product (a block nothing reads too)."""
    count, used = blocks
    atoms = ("h(t-1)", *(f"block(a, {index}, {count})" for index in used))
    body = data.draw(vectors_h(atoms, 2))
    equations = f"a = S @ concat(x, h(t-1))\nh = tanh(({body}) + block(a, {used[0]}, {count}))"
    params = {"S": f'["{count}*H", "D + H"]', **TYPED_PARAMS}
    present = [name for name in params if re.search(rf"\b{name}\b", equations)]
    text = (f'{HEAD}states = ["h"]\noutput = "h"\nequations = """\n{equations}\n"""\n[params]\n'
            + "".join(f"{name} = {params[name]}\n" for name in present))
    checks_or_is_refused_on_purpose(text)
