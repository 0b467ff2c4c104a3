"""A hand-written backward equation to SymPy, in the derivation's own symbols and operations.

The right-hand side of `d_s = d_h * o + d_s(t+1) * f(t+1)` reads, besides the forward pass's names:
- the adjoints of the derivation, by the names the generated code gives them (d_s, d_o_pre, d_xc,
  d_s_prev, d_W_g), at step t or, written name(t+1), at step t+1 (Symbol("d_s@next"), as the
  documents' own "what arrives from step t+1" is written);
- dl_h, the loss at step t's own part of dL/dh(t) (h the output);
- any forward value at step t+1, f(t+1), and a state at t-1, s(t-1);
- W.T @ d (MatVecT), outer(d, v) or d @ v.T (Outer: a weight's gradient, one step's term) and
  part(d_xc, h(t-1)) (the block of a stacked vector's adjoint that belongs to h(t-1)).
Sizes are checked as the forward language checks them (the Converter's rules), so a W @ d that
should be W.T @ d is refused at its place with the sizes, never evaluated.
"""
from __future__ import annotations

import sympy as sp

from .convert import Converter
from .derivation import AdjointLine, Derivation, LineRole, Product
from .dims import ONE, Dim, SizeSymbol
from .errors import Location, ShapeError, SpecError, SpecNameError
from .elementwise import DERIVATIVE_FUNCTIONS
from .functions import Block, Concat, MatVecT, Outer, arity
from .model import Kind, Role
from .notation import LOSS, NEXT
from .parse import BinaryOp, Call, Name, Next, Previous, Transposed, parse_expression
from .spec import EquationSpec


def loss_names(derivation: Derivation) -> dict[str, str]:
    """What a backward pass writes for the loss at step t's part of the output's adjoint: dl_h -> d_h@loss."""
    output = derivation.model.spec.output
    return {f"dl_{output}": derivation.model.names.adjoint(output) + LOSS}


def adjoint_listing(derivation: Derivation) -> str:
    """The names a backward pass of this cell may define and read, for messages."""
    names = ", ".join(line.target.name for line in derivation.lines)
    return f"{names}; and {next(iter(loss_names(derivation)))} for the loss at step t"


def line_shape(derivation: Derivation, line: AdjointLine) -> tuple[Dim, ...]:
    """The shape of an adjoint: its variable's (a parameter's for a gradient; a product W v's is W's rows)."""
    variables = derivation.model.variables
    if isinstance(line.about, Product):
        return variables[line.about.matrix].shape[:1]
    return variables[line.about].shape


def convert_hand_line(derivation: Derivation, equation: EquationSpec) -> tuple[AdjointLine, sp.Expr]:
    """A hand-written `adjoint = expression`: the derived line it is about, and its right side in SymPy."""
    lines = {line.target.name: line for line in derivation.lines}
    target_where = Location(equation.where.path, equation.where.line)
    if equation.target not in lines:
        raise SpecNameError(target_where, f"{equation.target!r} is not an adjoint of cell {derivation.model.spec.name!r}",
                            f"one of its adjoints: {adjoint_listing(derivation)}")
    line = lines[equation.target]
    tree = parse_expression(equation.expression, equation.where, backward=True)
    expr, size = _HandConverter(derivation, line).convert(tree)
    shape = line_shape(derivation, line)
    expected = shape if len(shape) == 2 else shape[0]
    if size is not None and size != expected and not (size == ONE and len(shape) == 1):  # a size-1 value is broadcast
        raise ShapeError(equation.where, f"{equation.target} has size {_size_text(expected)}, its right side {_size_text(size)}",
                         f"a right side of size {_size_text(expected)}")
    return line, expr


def _size_text(size) -> str:
    return " x ".join(str(part) for part in size) if isinstance(size, tuple) else str(size)


