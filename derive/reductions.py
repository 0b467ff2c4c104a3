"""Reductions over a vector's units, and the two operations their adjoints need.

`mean(v)` and `sum(v)` give one number per example: a vector of size 1, shape (B, 1) in the
batched code, which broadcasts in element-wise operations against any size (layer norm reads
z - mean(z)). The chain rule then needs two more operations, both linear:

- what a reduction sends back to v: its adjoint spread over v's units (`Spread`), divided by
  v's size for a mean;
- what a size-1 value used element-wise in a larger expression receives: the contributions of
  every unit, summed (`UnitSum`), as a vector parameter's gradient sums over the batch.

Each is one class with its printing, reads and in-place rule for the fast loops, like the linear
operations of functions.py.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from .functions import Linear


class Reduction(Linear):
    """One number per example from a vector's units; `pullback` is what it sends back."""

    nargs = 1
    precedence = PRECEDENCE["Atom"]
    numpy_function = latex_name = text_name = ""  # each subclass's

    def numpy(self, p):
        return f"np.{self.numpy_function}({p._print(self.args[0])}, axis=-1, keepdims=True)"

    def torch(self, p):
        return f"torch.{self.numpy_function}({p._print(self.args[0])}, dim=-1, keepdim=True)"

    def latex(self, p):
        return f"\\operatorname{{{self.latex_name}}}\\left({p._print(self.args[0])}\\right)"

    def text(self, p):
        return f"{self.text_name}({p._print(self.args[0])})"

    def into(self, lowering, out):
        """The reduced vector is a variable (lowering gave it one): one call writes the (B, 1) result."""
        return [f"np.{self.numpy_function}({lowering.code(self.args[0])}, axis=-1, keepdims=True, out={out})"]

    def pullback(self, adjoint: sp.Expr, size: sp.Expr) -> sp.Expr:
        """What the reduced vector receives from the reduction's adjoint; size is its SymPy size."""
        raise NotImplementedError(type(self).__name__)


class MeanOf(Reduction):
    """The mean over a vector's units: d/dv_j mean(v) = 1/n for each of its n units."""

    numpy_function, latex_name, text_name = "mean", "mean", "mean"

    def pullback(self, adjoint, size):
        return Spread(adjoint, self.args[0], size)


class SumOf(Reduction):
    """The sum over a vector's units: d/dv_j sum(v) = 1."""

    numpy_function, latex_name, text_name = "sum", "sum", "sum"

    def pullback(self, adjoint, size):
        return Spread(adjoint, self.args[0])


# The reductions a spec may call, by the name it calls them.
REDUCTIONS: dict[str, type[Reduction]] = {"mean": MeanOf, "sum": SumOf}  # not Mean, Sum: SymPy prints its own Sum


class Spread(Linear):
    """A size-1 adjoint repeated over the units of `like`, divided by `count` (the size of like for a
    mean, 1 for a sum): what a reduction sends back.

    Arguments: (adjoint, like, count); like gives the shape only, count is a size in D and H.
    """

    nargs = (2, 3)
    precedence = PRECEDENCE["Mul"]

    @property
    def count(self) -> sp.Expr:
        return self.args[2] if len(self.args) == 3 else sp.S.One

    def numpy(self, p):
        adjoint, like = self.args[:2]  # a new array, not np.broadcast_to's read-only view: it may be returned
        spread = f"np.ones_like({p._print(like)}) * {p.parenthesize(adjoint, PRECEDENCE['Mul'])}"
        return spread if self.count == 1 else f"{spread} / {self._count_text()}"

    def torch(self, p):
        adjoint, like = self.args[:2]
        spread = f"torch.ones_like({p._print(like)}) * {p.parenthesize(adjoint, PRECEDENCE['Mul'])}"
        return spread if self.count == 1 else f"{spread} / {self._count_text()}"

    def _count_text(self) -> str:
        return str(self.count) if isinstance(self.count, sp.Symbol) else f"({self.count})"

    def into(self, lowering, out):
        adjoint, _like = self.args[:2]
        value, code = lowering.at_size(sp.S.One).value(adjoint)
        lowering.release(value)
        code.append(f"np.copyto({out}, {value})")  # (B, 1) broadcast over the units
        return code if self.count == 1 else code + [f"np.divide({out}, {self._count_text()}, out={out})"]

    def latex(self, p):  # a size reads 4 H, not as an element-wise product of vectors
        spread = f"\\mathbf{{1}} {p.parenthesize(self.args[0], PRECEDENCE['Mul'])}"
        return spread if self.count == 1 else f"\\frac{{{spread}}}{{{sp.latex(self.count)}}}"

    def text(self, p):
        spread = f"{p._print(self.args[0])} (spread over {p._print(self.args[1])})"
        return spread if self.count == 1 else f"{spread} / {self._count_text()}"


class UnitSum(SumOf):
    """sum(v) where it appears in an adjoint: the terms of a size-1 value read by a larger vector,
    summed over that vector's units (a mean read by z - mean(z), a scalar rate). Written 1^T (...)
    in the documents, the way the derivations of layer norm write it.

    Arguments: (term, size); size, the term's size in D and H, is for the fast loops' scratch arrays.
    """

    nargs = 2
    unread = (1,)

    def into(self, lowering, out):
        term, size = self.args
        inner = lowering.at_size(size)
        value, code = inner.value(term)
        inner.release(value)
        return code + [f"np.sum({value}, axis=-1, keepdims=True, out={out})"]

    def latex(self, p):
        return f"\\mathbf{{1}}^{{\\top}} \\left({p._print(self.args[0])}\\right)"
