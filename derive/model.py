"""Stage 3: turn a CellSpec into a CellModel: SymPy assignments in dependency order.

Every equation is parsed, its names resolved, its sizes checked, and it is lowered into
assignments the derivation can work with. The pieces live in their own modules; this one puts
them together into the model every later stage reads:
- step.py: the vocabulary of one step (Variable, Assignment, Role, Kind), re-exported here;
- dependencies.py: the order the equations are computed in, and the checks over all of them;
- convert.py: parsed expressions to SymPy, every size checked;
- lowering.py: the rules that turn one equation into assignments (pre-activations, lifted
  applications, named operands, cached products).
Vectors are SymPy symbols standing for one entry each, so element-wise algebra is
ordinary scalar algebra; matrix products and stacking are the Linear nodes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import sympy as sp

from . import limits, naming
from .dependencies import check_every_equation_reaches_a_state, check_everything_used, dependency_order
from .errors import SpecNameError
from .functions import MatVec
from .lowering import Lowering
from .parse import Node, parse_expression
from .spec import CellSpec
from .step import Assignment, Kind, Role, Variable

# The step's vocabulary is imported from here by every later stage (from .model import Role).
__all__ = ["Assignment", "CellModel", "Kind", "Role", "Variable", "build_model"]


@dataclass(frozen=True)
class CellModel:
    """A cell's step as assignments in dependency order, every name and size checked."""

    spec: CellSpec
    variables: dict[str, Variable]  # every name of the step, in order of appearance
    assignments: tuple[Assignment, ...]  # in an order where each name is defined before use
    names: naming.Names  # every name of the generated code, the spec's first (later stages add theirs)
    trees: tuple[Node, ...] = ()  # the spec's equations as parsed, in spec order: printed as the user wrote them
    # Function applications a lifted variable holds: tanh(c) -> h_tanh. Every view reads it once per
    # assignment it prints, so it is worked out once, here, from the assignments; read-only.
    cached_values: Mapping[sp.Expr, sp.Symbol] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        cached, computed = {}, set()
        for a in self.assignments:
            # not an application an earlier assignment computes itself: s = tanh(a) must not read a copy made after it
            if self.variables[a.target].role == Role.LIFTED and a.expr not in computed:
                cached[a.expr] = sp.Symbol(a.target)
            computed.add(a.expr)
        object.__setattr__(self, "cached_values", MappingProxyType(cached))  # frozen: set once, as the model is made


def build_model(spec: CellSpec) -> CellModel:
    """Parse, order, size-check and lower a spec's equations.

    Raises SpecError subclasses naming the equation, the place in it and what was expected.
    """
    with limits.cell_deadline(f"{spec.path}: reading the equations of cell {spec.name!r}"):
        return _build_model(spec)


def _build_model(spec: CellSpec) -> CellModel:
    trees = [parse_expression(eq.expression, eq.where) for eq in spec.equations]
    # Lowered twice: a product W v used in two places must be one variable with one adjoint (two
    # inline copies would get one adjoint each, both printed dL/d(W v)); the first pass finds them.
    lowering = _lower(spec, trees, frozenset())
    shared = _products_used_twice(lowering)
    if shared:
        # With no shared product the second pass would be the first again (lowering is deterministic
        # and starts from a fresh Names each time), so the first is kept.
        lowering = _lower(spec, trees, shared)
    names = lowering.names
    # Adjoints are named before anything the derivation makes up, so a variable's own adjoint keeps
    # its readable name (d_h_in for a state h_in) and an incoming adjoint of h gets the number.
    for name in lowering.variables:
        names.adjoint(name)
    for state in spec.states:
        names.incoming(state)
    return CellModel(spec, lowering.variables, tuple(lowering.assignments), names, tuple(trees))


def _lower(spec: CellSpec, trees: list[Node], shared: frozenset) -> Lowering:
    names = naming.Names(name for name, _ in _all_names(spec))
    variables = _declared_variables(spec, names)
    order = dependency_order(spec, trees, variables)
    lowering = Lowering(spec, variables, names, shared)
    for index in order:
        limits.check_deadline()
        lowering.equation(index, trees[index])
    check_every_equation_reaches_a_state(spec, trees)
    check_everything_used(spec, lowering.used)
    return lowering


def _products_used_twice(lowering: Lowering) -> frozenset:
    """Products W v that appear in more than one assignment."""
    seen, twice = set(), set()
    for assignment in lowering.assignments:
        for product in assignment.expr.atoms(MatVec):
            (twice if product in seen else seen).add(product)
    return frozenset(twice)


def _declared_variables(spec: CellSpec, names: naming.Names) -> dict[str, Variable]:
    for name, where in _all_names(spec):
        use = naming.reserved_use(name)
        if use == "a Python keyword":
            raise SpecNameError(where, f"the name {name!r} is a Python keyword", "another name")
        if use:
            raise SpecNameError(where, f"the name {name!r} is used by the generated code as {use}", "another name")
    variables = {name: Variable(name, Kind.INPUT, (spec.size_of(name),)) for name in spec.inputs}
    for state in spec.states:
        previous = names.prev(state)
        variables[previous] = Variable(previous, Kind.PREVIOUS, (spec.size_of(state),), of=state)
    for param in spec.params:
        variables[param.name] = Variable(param.name, Kind.PARAM, param.shape)
    return variables


def _all_names(spec: CellSpec):
    for name in spec.inputs:
        yield name, spec.input_location()
    for state in spec.states:
        yield state, spec.states_location()
    for param in spec.params:
        yield param.name, param.where
    for equation in spec.equations:
        yield equation.target, equation.where
