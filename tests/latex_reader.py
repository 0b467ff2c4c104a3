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
from dataclasses import dataclass
from typing import NamedTuple

import sympy as sp

__all__ = [
    "Adjoint", "Block", "Concat", "Equation", "LatexReadError", "LossSum", "MatVec", "MatVecT",
    "Outer", "Partial", "TimeSum", "display_equations", "read", "read_equation",
]


# ---------------------------------------------------------------------------------------------
# What the reader builds
# ---------------------------------------------------------------------------------------------

def _inert(name: str, nargs: int | None, doc: str) -> type[sp.Function]:
    """An unevaluated SymPy function class: what the reader builds is compared, never computed."""
    attributes = {"__doc__": doc, "__module__": __name__}
    if nargs is not None:
        attributes["nargs"] = nargs
    return type(name, (sp.Function,), attributes)


Adjoint = _inert("Adjoint", 2, "Adjoint(loss, X): the derivative of a loss with respect to X.")
Partial = _inert("Partial", 2, "Partial(A, B): a local derivative of A (not a loss) with respect to B.")
MatVec = _inert("MatVec", 2, "MatVec(W, v): the matrix-vector product W v.")
MatVecT = _inert("MatVecT", 2, "MatVecT(W, v): W^T v.")
Outer = _inert("Outer", 2, "Outer(a, v): the outer product a v^T.")
Concat = _inert("Concat", None, "Concat(a, b, ...): the stacked column [a; b; ...] of a bmatrix.")
Block = _inert("Block", 2, "Block(X, part): the block of X that belongs to part.")
Rows = _inert("Rows", 3, "Rows(X, first, last): rows first to last of X, counted from 1.")
TimeSum = _inert("TimeSum", 1, "TimeSum(X): the sum of X over all steps.")
LossSum = _inert("LossSum", 4, "LossSum(body, index, lower, upper): a bounded sum (the loss definitions).")

SIGMOID = sp.Function("sigmoid")
STEP = sp.Function("step")
UNITSUM = sp.Function("unitsum")  # \mathbf{1}^{\top} \left(X\right): X summed over its units
SPREAD = sp.Function("spread")  # \mathbf{1} X: a number per example repeated over a vector's units

# The commands that name a function, and the inert SymPy function each reads as.
FUNCTIONS = {r"\sigma": "sigmoid", r"\tanh": "tanh", r"\exp": "exp", r"\log": "log", r"\max": "maximum", r"\min": "minimum"}
TWO_ARGUMENTS = {"maximum", "minimum"}
PRODUCT_OPS = {r"\odot", "*", r"\circ", r"\cdot", r"\ast", r"\times"}
GREEK = {
    "\\" + g for g in (
        "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu "
        "xi pi rho sigma tau upsilon phi varphi chi psi omega "
        "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
    ).split()
}
DOTLESS = {r"\imath": "i", r"\jmath": "j"}  # i and j without their dot, under an accent: read as i and j
ACCENTS = {r"\hat", r"\tilde", r"\bar", r"\check", r"\breve", r"\dot", r"\ddot", r"\vec",
           r"\widehat", r"\widetilde", r"\overline"}
FONTS = {r"\mathit", r"\mathbf", r"\mathrm"}
LOSS_BASES = {"L", "l"}

# A time, written after a name: t, t-1, t+1, t+2, ..., T+1 (the boundary), or the summation index \tau.
TIME_RE = re.compile(r"^(t|T|\\tau)([+-][0-9]+)?$")
# A superscript that is part of a name rather than a power: letters and digits, at least one letter.
NAME_SCRIPT_RE = re.compile(r"^[A-Za-z0-9,]*[A-Za-z][A-Za-z0-9,]*$")
ALNUM_RE = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Equation:
    left: sp.Expr
    right: sp.Expr
    tag: str | None = None


class LatexReadError(ValueError):
    """The reader met something it does not understand; ``pos`` is the offset into the text read."""

    def __init__(self, message: str, source: str, pos: int):
        self.message = message
        self.source = source
        self.pos = pos
        self.near = source[pos:pos + 30]
        super().__init__(f"{message} at position {pos}: {self.near!r} (in {source!r})")


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------

