"""A post's backward equations, read from its LaTeX, for `derive check --latex POST.md`.

The post is written in the notation derive prints (its own, or edited from derive's): every display
equation whose left side is an adjoint of the cell (\\frac{\\partial L}{\\partial s(t)}, dL/ds(t) or
\\delta s(t), in the cell's time style) is a claim to check. Its LaTeX is read by latex_read, the
reader written from the documents (not from the printers), and its symbols are matched with the
cell's by reading the cell's own notation the same way: s(t+1) is the symbol the notation prints as
s(t+1), whatever the post's adjoint style. Displays about anything else (the forward pass, a chain
rule with local derivatives, a definition of the loss) are not backward equations and are passed by.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .derivation import AdjointLine, Derivation, LineRole
from .dims import SizeSymbol
from .elementwise import DERIVATIVE_FUNCTIONS, FUNCTIONS, Above, AtLeast
from .errors import Location, SpecError
from .functions import Concat, MatVec, MatVecT, Outer
from .hand_convert import block_of
from . import latex_read as reader
from .latex_documents import placed_equations
from .notation import Notation
from .reductions import REDUCTIONS, SumOf

READ_FUNCTIONS = {**FUNCTIONS, **DERIVATIVE_FUNCTIONS, "greater": Above, "greater_equal": AtLeast}


@dataclass(frozen=True)
class PostEquation:
    """One display of a post that states a backward line."""

    line: AdjointLine  # the derived line it states
    right: sp.Expr  # its right side in the derivation's symbols
    latex: str  # the display as the post writes it
    where: Location  # the line of the post where its display starts


def post_equations(derivation: Derivation, notation: Notation, text: str, path: str) -> list[PostEquation]:
    """Every display of the post (Markdown, or a .tex file) whose left side is one of the cell's adjoints.
    Markdown is read as written and with CommonMark's escapes undone (a post for a CommonMark site writes
    \\\\ for \\): the reading that finds more backward lines is the post's."""
    flavors = ("tex",) if path.endswith(".tex") else ("md", "commonmark")
    symbols = _symbols(notation)
    readings, problems = [], []
    for flavor in flavors:
        try:
            displays = placed_equations(text, flavor)
            readings.append(_stated(derivation, notation, symbols, displays, text, path))
        except reader.LatexReadError as error:
            problems.append(SpecError(_place(path, text, error.pos), error.message, "$$ blocks that close"))
        except SpecError as error:  # a backward line it cannot read: this reading is not the post's
            problems.append(error)
    if not readings:
        raise problems[0]
    return max(readings, key=len)


def _stated(derivation, notation, symbols, displays, text: str, path: str) -> list[PostEquation]:
    lines = {line.target.name: line for line in derivation.lines}
    found = []
    for latex, offset in displays:
        where = _place(path, text, offset)
        try:
            equation = reader.read_equation(latex, notation.style.time)
        except reader.LatexReadError as error:
            _refuse_if_about_an_adjoint(latex, error, symbols, notation, lines, where)
            continue  # not an equation in derive's notation: prose math, another symbol language
        target = symbols.get(equation.left)
        if target is None or target.name not in lines:
            continue
        line = lines[target.name]
        try:
            right = _Reading(derivation, symbols, line, where).convert(equation.right)
        except _NotABackwardLine:
            continue  # a chain rule with local derivatives, or a loss definition: no closed form to check
        found.append(PostEquation(line, right, latex, where))
    return found


def _refuse_if_about_an_adjoint(latex: str, error: reader.LatexReadError, symbols: dict, notation: Notation,
                                lines: dict, where: Location) -> None:
    """A display the reader cannot read is passed by, unless its left side is one of the cell's adjoints: then it
    states a backward line, and checking the rest without it would hide it."""
    left = latex.split("=", 1)[0].rstrip(" &")
    try:
        target = symbols.get(reader.read(left, notation.style.time))
    except reader.LatexReadError:
        return
    if target is not None and target.name in lines:
        raise SpecError(where, f"the display of {target.name} cannot be read: {error.message} near {error.near!r}",
                        f"derive's notation, as derive latex prints it ({other_time_hint(notation)})")


def other_time_hint(notation: Notation) -> str:
    """What to pass for a post written with the other time style than the cell's."""
    if notation.style.time == "parens":
        return "a post that writes s_t for s(t) needs --time subscript"
    return "a post that writes s(t) for s_t needs --time parens"


