"""Stage 5b: the view of a derivation that the LaTeX and Markdown templates render.

Forward equations are printed as the spec writes them (made-up variables folded back in);
backward equations are the adjoint lines with the time recursion spelled out: what a state
receives from outside step t is written as the carry of step t+1 plus the loss at t.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .derivation import AdjointLine, Derivation, equation_tags
from .notation import Notation, explained, forward_form
from .printers import LatexCellPrinter

SECTIONS = (
    ("state", "Carried states: the total adjoint at step t"),
    ("intermediate", "Gates and intermediates"),
    ("carry", "Sent back to step t-1"),
    ("input", "Input"),
    ("param", "Parameters: gradients summed over time"),
)


@dataclass(frozen=True)
class Equation:
    left: str  # LaTeX of the left-hand side
    right: str  # LaTeX of the right-hand side
    tag: str = ""  # "B3" on a backward equation: the generated code's comment carries the same


@dataclass(frozen=True)
class Section:
    title: str
    equations: tuple[Equation, ...]


def latex_view(derivation: Derivation, notation: Notation) -> dict:
    """Everything document.tex.j2 and equations.md.j2 need."""
    printer = notation.printer()
    tags = equation_tags(derivation)
    model = derivation.model
    forward = tuple(
        Equation(notation.latex[a.target], printer.doprint(forward_form(model, a.expr)))
        for a in model.assignments if model.variables[a.target].role == "equation"
    )
    pre_activations = tuple(
        Equation(notation.latex[a.target], printer.doprint(forward_form(model, a.expr)))
        for a in model.assignments if model.variables[a.target].role == "pre"
    )
    sections = []
    for role, title in SECTIONS:
        roles = ("intermediate", "product") if role == "intermediate" else (role,)
        lines = [line for line in derivation.lines if line.role in roles]
        if lines:
            sections.append(Section(title, tuple(backward_equation(derivation, line, printer, notation, tags)
                                                 for line in lines)))
    return {"forward": forward, "pre_activations": pre_activations, "backward": tuple(sections),
            "product": notation.style.product, "time_t": notation.style.at("l", "t")}


def backward_equation(derivation: Derivation, line: AdjointLine, printer: LatexCellPrinter, notation: Notation,
                      tags: dict[str, str]) -> Equation:
    """A backward line as the documents show it, tagged: what arrives from outside step t is
    written out, and a parameter's gradient is summed over time."""
    left, tag = notation.latex[line.target.name], tags[line.target.name]
    if line.role == "param":
        body = printer.doprint(line.expr)
        if isinstance(line.expr, sp.Add):
            body = f"\\left({body}\\right)"
        return Equation(left, f"\\sum_{{t}} {body}", tag)
    return Equation(left, printer.doprint(explained(derivation, line.expr)), tag)


def tex_escape(text: str) -> str:
    """Plain text made safe for LaTeX's text mode."""
    replacements = {
        "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
        "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
    }
    return "".join(replacements.get(char, char) for char in text)
