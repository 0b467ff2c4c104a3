"""Stage 4: derive the backward pass of one step from a CellModel.

Reverse mode over the assignments, last first. When an assignment is reached, every use
of its target has already sent its contribution, so its adjoint is complete:

    d_v = (sum of contributions)            one line per variable that reaches the loss

and the assignment then sends contributions to what it reads:
- element-wise expressions: SymPy differentiates (through the functions' own rules), and
  applications the cache already holds are replaced by their variables;
- W v: dW += d^T v (summed over the batch), dv += W^T d;
- concat(a, b): each part receives its block of the adjoint;
- a vector parameter b: db += d summed over the batch;
- mean(v): dv += d spread over v's units, divided by their number (sum(v): not divided);
- a size-1 value m (a mean) read element-wise by a larger vector: dm += the term summed over units;
- block(a, i, n): the blocks' adjoints stacked are a's (zeros for a block nothing reads).

A state's adjoint starts from what arrives from outside the step (d_s_in: the loss at t
and step t+1); the step ends with the adjoints it sends to t-1 (d_s_prev), dL/dx(t) and
the parameter gradients. The time-recursion is then: d_s_in(t) = d_s_prev(t+1) (+ loss).
"""
from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass

import sympy as sp

from .dims import ONE
from .functions import BatchSum, Concat, Elementwise, MatVec, Sigmoid, ZerosLike
from . import limits
from .blocks import BlockOf, stacked_adjoint
from .reductions import Reduction, UnitSum
from .errors import SpecNameError
from .model import Assignment, CellModel, Kind, Role


class LineRole(enum.Enum):
    """What an adjoint line is the adjoint of."""

    STATE = "state"  # a carried state at t: everything that reaches it, from inside and outside the step
    INTERMEDIATE = "intermediate"  # any other variable of the step
    PRODUCT = "product"  # a product W v (its adjoint, named once, feeds W's gradient and v's adjoint)
    CARRY = "carry"  # what the step sends back to a state at t-1
    INPUT = "input"  # dL/dx(t)
    PARAM = "param"  # a parameter's gradient, this step's term


class UseKind(enum.Enum):
    """How a use passes an adjoint back, as the chain rule sees it."""

    ELEMENTWISE = "elementwise"  # local derivative d user / d to
    PRODUCT = "product"  # W v sends W^T d back to v
    BLOCK = "block"  # a concat sends each part its block
    REDUCTION = "reduction"  # mean(v) or sum(v) sends its adjoint back spread over v's units


@dataclass(frozen=True)
class Product:
    """A product W v, as what a product's adjoint line is about."""

    matrix: str
    vector: str

    def __str__(self) -> str:
        return f"{self.matrix} {self.vector}"


@dataclass(frozen=True)
class AdjointLine:
    """`target = expr` in the backward pass of one step."""

    target: sp.Symbol  # d_v for a variable v, d_W for a parameter W
    expr: sp.Expr
    role: LineRole
    about: str | Product  # the variable (parameter; state for a carry; product W v) this is the adjoint of
    origin: int  # index of the spec equation the line comes from; -1 if none


@dataclass(frozen=True)
class Contribution:
    """One use of a variable, as the chain rule sees it: `user` reads `to`, so `to`'s adjoint
    receives `term`. Kept for the step-by-step derivation; the lines are what is computed."""

    to: str  # the variable receiving (parameters are left out: their gradients are the param lines)
    user: str | Product  # the variable whose adjoint flows back, or the product W v
    kind: UseKind  # local is d user / d to (elementwise), W (product), or the part (block)
    local: sp.Expr
    term: sp.Expr


@dataclass(frozen=True)
class Derivation:
    """The backward pass of one step, in the order it is computed."""

    model: CellModel
    lines: tuple[AdjointLine, ...]
    incoming: dict[str, sp.Symbol]  # state -> symbol of its adjoint from outside the step
    uses: tuple[Contribution, ...] = ()  # every contribution, in the order it was sent

    def uses_of(self, name: str) -> list[Contribution]:
        return [use for use in self.uses if use.to == name]

    def lines_with_role(self, role: LineRole) -> list[AdjointLine]:
        return [line for line in self.lines if line.role == role]

    def carry(self, state: str) -> AdjointLine:
        return next(line for line in self.lines if line.role == LineRole.CARRY and line.about == state)


def equation_tags(derivation: Derivation) -> dict[str, str]:
    """Adjoint name -> "B1", "B2", ...: every backward line in the order it is computed.
    The LaTeX tags each equation with it and the generated code's comment repeats it."""
    return {line.target.name: f"B{index}" for index, line in enumerate(derivation.lines, 1)}


def _cached_values(model: CellModel) -> dict[sp.Expr, sp.Symbol]:
    """Expressions whose value a forward variable already holds: Sigmoid(f_pre) is f, and
    1 - f is f_complement, computed as sigmoid(-f_pre) so that f * (1 - f) keeps its tiny
    values for saturated gates (1 - f rounds to 0 once f rounds to 1)."""
    cached = {}
    for a in model.assignments:
        if isinstance(a.expr, Elementwise):
            cached[a.expr] = sp.Symbol(a.target)
        if model.variables[a.target].role == Role.COMPLEMENT:
            base = sp.Symbol(model.variables[a.target].of)
            z = -a.expr.args[0]
            cached[1 - Sigmoid(z)] = sp.Symbol(a.target)
            cached[1 - base] = sp.Symbol(a.target)
    return cached


