"""Blocks of a stacked vector: `block(a, i, n)` is the i-th of n equal blocks of a (from 0).

A product with 4H rows computes four gates at once, as torch lays out its weights (and as layer
norm over all four gates needs them): `a = W @ xh`, then `f = sigmoid(block(a, 0, 4))`. Backward,
each block's adjoint goes back into its rows of a's adjoint, which is the blocks' adjoints
stacked (zeros for a block nothing reads).
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from .functions import Concat, Linear, ZerosLike

BLOCK = "block"


class BlockOf(Linear):
    """Rows start:stop of a vector, the index-th of count equal blocks.

    Arguments: (vector, index, count, start, stop); start and stop are SymPy sizes in D and H, for
    the documents: the code splits by count and needs no size.
    """

    nargs = 5
    precedence = PRECEDENCE["Atom"]
    unread = (3, 4)  # the bounds are for the reader (and the fast loops, where D and H are local names)
    leaf = True  # a view of the vector

    def numpy(self, p):
        vector, index, count, start, stop = self.args
        if p._settings.get("views"):
            return f"{p._print(vector)}[:, {'' if start == 0 else p._print(start)}:{p._print(stop)}]"
        return f"np.split({p._print(vector)}, {count}, axis=-1)[{index}]"  # the readable step needs no size

    def torch(self, p):
        vector, index, count = self.args[:3]
        return f"torch.chunk({p._print(vector)}, {count}, dim=-1)[{index}]"

    def latex(self, p):
        vector, _index, _count, start, stop = self.args  # rows start + 1 to stop, as papers number them
        return f"\\left[{p._print(vector)}\\right]_{{{sp.latex(start + 1)}:{sp.latex(stop)}}}"

    def text(self, p):
        vector, index, count, _start, _stop = self.args
        return f"block({p._print(vector)}, {index}, {count})"


class Stacked(Concat):
    """The blocks' adjoints stacked into the vector's: [d_f; d_i; d_o; d_g].

    Arguments: (part, *blocks); part, one block's size in D and H, places each block in the fast loops.
    """

    unread = (0,)

    @property
    def parts(self) -> tuple[sp.Expr, ...]:
        return self.args[1:]

    def into(self, lowering, out):
        part, code = self.args[0], []
        inner = lowering.at_size(part)
        for index, block in enumerate(self.parts):
            first = "" if index == 0 else lowering.code(part * index)
            code += inner.into(block, f"{out}[:, {first}:{lowering.code(part * (index + 1))}]")
        return code


def stacked_adjoint(terms: dict[int, list[sp.Expr]], count: int, like: sp.Expr, part: sp.Expr):
    """The adjoint of a vector whose blocks received terms (block index -> terms): the blocks'
    sums stacked in order, zeros shaped like another block's adjoint where nothing arrived."""
    return Stacked(part, *(sp.Add(*terms[index]) if index in terms else ZerosLike(like) for index in range(count)))
