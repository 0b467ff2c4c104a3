"""One hand-written backward equation held against the derived one: equal, or how it differs.

Both sides are first brought to the same terms. The forward pass's made-up values become their
definitions (f_complement is 1 - f, h_tanh is tanh(s)), what arrives from step t+1 is written out
(d_s_in is d_s(t+1) * f(t+1)), a gradient's sum over the batch is dropped (outer(d, v) is one step's
term, as people write it), and an adjoint one side reads and the other does not is replaced by
its derived definition, the one computed last first: d_g_pre = d_s * i * (1 - g**2) meets the
derived d_g * (1 - g**2) once d_g is written d_s * i. So each line is judged on its own, taking the
adjoints it reads as right.

Equal is decided symbolically where SymPy can (after expanding the linear operations over sums)
and otherwise at random points of the cell (hand_world), where every identity of the cell holds:
an equivalent form (sigmoid(-z) for 1 - f, tanh(g_pre) for g) is never called wrong. A difference
is said in words: missing and extra terms, then for a term that is almost right, a wrong sign, a
wrong time index, or a missing, extra or wrong factor.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .blocks import BlockOf
from .derivation import AdjointLine, Derivation, LineRole
from .dims import SizeSymbol
from .functions import BatchSum, Block, Linear, MatVec, MatVecT, Outer
from .hand_world import World, same_value
from .model import Kind, Role
from .notation import NEXT, explained, shifted, shown_definition
from .reductions import Reduction, Spread

WORLDS = 2  # random points every verdict and every matched term is checked at
MAX_EXPANDED_DEGREE = 64  # beyond it the symbolic comparison would expand too much: the random points decide
LINEAR_ARGUMENTS = {MatVec: (1,), MatVecT: (1,), Outer: (0, 1), Block: (0,), BlockOf: (0,), Spread: (0,)}


@dataclass(frozen=True)
class Verdict:
    """The user's right side against the derived one, each as brought to the same terms."""

    written: sp.Expr
    derived: sp.Expr
    equal: bool
    how: str  # "symbolically" or "at random points"
    differences: tuple[tuple[str, tuple[sp.Expr, ...]], ...]  # ("missing the term {0}", (term,)), in words


