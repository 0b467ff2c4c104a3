"""The spec's equations as the user wrote them, for the documents.

The model's SymPy expressions are canonical (SymPy orders terms and factors its own way, and
lowering splits out made-up variables); a reader of a post wants back the equations they wrote:
`s(t) = g(t) * i(t) + s(t-1) * f(t)`, not `f(t) * s(t-1) + g(t) * i(t)`. Here each parsed equation
becomes an unevaluated SymPy expression that keeps the spec's order of terms and factors, in the
model's symbols, so the same printers (and their one rule for parentheses) print it.
"""
from __future__ import annotations

import sympy as sp

from .functions import CONCAT, FUNCTIONS, Concat, Identity, MatVec
from .model import CellModel
from .parse import BinaryOp, Call, Name, Negate, Node, Number, Previous
from .blocks import BLOCK, BlockOf
from .dims import ONE, Dim
from .reductions import REDUCTIONS


def written(model: CellModel, tree: Node, suffix: str = "") -> sp.Expr:
    """An equation's right-hand side in spec order (printers keep the order of unevaluated sums and
    products); suffix is added to every symbol (notation.NEXT reads the equation one step later)."""
    return _Writer(model, suffix).convert(tree)


def written_equations(model: CellModel, suffix: str = "") -> dict[str, sp.Expr]:
    """Each spec equation's target -> its right-hand side as written."""
    return {eq.target: written(model, tree, suffix) for eq, tree in zip(model.spec.equations, model.trees)}


def written_pre_activation(model: CellModel, target: str) -> sp.Expr | None:
    """The argument of a spec equation's top-level activation, as written (None if it has none)."""
    tree = model.trees[[eq.target for eq in model.spec.equations].index(target)]
    if isinstance(tree, Call) and tree.function in FUNCTIONS and len(tree.args) == 1:
        return written(model, tree.args[0])
    return None


class _Writer:
    def __init__(self, model: CellModel, suffix: str):
        self.model = model
        self.suffix = suffix

    def symbol(self, name: str) -> sp.Symbol:
        return sp.Symbol(name + self.suffix)

    def convert(self, node: Node) -> sp.Expr:
        return getattr(self, f"convert_{type(node).__name__}")(node)

    def size(self, expr: sp.Expr) -> Dim:
        """The size of a written vector expression, read off the model's variables (the model has
        checked it): a variable's own, a product's rows, a stack's parts summed."""
        if isinstance(expr, sp.Symbol):
            return self.model.variables[expr.name.removesuffix(self.suffix)].shape[0]
        if isinstance(expr, MatVec):
            return self.model.variables[str(expr.args[0])].shape[0]
        if isinstance(expr, Concat):
            return sum((self.size(part) for part in expr.args), Dim())
        sizes = [self.size(arg) for arg in expr.args if arg.free_symbols]
        return next((size for size in sizes if size != ONE), ONE)

    def convert_Number(self, node: Number):
        return sp.Rational(node.value.numerator, node.value.denominator)

    def convert_Name(self, node: Name):
        return self.symbol(node.name)

    def convert_Previous(self, node: Previous):
        return self.symbol(self.model.names.prev(node.name))

    def convert_Negate(self, node: Negate):
        return sp.Mul(sp.S.NegativeOne, self.convert(node.operand), evaluate=False)

    def convert_BinaryOp(self, node: BinaryOp):
        if node.op == "@":
            return MatVec(sp.Symbol(node.left.name), self.convert(node.right))  # a parameter has no time
        left, right = self.convert(node.left), self.convert(node.right)
        if node.op == "+":
            return sp.Add(left, right, evaluate=False)
        if node.op == "-":
            return sp.Add(left, sp.Mul(sp.S.NegativeOne, right, evaluate=False), evaluate=False)
        if node.op == "*":
            return sp.Mul(left, right, evaluate=False)
        if node.op == "**":
            return sp.Pow(left, right, evaluate=False)
        return sp.Mul(left, sp.Pow(right, sp.S.NegativeOne, evaluate=False), evaluate=False)

    def convert_Call(self, node: Call):
        args = [self.convert(arg) for arg in node.args]
        if node.function == CONCAT:
            return Concat(*args)
        if node.function in REDUCTIONS:
            return REDUCTIONS[node.function](*args)
        if node.function == BLOCK:
            vector, index, count = args[0], int(node.args[1].value), int(node.args[2].value)
            part = self.size(vector).divided(count).symbolic
            return BlockOf(vector, index, count, part * index, part * (index + 1))
        if FUNCTIONS[node.function] is Identity:
            return args[0]  # identity(a) is a itself, as in the model
        return FUNCTIONS[node.function](*args, evaluate=False)
