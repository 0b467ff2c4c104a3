r"""Read the LaTeX that derive prints back into SymPy, written without looking at derive's printers.

The language was learnt from the generated documents under ``generated/`` only, so that a test can
compare each printed equation with the symbolic model it was printed from: if printer and reader were
written from the same code, a mistake in one would be repeated in the other and the comparison would
prove nothing.

Public API
----------
``read(latex, time="parens") -> sympy.Expr``
    One expression.
``read_equation(latex, time="parens") -> Equation``
    ``left = right`` (or ``left &= right``), optionally ended by ``\tag{B3}``.
``display_equations(text, flavor) -> list[str]``
    The display equations of a whole document, each as ``left = right \tag{..}``.
``LatexReadError``
    Raised for anything the reader does not understand, with the position and the text there.

``time`` says how a step is written: ``"parens"`` as ``h(t-1)``, ``"subscript"`` as ``h_{t-1}``.

What the reader returns
-----------------------
* A variable is ``Symbol(f"{base}@{time}")``. ``base`` is the LaTeX of its name with whitespace removed
  and one-character scripts braced (``x_c`` -> ``x_{c}``, ``\hat f`` -> ``\hat{f}``); ``time`` is
  ``t``, ``t-1``, ``t+1`` (any ``t±k``), ``\tau``, or empty for a symbol without a time (a parameter).
* ``\frac{\partial L}{\partial X}``, ``\frac{dL}{dX}`` and ``\delta X`` are ``Adjoint(loss, X)``: the
  top is a loss symbol (base ``L`` or ``l``, any time: ``L``, ``l(t)``, ``L(t)``, ``L_{t+1}``...).
  Any other derivative ``\frac{\partial A}{\partial B}`` is ``Partial(A, B)``; a plain ``\frac{a}{b}``
  is ``a / b`` (so ``\frac{1}{2}`` is ``Rational(1, 2)``).
* ``W v`` (a parameter, directly followed by an operand) is ``MatVec(W, v)``; ``W^{\top} v`` is
  ``MatVecT(W, v)``; ``a \, v^{\top}`` is ``Outer(a, v)``.
* ``\begin{bmatrix} a \\ b \end{bmatrix}`` is ``Concat(a, b)``; ``\left[X\right]_{p}`` is
  ``Block(X, p)``; ``\sum_{t} X`` is ``TimeSum(X)``; a bounded sum ``\sum_{i = a}^{T} X`` (the loss
  definitions ``\sum_{t=1}^{T} l(t)`` and ``\sum_{\tau = t}^{T} l(\tau)``) is
  ``LossSum(X, i, a, T)``, where the index ``i`` and the bounds are plain symbols named as written
  (``Symbol("t")``, ``Symbol("\tau")``, ``Integer(1)``, ``Symbol("T")``: no ``@``, so they never
  equal a variable), and ``X`` is read as usual (``l(\tau)`` is ``Symbol("l@\tau")``).
* ``\sigma``, ``\tanh``, ``\exp``, ``\log``, ``\operatorname{name}`` applied to an argument are the
  inert functions ``Function("sigmoid")``, ``Function("tanh")``, ``Function("exp")``,
  ``Function("log")``, ``Function("name")``; ``\mathbf{1}\left[X > 0\right]`` is
  ``Function("step")(X)``; ``\sqrt{X}`` is ``Function("sqrt")(X)`` and ``\left|X\right|`` is
  ``Function("abs")(X)``; ``\max\left(A, B\right)`` and ``\min\left(A, B\right)`` are
  ``Function("maximum")(A, B)`` and ``Function("minimum")(A, B)``; ``\mathbf{1}\left[A > B\right]`` (B not
  0) and ``\mathbf{1}\left[A \geq B\right]`` are ``Function("greater")(A, B)`` and
  ``Function("greater_equal")(A, B)``. Inert, so that ``tanh`` here is never SymPy's evaluating ``sp.tanh``.
* ``\odot``, ``*``, ``\circ``, ``\cdot``, ``\ast``, ``\times`` are all the element-wise product: ``Mul``.

Grammar (tokens: commands ``\name`` or ``\`` + one character, single ASCII letters, numbers
``12`` / ``0.5``, punctuation; ``\left(`` ``\right)`` ``\left[`` ``\right]`` ``\left|`` ``\right|`` are single tokens; the
reader remembers whether whitespace preceded each token)::

    equation  := expr ("=" | "&=") expr [ "\tag{" text "}" ]
    expr      := signed (("+" | "-") signed)*
    signed    := "-" signed | product          # -a \odot b is -(a \odot b)
    product   := factor (PRODUCT_OP factor)*
    factor    := "\sum" "_" sumsub [ "^" "{T}" ] product     # the sum takes the term up to + or -
               | juxt
    juxt      := matvec ("\," postfix_transposed)*            # Outer(a, v)
    matvec    := postfix [ operand ]       # only when postfix is a parameter, a parameter^{\top}
                                           # (MatVec / MatVecT, right-associative) or a number (Mul)
    postfix   := primary ( "^" ( "{\top}" | exponent ) )*
    primary   := NUMBER | name | group | block | frac | function | bmatrix | step | root | absolute
               | "\delta" matvec
    group     := "(" expr ")" | "\left(" expr "\right)"
    block     := "\left[" expr "\right]" "_" script_expr
    frac      := "\frac{" ("\partial" | "d") expr "}{" ("\partial" | "d") expr "}"   # derivative
               | "\frac{" expr "}{" expr "}"                                          # division
    function  := ("\sigma" | "\tanh" | "\exp" | "\log" | "\operatorname{" NAME "}") group
               | ("\max" | "\min") "\left(" expr "," expr "\right)"
    step      := "\mathbf{1}" "\left[" expr (">" | "\geq") expr "\right]"   # > 0: the step function
    root      := "\sqrt{" expr "}"
    absolute  := "\left|" expr "\right|"
    bmatrix   := "\begin{bmatrix}" expr ("\\" expr)* "\end{bmatrix}"
    name      := core "'"* (("_" | "^") script)* [ time ]      # f'(t), a spec's symbol "f'"
    core      := LETTER | GREEK | ACCENT "{" name-without-time "}" | "\mathit{" ALNUM "}"
               | "\mathbf{" ALNUM "}" | "\mathrm{" ALNUM "}"
    time      := "(" ("t" | "\tau") [("+" | "-") INTEGER] ")"      # time="parens", no space before
               | a subscript "t-1", or a last comma part "g,t"      # time="subscript"

A superscript of letters and digits (at least one letter) is part of a name; ``^{\top}`` and any
other superscript (a number, an expression) are postfix: transposition or a power.

Strictness, where the text could mean two things the reader refuses rather than guesses:

* Two letters side by side without a space (``ab``, ``h2``) are an error: derive writes a
  multi-letter name as ``\mathit{ab}`` and a product with a space or an operator.
* Juxtaposition after anything but a parameter or a number (``h(t) x(t)``, ``\left(a\right) b``) is
  an error.
* In time="parens" mode a subscript that is a time (``h_{t}``) is an error, and in time="subscript"
  mode a parenthesis right after a name (``h(t)``) is an error: either means the wrong mode.
* ``\sigma`` directly followed by a parenthesis is the logistic function, never a variable at a time.
* ``\delta`` is an adjoint when an operand follows it; with a script or ``(`` right after it, or at
  the end, it is the Greek letter.
"""
from __future__ import annotations

