"""Every equation of every document means what the model and the derivation compute.

Each display equation of a cell's .md, its three blog flavours and its .tex is read back by
derive/latex_read.py (written from the documents alone, not from derive's printers) into SymPy
and compared, symbolically, with what it claims to state:

- a forward equation or pre-activation with the model's assignment (made-up variables expanded);
- a tagged backward equation with the derivation's line, what arrives from outside step t written
  out as the recursion says (the loss at t for the output, plus step t+1's carry);
- a local derivative dA/dB of the walkthrough with the derivative the derivation recorded for that use;
- a chain-rule line, its local derivatives substituted, with the line it leads to.

The names a document prints are looked up in its notation (a dictionary); everything else, which
operand a product has, what is grouped, what is summed, is read from the printed text.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest
import sympy as sp
from conftest import CATALOG, ROOT
from hypothesis import given

from derive import latex_read as reader
from derive import functions as fn
from derive.dims import SizeSymbol
from derive.derivation import UseKind, equation_tags
from derive.blocks import BlockOf, Stacked
from derive.reductions import MeanOf, Spread, SumOf, UnitSum
from derive.flavors import FLAVORS
from derive.notation import LOSS, NEXT, Notation, forward_form, shifted
from derive.pipeline import render_files, work_out
from derive.emit import environment
from derive.spec import load_spec, spec_from_text

PUBLISHED = sorted((ROOT / "tests" / "cells").glob("*.toml"))
FLAVOR_FILES = {"md": ".md", "tex": ".tex", **{flavor: f".{flavor}.md" for flavor in FLAVORS}}

# The reader's inert functions -> derive's, so both sides of a comparison speak one language.
FUNCTION_NAMES = {"sigmoid": fn.Sigmoid, "tanh": fn.Tanh, "exp": fn.Exp, "relu": fn.Relu, "step": fn.Step, "sqrt": fn.SquareRoot,
                  "log": fn.Log, "softplus": fn.Softplus, "abs": fn.Absolute, "sign": fn.Sign, "maximum": fn.Maximum,
                  "minimum": fn.Minimum, "greater": fn.Above, "greater_equal": fn.AtLeast,
                  "unitsum": sp.Function("U2"), "mean": MeanOf, "sum": SumOf, "spread": sp.Function("S2")}
O2 = sp.Function("O2")  # an outer product without derive's bookkeeping argument (its weight)
B2 = sp.Function("B2")  # a block without derive's bookkeeping (its rows)
R2 = sp.Function("R2")  # a block of a stacked vector by its rows, first to last, counted from 1


class Cell:
    """One cell's derivation, notation and the reader's meaning of each printed name."""

    def __init__(self, spec):
        self.worked = work_out(spec)
        self.derivation = self.worked.derivation
        self.model = self.derivation.model
        self.notation = Notation(self.derivation)
        self.time = self.notation.style.time
        self.lines = {line.target.name: line for line in self.derivation.lines}
        self.targets = set(self.lines) | {name + NEXT for name in self.lines}  # a line's target, at t or at t+1
        self.tags = {tag: name for name, tag in equation_tags(self.derivation).items()}
        self.names = self._printed_names()

    def _printed_names(self) -> dict:
        """The reader's reading of every printed name -> the model's symbol. A made-up variable
        prints as its definition, so its reading is that expression (expanded again later)."""
        names = {}
        # s(t) is both the state at t and s_prev at t+1: the plain name wins; and a backward line's
        # target wins over a variable without a line that prints alike (the complement 1 - h(t)
        # and an operand 1 - h(t-1) at step t+1)
        for key in sorted(self.notation.latex, key=lambda k: (k not in self.targets and k.startswith("d_"), NEXT in k)):
            if key not in self.derivation.model.spec.sizes:
                names.setdefault(reader.read(self.notation.latex[key], self.time), sp.Symbol(key))
        return names

    # -- the two sides of a comparison, in one language ----------------------------------
    def meaning(self, expr: sp.Expr) -> sp.Expr:
        """A reader expression in the model's symbols and derive's classes, made-up variables expanded."""
        expr = expr.replace(lambda e: isinstance(e, reader.TimeSum), lambda e: e.args[0])
        expr = self._named(expr)
        return self.expanded(expr)

    def _named(self, expr: sp.Expr) -> sp.Expr:
        if expr in self.names:
            return self.names[expr]
        if isinstance(expr, reader.Partial):
            return reader.Partial(*(self._named(arg) for arg in expr.args))
        if isinstance(expr, (sp.Number, sp.Dummy)):
            return expr
        if isinstance(expr, sp.Symbol) and expr.name.rstrip("@") in self.derivation.model.spec.sizes:
            return SizeSymbol(expr.name.rstrip("@"))  # the sizes in a block's rows (the reader marks no time on them)
        if not expr.args:
            raise AssertionError(f"the printed symbol {expr} is no name of the cell")
        args = [self._named(arg) for arg in expr.args]
        for reading, derived in ((reader.MatVec, fn.MatVec), (reader.MatVecT, fn.MatVecT), (reader.Concat, fn.Concat)):
            if isinstance(expr, reading):
                return derived(*args)
        if isinstance(expr, reader.Outer):
            return O2(*args)
        if isinstance(expr, reader.Block):
            return B2(*args)
        if isinstance(expr, reader.Rows):
            return R2(*args)
        if isinstance(expr, sp.core.function.AppliedUndef) and expr.func.__name__ in FUNCTION_NAMES:
            return FUNCTION_NAMES[expr.func.__name__](*args)
        return expr.func(*args)

    def expanded(self, expr: sp.Expr) -> sp.Expr:
        """derive's side: bookkeeping arguments dropped, sums over the batch and zeros as printed, made-up
        variables (and their shifted forms) replaced by their definitions."""
        expr = expr.replace(lambda e: isinstance(e, fn.Outer), lambda e: O2(e.args[0], e.args[1]))
        expr = expr.replace(lambda e: isinstance(e, fn.Block), lambda e: B2(e.args[0], self.part(e.args[3])))
        expr = expr.replace(lambda e: isinstance(e, fn.BatchSum), lambda e: e.args[0])
        expr = expr.replace(lambda e: isinstance(e, fn.ZerosLike), lambda e: sp.S.Zero)
        expr = expr.replace(lambda e: isinstance(e, Spread), lambda e: sp.Function("S2")(e.args[0]) / e.count)  # like: bookkeeping
        expr = expr.replace(lambda e: isinstance(e, UnitSum), lambda e: sp.Function("U2")(e.args[0]))  # its size: bookkeeping
        expr = expr.replace(lambda e: isinstance(e, Stacked), lambda e: fn.Concat(*e.parts))  # a block's size too
        expr = expr.replace(lambda e: isinstance(e, BlockOf), lambda e: R2(e.args[0], e.args[3] + 1, e.args[4]))  # rows from 1
        now = forward_form(self.model, expr)
        later = {s: shifted(forward_form(self.model, sp.Symbol(s.name[: -len(NEXT)]))) for s in now.free_symbols
                 if s.name.endswith(NEXT) and s.name[: -len(NEXT)] in self.model.variables}
        timeless = {sp.Symbol(p.name + NEXT): sp.Symbol(p.name) for p in self.model.spec.params}  # W has no time
        # s(t-1) one step later is s(t): one symbol for both
        same = {sp.Symbol(v.name + NEXT): sp.Symbol(v.of) for v in self.model.variables.values() if v.of and v.kind.name == "PREVIOUS"}
        return now.xreplace(later).xreplace({**timeless, **same})

    def part(self, symbol: sp.Symbol) -> sp.Symbol:
        """A block's part by its printed name: h(t) is h_prev one step later, and prints as h."""
        return self._named(reader.read(self.notation.latex[symbol.name], self.time))

    def incoming_written_out(self, expr: sp.Expr) -> sp.Expr:
        """An adjoint line as the documents state it: each incoming adjoint is the loss at t (for the
        output) plus what step t+1 sends back (zero after the last step: its carry shifted)."""
        meaning = {}
        for state, symbol in self.derivation.incoming.items():
            carry = self.derivation.carry(state).expr
            value = sp.S.Zero if isinstance(carry, fn.ZerosLike) else shifted(carry)
            if state == self.model.spec.output:
                value += sp.Symbol(self.model.names.adjoint(state) + LOSS)
            meaning[symbol] = value
        return expr.xreplace(meaning)

    def local_derivative(self, printed: reader.Partial) -> sp.Expr:
        """The derivative the derivation recorded for the use that prints as this dA/dB: A reads B
        at step t, or both at step t+1."""
        for use in (use for use in self.derivation.uses if use.kind == UseKind.ELEMENTWISE):
            for suffix in ("", NEXT):
                pair = [reader.read(self.notation.latex[name + suffix], self.time) for name in (use.user, use.to)]
                if reader.Partial(*pair) == printed:
                    local = forward_form(self.model, use.local)
                    return shifted(local) if suffix else local
        raise AssertionError(f"no recorded use prints as {printed}")