def _symbols(notation: Notation) -> dict[sp.Expr, sp.Symbol]:
    """What the reader makes of each symbol the notation prints -> that symbol: \\frac{dL}{ds(t+1)} -> d_s@next.
    A variable the notation prints as its definition ((1 - f(t)), tanh(c(t))) is left to its definition."""
    symbols = {}
    for name, latex in notation.latex.items():
        try:
            read = reader.read(latex, notation.style.time)
        except reader.LatexReadError:
            continue
        if isinstance(read, sp.Symbol) or type(read) is reader.Adjoint:
            symbols.setdefault(read, SizeSymbol(name) if name in notation.model.spec.sizes else sp.Symbol(name))
    return symbols


def _place(path: str, text: str, offset: int) -> Location:
    return Location(path, text.count("\n", 0, offset) + 1)


class _NotABackwardLine(Exception):
    """A display with a local derivative or a sum of the loss: not a line of the backward pass."""


class _Reading:
    """The reader's expression (inert functions) as the derivation's (derive's own operations and symbols)."""

    def __init__(self, derivation: Derivation, symbols: dict, line: AdjointLine, where: Location):
        self.derivation, self.symbols, self.line, self.where = derivation, symbols, line, where

    def convert(self, expr: sp.Expr) -> sp.Expr:
        if isinstance(expr, sp.Number):
            return expr
        if isinstance(expr, sp.Symbol) or type(expr) is reader.Adjoint:
            return self.symbol(expr)
        if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
            return expr.func(*(self.convert(arg) for arg in expr.args))
        kind = type(expr)
        if kind in (reader.Partial, reader.LossSum):
            raise _NotABackwardLine
        if kind is reader.TimeSum:  # a parameter's gradient, summed over the steps: the step's term is checked
            return self.convert(expr.args[0])
        return self.operation(expr)

    def operation(self, expr: sp.Expr) -> sp.Expr:
        kind, args = type(expr), expr.args
        if kind is reader.MatVec:
            return MatVec(self.convert(args[0]), self.convert(args[1]))
        if kind is reader.MatVecT:
            return MatVecT(self.convert(args[0]), self.convert(args[1]))
        if kind is reader.Outer and self.line.role == LineRole.PARAM:
            return Outer(self.convert(args[0]), self.convert(args[1]), sp.Symbol(self.line.about))
        if kind is reader.Concat:
            return Concat(*(self.convert(arg) for arg in args))
        if kind is reader.Block:
            part = self.symbol(args[1])
            variable = self.derivation.model.variables.get(part.name.partition("@")[0])
            name = variable.of if variable is not None and variable.of else part.name.partition("@")[0]
            return block_of(self.derivation, self.convert(args[0]), name, part.name.partition("@")[0], self.where)[0]
        name = getattr(kind, "__name__", "")
        if name in REDUCTIONS:
            return REDUCTIONS[name](self.convert(args[0]))
        if name == "unitsum":  # 1^T (X): X summed over its units
            return SumOf(self.convert(args[0]))
        if name == "spread":  # 1 X: a number per example over a vector's units, as a size-1 value is broadcast
            return self.convert(args[0])
        if name in READ_FUNCTIONS:
            return READ_FUNCTIONS[name](*(self.convert(arg) for arg in args))
        raise SpecError(self.where, f"{sp.srepr(expr)[:60]} is not an operation of the backward pass",
                        "sums, products, powers, the cell's functions, W v, W^T v, a v^T, blocks and stacked vectors")

    def symbol(self, expr: sp.Expr) -> sp.Symbol:
        symbol = self.symbols.get(expr)
        if symbol is None:
            if type(expr) is reader.Adjoint and isinstance(expr.args[1], sp.Symbol) and expr.args[1].name.split("@")[0] in ("L", "l"):
                raise _NotABackwardLine  # dL/dL: the loss's own sum
            shown = expr.args[1] if type(expr) is reader.Adjoint else expr
            raise SpecError(self.where, f"the symbol {str(shown).replace('@', ' at ')} is not a symbol of cell "
                            f"{self.derivation.model.spec.name!r}", "the cell's variables and adjoints, in its notation "
                            "(derive latex CELL prints it)")
        return symbol