class Token(NamedTuple):
    kind: str       # "cmd", "letter", "number", "open", "close", "punct", "end"
    text: str       # e.g. r"\frac", "x", "12", r"\left(", ")", "_"
    pos: int        # offset of the token in the source
    space: bool     # whitespace came right before it (matters for juxtaposition and "ab")


PUNCT = set("{}[]_^+-*=&,>:")  # ":" only in the rows of a block: [a]_{H + 1:2 H}


def tokenize(src: str) -> list[Token]:
    tokens: list[Token] = []
    i, n, space = 0, len(src), False

    def add(kind: str, text: str, pos: int) -> None:
        nonlocal space
        tokens.append(Token(kind, text, pos, space))
        space = False

    while i < n:
        c = src[i]
        if c.isspace():
            space, i = True, i + 1
        elif c == "\\":
            if i + 1 < n and src[i + 1].isascii() and src[i + 1].isalpha():
                j = i + 1
                while j < n and src[j].isascii() and src[j].isalpha():
                    j += 1
                name = src[i:j]
                if name in (r"\left", r"\right"):
                    # \left( is one token: the delimiter belongs to it, so that a group knows
                    # which closing delimiter it must meet.
                    k = j
                    while k < n and src[k].isspace():
                        k += 1
                    delim = src[k] if k < n else ""
                    if (name == r"\left" and delim in "([|") or (name == r"\right" and delim in ")]|"):
                        add("open" if name == r"\left" else "close", name + delim, i)
                        i = k + 1 if delim else k
                        continue
                    wanted = "(, [ or |" if name == r"\left" else "), ] or |"
                    raise LatexReadError(f"{name} must be followed by {wanted}", src, i)
                add("cmd", name, i)
                i = j
            elif i + 1 < n:
                add("cmd", src[i:i + 2], i)     # \\, \, \; \{ ...
                i += 2
            else:
                raise LatexReadError("a lone backslash", src, i)
        elif c.isascii() and c.isalpha():
            add("letter", c, i)
            i += 1
        elif c.isascii() and c.isdigit():
            m = re.match(r"[0-9]+(\.[0-9]+)?", src[i:])
            add("number", m.group(0), i)
            i += len(m.group(0))
        elif c in "()":
            add("open" if c == "(" else "close", c, i)
            i += 1
        elif c == "'":
            add("prime", c, i)
            i += 1
        elif c in PUNCT:
            add("punct", c, i)
            i += 1
        else:
            raise LatexReadError(f"unknown character {c!r}", src, i)
    tokens.append(Token("end", "", n, space))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------

@dataclass
class _Piece:
    r"""What postfix() returns: an expression, whether it ends in ^{\top}, and whether it is a bare name.

    The transposition is kept aside because it is not an expression on its own: it is only
    meaningful as the left of a product W^{\top} v or the right of an outer product a \, v^{\top}.
    """
    expr: sp.Expr
    transposed: bool = False
    is_name: bool = False


def _is_parameter(expr: sp.Expr) -> bool:
    """A symbol without a time: the only thing that multiplies its operand by juxtaposition."""
    return isinstance(expr, sp.Symbol) and expr.name.endswith("@")


def _is_loss(expr: sp.Expr) -> bool:
    return isinstance(expr, sp.Symbol) and expr.name.split("@", 1)[0] in LOSS_BASES


