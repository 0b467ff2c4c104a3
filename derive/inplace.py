"""Stage 7b, inside the fast loops: three-address code.

An expression becomes NumPy calls that each write into an array chosen beforehand (`out=`):
`d_h*o*(1 - h_tanh**2)` into `d_c` is

    np.square(h_tanh, out=d_c)
    np.subtract(1, d_c, out=d_c)
    np.multiply(d_c, d_h, out=d_c)
    np.multiply(d_c, o, out=d_c)

A value that cannot be built in the output itself (the second of two compound factors) goes
into a scratch array from a Pool, given back as soon as it has been used. The loops then allocate
nothing: every array exists before the first step, and the same few scratch arrays serve every
step, where fresh temporaries would cost an allocation each and, at moderate sizes, page faults
that take longer than the arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from . import naming
from .functions import Elementwise, Linear, PrintingError
from .printers import NumpyPrinter, ordered_terms


@dataclass
class Pool:
    """Scratch arrays by shape (code such as "(B, H)"): taken for a value, given back after its last use."""

    shapes: dict[str, str] = field(default_factory=dict)  # every array made: name -> shape
    free: dict[str, list[str]] = field(default_factory=dict)  # shape -> names not in use

    def take(self, shape: str) -> str:
        free = self.free.setdefault(shape, [])
        if free:
            return free.pop(0)
        name = naming.fast_numbered("tmp", len(self.shapes))
        self.shapes[name] = shape
        return name

    def give(self, name: str) -> None:
        free = self.free[self.shapes[name]]
        free.append(name)
        free.sort(key=lambda n: list(self.shapes).index(n))  # the earliest made first: the same code for the same input


def size_code(size: sp.Expr) -> str:
    """A SymPy size as the fast code's shapes write it: "4 * H", "D + H", "1"."""
    return str(size).replace("*", " * ")


def is_leaf(expr: sp.Basic) -> bool:
    """An operand that is already an array (or a number): a name, a number, a view of a name."""
    return isinstance(expr, (sp.Symbol, sp.Number)) or isinstance(expr, Linear) and expr.leaf


def lower(expr: sp.Basic, out: str, printer: NumpyPrinter, pool: Pool, size: str, batched: bool = True) -> list[str]:
    """NumPy statements that write expr into the array `out`, of shape (B, size), or (size,) when not
    batched (a vector parameter's gradient); scratch arrays come from pool.

    `out` must not be an array that expr reads: it is written before every operand has been read.
    """
    return _Lowering(printer, pool, size, batched).into(expr, out)