@functools.lru_cache(maxsize=None)
def cell_of(path: str) -> Cell:
    return Cell(load_spec(Path(path)))


def documents(cell: Cell) -> dict[str, str]:
    outputs = render_files(cell.worked, environment())
    name = cell.model.spec.name
    return {flavor: outputs[f"{name}/{name}{suffix}"] for flavor, suffix in FLAVOR_FILES.items()}


def equal(left: sp.Expr, right: sp.Expr) -> bool:
    return sp.expand(left - right) == 0


def check_equation(cell: Cell, latex: str, pending: dict) -> str:
    """Compare one printed equation with what it states; return its kind. `pending` holds the
    chain-rule lines of the walkthrough until the local derivatives after them are read."""
    equation = reader.read_equation(latex, cell.time)
    if isinstance(equation.left, reader.Partial):
        expected = cell.expanded(cell.local_derivative(equation.left))
        assert equal(cell.meaning(equation.right), expected), f"{latex}\nexpected {expected}"
        pending.setdefault("partials", {})[equation.left] = expected
        return "local derivative"
    if isinstance(equation.left, sp.Symbol) and equation.left.name.split("@")[0] == "L":
        return "loss"  # the loss and its recursion through time: definitions, nothing computed
    left = cell._named(equation.left)  # the name it defines, not expanded
    assert isinstance(left, sp.Symbol), f"{latex}: the left side is no single name"
    name = left.name
    if name in cell.model.variables:
        assignment = next(a for a in cell.model.assignments if a.target == name)
        assert equal(cell.meaning(equation.right), cell.expanded(assignment.expr)), f"{latex}\nexpected {assignment.expr}"
        return "forward"
    line = cell.lines[name]
    expected = cell.expanded(cell.incoming_written_out(line.expr))
    if equation.tag:
        assert cell.tags[equation.tag] == name, f"{latex}: tag {equation.tag} is on another line"
        assert equal(cell.meaning(equation.right), expected), f"{latex}\nexpected {expected}"
        return "backward"
    pending.setdefault("chains", []).append((latex, equation.right, expected))
    return "chain rule"