class _Parser:
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
        return tok.kind != "end" and tok.text == text

    def error(self, message: str, tok: Token | None = None) -> LatexReadError:
        return LatexReadError(message, self.src, (tok or self.peek()).pos)

    def expect(self, text: str, what: str | None = None) -> Token:
        if not self.at(text):
            raise self.error(f"expected {what or repr(text)}")
        return self.next()

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.error(f"unexpected {self.peek().text!r}")

    def raw_group(self) -> str:
        """A braced group's source text, without the braces, unparsed (names, tags, environments)."""
        open_tok = self.expect("{")
        depth = 1
        while True:
            tok = self.next()
            if tok.kind == "end":
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
        if tok.kind == "letter" or (tok.kind == "cmd" and tok.text[1:].isalpha()):
            return tok.text
        if tok.kind == "number" and len(tok.text) == 1:
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
        while self.peek().text in PRODUCT_OPS and self.peek().kind in ("cmd", "punct"):
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

    def juxt(self) -> _Piece:
        left = self.matvec()
        while self.at(r"\,"):
            thin = self.next()
            if left.transposed:
                raise self.error(r"an outer product's left side is not transposed", thin)
            right = self.postfix()
            if not right.transposed:
                raise self.error(r"\, stands only before a transposed vector (a \, v^{\top})", thin)
            left = _Piece(Outer(left.expr, right.expr))
        return left

    def matvec(self) -> _Piece:
        r"""Juxtaposition: W v, W^{\top} v, or a number's coefficient 2 v. Binds tighter than products."""
        left = self.postfix()
        if not self.starts_operand():
            return left
        where = self.peek()
        if left.is_name and _is_parameter(left.expr):
            operand = self.operand()
            return _Piece(MatVecT(left.expr, operand) if left.transposed else MatVec(left.expr, operand))
        if left.expr.is_Number and not left.transposed:
            return _Piece(left.expr * self.operand())
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
        if tok.kind == "letter":
            return True
        if tok.kind == "open":
            return True
        if tok.kind == "cmd":
            return (tok.text in GREEK or tok.text in ACCENTS or tok.text in FONTS
                    or tok.text in FUNCTIONS
                    or tok.text in (r"\frac", r"\begin", r"\operatorname", r"\sqrt"))
        return False

    def postfix(self) -> _Piece:
        piece = self.primary()
        while self.at("^"):
            caret = self.next()
            if piece.transposed:
                raise self.error(r"nothing may follow ^{\top}", caret)
            if self.at(r"\top") or (self.at("{") and self.at(r"\top", 1) and self.at("}", 2)):
                for _ in range(1 if self.at(r"\top") else 3):
                    self.next()
                piece = _Piece(piece.expr, transposed=True, is_name=piece.is_name)
            else:
                piece = _Piece(sp.Pow(piece.expr, self.script_expr()))
        return piece

    def script_expr(self) -> sp.Expr:
        """An exponent or a block's part: a braced expression, or one letter or digit."""
        if self.at("{"):
            self.next()
            value = self.expr()
            self.expect("}", "'}' closing a script")
            return value
        tok = self.peek()
        if tok.kind == "number" and len(tok.text) == 1:
            self.next()
            return sp.Integer(tok.text)
        if tok.kind == "letter":
            return self.name()
        raise self.error("a script must be braced, a letter or one digit")

    # -- primaries ---------------------------------------------------------------------------

    def primary(self) -> _Piece:
        tok = self.peek()
        if tok.kind == "number":
            self.next()
            return _Piece(sp.Rational(tok.text))  # exact: 0.00001 is 1/100000, as derive holds it
        if tok.kind == "open":
            if tok.text == r"\left[":
                return _Piece(self.block())
            if tok.text == r"\left|":
                return _Piece(self.absolute())
            return _Piece(self.group())
        if tok.kind == "cmd":
            if tok.text == r"\frac":
                return _Piece(self.frac())
            if tok.text == r"\begin":
                return _Piece(self.bmatrix())
            if tok.text == r"\sqrt":
                self.next()
                return _Piece(sp.Function("sqrt")(self.braced_expr()))
            if tok.text == r"\delta" and self.delta_is_adjoint():
                self.next()
                return _Piece(Adjoint(sp.Symbol("L@"), self.operand()))
            if tok.text in FUNCTIONS or tok.text == r"\operatorname":
                # \sigma is the logistic function before an argument, else the Greek letter.
                if tok.text != r"\sigma" or self.opens_argument(self.peek(1)):
                    return _Piece(self.function())
            if tok.text == r"\mathbf" and self.at("{", 1) and self.peek(2).text == "1" \
                    and self.at("}", 3):
                return _Piece(self.step())
            if tok.text in GREEK or tok.text in ACCENTS or tok.text in FONTS:
                return _Piece(self.name(), is_name=True)
        if tok.kind == "letter":
            return _Piece(self.name(), is_name=True)
        if tok.kind == "end":
            raise self.error("unexpected end: an operand is missing")
        raise self.error(f"unexpected {tok.text!r}")

    def group(self) -> sp.Expr:
        open_tok = self.next()
        value = self.expr()
        closing = ")" if open_tok.text == "(" else r"\right)"
        if not self.at(closing):
            raise self.error(f"expected {closing!r} closing {open_tok.text!r} at {open_tok.pos}")
        self.next()
        return value

    def block(self) -> sp.Expr:
        r"""\left[ X \right]_{part}: the block of X belonging to part."""
        open_tok = self.next()
        value = self.expr()
        self.expect(r"\right]", rf"'\right]' closing '\left[' at {open_tok.pos}")
        if not self.at("_"):
            raise self.error(r"\left[ X \right] needs a subscript _{part} (a block of X)")
        self.next()
        if self.at("{") and any(t.text == ":" for t in self.toks[self.i:self.matching_brace(self.i)]):
            self.next()  # _{first:last}: rows of X
            first = self.expr()
            self.expect(":", "':' between a block's first and last rows")
            last = self.expr()
            self.expect("}", "'}' closing a block's rows")
            return Rows(value, first, last)
        return Block(value, self.script_expr())

    def absolute(self) -> sp.Expr:
        r"""\left| X \right|: the absolute value of X."""
        open_tok = self.next()
        value = self.expr()
        self.expect(r"\right|", rf"'\right|' closing '\left|' at {open_tok.pos}")
        return sp.Function("abs")(value)

    def frac(self) -> sp.Expr:
        frac_tok = self.next()
        if not self.at("{"):
            raise self.error(r"\frac needs two braced arguments")
        top_marker = self.derivative_marker(self.i + 1)
        bottom_open = self.matching_brace(self.i) + 1
        if self.toks[bottom_open].text != "{":
            raise self.error(r"\frac needs two braced arguments", self.toks[bottom_open])
        bottom_marker = self.derivative_marker(bottom_open + 1)
        if r"\partial" in (top_marker, bottom_marker) and top_marker != bottom_marker:
            raise self.error(r"a \frac with \partial on one side only", frac_tok)
        if top_marker is None or bottom_marker is None:
            # A d on one side only is a symbol named d: this is a division.
            top, bottom = self.braced_expr(), self.braced_expr()
            return top / bottom
        top = self.braced_expr(skip_marker=True)
        bottom = self.braced_expr(skip_marker=True)
        return Adjoint(top, bottom) if _is_loss(top) else Partial(top, bottom)

    def derivative_marker(self, j: int) -> str | None:
        r"""What opens a \frac argument at token j: \partial, a differential d, or neither.

        d is a differential only when a name or \left( follows it (dL, d\hat{f}, dx_c, d L), and
        only when both arguments open with one; d alone, d_{..}, d^{..} and d(t) are a symbol d.
        """
        tok, after = self.toks[j], self.toks[min(j + 1, len(self.toks) - 1)]
        if tok.kind == "cmd" and tok.text == r"\partial":
            return r"\partial"
        if tok.kind == "letter" and tok.text == "d":
            if after.kind == "letter" or (after.kind == "cmd" and (
                    after.text in GREEK or after.text in ACCENTS or after.text in FONTS)):
                return "d"
            if after.kind == "open" and after.text == r"\left(":
                return "d"
        return None

    def matching_brace(self, j: int) -> int:
        depth = 0
        for k in range(j, len(self.toks)):
            if self.toks[k].text == "{" and self.toks[k].kind == "punct":
                depth += 1
            elif self.toks[k].text == "}" and self.toks[k].kind == "punct":
                depth -= 1
                if depth == 0:
                    return k
        raise self.error("unclosed '{'", self.toks[j])

    def braced_expr(self, skip_marker: bool = False) -> sp.Expr:
        self.expect("{")
        if skip_marker:
            self.next()
            if self.at("}"):
                raise self.error(r"nothing after \partial or d")
        value = self.expr()
        self.expect("}", "'}' closing a \\frac argument")
        return value

    def delta_is_adjoint(self) -> bool:
        r"""\delta X is an adjoint when an operand follows; \delta_{..}, \delta(t) or \delta alone is a letter."""
        after = self.peek(1)
        if after.kind == "open" and after.text == "(" and not after.space:
            return False
        self.i += 1
        try:
            return self.starts_operand()
        finally:
            self.i -= 1

    def function(self) -> sp.Expr:
        tok = self.next()
        if tok.text == r"\operatorname":
            name = self.raw_group().strip()
            if not ALNUM_RE.match(name):
                raise self.error(r"\operatorname{..} names a function with letters and digits", tok)
        else:
            name = FUNCTIONS[tok.text]
        if not self.opens_argument(self.peek()):
            raise self.error(f"{tok.text} needs an argument in parentheses")
        if name in TWO_ARGUMENTS:
            return sp.Function(name)(*self.pair())
        return sp.Function(name)(self.group())

    def pair(self) -> tuple[sp.Expr, sp.Expr]:
        """( A, B ) or \\left( A, B \\right): the two arguments of \\max or \\min."""
        open_tok = self.next()
        first = self.expr()
        self.expect(",", "',' between the two arguments")
        second = self.expr()
        closing = ")" if open_tok.text == "(" else r"\right)"
        self.expect(closing, f"{closing!r} closing {open_tok.text!r} at {open_tok.pos}")
        return first, second

    @staticmethod
    def opens_argument(tok: Token) -> bool:
        return tok.kind == "open" and tok.text in ("(", r"\left(")

    def step(self) -> sp.Expr:
        r"""\mathbf{1}\left[ X > 0 \right]: the step function of X; \mathbf{1}\left[ A > B \right] and
        \mathbf{1}\left[ A \geq B \right]: 1 where the comparison holds; \mathbf{1}^{\top} \left(X\right): X
        summed over its units; \mathbf{1} X: X spread over a vector's units."""
        for _ in range(4):
            self.next()
        if self.peek().text == "^":
            self.next()
            if self.raw_group().strip() != r"\top":
                raise self.error(r"\mathbf{1}^{..} is \mathbf{1}^{\top}")
            return UNITSUM(self.group())
        if self.peek().text != r"\left[":
            return SPREAD(self.primary().expr)
        self.expect(r"\left[", r"'\left[' after \mathbf{1}")
        value = self.expr()
        if not (self.at(">") or self.at(r"\geq")):
            raise self.error(r"'>' or '\geq' in \mathbf{1}\left[A > B\right]")
        strict = self.next().text == ">"
        other = self.expr()
        self.expect(r"\right]", r"'\right]' closing \mathbf{1}\left[")
        if strict and other == 0:
            return STEP(value)
        return sp.Function("greater" if strict else "greater_equal")(value, other)

    def bmatrix(self) -> sp.Expr:
        begin = self.next()
        if self.raw_group().strip() != "bmatrix":
            raise self.error(r"the only environment inside an equation is bmatrix", begin)
        rows = [self.expr()]
        while self.at("\\\\"):
            self.next()
            rows.append(self.expr())
        self.expect(r"\end", r"'\\' or '\end{bmatrix}'")
        if self.raw_group().strip() != "bmatrix":
            raise self.error(r"expected \end{bmatrix}", begin)
        return Concat(*rows)

    # -- names -------------------------------------------------------------------------------

    def name(self) -> sp.Symbol:
        start = self.peek()
        base, time = self.name_base(allow_time=self.time == "subscript")
        after = self.peek()
        if after.kind == "open" and after.text == "(" and not after.space:
            if self.time == "subscript":
                raise self.error("a parenthesis right after a name: a time in parentheses, but "
                                 "this is read with time='subscript'", after)
            if time is not None:
                raise self.error("two times on one name", after)
            time = self.paren_time(start)
        return sp.Symbol(f"{base}@{time or ''}")

    def paren_time(self, name_tok: Token) -> str:
        """The time in h(t-1): one of t, t±k, \\tau, in parentheses right after the name."""
        open_tok = self.next()
        j = self.i
        while self.toks[j].kind not in ("end", "close", "open"):
            j += 1
        close_tok = self.toks[j]
        if close_tok.kind == "end":
            raise self.error("unclosed '('", open_tok)
        text = re.sub(r"\s+", "", self.src[open_tok.pos + 1:close_tok.pos])
        if close_tok.text != ")" or not TIME_RE.match(text):
            raise self.error(r"expected a time (t, t-1, t+1, \tau) in parentheses after a name",
                             open_tok)
        self.i = j + 1
        return text

    def name_base(self, allow_time: bool) -> tuple[str, str | None]:
        """A name's canonical LaTeX and, in subscript mode, the time its subscript holds."""
        base = self.core()
        while self.peek().kind == "prime" and not self.peek().space:
            base += self.next().text    # a prime belongs to the name: f' is a name of its own
        time = None
        while self.at("_") or self.at("^"):
            if self.at("^") and not self.superscript_is_name():
                break           # ^{\top} or a power: postfix, not part of the name
            script_tok = self.next()
            mark = script_tok.text
            text = self.raw_script()
            if mark == "_":
                sub, sub_time = self.split_time(text, script_tok)
                if sub_time is not None:
                    if not allow_time:
                        raise self.error("a time in a subscript here: read with "
                                         "time='subscript', or not inside an accent", script_tok)
                    if time is not None:
                        raise self.error("two times on one name", script_tok)
                    time = sub_time
                if sub:
                    base += "_{" + sub + "}"
            else:
                base += "^{" + text + "}"
        return base, time

    def split_time(self, sub: str, tok: Token) -> tuple[str, str | None]:
        """Split a subscript into the name's part and a time: t-1 -> ("", "t-1"), g,t -> ("g", "t")."""
        if TIME_RE.match(sub):
            return "", sub
        head, comma, tail = sub.rpartition(",")
        if comma and TIME_RE.match(tail):
            if not head:
                raise self.error("an empty subscript before the time", tok)
            return head, tail
        return sub, None

    def superscript_is_name(self) -> bool:
        """Whether the ^ ahead carries letters and digits (part of the name), not ^{\\top} or a power."""
        after = self.peek(1)
        if after.kind == "letter":
            return True
        if after.text != "{":
            return False
        save = self.i
        try:
            self.next()
            return bool(NAME_SCRIPT_RE.match(re.sub(r"\s+", "", self.raw_group())))
        except LatexReadError:
            return False
        finally:
            self.i = save

    def core(self) -> str:
        tok = self.next()
        if tok.kind == "letter":
            after = self.peek()
            if after.kind in ("letter", "number") and not after.space:
                raise self.error(f"{tok.text}{after.text}: adjacent letters or digits are ambiguous "
                                 r"(a multi-letter name is \mathit{..}; a product needs a space "
                                 r"or an operator)", tok)
            return tok.text
        if tok.text in GREEK:
            return tok.text
        if tok.text in DOTLESS:
            return DOTLESS[tok.text]
        if tok.text in ACCENTS:
            if self.at("{"):
                self.next()
                inner, _ = self.name_base(allow_time=False)
                self.expect("}", f"'}}' closing {tok.text}{{..}}: an accent holds one name")
            else:
                inner, _ = self.name_base_unbraced()
            return f"{tok.text}{{{inner}}}"
        if tok.text in FONTS:
            content = re.sub(r"\s+", "", self.raw_group())
            if not ALNUM_RE.match(content):
                raise self.error(f"{tok.text}{{..}} holds letters and digits", tok)
            return f"{tok.text}{{{content}}}"
        raise self.error(f"expected a name, not {tok.text!r}", tok)

    def name_base_unbraced(self) -> tuple[str, None]:
        r"""\hat f: the accent's argument is the single next letter or command."""
        tok = self.peek()
        if tok.kind == "letter" or tok.text in GREEK:
            self.next()
            return tok.text, None
        raise self.error("an unbraced accent takes one letter")


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


