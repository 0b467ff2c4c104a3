"""Stage 3: turn a CellSpec into a CellModel: SymPy assignments in dependency order.

Every equation is parsed, its names resolved, its sizes checked, and it is lowered into
assignments the derivation can work with:
- the argument of a top-level activation becomes its own pre-activation variable (g_pre);
- a function applied inside an equation (tanh(c) in o * tanh(c)) gets its own cached variable;
- operands of @ and concat that are not plain variables get their own variable;
- a product W v whose value the backward pass needs (say r * (W v)) is cached.
Vectors are SymPy symbols standing for one entry each, so element-wise algebra is
ordinary scalar algebra; matrix products and stacking are the Linear nodes.
"""
from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass

import sympy as sp

from . import limits, naming
from .dims import D, H, Dim
from .errors import Location, ShapeError, SpecError, SpecNameError, UnsupportedError
from .functions import CONCAT, FUNCTIONS, Concat, Elementwise, MatVec, Sigmoid
from .parse import BinaryOp, Call, Name, Negate, Node, Number, Previous, parse_expression
from .spec import CellSpec


class Role(enum.Enum):
    """Why a variable of the step exists."""

    DECLARED = "declared"  # an input, a state at t-1 or a parameter the spec declares
    EQUATION = "equation"  # the target of one of the spec's equations
    PRE = "pre"  # the argument of an activation, given its own name (g_pre)
    OPERAND = "operand"  # a compound operand of @ or concat, given its own name
    LIFTED = "lifted"  # a function application inside an equation, cached (h_tanh)
    PRODUCT = "product"  # a product W v whose value the backward pass reads
    COMPLEMENT = "complement"  # 1 - s for a sigmoid output s, computed without cancellation

    @property
    def made_up(self) -> bool:
        """Named by lowering after its definition, not by the spec: printed as that definition, and two
        of them with one definition are one variable (computed and cached once)."""
        return self in (Role.LIFTED, Role.PRODUCT, Role.OPERAND)


class Kind(enum.Enum):
    INPUT = "input"  # x(t)
    PREVIOUS = "previous"  # a carried state at t-1
    PARAM = "param"  # a trainable parameter, vector or matrix
    STATE = "state"  # a carried state at t (defined by an equation)
    INTERMEDIATE = "intermediate"  # any other variable of the step


@dataclass(frozen=True)
class Variable:
    """A named quantity of one step."""

    name: str  # the name in generated code
    kind: Kind
    shape: tuple[Dim, ...]  # (size,) for vectors, (rows, columns) for matrices
    origin: int = -1  # index of the spec equation that defines it; -1 if none
    role: Role = Role.DECLARED  # why it exists: declared, a spec equation, or the lowering rule that made it
    of: str = ""  # for a made-up name, the name it belongs to: s for s_prev, g for g_pre, f for f_complement

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) == 2

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(self.name)


@dataclass(frozen=True)
class Assignment:
    """`target = expr` for one step; expr is element-wise SymPy, with MatVec and Concat nodes."""

    target: str
    expr: sp.Expr
    origin: int  # index of the spec equation it comes from


@dataclass(frozen=True)
class CellModel:
    """A cell's step as assignments in dependency order, every name and size checked."""

    spec: CellSpec
    variables: dict[str, Variable]  # every name of the step, in order of appearance
    assignments: tuple[Assignment, ...]  # in an order where each name is defined before use
    names: naming.Names  # every name of the generated code, the spec's first (later stages add theirs)
    trees: tuple[Node, ...] = ()  # the spec's equations as parsed, in spec order: printed as the user wrote them

    def cached_values(self) -> dict[sp.Expr, sp.Symbol]:
        """Function applications a lifted variable holds: tanh(c) -> h_tanh."""
        return {a.expr: sp.Symbol(a.target) for a in self.assignments if self.variables[a.target].role == Role.LIFTED}


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
    shared = _products_used_twice(_lower(spec, trees, frozenset()))
    lowering = _lower(spec, trees, shared)
    names = lowering.names
    # Adjoints are named before anything the derivation makes up, so a variable's own adjoint keeps
    # its readable name (d_h_in for a state h_in) and an incoming adjoint of h gets the number.
    for name in lowering.variables:
        names.adjoint(name)
    for state in spec.states:
        names.incoming(state)
    return CellModel(spec, lowering.variables, tuple(lowering.assignments), names, tuple(trees))


