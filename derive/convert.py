"""Parsed expressions to SymPy, with their sizes checked: the Converter.

Each node of an equation's tree becomes a SymPy expression and a size (a Dim, or None for a plain
number), and every mistake of size or name is refused at the node it is about: operands of + of two
sizes, a matrix used as a vector, a product whose operand has the wrong size, a function that does not
exist. Conversion adds no variables of its own except a compound operand of @ or concat, which needs
a name; that one variable it asks of the lowering (operand_variable), which subclasses the Converter.
"""
from __future__ import annotations

import sympy as sp

from . import naming
from .dims import ONE, Dim
from .errors import Location, ShapeError, SpecError, SpecNameError, UnsupportedError
from .blocks import BLOCK, BlockOf
from .calls import CALLABLE
from .functions import CONCAT, FUNCTIONS, Concat, MatVec, arity, read_names
from .parse import BinaryOp, Call, Name, Negate, Node, Number, Previous
from .spec import CellSpec
from .reductions import REDUCTIONS
from .step import Assignment, Kind, Variable


class Converter:
    """Converts parsed nodes into SymPy expressions and sizes, checking sizes on the way."""

    def __init__(self, spec: CellSpec, variables: dict[str, Variable], names: naming.Names):
        self.spec = spec
        self.names = names
        self.variables = dict(variables)  # every name of the step so far: the declared ones, then each one defined
        self.assignments: list[Assignment] = []  # the step so far, in order
        self.used: set[str] = set()  # the declared names some equation reads (an unused parameter is refused)

    def operand_variable(self, expr: sp.Expr, size: Dim) -> sp.Symbol:
        """The variable holding a compound operand of @ or concat: a lowering rule (lowering.Lowering)."""
        raise NotImplementedError

    def block_variable(self, expr: sp.Expr) -> sp.Symbol:
        """The variable holding block(v, i, n) inside an equation: a lowering rule (lowering.Lowering)."""
        raise NotImplementedError

    def reduction_variable(self, expr: sp.Expr, function: str) -> sp.Symbol:
        """The variable holding mean(v) or sum(v) inside an equation: a lowering rule (lowering.Lowering)."""
        raise NotImplementedError

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
        size = broadcast_size(left_size, right_size)
        if size is False:
            raise ShapeError(node.where, f"the operands of {node.op} have sizes {left_size} and {right_size}",
                             "vectors of one size, or one of size 1 such as mean(v) (it is broadcast)" + _equal_hint(left_size, right_size))
        if node.op == "/" and right == 0:
            raise ShapeError(node.right.where, "division by zero", "a non-zero divisor")
        if node.op == "**" and left.is_Rational:
            check_constant_power(left, int(right), node.where)
        combine = {"+": sp.Add, "-": lambda a, b: a - b, "*": sp.Mul, "/": lambda a, b: a / b, "**": sp.Pow}[node.op]
        return combine(left, right), size

    def convert_Call(self, node: Call):
        if node.function == CONCAT:
            return self.concat(node, top=False)
        if node.function in REDUCTIONS:
            return self.reduction(node, top=False)
        if node.function == BLOCK:
            return self.block(node, top=False)
        function = FUNCTIONS.get(node.function)
        if function is None:
            self.not_a_function(node)
        count = arity(function)
        if len(node.args) != count:
            written = ("one argument", f"{node.function}(a)") if count == 1 else ("two arguments", f"{node.function}(a, b)")
            raise SpecError(node.where, f"{node.function} takes {written[0]}, given {len(node.args)}", written[1])
        converted = [self.convert(arg) for arg in node.args]
        sizes = [size for _, size in converted if size is not None]
        if not sizes or all(expr.is_Number for expr, _ in converted):  # tanh(2), or tanh(h - h): its terms cancel
            what = ("a constant" if count == 1 else "constants only") + (" (its terms cancel)" if sizes else "")
            raise ShapeError(node.where, f"{node.function} is applied to {what}", "a vector argument")
        size = broadcast_size(*sizes) if len(sizes) == 2 else sizes[0]
        if size is False:
            raise ShapeError(node.where, f"the arguments of {node.function} have sizes {sizes[0]} and {sizes[1]}",
                             "vectors of one size, a vector and a number, or one of size 1 such as mean(v) (it is broadcast)"
                             + _equal_hint(*sizes))
        return function(*(expr for expr, _ in converted)), size

    def not_a_function(self, node: Call):
        if node.function in self.spec.states:
            raise SpecError(node.where, f"{node.function}(...) is not a time index this language reads",
                            f"{node.function} for its value at step t, {node.function}(t-1) for the previous step")
        if node.function in self.variables or node.function in {e.target for e in self.spec.equations}:
            raise UnsupportedError(node.where, f"{node.function} is a variable, not a function", "a call to one of " + ", ".join(CALLABLE))
        raise SpecNameError(node.where, f"unknown function {node.function!r}", "one of " + ", ".join(CALLABLE))

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
        """concat(a, b, ...): the whole right-hand side of an equation (top), else an operand with its own variable."""
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
        return self.operand_variable(expr, size), size

    def reduction(self, node: Call, top: bool):
        """mean(v) or sum(v): one number per example (size 1); the whole right-hand side of an
        equation (top), else a value with its own variable, so the chain rule sees it as one."""
        if len(node.args) != 1:
            raise SpecError(node.where, f"{node.function} takes one argument, given {len(node.args)}", f"{node.function}(v)")
        vector, _size = self.operand(node.args[0])
        expr = REDUCTIONS[node.function](vector)
        return (expr if top else self.reduction_variable(expr, node.function)), ONE

    def block(self, node: Call, top: bool):
        """block(v, i, n): the i-th (from 0) of n equal blocks of v; the whole right-hand side of an
        equation (top), else a value with its own variable."""
        expected = "block(v, i, n): the i-th of n equal blocks of v, i from 0 to n - 1, e.g. block(a, 0, 4)"
        if len(node.args) != 3 or not all(isinstance(arg, Number) for arg in node.args[1:]):
            raise SpecError(node.where, "block takes a vector and two whole numbers", expected)
        index, count = (arg.value for arg in node.args[1:])
        if index.denominator != 1 or count.denominator != 1 or not 0 <= index < count or count < 2:
            raise SpecError(node.where, f"block {index} of {count}", expected)
        vector, size = self.operand(node.args[0])
        part = size.divided(int(count))
        if part is None:
            raise ShapeError(node.where, f"{vector} has size {size}, which does not split into {count} equal blocks",
                             f"a vector whose size divides by {count}, such as {count}*H")
        start, stop = (part.symbolic * k for k in (int(index), int(index) + 1))
        expr = BlockOf(vector, int(index), int(count), start, stop)
        return (expr if top else self.block_variable(expr)), part

    def operand(self, node: Node) -> tuple[sp.Symbol, Dim]:
        """A plain variable for the operand of @ or concat; a compound one gets its own name."""
        expr, size = self.convert(node)
        if size is None:
            raise ShapeError(node.where, "a constant used as a vector operand", "a vector")
        self.check_per_example(expr, "the operand", node.where)
        if isinstance(expr, sp.Symbol):
            return expr, size
        return self.operand_variable(expr, size), size

    def check_per_example(self, expr: sp.Expr, what: str, where: Location) -> None:
        """Products, stacking and states need a row per example: refuse what depends on parameters alone."""
        if not self.reads_data(expr):
            raise ShapeError(where, f"{what} depends on parameters alone, so it is one vector for every example and step",
                             "an expression that reads the input or a state (a constant vector can be a parameter itself)")

    def reads_data(self, expr: sp.Expr) -> bool:
        """True if expr depends on the input or a state, directly or through intermediates."""
        definitions = {a.target: a.expr for a in self.assignments}
        for name in sorted(read_names(expr)):
            variable = self.variables[name]
            if variable.kind in (Kind.INPUT, Kind.PREVIOUS, Kind.STATE):
                return True
            if variable.kind == Kind.INTERMEDIATE and self.reads_data(definitions[variable.name]):
                return True
        return any(self.reads_data(product.args[1]) for product in expr.atoms(MatVec))

    def size_of(self, expr: sp.Expr) -> Dim:
        """The size of an element-wise expression: any vector in it outside a product, else a product's rows."""
        products = sorted(expr.atoms(MatVec), key=sp.default_sort_key)
        outside = expr.xreplace({p: sp.Dummy() for p in products})
        sizes = [self.variables[s.name].shape[0] for s in sorted(outside.free_symbols, key=sp.default_sort_key) if s.name in self.variables]
        sizes += [self.variables[str(p.args[0])].shape[0] for p in products]
        return next((size for size in sizes if size != ONE), ONE)  # a size-1 value is broadcast


