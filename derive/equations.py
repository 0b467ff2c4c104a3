"""An equation as the documents show it: the LaTeX sides of a forward or backward line, with its tag.

Shared by the summary (render_latex) and the step-by-step derivation (walkthrough), so a backward
line reads the same in both: what arrives from outside step t written out, a parameter's gradient
summed over time.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .derivation import AdjointLine, Derivation, LineRole
from .notation import Notation, explained
from .printers import LatexCellPrinter


@dataclass(frozen=True)
class Equation:
    left: str  # LaTeX of the left-hand side
    right: str  # LaTeX of the right-hand side
    tag: str = ""  # "B3" on a backward equation: the generated code's comment carries the same



def backward_equation(derivation: Derivation, line: AdjointLine, printer: LatexCellPrinter, notation: Notation,
                      tags: dict[str, str]) -> Equation:
    """A backward line as the documents show it, tagged: what arrives from outside step t is
    written out, and a parameter's gradient is summed over time."""
    left, tag = notation.latex[line.target.name], tags[line.target.name]
    if line.role == LineRole.PARAM:
        body = printer.doprint(line.expr)
        if isinstance(line.expr, sp.Add) or body.startswith("-"):  # the sum covers all of it, sign included
            body = f"\\left({body}\\right)"
        return Equation(left, f"\\sum_{{t}} {body}", tag)
    return Equation(left, printer.doprint(explained(derivation, line.expr)), tag)