def _lower(spec: CellSpec, trees: list[Node], shared: frozenset) -> "_Lowering":
    names = naming.Names(name for name, _ in _all_names(spec))
    variables = _declared_variables(spec, names)
    order = _dependency_order(spec, trees, variables)
    lowering = _Lowering(spec, variables, names, shared)
    for index in order:
        limits.check_deadline()
        lowering.equation(index, trees[index])
    _check_every_equation_reaches_a_state(spec, trees)
    _check_everything_used(spec, lowering)
    return lowering


def _products_used_twice(lowering: "_Lowering") -> frozenset:
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
    variables = {spec.input: Variable(spec.input, Kind.INPUT, (D,))}
    for state in spec.states:
        previous = names.prev(state)
        variables[previous] = Variable(previous, Kind.PREVIOUS, (H,), of=state)
    for param in spec.params:
        variables[param.name] = Variable(param.name, Kind.PARAM, param.shape)
    return variables


def _all_names(spec: CellSpec):
    yield spec.input, spec.input_location()
    for state in spec.states:
        yield state, spec.states_location()
    for param in spec.params:
        yield param.name, param.where
    for equation in spec.equations:
        yield equation.target, equation.where


def _dependency_order(spec: CellSpec, trees: list[Node], variables: dict[str, Variable]) -> list[int]:
    """Equation indices so that each is computed after the ones it reads (spec order on ties)."""
    defined_by = {eq.target: index for index, eq in enumerate(spec.equations)}
    needs = {}
    for index, tree in enumerate(trees):
        names = [node for node in _walk(tree) if isinstance(node, Name)]
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


def _walk(node: Node):
    yield node
    for child in (getattr(node, "left", None), getattr(node, "right", None), getattr(node, "operand", None)):
        if child is not None:
            yield from _walk(child)
    for arg in getattr(node, "args", ()):
        yield from _walk(arg)


