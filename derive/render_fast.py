"""Stage 5c: the view of a FusedPlan that templates/sequence_fast.py.j2 renders.

The loops are three-address code (derive/inplace.py): every array they write exists before the
first step. Values the backward pass reads are written straight into (T, B, size) arrays, states
into their (T + 1, B, size) histories, deltas into the slots of the delta buffers; the rest goes
into a few scratch arrays that every step reuses.

Names this code makes up start with an underscore (`_stack_x`, `_proj_h_prev`, `_tmp0`); no spec
name can, so they never collide with a cell's own variables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from . import naming
from .derivation import Derivation, LineRole
from .dims import Dim
from .functions import BatchSum, Elementwise, MatVec, Outer, ZerosLike
from .fused import FusedPlan, Group, plan, rewrite_backward
from .inplace import Pool, is_leaf, lower
from .model import CellModel, Kind, Role
from .printers import NumpyPrinter


# The fast code's arrays, named by naming.fast_array (its FAST_FAMILIES say what each holds).
def stack(part: str) -> str:
    return naming.fast_array("stack", part)


def stack_transposed(part: str) -> str:
    return naming.fast_array("stackT", part)


def projection(part: str) -> str:
    return naming.fast_array("proj", part)


def deltas(part: str) -> str:
    return naming.fast_array("deltas", part)


def contribution(part: str) -> str:
    return naming.fast_array("grad", part)


def history(state: str) -> str:
    return naming.fast_array("history", state)


def sequence(name: str) -> str:
    return naming.fast_array("seq", name)


def carry_in(state: str) -> str:
    return naming.fast_array("carry_in", state)


def carry_out(state: str) -> str:
    return naming.fast_array("carry_out", state)


def _size(dim: Dim) -> str:
    return str(dim).replace("*", " * ")


def _vector_size(model: CellModel, name: str) -> str:
    """Code for the length of a vector variable (the rows of a matrix)."""
    return _size(model.variables[name].shape[0])


def _buffers(fused: FusedPlan) -> dict[str, str]:
    """Group -> the delta buffer it fills; groups whose blocks come from the same products in
    the same order (x and h(t-1) of an LSTM over [x; h]) share one."""
    owner: dict[tuple, str] = {}
    return {g.part: owner.setdefault(tuple(s.product for s in g.slabs), deltas(g.part)) for g in fused.groups}


@dataclass
class StepCode:
    """One function's loop body and the arrays it allocates before the loop."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (code, comment)
    buffers: dict[str, str] = field(default_factory=dict)  # name -> shape code, in allocation order
    pool: Pool = field(default_factory=Pool)

    def buffer(self, name: str, shape: str) -> str:
        self.buffers.setdefault(name, shape)
        return name

    def emit(self, code: str, comment: str = "") -> None:
        self.lines.append((code, comment))

    def emit_lowered(self, statements: list[str], comment: str) -> None:
        """One computation: its comment on its only line, or on a line of its own above several."""
        if len(statements) > 1 and comment:
            self.emit(f"# {comment}")
            comment = ""
        for index, statement in enumerate(statements):
            self.emit(statement, comment if index == len(statements) - 1 else "")

    def allocation(self) -> list[tuple[str, str]]:
        """Every array: those named above, then the scratch arrays."""
        return list(self.buffers.items()) + list(self.pool.shapes.items())

    def drop_unread_views(self) -> None:
        """Remove `name = view` lines whose name no later line reads (a gate's complement in the
        forward loop, say: only the backward pass reads it, from the (T, B, size) array)."""
        kept, read_later = [], set()
        for code, comment in reversed(self.lines):
            view = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*) = [A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?", code)
            if view and view.group(1) not in read_later:
                continue
            kept.append((code, comment))
            read_later |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
        self.lines = kept[::-1]


def fast_view(derivation: Derivation) -> dict:
    """Everything sequence_fast.py.j2 needs."""
    fused = plan(derivation)
    model = derivation.model
    rows = {g.part: _row_ranges(model, g) for g in fused.groups}
    backward = _Backward(derivation, fused, rows)
    forward = _Forward(derivation, fused, rows, kept=backward.reads)
    return {
        "stacks": [(stack(g.part), _stack_code(g)) for g in fused.groups],
        "transposed_stacks": [(stack(g.part), _stack_code(g, transposed=True)) for g in fused.groups],
        "input_groups": [(projection(g.part), stack_transposed(g.part)) for g in fused.groups if g.before_loop],
        "folded": _folding_code(model, fused, rows),
        "forward_buffers": forward.code.allocation(),
        "forward_names": _unpacked(forward.code.allocation()),
        "histories": [(s, history(s)) for s in model.spec.states],
        "forward_start": forward.start,
        "forward": forward.code.lines,
        "step_values": [(name, forward.values[name]) for name in backward.reads],
        "parts": [(g.part, forward.values[g.part]) for g in fused.groups if not g.before_loop],
        "backward_buffers": backward.code.allocation(),
        "backward_names": _unpacked(backward.code.allocation()),
        "zeroed": backward.zeroed,
        "backward_params": [p.name for p in model.spec.params
                            if re.search(rf"\b{p.name}\b", "\n".join(c for c, _ in backward.code.lines))],
        "read_values": [(name, sequence(name)) for name in backward.reads],
        "backward": backward.code.lines,
        "after_loop": backward.after_loop,
        "carries": [(s, carry_in(s), carry_out(s)) for s in model.spec.states],
        "dxs": backward.dxs,
    }


def _unpacked(buffers: list[tuple[str, str]]) -> str:
    """The left side of `a, b = buffers(...)`: `a,` for one."""
    return ", ".join(name for name, _ in buffers) + ("," if len(buffers) == 1 else "")


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
    """The group's blocks stacked by rows, or (transposed) their transposes side by side, copied into
    its array: one copy either way, where np.ascontiguousarray(stack.T) would be a second and slower one."""
    blocks = ", ".join(f"{s.matrix}[:, {_columns(s)}]{'.T' if transposed else ''}" for s in group.slabs)
    out = stack_transposed(group.part) if transposed else stack(group.part)
    return f"np.concatenate(({blocks}{',' if len(group.slabs) == 1 else ''}), axis={1 if transposed else 0}, out={out})"


# -- forward ---------------------------------------------------------------------------
def _folding_code(model: CellModel, fused: FusedPlan, rows) -> list[str]:
    """Bias vectors added to the input's projection once, for all steps: the biases side by side in
    one addition when every block has one, else one addition per block."""
    folded = {product: bias for product, bias in folded_biases(model, fused).values()}
    code = []
    for group in (g for g in fused.groups if g.before_loop):
        biases = [folded.get(slab.product) for slab in group.slabs]
        if len(biases) > 1 and all(biases):
            code.append(f"{projection(group.part)} += np.concatenate(({', '.join(biases)}))")
            continue
        code += [f"{projection(group.part)}[:, :, {start}:{stop}] += {bias}"
                 for bias, (start, stop) in zip(biases, rows[group.part]) if bias]
    return code


def summed(part: str) -> str:
    return naming.fast_array("sum", part)


def _summable(model: CellModel, fused: FusedPlan) -> dict[str, list[Group]]:
    """Groups known at the start of a step whose blocks come from the same products in the same
    order (x and h(t-1) of an LSTM over [x; h]): their projections are added once per step."""
    by_products: dict[tuple, list[Group]] = {}
    for group in fused.groups:
        if group.before_loop or model.variables[group.part].kind == Kind.PREVIOUS:
            by_products.setdefault(tuple(s.product for s in group.slabs), []).append(group)
    return {groups[-1].part: groups for groups in by_products.values() if len(groups) > 1 and not all(g.before_loop for g in groups)}


def _sum_array(groups: list[Group]) -> str:
    """Where a step's sum of these groups' projections lives: in the input's projection of the step,
    added to in place (nothing else reads it), or in an array of its own."""
    inputs = [g for g in groups if g.before_loop]
    return f"{projection(inputs[0].part)}[t]" if inputs else summed(groups[-1].part)


class _Forward:
    """The forward loop: each assignment written in place into the array that keeps it."""

    def __init__(self, derivation: Derivation, fused: FusedPlan, rows, kept: list[str]):
        self.model = model = derivation.model
        self.fused = fused
        self.code = StepCode()
        self.sums = _summable(model, fused)
        self.printer = NumpyPrinter({"names": {naming.fast_numbered("mv", k): _product_code(fused, k, self.sums, model)
                                               for k in range(len(fused.products))}})
        self.stand_ins = {product: sp.Symbol(naming.fast_numbered("mv", k)) for k, product in enumerate(fused.products)}
        self.folded = folded_biases(model, fused)
        self.kept = set(kept) | {g.part for g in fused.groups if not g.before_loop}  # every step's value is kept
        self.values = {model.names.prev(s): f"{history(s)}[:-1]" for s in model.spec.states}  # name -> (T, B, size) code
        self.values[model.spec.input] = "xs"
        self.values.update(_all_steps_blocks(fused, self.sums, model))
        self.scratch: dict[str, str] = {}  # a value kept only within the step -> its scratch array
        for group in fused.groups:  # the stacked weights: (rows, size of the part), and transposed
            rows, size = _size(_total_rows(model, group)), self._size(group.part)
            self.code.buffer(stack(group.part), f"({rows}, {size})")
            self.code.buffer(stack_transposed(group.part), f"({size}, {rows})")
        for group in (g for g in fused.groups if g.before_loop):  # the input's products of every step
            self.code.buffer(projection(group.part), f"(T, B, {_size(_total_rows(model, group))})")
        self._write(derivation)
        self.code.drop_unread_views()
        self.start = self._step_views()

    def _write(self, derivation: Derivation) -> None:
        model, fused = self.model, self.fused
        known_at_start = (Kind.INPUT, Kind.PREVIOUS)  # other vectors are projected right after they are computed
        for group in fused.groups:
            if not group.before_loop and model.variables[group.part].kind in known_at_start:
                self._project(group)
        for last, groups in self.sums.items():
            self._sum(last, groups)
        emitted = [a for a in model.assignments
                   if a.target not in fused.fused_concats and not _unused_complement(model, a.target, derivation)]
        paired = sigmoid_pairs(model, emitted)
        runs = _activation_runs(derivation, fused, self.sums, emitted, paired)
        order = [a.target for a in emitted]
        leaders = {min((m.gate for m in run), key=order.index): index for index, run in enumerate(runs)}
        in_runs = {m.gate for run in runs for m in run} | {m.pre for run in runs for m in run if not m.pre_read}
        exprs = {a.target: self._expr(a) for a in emitted}
        last_use = {symbol.name: index for index, a in enumerate(emitted) for symbol in exprs[a.target].free_symbols}
        for index, assignment in enumerate(emitted):
            target = assignment.target
            if target in paired.values():
                continue  # computed with its sigmoid
            if target in leaders:  # a run is computed where its first gate would be
                run = runs[leaders[target]]
                self._run(leaders[target], run, paired)
                done = {m.gate for m in run} | {paired.get(m.gate) for m in run}
            elif target in in_runs:
                continue  # a gate computed with its run, or a pre-activation only its run read
            elif target in paired:
                self._pair(assignment, exprs[target], paired[target])
                done = {target, paired[target]}
            else:
                self._assign(assignment, exprs[target])
                done = {target}
            for group in fused.groups:
                if group.part in done:
                    self._project(group)
            for name in [name for name in self.scratch if last_use.get(name, index) <= index]:
                array = self.scratch.pop(name)
                if array not in self.scratch.values():  # no other name still holds it
                    self.code.pool.give(array)

    def _expr(self, assignment) -> sp.Expr:
        """The assignment as the loop computes it: products read from the projections, function values
        from the variables that hold them, a bias already in the input's projection left out."""
        model = self.model
        if model.variables[assignment.target].role == Role.LIFTED:
            expr = assignment.expr
        else:
            expr = assignment.expr.xreplace(model.cached_values())
        expr = expr.xreplace(self.stand_ins)
        if assignment.target in self.folded:
            expr = expr - sp.Symbol(self.folded[assignment.target][1])
        return expr

    def _size(self, name: str) -> str:
        return _vector_size(self.model, name)

    def _destination(self, target: str) -> str:
        """Bind target to the array that receives it: its history (a state), its (T, B, size) array
        (a value kept for the backward pass), or a scratch array."""
        if target in self.model.spec.states:
            self.code.buffer(history(target), f"(T + 1, B, {self._size(target)})")
            self.code.emit(f"{target} = {history(target)}[t + 1]")
            self.values[target] = f"{history(target)}[1:]"
        elif target in self.kept:
            self.code.buffer(sequence(target), f"(T, B, {self._size(target)})")
            self.code.emit(f"{target} = {sequence(target)}[t]")
            self.values[target] = sequence(target)
        else:
            self.scratch[target] = self.code.pool.take(f"(B, {self._size(target)})")
            self.code.emit(f"{target} = {self.scratch[target]}")
        return target

    def _assign(self, assignment, expr: sp.Expr) -> None:
        target = assignment.target
        comment = forward_comment(self.model, assignment)
        if is_leaf(expr) and target not in self.model.spec.states:
            all_steps = self.values.get(str(expr)) if isinstance(expr, sp.Symbol) else None
            if target not in self.kept or all_steps:  # a view: nothing to copy
                self.code.emit(f"{target} = {self.printer.doprint(expr)}", comment)
                if all_steps:
                    self.values[target] = all_steps
                if str(expr) in self.scratch:  # another name for a scratch array: it holds it too
                    self.scratch[target] = self.scratch[str(expr)]
                return
        out = self._destination(target)
        self.code.emit_lowered(lower(expr, out, self.printer, self.code.pool, self._size(target)), comment)

    def _pair(self, assignment, expr: Elementwise, complement: str) -> None:
        """A sigmoid and its complement from one sigmoid_pair_into; the argument built in the complement's array."""
        target = assignment.target
        argument = expr.args[0]
        out, out_complement = self._destination(target), self._destination(complement)
        if is_leaf(argument):
            z = self.printer.doprint(argument)
        else:
            z = out_complement
            self.code.emit_lowered(lower(argument, z, self.printer, self.code.pool, self._size(target)), "")
        self.code.emit(f"sigmoid_pair_into({z}, {out}, {out_complement})", forward_comment(self.model, assignment))

    def _run(self, index: int, run: tuple[RunMember, ...], paired: dict[str, str]) -> None:
        """One activation call over the run's block, then each gate (and complement) as a view of it."""
        model = self.model
        first, last = run[0].blocks, run[-1].blocks
        blocks = [_block_code(array, start, stop) for (array, start, _), (_, _, stop) in zip(first, last)]
        start = first[0][1]
        name = naming.fast_numbered("act", index)
        self.code.buffer(name, f"(T, B, {_size(last[0][2] - start)})")
        gates = ", ".join(m.gate for m in run)
        pair = run[0].gate in paired
        if pair:
            self.code.buffer(f"{name}_complement", f"(T, B, {_size(last[0][2] - start)})")
        z = blocks[0]
        if len(blocks) > 1:  # the blocks of several projections: added in the output array
            z = f"{name}_complement[t]" if pair else f"{name}[t]"
            self.code.emit(f"np.add({blocks[0]}, {blocks[1]}, out={z})")
            for block in blocks[2:]:
                self.code.emit(f"np.add({z}, {block}, out={z})")
        if pair:
            self.code.emit(f"sigmoid_pair_into({z}, {name}[t], {name}_complement[t])", f"{gates} at once, and their complements")
        else:
            function = type(next(a.expr for a in model.assignments if a.target == run[0].gate))
            self.code.emit(function.into.format(z, f"{name}[t]"), f"{gates} at once")
        assigned = {a.target: a for a in model.assignments}
        for member in run:
            _, begin, end = member.blocks[0]
            views = [(member.gate, name)] + ([(paired[member.gate], f"{name}_complement")] if pair else [])
            for variable, array in views:
                first_row, last_row = _slice_ends(begin - start, end - start)
                comment = forward_comment(model, assigned[member.gate]) if variable == member.gate else ""
                self.code.emit(f"{variable} = {array}[t, :, {first_row}:{last_row}]", comment)
                self.values[variable] = f"{array}[:, :, {first_row}:{last_row}]"

    def _project(self, group: Group) -> None:
        rows = _total_rows(self.model, group)
        out = self.code.buffer(projection(group.part), f"(B, {_size(rows)})")
        self.code.emit(f"np.matmul({group.part}, {stack_transposed(group.part)}, out={out})", f"every product of {group.part}, at once")

    def _sum(self, last: str, groups: list[Group]) -> None:
        arrays = [f"{projection(g.part)}[t]" if g.before_loop else projection(g.part) for g in groups]
        out = _sum_array(groups)
        if out in arrays:
            arrays.remove(out)
        else:
            self.code.buffer(out, f"(B, {_size(_total_rows(self.model, groups[0]))})")
            self.code.emit(f"np.add({arrays.pop(0)}, {arrays.pop(0)}, out={out})", "the groups' products added once for all gates")
        for array in arrays:
            self.code.emit(f"np.add({out}, {array}, out={out})", "the groups' products added once for all gates, in place")

    def _step_views(self) -> list[str]:
        """The step's input and previous states, as views, where the loop reads them."""
        code = "\n".join(line for line, _ in self.code.lines)
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
        views = [f"{self.model.spec.input} = xs[t]"] if self.model.spec.input in words else []
        previous = [self.model.names.prev(s) for s in self.model.spec.states]
        return views + [f"{name} = {history(s)}[t]" for s, name in zip(self.model.spec.states, previous) if name in words]


def _all_steps_blocks(fused: FusedPlan, sums, model: CellModel) -> dict[str, str]:
    """Product stand-ins that are one block of a (T, B, rows) array: that block for all steps."""
    views = {}
    for index in range(len(fused.products)):
        blocks = _product_blocks(fused, index, sums, model)
        if len(blocks) == 1 and blocks[0][0].endswith("[t]"):
            array, start, stop = blocks[0]
            first, last = _slice_ends(start, stop)
            views[naming.fast_numbered("mv", index)] = f"{array[:-3]}[:, :, {first}:{last}]"
    return views


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
        if pre not in assigned or model.variables[pre].role != Role.PRE:
            continue
        expr = assigned[pre].expr - (sp.Symbol(folded[pre][1]) if pre in folded else 0)
        terms = expr.args if isinstance(expr, sp.Add) else (expr,)
        if not all(isinstance(term, MatVec) and term in fused.products for term in terms):
            continue  # a bias or an element-wise term that is not in the projections
        where = sorted({block for term in terms for block in _product_blocks(fused, fused.products.index(term), sums, model)})
        others = {gate.target, model.names.existing("complement", gate.target)}  # the gate's complement reads the pre too
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
                array = _sum_array(sums[in_sum[group.part]])
            else:
                array = f"{projection(group.part)}[t]" if group.before_loop else projection(group.part)
            if (array, start, stop) not in blocks:
                blocks.append((array, start, stop))
    return blocks


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
    if variable.role == Role.EQUATION:
        equation = model.spec.equations[assignment.origin]
        return f"{equation.target} = {equation.expression}"
    if variable.role == Role.PRE:
        return f"pre-activation of {variable.of}"
    if variable.role == Role.COMPLEMENT:
        return f"1 - {variable.of} without cancellation, for the tiny derivatives of saturated gates"
    return f"{shown or assignment.target}, kept for the backward pass"


def _unused_complement(model: CellModel, name: str, derivation: Derivation) -> bool:
    if model.variables[name].role != Role.COMPLEMENT:
        return False
    symbol = sp.Symbol(name)
    return not any(symbol in line.expr.free_symbols for line in derivation.lines)


def sigmoid_pairs(model: CellModel, emitted) -> dict[str, str]:
    """Sigmoid outputs whose complement is also computed: both come from one sigmoid_pair call."""
    names = {a.target for a in emitted}
    return {model.variables[a.target].of: a.target for a in emitted
            if model.variables[a.target].role == Role.COMPLEMENT and model.variables[a.target].of in names}


# -- backward --------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """Where one product's adjoint is stored at step t: a block of a delta buffer."""

    buffer: str
    start: str
    stop: str
    size: str  # stop - start: the rows of the product's matrix
    adjoints: tuple[str, ...]  # the adjoint lines it adds up (one for a product in one assignment)

    @property
    def code(self) -> str:
        return f"{self.buffer}[t, :, {self.start}:{self.stop}]"


class _Backward:
    """The backward loop: each adjoint line written in place, deltas straight into their slots."""

    def __init__(self, derivation: Derivation, fused: FusedPlan, rows):
        self.model = model = derivation.model
        self.code = StepCode()
        owners = _buffers(fused)
        reaching = _groups_reaching_the_loss(derivation, fused)
        per_step = {g.part: sp.Symbol(contribution(g.part)) for g in reaching if not g.before_loop}
        slots = _slots(model, reaching, rows, owners, _product_adjoints(derivation, fused))
        moved, bias_sums = _bias_sums_after_loop(derivation, slots)
        lines = [(line, expr) for line, expr in rewrite_backward(derivation, fused, per_step)
                 if not (line.role == LineRole.PARAM and line.about in moved)]
        filled_by = {owners[g.part]: g for g in reversed(reaching)}  # delta buffer -> the first group filling it
        for buffer in slots:
            self.code.buffer(buffer, f"(T, B, {_size(_total_rows(model, filled_by[buffer]))})")
        # a block whose product does not reach the loss is never written: it must stay 0
        self.zeroed = [buffer for buffer in slots if len(slots[buffer]) < len(filled_by[buffer].slabs)]
        self.printer = NumpyPrinter({"names": {s.name: carry_in(state) for state, s in derivation.incoming.items()}})
        self.in_slot = _own_slots(slots)  # adjoint -> the slot it is computed in
        for state in model.spec.states:
            self.code.buffer(carry_in(state), f"(B, {self._size(state)})")
            self.code.buffer(carry_out(state), f"(B, {self._size(state)})")
        self.owner: dict[str, str] = {}  # name -> the scratch array holding it
        self.dxs_in_loop = False
        self._write(lines, slots, per_step, reaching, owners)
        words = self._words()
        self.reads = [v.name for v in model.variables.values() if v.kind != Kind.PARAM and v.name in words]
        self.code.buffer("dxs", "(T, B, D)")
        self.after_loop = _after_loop(model, reaching, rows, owners, self.dxs_in_loop, self.code) + bias_sums
        self.dxs = "zeros" if self.dxs_in_loop or not any(g.before_loop for g in reaching) else "product"

    def _words(self) -> set[str]:
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(code for code, _ in self.code.lines)))

    def _write(self, lines, slots, per_step, reaching, owners) -> None:
        model = self.model
        output = model.spec.output
        self.code.emit(f"np.add({carry_in(output)}, d_outputs[t], out={carry_in(output)})",
                       f"dL/d{output}(t): from step t+1 and from the loss at t")
        readers = {part: [i for i, (_, expr) in enumerate(lines) if symbol in expr.free_symbols] for part, symbol in per_step.items()}
        store_at = {}  # delta buffer -> the line before which its slots must all be filled
        for group in reaching:
            at = readers[group.part][0] if group.part in per_step and readers[group.part] else len(lines)
            store_at[owners[group.part]] = min(at, store_at.get(owners[group.part], len(lines)))
        last_use = {s.name: i for i, (_, expr) in enumerate(lines) for s in expr.free_symbols}
        for buffer, at in store_at.items():
            for slot in slots[buffer]:
                if self.in_slot.get(slot.adjoints[0]) != slot or len(slot.adjoints) > 1:
                    last_use.update({name: max(last_use.get(name, -1), at) for name in slot.adjoints})
        computed = set()  # lines already done by the product that feeds them
        for index in range(len(lines) + 1):
            for buffer in [b for b, at in store_at.items() if at == index]:
                self._fill(slots[buffer])
            for group in reaching:
                if group.part in per_step and readers[group.part] and readers[group.part][0] == index:
                    computed |= self._contribute(group, owners[group.part], per_step[group.part], lines, readers[group.part])
            if index == len(lines):
                break
            if index not in computed:
                self._line(*lines[index])
            for name in [name for name in self.owner if last_use.get(name, index) <= index]:
                self._release(name)

    def _fill(self, slots: list[Slot]) -> None:
        """Slots that no adjoint line was written into: a sum of adjoints, or a second copy."""
        for slot in slots:
            if len(slot.adjoints) == 1 and self.in_slot.get(slot.adjoints[0]) == slot:
                continue
            expr = sp.Add(*(sp.Symbol(name) for name in slot.adjoints))
            size = slot.size
            self.code.emit_lowered(lower(expr, slot.code, self.printer, self.code.pool, size), "")

    def _contribute(self, group: Group, buffer: str, symbol: sp.Symbol, lines, readers: list[int]) -> set[int]:
        """W^T d of the group's products, at once; straight into the array of the line that only copies it."""
        line, expr = lines[readers[0]]
        direct = len(readers) == 1 and expr == symbol and line.role not in (LineRole.PARAM, LineRole.INPUT)
        size = self._size(group.part)
        out = self._destination(line, size) if direct else self._scratch(symbol.name, size)
        self.code.emit(f"np.matmul({buffer}[t], {stack(group.part)}, out={out})", f"W^T d of every product of {group.part}, at once")
        return {readers[0]} if direct else set()

    def _size(self, name: str) -> str:
        return _vector_size(self.model, name)

    def _line_size(self, line) -> str:
        """The size of a line's value: its variable's; for the adjoint of a product W v, which has
        no variable (derivation names it "W v"), the rows of W."""
        about = line.about.matrix if line.role == LineRole.PRODUCT else line.about
        return self._size(about)

    def _scratch(self, name: str, size: str) -> str:
        self.owner[name] = self.code.pool.take(f"(B, {size})")
        self.code.emit(f"{name} = {self.owner[name]}")
        return name

    def _release(self, name: str) -> None:
        array = self.owner.pop(name)
        if array not in self.owner.values():  # no alias still holds it
            self.code.pool.give(array)

    def _destination(self, line, size: str) -> str:
        """Bind the line's target to its array: the carry to step t-1, its slot, or a scratch array."""
        target = line.target.name
        if line.role == LineRole.CARRY:
            array = self.code.buffer(carry_out(line.about), f"(B, {size})")
        elif target in self.in_slot:
            array = self.in_slot[target].code
        else:
            return self._scratch(target, size)
        self.code.emit(f"{target} = {array}")
        return target

    def _line(self, line, expr) -> None:
        comment = f"{line.target.name} = {self.printer.doprint(expr)}"
        if line.role == LineRole.PARAM:
            if expr != 0:
                self._parameter_term(line, expr)
            return
        if line.role == LineRole.INPUT:
            if expr != 0:
                self.dxs_in_loop = True
                self.code.emit_lowered(lower(expr, "dxs[t]", self.printer, self.code.pool, self._line_size(line)),
                                       "dL/dx(t) from element-wise uses")
            return
        if is_leaf(expr) and expr.free_symbols and line.role != LineRole.CARRY and line.target.name not in self.in_slot:
            source = self.printer.doprint(expr)
            self.code.emit(f"{line.target.name} = {source}", "")  # another name for the same array
            if str(expr) in self.owner:
                self.owner[line.target.name] = self.owner[str(expr)]
            return
        size = self._line_size(line)
        out = self._destination(line, size)
        if expr == 0 or isinstance(expr, ZerosLike):
            self.code.emit(f"{out}.fill(0)", "")
            return
        self.code.emit_lowered(lower(expr, out, self.printer, self.code.pool, size), comment)

    def _parameter_term(self, line, expr) -> None:
        size = self._size(line.about)
        term = self.code.pool.take(f"({size},)")
        self.code.emit_lowered(lower(expr, term, self.printer, self.code.pool, size, batched=False), "")
        self.code.emit(f'np.add(grads["{line.about}"], {term}, out=grads["{line.about}"])', f"dL/d{line.about}, this step's term")
        self.code.pool.give(term)


