"""Stage 7d: the step-by-step derivation through time, for blog posts, built from the derivation.

Every sentence and equation comes from the symbolic objects: the chain rule of a variable
lists its recorded uses (Derivation.uses), its local derivatives are SymPy's partials of
the forward equations the prose quotes, and its result is the adjoint line the code
computes, with the line's equation tag. The walkthrough is a sequence of beats, a sentence
and the equations it introduces, the way a post alternates prose and display math.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .derivation import AdjointLine, Contribution, Derivation, LineRole, UseKind, equation_tags
from .functions import Block
from .reductions import UnitSum
from .equations import Equation, backward_equation
from .model import Role
from .notation import LOSS, NEXT, Notation, forward_form, shifted
from .written import written_equations


PRODUCT_RULE = "; a product $W v$ sends $W^{\\top}$ times its adjoint back to $v$"


@dataclass(frozen=True)
class Beat:
    prose: str  # one or two sentences; math in $...$
    equations: tuple[Equation, ...] = ()


def walkthrough_view(derivation: Derivation, notation: Notation) -> dict:
    """What the templates need for the section "The derivation, step by step"."""
    writer = _Writer(derivation, notation)
    return {"beats": writer.loss() + tuple(beat for step in writer.steps() for beat in step)}


class _Writer:
    def __init__(self, derivation: Derivation, notation: Notation):
        self.derivation = derivation
        self.model = derivation.model
        self.notation = notation
        self.style = notation.style
        self.printer = notation.printer()
        self.as_written = notation.printer(written=True)
        self.written = {time: written_equations(self.model, time) for time in ("", NEXT)}  # the spec's equations at t and t+1
        self.tags = equation_tags(derivation)
        self.shown_in_full = False  # whether a gate's chain rule was worked in full yet: later ones are brief
        self.brief_written = False  # the first brief step says "Likewise"
        self.told: set[str] = set()  # lines already written with the one before them (a gate's pre-activation)

    def latex(self, expr: sp.Expr) -> str:
        return self.printer.doprint(expr)

    def name(self, variable: str, time: str = "") -> str:
        return self.notation.latex[variable + time]

    def loss(self) -> tuple[Beat, ...]:
        at = self.style.at
        l_t, big_l_t, big_l_next = at("l", "t"), at("L", "t"), at("L", "t+1")
        tau = "\\tau"
        return (
            Beat(f"Each step has a loss ${l_t}$ on ${self.name(self.model.spec.output)}$, and the loss of the "
                 "sequence is their sum:", (Equation("L", f"\\sum_{{t=1}}^{{T}} {l_t}"),)),
            Beat(f"${big_l_t}$ is the part of it from step $t$ onwards:",
                 (Equation(big_l_t, f"\\sum_{{{tau} = t}}^{{T}} {at('l', tau)}"),)),
            Beat("so it satisfies a recursion that runs backwards in time:",
                 (Equation(big_l_t, f"{l_t} + {big_l_next}"),)),
            Beat("It starts after the last step, where nothing is left: no loss, and no adjoint arrives from step "
                 "$T+1$:", (Equation(at("L", "T+1"), "0"),)),
            Beat(f"Values at step $t$ affect only ${l_t}, {at('l', 't+1')}, \\ldots$, so the derivative of $L$ "
                 f"with respect to any of them equals that of ${big_l_t}$, and a carried state at step $t$ "
                 "reaches the loss through its uses at step $t$ and through step $t+1$."),
        )

    def steps(self):
        """Each step's beats, in the order the code computes the lines, so the tags count up."""
        for line in self.derivation.lines:
            if line.target.name in self.told:
                continue
            if line.role == LineRole.STATE:
                yield self.state_step(line)
            elif line.role == LineRole.INTERMEDIATE:
                yield self.intermediate_step(line)
            elif line.role == LineRole.PRODUCT:
                yield (Beat(f"${self.name(line.target.name)}$:", (self.result(line),)),)
            elif line.role == LineRole.INPUT:
                if line == self.derivation.lines_with_role(line.role)[0]:
                    yield (self.inputs_beat(),)
            elif line == self.derivation.lines_with_role(line.role)[0]:  # the first carry or parameter
                yield (self.group_beat(line.role),)

    def group_beat(self, role: LineRole) -> Beat:
        prose = {
            LineRole.CARRY: f"Each state sends back to step $t-1$ the part of its adjoint there that arrives through step $t$, "
                     f"the derivative of ${self.style.at('L', 't')}$, the loss from step $t$ on (the state's uses at step "
                     "$t-1$ add the rest). At step $t-1$ it is the \"step $t+1$\" part of the recursion above:",
            LineRole.PARAM: "The parameters are the same at every step, so each gradient sums one term per step:",
        }[role]
        return Beat(prose, tuple(self.result(line) for line in self.derivation.lines_with_role(role)))

    def inputs_beat(self) -> Beat:
        """What the inputs receive: a block of a stacked vector's adjoint, or an adjoint of their own."""
        lines = self.derivation.lines_with_role(LineRole.INPUT)
        if len(lines) == 1:
            what = "its block" if isinstance(lines[0].expr, Block) else "its adjoint"
            prose = f"The input ${self.name(lines[0].about)}$ receives {what}:"
        else:
            prose = f"The inputs {_listing([self.name(line.about) for line in lines])} receive their adjoints:"
        return Beat(prose, tuple(self.result(line) for line in lines))

    def result(self, line: AdjointLine) -> Equation:
        return backward_equation(self.derivation, line, self.printer, self.notation, self.tags)

    def state_step(self, line: AdjointLine) -> tuple[Beat, ...]:
        state = line.about
        now = self.derivation.uses_of(state)
        later = self.derivation.uses_of(self.model.names.prev(state))
        routes = [self.route(use, "") for use in now]
        if state == self.model.spec.output:
            routes.insert(0, self.style.at("l", "t"))
        routes += [self.route(use, NEXT) for use in later]
        terms = [self.chain_term(use, "") for use in now]
        if state == self.model.spec.output:
            terms.insert(0, self.name(self.model.names.adjoint(state) + LOSS))
        terms += [self.chain_term(use, NEXT) for use in later]
        opening = f"${self.name(state)}$ reaches the loss through {_listing(routes)}"
        outcome = "the recursion through time" if later else f"the adjoint of ${self.name(state)}$"
        return self.chain_beats(line, opening, terms, now + later, outcome)

    def intermediate_step(self, line: AdjointLine) -> tuple[Beat, ...]:
        uses = self.derivation.uses_of(line.about)
        products = any(use.kind == UseKind.PRODUCT for use in uses)
        if self.shown_in_full and any(use.kind == UseKind.ELEMENTWISE for use in uses):
            return (self.brief_step(line, uses, products),)
        opening = f"${self.name(line.about)}$ is used by {_listing([self.route(use, '') for use in uses])}"
        if products:
            opening += PRODUCT_RULE
        return self.chain_beats(line, opening, [self.chain_term(use, "") for use in uses], uses,
                                f"the adjoint of ${self.name(line.about)}$")

    def brief_step(self, line: AdjointLine, uses: list[Contribution], products: bool) -> Beat:
        """A gate after the first worked in full: one sentence that quotes the equations that use it, then
        its local derivatives and its adjoint, the chain rule's pattern being known by now. The gate's
        pre-activation, computed next, shares the sentence."""
        prose = f"${self.name(line.about)}$ is used by {self.users(uses)}{PRODUCT_RULE if products else ''}"
        equations = self.local_derivatives(uses) + (self.result(line),)
        pre = self.next_line(line)
        if pre is not None and pre.about == self.model.names.existing("pre", line.about):
            pre_uses = self.derivation.uses_of(pre.about)
            if all(use.kind == UseKind.ELEMENTWISE for use in pre_uses):
                self.told.add(pre.target.name)
                prose += f", and ${self.name(pre.about)}$ by {self.users(pre_uses)}"
                equations += self.local_derivatives(pre_uses) + (self.result(pre),)
        prose = ("Likewise, " if not self.brief_written else "") + prose + ":"
        self.brief_written = True
        return Beat(prose, equations)

    def users(self, uses: list[Contribution]) -> str:
        """The uses of a variable at step t, each as its forward equation (a product W v as itself)."""
        return _listing([self.definition(use.user, "", keep=use.to) if use.kind == UseKind.ELEMENTWISE
                         else self.route(use, "") for use in uses])

    def local_derivatives(self, uses: list[Contribution]) -> tuple[Equation, ...]:
        return tuple(self.local_derivative(use, "") for use in uses if use.kind == UseKind.ELEMENTWISE)

    def next_line(self, line: AdjointLine) -> AdjointLine | None:
        lines = self.derivation.lines
        index = lines.index(line) + 1
        return lines[index] if index < len(lines) else None

    def route(self, use: Contribution, time: str) -> str:
        """How a use is named in prose: the variable that reads, or the product W v."""
        if use.kind == UseKind.PRODUCT:
            return f"{self.notation.base(str(use.local))} {self.name(use.to, time)}"
        return self.name(use.user, time)

    def chain_term(self, use: Contribution, time: str) -> str:
        """One path of the chain rule, before the local derivative is worked out."""
        if use.kind == UseKind.ELEMENTWISE:
            user, to = self.name(use.user, time), self.name(use.to, time)
            term = f"{self.name(self.model.names.adjoint(use.user), time)} {self.style.product} {self.style.partial(user, to)}"
            # one number per example read by every unit of a vector: what the units send back adds up
            return f"\\mathbf{{1}}^{{\\top}} \\left({term}\\right)" if isinstance(use.term, UnitSum) else term
        term = shifted(use.term) if time else use.term
        return self.latex(term)

    def chain_beats(self, line: AdjointLine, opening: str, terms: list[str], uses: list[Contribution],
                    outcome: str) -> tuple[Beat, ...]:
        """The chain rule over the uses, the local derivatives read off the forward equations that
        the prose quotes, and the result; once that was shown, one sentence before the local derivatives
        and the result; or the result alone when no use is element-wise."""
        locals_ = [use for use in uses if use.kind == UseKind.ELEMENTWISE]
        if not locals_:
            return (Beat(opening + ":", (self.result(line),)),)
        definitions, derivatives = {}, []
        for use in locals_:
            time = NEXT if use.to != line.about else ""
            definitions.setdefault((use.user, time), self.definition(use.user, time, keep=use.to))
            derivatives.append(self.local_derivative(use, time))
        one = len(derivatives) == 1
        sources = _listing(list(definitions.values()))
        if self.shown_in_full:  # the pattern is known: one sentence, the local derivatives and the result
            said = "its local derivative comes" if one else "its local derivatives come"
            return (Beat(f"{opening}; {said} from {sources}:", tuple(derivatives) + (self.result(line),)),)
        self.shown_in_full = True
        chain = Beat(f"{opening}, so by the chain rule:", (Equation(self.name(line.target.name), " + ".join(terms)),))
        worked = Beat(f"The local derivative{'' if one else 's'} follow{'s' if one else ''} from {sources}:",
                      tuple(derivatives))
        result = Beat(f"Substituting {'it' if one else 'them'} gives {outcome}:",
                      (self.result(line),))
        return chain, worked, result

    def local_derivative(self, use: Contribution, time: str) -> Equation:
        """d user / d variable, read off the user's forward equation (at t+1 when time is NEXT)."""
        local = forward_form(self.model, use.local)
        return Equation(self.style.partial(self.name(use.user, time), self.name(use.to, time)),
                        self.latex(shifted(local) if time else local))

    def definition(self, variable: str, time: str, keep: str) -> str:
        """The forward equation of a variable, at t or (time = NEXT) at t+1, as LaTeX: the spec's own
        equation as written, except that o = sigma(o_pre) stays so, not sigma(W_o x + b_o), when the
        derivative is by o_pre."""
        variable_info = self.model.variables[variable]
        if variable_info.role == Role.EQUATION and self.model.names.existing("pre", variable) != keep:
            right = self.as_written.doprint(self.written[time][variable])
            return f"{self.name(variable, time)} = {right}"
        assigned = next(a.expr for a in self.model.assignments if a.target == variable)
        expr = forward_form(self.model, assigned, keep=frozenset({keep}))
        right = self.latex(shifted(expr) if time else expr)
        if variable_info.role.made_up:  # named by its definition already: no "x = x"
            return right
        return f"{self.name(variable, time)} = {right}"


def _listing(items: list[str]) -> str:
    """$a$, $b$ and $c$ (each item is LaTeX)."""
    shown = [f"${item}$" for item in dict.fromkeys(items)]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]
