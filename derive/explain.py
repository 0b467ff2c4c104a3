"""`derive build CELL --explain`: what each stage produced for one cell, as plain text.

One section per stage of pipeline.work_out, in its order, so a user can see where a line of the
generated code or a tag of the LaTeX comes from: the model's assignments (and why lowering made
each variable), the derivation's adjoint lines (with their tags), the backward code after CSE,
and the fast path's plan.
"""
from __future__ import annotations

from .cell import DerivedCell
from .derivation import equation_tags
from .fast_plan import FastPlan, slice_ends
from .printers import TextPrinter


def stages(cell: DerivedCell) -> str:
    """Every stage's result for one cell, section by section."""
    sections = [_model(cell), _derivation(cell), _backward_code(cell), _plan(cell.plan)]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def _model(cell: DerivedCell) -> list[str]:
    model, printer = cell.model, TextPrinter()  # code names, as in the generated module
    lines = [f"1. model: {len(model.assignments)} assignments in dependency order (spec name {model.spec.name!r})"]
    for assignment in model.assignments:
        variable = model.variables[assignment.target]
        why = variable.role.value + (f" of {variable.of}" if variable.of else "")
        lines.append(f"   {assignment.target} = {printer.doprint(assignment.expr)}    [{why}, size {variable.shape[0]}]")
    return lines


def _derivation(cell: DerivedCell) -> list[str]:
    derivation, printer = cell.derivation, TextPrinter()
    tags = equation_tags(derivation)
    lines = [f"2. derivation: {len(derivation.lines)} adjoint lines, last forward assignment first"]
    for line in derivation.lines:
        lines.append(f"   ({tags[line.target.name]}) {line.target} = {printer.doprint(line.expr)}    "
                     f"[{line.role.value} of {line.about}]")
    incoming = ", ".join(f"{state}: {symbol}" for state, symbol in derivation.incoming.items())
    lines.append(f"   arriving from outside the step (loss at t, step t+1): {incoming}")
    return lines


def _backward_code(cell: DerivedCell) -> list[str]:
    code, printer = cell.code, TextPrinter()
    lines = [f"3. backward code: {len(code.shared)} shared subexpressions after CSE"]
    lines += [f"   {symbol} = {printer.doprint(value)}" for symbol, value in code.shared]
    lines.append(f"   forward values a step keeps for the backward pass: {', '.join(code.cached) or '(none)'}")
    return lines


def _plan(plan: FastPlan) -> list[str]:
    lines = ["4. fast-path plan: matrix products grouped by the vector they multiply"]
    for group in plan.fused.groups:
        when = "all steps at once, before the loop" if group.before_loop else "once per step"
        blocks = ", ".join(f"{s.matrix}[:, {':'.join(slice_ends(s.start, s.stop))}]" for s in group.slabs)
        lines.append(f"   {group.part} ({when}; delta buffer {plan.buffers[group.part]}): {blocks}")
    if plan.fused.fused_concats:
        lines.append(f"   stacked vectors never built (their blocks are used): {', '.join(plan.fused.fused_concats)}")
    for target, (product, bias) in plan.folded.items():
        lines.append(f"   bias {bias} of {target} added to the input's projection before the loop")
    for run in plan.runs:
        lines.append(f"   one {run[0].function.lower()} call for {', '.join(m.gate for m in run)}")
    for buffer, slots in plan.slots.items():
        for slot in slots:
            lines.append(f"   slot {slot.code} holds {' + '.join(slot.adjoints)}")
    for bias in plan.bias_sums:
        lines.append(f"   gradient of {bias.param} summed once after the loop from {bias.slot.code}")
    return lines
