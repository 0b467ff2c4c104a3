"""The operations of the spec language and of the engine.

The element-wise functions (sigmoid, tanh, ...) live in elementwise.py and are re-exported here.

Linear operations (matrix-vector products, stacking, the adjoints of both) are SymPy
Functions without derivative rules: the derivation asks a product for its pullback and a
stack for its blocks. Each carries its printing, what its code reads, its cost and its
in-place rule, so a new operation is one class here; printers ask the node for its text.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from .elementwise import (CONCAT, FUNCTIONS, Above, Absolute, AtLeast, Elementwise, Exp, Identity, Log, Maximum,  # noqa: F401
                          Minimum, Relu, Sigmoid, Sign, Softplus, SquareRoot, Step, Tanh, arity, spelled)


class Linear(sp.Function):
    """Base of the vector-level operations. Each one carries everything about itself: how it prints
    in NumPy, LaTeX and comment text, which of its arguments the code reads, its multiply-adds,
    and how the in-place loops write it (derive/inplace.py asks the node)."""

    # Below Mul, above Add: printed without parentheses in sums, with them in products.
    precedence = PRECEDENCE["Mul"] - 1
    unread: tuple[int, ...] = ()  # arguments that are bookkeeping for the printers, not values the code reads
    leaf = False  # already an array (a view), usable as an operand as it is

    def numpy(self, printer) -> str:
        raise NotImplementedError(type(self).__name__)

    def torch(self, printer) -> str:
        """PyTorch code (the generated NAME_torch.py): the NumPy form where it is PyTorch too (@, .T, slices)."""
        return self.numpy(printer)

    def latex(self, printer) -> str:
        raise NotImplementedError(type(self).__name__)

    def text(self, printer) -> str:
        raise NotImplementedError(type(self).__name__)

    def macs(self, shape_of) -> int:
        """Multiply-adds per example; shape_of(name) gives a parameter's (rows, columns) as numbers."""
        return 0

    def into(self, lowering, out: str) -> list[str]:
        """Statements writing this node into the array out (see inplace.lower)."""
        raise PrintingError(f"no in-place rule for {type(self).__name__}: {self}")


class PrintingError(Exception):
    """A node a printer or the in-place loops have no rule for: a bug in derive, not in the spec."""


def matrix_operand(printer, vector) -> str:
    """The operand of a matrix product: W x, W tanh(c), W [a; b], but W (a * b) and W (a + b).

    The one rule for every printer: juxtaposition binds tighter than any product or sum, so an
    operand that is a product, a quotient, a sum or a negation is grouped; otherwise
    U h(t-1) * r(t) reads as (U h(t-1)) * r(t), which is another cell.
    """
    return printer.parenthesize(vector, PRECEDENCE["Mul"])


class _MatrixTimesVector(Linear):
    """A matrix parameter times a vector, W v or W^T d: printed from one pattern per output, where
    {m} is the matrix and {v} the vector (grouped by matrix_operand); it costs rows * columns."""

    nargs = 2
    NUMPY = LATEX = TEXT = ""  # each subclass's pattern

    def _fill(self, pattern: str, p) -> str:
        matrix, vector = self.args
        return pattern.format(m=p._print(matrix), v=matrix_operand(p, vector))

    def numpy(self, p):
        return self._fill(self.NUMPY, p)

    def latex(self, p):
        return self._fill(self.LATEX, p)

    def text(self, p):
        return self._fill(self.TEXT, p)

    def macs(self, shape_of):
        rows, columns = shape_of(str(self.args[0]))
        return rows * columns


