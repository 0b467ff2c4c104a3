"""Stage 5c: the view of a FusedPlan that templates/sequence_fast.py.j2 renders.

Names this code makes up start with an underscore (`_stack_x`, `_proj_h_prev`); no spec name
can, so they never collide with a cell's own variables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from . import naming
from .derivation import Derivation
from .dims import Dim
from .functions import BatchSum, Elementwise, MatVec, Outer, ZerosLike
from .fused import FusedPlan, Group, plan, rewrite_backward
from .model import CellModel, Kind
from .printers import NumpyPrinter


def stack(part: str) -> str:
    return f"_stack_{part}"  # the group's blocks, stacked: (rows of all blocks, size of part)


def projection(part: str) -> str:
    return f"_proj_{part}"  # part @ stack.T: all the group's products at once


def deltas(part: str) -> str:
    return f"_deltas_{part}"  # the adjoints of the group's products: (T, B, rows)


def contribution(part: str) -> str:
    return f"_grad_{part}"  # what the group sends back to the vector it multiplied


def _size(dim: Dim) -> str:
    return str(dim).replace("*", " * ")


def _buffers(fused: FusedPlan) -> dict[str, str]:
    """Group -> the delta buffer it fills; groups whose blocks come from the same products in
    the same order (x and h(t-1) of an LSTM over [x; h]) share one."""
    owner: dict[tuple, str] = {}
    return {g.part: owner.setdefault(tuple(s.product for s in g.slabs), deltas(g.part)) for g in fused.groups}


def fast_view(derivation: Derivation) -> dict:
    """Everything sequence_fast.py.j2 needs."""
    fused = plan(derivation)
    model = derivation.model
    rows = {g.part: _row_ranges(model, g) for g in fused.groups}
    buffers = _buffers(fused)
    backward_groups = _groups_reaching_the_loss(derivation, fused)
    backward, step_end, bias_sums = _backward_lines(derivation, fused, rows, buffers)
    cached = _read_names(model, [code for code, _ in backward + step_end], exclude=fused.fused_concats)
    return {
        "stacks": [(stack(g.part), _stack_code(g)) for g in fused.groups],
        "transposed_stacks": [(stack(g.part), _stack_code(g, transposed=True)) for g in fused.groups],
        "input_groups": [(projection(g.part), stack(g.part)) for g in fused.groups if g.before_loop],
        "folded": _folding_code(model, fused, rows),
        "forward": _forward_lines(derivation, fused, rows),
        "cached": [(name, _size(model.variables[name].shape[0])) for name in cached],
        "parts": [(g.part, _size(model.variables[g.part].shape[0])) for g in fused.groups if not g.before_loop],
        "delta_buffers": [(buffers[g.part], _size(_total_rows(model, g))) for g in backward_groups if buffers[g.part] == deltas(g.part)],
        "backward_params": [p.name for p in model.spec.params if re.search(rf"\b{p.name}\b", "\n".join(c for c, _ in backward))],
        "backward": backward,
        "step_end": step_end,
        "after_loop": _after_loop(backward_groups, rows, buffers) + bias_sums,
        "input_adjoint": naming.adjoint(model.spec.input),
        "carries": [(s, naming.adjoint(naming.prev(s))) for s in model.spec.states],
    }


# -- layout ---------------------------------------------------------------------------
def _row_dims(model: CellModel, group: Group) -> list[tuple[Dim, Dim]]:
    """The first and one-past-last row of each block inside the group's stack."""
    ranges, start = [], Dim()
    for slab in group.slabs:
        stop = start + model.variables[slab.matrix].shape[0]
        ranges.append((start, stop))
        start = stop
    return ranges


def _row_ranges(model: CellModel, group: Group) -> list[tuple[str, str]]:
    """Code for the first and one-past-last row of each block inside the group's stack."""
    return [_slice_ends(start, stop) for start, stop in _row_dims(model, group)]


def _slice_ends(start: Dim, stop: Dim) -> tuple[str, str]:
    return _size(start) if start != Dim() else "", _size(stop)


def _groups_reaching_the_loss(derivation: Derivation, fused: FusedPlan) -> list[Group]:
    """Groups with at least one product whose result reaches the loss (the others get no gradient)."""
    adjoints = _product_adjoints(derivation, fused)
    return [g for g in fused.groups if any(s.product in adjoints for s in g.slabs)]


def _total_rows(model: CellModel, group: Group) -> Dim:
    total = Dim()
    for slab in group.slabs:
        total += model.variables[slab.matrix].shape[0]
    return total


