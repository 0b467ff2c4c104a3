"""Stage 7c: the view of a derivation that the LaTeX and Markdown templates render.

Forward equations are printed as the spec writes them (made-up variables folded back in);
backward equations are the adjoint lines with the time recursion spelled out: what a state
receives from outside step t is written as the carry of step t+1 plus the loss at t.
"""
from __future__ import annotations

from dataclasses import dataclass

from .derivation import Derivation, LineRole, equation_tags
from .equations import Equation, backward_equation
from .blocks import BlockOf
from .functions import Block
from .model import CellModel, Role
from .notation import Notation, forward_form
from .printers import LatexCellPrinter
from .reductions import Spread, UnitSum
from .written import written_equations, written_pre_activation

SECTIONS = (
    (LineRole.STATE, "Carried states: the total adjoint at step t"),
    (LineRole.INTERMEDIATE, "Gates and intermediates"),
    (LineRole.CARRY, "Sent back to step t-1"),
    (LineRole.INPUT, "Input"),
    (LineRole.PARAM, "Parameters: gradients summed over time"),
)


@dataclass(frozen=True)
class Section:
    title: str
    equations: tuple[Equation, ...]
    note: str = ""  # a sentence before the equations, math in $...$


# What the summary says before a section whose equations need it to be read right.
SECTION_NOTES = {
    LineRole.CARRY: "What step $t$ sends back is the part of each adjoint at step $t-1$ that arrives through step $t$; "
             "at step $t-1$ it is added to what the state's own uses there contribute.",
}


def latex_view(derivation: Derivation, notation: Notation) -> dict:
    """Everything document.tex.j2 and equations.md.j2 need."""
    printer, as_written = notation.printer(), notation.printer(written=True)
    tags = equation_tags(derivation)
    model = derivation.model
    equations = written_equations(model)
    forward = tuple(
        Equation(notation.latex[a.target], as_written.doprint(equations[a.target]))
        for a in model.assignments if model.variables[a.target].role == Role.EQUATION
    )
    pre_activations = tuple(
        Equation(notation.latex[a.target], pre_activation(model, a, printer, as_written))
        for a in model.assignments if model.variables[a.target].role == Role.PRE
    )
    sections = []
    for role, title in SECTIONS:
        roles = (LineRole.INTERMEDIATE, LineRole.PRODUCT) if role == LineRole.INTERMEDIATE else (role,)
        lines = [line for line in derivation.lines if line.role in roles]
        if lines:
            sections.append(Section(title, tuple(backward_equation(derivation, line, printer, notation, tags)
                                                 for line in lines), SECTION_NOTES.get(role, "")))
    return {"forward": forward, "pre_activations": pre_activations, "backward": tuple(sections),
            "notes": notation_notes(derivation, notation)}


def notation_notes(derivation: Derivation, notation: Notation) -> tuple[str, ...]:
    """The document's notation, explained once, with this cell's own symbols as the examples."""
    style, model = notation.style, derivation.model
    at = style.at
    notes = [f"Vectors are columns; ${style.product}$ is the element-wise product and $\\sigma$ the logistic function. "
             f"$L = \\sum_t {at('l', 't')}$ is the loss over the sequence, and ${at('L', 't')}$ its part from step $t$ on.",
             f"An adjoint ${style.adjoint_of(at('v', 't'))}$ is the derivative of $L$ by $v$ at step $t$ "
             f"(the code names it ${_code_in_math('d_v')}$). "
             f"${style.adjoint_of(at('v', 't-1'), of=at('L', 't'))}$ is the part of the adjoint of ${at('v', 't-1')}$ "
             "that arrives through step $t$; the whole adjoint adds what the uses of $v$ at step $t-1$ contribute. "
             f"Nothing follows the last step: ${at('L', 'T+1')} = 0$."]
    notes += _pre_activation_notes(model, notation)
    if any(line.expr.has(Block) for line in derivation.lines):
        notes.append("$\\left[a\\right]_{v}$ is the block of a stacked vector's adjoint $a$ that belongs to its part $v$.")
    notes += _size_one_and_block_notes(derivation, at)
    notes += _declared_size_notes(derivation.model.spec, notation)
    if _later_made_up_adjoints(derivation):
        later = style.adjoint_of("\\left(\\dots\\right)", of=at("L", "t+1"))
        notes.append("A value written as its definition may read, one step later, like another value now; the adjoint "
                     f"of the later one is written ${later}$, the part that arrives through step $t+1$.")
    notes.append("Each backward equation has a tag, (B1), (B2), ...; the line of the generated NumPy code that computes "
                 "it carries the same tag in its comment.")
    return tuple(notes)


