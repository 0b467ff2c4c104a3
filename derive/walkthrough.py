"""Stage 5c: the step-by-step derivation through time, for blog posts, built from the derivation.

Every sentence and equation comes from the symbolic objects: the chain rule of a variable
lists its recorded uses (Derivation.uses), its local derivatives are SymPy's partials,
and its result is the adjoint line the code computes, with the line's equation tag.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import naming
from .derivation import AdjointLine, Contribution, Derivation, equation_tags
from .notation import NEXT, Notation, forward_form, shifted
from .render_latex import Equation, backward_equation


@dataclass(frozen=True)
class Step:
    prose: str  # one or two sentences; math in $...$
    equations: tuple[Equation, ...]


def walkthrough_view(derivation: Derivation, notation: Notation) -> dict:
    """What the templates need for the section "The derivation, step by step"."""
    writer = _Writer(derivation, notation)
    return {"loss": writer.loss(), "steps": tuple(writer.steps())}


class _Writer:
    def __init__(self, derivation: Derivation, notation: Notation):
        self.derivation = derivation
        self.model = derivation.model
        self.notation = notation
        self.style = notation.style
        self.printer = notation.printer()
        self.tags = equation_tags(derivation)

    def latex(self, expr: sp.Expr) -> str:
        return self.printer.doprint(expr)

    def name(self, variable: str, time: str = "") -> str:
        return self.notation.latex[variable + time]

    def loss(self) -> tuple[Step, ...]:
        at = self.style.at
        l_t, big_l_t, big_l_next = at("l", "t"), at("L", "t"), at("L", "t+1")
        tau = "\\tau"
        sum_rest = f"\\sum_{{{tau} = t}}^{{T}} {at('l', tau)}"
        return (
            Step(f"Each step has a loss ${l_t}$ on ${self.name(self.model.spec.output)}$; the loss of the sequence "
                 f"is their sum, and ${big_l_t}$ is the part of it from step $t$ onwards:",
                 (Equation("L", f"\\sum_{{t=1}}^{{T}} {l_t}"), Equation(big_l_t, sum_rest),
                  Equation(big_l_t, f"{l_t} + {big_l_next}"))),
            Step(f"Values at step $t$ affect only ${l_t}, {at('l', 't+1')}, \\ldots$, so the derivative of $L$ "
                 f"with respect to any of them equals that of ${big_l_t}$, and a carried state at step $t$ "
                 "reaches the loss through its uses at step $t$ and through step $t+1$.", ()),
        )

    def steps(self):
        """In the order the code computes the lines, so the tags count up."""
        for line in self.derivation.lines:
            if line.role == "state":
                yield self.state_step(line)
            elif line.role == "intermediate":
                yield self.intermediate_step(line)
            elif line.role == "product":
                yield Step(f"${self.name(line.target.name)}$:", (self.result(line),))
            elif line.role == "input":
                yield Step(f"The input ${self.name(line.about)}$ receives its block:", (self.result(line),))
            elif line == self.derivation.lines_with_role(line.role)[0]:  # the first carry or parameter
                yield self.group_step(line.role)

    def group_step(self, role: str) -> Step:
        prose = {
            "carry": "Each state sends this adjoint back to step $t-1$, where it arrives as the "
                     "\"step $t+1$\" part of the recursion above:",
            "param": "The parameters are the same at every step, so each gradient sums one term per step:",
        }[role]
        return Step(prose, tuple(self.result(line) for line in self.derivation.lines_with_role(role)))

    def result(self, line: AdjointLine) -> Equation:
        return backward_equation(self.derivation, line, self.printer, self.notation, self.tags)

    def state_step(self, line: AdjointLine) -> Step:
        state = line.about
        now = self.derivation.uses_of(state)
        later = self.derivation.uses_of(naming.prev(state))
        routes = [self.route(use, "") for use in now]
        if state == self.model.spec.output:
            routes.insert(0, self.style.at("l", "t"))
        routes += [self.route(use, NEXT) for use in later]
        terms = [self.chain_term(use, "") for use in now]
        if state == self.model.spec.output:
            terms.insert(0, self.name(naming.adjoint(state) + "@loss"))
        terms += [self.chain_term(use, NEXT) for use in later]
        prose = f"${self.name(state)}$ reaches the loss through {_listing(routes)}."
        return Step(prose, self.chain_equations(line, terms, now + later))

    def intermediate_step(self, line: AdjointLine) -> Step:
        uses = self.derivation.uses_of(line.about)
        prose = f"${self.name(line.about)}$ is used by {_listing([self.route(use, '') for use in uses])}"
        if any(use.kind == "product" for use in uses):
            prose += "; a product $W v$ sends $W^{\\top}$ times its adjoint back to $v$"
        prose += ":"
        terms = [self.chain_term(use, "") for use in uses]
        return Step(prose, self.chain_equations(line, terms, uses))

    def route(self, use: Contribution, time: str) -> str:
        """How a use is named in prose: the variable that reads, or the product W v."""
        if use.kind == "product":
            return f"{self.notation.base(str(use.local))} {self.name(use.to, time)}"
        return self.name(use.user, time)

    def chain_term(self, use: Contribution, time: str) -> str:
        """One path of the chain rule, before the local derivative is worked out."""
        if use.kind == "elementwise":
            user, to = self.name(use.user, time), self.name(use.to, time)
            return f"{self.name(naming.adjoint(use.user), time)} {self.style.product} {self.style.partial(user, to)}"
        term = shifted(use.term) if time else use.term
        return self.latex(term)

    def chain_equations(self, line: AdjointLine, terms: list[str], uses: list[Contribution]) -> tuple[Equation, ...]:
        left = self.name(line.target.name)
        equations = []
        locals_ = [use for use in uses if use.kind == "elementwise"]
        if locals_:
            equations.append(Equation(left, " + ".join(terms)))
            for use in locals_:
                time = NEXT if use.to != line.about else ""
                local = forward_form(self.model, use.local)
                equations.append(Equation(self.style.partial(self.name(use.user, time), self.name(use.to, time)),
                                          self.latex(shifted(local) if time else local)))
        equations.append(self.result(line))
        return tuple(equations)


def _listing(items: list[str]) -> str:
    """$a$, $b$ and $c$ (each item is LaTeX)."""
    shown = [f"${item}$" for item in dict.fromkeys(items)]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]