def derive_backward(model: CellModel) -> Derivation:
    """The adjoint lines of one step: deltas, carries to t-1, dL/dx(t), parameter gradients."""
    with limits.cell_deadline(f"{model.spec.path}: deriving the backward pass of cell {model.spec.name!r}"):
        return _Backward(model).run()


def backward_order(assignments, gates) -> list:
    """The order the backward pass visits the assignments: each after every assignment that reads it
    (its adjoint is then complete); of those ready, first a state or a value derive made up (a
    pre-activation, tanh(c)), then the gate (any other equation of the spec) the forward pass computes
    first: the derivation reads the states, then the gates in the forward pass's order (nico: h, s, then
    g, i, f, o; lstm: h, c, then f, i, c~, o), where plain reverse order gave o, f, i, g."""
    readers = {a.target: 0 for a in assignments}
    for a in assignments:
        for symbol in a.expr.free_symbols:
            if symbol.name in readers and symbol.name != a.target:
                readers[symbol.name] += 1
    position = {a.target: index for index, a in enumerate(assignments)}
    by_target = {a.target: a for a in assignments}
    ready = [a for a in assignments if readers[a.target] == 0]
    order = []
    while ready:
        chosen = min(ready, key=lambda a: (a.target in gates, position[a.target]))
        ready.remove(chosen)
        order.append(chosen)
        for symbol in chosen.expr.free_symbols:
            if symbol.name in readers and symbol.name != chosen.target:
                readers[symbol.name] -= 1
                if readers[symbol.name] == 0:
                    ready.append(by_target[symbol.name])
    assert len(order) == len(assignments), "the assignments form a cycle"  # the model orders them: impossible
    return order