MAX_CONSTANT_BITS = 256  # a constant the spec computes, numerator and denominator, stays within 2^256 each


def check_constant_power(base: sp.Rational, exponent: int, where: Location) -> None:
    """A number raised to a power is computed exactly, so ((10 ** 6) ** 8) ** 8 ... nested would need
    billions of digits: a constant power beyond MAX_CONSTANT_BITS is refused before it is computed."""
    bits = max(abs(base.p).bit_length(), base.q.bit_length()) * exponent
    if bits > MAX_CONSTANT_BITS:
        raise UnsupportedError(where, f"the constant {base} ** {exponent} has about {bits} bits", "a constant within 2^256, "
                         "such as one written as a number")


def broadcast_size(left: Dim | None, right: Dim | None) -> Dim | None | bool:
    """The size of an element-wise operation's result (None for two numbers), or False if the
    operands cannot meet: equal sizes, a number with anything, and a size-1 value with any vector."""
    if left is None or left == ONE:
        return right if right is not None else left
    if right is None or right == ONE or right == left:
        return left
    return False


def _equal_hint(left: Dim, right: Dim) -> str:
    """For two sizes that are each one size alone (D and H): how a spec says they are equal."""
    if len(left.counts) == len(right.counts) == 1 and not left.const and not right.const and left.counts[0][1] == right.counts[0][1]:
        renamed, kept = sorted((left.names[0], right.names[0]), key=lambda name: (name == "H", name))  # keep H
        return f"; if {renamed} always equals {kept} in this cell, declare it: sizes = [\"{renamed} = {kept}\"]"
    return ""
