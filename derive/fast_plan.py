"""Stage 6: the fast sequence code's plan, every fact both loops need worked out once, as data.

On top of the grouping of products (fused.py): where each product's value lives at step t,
the biases added to the input's projection before the loop, the groups whose projections are
added once per step, the runs of gates one activation call computes, and, backward, which
adjoints make up each product's delta, the slots of the delta buffers they are stored in, and
the bias gradients summed once after the loop. The loop writers (fast_forward, fast_backward)
read these fields and decide nothing of the layout themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import naming
from .derivation import AdjointLine, Derivation, LineRole
from .dims import Dim
from .forward_code import sigmoid_pairs
from .functions import BatchSum, Elementwise, MatVec, Outer
from .fused import FusedPlan, Group, plan, rewrite_backward
from .model import Assignment, CellModel, Kind, Role


def slice_ends(start: Dim, stop: Dim) -> tuple[str, str]:
    """start:stop as code, with an empty start for 0."""
    return start.code if start != Dim() else "", stop.code


@dataclass(frozen=True, order=True)
class ProjectionBlock:
    """Rows start:stop of the array that holds (part of) a product's value at step t."""

    step: str  # the array at step t, as code: "_proj_x[t]" or "_sum_h_prev" (ordering key, as the loops sort)
    start: Dim
    stop: Dim
    array: str  # the array itself
    every_step: bool  # it holds every step, (T, B, rows), indexed by t first

    def at_step(self, start: Dim | None = None, stop: Dim | None = None) -> str:
        """Code for the rows (start:stop, by default the block's own) at step t."""
        first, last = slice_ends(self.start if start is None else start, self.stop if stop is None else stop)
        return f"{self.array}[t, :, {first}:{last}]" if self.every_step else f"{self.array}[:, {first}:{last}]"

    def all_steps(self) -> str:
        """Code for the rows at every step: a (T, B, rows) view."""
        first, last = slice_ends(self.start, self.stop)
        return f"{self.array}[:, :, {first}:{last}]"


@dataclass(frozen=True)
class RunMember:
    """A gate whose pre-activation is exactly a block of one step's projections."""

    gate: str  # f
    pre: str  # f_pre
    pre_read: bool  # whether anything but the gate reads the pre-activation (else its line is dropped)
    blocks: tuple[ProjectionBlock, ...]  # the blocks it adds up
    function: str  # Sigmoid, Tanh, ...

    def follows(self, other: "RunMember") -> bool:
        """Its blocks start where other's end, in the same arrays, under the same function."""
        return self.function == other.function and len(self.blocks) == len(other.blocks) and all(
            mine.step == theirs.step and mine.start == theirs.stop for mine, theirs in zip(self.blocks, other.blocks))


@dataclass(frozen=True)
class Slot:
    """Where one product's adjoint is stored at step t: a block of a delta buffer."""

    buffer: str
    start: Dim
    stop: Dim
    size: Dim  # stop - start: the rows of the product's matrix
    adjoints: tuple[str, ...]  # the adjoint lines it adds up (one for a product in one assignment)

    @property
    def code(self) -> str:
        first, last = slice_ends(self.start, self.stop)
        return f"{self.buffer}[t, :, {first}:{last}]"


@dataclass(frozen=True)
class BiasSum:
    """A bias whose gradient is the batch sum of a delta the loop stores anyway: summed after the loop."""

    param: str
    slot: Slot


@dataclass(frozen=True)
class FastPlan:
    fused: FusedPlan  # the products, grouped by the vector they multiply
    rows: dict[str, tuple[tuple[Dim, Dim], ...]]  # group part -> first and one-past-last row of each block in its stack
    totals: dict[str, Dim]  # group part -> rows of its stack
    folded: dict[str, tuple[int, str]]  # target -> (product, bias) added to the input's projection before the loop
    sums: dict[str, tuple[Group, ...]]  # last part -> groups whose projections are added once per step
    blocks: tuple[tuple[ProjectionBlock, ...], ...]  # per product: the blocks that hold its value at step t
    emitted: tuple[Assignment, ...]  # the forward assignments the loop computes
    paired: dict[str, str]  # sigmoid output -> its complement, both from one call
    runs: tuple[tuple[RunMember, ...], ...]  # gates one activation call computes, in row order
    reaching: tuple[Group, ...]  # groups with a product whose result reaches the loss
    buffers: dict[str, str]  # group part -> the delta buffer it fills
    slots: dict[str, tuple[Slot, ...]]  # delta buffer -> the slots of its products that reach the loss
    bias_sums: tuple[BiasSum, ...]  # bias gradients summed once after the loop
    contributions: dict[str, sp.Symbol]  # part -> what its group sends back at each step (a per-step part)
    backward: tuple[tuple[AdjointLine, sp.Expr], ...]  # the per-step adjoint lines of the fast loop