def display_equations(text: str, flavor: str) -> list[str]:
    """Every display equation of a document, each as ``left = right \\tag{..}``.

    md, jekyll, hugo: ``$$`` blocks whose ``$$`` stand on lines of their own (kramdown's inline
    ``$$..$$`` inside prose is skipped). commonmark: the same blocks, with CommonMark's backslash
    escapes undone. tex: ``align*``/``align``/``equation``/``equation*`` environments. A block holding
    ``\\begin{aligned}`` (or an align environment) is split into its rows at ``\\\\``.
    """
    if flavor in ("md", "jekyll", "hugo", "commonmark"):
        blocks = _dollar_blocks(text)
        if flavor == "commonmark":
            blocks = [(_commonmark_unescape(body), pos) for body, pos in blocks]
        equations = []
        for body, pos in blocks:
            equations += _display_rows(body, text, pos)
        return equations
    if flavor == "tex":
        equations = []
        for m in re.finditer(r"\\begin\{(align\*?|equation\*?)\}(.*?)\\end\{\1\}", text, re.DOTALL):
            body = m.group(2)
            if m.group(1).startswith("align"):
                equations += [_relation(row) for row in _continued(_split_rows(body, text, m.start(2)))]
            else:
                equations += _display_rows(body, text, m.start(2))
        return equations
    raise ValueError(f"unknown flavor {flavor!r}: md, jekyll, hugo, commonmark or tex")


