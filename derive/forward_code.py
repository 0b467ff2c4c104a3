"""Facts about the forward pass that both code paths (readable steps and fast loops) write alike."""
from __future__ import annotations

from .model import Assignment, CellModel, Role


def forward_comment(model: CellModel, assignment: Assignment, shown: str = "") -> str:
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


def sigmoid_pairs(model: CellModel, emitted: list[Assignment]) -> dict[str, str]:
    """Sigmoid outputs whose complement is also computed: both come from one sigmoid_pair call."""
    names = {a.target for a in emitted}
    return {model.variables[a.target].of: a.target for a in emitted
            if model.variables[a.target].role == Role.COMPLEMENT and model.variables[a.target].of in names}


def comment_names(model: CellModel, assignment: Assignment) -> set[str]:
    """The names forward_comment mentions. A comment line above a computation counts as using them,
    so a view of a name the spec's equation mentions stays bound in the loop (x = xs[t] where the
    equation reads x through a projection): the generated loops keep the layout they always had."""
    variable = model.variables[assignment.target]
    if variable.role != Role.EQUATION:
        return {variable.of or assignment.target}
    return {assignment.target} | set(_tree_names(model.trees[assignment.origin]))


def _tree_names(node):
    """Every name a parsed equation mentions: variables, states at t-1, functions."""
    for name in ("name", "function"):
        if isinstance(getattr(node, name, None), str):
            yield getattr(node, name)
    for child in (getattr(node, "left", None), getattr(node, "right", None), getattr(node, "operand", None),
                  *getattr(node, "args", ())):
        if child is not None:
            yield from _tree_names(child)