class _HandConverter(Converter):
    """The forward language's converter, reading adjoints, step t+1, W.T, outer and part besides."""

    def __init__(self, derivation: Derivation, line: AdjointLine):
        model = derivation.model
        super().__init__(model.spec, model.variables, model.names)
        self.derivation = derivation
        self.line = line  # the line being written: an outer product is its parameter's gradient
        self.adjoints = {adjoint.target.name: adjoint for adjoint in derivation.lines}
        self.loss = loss_names(derivation)

    # -- a compound operand stays inline: a backward equation names nothing of its own --------------
    def operand_variable(self, expr, size):
        return expr

    def reduction_variable(self, expr, function):
        return expr

    def block_variable(self, expr):
        return expr

    def check_per_example(self, expr, what, where):
        pass  # an adjoint always has a row per example

    # -- names -----------------------------------------------------------------------------------
    def convert_Name(self, node: Name):
        if node.name in self.loss:
            return sp.Symbol(self.loss[node.name]), self.variables[self.spec.output].shape[0]
        if node.name in self.adjoints:
            return self.adjoint(node.name, node.where, "")
        if node.name in self.spec.sizes and node.name not in self.variables:  # d_m / H: a mean's adjoint spread
            return SizeSymbol(node.name), None
        if node.name not in self.variables:
            self.unknown(node.name, node.where)
        return super().convert_Name(node)

    def convert_Next(self, node: Next):
        if node.name in self.adjoints:
            return self.adjoint(node.name, node.where, NEXT)
        variable = self.variables.get(node.name)
        if variable is None:
            self.unknown(node.name, node.where)
        if variable.kind == Kind.PARAM:
            raise SpecError(node.where, f"{node.name} is a parameter, the same at every step", f"{node.name} without a time index")
        return sp.Symbol(node.name + NEXT), variable.shape[0]

    def convert_Previous(self, node: Previous):
        if node.name in self.adjoints:
            raise SpecError(node.where, f"{node.name}(t-1) is computed after step t's backward step",
                            f"adjoints at step t ({node.name}) or t+1 ({node.name}(t+1))")
        return super().convert_Previous(node)

    def convert_Transposed(self, node: Transposed):
        raise ShapeError(node.where, f"{node.name}.T stands alone", f"{node.name}.T @ d for a matrix parameter, or d @ {node.name}.T for an outer product")

    def adjoint(self, name: str, where: Location, suffix: str):
        line = self.adjoints[name]
        if line.role == LineRole.PARAM:
            raise SpecError(where, f"{name} is a parameter's gradient; no other adjoint reads it", "the adjoints of vectors")
        return sp.Symbol(name + suffix), line_shape(self.derivation, line)[0]

    def unknown(self, name: str, where: Location):
        forward = ", ".join(v.name for v in self.variables.values() if v.role in (Role.DECLARED, Role.EQUATION) and v.kind != Kind.PREVIOUS)
        raise SpecNameError(where, f"unknown name {name!r}", f"a value of the forward pass ({forward}, or one derive made up "
                            f"such as a pre-activation g_pre) or an adjoint ({adjoint_listing(self.derivation)})")

    # -- products: W @ v, W.T @ d, d @ v.T ---------------------------------------------------------
    def matvec(self, node: BinaryOp):
        if isinstance(node.left, Transposed):
            matrix = self.matrix(node.left.name, node.where)
            vector, size = self.convert(node.right)
            if size != matrix.shape[0]:
                raise ShapeError(node.where, f"{matrix.name}.T has {matrix.shape[0]} columns but its operand has size {size}",
                                 f"an operand of size {matrix.shape[0]}")
            return MatVecT(matrix.symbol, vector), matrix.shape[1]
        if isinstance(node.right, Transposed):
            return self.outer(node.left, Name(node.right.name, node.right.where), node.where)
        try:
            return super().matvec(node)
        except ShapeError as error:
            matrix = self.variables.get(node.left.name) if isinstance(node.left, Name) else None
            if matrix is None or not matrix.is_matrix or self.convert(node.right)[1] != matrix.shape[0]:
                raise
            raise ShapeError(error.where, error.problem, f"{matrix.name}.T @ ...: the transpose carries an adjoint back") from None

    def matrix(self, name: str, where: Location):
        variable = self.variables.get(name)
        if variable is None or not variable.is_matrix:
            raise ShapeError(where, f"{name} is not a matrix parameter", "W.T @ d with W declared with two sizes")
        return variable

    def outer(self, left, right, where: Location):
        """d v^T, summed over the batch: one step's term of a weight's gradient (the line's own)."""
        if self.line.role != LineRole.PARAM or len(line_shape(self.derivation, self.line)) != 2:
            raise ShapeError(where, "an outer product is a weight's gradient", "outer(d, v) only in a line d_W = ... for a matrix W")
        (adjoint, rows), (vector, columns) = self.convert(left), self.convert(right)
        return Outer(adjoint, vector, sp.Symbol(self.line.about)), (rows, columns)

    def convert_Call(self, node: Call):
        if node.function == "outer":
            if len(node.args) != 2:
                raise SpecError(node.where, f"outer takes two arguments, given {len(node.args)}", "outer(d, v)")
            return self.outer(*node.args, node.where)
        if node.function == "part":
            return self.part(node)
        if node.function in DERIVATIVE_FUNCTIONS:
            arguments = [self.convert(arg) for arg in node.args]
            function = DERIVATIVE_FUNCTIONS[node.function]
            if len(arguments) != arity(function):
                raise SpecError(node.where, f"{node.function} takes {arity(function)} argument(s), given {len(arguments)}",
                                f"{node.function}({', '.join('ab'[:arity(function)])})")
            sizes = [size for _, size in arguments if size is not None]
            return function(*(expr for expr, _ in arguments)), (sizes[0] if sizes else None)
        return super().convert_Call(node)

    # -- part(d_xc, h(t-1)): the block of a stacked vector's adjoint that belongs to one of its parts --
    def part(self, node: Call):
        if len(node.args) != 2 or not isinstance(node.args[1], (Name, Previous)):
            raise SpecError(node.where, "part takes an adjoint and a part's name", PART_EXPECTED)
        adjoint, _size = self.convert(node.args[0])
        written = node.args[1]
        exact = self.names.prev(written.name) if isinstance(written, Previous) else written.name
        return block_of(self.derivation, adjoint, written.name, exact, node.where)