import re

import sympy as sp

from .latex_atoms import Atoms
from .latex_documents import display_equations
from .latex_tokens import (ACCENTS, FONTS, FUNCTIONS, GREEK, PRODUCT_OPS, Adjoint, Block, Concat, Equation, LatexReadError, LossSum, MatVec, MatVecT,
                           Outer, Partial, Piece, Rows, TimeSum, Token, is_parameter, tokenize)

__all__ = [
    "Adjoint", "Block", "Concat", "Equation", "LatexReadError", "LossSum", "MatVec", "MatVecT",
    "Outer", "Partial", "Rows", "TimeSum", "display_equations", "read", "read_equation",
]


class _Parser(Atoms):
    def __init__(self, src: str, time: str):
        if time not in ("parens", "subscript"):
            raise ValueError(f"time must be 'parens' or 'subscript', not {time!r}")
        self.src = src
        self.time = time
        self.toks = tokenize(src)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------------

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def at(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.category != "end" and tok.text == text

    def error(self, message: str, tok: Token | None = None) -> LatexReadError:
        return LatexReadError(message, self.src, (tok or self.peek()).pos)

    def expect(self, text: str, what: str | None = None) -> Token:
        if not self.at(text):
            raise self.error(f"expected {what or repr(text)}")
        return self.next()

    def expect_end(self) -> None:
        if self.peek().category != "end":
            raise self.error(f"unexpected {self.peek().text!r}")

    def raw_group(self) -> str:
        """A braced group's source text, without the braces, unparsed (names, tags, environments)."""
        open_tok = self.expect("{")
        depth = 1
        while True:
            tok = self.next()
            if tok.category == "end":
                raise self.error("unclosed '{'", open_tok)
            if tok.text == "{":
                depth += 1
            elif tok.text == "}":
                depth -= 1
                if depth == 0:
                    return self.src[open_tok.pos + 1:tok.pos]

    def raw_script(self) -> str:
        """A sub- or superscript's text: a braced group, or the one token after _ or ^."""
        if self.at("{"):
            return re.sub(r"\s+", "", self.raw_group())
        tok = self.next()
        if tok.category == "letter" or (tok.category == "cmd" and tok.text[1:].isalpha()):
            return tok.text
        if tok.category == "number" and len(tok.text) == 1:
            return tok.text
        raise self.error("a script must be braced, a letter, a command or one digit", tok)

    # -- equations and expressions ---------------------------------------------------------

    def equation(self) -> Equation:
        left = self.expr()
        if self.at("&"):
            self.next()
        self.expect("=", "'=' between the two sides of an equation")
        right = self.expr()
        tag = None
        if self.at(r"\tag"):
            self.next()
            tag = self.raw_group().strip()
        self.expect_end()
        return Equation(left, right, tag)

    def expr(self) -> sp.Expr:
        left = self.signed()
        while self.at("+") or self.at("-"):
            op = self.next().text
            right = self.signed()
            left = left + right if op == "+" else left - right
        return left

    def signed(self) -> sp.Expr:
        # Unary minus binds looser than the products: -a \odot b is -(a \odot b).
        if self.at("-"):
            self.next()
            return -self.signed()
        return self.product()

    def product(self) -> sp.Expr:
        left = self.factor()
        while self.peek().text in PRODUCT_OPS and self.peek().category in ("cmd", "punct"):
            self.next()
            left = left * self.factor()
        return left

    def factor(self) -> sp.Expr:
        if self.at(r"\sum"):
            return self.sum()
        start = self.peek()
        piece = self.juxt()
        if piece.transposed:
            raise self.error(r"^{\top} stands only on a parameter before its operand (W^{\top} v) "
                             r"or after \, in an outer product (a \, v^{\top})", start)
        return piece.expr

    def sum(self) -> sp.Expr:
        r"""\sum_{t} X is TimeSum(X); \sum_{i = a}^{T} X is LossSum(X, i, a, T). X is a product."""
        sum_tok = self.next()
        self.expect("_", r"_ after \sum")
        sub_src = self.raw_script()
        m = re.fullmatch(r"(t|\\tau)(?:=([0-9]+|t))?", sub_src)
        if not m:
            raise self.error(r"a \sum's subscript must be t, t=1 or \tau=t", sum_tok)
        index, lower = m.group(1), m.group(2)
        if lower is None:
            if index != "t" or self.at("^"):
                raise self.error(r"an unbounded sum is \sum_{t}", sum_tok)
            return TimeSum(self.product())
        self.expect("^", r"^{T}: a bounded sum needs its upper bound")
        if self.raw_script() != "T":
            raise self.error(r"a bounded sum's upper bound must be T", sum_tok)
        lower_expr = sp.Integer(lower) if lower.isdigit() else sp.Symbol(lower)
        return LossSum(self.product(), sp.Symbol(index), lower_expr, sp.Symbol("T"))

    def juxt(self) -> Piece:
        left = self.matvec()
        while self.at(r"\,"):
            thin = self.next()
            if left.transposed:
                raise self.error(r"an outer product's left side is not transposed", thin)
            right = self.postfix()
            if not right.transposed:
                raise self.error(r"\, stands only before a transposed vector (a \, v^{\top})", thin)
            left = Piece(Outer(left.expr, right.expr))
        return left

    def matvec(self) -> Piece:
        r"""Juxtaposition: W v, W^{\top} v, or a number's coefficient 2 v. Binds tighter than products."""
        left = self.postfix()
        if not self.starts_operand():
            return left
        where = self.peek()
        if left.is_name and is_parameter(left.expr):
            operand = self.operand()
            return Piece(MatVecT(left.expr, operand) if left.transposed else MatVec(left.expr, operand))
        if left.expr.is_Number and not left.transposed:
            return Piece(left.expr * self.operand())
        raise self.error("juxtaposition: only a parameter (a symbol without time) or a number may be "
                         "directly followed by an operand", where)

    def operand(self) -> sp.Expr:
        start = self.peek()
        piece = self.matvec()     # right-associative: A B x is A (B x)
        if piece.transposed:
            raise self.error(r"the operand of a product W v is not transposed", start)
        return piece.expr

    def starts_operand(self) -> bool:
        tok = self.peek()
        if tok.category == "letter":
            return True
        if tok.category == "open":
            return True
        if tok.category == "cmd":
            return (tok.text in GREEK or tok.text in ACCENTS or tok.text in FONTS
                    or tok.text in FUNCTIONS
                    or tok.text in (r"\frac", r"\begin", r"\operatorname", r"\sqrt"))
        return False

    def postfix(self) -> Piece:
        piece = self.primary()
        while self.at("^"):
            caret = self.next()
            if piece.transposed:
                raise self.error(r"nothing may follow ^{\top}", caret)
            if self.at(r"\top") or (self.at("{") and self.at(r"\top", 1) and self.at("}", 2)):
                for _ in range(1 if self.at(r"\top") else 3):
                    self.next()
                piece = Piece(piece.expr, transposed=True, is_name=piece.is_name)
            else:
                piece = Piece(sp.Pow(piece.expr, self.script_expr()))
        return piece

    def script_expr(self) -> sp.Expr:
        """An exponent or a block's part: a braced expression, or one letter or digit."""
        if self.at("{"):
            self.next()
            value = self.expr()
            self.expect("}", "'}' closing a script")
            return value
        tok = self.peek()
        if tok.category == "number" and len(tok.text) == 1:
            self.next()
            return sp.Integer(tok.text)
        if tok.category == "letter":
            return self.name()
        raise self.error("a script must be braced, a letter or one digit")


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------

def read(latex: str, time: str = "parens") -> sp.Expr:
    """One expression, e.g. ``U h(t-1) \\odot r(t)``."""
    parser = _Parser(latex, time)
    value = parser.expr()
    if parser.at("=") or parser.at("&"):
        raise parser.error("an equation: use read_equation")
    parser.expect_end()
    return value


def read_equation(latex: str, time: str = "parens") -> Equation:
    """``left = right`` or ``left &= right``, optionally followed by ``\\tag{..}``."""
    return _Parser(latex, time).equation()
