"""What a cell costs per step and per example, counted from its derivation at given D and H.

- parameters: entries of all parameter arrays;
- multiply-adds: rows x columns for every matrix-vector product (forward: W v; backward:
  W^T d and the d v^T of the weight gradient);
- element-wise operations: SymPy's count_ops of each element-wise expression (each
  +, -, *, / and function application) times the vector's size; a bias gradient's sum over
  the batch counts one addition per entry;
- cached floats: the entries of every variable the backward pass reads from the cache;
- backward operations: count_ops over the emitted backward expressions after common-
  subexpression elimination (a matrix product or a slice counts as one operation).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .backward_code import BackwardCode
from .derivation import Derivation
from .dims import size_values
from .functions import BatchSum, Linear


@dataclass(frozen=True)
class CellCost:
    name: str
    parameters: int  # entries of all parameters
    forward_macs: int  # multiply-adds of matrix products, one example, one step
    backward_macs: int
    forward_elementwise: int  # element-wise operations, one example, one step
    backward_elementwise: int
    cached_floats: int  # floats kept per example per step for backprop through time
    backward_ops_after_cse: int  # size of the emitted backward pass


def cell_cost(derivation: Derivation, code: BackwardCode, d: int, h: int) -> CellCost:
    """The costs of one cell at sizes d and h; code is its backward pass after CSE."""
    model = derivation.model
    sizes = size_values(model.spec.sizes, d, h)  # a declared size counted equal to H
    size = lambda name: _entries(model.variables[name].shape, sizes)  # noqa: E731
    forward_macs = forward_ew = 0
    for assignment in model.assignments:
        macs, ops = _costs(assignment.expr, model, sizes)
        forward_macs += macs
        forward_ew += ops * size(assignment.target)
    backward_macs = backward_ew = 0
    for line in derivation.lines:
        macs, ops = _costs(line.expr, model, sizes)
        backward_macs += macs
        width = size(line.about) if line.about in model.variables else 0
        backward_ew += ops * width
    return CellCost(
        name=model.spec.name,
        parameters=sum(_entries(p.shape, sizes) for p in model.spec.params),
        forward_macs=forward_macs,
        backward_macs=backward_macs,
        forward_elementwise=forward_ew,
        backward_elementwise=backward_ew,
        cached_floats=sum(size(name) for name in code.cached),
        backward_ops_after_cse=int(sum(_operations(e) for e in [v for _, v in code.shared] + list(code.reduced))),
    )


def _operations(expr: sp.Expr) -> int:
    """SymPy's count_ops of what the code computes: a node's bookkeeping arguments (a block's bounds,
    the size a sum over units runs over) are for the reader and the loops, not operations."""
    computed = expr.replace(lambda e: isinstance(e, Linear) and bool(e.unread),
                            lambda e: e.func(*(sp.S.Zero if i in e.unread else a for i, a in enumerate(e.args))))
    return int(sp.count_ops(computed))


def _entries(shape, sizes: dict[str, int]) -> int:
    total = 1
    for dim in shape:
        total *= dim.value(sizes)
    return total


def _costs(expr: sp.Expr, model, sizes: dict[str, int]) -> tuple[int, int]:
    """(matrix multiply-adds, element-wise operations per entry) of one expression."""
    shape_of = lambda name: tuple(dim.value(sizes) for dim in model.variables[name].shape)  # noqa: E731
    linear = expr.atoms(Linear)
    macs = sum(node.macs(shape_of) for node in sorted(linear, key=sp.default_sort_key))
    elementwise = expr.xreplace({node: sp.Dummy() for node in linear})  # a product or a slice: no element-wise op
    return macs, int(sp.count_ops(elementwise)) + len(expr.atoms(BatchSum))