def plan_fast_path(derivation: Derivation) -> FastPlan:
    """Every fact of the fast sequence code, from the derivation's forward and backward lines."""
    model = derivation.model
    fused = plan(derivation)
    rows = {g.part: _row_dims(model, g) for g in fused.groups}
    folded = _folded_biases(model, fused)
    sums = _summable(model, fused)
    blocks = tuple(_product_blocks(fused, k, sums, rows) for k in range(len(fused.products)))
    emitted = tuple(a for a in model.assignments
                    if a.target not in fused.fused_concats and not _unused_complement(model, a.target, derivation))
    paired = sigmoid_pairs(model, list(emitted))
    runs = _activation_runs(derivation, fused, folded, blocks, emitted, paired)
    adjoints = _product_adjoints(derivation, fused)
    reaching = tuple(g for g in fused.groups if any(s.product in adjoints for s in g.slabs))
    buffers = _buffers(fused)
    slots = _slots(model, reaching, rows, buffers, adjoints)
    bias_sums = _bias_sums(derivation, slots)
    contributions = {g.part: sp.Symbol(naming.contribution(g.part)) for g in reaching if not g.before_loop}
    moved = {bias.param for bias in bias_sums}
    backward = tuple((line, expr) for line, expr in rewrite_backward(derivation, fused, contributions)
                     if not (line.role == LineRole.PARAM and line.about in moved))
    totals = {g.part: sum((model.variables[s.matrix].shape[0] for s in g.slabs), Dim()) for g in fused.groups}
    return FastPlan(fused, rows, totals, folded, sums, blocks, emitted, paired, runs, reaching, buffers, slots,
                    bias_sums, contributions, backward)


def _row_dims(model: CellModel, group: Group) -> tuple[tuple[Dim, Dim], ...]:
    """The first and one-past-last row of each block inside the group's stack."""
    ranges, start = [], Dim()
    for slab in group.slabs:
        stop = start + model.variables[slab.matrix].shape[0]
        ranges.append((start, stop))
        start = stop
    return tuple(ranges)


def _buffers(fused: FusedPlan) -> dict[str, str]:
    """Group -> the delta buffer it fills; groups whose blocks come from the same products in
    the same order (x and h(t-1) of an LSTM over [x; h]) share one."""
    owner: dict[tuple, str] = {}
    return {g.part: owner.setdefault(tuple(s.product for s in g.slabs), naming.deltas(g.part)) for g in fused.groups}


# -- forward ---------------------------------------------------------------------------
def _folded_biases(model: CellModel, fused: FusedPlan) -> dict[str, tuple[int, str]]:
    """Assignments `W x + ... + b` whose bias vector b can be added to the input's projection of W x
    before the loop: target -> (product index, bias). Only where b is a plain term used once, and
    W x appears in no other assignment (it would receive b too)."""
    input_products = {s.product for g in fused.groups if g.before_loop for s in g.slabs}
    uses = {k: sum(p in a.expr.atoms(MatVec) for a in model.assignments) for k, p in enumerate(fused.products)}
    input_products = {k for k in input_products if uses[k] == 1}  # a product read anywhere else must stay as it is
    folded, used = {}, set()
    for assignment in model.assignments:
        expr = assignment.expr
        if not isinstance(expr, sp.Add):
            continue
        products = [k for k, p in enumerate(fused.products) if p in expr.args and k in input_products]
        biases = [t for t in expr.args if isinstance(t, sp.Symbol) and model.variables[t.name].kind == Kind.PARAM
                  and t not in (expr - t).free_symbols and t.name not in used]
        if products and biases:
            folded[assignment.target] = (products[0], biases[0].name)
            used.add(biases[0].name)
    return folded


def _summable(model: CellModel, fused: FusedPlan) -> dict[str, tuple[Group, ...]]:
    """Groups known at the start of a step whose blocks come from the same products in the same
    order (x and h(t-1) of an LSTM over [x; h]): their projections are added once per step."""
    by_products: dict[tuple, list[Group]] = {}
    for group in fused.groups:
        if group.before_loop or model.variables[group.part].kind == Kind.PREVIOUS:
            by_products.setdefault(tuple(s.product for s in group.slabs), []).append(group)
    return {groups[-1].part: tuple(groups) for groups in by_products.values()
            if len(groups) > 1 and not all(g.before_loop for g in groups)}


def sum_array(groups: tuple[Group, ...]) -> tuple[str, bool]:
    """Where a step's sum of these groups' projections lives, and whether that array holds every step:
    the input's projection, added to in place (nothing else reads it), or an array of its own."""
    inputs = [g for g in groups if g.before_loop]
    return (naming.projection(inputs[0].part), True) if inputs else (naming.summed(groups[-1].part), False)


def _product_blocks(fused: FusedPlan, index: int, sums, rows) -> tuple[ProjectionBlock, ...]:
    """Where this step's W u lives: each block to add up; one when a single projection (or a sum of
    projections) holds all of it."""
    in_sum = {g.part: last for last, groups in sums.items() for g in groups}
    blocks: list[ProjectionBlock] = []
    for group in fused.groups:
        for slab, (start, stop) in zip(group.slabs, rows[group.part]):
            if slab.product != index:
                continue
            if group.part in in_sum:
                array, every_step = sum_array(sums[in_sum[group.part]])
            else:
                array, every_step = naming.projection(group.part), group.before_loop
            block = ProjectionBlock(f"{array}[t]" if every_step else array, start, stop, array, every_step)
            if block not in blocks:
                blocks.append(block)
    return tuple(blocks)


