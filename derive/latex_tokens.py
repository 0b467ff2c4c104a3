"""What the LaTeX reader (latex_read) builds, and the tokens it reads: inert SymPy functions for what
derive's documents write (an adjoint, W v, W^T v, a block, a sum over time), the names of the commands it
knows, and the tokenizer."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import sympy as sp

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
    category: str   # "cmd", "letter", "number", "open", "close", "punct", "end"
    text: str       # e.g. r"\frac", "x", "12", r"\left(", ")", "_"
    pos: int        # offset of the token in the source
    space: bool     # whitespace came right before it (matters for juxtaposition and "ab")


PUNCT = set("{}[]_^+-*=&,>:")  # ":" only in the rows of a block: [a]_{H + 1:2 H}


def tokenize(src: str) -> list[Token]:
    tokens: list[Token] = []
    i, n, space = 0, len(src), False
    while i < n:
        c = src[i]
        if c.isspace():
            space, i = True, i + 1
            continue
        if c == "\\":
            kind, text, end = _backslash_token(src, i)
        elif c.isascii() and c.isalpha():
            kind, text, end = "letter", c, i + 1
        elif c.isascii() and c.isdigit():
            text = re.match(r"[0-9]+(\.[0-9]+)?", src[i:]).group(0)
            kind, end = "number", i + len(text)
        elif c in "()":
            kind, text, end = ("open" if c == "(" else "close"), c, i + 1
        elif c == "'":
            kind, text, end = "prime", c, i + 1
        elif c in PUNCT:
            kind, text, end = "punct", c, i + 1
        else:
            raise LatexReadError(f"unknown character {c!r}", src, i)
        tokens.append(Token(kind, text, i, space))
        space, i = False, end
    tokens.append(Token("end", "", n, space))
    return tokens


def _backslash_token(src: str, i: int) -> tuple[str, str, int]:
    """(kind, text, end) of the token a backslash starts: a command (\\frac), \\left( or \\right) with its
    delimiter, or a backslash and one character (\\, \\\\ \\{)."""
    n = len(src)
    if not (i + 1 < n and src[i + 1].isascii() and src[i + 1].isalpha()):
        if i + 1 < n:
            return "cmd", src[i:i + 2], i + 2
        raise LatexReadError("a lone backslash", src, i)
    j = i + 1
    while j < n and src[j].isascii() and src[j].isalpha():
        j += 1
    name = src[i:j]
    if name not in (r"\left", r"\right"):
        return "cmd", name, j
    # \left( is one token: the delimiter belongs to it, so that a group knows which closing delimiter it must meet.
    k = j
    while k < n and src[k].isspace():
        k += 1
    delim = src[k] if k < n else ""
    if (name == r"\left" and delim in "([|") or (name == r"\right" and delim in ")]|"):
        return ("open" if name == r"\left" else "close"), name + delim, (k + 1 if delim else k)
    wanted = "(, [ or |" if name == r"\left" else "), ] or |"
    raise LatexReadError(f"{name} must be followed by {wanted}", src, i)


# ---------------------------------------------------------------------------------------------
# What a piece of the parser returns
# ---------------------------------------------------------------------------------------------

@dataclass
class Piece:
    r"""What postfix() returns: an expression, whether it ends in ^{\top}, and whether it is a bare name.

    The transposition is kept aside because it is not an expression on its own: it is only
    meaningful as the left of a product W^{\top} v or the right of an outer product a \, v^{\top}.
    """
    expr: sp.Expr
    transposed: bool = False
    is_name: bool = False


def is_parameter(expr: sp.Expr) -> bool:
    """A symbol without a time: the only thing that multiplies its operand by juxtaposition."""
    return isinstance(expr, sp.Symbol) and expr.name.endswith("@")


def is_loss(expr: sp.Expr) -> bool:
    return isinstance(expr, sp.Symbol) and expr.name.split("@", 1)[0] in LOSS_BASES


