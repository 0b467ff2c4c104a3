r"""The LaTeX reader (derive/latex_read.py): hand-written cases, the generated documents, errors.

The reader was written from the generated documents alone, without derive's printers, so that a
comparison of printed equations with the model proves something; these tests check the reader itself.
"""
from __future__ import annotations

import dataclasses
import functools
import tomllib

import pytest
import sympy as sp

from conftest import ROOT
from derive.latex_read import (
    Adjoint, Block, Concat, Equation, LatexReadError, LossSum, MatVec, MatVecT, Outer, Partial,
    TimeSum, display_equations, read, read_equation,
)


def S(base: str, time: str = "") -> sp.Symbol:
    return sp.Symbol(f"{base}@{time}")


L, a, b, c, v, x, U, W = S("L"), S("a"), S("b"), S("c"), S("v"), S("x"), S("U"), S("W")
tanh, sigmoid, exp, relu, step = (sp.Function(n) for n in ("tanh", "sigmoid", "exp", "relu", "step"))


# ---------------------------------------------------------------------------------------------
# (1) Hand-written cases
# ---------------------------------------------------------------------------------------------

PARENS_CASES = [
    # symbols and times
    ("h(t-1)", S("h", "t-1")),
    ("h(t - 1)", S("h", "t-1")),
    (r"\hat{f}(t)", S(r"\hat{f}", "t")),
    (r"\hat f(t)", S(r"\hat{f}", "t")),
    (r"\tilde{h}(t+1)", S(r"\tilde{h}", "t+1")),
    (r"\hat{\tilde{h}}(t)", S(r"\hat{\tilde{h}}", "t")),
    (r"\bar{x}", S(r"\bar{x}")),
    (r"\mathbf{h}(t)", S(r"\mathbf{h}", "t")),
    (r"\mathit{xc}(t)", S(r"\mathit{xc}", "t")),
    ("f'(t)", S("f'", "t")),               # a prime is part of the name (minlstm's f')
    (r"\frac{dL}{df'(t)}", Adjoint(L, S("f'", "t"))),
    ("x_c(t)", S("x_{c}", "t")),
    ("W_{f}", S("W_{f}")),
    ("W_{ hc }", S("W_{hc}")),
    ("b_1", S("b_{1}")),
    (r"W^{hx}_{f}", S("W^{hx}_{f}")),
    (r"\alpha", S(r"\alpha")),
    (r"\sigma", S(r"\sigma")),           # no argument: the Greek letter
    (r"\delta", S(r"\delta")),           # nothing follows: the Greek letter
    (r"l(\tau)", S("l", r"\tau")),
    # adjoints and local derivatives
    (r"\frac{\partial L}{\partial h(t)}", Adjoint(L, S("h", "t"))),
    (r"\frac{dL}{dh(t)}", Adjoint(L, S("h", "t"))),
    (r"\frac{dL}{dx_c(t+1)}", Adjoint(L, S("x_{c}", "t+1"))),
    (r"\frac{dL}{d\hat{f}(t)}", Adjoint(L, S(r"\hat{f}", "t"))),
    (r"\delta h(t)", Adjoint(L, S("h", "t"))),
    (r"\delta \left(a \odot b\right)", Adjoint(L, a * b)),
    (r"\frac{\partial l(t)}{\partial h(t)}", Adjoint(S("l", "t"), S("h", "t"))),
    (r"\frac{\partial L(t)}{\partial s(t-1)}", Adjoint(S("L", "t"), S("s", "t-1"))),
    (r"\frac{dL(t)}{ds(t-1)}", Adjoint(S("L", "t"), S("s", "t-1"))),
    (r"\frac{\partial L(t+1)}{\partial s(t)}", Adjoint(S("L", "t+1"), S("s", "t"))),
    (r"\frac{\partial L}{\partial W_{r}}", Adjoint(L, S("W_{r}"))),
    (r"\frac{\partial L}{\partial \left(h(t) \odot r(t+1)\right)}",
     Adjoint(L, S("h", "t") * S("r", "t+1"))),
    (r"\frac{\partial L}{\partial \left(W_{f} x(t)\right)}", Adjoint(L, MatVec(S("W_{f}"), S("x", "t")))),
    (r"\frac{\partial L}{\partial \tanh\left(a\right)}", Adjoint(L, tanh(a))),
    (r"\frac{\partial h(t+1)}{\partial h(t)}", Partial(S("h", "t+1"), S("h", "t"))),
    (r"\frac{ds(t+1)}{ds(t)}", Partial(S("s", "t+1"), S("s", "t"))),
    (r"\frac{\partial \left(h(t) \odot r(t+1)\right)}{\partial h(t)}",
     Partial(S("h", "t") * S("r", "t+1"), S("h", "t"))),
    # division and numbers
    (r"\frac{a}{b}", a / b),
    (r"\frac{1}{2}", sp.Rational(1, 2)),
    (r"\frac{a}{b \odot c}", a / (b * c)),
    ("2", sp.Integer(2)),
    ("0.5", sp.Rational(1, 2)),  # exact, as derive holds its numbers
    ("2 x(t)", 2 * S("x", "t")),
    (r"\frac{1}{2} x", x / 2),
    # operators
    ("a + b", a + b),
    ("a - b", a - b),
    ("-a", -a),
    (r"a \odot b", a * b),
    ("a * b", a * b),
    (r"a \circ b", a * b),
    (r"a \cdot b", a * b),
    (r"a \ast b", a * b),
    (r"a \times b", a * b),
    ("a^{2}", a**2),
    ("a^2", a**2),
    (r"1 - \tilde{h}(t)^{2}", 1 - S(r"\tilde{h}", "t") ** 2),
    # precedence
    (r"U h(t-1) \odot r(t)", MatVec(U, S("h", "t-1")) * S("r", "t")),
    (r"U \left(h(t-1) \odot r(t)\right)", MatVec(U, S("h", "t-1") * S("r", "t"))),
    (r"a - \left(b + c\right)", a - b - c),
    ("a - b - c", a - b - c),
    (r"-a \odot b", -(a * b)),
    ("-a^{2}", -(a**2)),
    (r"a + b \odot c", a + b * c),
    (r"\left(a + b\right) \odot c", (a + b) * c),
    ("(a + b) * c", (a + b) * c),
    (r"\tanh\left(c(t)\right)^{2}", tanh(S("c", "t")) ** 2),
    (r"\left(W x\right)^{2}", MatVec(W, x) ** 2),
    (r"U W x", MatVec(U, MatVec(W, x))),
    (r"W_{f}X", MatVec(S("W_{f}"), S("X"))),
    # matrix products
    (r"W^{\top} v", MatVecT(W, v)),
    (r"U_{z}^{\top} \frac{\partial L}{\partial \hat{z}(t+1)}",
     MatVecT(S("U_{z}"), Adjoint(L, S(r"\hat{z}", "t+1")))),
    (r"a \, v^{\top}", Outer(a, v)),
    (r"\frac{\partial L}{\partial \hat{r}(t)} \, \left(h(t-1) \odot r(t)\right)^{\top}",
     Outer(Adjoint(L, S(r"\hat{r}", "t")), S("h", "t-1") * S("r", "t"))),
    (r"W \begin{bmatrix} a \\ b \end{bmatrix}", MatVec(W, Concat(a, b))),
    (r"W \sigma\left(x\right)", MatVec(W, sigmoid(x))),
    # blocks, concatenation, sums
    (r"\begin{bmatrix} h(t-1) \\ x(t) \end{bmatrix}", Concat(S("h", "t-1"), S("x", "t"))),
    (r"\left[\frac{\partial L}{\partial X(t+1)}\right]_{h(t)}",
     Block(Adjoint(L, S("X", "t+1")), S("h", "t"))),
    (r"\sum_{t} a \odot b + c", TimeSum(a * b) + c),
    (r"\sum_t a", TimeSum(a)),
    (r"\sum_{t} \frac{\partial L}{\partial \hat{r}(t)} \, x(t)^{\top}",
     TimeSum(Outer(Adjoint(L, S(r"\hat{r}", "t")), S("x", "t")))),
    (r"\sum_{t} c(t-1) \odot \frac{\partial L}{\partial \hat{f}(t)} - a",
     TimeSum(S("c", "t-1") * Adjoint(L, S(r"\hat{f}", "t"))) - a),
    (r"\sum_{t=1}^{T} l(t)", LossSum(S("l", "t"), sp.Symbol("t"), sp.Integer(1), sp.Symbol("T"))),
    (r"\sum_{\tau = t}^{T} l(\tau)",
     LossSum(S("l", r"\tau"), sp.Symbol(r"\tau"), sp.Symbol("t"), sp.Symbol("T"))),
    # functions
    (r"\sigma\left(x\right)", sigmoid(x)),
    (r"\tanh(x)", tanh(x)),
    (r"\exp\left(x\right)", exp(x)),
    (r"\operatorname{relu}\left(x\right)", relu(x)),
    (r"\mathbf{1}\left[ x > 0 \right]", step(x)),
    (r"\tanh\left(0\right)", tanh(0)),   # inert: not SymPy's tanh, which would give 0
]


