"""How symbols read in LaTeX and in code comments, and the time bookkeeping both need.

Symbols are named as in the code (`d_s`, `s_prev`, `g_pre`); here they get their printed
forms: `\\frac{\\partial L}{\\partial s(t)}`, `s(t-1)`, `\\hat{g}(t)`. Expressions about step t+1
are written with shifted symbols (`f@next` prints as f(t+1)), so one printer serves both.
"""
from __future__ import annotations

import sympy as sp

from .derivation import Derivation, LineRole
from .dims import SizeSymbol
from .functions import Concat, Elementwise, ZerosLike
from .errors import Location, SpecNameError
from .model import CellModel, Kind, Role
from .printers import LatexCellPrinter, TextPrinter
from .style import LatexStyle

NEXT = "@next"  # suffix of a symbol read at step t+1
LOSS = "@loss"  # suffix of the loss term dl(t)/dv(t)
ACCENTS = ("tilde", "hat", "bar")
GREEK = {name: "\\" + name for name in (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "kappa", "lambda", "mu", "nu",
    "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Phi", "Psi", "Omega")}


def shifted(expr: sp.Expr) -> sp.Expr:
    """The same expression one step later: every symbol read at t+1 (the sizes in a block's bounds
    are no variable)."""
    return expr.xreplace({s: sp.Symbol(s.name + NEXT) for s in expr.free_symbols if not isinstance(s, SizeSymbol)})


def incoming_meaning(derivation: Derivation, state: str) -> sp.Expr:
    """What arrives at state(t) from outside step t: step t+1's carry, plus the loss at t for the output."""
    carry = derivation.carry(state).expr
    meaning = sp.S.Zero if isinstance(carry, ZerosLike) else shifted(carry)
    if state == derivation.model.spec.output:
        meaning += sp.Symbol(derivation.model.names.adjoint(state) + LOSS)
    return meaning


def explained(derivation: Derivation, expr: sp.Expr) -> sp.Expr:
    """An adjoint expression with each incoming adjoint replaced by what it is."""
    meanings = {derivation.incoming[s]: incoming_meaning(derivation, s) for s in derivation.model.spec.states}
    return expr.xreplace(meanings)


def forward_form(model: CellModel, expr: sp.Expr, keep: frozenset[str] = frozenset()) -> sp.Expr:
    """An expression with every variable that lowering made up replaced by its definition
    (a sigmoid output's complement by 1 - s, as it is written), except those named in keep."""
    definitions = {sp.Symbol(a.target): shown_definition(model, a) for a in model.assignments
                   if model.variables[a.target].role != Role.EQUATION and a.target not in keep}
    for _ in range(len(definitions) + 1):
        expanded = expr.xreplace(definitions)
        if expanded == expr:
            return expr
        expr = expanded
    return expr


def shown_definition(model: CellModel, assignment) -> sp.Expr:
    """A made-up variable's definition as people write it: a sigmoid output's complement is 1 - s."""
    if model.variables[assignment.target].role == Role.COMPLEMENT:
        return 1 - sp.Symbol(model.variables[assignment.target].of)
    return assignment.expr


def latex_base(name: str, symbols: dict[str, str] | None = None) -> str:
    """LaTeX of a spec name: the spec's own symbol if [latex] gives one, else
    W_g -> W_{g}, c_tilde -> \\tilde{c}, xc -> \\mathit{xc}, alpha -> \\alpha."""
    if symbols and name in symbols:
        return symbols[name]
    head, *rest = name.split("_")
    text = GREEK.get(head) or (head if len(head) == 1 else f"\\mathit{{{head}}}")
    while rest and rest[0] in ACCENTS:
        text = f"\\{rest.pop(0)}{{{text}}}"
    rest = [part for part in rest if part]
    return f"{text}_{{{','.join(rest)}}}" if rest else text


DOTLESS = {"i": "\\imath", "j": "\\jmath"}  # a hat on i or j replaces their dot: \hat{\imath}, not \hat{i}


def hatted(latex: str) -> str:
    """A pre-activation's LaTeX: the hat on the symbol, not on its subscript (\\hat{\\sigma}_{c}); an i or a j
    loses its dot under the hat. A symbol with an accent of its own gets no hat stacked on it: the
    pre-activation of \\tilde{c} is z_{\\tilde{c}}, as z = W x + b is commonly written."""
    if latex.startswith(tuple(f"\\{accent}{{" for accent in ACCENTS)):
        return f"z_{{{latex}}}"
    depth = 0
    for index, char in enumerate(latex):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "_" and depth == 0:
            return f"\\hat{{{DOTLESS.get(latex[:index], latex[:index])}}}{latex[index:]}"
    return f"\\hat{{{DOTLESS.get(latex, latex)}}}"


def adjoint_ranks(model) -> dict[str, int]:
    """A rank per adjoint's name, so a backward sum lists its terms in the forward pass's order: the loss
    term first, then the adjoints at step t by their variable's assignment, then those at step t+1
    (dL/dh(t) = dl(t)/dh(t) + ..., W_g^T dL/dg^(t) + W_i^T dL/di^(t) + ...)."""
    assignments = model.assignments
    ranks: dict[str, int] = {}
    for position, assignment in enumerate(assignments):
        adjoint = model.names.existing("adjoint", assignment.target)
        if adjoint:
            ranks[adjoint + LOSS], ranks[adjoint], ranks[adjoint + NEXT] = -1, position, len(assignments) + position
    return ranks