def check_document(cell: Cell, text: str, flavor: str) -> dict[str, int]:
    kinds: dict[str, int] = {}
    pending: dict = {}
    equations = reader.display_equations(text, "tex" if flavor == "tex" else flavor)
    assert equations, f"no display equations in the {flavor} document"
    for latex in equations:
        kind = check_equation(cell, latex, pending)
        kinds[kind] = kinds.get(kind, 0) + 1
    partials = pending.get("partials", {})
    for latex, chain, expected in pending.get("chains", []):
        placeholders = {partial: sp.Dummy() for partial in partials}
        substituted = cell.meaning(chain.xreplace(placeholders)).xreplace(
            {dummy: partials[partial] for partial, dummy in placeholders.items()})
        assert equal(substituted, expected), f"chain rule {latex}\nexpected {expected}"
    return kinds


def check_cell(spec_path: Path) -> dict[str, int]:
    cell = cell_of(str(spec_path))
    totals: dict[str, int] = {}
    for flavor, text in documents(cell).items():
        for kind, count in check_document(cell, text, flavor).items():
            totals[kind] = totals.get(kind, 0) + count
    return totals


@pytest.mark.parametrize("spec_path", [ROOT / "derive" / "cells" / f"{n}.toml" for n in CATALOG] + PUBLISHED,
                         ids=lambda p: p.stem)