class MatVec(_MatrixTimesVector):
    """W v for a matrix parameter W and a vector v (batched: v @ W.T)."""

    NUMPY, LATEX, TEXT = "{v} @ {m}.T", "{m} {v}", "{m} @ {v}"

    def pullback(self, adjoint: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """What W v with adjoint d sends back: (d v^T to W's gradient, W^T d to v)."""
        matrix, vector = self.args
        return Outer(adjoint, vector, matrix), MatVecT(matrix, adjoint)


class MatVecT(_MatrixTimesVector):
    """W^T d: the adjoint a product W v sends back to v (batched: d @ W)."""

    NUMPY, LATEX, TEXT = "{v} @ {m}", "{m}^{{\\top}} {v}", "{m}^T @ {v}"


class Outer(Linear):
    """d v^T summed over the batch: a product's contribution to dL/dW (batched: d.T @ v).

    Arguments: (d, v, W); W is carried so that readers know which weight this is for.
    """

    nargs = 3
    unread = (2,)  # the weight is named for the reader; the code reads d and v

    def numpy(self, p):
        adjoint, vector, _matrix = self.args
        return f"{matrix_operand(p, adjoint)}.T @ {matrix_operand(p, vector)}"

    def latex(self, p):
        adjoint, vector, _matrix = self.args
        return f"{matrix_operand(p, adjoint)} \\, {matrix_operand(p, vector)}^{{\\top}}"

    def text(self, p):
        adjoint, vector, _matrix = self.args
        return f"{matrix_operand(p, adjoint)} @ {matrix_operand(p, vector)}^T"

    def macs(self, shape_of):
        rows, columns = shape_of(str(self.args[2]))
        return rows * columns


# The matrix products: a sum lists its terms that hold one first, as people write W x + b.
MATRIX_PRODUCTS = (MatVec, MatVecT, Outer)


class BatchSum(Linear):
    """An element-wise term summed over the batch: a vector parameter's gradient."""

    nargs = 1
    precedence = PRECEDENCE["Atom"]

    def numpy(self, p):
        return f"np.sum({p._print(self.args[0])}, axis=0)"

    def torch(self, p):
        return f"torch.sum({p._print(self.args[0])}, dim=0)"

    def latex(self, p):
        return p._print(self.args[0])

    text = latex

    def into(self, lowering, out):
        inner = lowering.per_example()  # the summed term has a row per example
        value, code = inner.value(self.args[0])
        inner.release(value)
        return code + [f"np.sum({value}, axis=0, out={out})"]


class Concat(Linear):
    """[a; b; ...]: vectors stacked into one."""

    precedence = PRECEDENCE["Atom"]

    @property
    def parts(self) -> tuple[sp.Expr, ...]:
        """The stacked vectors (a subclass may carry bookkeeping arguments before them)."""
        return self.args

    def numpy(self, p):
        return f"np.concatenate(({', '.join(p._print(a) for a in self.parts)}), axis=1)"

    def torch(self, p):
        return f"torch.cat(({', '.join(p._print(a) for a in self.parts)}), dim=1)"

    def latex(self, p):
        rows = " \\\\ ".join(p._print(a) for a in self.parts)
        return f"\\begin{{bmatrix}} {rows} \\end{{bmatrix}}"

    def text(self, p):
        return f"concat({', '.join(p._print(a) for a in self.parts)})"

    def into(self, lowering, out):
        raise PrintingError(f"a stacked vector is built by the caller, not in place: {self}")

    def blocks(self, adjoint: sp.Expr, size_of) -> list[tuple[sp.Symbol, "Block"]]:
        """What [a; b] with adjoint d sends back: each part its block of d. size_of(part) is a
        SymPy size in D and H."""
        start, blocks = sp.S.Zero, []
        for part in self.args:
            stop = start + size_of(part)
            blocks.append((part, Block(adjoint, start, stop, part)))
            start = stop
        return blocks


class Block(Linear):
    """The rows start:stop of a stacked vector's adjoint, the part that belongs to `part`.

    Arguments: (adjoint, start, stop, part); start and stop are sizes in D and H.
    """

    nargs = 4
    precedence = PRECEDENCE["Atom"]
    unread = (3,)  # the part names the block for the reader; the code reads the adjoint and the bounds
    leaf = True  # a view of the adjoint

    def numpy(self, p):
        adjoint, start, stop, _part = self.args
        begin = "" if start == 0 else p._print(start)
        return f"{p._print(adjoint)}[:, {begin}:{p._print(stop)}]"

    def latex(self, p):
        adjoint, _start, _stop, part = self.args
        return f"\\left[{p._print(adjoint)}\\right]_{{{p._print(part)}}}"

    def text(self, p):
        return f"{p._print(self.args[0])}[{p._print(self.args[3])} part]"


class ZerosLike(Linear):
    """An adjoint that nothing contributes to: zeros shaped like its argument."""

    nargs = 1
    precedence = PRECEDENCE["Atom"]

    def numpy(self, p):
        return f"np.zeros_like({p._print(self.args[0])})"

    def torch(self, p):
        return f"torch.zeros_like({p._print(self.args[0])})"

    def latex(self, p):
        return "0"

    text = latex

    def into(self, lowering, out):
        return [f"{out}.fill(0)"]


def read_names(expr: sp.Basic) -> set[str]:
    """The names code computing expr reads: its symbols, less the arguments linear operations carry
    for the reader only (a block's part, an outer product's weight)."""
    if isinstance(expr, sp.Symbol):
        return {expr.name}
    unread = type(expr).unread if isinstance(expr, Linear) else ()
    return set().union(*(read_names(arg) for index, arg in enumerate(expr.args) if index not in unread))