class Notation:
    """Printed names of every symbol of a derivation, in LaTeX and in plain text."""

    def __init__(self, derivation: Derivation, style: LatexStyle | None = None):
        self.derivation = derivation
        self.model = derivation.model
        self.style = style or self.model.spec.latex
        self.ranks = adjoint_ranks(self.model)  # every printer of the notation orders backward sums by them
        self.symbols = self.style.symbol_map
        self.latex: dict[str, str] = {size: size for size in self.model.spec.sizes}
        self.text: dict[str, str] = dict(self.latex)
        for variable in self.model.variables.values():
            for suffix, time in (("", "t"), (NEXT, "t+1")):
                self.add(variable.name + suffix, *self.variable_forms(variable.name, time))
                if variable.kind == Kind.PREVIOUS:  # what step t sends back: the part through step t
                    self.carry_forms(variable.name, suffix, time)
        for state in self.model.spec.states:
            latex, text = self.variable_forms(state, "t")
            loss_at_t = self.style.at("l", "t")
            loss_term = self.model.names.adjoint(state) + LOSS
            self.latex[loss_term], self.text[loss_term] = self.style.adjoint_of(latex, loss_at_t), f"dl(t)/d{text}"
        self.check_unique()
        for line in derivation.lines_with_role(LineRole.PRODUCT):  # the adjoint of a product W v, named when shared
            matrix, vector = line.about.matrix, line.about.vector
            for suffix in ("", NEXT):
                name = line.target.name + suffix
                self.latex[name] = self.style.adjoint_of(f"\\left({self.base(matrix)} {self.latex[vector + suffix]}\\right)")
                self.text[name] = f"dL/d({matrix} @ {self.text[vector + suffix]})"

    def check_unique(self) -> None:
        """Two variables that would print alike (g_hat and the pre-activation of g) are refused."""
        seen: dict[str, str] = {}
        for name in self.model.variables:
            latex = self.latex[name]
            if latex in seen:
                raise SpecNameError(Location(self.model.spec.path),
                                    f"{seen[latex]!r} and {name!r} would both print as ${latex}$ in LaTeX",
                                    f"another name for {seen[latex] if self.model.variables[seen[latex]].role == Role.EQUATION else name!r}")
            seen[latex] = name

    def add(self, name: str, latex: str, text: str) -> None:
        """Register a variable and its adjoint. A made-up variable prints as its definition, and one step
        later that can be another made-up variable's definition now (Q h(t-1) at t+1 and Q h(t) at t are
        two nodes of one value): its adjoint at t+1 is written dL(t+1)/d(...), the part through step t+1."""
        self.latex[name] = latex
        self.text[name] = text
        base, _, suffix = name.partition("@")
        adjoint = self.model.names.adjoint(base) + (f"@{suffix}" if suffix else "")
        later = bool(suffix) and self.model.variables[base].role.made_up
        loss = self.style.at("L", "t+1") if later else "L"
        self.latex[adjoint] = self.style.adjoint_of(latex, of=loss)
        self.text[adjoint] = f"dL(t+1)/d{text}" if later else f"dL/d{text}"

    def carry_forms(self, previous: str, suffix: str, time: str) -> None:
        """The adjoint a step sends back, dL(t)/ds(t-1): the part of dL/ds(t-1) that arrives through
        step t (L(t) is the loss from step t on, and s(t-1) reaches it only through step t). Written
        dL/ds(t-1) it would be false: the whole adjoint adds the uses of s(t-1) at step t-1."""
        adjoint = self.model.names.adjoint(previous) + suffix
        loss = self.style.at("L", time)
        self.latex[adjoint] = self.style.adjoint_of(self.latex[previous + suffix], of=loss)
        self.text[adjoint] = f"dL({time})/d{self.text[previous + suffix]}"

    def variable_forms(self, name: str, time: str) -> tuple[str, str]:
        variable = self.model.variables[name]
        if variable.kind == Kind.PARAM:
            return self.base(name), name
        if variable.kind == Kind.PREVIOUS:
            state = variable.of
            earlier = "t-1" if time == "t" else "t"
            return self.style.at(self.base(state), earlier), f"{state}({earlier})"
        if variable.role == Role.PRE:
            base = variable.of
            if self.model.variables[base].role.made_up:  # the user never named it: no hat on a made-up name
                return self.derived_forms(name, time)
            return self.style.at(hatted(self.base(base)), time), f"{name}({time})"
        if variable.role == Role.COMPLEMENT:
            latex, text = self.variable_forms(variable.of, time)
            return f"\\left(1 - {latex}\\right)", f"(1 - {text})"
        if variable.role.made_up:
            return self.derived_forms(name, time)
        return self.style.at(self.base(name), time), f"{name}({time})"

    def base(self, name: str) -> str:
        """A spec name's LaTeX without its time."""
        return latex_base(name, self.symbols)

    def printer(self, written: bool = False) -> LatexCellPrinter:
        """The LaTeX printer in this notation: its names and its element-wise product; written=True
        keeps the order of unevaluated sums and products (the spec's equations as written)."""
        return LatexCellPrinter({"names": self.latex, "product": self.style.product, "written": written,
                                 "ranks": self.ranks})

    def derived_forms(self, name: str, time: str) -> tuple[str, str]:
        """A made-up variable prints as its definition, so readers never meet the made-up name."""
        definition = forward_form(self.model, sp.Symbol(name))
        if time != "t":
            definition = shifted(definition)
        latex = self.printer().doprint(definition)
        text = TextPrinter({"names": self.text}).doprint(definition)
        if isinstance(definition, (Elementwise, Concat)):  # tanh(c) and [a; b] read as one thing already
            return latex, text
        return f"\\left({latex}\\right)", f"({text})"