class Comparer:
    """Compares hand-written right sides with one cell's derived lines."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.model = derivation.model
        self.values = _made_up_definitions(self.model)
        self.adjoints, self.ranks = self.adjoint_definitions()
        self.reached: dict[sp.Symbol, set[sp.Symbol]] = {}  # see reach
        self.worlds = [World(derivation, seed) for seed in range(1, WORLDS + 1)]

    def canonical(self, expr: sp.Expr) -> sp.Expr:
        """Made-up values as their definitions, a batch sum dropped."""
        expr = expr.replace(lambda e: isinstance(e, BatchSum), lambda e: e.args[0])
        return _expanded(expr, self.values)

    def adjoint_definitions(self) -> tuple[dict[sp.Symbol, sp.Expr], dict[sp.Symbol, int]]:
        """Each adjoint at t (written out to step t+1) and at t+1 (down to what reaches step t+1), with a
        rank: the later the line is computed, the higher (step t's after step t+1's)."""
        definitions, ranks = {}, {}
        count = len(self.derivation.lines)
        for index, line in enumerate(self.derivation.lines):
            if line.role == LineRole.PARAM:
                continue
            now, later = line.target, sp.Symbol(line.target.name + NEXT)
            definitions[now] = self.canonical(explained(self.derivation, line.expr))
            definitions[later] = self.canonical(shifted(line.expr))
            ranks[now], ranks[later] = count + index, index
        return definitions, ranks

    def derived(self, line: AdjointLine) -> sp.Expr:
        return self.canonical(explained(self.derivation, line.expr))

    def aligned(self, derived: sp.Expr, written: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """Both sides reading the same adjoints: an adjoint only one side reads is replaced by its definition
        there when that leads to an adjoint only the other side reads (the one computed last first), until
        none does. A term one side lacks (the carry d_s(t+1) f(t+1)) is so left as it is written."""
        for _ in range(2 * len(self.ranks) + 1):
            ours, theirs = self.adjoints_in(derived), self.adjoints_in(written)
            leading = [(symbol, symbol in ours) for symbol in ours ^ theirs
                       if self.reach(symbol) & ((theirs - ours) if symbol in ours else (ours - theirs))]
            if not leading:
                break
            chosen, in_derived = max(leading, key=lambda pair: self.ranks[pair[0]])
            if in_derived:
                derived = self.canonical(derived.xreplace({chosen: self.adjoints[chosen]}))
            else:
                written = self.canonical(written.xreplace({chosen: self.adjoints[chosen]}))
        return derived, written

    def reach(self, symbol: sp.Symbol) -> set[sp.Symbol]:
        """Every adjoint an adjoint's definition reads, directly or through others."""
        if symbol not in self.reached:
            direct = self.adjoints_in(self.adjoints[symbol])
            self.reached[symbol] = direct.union(*(self.reach(other) for other in direct))
        return self.reached[symbol]

    def adjoints_in(self, expr: sp.Expr) -> set[sp.Symbol]:
        return {symbol for symbol in expr.free_symbols if symbol in self.adjoints}

    def compare(self, line: AdjointLine, written: sp.Expr) -> Verdict:
        derived, written = self.aligned(self.derived(line), self.canonical(written))
        if _degree(derived - written) <= MAX_EXPANDED_DEGREE and sp.expand(_linear_expanded(derived) - _linear_expanded(written)) == 0:
            return Verdict(written, derived, True, "symbolically", ())
        if self.same(derived, written):
            return Verdict(written, derived, True, "at random points", ())
        return Verdict(written, derived, False, "at random points", tuple(self.differences(derived, written)))

    def same(self, a: sp.Expr, b: sp.Expr) -> bool:
        """Equal at every random point of the cell."""
        try:
            return all(same_value(world.value(a), world.value(b)) for world in self.worlds)
        except (ValueError, ArithmeticError):  # shapes that cannot meet: never equal (the converter checks sizes first)
            return False

    # -- the difference in words ----------------------------------------------------------------
    def differences(self, derived: sp.Expr, written: sp.Expr) -> list[tuple[str, tuple[sp.Expr, ...]]]:
        if self.same(derived, -written):
            return [("the sign of the whole right side is wrong: {0} where {1} is expected", (written, derived))]
        missing, extra = self.unmatched(_terms(derived), _terms(written))
        said = []
        while missing and extra:  # pair a missing term with the written term most like it, and say how they differ
            pairs = [(m, e) for m in missing for e in extra]
            expected, wrote = max(pairs, key=lambda pair: self.kinship(*pair))
            if not self.kinship(expected, wrote):
                expected, wrote = next((pair for pair in pairs if self.retimed(*pair)), (None, None))
                if expected is None:
                    break
            missing.remove(expected)
            extra.remove(wrote)
            said += self.term_difference(expected, wrote)
        said += [("missing the term {0}", (term,)) for term in missing]
        said += [("an extra term {0}", (term,)) for term in extra]
        return said

    def unmatched(self, expected: list, written: list) -> tuple[list, list]:
        """The derived terms no written term equals, and the written terms no derived term equals."""
        missing, extra = [], list(written)
        for term in expected:
            match = next((other for other in extra if self.same(term, other)), None)
            if match is None:
                missing.append(term)
            else:
                extra.remove(match)
        return missing, extra

    def kinship(self, a: sp.Expr, b: sp.Expr) -> int:
        """How alike two terms are: the factors they share, or 1 for one linear operation with one argument changed."""
        shared = len(_factors(a)) - len(self.unmatched(_factors(a), _factors(b))[0])
        return shared or int(_one_argument_apart(a, b) is not None)

    def term_difference(self, expected: sp.Expr, wrote: sp.Expr) -> list[tuple[str, tuple[sp.Expr, ...]]]:
        """What is wrong with a written term that stands where the derived term `expected` does."""
        if self.same(expected, -wrote):
            return [("the sign of the term {0} is wrong", (wrote,))]
        swap = self.retimed(expected, wrote)
        if swap:
            return [("wrong time index: {0} where {1} is expected", swap)]
        inner = self.inside(expected, wrote)
        if inner:
            return inner
        missing, extra = self.unmatched(_factors(expected), _factors(wrote))
        if missing and not extra:
            return [("a factor {0} is missing in the term {1}", (sp.Mul(*missing), wrote))]
        if extra and not missing:
            return [("an extra factor {0} in the term {1}", (sp.Mul(*extra), wrote))]
        return [("the factor {0} should be {1}, in the term {2}", (sp.Mul(*extra), sp.Mul(*missing), wrote))]

    def retimed(self, expected: sp.Expr, wrote: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
        """(written symbol, expected symbol) if the term is right once one symbol is read at another step."""
        for symbol in sorted((s for s in wrote.free_symbols if not isinstance(s, SizeSymbol)), key=lambda s: s.name):
            for other in self.other_times(symbol):
                if self.same(expected, wrote.xreplace({symbol: other})):
                    return symbol, other
        return None

    def other_times(self, symbol: sp.Symbol) -> list[sp.Symbol]:
        """The same value or adjoint at the other steps this backward step can read."""
        base, _, suffix = symbol.name.partition("@")
        variable = self.model.variables.get(base)
        if suffix and suffix != NEXT[1:]:
            return []
        if suffix:
            return [sp.Symbol(base)]
        if variable is not None and variable.kind == Kind.PARAM:
            return []
        times = [sp.Symbol(base + NEXT)]
        if variable is not None and variable.kind == Kind.PREVIOUS:
            times.append(sp.Symbol(variable.of))
        elif base in self.model.spec.states:
            times.append(sp.Symbol(self.model.names.prev(base)))
        return times

    def inside(self, expected: sp.Expr, wrote: sp.Expr) -> list[tuple[str, tuple[sp.Expr, ...]]]:
        """W_i.T @ d_i for W_i.T @ d_i_pre: one linear operation with one argument wrong, said of that argument."""
        k = _one_argument_apart(expected, wrote)
        if k is None:
            return []
        inner = self.differences(expected.args[k], wrote.args[k])
        return [(f"{words}, inside {{{len(exprs)}}}", (*exprs, wrote)) for words, exprs in inner]


def _degree(expr: sp.Expr) -> int:
    """A bound on the degree of an expression as a polynomial in its symbols and applications: what expanding it
    costs ((d_h + o) ** 64 has 65 terms, (a + b + c) ** 4096 millions)."""
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        return _degree(expr.base) * abs(int(expr.exp))
    if isinstance(expr, sp.Mul):
        return sum(_degree(arg) for arg in expr.args)
    if isinstance(expr, sp.Add):
        return max(_degree(arg) for arg in expr.args)
    return 1 + max((_degree(arg) for arg in expr.args), default=0) if isinstance(expr, sp.Function) else 1


def _one_argument_apart(a: sp.Expr, b: sp.Expr) -> int | None:
    """The index of the one argument two applications of the same linear operation differ in, else None."""
    if type(a) is not type(b) or not isinstance(a, Linear):
        return None
    differing = [k for k, (x, y) in enumerate(zip(a.args, b.args)) if x != y]
    return differing[0] if len(differing) == 1 else None


def _terms(expr: sp.Expr) -> list:
    return [] if expr == 0 else list(sp.Add.make_args(expr))


def _factors(expr: sp.Expr) -> list:
    coefficient, rest = expr.as_coeff_Mul()
    factors = list(sp.Mul.make_args(rest))
    return factors + ([coefficient] if coefficient != 1 else [])


def _made_up_definitions(model) -> dict[sp.Symbol, sp.Expr]:
    """Each value lowering made up, at t and t+1, as its definition (a complement as 1 - s, as people write it);
    a state at t-1 read at step t+1 is the state at t, and a parameter is the same at every step."""
    definitions = {}
    for assignment in model.assignments:
        variable = model.variables[assignment.target]
        if variable.role != Role.COMPLEMENT and not variable.role.made_up:
            continue  # a spec's own value, or a pre-activation: kept, as the user may write g_pre
        definition = shown_definition(model, assignment)
        definitions[sp.Symbol(variable.name)] = definition
        definitions[sp.Symbol(variable.name + NEXT)] = shifted(definition)
    for variable in model.variables.values():
        if variable.kind == Kind.PREVIOUS:
            definitions[sp.Symbol(variable.name + NEXT)] = sp.Symbol(variable.of)
        elif variable.kind == Kind.PARAM:  # the same at every step
            definitions[sp.Symbol(variable.name + NEXT)] = sp.Symbol(variable.name)
    return definitions


def _expanded(expr: sp.Expr, definitions: dict) -> sp.Expr:
    for _ in range(len(definitions) + 1):
        replaced = expr.xreplace(definitions)
        if replaced == expr:
            break
        expr = replaced
    return expr


def _linear_expanded(expr: sp.Expr) -> sp.Expr:
    """Linear operations distributed over sums and numbers: W.T @ (a + 2 b) is W.T @ a + 2 W.T @ b."""
    if not expr.args or isinstance(expr, sp.Symbol):
        return expr
    expr = expr.func(*(_linear_expanded(arg) for arg in expr.args))
    for index in LINEAR_ARGUMENTS.get(type(expr), ()):
        argument = sp.expand(expr.args[index])
        terms = sp.Add.make_args(argument)
        if len(terms) > 1:
            return sp.Add(*(_linear_expanded(_with_arg(expr, index, term)) for term in terms))
        coefficient, rest = argument.as_coeff_Mul()
        if coefficient != 1:
            return coefficient * _linear_expanded(_with_arg(expr, index, rest))
    return sp.expand(expr) if not isinstance(expr, (Linear, Reduction)) else expr


def _with_arg(expr: sp.Expr, index: int, value: sp.Expr) -> sp.Expr:
    args = list(expr.args)
    args[index] = value
    return expr.func(*args)