@dataclass
class _Lowering:
    printer: NumpyPrinter
    pool: Pool
    size: str  # of every value at this level: (B, size), or (size,) outside a batch sum
    batched: bool

    def per_example(self) -> "_Lowering":
        """The same lowering for values with a row per example (what a batch sum adds up)."""
        return _Lowering(self.printer, self.pool, self.size, batched=True)

    def at_size(self, size: sp.Expr) -> "_Lowering":
        """The same lowering for values of another size per example (a SymPy size in D and H): what a
        sum over units adds up, what a reduction's adjoint is spread over."""
        return _Lowering(self.printer, self.pool, size_code(size), batched=True)

    @property
    def shape(self) -> str:
        return f"(B, {self.size})" if self.batched else f"({self.size},)"

    def code(self, leaf: sp.Basic) -> str:
        if isinstance(leaf, sp.Number):
            return repr(float(leaf)) if not leaf.is_Integer else str(int(leaf))
        return self.printer.doprint(leaf)

    def into(self, expr: sp.Basic, out: str) -> list[str]:
        if is_leaf(expr):
            return [f"np.copyto({out}, {self.code(expr)})"]
        if isinstance(expr, sp.Add):
            return self._sum(expr, out)
        if isinstance(expr, sp.Mul):
            return self._product(expr, out)
        if isinstance(expr, sp.Pow):
            return self._power(expr, out)
        if isinstance(expr, Elementwise):
            return self._function(expr, out)
        if isinstance(expr, Linear):  # each linear operation has its own rule (functions.py)
            return expr.into(self, out)
        raise PrintingError(f"no in-place rule for {type(expr).__name__}: {expr}")

    def operand(self, expr: sp.Basic, out: str) -> tuple[str, list[str]]:
        """expr as an operand of the last call writing out: its own code if a leaf, else out itself."""
        if is_leaf(expr):
            return self.code(expr), []
        return out, self.into(expr, out)

    def value(self, expr: sp.Basic) -> tuple[str, list[str]]:
        """expr as an operand: its code if a leaf, else a scratch array computed now (see release)."""
        if is_leaf(expr):
            return self.code(expr), []
        scratch = self.pool.take(self.shape)
        return scratch, self.into(expr, scratch)

    def release(self, value: str) -> None:
        """Give back the scratch array value() took, if it took one."""
        if value in self.pool.shapes:
            self.pool.give(value)

    def _function(self, expr: Elementwise, out: str) -> list[str]:
        """f(a) or f(a, b) into out: the first compound argument is built in out itself, another one in a
        scratch array, given back once f has read it."""
        arguments, code, scratch = [], [], []
        for argument in expr.args:
            if is_leaf(argument) or out not in arguments:
                value, computed = self.operand(argument, out)
            else:
                value, computed = self.value(argument)
                scratch.append(value)
            arguments.append(value)
            code += computed
        for value in scratch:
            self.release(value)
        return code + [type(expr).into.format(*arguments, out)]

    def _combine(self, out: str, terms: list[tuple[sp.Basic, bool]], then, first) -> tuple[list[str], bool]:
        """Fold terms (expression, inverted) into out: the most expensive term is computed in out first,
        so that only the other compound terms need scratch arrays. `inverted` is negated for a sum,
        divided by for a product; out may hold the inverse of the running result (the returned flag),
        which first and then say how to keep (see _sum)."""
        compound = [index for index, (term, _) in enumerate(terms) if not is_leaf(term)]
        code = []
        if compound:
            seed = max(compound, key=lambda index: sp.count_ops(terms[index][0]))
            term, inverted = terms.pop(seed)
            code += self.into(term, out)
        else:
            (a, a_inverted), (b, b_inverted) = terms.pop(0), terms.pop(0)
            call, inverted = first(self.code(a), a_inverted, self.code(b), b_inverted, out)
            code.append(call)
        for term, term_inverted in terms:
            value, computed = self.value(term)
            call, inverted = then(out, inverted, value, term_inverted)
            code += computed + [call]
            self.release(value)
        return code, inverted

    def _sum(self, expr: sp.Add, out: str) -> list[str]:
        terms = [(-term, True) if term.could_extract_minus_sign() else (term, False) for term in ordered_terms(expr)]

        def first(a, a_negative, b, b_negative, out):
            if a_negative and not b_negative:
                return f"np.subtract({b}, {a}, out={out})", False
            return f"np.{'subtract' if b_negative and not a_negative else 'add'}({a}, {b}, out={out})", a_negative

        def then(out, negative, value, value_negative):
            """out holds the sum so far, negated when `negative`: keep it so, cheapest first."""
            if negative and not value_negative:
                return f"np.subtract({value}, {out}, out={out})", False
            return f"np.{'subtract' if value_negative != negative else 'add'}({out}, {value}, out={out})", negative

        code, negative = self._combine(out, terms, then, first)
        return code + ([f"np.negative({out}, out={out})"] if negative else [])

    def _product(self, expr: sp.Mul, out: str) -> list[str]:
        coefficient, factors = expr.as_coeff_mul()
        negative = coefficient < 0
        terms = [(factor.base ** -factor.exp, True) if _is_divisor(factor) else (factor, False) for factor in factors]
        if abs(coefficient) != 1:
            terms.append((abs(coefficient), False))
        if all(inverted for _, inverted in terms):
            terms.insert(0, (sp.S.One, False))
        if len(terms) == 1:  # -v
            argument, code = self.operand(terms[0][0], out)
            return code + [f"np.negative({argument}, out={out})"]

        def first(a, a_inverted, b, b_inverted, out):
            if a_inverted and not b_inverted:
                a, b = b, a
            return f"np.{'divide' if a_inverted != b_inverted else 'multiply'}({a}, {b}, out={out})", a_inverted and b_inverted

        def then(out, inverted, value, value_inverted):
            if inverted and not value_inverted:
                return f"np.divide({value}, {out}, out={out})", False
            return f"np.{'divide' if value_inverted != inverted else 'multiply'}({out}, {value}, out={out})", inverted

        code, inverted = self._combine(out, terms, then, first)
        if inverted:
            code.append(f"np.reciprocal({out}, out={out})")
        return code + ([f"np.negative({out}, out={out})"] if negative else [])

    def _power(self, expr: sp.Pow, out: str) -> list[str]:
        base, exponent = expr.args
        argument, code = self.operand(base, out)
        if exponent == 2:
            return code + [f"np.square({argument}, out={out})"]
        if exponent == -1:
            return code + [f"np.reciprocal({argument}, out={out})"]
        if exponent == sp.Rational(1, 2):
            return code + [f"np.sqrt({argument}, out={out})"]
        return code + [f"np.power({argument}, {self.code(exponent)}, out={out})"]


def _is_divisor(factor: sp.Basic) -> bool:
    """A factor 1/v^n of a product, divided by rather than multiplied by its reciprocal."""
    return isinstance(factor, sp.Pow) and factor.exp.is_Number and factor.exp < 0