PART_EXPECTED = "part(d_xc, h(t-1)): an adjoint of a vector made by concat, and one of its parts"


def block_of(derivation: Derivation, adjoint: sp.Expr, name: str, exact: str, where: Location) -> tuple[Block, Dim]:
    """The block of a stacked vector's adjoint (d_xc, or d_xc at t+1) that belongs to the part written `name`
    (x, h; exact: its spec form's variable, h_prev for h(t-1)), and its size. The stacked vector's parts are
    all different names, so a name with or without its time index points at one."""
    variables = derivation.model.variables
    base, _, suffix = adjoint.name.partition("@") if isinstance(adjoint, sp.Symbol) else ("", "", "")
    line = next((line for line in derivation.lines if line.target.name == base and not isinstance(line.about, Product)), None)
    stacked = next((a.expr for a in derivation.model.assignments if line and a.target == line.about), None)
    if type(stacked) is not Concat:
        raise SpecError(where, "the first argument of part is not the adjoint of a stacked vector", PART_EXPECTED)
    parts = list(stacked.args)
    found = [p for p in parts if p.name == exact] or [p for p in parts if variables[p.name].of == name]
    if len(found) != 1:
        shown = ", ".join(f"{variables[p.name].of}(t-1)" if variables[p.name].kind == Kind.PREVIOUS else p.name for p in parts)
        raise SpecError(where, f"{name} is not one of the stacked parts", f"one of {shown}")
    chosen = found[0]
    start = sum((variables[p.name].shape[0].symbolic for p in parts[:parts.index(chosen)]), sp.S.Zero)
    size = variables[chosen.name].shape[0]
    label = sp.Symbol(chosen.name + (f"@{suffix}" if suffix else ""))
    return Block(adjoint, start, start + size.symbolic, label), size