def _slots(model: CellModel, reaching: list[Group], rows, owners, adjoints: dict[int, list[str]]) -> dict[str, list[Slot]]:
    """Delta buffer -> the slots of its products that reach the loss."""
    slots: dict[str, list[Slot]] = {}
    for group in reaching:
        buffer = owners[group.part]
        if buffer in slots:
            continue  # groups sharing a buffer have the same products in the same rows
        slots[buffer] = [Slot(buffer, start, stop, _vector_size(model, slab.matrix), tuple(adjoints[slab.product]))
                         for slab, (start, stop) in zip(group.slabs, rows[group.part]) if slab.product in adjoints]
    return slots


def _own_slots(slots: dict[str, list[Slot]]) -> dict[str, Slot]:
    """Adjoint -> the slot its line writes into: the first that holds exactly that adjoint."""
    own: dict[str, Slot] = {}
    for buffer_slots in slots.values():
        for slot in buffer_slots:
            if len(slot.adjoints) == 1:
                own.setdefault(slot.adjoints[0], slot)
    return own


def _bias_sums_after_loop(derivation: Derivation, slots: dict[str, list[Slot]]):
    """A bias whose per-step gradient is the batch sum of a delta the loop stores anyway (b_f of
    W_f x + b_f sums d_f_pre) is summed once after the loop, from the buffer, instead of every step.

    Returns (the parameters this moves, the lines after the loop)."""
    where = _own_slots(slots)
    moved, sums, after = set(), {}, []
    for line in derivation.lines_with_role(LineRole.PARAM):
        expr = line.expr
        if not (isinstance(expr, BatchSum) and isinstance(expr.args[0], sp.Symbol) and expr.args[0].name in where):
            continue
        slot = where[expr.args[0].name]
        if slot.buffer not in sums:
            sums[slot.buffer] = naming.fast_numbered("db", len(sums))
            after.append(f"{sums[slot.buffer]} = {slot.buffer}.reshape(T * B, -1).sum(axis=0)  # every step's bias terms at once")
        after.append(f'grads["{line.about}"] += {sums[slot.buffer]}[{slot.start}:{slot.stop}]')
        moved.add(line.about)
    return moved, after


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


def weight_gradients(part: str) -> str:
    return naming.fast_array("dW", part)


def _after_loop(model: CellModel, groups: list[Group], rows, owners, dxs_in_loop: bool, code: StepCode) -> list[str]:
    """Weight gradients of all steps in one product per group; the input's adjoint likewise."""
    lines = []
    for group in groups:
        stacked = f"{owners[group.part]}.reshape(T * B, -1)"
        values = "xs" if group.before_loop else f'parts["{group.part}"]'
        out = code.buffer(weight_gradients(group.part), f"({_size(_total_rows(model, group))}, {_vector_size(model, group.part)})")
        lines.append(f"np.matmul({stacked}.T, {values}.reshape(T * B, -1), out={out})")
        for slab, (start, stop) in zip(group.slabs, rows[group.part]):
            lines.append(f'grads["{slab.matrix}"][:, {_columns(slab)}] += {out}[{start}:{stop}]')
        if group.before_loop and dxs_in_loop:
            lines.append(f"dxs += ({stacked} @ {stack(group.part)}).reshape(T, B, -1)")
        elif group.before_loop:
            lines.append(f"np.matmul({stacked}, {stack(group.part)}, out=dxs.reshape(T * B, -1))")
    return lines