def test_every_printed_equation_states_the_model_and_the_derivation(spec_path):
    kinds = check_cell(spec_path)
    assert kinds.get("forward") and kinds.get("backward") and kinds.get("local derivative"), kinds


def test_the_committed_documents_are_the_ones_checked():
    """The round trip reads freshly rendered documents; test_golden holds generated/ to them."""
    cell = cell_of(str(ROOT / "derive" / "cells" / "gru.toml"))
    assert documents(cell)["md"].replace(cell.model.spec.path, "derive/cells/gru.toml") == (ROOT / "generated" / "gru" / "gru.md").read_text()


def test_gru_prints_the_reset_gate_inside_the_product():
    """The GRU of Cho et al. applies U to r * h(t-1); printed without parentheses it reads as U h(t-1) * r."""
    text = (ROOT / "generated" / "gru" / "gru.md").read_text()
    assert r"\tanh\left(W x(t) + U \left(r(t) \odot h(t-1)\right)\right)" in text


def test_an_unparenthesised_operand_is_caught(monkeypatch):
    """Put the old matrix-product printing back (no grouping of a compound operand): the check fails."""
    monkeypatch.setattr(fn, "matrix_operand", lambda printer, vector: printer._print(vector))
    cell = Cell(load_spec(ROOT / "derive" / "cells" / "gru.toml"))
    with pytest.raises(AssertionError, match="expected"):
        check_document(cell, documents(cell)["md"], "md")


# -- random cells: the fuzzer's well-typed specs --------------------------------------------------
from test_fuzz import ALLOWED_REFUSALS, fuzz, typed_specs  # noqa: E402

from derive.errors import DeriveError  # noqa: E402


def lines_printed_alike(cell: Cell) -> bool:
    """Two backward lines whose left sides print alike (a product W v used in two equations once had
    an adjoint per occurrence, both printed dL/d(W v(t)))."""
    printed = [cell.notation.latex[name] for name in cell.lines]
    return len(printed) != len(set(printed))


@fuzz(60, deadline=None)
@given(typed_specs())
def test_random_cells_documents_state_their_derivation(text):
    documents_state_their_derivation(text)


@fuzz(40, deadline=None)
@given(typed_specs(rich=True))
def test_random_cells_with_the_new_functions_documents_state_their_derivation(text):
    documents_state_their_derivation(text)


def documents_state_their_derivation(text: str) -> None:
    try:
        cell = Cell(spec_from_text(text, "typed.toml"))
    except DeriveError as error:
        assert any(reason in str(error) for reason in ALLOWED_REFUSALS), f"{error}\n{text}"
        return
    assert not lines_printed_alike(cell), "two backward lines print alike"
    docs = documents(cell)
    for flavor in ("md", "tex"):
        check_document(cell, docs[flavor], flavor)