def _continued(rows: list[str]) -> list[str]:
    r"""Rows of an align with each row that begins ``&\quad`` joined to the row before it: one equation
    too wide for the page, broken at a + or a product and continued under its first line."""
    joined: list[str] = []
    for row in rows:
        stripped = row.strip()
        if stripped.startswith(r"&\quad") and joined:
            joined[-1] += " " + stripped[len(r"&\quad"):].strip()
        else:
            joined.append(row)
    return joined


def _dollar_blocks(text: str) -> list[tuple[str, int]]:
    """The bodies of ``$$`` blocks whose delimiters stand alone on their lines, with their offsets."""
    blocks, body, start, offset = [], None, 0, 0
    for line in text.splitlines(keepends=True):
        if line.strip() == "$$":
            if body is None:
                body, start = [], offset + len(line)
            else:
                blocks.append(("".join(body), start))
                body = None
        elif body is not None:
            body.append(line)
        offset += len(line)
    if body is not None:
        raise LatexReadError("a $$ block is not closed", text, start)
    return blocks


def _commonmark_unescape(body: str) -> str:
    """Undo CommonMark's escapes: a backslash before an ASCII punctuation character is an escape."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", body)


def _display_rows(body: str, text: str, pos: int) -> list[str]:
    """One display's equations: the rows of an aligned environment, or the display itself."""
    inner = body.strip()
    m = re.fullmatch(r"\\begin\{aligned\}(.*)\\end\{aligned\}", inner, re.DOTALL)
    if m:
        return [_relation(row) for row in _split_rows(m.group(1), text, pos)]
    if inner.startswith(r"\begin{"):
        raise LatexReadError("unknown display environment", text, pos)
    return [_relation(inner)]


