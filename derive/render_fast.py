"""Stage 7b: the view of the fast path's plan and loops that templates/sequence_fast.py.j2 renders.

The plan (fast_plan.py) says where everything lives; the loop writers (fast_forward.py,
fast_backward.py) write the statements; this module hands the template the names and lines.
Names this code makes up start with an underscore (`_stack_x`, `_proj_h_prev`, `_tmp0`); no spec
name can, so they never collide with a cell's own variables (see naming.py).
"""
from __future__ import annotations

from . import naming
from .cell import DerivedCell
from .fast_backward import BackwardLoop
from .fast_forward import ForwardLoop
from .fast_plan import slice_ends


def fast_view(cell: DerivedCell) -> dict:
    """Everything sequence_fast.py.j2 needs."""
    model, plan = cell.model, cell.plan
    groups = plan.fused.groups
    backward = BackwardLoop(model, plan, cell.derivation.incoming)
    forward = ForwardLoop(model, plan, kept=backward.reads)
    return {
        "stacks": [(naming.stack(g.part), _stack_code(g)) for g in groups],
        "transposed_stacks": [(naming.stack(g.part), _stack_code(g, transposed=True)) for g in groups],
        "input_groups": [(naming.projection(g.part), naming.stack_transposed(g.part)) for g in groups if g.before_loop],
        "folded": _folding_code(cell),
        "forward_buffers": forward.code.allocation(),
        "forward_names": _unpacked(forward.code.allocation()),
        "histories": [(s, naming.history(s)) for s in model.spec.states],
        "output_history": naming.history(model.spec.output),
        "forward_start": forward.start,
        "forward": forward.code.lines,
        "step_values": [(name, forward.values[name]) for name in backward.reads],
        "parts": [(g.part, forward.values[g.part]) for g in groups if not g.before_loop],
        "backward_buffers": backward.code.allocation(),
        "backward_names": _unpacked(backward.code.allocation()),
        "zeroed": backward.zeroed,
        "backward_params": backward.params,
        "read_values": [(name, naming.sequence(name)) for name in backward.reads],
        "backward": backward.code.lines,
        "after_loop": backward.after_loop,
        "carries": [(s, naming.carry_in(s), naming.carry_out(s)) for s in model.spec.states],
        "dxs": backward.dxs,
    }


def _unpacked(buffers: list[tuple[str, str]]) -> str:
    """The left side of `a, b = buffers(...)`: `a,` for one."""
    return ", ".join(name for name, _ in buffers) + ("," if len(buffers) == 1 else "")


def _stack_code(group, transposed: bool = False) -> str:
    """The group's blocks stacked by rows, or (transposed) their transposes side by side, copied into
    its array: one copy either way, where np.ascontiguousarray(stack.T) would be a second and slower one."""
    columns = [":".join(slice_ends(s.start, s.stop)) for s in group.slabs]
    blocks = ", ".join(f"{s.matrix}[:, {c}]{'.T' if transposed else ''}" for s, c in zip(group.slabs, columns))
    out = naming.stack_transposed(group.part) if transposed else naming.stack(group.part)
    return f"np.concatenate(({blocks}{',' if len(group.slabs) == 1 else ''}), axis={1 if transposed else 0}, out={out})"


def _folding_code(cell: DerivedCell) -> list[str]:
    """Bias vectors added to the input's projection once, for all steps: the biases side by side in
    one addition when every block has one, else one addition per block."""
    plan = cell.plan
    folded = {product: bias for product, bias in plan.folded.values()}
    code = []
    for group in (g for g in plan.fused.groups if g.before_loop):
        projection = naming.projection(group.part)
        biases = [folded.get(slab.product) for slab in group.slabs]
        if len(biases) > 1 and all(biases):
            code.append(f"{projection} += np.concatenate(({', '.join(biases)}))")
            continue
        code += [f"{projection}[:, :, {':'.join(slice_ends(start, stop))}] += {bias}"
                 for bias, (start, stop) in zip(biases, plan.rows[group.part]) if bias]
    return code
