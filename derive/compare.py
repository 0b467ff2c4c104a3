"""`derive compare`: what changes between cells, equation by equation, and what each costs.

Equations are matched by what they define (the code name of their left-hand side, such as
`d_c`), so cells that share a notation line up. Within a matched equation, additive terms
are compared; a term that has no equal in the first cell is matched to the first cell's
term it shares most factors with, and only the factors that differ are marked. Factors and
terms of the first cell that a variant loses are listed as dropped (for greff_noaf against
greff_v: the tanh' factor of the cell-state adjoint).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import naming
from .cell import DerivedCell
from .derivation import Derivation, LineRole
from .errors import DeriveError
from .model import Role
from .metrics import CellCost, cell_cost
from .notation import Notation, explained, forward_form
from .printers import LatexCellPrinter
from .style import LatexStyle


class Marked(sp.Function):
    """A term or factor that differs from the first cell; printed highlighted."""

    nargs = 1


@dataclass(frozen=True)
class Row:
    key: str  # the code name of what the equation defines, e.g. "d_c"
    left: str  # LaTeX of the left-hand side
    first: str  # LaTeX of the first cell's right-hand side ("" if it has none)
    other: str  # LaTeX of this cell's right-hand side, differences marked ("" if none)
    dropped: str  # LaTeX of what the first cell has here and this cell does not ("" if nothing)


@dataclass(frozen=True)
class Pairing:
    first: str  # name of the first cell
    other: str  # name of the compared cell
    forward: tuple[Row, ...]
    backward: tuple[Row, ...]

    @property
    def changed(self) -> int:
        return sum(row.first != row.other or bool(row.dropped) for row in self.forward + self.backward)


def check_comparable(cells: list[DerivedCell]) -> None:
    """Raise DeriveError unless the cells can be compared: distinct, and reading the same input."""
    names = [cell.spec.name for cell in cells]
    if len(names) < 2:
        raise DeriveError("compare needs at least two cells")
    repeated = naming.first_repeated(names)
    if repeated is not None:
        raise DeriveError(f"cell {repeated!r} is named twice; expected distinct cells")
    first = cells[0].spec
    for cell in cells[1:]:
        spec = cell.spec
        if spec.input != first.input:
            raise DeriveError(f"cannot compare {first.name} (input {first.input!r}) with {spec.name} (input {spec.input!r}): "
                              "the cells must read an input of the same name; rename one in its spec")


@dataclass(frozen=True)
class _Compared:
    """A cell in the one notation every compared cell shares, so that rows line up."""

    derivation: Derivation
    notation: Notation


def _compared(cell: DerivedCell) -> _Compared:
    shared = cell.notation if cell.spec.latex == LatexStyle() else Notation(cell.derivation, LatexStyle())
    return _Compared(cell.derivation, shared)


def comparison_view(cells: list[DerivedCell], d: int, h: int) -> dict:
    """Everything comparison.md.j2 and comparison.html.j2 need."""
    check_comparable(cells)
    compared = [_compared(cell) for cell in cells]
    return {
        "cells": [(cell.spec.name, cell.spec.title) for cell in cells],
        "first": cells[0].spec.name,
        "d": d,
        "h": h,
        "sized_alike": _sized_alike(cells),
        "table": costs_table([cell_cost(cell.derivation, cell.code, d, h) for cell in cells]),
        "pairings": [_pairing(compared[0], other) for other in compared[1:]],
    }


def _equations(cell: _Compared, backward: bool) -> dict[str, tuple[str, sp.Expr]]:
    """key -> (LaTeX left-hand side, right-hand side) for one cell, in its order."""
    derivation, latex = cell.derivation, cell.notation.latex
    model = derivation.model
    if not backward:
        return {a.target: (latex[a.target], forward_form(model, a.expr))
                for a in model.assignments if model.variables[a.target].role == Role.EQUATION}
    return {line.target.name: (latex[line.target.name], explained(derivation, line.expr))
            for line in derivation.lines if line.role != LineRole.CARRY}


def _pairing(first: _Compared, other: _Compared) -> Pairing:
    rows = {}
    printer_a = LatexCellPrinter({"names": first.notation.latex})
    printer_b = _MarkingPrinter({"names": other.notation.latex})
    for backward in (False, True):
        a, b = _equations(first, backward), _equations(other, backward)
        keys = list(a) + [k for k in b if k not in a]
        rows[backward] = tuple(_row(k, a.get(k), b.get(k), printer_a, printer_b) for k in keys)
    return Pairing(first.derivation.model.spec.name, other.derivation.model.spec.name, rows[False], rows[True])


def _row(key: str, a, b, printer_a, printer_b) -> Row:
    if b is None:
        return Row(key, a[0], printer_a.doprint(a[1]), "", "")
    if a is None:
        return Row(key, b[0], "", printer_b.doprint(Marked(b[1])), "")
    marked, dropped = mark_differences(a[1], b[1])
    dropped_text = ", ".join(printer_a.doprint(x) for x in dropped)
    return Row(key, b[0], printer_a.doprint(a[1]), printer_b.doprint(marked), dropped_text)


def mark_differences(first: sp.Expr, other: sp.Expr) -> tuple[sp.Expr, list[sp.Expr]]:
    """`other` with what differs from `first` wrapped in Marked, and what `first` has that `other` lacks."""
    left = list(sp.Add.make_args(first))
    marked_terms, dropped = [], []
    for term in sp.Add.make_args(other):
        if term in left:
            left.remove(term)
            marked_terms.append(term)
            continue
        best = max(left, key=lambda candidate: _shared_factors(candidate, term), default=None)
        if best is None or _shared_factors(best, term) == 0:
            marked_terms.append(_marked(term))
            continue
        left.remove(best)
        kept, extra = _split_factors(term, best)
        _, missing = _split_factors(best, term)
        dropped += missing
        marked_terms.append(sp.Mul(*kept, *[Marked(f) for f in extra], evaluate=False))
    dropped += left
    if all(isinstance(t, Marked) or isinstance(-t, Marked) for t in marked_terms):
        return Marked(other), [first]  # nothing in common: the whole right-hand side differs
    return sp.Add(*marked_terms, evaluate=False), dropped


def _marked(term: sp.Expr) -> sp.Expr:
    """Mark a term, keeping its sign outside the mark so sums print as a - b."""
    return -Marked(-term) if term.could_extract_minus_sign() else Marked(term)


def _factors(term: sp.Expr) -> list[sp.Expr]:
    return list(sp.Mul.make_args(term))


def _shared_factors(a: sp.Expr, b: sp.Expr) -> int:
    rest = _factors(b)
    count = 0
    for factor in _factors(a):
        if factor in rest:
            rest.remove(factor)
            count += 1
    return count


def _split_factors(term: sp.Expr, reference: sp.Expr) -> tuple[list, list]:
    """(factors of term also in reference, factors of term not in reference)."""
    rest, kept, extra = _factors(reference), [], []
    for factor in _factors(term):
        if factor in rest:
            rest.remove(factor)
            kept.append(factor)
        else:
            extra.append(factor)
    return kept, extra


class _MarkingPrinter(LatexCellPrinter):
    """LaTeX with differing parts in colour (KaTeX and MathJax both read {\\color{...} ...})."""

    def _print_Marked(self, expr):
        return f"{{\\color{{red}} {self._print(expr.args[0])}}}"


def costs_table(costs: list[CellCost]) -> list[list[str]]:
    header = ["cell", "parameters", "forward MACs", "backward MACs", "forward element-wise ops",
              "backward element-wise ops", "floats cached per step", "backward ops after CSE"]
    rows = [[c.name, *(f"{v:,}" for v in (c.parameters, c.forward_macs, c.backward_macs, c.forward_elementwise,
                                          c.backward_elementwise, c.cached_floats, c.backward_ops_after_cse))]
            for c in costs]
    return [header, *rows]


def _sized_alike(cells: list[DerivedCell]) -> str:
    """How the cost table counts the sizes some cells declare beyond D and H (equal to H), or ""."""
    declared = [f"{size} of {cell.spec.name}" for cell in cells for size in cell.spec.sizes if size not in ("D", "H")]
    equal = [f"{cell.spec.name} declares {left} = {right}" for cell in cells for left, right in cell.spec.equal_sizes]
    parts = ([f"declared sizes count as H ({', '.join(declared)})"] if declared else []) + equal
    return "; ".join(parts)