def _columns(slab) -> str:
    start = _size(slab.start) if slab.start != Dim() else ""
    return f"{start}:{_size(slab.stop)}"


def _stack_code(group: Group, transposed: bool = False) -> str:
    """The group's blocks stacked by rows, or (transposed) their transposes side by side: one copy
    either way, where np.ascontiguousarray(stack.T) would be a second and slower one."""
    blocks = ", ".join(f"{s.matrix}[:, {_columns(s)}]{'.T' if transposed else ''}" for s in group.slabs)
    return f"np.concatenate(({blocks}{',' if len(group.slabs) == 1 else ''}), axis={1 if transposed else 0})"


# -- forward ---------------------------------------------------------------------------
def _folding_code(model: CellModel, fused: FusedPlan, rows) -> list[str]:
    """Bias vectors added to the input's projection once, for all steps."""
    code = []
    for product, bias in folded_biases(model, fused).values():
        for group in fused.groups:
            for slab, (start, stop) in zip(group.slabs, rows[group.part]):
                if group.before_loop and slab.product == product:
                    code.append(f"{projection(group.part)}[:, :, {start}:{stop}] += {bias}")
    return code


def summed(part: str) -> str:
    return f"_sum_{part}"  # this step's projections of groups with the same blocks, added once


def _summable(model: CellModel, fused: FusedPlan) -> dict[str, list[Group]]:
    """Groups known at the start of a step whose blocks come from the same products in the same
    order (x and h(t-1) of an LSTM over [x; h]): their projections are added once per step."""
    by_products: dict[tuple, list[Group]] = {}
    for group in fused.groups:
        if group.before_loop or model.variables[group.part].kind == Kind.PREVIOUS:
            by_products.setdefault(tuple(s.product for s in group.slabs), []).append(group)
    return {groups[-1].part: groups for groups in by_products.values() if len(groups) > 1 and not all(g.before_loop for g in groups)}


def _forward_lines(derivation: Derivation, fused: FusedPlan, rows) -> list[tuple[str, str]]:
    """(code, comment) for one step: products read from the projections, groups projected when their vector is ready."""
    model = derivation.model
    sums = _summable(model, fused)
    names = {f"_mv{k}": _product_code(fused, k, sums, model) for k in range(len(fused.products))}
    stand_ins = {product: sp.Symbol(f"_mv{k}") for k, product in enumerate(fused.products)}
    printer = NumpyPrinter({"names": names})
    values = model.cached_values()
    folded = folded_biases(model, fused)
    known_at_start = (Kind.INPUT, Kind.PREVIOUS)  # other vectors are projected right after they are computed
    lines = [_projection_line(g) for g in fused.groups if not g.before_loop and model.variables[g.part].kind in known_at_start]
    for last, groups in sums.items():
        total = " + ".join(f"{projection(g.part)}[t]" if g.before_loop else projection(g.part) for g in groups)
        lines.append((f"{summed(last)} = {total}", "the groups' products added once for all gates"))
    emitted = [a for a in model.assignments
               if a.target not in fused.fused_concats and not _unused_complement(model, a.target, derivation)]
    paired = sigmoid_pairs(model, emitted)
    runs = _activation_runs(derivation, fused, sums, emitted, paired)
    order = [a.target for a in emitted]
    leaders = {min((m.gate for m in run), key=order.index): index for index, run in enumerate(runs)}
    in_runs = {m.gate for run in runs for m in run} | {m.pre for run in runs for m in run if not m.pre_read}
    for assignment in emitted:
        target = assignment.target
        if target in paired.values():
            continue  # computed with its sigmoid
        if target in leaders:  # a run is computed where its first gate would be
            run = runs[leaders[target]]
            lines += _run_lines(leaders[target], run, paired, model)
            done = {m.gate for m in run} | {paired.get(m.gate) for m in run}
            lines += [_projection_line(g) for g in fused.groups if g.part in done]
            continue
        if target in in_runs:
            continue  # a gate computed with its run, or a pre-activation only its run read
        if target in paired:
            argument = printer.doprint(assignment.expr.args[0].xreplace(stand_ins))
            lines.append((f"{target}, {paired[target]} = sigmoid_pair({argument})", forward_comment(model, assignment)))
        else:
            expr = assignment.expr if model.variables[target].role == "lifted" else assignment.expr.xreplace(values)
            expr = expr.xreplace(stand_ins)
            if target in folded:
                expr = expr - sp.Symbol(folded[target][1])  # already added to the input's projection
            lines.append((f"{target} = {printer.doprint(expr)}", forward_comment(model, assignment)))
        done = {target, paired.get(target)}
        lines += [_projection_line(g) for g in fused.groups if g.part in done]
    return lines