def _check_name_exists(node: Name, spec: CellSpec, defined_by: dict, variables: dict) -> None:
    if node.name in defined_by or node.name in variables and variables[node.name].kind != Kind.PREVIOUS:
        return
    if node.name in FUNCTIONS or node.name == CONCAT:
        raise SpecNameError(node.where, f"{node.name} is a function, used here without arguments", f"a call such as {node.name}(a)")
    known = sorted(set(defined_by) | {n for n, v in variables.items() if v.kind != Kind.PREVIOUS})
    close = difflib.get_close_matches(node.name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "one of " + ", ".join(known)
    raise SpecNameError(node.where, f"unknown name {node.name!r}", f"a declared input, state, parameter or equation target ({hint})")


def _self_reference(spec: CellSpec, index: int) -> None:
    equation = spec.equations[index]
    hint = f"{equation.target}(t-1) for the previous step's value" if equation.target in spec.states else "an expression of other variables"
    raise SpecNameError(equation.where, f"{equation.target!r} is used in its own equation", hint)


def _check_everything_used(spec: CellSpec, lowering: "_Lowering") -> None:
    for param in spec.params:
        if param.name not in lowering.used:
            raise SpecNameError(param.where, f"parameter {param.name!r} is declared but never used", "every parameter used by an equation")
    if spec.input not in lowering.used:
        raise SpecNameError(spec.input_location(), f"input {spec.input!r} is never used", "an equation that reads the input")


def _check_every_equation_reaches_a_state(spec: CellSpec, trees: list[Node]) -> None:
    """An equation no state depends on (directly or through other equations) would be computed at
    every step for nothing: it is refused, as an unused parameter is, at its own line."""
    defined_by = {eq.target: index for index, eq in enumerate(spec.equations)}
    reads = [{node.name for node in _walk(tree) if isinstance(node, Name)} for tree in trees]
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


class _Lowering:
    """Converts parsed equations into assignments, checking sizes on the way."""

    def __init__(self, spec: CellSpec, variables: dict[str, Variable], names: naming.Names, shared: frozenset):
        self.spec = spec
        self.names = names
        self.shared = shared  # products W v used in several places: each becomes one cached variable
        self.variables = dict(variables)
        self.assignments: list[Assignment] = []
        self.used: set[str] = set()
        self.counts: dict[tuple[str, str], int] = {}
        self.made: dict[sp.Expr, sp.Symbol] = {}  # made-up variables by definition, so equal ones are shared

    # -- one equation --------------------------------------------------------------
    def equation(self, index: int, tree: Node) -> None:
        eq = self.spec.equations[index]
        self.index, self.target = index, eq.target
        if isinstance(tree, Call) and tree.function == CONCAT:
            expr, size = self.concat(tree, top=True)
        else:
            expr, size = self.convert(tree)
        if size is None or not expr.free_symbols:
            constant = f" (its terms cancel to {expr})" if size is not None else ""
            raise ShapeError(eq.where, f"{eq.target} is a constant{constant}", "an expression of vectors")
        kind = Kind.STATE if eq.target in self.spec.states else Kind.INTERMEDIATE
        if kind == Kind.STATE and size != H:
            raise ShapeError(eq.where, f"state {eq.target} has size {size}", "size H")
        if kind == Kind.STATE:
            self.check_per_example(expr, f"state {eq.target}", eq.where)
        if not isinstance(expr, Concat):
            expr = self.lift_nested(expr)
            expr = self.split_activation(eq.target, expr, size)
            expr = self.cache_products(expr)
        self.define(eq.target, kind, size, expr, Role.EQUATION)

    def define(self, name: str, kind: Kind, size: Dim, expr: sp.Expr, role: Role, of: str = "") -> sp.Symbol:
        """A variable `name` (a spec target, or a made-up name from self.names) defined by expr."""
        if role.made_up and expr in self.made:
            return self.made[expr]  # the same operand or application again: compute and cache it once
        if role.made_up:
            self.made[expr] = sp.Symbol(name)
        self.variables[name] = Variable(name, kind, (size,), self.index, role, of)
        self.assignments.append(Assignment(name, expr, self.index))
        if isinstance(expr, Sigmoid):
            complement = self.names.complement(name)
            self.variables[complement] = Variable(complement, Kind.INTERMEDIATE, (size,), self.index, Role.COMPLEMENT, name)
            self.assignments.append(Assignment(complement, Sigmoid(-expr.args[0]), self.index))
        return sp.Symbol(name)

    def fresh(self, family: str, *args) -> str:
        """The next made-up name of a family (operand, lifted) for the current equation's target."""
        key = (family, self.target, *args)
        self.counts[key] = self.counts.get(key, 0) + 1
        return getattr(self.names, family)(self.target, *args, self.counts[key])

    # -- expressions -----------------------------------------------------------------
    def convert(self, node: Node) -> tuple[sp.Expr, Dim | None]:
        """SymPy expression and size (None for a plain number) of a node."""
        return getattr(self, f"convert_{type(node).__name__}")(node)

    def convert_Number(self, node: Number):
        return sp.Rational(node.value.numerator, node.value.denominator), None

    def convert_Name(self, node: Name):
        variable = self.variables.get(node.name)
        if variable is None:  # defined later in spec order is impossible here: order is by dependency
            raise SpecNameError(node.where, f"unknown name {node.name!r}", "a declared name")
        if variable.is_matrix:
            raise ShapeError(node.where, f"{node.name} is a matrix, used here as a vector", f"a product such as {node.name} @ v")
        self.used.add(node.name)
        return variable.symbol, variable.shape[0]

    def convert_Previous(self, node: Previous):
        if node.name not in self.spec.states:
            raise SpecNameError(node.where, f"{node.name}(t-1): {node.name} is not a carried state",
                                "name(t-1) only for the states " + ", ".join(self.spec.states))
        variable = self.variables[self.names.prev(node.name)]
        return variable.symbol, variable.shape[0]

    def convert_Negate(self, node: Negate):
        expr, size = self.convert(node.operand)
        return -expr, size

    def convert_BinaryOp(self, node: BinaryOp):
        if node.op == "@":
            return self.matvec(node)
        left, left_size = self.convert(node.left)
        right, right_size = self.convert(node.right)
        if left_size is not None and right_size is not None and left_size != right_size:
            raise ShapeError(node.where, f"the operands of {node.op} have sizes {left_size} and {right_size}",
                             "vectors of one size (element-wise operations do not broadcast)")
        size = left_size if left_size is not None else right_size
        if node.op == "/" and right == 0:
            raise ShapeError(node.right.where, "division by zero", "a non-zero divisor")
        combine = {"+": sp.Add, "-": lambda a, b: a - b, "*": sp.Mul, "/": lambda a, b: a / b}[node.op]
        return combine(left, right), size

    def convert_Call(self, node: Call):
        if node.function == CONCAT:
            return self.concat(node, top=False)
        function = FUNCTIONS.get(node.function)
        if function is None:
            self.not_a_function(node)
        if len(node.args) != 1:
            raise SpecError(node.where, f"{node.function} takes one argument, given {len(node.args)}", f"{node.function}(a)")
        arg, size = self.convert(node.args[0])
        if size is None:
            raise ShapeError(node.where, f"{node.function} is applied to a constant", "a vector argument")
        return function(arg), size

    def not_a_function(self, node: Call):
        if node.function in self.spec.states:
            raise SpecError(node.where, f"{node.function}(...) is not a time index this language reads",
                            f"{node.function} for its value at step t, {node.function}(t-1) for the previous step")
        if node.function in self.variables or node.function in {e.target for e in self.spec.equations}:
            raise UnsupportedError(node.where, f"{node.function} is a variable, not a function", "a call to one of " + ", ".join([*FUNCTIONS, CONCAT]))
        raise SpecNameError(node.where, f"unknown function {node.function!r}", "one of " + ", ".join([*FUNCTIONS, CONCAT]))

    def matvec(self, node: BinaryOp):
        if not isinstance(node.left, Name) or not self.variables.get(node.left.name, Variable("", Kind.INPUT, ())).is_matrix:
            raise ShapeError(node.where, "the left operand of @ is not a matrix parameter", "W @ v with W declared with two sizes")
        matrix = self.variables[node.left.name]
        vector, size = self.operand(node.right)
        if size != matrix.shape[1]:
            raise ShapeError(node.where, f"{matrix.name} has {matrix.shape[1]} columns but its operand has size {size}",
                             f"an operand of size {matrix.shape[1]}")
        self.used.add(matrix.name)
        return MatVec(matrix.symbol, vector), matrix.shape[0]

    def concat(self, node: Call, top: bool):
        if len(node.args) < 2:
            raise SpecError(node.where, f"concat of {len(node.args)} vector(s)", "concat(a, b, ...) of two or more vectors")
        parts, size = [], Dim()
        for arg in node.args:
            part, part_size = self.operand(arg)
            parts.append(part)
            size += part_size
        expr = Concat(*parts)
        if top:
            return expr, size
        return self.define(self.fresh("operand"), Kind.INTERMEDIATE, size, expr, Role.OPERAND), size

    def operand(self, node: Node) -> tuple[sp.Symbol, Dim]:
        """A plain variable for the operand of @ or concat; a compound one gets its own name."""
        expr, size = self.convert(node)
        if size is None:
            raise ShapeError(node.where, "a constant used as a vector operand", "a vector")
        self.check_per_example(expr, "the operand", node.where)
        if isinstance(expr, sp.Symbol):
            return expr, size
        expr = self.cache_products(self.lift_nested(expr)) if not isinstance(expr, Concat) else expr
        if isinstance(expr, sp.Symbol):  # a shared product, already a variable
            return expr, size
        return self.define(self.fresh("operand"), Kind.INTERMEDIATE, size, expr, Role.OPERAND), size

    def check_per_example(self, expr: sp.Expr, what: str, where: Location) -> None:
        """Products, stacking and states need a row per example: refuse what depends on parameters alone."""
        if not self.reads_data(expr):
            raise ShapeError(where, f"{what} depends on parameters alone, so it is one vector for every example and step",
                             "an expression that reads the input or a state (a constant vector can be a parameter itself)")

    def reads_data(self, expr: sp.Expr) -> bool:
        """True if expr depends on the input or a state, directly or through intermediates."""
        definitions = {a.target: a.expr for a in self.assignments}
        for symbol in expr.free_symbols:
            variable = self.variables[str(symbol)]
            if variable.kind in (Kind.INPUT, Kind.PREVIOUS, Kind.STATE):
                return True
            if variable.kind == Kind.INTERMEDIATE and self.reads_data(definitions[variable.name]):
                return True
        return any(self.reads_data(product.args[1]) for product in expr.atoms(MatVec))

    # -- lowering rules --------------------------------------------------------------
    def lift_nested(self, expr: sp.Expr) -> sp.Expr:
        """Give each function application below the top its own variable, so the backward pass
        reads its value (tanh(c) in h = o * tanh(c)) from the cache instead of computing it again."""
        top = expr if isinstance(expr, Elementwise) else None
        replacements = {}
        for application in sorted(expr.atoms(Elementwise), key=sp.default_sort_key):
            if application is top:
                continue
            name = self.fresh("lifted", type(application).__name__.lower())
            size = self.size_of(application.args[0])
            if _is_simple(application.args[0]):
                # A value to cache, not a step of the chain rule: the equation keeps tanh(c), and
                # code and derivatives read the cached variable (CellModel.cached_values).
                self.define(name, Kind.INTERMEDIATE, size, application, Role.LIFTED)
                continue
            inner = self.split_activation(name, self.lift_nested(application), size)
            replacements[application] = self.define(name, Kind.INTERMEDIATE, size, self.cache_products(inner), Role.LIFTED)
        return expr.xreplace(replacements) if replacements else expr

    def split_activation(self, name: str, expr: sp.Expr, size: Dim) -> sp.Expr:
        """v = F(a) with a compound a becomes v_pre = a; v = F(v_pre)."""
        if not isinstance(expr, Elementwise) or _is_simple(expr.args[0]):
            return expr
        argument = self.cache_products(expr.args[0])
        argument = self.made.get(argument, argument)  # a value a made-up variable holds already: no copy
        if isinstance(argument, sp.Symbol):
            return type(expr)(argument)
        pre = self.define(self.names.pre(name), Kind.INTERMEDIATE, size, argument, Role.PRE, name)
        return type(expr)(pre)

    def cache_products(self, expr: sp.Expr) -> sp.Expr:
        """Products W v that the backward pass needs the value of become cached variables."""
        products = sorted(expr.atoms(MatVec), key=sp.default_sort_key)
        if not products:
            return expr
        stand_ins = {p: sp.Dummy() for p in products}
        flat = expr.xreplace(stand_ins)
        atoms = sorted(flat.free_symbols, key=sp.default_sort_key)
        replacements = {}
        for product, stand_in in stand_ins.items():
            if product in self.shared or any(stand_in in sp.diff(flat, atom).free_symbols for atom in atoms):
                matrix, vector = product.args
                name = self.names.product(str(matrix), str(vector))
                replacements[product] = self.define(name, Kind.INTERMEDIATE, self.variables[str(matrix)].shape[0], product, Role.PRODUCT)
        return expr.xreplace(replacements) if replacements else expr

    def size_of(self, expr: sp.Expr) -> Dim:
        """The size of an element-wise expression: any vector in it outside a product, else a product's rows."""
        products = sorted(expr.atoms(MatVec), key=sp.default_sort_key)
        outside = expr.xreplace({p: sp.Dummy() for p in products})
        for symbol in sorted(outside.free_symbols, key=sp.default_sort_key):
            if symbol.name in self.variables:
                return self.variables[symbol.name].shape[0]
        return self.variables[str(products[0].args[0])].shape[0]


def _is_simple(expr: sp.Expr) -> bool:
    return isinstance(expr, (sp.Symbol, sp.Number))