def _relation(row: str) -> str:
    r"""A row as ``left = right \tag{..}``: its alignment mark dropped, and a label at its end in a column
    of its own (``&& \text{(B3)}``, how a row of ``aligned`` is tagged where ``\tag`` is refused) read as
    the tag it is."""
    row = re.sub(r"\s*&&\s*\\text\{\(([^()]+)\)\}\s*$", r" \\tag{\1}", row.strip())
    return re.sub(r"\s*&\s*=", " =", row, count=1).strip()


def _split_rows(body: str, text: str, pos: int) -> list[str]:
    r"""Split at the ``\\`` that end rows: not those inside braces or an inner environment (bmatrix)."""
    rows, depth, last, i = [], 0, 0, 0
    while i < len(body):
        if body.startswith("\\\\", i):
            if depth == 0:
                rows.append(body[last:i])
                last = i + 2
            i += 2
        elif body.startswith(r"\begin{", i) or body.startswith(r"\end{", i):
            # \begin{bmatrix} opens an inner environment, \end{..} closes it; skip the name.
            depth += 1 if body.startswith(r"\begin{", i) else -1
            i = body.find("}", i) + 1 or len(body)
        elif body[i] == "\\":
            i += 2          # \{ \} \, ... never open or close anything
        else:
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            i += 1
        if depth < 0:
            raise LatexReadError("unbalanced braces or environments in a display", text, pos + i)
    rows.append(body[last:])
    return [row.strip() for row in rows if row.strip()]
