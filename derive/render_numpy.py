"""Stage 5a: the view of a derivation that templates/module.py.j2 renders into NumPy code.

Forward lines are the lowered assignments (pre-activations written inline); backward lines
are the adjoint lines after common-subexpression elimination, each with a comment holding
the equation it implements, in the names the LaTeX uses.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import sympy as sp

from .derivation import AdjointLine, Derivation, LineRole, equation_tags
from .dims import Dim
from .model import CellModel, Kind, Role
from .notation import Notation, explained
from .printers import NumpyPrinter, TextPrinter
from .functions import Block, Outer, Sigmoid
from .render_fast import fast_view, forward_comment, sigmoid_pairs


@dataclass(frozen=True)
class CodeLine:
    code: str  # one Python statement
    comment: str  # the equation it implements, or why it is there


def numpy_view(derivation: Derivation, notation: Notation) -> dict:
    """Everything module.py.j2 needs, as plain strings and lists."""
    model = derivation.model
    spec = model.spec
    reduced = shared_subexpressions(derivation)
    backward = _backward_lines(derivation, notation, reduced)
    read = _read_by_backward(reduced)
    cache = cached_names(derivation, reduced)
    forward = _forward_lines(model, notation, keep=set(cache))
    return {
        "state_tuple": _python_tuple(spec.states),
        "states": list(spec.states),
        "previous_states": [(s, model.names.prev(s)) for s in spec.states],
        "output": spec.output,
        "input": spec.input,
        "param_shapes": [(p.name, _python_tuple(str(dim) for dim in p.shape), _code_tuple(p.shape)) for p in spec.params],
        "param_sizes": [(p.name, _size_tuple(p.shape)) for p in spec.params],
        "equations": [f"{eq.target} = {eq.expression}" for eq in spec.equations],
        "forward_params": _used_params(model, forward),
        "forward": forward,
        "cache": cache,
        "backward_params": [p.name for p in spec.params if p.name in read],
        "sizes": _size_lines(model, read),
        "backward": backward,
        "grads": [(p.name, model.names.adjoint(p.name)) for p in spec.params],
        "carries": [(s, model.names.adjoint(model.names.prev(s))) for s in spec.states],
        "input_adjoint": model.names.adjoint(spec.input),
        "helpers": ["sigmoid"] if any(a.expr.has(Sigmoid) for a in model.assignments) else [],
        "all_params": [p.name for p in spec.params],
        "fast": fast_view(derivation),
    }


def _tuple(items: list[str]) -> str:
    """(a, b) and (a,): Python tuple syntax."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _python_tuple(strings) -> str:
    """("a", "b"): a tuple of string literals."""
    return _tuple([f'"{s}"' for s in strings])


def _code_tuple(shape) -> str:
    """(H, D + H): a shape as Python code in the local names D and H."""
    return _tuple([str(dim) for dim in shape])


def _size_tuple(shape) -> str:
    """((0, 1, 0), (1, 1, 0)) for (H, D + H): each size as data, (how many D, how many H, a constant)."""
    return _tuple([f"({dim.d}, {dim.h}, {dim.const})" for dim in shape])


def _printer(derivation: Derivation) -> NumpyPrinter:
    incoming = {symbol.name: f'd_state["{state}"]' for state, symbol in derivation.incoming.items()}
    return NumpyPrinter({"names": incoming})


def _forward_lines(model: CellModel, notation: Notation, keep: set[str]) -> list[CodeLine]:
    """Forward assignments. A complement nobody reads is left out; a pre-activation read by one
    line only, and not by the backward pass (keep), is written inline into that line."""
    readers: dict[str, int] = {}
    emitted = [a for a in model.assignments
               if model.variables[a.target].role != Role.COMPLEMENT or a.target in keep or _read_by(a.target, model)]
    for a in emitted:
        for symbol in a.expr.free_symbols:
            readers[symbol.name] = readers.get(symbol.name, 0) + 1
    pre = {sp.Symbol(a.target): a.expr for a in emitted
           if model.variables[a.target].role == Role.PRE and a.target not in keep and readers.get(a.target) == 1}
    printer = NumpyPrinter()
    values = model.cached_values()
    lines = []
    paired = sigmoid_pairs(model, emitted)
    for assignment in emitted:
        variable = model.variables[assignment.target]
        if sp.Symbol(assignment.target) in pre or assignment.target in paired.values():
            continue  # written inline, or computed together with its sigmoid
        if assignment.target in paired:
            argument = printer.doprint(assignment.expr.args[0].xreplace(pre))
            lines.append(CodeLine(f"{assignment.target}, {paired[assignment.target]} = sigmoid_pair({argument})",
                                  f"{forward_comment(model, assignment)}; and 1 - {assignment.target} without cancellation"))
            continue
        expr = assignment.expr if variable.role == Role.LIFTED else assignment.expr.xreplace(values)
        code = f"{assignment.target} = {printer.doprint(expr.xreplace(pre))}"
        lines.append(CodeLine(code, forward_comment(model, assignment, notation.text[assignment.target])))
    return lines