@dataclass(frozen=True)
class RunMember:
    """A gate whose pre-activation is exactly a block of one step's projections."""

    gate: str  # f
    pre: str  # f_pre
    pre_read: bool  # whether anything but the gate reads the pre-activation (else its line is dropped)
    blocks: tuple[tuple[str, Dim, Dim], ...]  # (array, first row, one past the last) of the blocks it adds up
    function: str  # Sigmoid, Tanh, ...

    def follows(self, other: "RunMember") -> bool:
        """Its blocks start where other's end, in the same arrays, under the same function."""
        return self.function == other.function and len(self.blocks) == len(other.blocks) and all(
            mine[0] == theirs[0] and mine[1] == theirs[2] for mine, theirs in zip(self.blocks, other.blocks))


def _activation_runs(derivation: Derivation, fused: FusedPlan, sums, emitted, paired) -> list[tuple[RunMember, ...]]:
    """Gates of one activation whose pre-activations are adjacent blocks of the same projections: one
    call computes them all (sigma over the f, i, o blocks of an LSTM at once; over r and z of a GRU,
    after one addition of the two projections' blocks), on one block rather than several strided
    ones. Each run lists its gates in row order."""
    model = derivation.model
    folded = folded_biases(model, fused)
    assigned = {a.target: a for a in emitted}
    candidates = []
    for gate in emitted:
        if not isinstance(gate.expr, Elementwise) or not isinstance(gate.expr.args[0], sp.Symbol):
            continue
        pre = gate.expr.args[0].name
        if pre not in assigned or model.variables[pre].role != "pre":
            continue
        expr = assigned[pre].expr - (sp.Symbol(folded[pre][1]) if pre in folded else 0)
        terms = expr.args if isinstance(expr, sp.Add) else (expr,)
        if not all(isinstance(term, MatVec) and term in fused.products for term in terms):
            continue  # a bias or an element-wise term that is not in the projections
        where = sorted({block for term in terms for block in _product_blocks(fused, fused.products.index(term), sums, model)})
        others = {gate.target, naming.complement(gate.target)}  # the gate's complement reads the pre too
        read = any(sp.Symbol(pre) in line.expr.free_symbols for line in derivation.lines) or any(
            sp.Symbol(pre) in a.expr.free_symbols for a in emitted if a.target not in others)
        candidates.append(RunMember(gate.target, pre, read, tuple(where), type(gate.expr).__name__))
    runs = []
    for member in sorted(candidates, key=lambda m: ([array for array, _, _ in m.blocks], m.blocks[0][1])):
        previous = runs[-1][-1] if runs else None
        if previous and member.follows(previous) and (previous.gate in paired) == (member.gate in paired):
            runs[-1].append(member)
        else:
            runs.append([member])
    return [tuple(run) for run in runs if len(run) > 1]


def _run_lines(index: int, run: tuple[RunMember, ...], paired: dict[str, str], model: CellModel) -> list[tuple[str, str]]:
    """One activation call over the run's block, then each gate (and complement) as a view of it."""
    assigned = {a.target: a for a in model.assignments}
    first, last = run[0].blocks, run[-1].blocks
    block = " + ".join(_block_code(array, start, stop) for (array, start, _), (_, _, stop) in zip(first, last))
    start = first[0][1]
    name = f"_act{index}"
    gates = ", ".join(m.gate for m in run)
    if run[0].gate in paired:
        lines = [(f"{name}, {name}_complement = sigmoid_pair({block})", f"{gates} at once, and their complements")]
    else:
        lines = [(f"{name} = {assigned[run[0].gate].expr.func.numpy.format(block)}", f"{gates} at once")]
    for member in run:
        _, begin, end = member.blocks[0]
        lines.append((f"{member.gate} = {_block_code(name, begin - start, end - start)}",
                      forward_comment(model, assigned[member.gate])))
        if member.gate in paired:
            lines.append((f"{paired[member.gate]} = {_block_code(name + '_complement', begin - start, end - start)}", ""))
    return lines


def _block_code(array: str, start: Dim, stop: Dim) -> str:
    """Rows start:stop of a (B, rows) array; of step t of a (T, B, rows) one when array is `X[t]`."""
    first, last = _slice_ends(start, stop)
    if array.endswith("[t]"):
        return f"{array[:-3]}[t, :, {first}:{last}]"
    return f"{array}[:, {first}:{last}]"


