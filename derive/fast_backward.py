"""The fast backward loop: each adjoint line written in place, deltas straight into their slots.

A group's deltas are stacked per step in its delta buffer (the plan's slots), so what the group
sends back to the vector it multiplied is one product per step, and its weight gradient one
product over all steps after the loop (the input's adjoint too).
"""
from __future__ import annotations

import sympy as sp

from . import naming
from .derivation import LineRole
from .fast_plan import FastPlan, Slot, own_slots, slice_ends
from .functions import ZerosLike, read_names
from .inplace import is_leaf, lower
from .model import CellModel, Kind
from .printers import NumpyPrinter
from .stepcode import StepCode


class BackwardLoop:
    """The backward loop's statements and arrays, what it reads of the forward pass (reads), the
    lines after it (after_loop), and how dxs starts (dxs: "zeros" or "product")."""

    def __init__(self, model: CellModel, plan: FastPlan, incoming: dict[str, sp.Symbol]):
        self.model, self.plan = model, plan
        self.code = StepCode()
        filled_by = {plan.buffers[g.part]: g for g in reversed(plan.reaching)}  # delta buffer -> the first group filling it
        for buffer in plan.slots:
            self.code.buffer(buffer, f"(T, B, {plan.totals[filled_by[buffer].part].code})")
        # a block whose product does not reach the loss is never written: it must stay 0
        self.zeroed = [buffer for buffer in plan.slots if len(plan.slots[buffer]) < len(filled_by[buffer].slabs)]
        self.printer = NumpyPrinter({"names": {s.name: naming.carry_in(state) for state, s in incoming.items()}, "views": True})
        self.in_slot = own_slots(plan.slots)  # adjoint -> the slot it is computed in
        for state in model.spec.states:
            self.code.buffer(naming.carry_in(state), f"(B, {self._size(state)})")
            self.code.buffer(naming.carry_out(state), f"(B, {self._size(state)})")
        self.owner: dict[str, str] = {}  # name -> the scratch array holding it
        self.dxs_in_loop = False
        self._write(list(plan.backward))
        used = self.code.used()
        self.reads = [v.name for v in model.variables.values() if v.kind != Kind.PARAM and v.name in used]
        self.params = [p.name for p in model.spec.params if p.name in used]
        self.code.buffer("dxs", f"(T, B, {self._size(model.spec.input)})")
        self.after_loop = self._after_loop() + self._bias_sums()
        self.dxs = "zeros" if self.dxs_in_loop or not any(g.before_loop for g in plan.reaching) else "product"

    def _write(self, lines) -> None:
        plan, output = self.plan, self.model.spec.output
        carry = naming.carry_in(output)
        self.code.emit(f"np.add({carry}, d_outputs[t], out={carry})", f"dL/d{output}(t): from step t+1 and from the loss at t",
                       {carry})
        readers = {part: [i for i, (_, expr) in enumerate(lines) if symbol in expr.free_symbols]
                   for part, symbol in plan.contributions.items()}
        store_at = self._store_at(lines, readers)
        last_use = self._last_uses(lines, store_at)
        computed = set()  # lines already done by the product that feeds them
        for index in range(len(lines) + 1):
            for buffer in [b for b, at in store_at.items() if at == index]:
                self._fill(plan.slots[buffer])
            for group in plan.reaching:
                if group.part in plan.contributions and readers[group.part] and readers[group.part][0] == index:
                    computed |= self._contribute(group, lines, readers[group.part])
            if index == len(lines):
                break
            if index not in computed:
                self._line(*lines[index])
            for name in [name for name in self.owner if last_use.get(name, index) <= index]:
                self._release(name)

    def _store_at(self, lines, readers) -> dict[str, int]:
        """Delta buffer -> the line before which its slots must all be filled."""
        store_at: dict[str, int] = {}
        for group in self.plan.reaching:
            at = readers[group.part][0] if group.part in self.plan.contributions and readers[group.part] else len(lines)
            buffer = self.plan.buffers[group.part]
            store_at[buffer] = min(at, store_at.get(buffer, len(lines)))
        return store_at

    def _last_uses(self, lines, store_at) -> dict[str, int]:
        """Name -> the last line that reads it (a slot filled from adjoints reads them where it is filled)."""
        last_use = {s.name: i for i, (_, expr) in enumerate(lines) for s in expr.free_symbols}
        for buffer, at in store_at.items():
            for slot in self.plan.slots[buffer]:
                if self.in_slot.get(slot.adjoints[0]) != slot or len(slot.adjoints) > 1:
                    last_use.update({name: max(last_use.get(name, -1), at) for name in slot.adjoints})
        return last_use

    def _fill(self, slots: tuple[Slot, ...]) -> None:
        """Slots that no adjoint line was written into: a sum of adjoints, or a second copy."""
        for slot in slots:
            if len(slot.adjoints) == 1 and self.in_slot.get(slot.adjoints[0]) == slot:
                continue
            expr = sp.Add(*(sp.Symbol(name) for name in slot.adjoints))
            self.code.emit_lowered(lower(expr, slot.code, self.printer, self.code.pool, slot.size.code), "",
                                   {*slot.adjoints, slot.buffer})

    def _contribute(self, group, lines, readers: list[int]) -> set[int]:
        """W^T d of the group's products, at once; straight into the array of the line that only copies it."""
        symbol, buffer = self.plan.contributions[group.part], self.plan.buffers[group.part]
        line, expr = lines[readers[0]]
        direct = len(readers) == 1 and expr == symbol and line.role not in (LineRole.PARAM, LineRole.INPUT)
        size = self._size(group.part)
        out = self._destination(line, size) if direct else self._scratch(symbol.name, size)
        stack = naming.stack(group.part)
        self.code.emit(f"np.matmul({buffer}[t], {stack}, out={out})", f"W^T d of every product of {group.part}, at once",
                       {buffer, stack, out})
        return {readers[0]} if direct else set()

    def _size(self, name: str) -> str:
        return self.model.variables[name].shape[0].code

    def _line_size(self, line) -> str:
        """The size of a line's value: its variable's; for the adjoint of a product W v, the rows of W."""
        return self._size(line.about.matrix if line.role == LineRole.PRODUCT else line.about)

    def _scratch(self, name: str, size: str) -> str:
        self.owner[name] = self.code.pool.take(f"(B, {size})")
        self.code.view(name, self.owner[name], uses={self.owner[name]})
        return name

    def _release(self, name: str) -> None:
        array = self.owner.pop(name)
        if array not in self.owner.values():  # no alias still holds it
            self.code.pool.give(array)

    def _destination(self, line, size: str) -> str:
        """Bind the line's target to its array: the carry to step t-1, its slot, or a scratch array."""
        target = line.target.name
        if line.role == LineRole.CARRY:
            array = self.code.buffer(naming.carry_out(line.about), f"(B, {size})")
        elif target in self.in_slot:
            array = self.in_slot[target].code
        else:
            return self._scratch(target, size)
        self.code.view(target, array, uses={array})
        return target

    def _line(self, line, expr) -> None:
        if line.role == LineRole.PARAM:
            if expr != 0:
                self._parameter_term(line, expr)
            return
        if line.role == LineRole.INPUT:
            if expr != 0:
                self.dxs_in_loop = True
                self.code.emit_lowered(lower(expr, "dxs[t]", self.printer, self.code.pool, self._line_size(line)),
                                       "dL/dx(t) from element-wise uses", read_names(expr) | {"dxs"})
            return
        if is_leaf(expr) and expr.free_symbols and line.role != LineRole.CARRY and line.target.name not in self.in_slot:
            self.code.view(line.target.name, self.printer.doprint(expr), uses=read_names(expr))  # another name for the same array
            if str(expr) in self.owner:
                self.owner[line.target.name] = self.owner[str(expr)]
            return
        size = self._line_size(line)
        out = self._destination(line, size)
        if expr == 0 or isinstance(expr, ZerosLike):
            self.code.emit(f"{out}.fill(0)", "", {out})
            return
        comment = f"{line.target.name} = {self.printer.doprint(expr)}"
        self.code.emit_lowered(lower(expr, out, self.printer, self.code.pool, size), comment, read_names(expr) | {out})

    def _parameter_term(self, line, expr) -> None:
        size = self._size(line.about)
        term = self.code.pool.take(f"({size},)")
        self.code.emit_lowered(lower(expr, term, self.printer, self.code.pool, size, batched=False), "",
                               read_names(expr) | {term})
        gradient = f'grads["{line.about}"]'
        self.code.emit(f"np.add({gradient}, {term}, out={gradient})", f"dL/d{line.about}, this step's term", {"grads", term})
        self.code.pool.give(term)

    def _after_loop(self) -> list[str]:
        """Weight gradients of all steps in one product per group; the input's adjoint likewise."""
        plan, lines = self.plan, []
        for group in plan.reaching:
            stacked = f"{plan.buffers[group.part]}.reshape(T * B, -1)"
            values = "xs" if group.before_loop else f'parts["{group.part}"]'
            out = self.code.buffer(naming.weight_gradients(group.part), f"({plan.totals[group.part].code}, {self._size(group.part)})")
            lines.append(f"np.matmul({stacked}.T, {values}.reshape(T * B, -1), out={out})")
            for slab, (start, stop) in zip(group.slabs, plan.rows[group.part]):
                first, last = slice_ends(start, stop)
                columns = ":".join(slice_ends(slab.start, slab.stop))
                lines.append(f'grads["{slab.matrix}"][:, {columns}] += {out}[{first}:{last}]')
            if group.before_loop and self.dxs_in_loop:
                lines.append(f"dxs += ({stacked} @ {naming.stack(group.part)}).reshape(T, B, -1)")
            elif group.before_loop:
                lines.append(f"np.matmul({stacked}, {naming.stack(group.part)}, out=dxs.reshape(T * B, -1))")
        return lines

    def _bias_sums(self) -> list[str]:
        """Each bias summed once after the loop, from the delta buffer that stores its terms."""
        sums: dict[str, str] = {}
        lines = []
        for bias in self.plan.bias_sums:
            slot = bias.slot
            if slot.buffer not in sums:
                sums[slot.buffer] = naming.fast_numbered("db", len(sums))
                lines.append(f"{sums[slot.buffer]} = {slot.buffer}.reshape(T * B, -1).sum(axis=0)  # every step's bias terms at once")
            first, last = slice_ends(slot.start, slot.stop)
            lines.append(f'grads["{bias.param}"] += {sums[slot.buffer]}[{first}:{last}]')
        return lines
