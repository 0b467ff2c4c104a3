"""Stage 6a: group the products of the fast sequence code, the structure cuDNN and oneDNN use.

Every matrix product W u is split into column blocks by the vector each block multiplies:
W_g [x; h(t-1)] = W_g[:, :D] x + W_g[:, D:] h(t-1). Blocks that multiply the same vector are
stacked into one weight, once per call, so all gates sharing an input cost one product:

- the input's group is projected for all T steps in one product before the time loop;
- any other group (h(t-1), r * h(t-1), ...) costs one product per step;
- backward, each group's deltas are stacked per step, its contribution to the vector it
  multiplied is one product, and its weight gradient is one product over all steps
  after the loop (the input's adjoint too).

The groups are data; fast_plan builds the rest of the plan on them, render_fast shows it to templates/sequence_fast.py.j2.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .derivation import Derivation, LineRole
from .dims import Dim
from .functions import Block, Concat, Elementwise, MatVec, MatVecT, Outer
from .model import CellModel, Kind


@dataclass(frozen=True)
class Slab:
    """The block of one matrix that multiplies one vector."""

    matrix: str  # the parameter, e.g. "W_g"
    start: Dim  # first column of the block
    stop: Dim  # one past its last column
    product: int  # index of the product W u this block belongs to (into FusedPlan.products)


@dataclass(frozen=True)
class Group:
    """All blocks that multiply the same vector, stacked into one weight."""

    part: str  # the vector they multiply: the input, a state at t-1, or a per-step variable
    slabs: tuple[Slab, ...]
    before_loop: bool  # the input: every step's product at once, before the time loop


@dataclass(frozen=True)
class FusedPlan:
    products: tuple[MatVec, ...]  # every distinct product W u of the forward pass
    groups: tuple[Group, ...]
    fused_concats: tuple[str, ...]  # concat variables only ever multiplied: never built


def plan(derivation: Derivation) -> FusedPlan:
    """Group the forward pass's matrix products by the vectors they multiply."""
    model = derivation.model
    products = _products(model)
    concats = _fused_concats(model, products)
    slabs_by_part: dict[str, list[Slab]] = {}
    for index, product in enumerate(products):
        matrix, vector = str(product.args[0]), str(product.args[1])
        for part, start, stop in _parts(model, vector, concats):
            slabs_by_part.setdefault(part, []).append(Slab(matrix, start, stop, index))
    groups = tuple(Group(part, tuple(slabs), model.variables[part].kind == Kind.INPUT)
                   for part, slabs in slabs_by_part.items())
    return FusedPlan(tuple(products), groups, tuple(concats))


def _products(model: CellModel) -> list[MatVec]:
    """Every distinct product, those under the same activation adjacent (an LSTM's f, i, o, then
    c~), so that the stacked pre-activations of one activation are one contiguous block."""
    seen: list[MatVec] = []
    for assignment in model.assignments:
        for product in sorted(assignment.expr.atoms(MatVec), key=sp.default_sort_key):
            if product not in seen:
                seen.append(product)
    kinds = [activation_of(model, product) for product in seen]
    first = {kind: kinds.index(kind) for kind in kinds}
    return [product for _, _, product in sorted(zip((first[k] for k in kinds), range(len(seen)), seen))]


def activation_of(model: CellModel, product: MatVec) -> str | None:
    """The element-wise function applied to the pre-activation this product is part of, if any."""
    pre = next(a.target for a in model.assignments if product in a.expr.atoms(MatVec))
    for assignment in model.assignments:
        if isinstance(assignment.expr, Elementwise) and assignment.expr.args[0] == sp.Symbol(pre):
            return type(assignment.expr).__name__
    return None


def _fused_concats(model: CellModel, products: list[MatVec]) -> list[str]:
    """Concat variables read only as the right operand of products: their blocks are used instead."""
    operands = {str(p.args[1]) for p in products}
    fused = []
    for assignment in model.assignments:
        if not isinstance(assignment.expr, Concat) or assignment.target not in operands:
            continue
        symbol = sp.Symbol(assignment.target)
        read_elsewhere = any(symbol in a.expr.xreplace({p: sp.S.Zero for p in a.expr.atoms(MatVec)}).free_symbols
                             for a in model.assignments if a.target != assignment.target)
        if not read_elsewhere and assignment.target not in model.spec.states:
            fused.append(assignment.target)
    return fused


def _parts(model: CellModel, vector: str, concats: list[str]) -> list[tuple[str, Dim, Dim]]:
    """(part, first column, one past the last) of the vector a product multiplies."""
    if vector not in concats:
        return [(vector, Dim(), model.variables[vector].shape[0])]
    concat = next(a.expr for a in model.assignments if a.target == vector)
    parts, start = [], Dim()
    for part in concat.args:
        stop = start + model.variables[str(part)].shape[0]
        parts.append((str(part), start, stop))
        start = stop
    return parts


def rewrite_backward(derivation: Derivation, fused: FusedPlan, contribution: dict[str, sp.Symbol]):
    """The per-step adjoint lines of the fast loop.

    Lines for fused concats disappear; each vector a group multiplied receives that group's
    contribution (the symbol in `contribution`) instead of its W^T d terms and blocks;
    weight gradients (d v^T terms) leave the loop. Returns [(line, expression)].
    """
    dropped = {derivation.model.names.adjoint(name) for name in fused.fused_concats}
    out = []
    for line in derivation.lines:
        if line.target.name in dropped:
            continue
        expr = _without_group_terms(line.expr, fused, dropped)
        if line.role == LineRole.PARAM:
            expr = expr.xreplace({o: sp.S.Zero for o in expr.atoms(Outer)})
        part = line.about if line.role in (LineRole.STATE, LineRole.INTERMEDIATE, LineRole.INPUT) else None
        if line.role == LineRole.CARRY:
            part = derivation.model.names.prev(line.about)
        if part in contribution:
            expr = expr + contribution[part]
        out.append((line, expr))
    return out


def _without_group_terms(expr: sp.Expr, fused: FusedPlan, dropped: set[str]) -> sp.Expr:
    """Remove W^T d terms of grouped products and blocks of fused concats' adjoints."""
    grouped = {str(p.args[0]) for p in fused.products}
    replacements = {node: sp.S.Zero for node in expr.atoms(MatVecT) if str(node.args[0]) in grouped}
    replacements.update({node: sp.S.Zero for node in expr.atoms(Block) if str(node.args[0]) in dropped})
    return expr.xreplace(replacements)