def _product_blocks(fused: FusedPlan, index: int, sums: dict[str, list[Group]], model: CellModel) -> list[tuple[str, Dim, Dim]]:
    """Where this step's W u lives: (array, first row, one past the last) of each block to add up;
    one entry when a single projection (or a sum of projections) holds all of it."""
    in_sum = {g.part: last for last, groups in sums.items() for g in groups}
    blocks = []
    for group in fused.groups:
        for slab, (start, stop) in zip(group.slabs, _row_dims(model, group)):
            if slab.product != index:
                continue
            if group.part in in_sum:
                array = summed(in_sum[group.part])
            else:
                array = f"{projection(group.part)}[t]" if group.before_loop else projection(group.part)
            if (array, start, stop) not in blocks:
                blocks.append((array, start, stop))
    return blocks


def _projection_line(group: Group) -> tuple[str, str]:
    return f"{projection(group.part)} = {group.part} @ {stack(group.part)}_T", f"every product of {group.part}, at once"


def _product_code(fused: FusedPlan, index: int, sums: dict[str, list[Group]], model: CellModel) -> str:
    """W u at this step: the slices of the projections that hold its blocks (or of their sum)."""
    terms = [_block_code(array, start, stop) for array, start, stop in _product_blocks(fused, index, sums, model)]
    return terms[0] if len(terms) == 1 else "(" + " + ".join(terms) + ")"


def folded_biases(model: CellModel, fused: FusedPlan) -> dict[str, tuple[int, str]]:
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


def forward_comment(model: CellModel, assignment, shown: str = "") -> str:
    """The comment of a forward line: the spec's own text, or why lowering made the variable."""
    variable = model.variables[assignment.target]
    if variable.role == "equation":
        equation = model.spec.equations[assignment.origin]
        return f"{equation.target} = {equation.expression}"
    if variable.role == "pre":
        return f"pre-activation of {assignment.target[:-len(naming.pre(''))]}"
    if variable.role == "complement":
        return f"1 - {naming.complemented(assignment.target)} without cancellation, for the tiny derivatives of saturated gates"
    return f"{shown or assignment.target}, kept for the backward pass"


def _unused_complement(model: CellModel, name: str, derivation: Derivation) -> bool:
    if model.variables[name].role != "complement":
        return False
    symbol = sp.Symbol(name)
    return not any(symbol in line.expr.free_symbols for line in derivation.lines)


def sigmoid_pairs(model: CellModel, emitted) -> dict[str, str]:
    """Sigmoid outputs whose complement is also computed: both come from one sigmoid_pair call."""
    names = {a.target for a in emitted}
    return {naming.complemented(a.target): a.target for a in emitted
            if model.variables[a.target].role == "complement" and naming.complemented(a.target) in names}


# -- backward --------------------------------------------------------------------------
def _backward_lines(derivation: Derivation, fused: FusedPlan, rows, buffers):
    """(per-step lines, lines at the end of each step): deltas stored, each group's contribution
    computed just before the first line that needs it."""
    stored: set[str] = set()
    reaching = _groups_reaching_the_loss(derivation, fused)
    per_step = {g.part: sp.Symbol(contribution(g.part)) for g in reaching if not g.before_loop}
    product_adjoints = _product_adjoints(derivation, fused)
    incoming = {symbol.name: f'd_state["{state}"]' for state, symbol in derivation.incoming.items()}
    printer = NumpyPrinter({"names": incoming})
    lines, pending = [], {per_step[group.part].name: group for group in reaching if not group.before_loop}
    for line, expr in rewrite_backward(derivation, fused, per_step):
        for name in sorted(s.name for s in expr.free_symbols if s.name in pending):
            lines += _store_deltas(pending.pop(name), rows, product_adjoints, buffers, stored)
        lines += _line_code(line, expr, printer)
    step_end = [code for g in reaching if g.before_loop
                for code in _store_deltas(g, rows, product_adjoints, buffers, stored, contribute=False)]
    moved, bias_sums = _bias_sums_after_loop(derivation, fused, rows, buffers, stored, product_adjoints)
    return [line for line in lines if line[0] not in moved], step_end, bias_sums


