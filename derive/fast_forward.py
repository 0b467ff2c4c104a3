"""The fast forward loop: each assignment written in place into the array that keeps it.

Values the backward pass reads are written straight into (T, B, size) arrays, states into their
(T + 1, B, size) histories; the rest goes into a few scratch arrays that every step reuses. The
layout (projections, runs, folded biases) comes from the plan (fast_plan.py); this module only
writes the statements, three-address code from derive/inplace.py.
"""
from __future__ import annotations

import sympy as sp

from . import naming
from .fast_plan import FastPlan, RunMember, slice_ends, sum_array
from .forward_code import comment_names, forward_comment
from .functions import Elementwise, read_names
from .inplace import is_leaf, lower
from .model import Assignment, CellModel, Kind, Role
from .printers import NumpyPrinter
from .stepcode import StepCode


class ForwardLoop:
    """The forward loop's statements, its arrays, and each kept value's (T, B, size) code (values)."""

    def __init__(self, model: CellModel, plan: FastPlan, kept: list[str]):
        self.model, self.plan = model, plan
        self.code = StepCode()
        stand_ins = [naming.fast_numbered("mv", k) for k in range(len(plan.fused.products))]
        self.printer = NumpyPrinter({"names": {name: _product_code(blocks) for name, blocks in zip(stand_ins, plan.blocks)},
                                     "views": True})
        self.stand_ins = {product: sp.Symbol(name) for product, name in zip(plan.fused.products, stand_ins)}
        self.kept = set(kept) | {g.part for g in plan.fused.groups if not g.before_loop}  # every step's value is kept
        self.values = {model.names.prev(s): f"{naming.history(s)}[:-1]" for s in model.spec.states}  # name -> (T, B, size)
        self.values[model.spec.input] = "xs"
        self.values.update({name: blocks[0].all_steps() for name, blocks in zip(stand_ins, plan.blocks)
                            if len(blocks) == 1 and blocks[0].every_step})
        self.scratch: dict[str, str] = {}  # a value kept only within the step -> its scratch array
        self._allocate_stacks()
        self._write()
        self.code.drop_unread_views()
        self.start = self._step_views()

    def _allocate_stacks(self) -> None:
        for group in self.plan.fused.groups:  # the stacked weights: (rows, size of the part), and transposed
            rows, size = self.plan.totals[group.part].code, self._size(group.part)
            self.code.buffer(naming.stack(group.part), f"({rows}, {size})")
            self.code.buffer(naming.stack_transposed(group.part), f"({size}, {rows})")
        for group in (g for g in self.plan.fused.groups if g.before_loop):  # the input's products of every step
            self.code.buffer(naming.projection(group.part), f"(T, B, {self.plan.totals[group.part].code})")

    def _write(self) -> None:
        plan = self.plan
        known_at_start = (Kind.INPUT, Kind.PREVIOUS)  # other vectors are projected right after they are computed
        for group in plan.fused.groups:
            if not group.before_loop and self.model.variables[group.part].kind in known_at_start:
                self._project(group)
        for groups in plan.sums.values():
            self._sum(groups)
        exprs = {a.target: self._expr(a) for a in plan.emitted}
        last_use = {symbol.name: index for index, a in enumerate(plan.emitted) for symbol in exprs[a.target].free_symbols}
        for index, assignment in enumerate(plan.emitted):
            done = self._assignment(assignment, exprs[assignment.target])
            if done is None:
                continue  # written with its sigmoid or its run: scratch arrays are given back after those
            for group in plan.fused.groups:
                if group.part in done:
                    self._project(group)
            for name in [name for name in self.scratch if last_use.get(name, index) <= index]:
                array = self.scratch.pop(name)
                if array not in self.scratch.values():  # no other name still holds it
                    self.code.pool.give(array)

    def _assignment(self, assignment: Assignment, expr: sp.Expr) -> set[str] | None:
        """Write one assignment (or the run it leads): the names it computed, None if it is computed elsewhere."""
        plan, target = self.plan, assignment.target
        order = [a.target for a in plan.emitted]
        leaders = {min((m.gate for m in run), key=order.index): index for index, run in enumerate(plan.runs)}
        in_runs = {m.gate for run in plan.runs for m in run} | {m.pre for run in plan.runs for m in run if not m.pre_read}
        if target in plan.paired.values():
            return None  # computed with its sigmoid
        if target in leaders:  # a run is computed where its first gate would be
            run = plan.runs[leaders[target]]
            self._run(leaders[target], run)
            return {m.gate for m in run} | {plan.paired.get(m.gate) for m in run}
        if target in in_runs:
            return None  # a gate computed with its run, or a pre-activation only its run read
        if target in plan.paired:
            self._pair(assignment, expr, plan.paired[target])
            return {target, plan.paired[target]}
        self._assign(assignment, expr)
        return {target}

    def _expr(self, assignment: Assignment) -> sp.Expr:
        """The assignment as the loop computes it: products read from the projections, function values
        from the variables that hold them, a bias already in the input's projection left out."""
        model = self.model
        if model.variables[assignment.target].role == Role.LIFTED:
            expr = assignment.expr
        else:
            expr = assignment.expr.xreplace(model.cached_values)
        expr = expr.xreplace(self.stand_ins)
        if assignment.target in self.plan.folded:
            expr = expr - sp.Symbol(self.plan.folded[assignment.target][1])
        return expr

    def _size(self, name: str) -> str:
        return self.model.variables[name].shape[0].code

    def _destination(self, target: str) -> str:
        """Bind target to the array that receives it: its history (a state), its (T, B, size) array
        (a value kept for the backward pass), or a scratch array."""
        if target in self.model.spec.states:
            history = self.code.buffer(naming.history(target), f"(T + 1, B, {self._size(target)})")
            self.code.view(target, f"{history}[t + 1]", uses={history})
            self.values[target] = f"{history}[1:]"
        elif target in self.kept:
            sequence = self.code.buffer(naming.sequence(target), f"(T, B, {self._size(target)})")
            self.code.view(target, f"{sequence}[t]", uses={sequence})
            self.values[target] = sequence
        else:
            self.scratch[target] = self.code.pool.take(f"(B, {self._size(target)})")
            self.code.view(target, self.scratch[target], uses={self.scratch[target]})
        return target

    def _assign(self, assignment: Assignment, expr: sp.Expr) -> None:
        target = assignment.target
        comment = forward_comment(self.model, assignment)
        if is_leaf(expr) and target not in self.model.spec.states:
            all_steps = self.values.get(str(expr)) if isinstance(expr, sp.Symbol) else None
            if target not in self.kept or all_steps:  # a view: nothing to copy
                self._alias(target, expr, comment)
                if all_steps:
                    self.values[target] = all_steps
                if str(expr) in self.scratch:  # another name for a scratch array: it holds it too
                    self.scratch[target] = self.scratch[str(expr)]
                return
        out = self._destination(target)
        self.code.emit_lowered(lower(expr, out, self.printer, self.code.pool, self._size(target)), comment,
                               read_names(expr) | {out}, comment_names(self.model, assignment))

    def _alias(self, target: str, expr: sp.Expr, comment: str) -> None:
        """target = a value already held: a view of its array, unless it is a sum of projection blocks
        or a number (those are computed)."""
        source = self.printer.doprint(expr)
        stand_in = {symbol.name: k for k, symbol in enumerate(self.stand_ins.values())}.get(str(expr))
        computed = isinstance(expr, sp.Number) or stand_in is not None and len(self.plan.blocks[stand_in]) > 1
        if computed:
            self.code.emit(f"{target} = {source}", comment, {target} | read_names(expr))
        else:
            self.code.view(target, source, comment, read_names(expr))

    def _pair(self, assignment: Assignment, expr: Elementwise, complement: str) -> None:
        """A sigmoid and its complement from one sigmoid_pair_into; the argument built in the complement's array."""
        target = assignment.target
        argument = expr.args[0]
        out, out_complement = self._destination(target), self._destination(complement)
        if is_leaf(argument):
            z = self.printer.doprint(argument)
        else:
            z = out_complement
            self.code.emit_lowered(lower(argument, z, self.printer, self.code.pool, self._size(target)), "",
                                   read_names(argument) | {z})
        self.code.emit(f"sigmoid_pair_into({z}, {out}, {out_complement})", forward_comment(self.model, assignment),
                       read_names(argument) | {z, out, out_complement})

    def _run(self, index: int, run: tuple[RunMember, ...]) -> None:
        """One activation call over the run's block, then each gate (and complement) as a view of it."""
        first, last = run[0].blocks, run[-1].blocks
        blocks = [block.at_step(block.start, end.stop) for block, end in zip(first, last)]
        start, rows = first[0].start, (last[0].stop - first[0].start).code
        name, complement = naming.activation_block(index)
        self.code.buffer(name, f"(T, B, {rows})")
        pair = run[0].gate in self.plan.paired
        if pair:
            self.code.buffer(complement, f"(T, B, {rows})")
        z = blocks[0]
        if len(blocks) > 1:  # the blocks of several projections: added in the output array
            z = f"{complement}[t]" if pair else f"{name}[t]"
            self.code.emit(f"np.add({blocks[0]}, {blocks[1]}, out={z})", uses={name, complement})
            for block in blocks[2:]:
                self.code.emit(f"np.add({z}, {block}, out={z})", uses={name, complement})
        gates = ", ".join(m.gate for m in run)
        if pair:
            self.code.emit(f"sigmoid_pair_into({z}, {name}[t], {complement}[t])", f"{gates} at once, and their complements",
                           {name, complement})
        else:
            function = type(next(a.expr for a in self.model.assignments if a.target == run[0].gate))
            self.code.emit(function.into.format(z, f"{name}[t]"), f"{gates} at once", {name})
        for member in run:
            self._run_views(member, start, name, complement if pair else "")

    def _run_views(self, member: RunMember, start, name: str, complement: str) -> None:
        """The gate (and its complement) as views of the run's arrays, at step t and for every step."""
        block = member.blocks[0]
        views = [(member.gate, name)] + ([(self.plan.paired[member.gate], complement)] if complement else [])
        assigned = next(a for a in self.model.assignments if a.target == member.gate)
        for variable, array in views:
            first_row, last_row = slice_ends(block.start - start, block.stop - start)
            comment = forward_comment(self.model, assigned) if variable == member.gate else ""
            self.code.view(variable, f"{array}[t, :, {first_row}:{last_row}]", comment, {array})
            self.values[variable] = f"{array}[:, :, {first_row}:{last_row}]"

    def _project(self, group) -> None:
        out = self.code.buffer(naming.projection(group.part), f"(B, {self.plan.totals[group.part].code})")
        stack = naming.stack_transposed(group.part)
        self.code.emit(f"np.matmul({group.part}, {stack}, out={out})", f"every product of {group.part}, at once",
                       {group.part, stack, out})

    def _sum(self, groups) -> None:
        arrays = [f"{naming.projection(g.part)}[t]" if g.before_loop else naming.projection(g.part) for g in groups]
        array, every_step = sum_array(groups)
        out = f"{array}[t]" if every_step else array
        names = {naming.projection(g.part) for g in groups} | {array}
        if out in arrays:
            arrays.remove(out)
        else:
            self.code.buffer(out, f"(B, {self.plan.totals[groups[0].part].code})")
            self.code.emit(f"np.add({arrays.pop(0)}, {arrays.pop(0)}, out={out})", "the groups' products added once for all gates",
                           names)
        for other in arrays:
            self.code.emit(f"np.add({out}, {other}, out={out})", "the groups' products added once for all gates, in place", names)

    def _step_views(self) -> list[str]:
        """The step's input and previous states, as views, where the loop reads them."""
        used = self.code.used()
        spec = self.model.spec
        views = [f"{spec.input} = xs[t]"] if spec.input in used else []
        previous = [self.model.names.prev(s) for s in spec.states]
        return views + [f"{name} = {naming.history(s)}[t]" for s, name in zip(spec.states, previous) if name in used]


def _product_code(blocks) -> str:
    """W u at this step: the slices of the projections that hold its blocks (or of their sum)."""
    terms = [block.at_step() for block in blocks]
    return terms[0] if len(terms) == 1 else "(" + " + ".join(terms) + ")"