def _pre_activation_notes(model, notation: Notation) -> list[str]:
    """How a pre-activation reads: a hat on its symbol, or a z where the symbol has an accent already."""
    pres = [v for v in model.variables.values() if v.role == Role.PRE and model.variables[v.of].role == Role.EQUATION]
    hatted = [v for v in pres if not notation.latex[v.name].startswith("z_")]
    accented = [v for v in pres if v not in hatted]
    notes = []
    if hatted:
        pre = hatted[0]
        owner, function = notation.latex[pre.of], type(next(a.expr for a in model.assignments if a.target == pre.of))
        hat = notation.latex[pre.name]
        notes.append(f"A hat marks a pre-activation, the argument of an activation function: ${hat}$ "
                     f"in ${owner} = {function.latex.format(hat)}$, ${_code_in_math(pre.name)}$ in the code.")
    if accented:
        pre = accented[0]
        notes.append(f"${notation.latex[pre.name]}$ is the pre-activation of ${notation.latex[pre.of]}$, the argument "
                     f"of its activation function (${_code_in_math(pre.name)}$ in the code): a symbol with an accent "
                     "of its own gets a $z$, not a hat.")
    return notes


def _size_one_and_block_notes(derivation: Derivation, at) -> list[str]:
    """How reductions, their adjoints and blocks read, for the cells that use them."""
    notes = []
    if any(line.expr.has(UnitSum) or line.expr.has(Spread) for line in derivation.lines):
        notes.append("A mean or a sum over a vector's units is one number per example; $\\mathbf{1}^{\\top} \\left(u\\right)$ "
                     "sums $u$ over its units, and $\\mathbf{1} m$ repeats one number $m$ over a vector's units.")
    if any(isinstance(a.expr, BlockOf) for a in derivation.model.assignments):
        notes.append("$\\left[a\\right]_{H + 1:2 H}$ is rows $H + 1$ to $2 H$ of $a$, one of its equal blocks.")
    return notes


def _declared_size_notes(spec, notation: Notation) -> list[str]:
    """The sizes of inputs and states, for a cell that declares sizes or gives a vector another size."""
    vectors = [*spec.inputs, *spec.states]
    if spec.sizes == ("D", "H") and all(spec.size_of(v).code == ("D" if v in spec.inputs else "H") for v in vectors):
        return []
    sizes = ", ".join(f"${notation.latex[v]}$ has ${spec.size_of(v).code}$" for v in vectors)
    equal = "".join(f" (the cell declares ${left} = {right}$)" for left, right in spec.equal_sizes)
    return [f"Entries: {sizes}{equal}."]


def _later_made_up_adjoints(derivation: Derivation) -> bool:
    """Whether what arrives from step t+1 reads the adjoint of a value derive named itself."""
    model = derivation.model
    made_up = {model.names.adjoint(v.name) for v in model.variables.values() if v.role.made_up}
    return any(symbol.name in made_up for state in model.spec.states for symbol in derivation.carry(state).expr.free_symbols)


def pre_activation(model: CellModel, assignment, printer: LatexCellPrinter, as_written: LatexCellPrinter) -> str:
    """A pre-activation's definition: as the spec writes it when the user named the activation."""
    owner = model.variables[assignment.target].of
    if model.variables[owner].role == Role.EQUATION:
        argument = written_pre_activation(model, owner)
        if argument is not None:
            return as_written.doprint(argument)
    return printer.doprint(forward_form(model, assignment.expr))


def _code_in_math(name: str) -> str:
    """A name of the generated code, in math mode (KaTeX, MathJax and pdflatex all read \\_ there)."""
    return "\\mathtt{" + name.replace("_", "\\_") + "}"