class _Backward:
    def __init__(self, model: CellModel):
        self.model = model
        self.spec = model.spec
        self.contributions: dict[str, list[sp.Expr]] = defaultdict(list)
        self.gradients: dict[str, list[sp.Expr]] = defaultdict(list)
        self.lines: list[AdjointLine] = []
        self.uses: list[Contribution] = []
        self.names = model.names
        self.incoming = {state: sp.Symbol(self.names.incoming(state)) for state in self.spec.states}
        self.cached = _cached_values(model)
        self.blocks: dict[str, tuple[int, dict[int, list[sp.Symbol]]]] = {}  # vector -> (blocks, adjoints by block)

    def run(self) -> Derivation:
        gates = {name for name, v in self.model.variables.items() if v.role == Role.EQUATION and name not in self.spec.states}
        for assignment in backward_order(self.model.assignments, gates):
            limits.check_deadline()
            adjoint = self.complete_adjoint(assignment)
            if adjoint is not None:
                self.propagate(assignment, adjoint)
            elif self.model.variables[assignment.target].role == Role.EQUATION:
                # the model refuses an equation no state reads; this one is read, but only where its terms cancel
                equation = self.spec.equations[assignment.origin]
                raise SpecNameError(equation.where, f"{equation.target!r} is computed but never reaches a state "
                                    "(every term that reads it cancels)", "every equation on a path to a carried state")
        for state in self.spec.states:
            previous = self.names.prev(state)
            self.finish(previous, self.names.adjoint(previous), LineRole.CARRY, state, self.incoming[state])
        for name in self.spec.inputs:
            if not self.contributions.get(name):
                raise SpecNameError(self.spec.input_location(), f"input {name!r} never reaches a state",
                                    "an input on a path to a carried state")
            self.finish(name, self.names.adjoint(name), LineRole.INPUT, name, None)
        for param in self.spec.params:
            terms = self.gradients.pop(param.name, [])
            if not terms:
                raise SpecNameError(param.where, f"parameter {param.name!r} never reaches a state, so its gradient is always 0",
                                    "every parameter on a path to a carried state")
            self.lines.append(AdjointLine(sp.Symbol(self.names.adjoint(param.name)), sp.Add(*terms), LineRole.PARAM, param.name, -1))
        return Derivation(self.model, tuple(self.lines), self.incoming, tuple(self.uses))

    def complete_adjoint(self, assignment: Assignment) -> sp.Symbol | None:
        name = assignment.target
        terms = self.contributions.pop(name, [])
        if name in self.blocks:  # its blocks' adjoints, stacked into its rows
            count, by_block = self.blocks.pop(name)
            part = self.symbolic_size(sp.Symbol(name)) / count
            terms.append(stacked_adjoint(by_block, count, next(iter(by_block.values()))[0], part))
        is_state = name in self.spec.states
        if is_state:
            terms.insert(0, self.incoming[name])
        if not terms:
            return None  # this variable does not reach any state: nothing flows back through it
        symbol = sp.Symbol(self.names.adjoint(name))
        role = LineRole.STATE if is_state else LineRole.INTERMEDIATE
        self.lines.append(AdjointLine(symbol, sp.Add(*terms), role, name, assignment.origin))
        return symbol

    def finish(self, name: str, target: str, role: LineRole, about: str, zeros_like) -> None:
        terms = self.contributions.pop(name, [])
        origin = self.model.variables[name].origin
        expr = sp.Add(*terms) if terms else ZerosLike(zeros_like)
        self.lines.append(AdjointLine(sp.Symbol(target), expr, role, about, origin))

    def propagate(self, assignment: Assignment, adjoint: sp.Symbol) -> None:
        if isinstance(assignment.expr, Concat):
            self.split(assignment.expr, adjoint, assignment.target)
        elif isinstance(assignment.expr, Reduction):
            self.reduce(assignment.expr, adjoint, assignment.target)
        elif isinstance(assignment.expr, BlockOf):
            self.unblock(assignment.expr, adjoint, assignment.target)
        else:
            self.elementwise(assignment, adjoint)

    def split(self, concat: Concat, adjoint: sp.Symbol, user: str) -> None:
        for part, block in concat.blocks(adjoint, self.symbolic_size):
            self.contributions[str(part)].append(block)
            self.uses.append(Contribution(str(part), user, UseKind.BLOCK, part, block))

    def unblock(self, block: BlockOf, adjoint: sp.Symbol, user: str) -> None:
        """A block's adjoint goes into its rows of the vector's: gathered per block, stacked when the
        vector's adjoint is complete (complete_adjoint), every block's user having been reached."""
        vector, index, count = str(block.args[0]), int(block.args[1]), int(block.args[2])
        counted, terms = self.blocks.setdefault(vector, (count, defaultdict(list)))
        if counted != count:
            raise SpecNameError(self.spec.equations[self.model.variables[user].origin].where,
                                f"{vector} is split into {counted} blocks and into {count}", "one number of blocks per vector")
        terms[index].append(adjoint)
        placed = stacked_adjoint({index: [adjoint]}, count, adjoint, self.symbolic_size(block.args[0]) / count)
        self.uses.append(Contribution(vector, user, UseKind.BLOCK, block, placed))

    def reduce(self, reduction: Reduction, adjoint: sp.Symbol, user: str) -> None:
        vector = reduction.args[0]
        term = reduction.pullback(adjoint, self.symbolic_size(vector))
        self.contributions[str(vector)].append(term)
        self.uses.append(Contribution(str(vector), user, UseKind.REDUCTION, reduction, term))

    def symbolic_size(self, vector: sp.Symbol) -> sp.Expr:
        """A vector's size in the symbols D and H, as slice bounds print it."""
        return self.model.variables[str(vector)].shape[0].symbolic

    def elementwise(self, assignment: Assignment, adjoint: sp.Symbol) -> None:
        products = sorted(assignment.expr.atoms(MatVec), key=sp.default_sort_key)
        stand_ins = {product: sp.Dummy(f"p{k}") for k, product in enumerate(products)}
        back = {dummy: product for product, dummy in stand_ins.items()}
        flat = assignment.expr.xreplace(stand_ins)
        for atom in sorted(flat.free_symbols, key=sp.default_sort_key):
            partial = sp.diff(flat, atom).xreplace(back).xreplace(self.cached)
            if partial == 0:
                continue
            term = partial * adjoint
            if self.broadcast(atom, assignment.target):
                # every unit of the target read the one value: their terms add up
                term = UnitSum(term, self.symbolic_size(sp.Symbol(assignment.target)))
            if atom in back:
                self.product(back[atom], term, assignment.origin)
            else:
                self.send(str(atom), term)
                if self.model.variables[str(atom)].kind != Kind.PARAM:
                    self.uses.append(Contribution(str(atom), assignment.target, UseKind.ELEMENTWISE, partial, term))

    def broadcast(self, atom: sp.Symbol, target: str) -> bool:
        """True if atom is one number per example (a mean) read by a larger vector's units."""
        variable = self.model.variables.get(str(atom))
        return variable is not None and variable.shape == (ONE,) and self.model.variables[target].shape != (ONE,)

    def send(self, name: str, term: sp.Expr) -> None:
        if self.model.variables[name].kind == Kind.PARAM:
            self.gradients[name].append(BatchSum(term))
        else:
            self.contributions[name].append(term)

    def product(self, product: MatVec, term: sp.Expr, origin: int) -> None:
        """W v receives `term`: W's gradient gets d v^T and v gets W^T d."""
        matrix, vector = product.args
        if not isinstance(term, sp.Symbol):  # name it once; both rules read it
            symbol = sp.Symbol(self.names.product_adjoint(str(matrix), str(vector)))
            self.lines.append(AdjointLine(symbol, term, LineRole.PRODUCT, Product(str(matrix), str(vector)), origin))
            term = symbol
        to_matrix, sent_back = product.pullback(term)
        self.gradients[str(matrix)].append(to_matrix)
        self.contributions[str(vector)].append(sent_back)
        self.uses.append(Contribution(str(vector), Product(str(matrix), str(vector)), UseKind.PRODUCT, matrix, sent_back))
