"""`derive check`: a hand derivation of a cell's backward pass, held against the derived one line by line.

For each equation the user wrote: correct, or wrong with the derived equation beside it (in the
user's own equation language, at the level of the adjoints they read) and the difference in words
(hand_compare); then the adjoints they did not write, and a verdict. The report reads as text for
the terminal, or as Markdown with LaTeX for a notebook or a post's draft.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from . import limits
from .cell import DerivedCell
from .derivation import equation_tags
from .errors import Location, SpecError
from .hand_compare import Comparer, Verdict
from .hand_convert import convert_hand_line, loss_names
from .hand_latex import other_time_hint, post_equations
from .model import Kind
from .notation import NEXT
from .printers import EquationPrinter, TextPrinter
from .spec import EquationSpec


@dataclass(frozen=True)
class CheckedLine:
    """One equation the user wrote, and how it compares."""

    tag: str  # the derived line's tag, B1, B2, ...: the documents and the generated code's comments carry it
    target: str  # d_s
    written_text: str  # the equation as the user wrote it: `d_s = ...`, or a post's LaTeX display
    where: Location
    verdict: Verdict


@dataclass(frozen=True)
class CheckReport:
    """Every written equation checked, and the derived ones not written."""

    cell: DerivedCell
    source: str  # where the equations came from, for the report's first line
    lines: tuple[CheckedLine, ...]
    derived_only: tuple[tuple[str, str], ...]  # (tag, adjoint) of each derived line nobody wrote

    @property
    def wrong(self) -> list[CheckedLine]:
        return [line for line in self.lines if not line.verdict.equal]

    @property
    def passed(self) -> bool:
        return not self.wrong

    def text(self) -> str:
        return _Writer(self, markdown=False).report()

    def markdown(self) -> str:
        return _Writer(self, markdown=True).report()

    _repr_markdown_ = markdown  # Jupyter shows the report with its LaTeX


def check_backward(cell: DerivedCell, equations: tuple[EquationSpec, ...], source: str) -> CheckReport:
    """Hold each written `adjoint = expression` against the derived line of that adjoint."""
    seen: dict[str, Location] = {}
    claims = []
    for equation in equations:  # every equation read first: a mistake of form is reported before any verdict
        if equation.target in seen:
            raise SpecError(Location(equation.where.path, equation.where.line), f"{equation.target} is written twice",
                            f"one equation per adjoint (the first is at line {seen[equation.target].line})")
        seen[equation.target] = equation.where
        line, written = convert_hand_line(cell.derivation, equation)
        claims.append((line, written, f"{equation.target} = {equation.expression}", equation.where))
    return _checked(cell, claims, source)


def check_post(cell: DerivedCell, text: str, path: str) -> CheckReport:
    """Hold each display of a post that states a backward line (in derive's notation) against the derived line.
    A post may state one line more than once (the derivation, then the summary): each display is checked."""
    claims = [(claim.line, claim.right, claim.latex, claim.where) for claim in post_equations(cell.derivation, cell.notation, text, path)]
    if not claims:
        raise SpecError(Location(path), f"no display equation states a backward line of cell {cell.spec.name!r}",
                        f"$$ displays in its notation, such as derive latex {cell.spec.name} prints "
                        f"({other_time_hint(cell.notation)})")
    return _checked(cell, claims, path)


def _checked(cell: DerivedCell, claims: list, source: str) -> CheckReport:
    derivation = cell.derivation
    tags = equation_tags(derivation)
    checked = []
    with limits.cell_deadline(f"{source}: checking its equations against cell {cell.spec.name!r}"):
        comparer = Comparer(derivation)
        for line, written, text, where in claims:
            limits.check_deadline()
            checked.append(CheckedLine(tags[line.target.name], line.target.name, text, where, comparer.compare(line, written)))
    stated = {line.target.name for line, *_ in claims}
    only = tuple((tags[line.target.name], line.target.name) for line in derivation.lines if line.target.name not in stated)
    return CheckReport(cell, source, tuple(checked), only)


def written_names(cell: DerivedCell) -> dict[str, str]:
    """How the equation language writes each symbol a comparison can show: f@next as f(t+1), s_prev as s(t-1)."""
    model = cell.derivation.model
    names = {loss: name for name, loss in loss_names(cell.derivation).items()}
    for variable in model.variables.values():
        names[variable.name + NEXT] = f"{variable.name}(t+1)"
        if variable.kind == Kind.PREVIOUS:
            names[variable.name] = f"{variable.of}(t-1)"
    for line in cell.derivation.lines:
        names[line.target.name + NEXT] = f"{line.target.name}(t+1)"
    return names


class _Writer:
    """The report as text (dL/ds(t) notation) or Markdown (the cell's LaTeX notation between dollars)."""

    def __init__(self, report: CheckReport, markdown: bool):
        self.checked = report
        self.markdown = markdown
        notation = report.cell.notation
        self.math_printer = notation.printer() if markdown else TextPrinter({"names": notation.text, "ranks": notation.ranks})
        self.equation_printer = EquationPrinter({"names": written_names(report.cell), "ranks": notation.ranks})

    def math(self, expr: sp.Expr) -> str:
        printed = self.math_printer.doprint(expr)
        return f"${printed}$" if self.markdown else printed

    def code(self, text: str) -> str:
        return f"`{text}`" if self.markdown else text

    def report(self) -> str:
        report = self.checked
        title = f"derive check: {report.source} against cell {report.cell.spec.name}"
        blocks = [[f"## {title}" if self.markdown else title]]
        for equal, lines in itertools.groupby(report.lines, key=lambda line: line.verdict.equal):
            if equal:  # correct lines stand together, one per line
                blocks.append([self.correct(line) for line in lines])
            else:
                blocks += [self.wrong(line) for line in lines]
        if report.derived_only:
            blocks.append(["derived only (not written): " + ", ".join(f"{self.code(target)} ({tag})" for tag, target in report.derived_only)])
        wrong, total = len(report.wrong), len(report.lines)
        verdict = f"verdict: {total - wrong} of {total} written equations correct" + ("" if report.passed else f", {wrong} wrong")
        blocks.append([f"**{verdict}**" if self.markdown else verdict])
        return "\n\n".join("\n".join(block) for block in blocks) + "\n"

    def correct(self, line: CheckedLine) -> str:
        return f"{self.bullet}({line.tag}) {self.code(line.target)}: correct ({line.verdict.how})"

    def wrong(self, line: CheckedLine) -> list[str]:
        verdict, indent = line.verdict, "  " if self.markdown else "      "
        derived = self.equation_printer.doprint(verdict.derived)
        side = f"{indent}- " if self.markdown else indent  # Markdown: nested items, so each stays on its own line
        out = [f"{self.bullet}({line.tag}) {self.code(line.target)}: WRONG ({line.where})",
               f"{side}written: {self.code(line.written_text)}",
               f"{side}derived: {self.code(f'{line.target} = {derived}')}"]
        return out + [f"{indent}- " + words.format(*(self.math(expr) for expr in exprs)) for words, exprs in verdict.differences]

    @property
    def bullet(self) -> str:
        return "- " if self.markdown else "  "