@pytest.mark.parametrize("latex, expected", PARENS_CASES, ids=[c[0] for c in PARENS_CASES])
def test_parens_time(latex, expected):
    assert read(latex) == expected


SUBSCRIPT_CASES = [
    ("h_{t-1}", S("h", "t-1")),
    ("h_{t}", S("h", "t")),
    ("L_{t+1}", S("L", "t+1")),
    (r"l_{\tau}", S("l", r"\tau")),
    ("W_{g,t}", S("W_{g}", "t")),
    ("W_{f}", S("W_{f}")),
    (r"\hat{f}_{t}", S(r"\hat{f}", "t")),
    (r"\hat{\tilde{c}}_{t}", S(r"\hat{\tilde{c}}", "t")),
    (r"W_{f} X_{t} + b_{f}", MatVec(S("W_{f}"), S("X", "t")) + S("b_{f}")),
    (r"\frac{\partial L_{t}}{\partial s_{t-1}}", Adjoint(S("L", "t"), S("s", "t-1"))),
    (r"\frac{\partial l_{t}}{\partial h_{t}}", Adjoint(S("l", "t"), S("h", "t"))),
    (r"\left[\frac{\partial L}{\partial X_{t+1}}\right]_{h_{t}}",
     Block(Adjoint(L, S("X", "t+1")), S("h", "t"))),
    (r"\sum_{\tau = t}^{T} l_{\tau}",
     LossSum(S("l", r"\tau"), sp.Symbol(r"\tau"), sp.Symbol("t"), sp.Symbol("T"))),
]


