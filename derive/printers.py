"""SymPy printers for the three outputs: NumPy code, LaTeX, and plain text for code comments; and the
spec's own equation language, in which `derive check` shows a derived equation beside a user's.

Each dispatches on the node's class (`_print_Add`, `_print_Symbol`, ...); element-wise
functions print from their own class attributes and linear operations by their own methods
(`numpy`, `latex`, `text`; see elementwise.py and functions.py), so a printer has one rule for each. Names come
from a mapping built by the renderers, so the same symbol prints as `d_s` in code and
dL/ds(t) in LaTeX. A node without a printing rule raises, never prints something odd.
"""
from __future__ import annotations

from decimal import Decimal

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from .functions import MATRIX_PRODUCTS, Elementwise, Linear, PrintingError, spelled


def ordered_terms(expr: sp.Add, ranks: dict[str, int] | None = None) -> list:
    """Terms of a sum with matrix products first, as people write W x + b, then (given ranks, a number
    per symbol name) the term whose best-ranked symbol ranks first, but not a negative term first when
    a positive one could lead (1 - tanh(W x)^2, not -tanh(W x)^2 + 1)."""
    ranks = ranks or {}

    def rank(term) -> float:
        return min((ranks[s.name] for s in term.free_symbols if s.name in ranks), default=float("inf"))

    terms = sorted(expr.args, key=lambda term: (not term.has(*MATRIX_PRODUCTS), rank(term), sp.default_sort_key(term)))
    positive = [term for term in terms if not term.could_extract_minus_sign()]
    if positive and terms[0].could_extract_minus_sign():
        terms.remove(positive[0])
        terms.insert(0, positive[0])
    return terms


def _print_sum(printer, expr) -> str:
    text = ""
    for index, term in enumerate(ordered_terms(expr, printer._settings.get("ranks"))):
        if index and term.could_extract_minus_sign():
            text += " - " + printer.parenthesize(-term, PRECEDENCE["Add"])
        else:
            text += (" + " if index else "") + printer.parenthesize(term, PRECEDENCE["Add"])
    return text


def negated(expr):
    """x for an unevaluated -1 * x (a spec's minus sign, kept as written), else None."""
    if isinstance(expr, sp.Mul) and len(expr.args) == 2 and expr.args[0] == -1:
        return expr.args[1]
    return None


def written_terms(expr: sp.Add) -> list:
    """The terms of an unevaluated sum in the spec's order, nested sums flattened."""
    terms = []
    for term in expr.args:
        terms += written_terms(term) if isinstance(term, sp.Add) else [term]
    return terms


def written_factors(expr: sp.Mul) -> list:
    """The factors of an unevaluated product in the spec's order, nested products flattened."""
    factors = []
    for factor in expr.args:
        nested = isinstance(factor, sp.Mul) and negated(factor) is None
        factors += written_factors(factor) if nested else [factor]
    return factors


def _print_written_sum(printer, expr) -> str:
    text = ""
    for index, term in enumerate(written_terms(expr)):
        inner = negated(term)
        if inner is not None:
            text += (" - " if index else "- ") + printer.parenthesize(inner, PRECEDENCE["Add"])
        else:
            text += (" + " if index else "") + printer.parenthesize(term, PRECEDENCE["Add"])
    return text


def _refuse(printer, expr, *args, **kwargs):
    raise PrintingError(f"{type(printer).__name__} has no rule for {type(expr).__name__}: {expr}")


def _print_function(printer, expr, *args, **kwargs):
    """Element-wise functions print from their own class attributes, linear operations by their own
    methods; any other function is refused.

    (SymPy's dispatch skips base classes between a Function subclass and Function, so
    `_print_Elementwise` is reached from here.)
    """
    if isinstance(expr, Elementwise):
        return printer._print_Elementwise(expr, *args, **kwargs)
    if isinstance(expr, Linear):  # each linear operation prints itself (functions.py)
        return printer._print_Linear(expr, *args, **kwargs)
    return _refuse(printer, expr)


