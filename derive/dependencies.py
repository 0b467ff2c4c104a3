"""The spec's equations as a whole: the order they are computed in, and the checks that need all of them.

Whether a name exists, whether the equations form a cycle, whether every equation reaches a state and
every parameter and the input are used are facts about the spec's equations together, not about one
expression: they are checked here, on the parsed trees, before and after the equations are lowered
one by one (lowering.py), each refusal naming the line it is about.
"""
from __future__ import annotations

import difflib

from .errors import SpecNameError
from .calls import CALLABLE
from .parse import Name, Node
from .spec import CellSpec
from .step import Kind, Variable


def dependency_order(spec: CellSpec, trees: list[Node], variables: dict[str, Variable]) -> list[int]:
    """Equation indices so that each is computed after the ones it reads (spec order on ties)."""
    defined_by = {eq.target: index for index, eq in enumerate(spec.equations)}
    needs = {}
    for index, tree in enumerate(trees):
        names = [node for node in walk(tree) if isinstance(node, Name)]
        for node in names:
            _check_name_exists(node, spec, defined_by, variables)
        needs[index] = sorted({defined_by[n.name] for n in names if n.name in defined_by})
        if index in needs[index]:
            _self_reference(spec, index)
    order: list[int] = []
    visiting: list[int] = []

    def visit(index: int) -> None:
        if index in order:
            return
        if index in visiting:
            cycle = visiting[visiting.index(index):] + [index]
            path = " -> ".join(spec.equations[i].target for i in cycle)
            raise SpecNameError(spec.equations[index].where, f"the equations form a cycle: {path}",
                                "each variable computed from earlier ones; a state's previous value is written s(t-1)")
        visiting.append(index)
        for needed in needs[index]:
            visit(needed)
        visiting.pop()
        order.append(index)

    for index in range(len(trees)):
        visit(index)
    return order


def walk(node: Node):
    """Every node of a parsed expression, the node itself first."""
    yield node
    for child in (getattr(node, "left", None), getattr(node, "right", None), getattr(node, "operand", None)):
        if child is not None:
            yield from walk(child)
    for arg in getattr(node, "args", ()):
        yield from walk(arg)


def _check_name_exists(node: Name, spec: CellSpec, defined_by: dict, variables: dict) -> None:
    if node.name in defined_by or node.name in variables and variables[node.name].kind != Kind.PREVIOUS:
        return
    if node.name in CALLABLE:
        raise SpecNameError(node.where, f"{node.name} is a function, used here without arguments", f"a call such as {node.name}(a)")
    known = sorted(set(defined_by) | {n for n, v in variables.items() if v.kind != Kind.PREVIOUS})
    close = difflib.get_close_matches(node.name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "one of " + ", ".join(known)
    raise SpecNameError(node.where, f"unknown name {node.name!r}", f"a declared input, state, parameter or equation target ({hint})")


def _self_reference(spec: CellSpec, index: int) -> None:
    equation = spec.equations[index]
    hint = f"{equation.target}(t-1) for the previous step's value" if equation.target in spec.states else "an expression of other variables"
    raise SpecNameError(equation.where, f"{equation.target!r} is used in its own equation", hint)


def check_everything_used(spec: CellSpec, used: set[str]) -> None:
    """Every parameter and input is read by some equation (`used`: the names the lowering read)."""
    for param in spec.params:
        if param.name not in used:
            raise SpecNameError(param.where, f"parameter {param.name!r} is declared but never used", "every parameter used by an equation")
    for name in spec.inputs:
        if name not in used:
            raise SpecNameError(spec.input_location(), f"input {name!r} is never used", "an equation that reads the input")


def check_every_equation_reaches_a_state(spec: CellSpec, trees: list[Node]) -> None:
    """An equation no state depends on (directly or through other equations) would be computed at
    every step for nothing: it is refused, as an unused parameter is, at its own line."""
    defined_by = {eq.target: index for index, eq in enumerate(spec.equations)}
    reads = [{node.name for node in walk(tree) if isinstance(node, Name)} for tree in trees]
    reached, todo = set(), [defined_by[state] for state in spec.states if state in defined_by]
    while todo:
        index = todo.pop()
        if index in reached:
            continue
        reached.add(index)
        todo.extend(defined_by[name] for name in reads[index] if name in defined_by)
    for index, equation in enumerate(spec.equations):
        if index not in reached:
            raise SpecNameError(equation.where, f"{equation.target!r} never reaches a state: it is computed, but no state depends on it",
                                "every equation on a path to a carried state (delete it, or use it)")