@pytest.mark.parametrize("latex, expected", SUBSCRIPT_CASES, ids=[c[0] for c in SUBSCRIPT_CASES])
def test_subscript_time(latex, expected):
    assert read(latex, time="subscript") == expected


def test_equation_with_tag_and_alignment():
    eq = read_equation(r"\frac{\partial L}{\partial z(t)} &= \frac{\partial L}{\partial h(t)} "
                       r"\odot \left(h(t-1) - \tilde{h}(t)\right) \tag{B5}")
    assert eq == Equation(Adjoint(L, S("z", "t")),
                          Adjoint(L, S("h", "t")) * (S("h", "t-1") - S(r"\tilde{h}", "t")), "B5")
    assert read_equation("L(t) = l(t) + L(t+1)") == Equation(S("L", "t"), S("l", "t") + S("L", "t+1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        eq.tag = "B6"


# ---------------------------------------------------------------------------------------------
# display_equations on small documents of each flavour
# ---------------------------------------------------------------------------------------------

MD = r"""# A cell

Prose with $a$ inline.

$$
\begin{aligned}
X(t) &= \begin{bmatrix} h(t-1) \\ x(t) \end{bmatrix} \\
h(t) &= \tanh\left(W X(t)\right)
\end{aligned}
$$

$$
\frac{\partial L}{\partial h(t)} = \frac{\partial l(t)}{\partial h(t)} \tag{B1}
$$
"""

EXPECTED = [
    r"X(t) = \begin{bmatrix} h(t-1) \\ x(t) \end{bmatrix}",
    r"h(t) = \tanh\left(W X(t)\right)",
    r"\frac{\partial L}{\partial h(t)} = \frac{\partial l(t)}{\partial h(t)} \tag{B1}",
]


def test_display_equations_md_and_hugo():
    assert display_equations(MD, "md") == EXPECTED
    assert display_equations(MD.replace("$a$", r"\(a\)"), "hugo") == EXPECTED


def test_display_equations_jekyll_skips_inline_double_dollars():
    jekyll = "---\nlayout: post\n---\nProse $$L = \\sum_t l(t)$$ and $$h(t)$$ inline.\n" + MD
    assert display_equations(jekyll, "jekyll") == EXPECTED


def test_display_equations_commonmark_undoes_escapes():
    commonmark = r"""$$
\begin{aligned}
x\_c(t) &= \begin{bmatrix} x(t) \\\\ h(t-1) \end{bmatrix} \\\\
s(t) &= f(t) \* s(t-1)
\end{aligned}
$$

$$
\frac{dL}{dh(t)} = \left\[\frac{dL}{dx\_c(t+1)}\right\]\_{h(t)} + \sum\_{t} a \\, v^{\top} \tag{B1}
$$
"""
    assert display_equations(commonmark, "commonmark") == [
        r"x_c(t) = \begin{bmatrix} x(t) \\ h(t-1) \end{bmatrix}",
        r"s(t) = f(t) * s(t-1)",
        r"\frac{dL}{dh(t)} = \left[\frac{dL}{dx_c(t+1)}\right]_{h(t)} + \sum_{t} a \, v^{\top} \tag{B1}",
    ]


def test_display_equations_tex():
    tex = r"""\section*{Forward pass}
\begin{align*}
X(t) &= \begin{bmatrix} h(t-1) \\ x(t) \end{bmatrix} \\
h(t) &= \tanh\left(W X(t)\right)
\end{align*}
\noindent $L = \sum_t l(t)$ in prose.
\begin{align*}
\frac{\partial L}{\partial h(t)} &= \frac{\partial l(t)}{\partial h(t)} \tag{B1} \\
\end{align*}
\begin{equation*}
a = b
\end{equation*}
"""
    assert display_equations(tex, "tex") == EXPECTED + ["a = b"]


def test_display_equations_rejects_unknown_flavor_and_open_block():
    with pytest.raises(ValueError):
        display_equations(MD, "rst")
    with pytest.raises(LatexReadError):
        display_equations("$$\na = b\n", "md")
    with pytest.raises(LatexReadError):
        display_equations("$$\n\\begin{gathered} a = b \\end{gathered}\n$$\n", "md")


# ---------------------------------------------------------------------------------------------
# (2) Every display equation of every generated document
# ---------------------------------------------------------------------------------------------

FLAVORS = {"md": ".md", "jekyll": ".jekyll.md", "hugo": ".hugo.md", "commonmark": ".commonmark.md",
           "tex": ".tex"}
GENERATED_CELLS = sorted(p.name for p in (ROOT / "generated").iterdir() if p.is_dir())


def time_style(cell: str) -> str:
    """How the cell writes a step: its spec's [latex] time ("parens" unless it says otherwise)."""
    spec = tomllib.loads((ROOT / "derive" / "cells" / f"{cell}.toml").read_text())
    return spec.get("latex", {}).get("time", "parens")


@functools.lru_cache(maxsize=None)
def read_cached(latex: str, time: str) -> Equation:
    return read_equation(latex, time)


def test_corpus_has_both_time_styles():
    assert time_style("lstm") == "subscript"
    assert time_style("gru") == "parens"


@pytest.mark.parametrize("cell", GENERATED_CELLS)
def test_generated_documents_read(cell):
    time = time_style(cell)
    equations = {
        flavor: display_equations((ROOT / "generated" / cell / f"{cell}{suffix}").read_text(), flavor)
        for flavor, suffix in FLAVORS.items()
    }
    # Five flavours of one document: the same equations, in the same order, once extracted.
    for flavor, found in equations.items():
        assert found == equations["md"], flavor
    assert len(equations["md"]) > 10
    read_all = [read_cached(latex, time) for latex in equations["md"]]
    tags = [eq.tag for eq in read_all if eq.tag]
    assert "B1" in tags
    # Every backward equation's left side is an adjoint of the loss.
    assert all(isinstance(eq.left, Adjoint) for eq in read_all if eq.tag)


# ---------------------------------------------------------------------------------------------
# (3) Errors
# ---------------------------------------------------------------------------------------------

ERRORS = [
    # (latex, time, position of the error)
    ("h(t", "parens", 1),                                   # unclosed time
    ("a +", "parens", 3),                                   # operand missing at the end
    (r"\frac{\partial L}{h(t)}", "parens", 0),              # \partial above only
    (r"\foo x", "parens", 0),                               # unknown command
    ("ab", "parens", 0),                                    # adjacent letters
    ("h(t) x(t)", "parens", 5),                             # juxtaposition after a symbol with time
    (r"\left(a\right) b", "parens", 15),                    # juxtaposition after a group
    ("h(s)", "parens", 1),                                  # not a time
    ("h_{t}", "parens", 1),                                 # a subscript time in parens mode
    ("h(t)", "subscript", 1),                               # a parens time in subscript mode
    (r"\left( a \right]", "parens", 9),                     # mismatched delimiters
    (r"x^{\top}", "parens", 0),                             # a transposition with no product
    (r"W^{\top}", "parens", 0),
    (r"a \, b", "parens", 2),                               # \, without a transposed vector
    (r"\tanh x", "parens", 6),                              # a function without parentheses
    (r"\sum_{s} x", "parens", 0),
    (r"\left[ x \right]", "parens", 16),                    # a block without its part
    (r"\mathbf{1}\left[ x < 0 \right]", "parens", 19),
    ("a = b", "parens", 2),                                 # read() takes an expression
    ("∂ x", "parens", 0),
    (r"\begin{pmatrix} a \end{pmatrix}", "parens", 0),
    (r"\left\{ a \right\}", "parens", 0),
    (r"\frac{\partial}{\partial x}", "parens", 14),
    (r"\frac{d}{dx}", "parens", 9),                         # d x or a name dx?
    ("h^{2}(t)", "parens", 5),                              # a power before the time
    ("a \\", "parens", 2),
]


@pytest.mark.parametrize("latex, time, pos", ERRORS, ids=[e[0] for e in ERRORS])
def test_malformed_input_raises_with_position(latex, time, pos):
    with pytest.raises(LatexReadError) as info:
        read(latex, time)
    assert info.value.pos == pos
    assert f"at position {pos}" in str(info.value)
    assert info.value.near == latex[pos:pos + 30]


def test_malformed_equations_raise():
    with pytest.raises(LatexReadError, match="expected '='"):
        read_equation("a + b")
    with pytest.raises(LatexReadError, match="unexpected"):
        read_equation(r"a = b \tag{B1} c")
    with pytest.raises(ValueError):
        read("a", time="sub")