class NumpyPrinter(PythonCodePrinter):
    """Batched NumPy: vectors are (B, n) arrays, a row per example."""

    # views: the fast loops, where D and H are local names, slice a block of a vector instead of splitting it
    _default_settings = {**PythonCodePrinter._default_settings, "strict": True, "names": {}, "views": False}

    def _print_Add(self, expr, order=None):
        return _print_sum(self, expr)

    def _print_Symbol(self, expr):
        return self._settings["names"].get(expr.name, expr.name)

    def _print_Elementwise(self, expr, exp=None):
        return expr.numpy_code([self._print(arg) for arg in expr.args], self)

    def _print_Linear(self, expr, exp=None):
        return expr.numpy(self)

    def _print_Rational(self, expr):
        return f"{expr.p}/{expr.q}"

    _print_Function = _print_function
    _print_not_supported = _refuse


def _powered(method):
    """SymPy asks for (W x)^2 as a function printed with exp=2; parenthesise and raise it."""
    def print_with_power(self, expr, exp=None):
        text = method(self, expr)
        return f"\\left({text}\\right)^{{{exp}}}" if exp else text
    return print_with_power


def _unwrapped(latex: str) -> str:
    """An argument without the \\left( \\right) around all of it (a made-up variable's name has them),
    since the function prints its own: tanh(W x + b), not tanh((W x + b))."""
    opening, closing = "\\left(", "\\right)"
    if not (latex.startswith(opening) and latex.endswith(closing)):
        return latex
    depth = 0
    for index in range(len(latex)):
        if latex.startswith("\\left", index):
            depth += 1
        elif latex.startswith("\\right", index):
            depth -= 1
            if depth == 0 and index != len(latex) - len(closing):
                return latex  # (a) + (b): the first group closes before the end
    return latex[len(opening):-len(closing)]


def _unwrapped_text(text: str) -> str:
    """An argument without the parentheses around all of it (a made-up variable's name has them), since
    the function prints its own: sign(U @ h(t-1)), not sign((U @ h(t-1)))."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index != len(text) - 1:
            return text  # (a) + (b): the first group closes before the end
    return text[1:-1]


class TorchPrinter(NumpyPrinter):
    """The same code in PyTorch (the generated NAME_torch.py): each class's torch form instead of its NumPy form."""

    def _print_Elementwise(self, expr, exp=None):
        return expr.torch_code([self._print(arg) for arg in expr.args], self)

    def _print_Linear(self, expr, exp=None):
        return expr.torch(self)


class LatexCellPrinter(LatexPrinter):
    """Column-vector math for one example: \\odot for element-wise products, \\sigma for sigmoid."""

    # written: print sums and products in their arguments' order (an equation as the spec writes it,
    # see written.py) instead of derive's canonical order. ranks: a number per symbol name that orders
    # a sum's terms (the documents list the adjoints in a backward sum in the forward pass's order).
    _default_settings = {**LatexPrinter._default_settings, "names": {}, "product": "\\odot", "written": False,
                         "ranks": {}}

    def _print_Add(self, expr, order=None):
        return _print_written_sum(self, expr) if self._settings["written"] else _print_sum(self, expr)

    def _print_Symbol(self, expr, style="plain"):
        names = self._settings["names"]
        if expr.name not in names:
            raise PrintingError(f"no LaTeX name for {expr.name}")
        return names[expr.name]

    def _print_Rational(self, expr):
        """A small decimal as written (an epsilon 0.00001 reads 0.00001, not \\frac{1}{100000});
        other fractions as fractions."""
        if expr.p != 1 or expr.q < 1000 or str(expr.q).rstrip("0") != "1":
            return super()._print_Rational(expr)
        return format(Decimal(expr.p) / Decimal(expr.q), "f")

    def _print_Mul(self, expr):
        if self._settings["written"]:
            return self._print_written_product(expr)
        coefficient, factors = expr.as_coeff_mul()
        numerator = [f for f in factors if not (f.is_Pow and f.exp.is_negative)]
        denominator = [1 / f for f in factors if f.is_Pow and f.exp.is_negative]
        sign = "- " if coefficient.is_negative else ""
        coefficient = abs(coefficient)
        if coefficient.q != 1:
            denominator.insert(0, sp.Integer(coefficient.q))  # 2 sqrt(z), as people write it
        parts = [self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in sorted(numerator, key=sp.default_sort_key)]
        if coefficient.p != 1 or not parts:
            parts.insert(0, str(coefficient.p))
        product = f" {self._settings['product']} "
        top = product.join(parts)
        if denominator:
            bottom = product.join(self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in denominator)
            return f"{sign}\\frac{{{top}}}{{{bottom}}}"
        return sign + top

    def _print_written_product(self, expr) -> str:
        """a * b / c as written: the factors in order, a fraction when something divides."""
        inner = negated(expr)
        if inner is not None:
            return "- " + self.parenthesize(inner, PRECEDENCE["Mul"], strict=True)
        factors = written_factors(expr)
        top = [f for f in factors if not (f.is_Pow and f.exp == -1)]
        bottom = [f.base for f in factors if f.is_Pow and f.exp == -1]
        product = f" {self._settings['product']} "

        def joined(parts):
            grouped = [f"\\left({self._print(negated(f))}\\right)" if negated(f) is not None
                       else self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in parts]
            return product.join(grouped) or "1"
        return f"\\frac{{{joined(top)}}}{{{joined(bottom)}}}" if bottom else joined(top)

    def _print_Elementwise(self, expr, exp=None):
        text = type(expr).latex.format(*(_unwrapped(self._print(arg)) for arg in expr.args))
        return f"{text}^{{{exp}}}" if exp else text

    @_powered
    def _print_Linear(self, expr):
        return expr.latex(self)

    _print_Function = _print_function