def _unused_complement(model: CellModel, name: str, derivation: Derivation) -> bool:
    if model.variables[name].role != Role.COMPLEMENT:
        return False
    symbol = sp.Symbol(name)
    return not any(symbol in line.expr.free_symbols for line in derivation.lines)


def _activation_runs(derivation: Derivation, fused: FusedPlan, folded, blocks, emitted, paired) -> tuple:
    """Gates of one activation whose pre-activations are adjacent blocks of the same projections: one
    call computes them all (sigma over the f, i, o blocks of an LSTM at once; over r and z of a GRU,
    after one addition of the two projections' blocks), on one block rather than several strided
    ones. Each run lists its gates in row order."""
    candidates = [member for gate in emitted
                  if (member := _run_member(derivation, fused, folded, blocks, emitted, gate)) is not None]
    runs: list[list[RunMember]] = []
    for member in sorted(candidates, key=lambda m: ([b.step for b in m.blocks], m.blocks[0].start)):
        previous = runs[-1][-1] if runs else None
        if previous and member.follows(previous) and (previous.gate in paired) == (member.gate in paired):
            runs[-1].append(member)
        else:
            runs.append([member])
    return tuple(tuple(run) for run in runs if len(run) > 1)


def _run_member(derivation: Derivation, fused: FusedPlan, folded, blocks, emitted, gate: Assignment) -> RunMember | None:
    """The gate as a run member, if its pre-activation is only products the projections hold."""
    model = derivation.model
    assigned = {a.target: a for a in emitted}
    if not isinstance(gate.expr, Elementwise) or not isinstance(gate.expr.args[0], sp.Symbol):
        return None
    pre = gate.expr.args[0].name
    if pre not in assigned or model.variables[pre].role != Role.PRE:
        return None
    expr = assigned[pre].expr - (sp.Symbol(folded[pre][1]) if pre in folded else 0)
    terms = expr.args if isinstance(expr, sp.Add) else (expr,)
    if not all(isinstance(term, MatVec) and term in fused.products for term in terms):
        return None  # a bias or an element-wise term that is not in the projections
    where = sorted({block for term in terms for block in blocks[fused.products.index(term)]})
    others = {gate.target, model.names.existing("complement", gate.target)}  # the gate's complement reads the pre too
    read = any(sp.Symbol(pre) in line.expr.free_symbols for line in derivation.lines) or any(
        sp.Symbol(pre) in a.expr.free_symbols for a in emitted if a.target not in others)
    return RunMember(gate.target, pre, read, tuple(where), type(gate.expr).__name__)


# -- backward --------------------------------------------------------------------------
def _product_adjoints(derivation: Derivation, fused: FusedPlan) -> dict[int, list[str]]:
    """dL/d(W u) of each product: the d of every d u^T term of W's gradient (one term per
    assignment the product appears in), to be added up."""
    found: dict[int, list[str]] = {}
    for line in derivation.lines_with_role(LineRole.PARAM):
        for outer in sorted(line.expr.atoms(Outer), key=sp.default_sort_key):
            adjoint, vector, _matrix = outer.args
            for index, product in enumerate(fused.products):
                if str(product.args[0]) == line.about and product.args[1] == vector:
                    found.setdefault(index, []).append(str(adjoint))
    return found


def _slots(model: CellModel, reaching, rows, buffers, adjoints: dict[int, list[str]]) -> dict[str, tuple[Slot, ...]]:
    """Delta buffer -> the slots of its products that reach the loss."""
    slots: dict[str, tuple[Slot, ...]] = {}
    for group in reaching:
        buffer = buffers[group.part]
        if buffer in slots:
            continue  # groups sharing a buffer have the same products in the same rows
        slots[buffer] = tuple(Slot(buffer, start, stop, model.variables[slab.matrix].shape[0], tuple(adjoints[slab.product]))
                              for slab, (start, stop) in zip(group.slabs, rows[group.part]) if slab.product in adjoints)
    return slots


def own_slots(slots: dict[str, tuple[Slot, ...]]) -> dict[str, Slot]:
    """Adjoint -> the slot its line writes into: the first that holds exactly that adjoint."""
    own: dict[str, Slot] = {}
    for buffer_slots in slots.values():
        for slot in buffer_slots:
            if len(slot.adjoints) == 1:
                own.setdefault(slot.adjoints[0], slot)
    return own


def _bias_sums(derivation: Derivation, slots: dict[str, tuple[Slot, ...]]) -> tuple[BiasSum, ...]:
    """A bias whose per-step gradient is the batch sum of a delta the loop stores anyway (b_f of
    W_f x + b_f sums d_f_pre) is summed once after the loop, from the buffer, instead of every step."""
    where = own_slots(slots)
    found = []
    for line in derivation.lines_with_role(LineRole.PARAM):
        expr = line.expr
        if isinstance(expr, BatchSum) and isinstance(expr.args[0], sp.Symbol) and expr.args[0].name in where:
            found.append(BiasSum(line.about, where[expr.args[0].name]))
    return tuple(found)