# Cells the random round trip found: both were wrong in their documents or refused.
FOUND = {
    # W x used inline in c and as a concat part in s: one variable now, one adjoint (there were two,
    # both printed dL/d(W x(t)))
    "product-used-twice": ('["s", "c"]', "s = V @ concat(sigmoid(x), W @ x)\nc = W @ x + W @ x",
                           'V = ["H", "D + H"]\nW = ["H", "D"]'),
    # sigmoid(sigmoid(h(t-1))): the outer one's pre-activation was a second variable holding the inner
    # one's value, and the cell was refused because both printed alike
    "nested-application": ('["h"]', "h = sigmoid(sigmoid(h(t-1))) + W @ x", 'W = ["H", "D"]'),
    # the operand 1 - h(t-1) one step later prints as h's complement 1 - h(t): the line's target is meant
    "operand-printed-like-a-complement": ('["h", "s"]', "a = U @ (1 - h(t-1))\nh = sigmoid(W @ x)\ns = h(t-1) + W @ x + tanh(a)",
                                          'U = ["H", "H"]\nW = ["H", "D"]'),
    # Found by the fuzzing of the new functions (issue 16), with the old ones as well:
    # h's tanh(tanh(s(t-1))) was a lifted copy of s = tanh(...), made after s, and the fast forward loop
    # computed s by reading that copy before it existed (UnboundLocalError)
    "lifted-copy-of-an-equation": ('["s", "h"]', "s = tanh(tanh(s(t-1)))\nh = tanh(tanh(s(t-1))) + W @ x", 'W = ["H", "D"]'),
    # the same application of a compound argument inside two equations had a pre-activation each, both
    # printed (1 + sigma(c(t-1))), and the cell was refused
    "pre-activations-of-one-lifted-value": ('["c", "h"]', "c = tanh(sigmoid(1 + sigmoid(c(t-1))))\n"
                                            "h = sigmoid(1 + sigmoid(c(t-1))) * p + W @ x", 'p = ["H"]\nW = ["H", "D"]'),
    # ... and so did the operand of a product and the same application lifted in another equation
    "operand-and-lifted-value": ('["h", "s"]', "a = sigmoid(W @ x)\nh = U @ tanh(1 + sigmoid(a))\ns = sigmoid(tanh(1 + sigmoid(a))) + W @ x",
                                 'W = ["H", "D"]\nU = ["H", "H"]'),
    "lifted-value-and-operand": ('["h", "s"]', "a = sigmoid(W @ x)\ns = sigmoid(tanh(1 + sigmoid(a))) + W @ x\nh = U @ tanh(1 + sigmoid(a))",
                                 'W = ["H", "D"]\nU = ["H", "H"]'),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_cells_the_random_round_trip_found(case):
    states, equations, params = FOUND[case]
    text = (f'name = "found"\ninputs = ["x"]\nstates = {states}\noutput = "{states[2]}"\n'
            f'equations = """\n{equations}\n"""\n[params]\n{params}\n')
    cell = Cell(spec_from_text(text, "found.toml"))
    assert not lines_printed_alike(cell)
    docs = documents(cell)
    for flavor in ("md", "tex"):
        check_document(cell, docs[flavor], flavor)
    from test_naming import passes_every_check
    passes_every_check(text)


def test_two_operands_that_print_alike_across_a_step_are_told_apart():
    """Found by the random round trip in a fresh CI environment: the operand Q h(t-1) of h's equation one
    step later and the operand Q h(t) of s's equation are two nodes of one value, whose adjoints both
    printed dL/d(Q h(t)); a made-up variable's adjoint at t+1 is now dL(t+1)/d(Q h(t))."""
    text = ('name = "typed"\ninputs = ["x"]\nstates = ["h", "s"]\noutput = "h"\nequations = """\n'
            'h = W @ (Q @ h(t-1))\ns = W @ (Q @ h) + W @ x\n"""\n[params]\nW = ["H", "D"]\nQ = ["D", "H"]\n')
    documents_state_their_derivation(text)