class TextPrinter(StrPrinter):
    """Plain math for comments in generated code: dL/ds(t) = dL/dh(t)*o(t) + ... (ranks: as LatexCellPrinter's,
    so a comment lists a sum's terms as the documents do)."""

    _default_settings = {**StrPrinter._default_settings, "names": {}, "ranks": {}}

    def _print_Add(self, expr, order=None):
        return _print_sum(self, expr)

    def _print_Symbol(self, expr):
        return self._settings["names"].get(expr.name, expr.name)

    def _print_Elementwise(self, expr, exp=None):
        return type(expr).text.format(*(_unwrapped_text(self._print(arg)) for arg in expr.args))

    def _print_Linear(self, expr, exp=None):
        return expr.text(self)

    _print_Function = _print_function


class EquationPrinter(StrPrinter):
    """The spec's equation language, as a hand-written backward pass writes it (derive check shows the derived
    equation so, beside the user's): d_h*o + d_s(t+1)*f(t+1), W_g.T @ d_g_pre, outer(d_g_pre, xc),
    part(d_xc, h(t-1)). names maps a symbol to its written form (f@next -> f(t+1), s_prev -> s(t-1))."""

    _default_settings = {**StrPrinter._default_settings, "names": {}, "ranks": {}}

    def _print_Add(self, expr, order=None):
        return _print_sum(self, expr)

    def _print_Symbol(self, expr):
        return self._settings["names"].get(expr.name, expr.name)

    def _print_Elementwise(self, expr, exp=None):
        return f"{spelled(type(expr))}({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_MatVec(self, expr):
        return f"{self._print(expr.args[0])} @ {self.parenthesize(expr.args[1], PRECEDENCE['Mul'])}"

    def _print_MatVecT(self, expr):
        return f"{self._print(expr.args[0])}.T @ {self.parenthesize(expr.args[1], PRECEDENCE['Mul'])}"

    def _print_Outer(self, expr):
        return f"outer({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_BatchSum(self, expr):  # a gradient's term of one step, summed over the batch as outer(d, v) is
        return self._print(expr.args[0])

    def _print_Block(self, expr):
        return f"part({self._print(expr.args[0])}, {self._print(expr.args[3])})"

    def _print_BlockOf(self, expr):
        return f"block({self._print(expr.args[0])}, {expr.args[1]}, {expr.args[2]})"

    def _print_Concat(self, expr):
        return f"concat({', '.join(self._print(part) for part in expr.parts)})"

    def _print_Reduction(self, expr):
        return f"{expr.text_name}({self._print(expr.args[0])})"

    def _print_Spread(self, expr):  # a size-1 adjoint, broadcast over the units it was reduced from
        adjoint = self.parenthesize(expr.args[0], PRECEDENCE["Mul"])
        return adjoint if expr.count == 1 else f"{adjoint}/{self.parenthesize(expr.count, PRECEDENCE['Pow'])}"

    def _print_ZerosLike(self, expr):
        return "0"

    def _print_Linear(self, expr, exp=None):
        """A subclass (UnitSum, Stacked) prints as its base: SymPy itself tries only a Function's own class name."""
        for base in type(expr).__mro__[1:type(expr).__mro__.index(Linear)]:
            method = getattr(self, f"_print_{base.__name__}", None)
            if method is not None:
                return method(expr)
        raise PrintingError(f"no equation-language form for {type(expr).__name__}: {expr}")

    _print_Function = _print_function