def _bias_sums_after_loop(derivation: Derivation, fused: FusedPlan, rows, buffers, stored: set, product_adjoints):
    """A bias whose per-step gradient is the batch sum of a delta the loop stores anyway (b_f of
    W_f x + b_f sums d_f_pre) is summed once after the loop, from the buffer, instead of every step.

    Returns (the per-step lines this replaces, the lines after the loop)."""
    where: dict[str, tuple[str, str, str]] = {}  # a stored delta's code -> (buffer, first row, one past the last)
    for group in fused.groups:
        if buffers[group.part] in stored:
            for slab, (start, stop) in zip(group.slabs, rows[group.part]):
                if slab.product in product_adjoints:
                    where.setdefault(product_adjoints[slab.product], (buffers[group.part], start, stop))
    moved, sums, after = set(), {}, []
    for line in derivation.lines_with_role("param"):
        expr = line.expr
        if not (isinstance(expr, BatchSum) and isinstance(expr.args[0], sp.Symbol) and expr.args[0].name in where):
            continue
        buffer, start, stop = where[expr.args[0].name]
        if buffer not in sums:
            sums[buffer] = f"_db{len(sums)}"
            after.append(f"{sums[buffer]} = {buffer}.reshape(T * B, -1).sum(axis=0)  # every step's bias terms at once")
        after.append(f'grads["{line.about}"] += {sums[buffer]}[{start}:{stop}]')
        moved.add(f'grads["{line.about}"] += {NumpyPrinter().doprint(expr)}')
    return moved, after


def _line_code(line, expr, printer) -> list[tuple[str, str]]:
    if line.role == "param":
        if expr == 0:
            return []  # a weight: its gradient is one product after the loop
        return [(f'grads["{line.about}"] += {printer.doprint(expr)}', f"dL/d{line.about}, this step's term")]
    if line.role == "input":
        return [] if expr == 0 else [(f"dxs[t] = {printer.doprint(expr)}", "dL/dx(t) from element-wise uses")]
    if isinstance(expr, ZerosLike) or expr == 0:
        return [(f"{line.target} = np.zeros_like({printer.doprint(expr.args[0]) if isinstance(expr, ZerosLike) else 'd_state[OUTPUT]'})", "")]
    return [(f"{line.target} = {printer.doprint(expr)}", "")]


def _store_deltas(group: Group, rows, product_adjoints, buffers, stored: set, contribute=True) -> list[tuple[str, str]]:
    """Write this step's product adjoints into the group's buffer (once per shared buffer); then W^T d."""
    buffer = buffers[group.part]
    codes = []
    if buffer not in stored:
        stored.add(buffer)
        codes = [(f"{buffer}[t, :, {start}:{stop}] = {product_adjoints[slab.product]}", "")
                 for slab, (start, stop) in zip(group.slabs, rows[group.part]) if slab.product in product_adjoints]
    if contribute:
        codes.append((f"{contribution(group.part)} = {buffer}[t] @ {stack(group.part)}",
                      f"W^T d of every product of {group.part}, at once"))
    return codes


def _product_adjoints(derivation: Derivation, fused: FusedPlan) -> dict[int, str]:
    """Code for dL/d(W u) of each product: the sum of the d in every d u^T term of W's gradient
    (one term per assignment the product appears in)."""
    found: dict[int, list[str]] = {}
    for line in derivation.lines_with_role("param"):
        for outer in sorted(line.expr.atoms(Outer), key=sp.default_sort_key):
            adjoint, vector, _matrix = outer.args
            for index, product in enumerate(fused.products):
                if str(product.args[0]) == line.about and product.args[1] == vector:
                    found.setdefault(index, []).append(str(adjoint))
    return {index: " + ".join(terms) for index, terms in found.items()}


def _after_loop(groups: list[Group], rows, buffers) -> list[str]:
    """Weight gradients of all steps in one product per group; the input's adjoint likewise."""
    code = []
    for group in groups:
        stacked = f"{buffers[group.part]}.reshape(T * B, -1)"
        values = "xs" if group.before_loop else f'cache["parts"]["{group.part}"]'
        code.append(f"_dW = {stacked}.T @ {values}.reshape(T * B, -1)")
        for slab, (start, stop) in zip(group.slabs, rows[group.part]):
            code.append(f'grads["{slab.matrix}"][:, {_columns(slab)}] += _dW[{start}:{stop}]')
        if group.before_loop:
            code.append(f"dxs += ({stacked} @ {stack(group.part)}).reshape(T, B, -1)")
    return code


def _read_names(model: CellModel, codes: list[str], exclude) -> list[str]:
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r'"[^"]*"', "", "\n".join(codes))))
    return [v.name for v in model.variables.values()
            if v.kind.value not in ("param", "input") and v.name in words and v.name not in exclude]