def shared_subexpressions(derivation: Derivation) -> tuple[list, list]:
    """CSE over the backward pass: ([(temp, value)], one reduced expression per adjoint line)."""
    names = (sp.Symbol(derivation.model.names.shared(k)) for k in itertools.count())
    sizes = (sp.Symbol("D"), sp.Symbol("H"))  # slice bounds such as D + H stay written out
    return sp.cse([line.expr for line in derivation.lines], symbols=names, order="none", ignore=sizes)


def _read_by(name: str, model: CellModel) -> bool:
    """True if another forward assignment reads `name`."""
    return any(sp.Symbol(name) in a.expr.free_symbols for a in model.assignments if a.target != name)


def _backward_lines(derivation: Derivation, notation: Notation, cse) -> list[CodeLine]:
    """Adjoint lines with shared subexpressions (cse, from shared_subexpressions) computed once, just before their first use."""
    shared, reduced = cse
    printer, text = _printer(derivation), TextPrinter({"names": notation.text})
    tags = equation_tags(derivation)
    pending = list(shared)
    out: list[CodeLine] = []
    for line, expr in zip(derivation.lines, reduced):
        for symbol, value in _needed(pending, expr):
            out.append(CodeLine(f"{symbol} = {printer.doprint(value)}", "shared subexpression"))
        out.append(CodeLine(f"{line.target} = {printer.doprint(expr)}", _equation_text(derivation, line, tags[line.target.name], text, notation)))
    return out


def _needed(pending: list, expr: sp.Expr) -> list:
    """The pending shared subexpressions expr reads (directly or through each other), in order; removed from pending."""
    wanted = set(expr.free_symbols)
    chosen = []
    for symbol, value in reversed(pending):
        if symbol in wanted:
            chosen.append((symbol, value))
            wanted |= value.free_symbols
    for item in chosen:
        pending.remove(item)
    return list(reversed(chosen))


def _equation_text(derivation: Derivation, line: AdjointLine, tag: str, text: TextPrinter, notation: Notation) -> str:
    """The comment of a backward line: its tag in the LaTeX, then its equation."""
    left = f"({tag}) {notation.text[line.target.name]}"
    if line.role == LineRole.PARAM:
        return f"{left} = sum over t of {text.doprint(line.expr)}"
    return f"{left} = {text.doprint(explained(derivation, line.expr))}"


def _read_by_backward(cse) -> set[str]:
    """Names the emitted backward pass reads. A block's part and an outer product's weight are
    bookkeeping for the printers, not values the code reads."""
    shared, reduced = cse
    names = set()
    for expr in [value for _, value in shared] + list(reduced):
        bookkeeping = {node: Block(*node.args[:3], sp.S.Zero) for node in expr.atoms(Block)}  # bounds are read, the part is not
        bookkeeping.update({node: Outer(*node.args[:2], sp.S.Zero) for node in expr.atoms(Outer)})
        names |= {symbol.name for symbol in expr.xreplace(bookkeeping).free_symbols}
    return names


def _used_params(model: CellModel, lines: list[CodeLine]) -> list[str]:
    words = set(_words(lines))
    return [p.name for p in model.spec.params if p.name in words]


def _words(lines) -> list[str]:
    """Identifiers in code, outside string literals."""
    source = "\n".join(line.code if isinstance(line, CodeLine) else line for line in lines)
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r'"[^"]*"', "", source))


def cached_names(derivation: Derivation, cse=None) -> list[str]:
    """The forward variables the backward pass reads: what a step must keep for backprop through time."""
    read = _read_by_backward(cse or shared_subexpressions(derivation))
    return [v.name for v in derivation.model.variables.values() if v.kind != Kind.PARAM and v.name in read]


def _size_lines(model: CellModel, read: set[str]) -> list[str]:
    """Lines that recover D and H in the backward pass, when its slices need them."""
    if not read & {"D", "H"}:
        return []
    first_state = model.spec.states[0]
    lines = [f'H = d_state["{first_state}"].shape[1]']
    if "D" in read:
        lines.append(_solve(model, "d"))
    return lines


def _solve(model: CellModel, letter: str) -> str:
    """`D = ...` (given H) or `H = ...` (given D) from the shape of a parameter sized by it."""
    candidates = [(p, axis, dim) for p in model.spec.params for axis, dim in enumerate(p.shape) if getattr(dim, letter)]
    if not candidates:
        raise AssertionError(f"no parameter is sized by {letter.upper()}")  # model checks make this impossible
    param, axis, dim = min(candidates, key=lambda c: (c[2] != Dim(**{letter: 1}), len(str(c[2]))))
    count = getattr(dim, letter)
    rest = Dim(**{other: getattr(dim, other) for other in ("d", "h", "const") if other != letter})
    size = f'params["{param.name}"].shape[{axis}]'
    if rest != Dim():
        size += f" - ({rest})" if "+" in str(rest) else f" - {rest}"
    if count != 1:
        size = f"({size}) // {count}"
    return f"{letter.upper()} = {size}"
