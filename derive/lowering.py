"""The lowering rules: one converted equation becomes the assignments the derivation works with.

- the argument of a top-level activation becomes its own pre-activation variable (g_pre);
- a function applied inside an equation (tanh(c) in o * tanh(c)) gets its own cached variable;
- operands of @ and concat that are not plain variables get their own variable;
- a product W v whose value the backward pass needs (say r * (W v)) is cached;
- a mean or sum over units inside an equation (z - mean(z)) gets its own variable, and so does a
  block of a stacked vector (sigmoid(block(a, 0, 4))).
Each rule adds variables with made-up names (from naming), and two made-up variables with one
definition are one variable: it is computed and cached once. Conversion and size checks are the
Converter's (convert.py), which this class extends with the rules.
"""
from __future__ import annotations

import sympy as sp

from . import naming
from .convert import Converter
from .dims import ONE, H, Dim
from .errors import ShapeError
from .functions import CONCAT, Concat, Elementwise, MatVec, Sigmoid, spelled
from .parse import Call, Node
from .blocks import BLOCK, BlockOf
from .reductions import REDUCTIONS, Reduction
from .spec import CellSpec
from .step import Assignment, Kind, Role, Variable


class Lowering(Converter):
    """Converts parsed equations into assignments, checking sizes on the way."""

    def __init__(self, spec: CellSpec, variables: dict[str, Variable], names: naming.Names, shared: frozenset):
        super().__init__(spec, variables, names)
        self.shared = shared  # products W v used in several places: each becomes one cached variable
        self.made: dict[sp.Expr, sp.Symbol] = {}  # made-up variables by definition, so equal ones are shared

    # -- one equation --------------------------------------------------------------
    def equation(self, index: int, tree: Node) -> None:
        eq = self.spec.equations[index]
        self.index, self.target = index, eq.target
        if isinstance(tree, Call) and tree.function == CONCAT:
            expr, size = self.concat(tree, top=True)
        elif isinstance(tree, Call) and tree.function in REDUCTIONS:
            expr, size = self.reduction(tree, top=True)
        elif isinstance(tree, Call) and tree.function == BLOCK:
            expr, size = self.block(tree, top=True)
        else:
            expr, size = self.convert(tree)
        if size is None or not expr.free_symbols:
            constant = f" (its terms cancel to {expr})" if size is not None else ""
            raise ShapeError(eq.where, f"{eq.target} is a constant{constant}", "an expression of vectors")
        kind = Kind.STATE if eq.target in self.spec.states else Kind.INTERMEDIATE
        if kind == Kind.STATE and size != self.spec.size_of(eq.target):
            declared = self.spec.size_of(eq.target)
            raise ShapeError(eq.where, f"state {eq.target} has size {size}",
                             f"size {declared}, as declared in states" + (" (write \"name: SIZE\" there for another size)" if declared == H else ""))
        if kind == Kind.STATE:
            self.check_per_example(expr, f"state {eq.target}", eq.where)
        if not isinstance(expr, (Concat, Reduction, BlockOf)):
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

    # -- lowering rules --------------------------------------------------------------
    def operand_variable(self, expr: sp.Expr, size: Dim) -> sp.Symbol:
        """A compound operand of @ or concat gets its own variable (a shared product already is one)."""
        expr = self.cache_products(self.lift_nested(expr)) if not isinstance(expr, Concat) else expr
        if isinstance(expr, sp.Symbol):  # a shared product, already a variable
            return expr
        name = self.names.operand(self.target)
        if isinstance(expr, Elementwise):  # split as a lifted application is: the same application elsewhere is this variable
            expr = self.cache_products(self.split_activation(name, expr, size))
        return self.define(name, Kind.INTERMEDIATE, size, expr, Role.OPERAND)

    def reduction_variable(self, expr: sp.Expr, function: str) -> sp.Symbol:
        """mean(v) inside an equation gets its own variable (n_mean): to the chain rule a value like
        any other, which receives the sum of what its uses send, and sends back its own rule."""
        return self.define(self.names.lifted(self.target, function), Kind.INTERMEDIATE, ONE, expr, Role.REDUCTION)

    def block_variable(self, expr: sp.Expr) -> sp.Symbol:
        """block(a, 0, 4) inside an equation gets its own variable (f_block): a view of a's rows."""
        size = self.variables[str(expr.args[0])].shape[0].divided(int(expr.args[2]))
        return self.define(self.names.lifted(self.target, BLOCK), Kind.INTERMEDIATE, size, expr, Role.BLOCK)

    def lift_nested(self, expr: sp.Expr) -> sp.Expr:
        """Give each function application below the top its own variable, so the backward pass
        reads its value (tanh(c) in h = o * tanh(c)) from the cache instead of computing it again."""
        top = expr if isinstance(expr, Elementwise) else None
        replacements = {}
        for application in sorted(expr.atoms(Elementwise), key=sp.default_sort_key):
            if application is top:
                continue
            name = self.names.lifted(self.target, spelled(type(application)))
            size = self.size_of(application)
            if all(_is_simple(arg) for arg in application.args):
                # A value to cache, not a step of the chain rule: the equation keeps tanh(c), and
                # code and derivatives read the cached variable (CellModel.cached_values).
                self.define(name, Kind.INTERMEDIATE, size, application, Role.LIFTED)
                continue
            inner = self.split_activation(name, self.lift_nested(application), size)
            replacements[application] = self.define(name, Kind.INTERMEDIATE, size, self.cache_products(inner), Role.LIFTED)
        return expr.xreplace(replacements) if replacements else expr

    def split_activation(self, name: str, expr: sp.Expr, size: Dim) -> sp.Expr:
        """v = F(a) with a compound a becomes v_pre = a; v = F(v_pre). A function of two arguments keeps
        them (neither is a pre-activation), but reads one a made-up variable holds already from it."""
        if isinstance(expr, Elementwise) and len(expr.args) > 1:
            return type(expr)(*(self.made.get(arg, arg) for arg in expr.args))
        if not isinstance(expr, Elementwise) or _is_simple(expr.args[0]):
            return expr
        argument = self.cache_products(expr.args[0])
        argument = self.made.get(argument, argument)  # a value a made-up variable holds already: no copy
        if isinstance(argument, sp.Symbol):
            return type(expr)(argument)
        pre = self.define(self.names.pre(name), Kind.INTERMEDIATE, size, argument, Role.PRE, name)
        if name != self.target:  # the argument of a made-up variable prints as its definition: one variable per definition
            self.made[argument] = pre
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


def _is_simple(expr: sp.Expr) -> bool:
    return isinstance(expr, (sp.Symbol, sp.Number))
