"""Stage 7a: the view of a cell that templates/module.py.j2 renders into NumPy code.

Forward lines are the lowered assignments (pre-activations written inline); backward lines
are the adjoint lines after common-subexpression elimination, each with a comment holding
the equation it implements, in the names the LaTeX uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .backward_code import BackwardCode
from .cell import DerivedCell
from .derivation import AdjointLine, Derivation, LineRole, equation_tags
from .dims import Dim
from .forward_code import forward_comment, sigmoid_pairs
from .functions import Sigmoid, read_names
from .model import CellModel, Role
from .notation import Notation, explained
from .printers import NumpyPrinter, TextPrinter


@dataclass(frozen=True)
class CodeLine:
    code: str  # one Python statement
    comment: str  # the equation it implements, or why it is there
    reads: frozenset[str] = frozenset()  # the names it reads
    tag: str = ""  # the tag of the equation it computes (B3), if it computes one


def step_lines(cell: DerivedCell, printer: type[NumpyPrinter] = NumpyPrinter) -> dict:
    """The readable steps' lines, printed for NumPy or (printer=TorchPrinter) for PyTorch: what
    step_lines.py.j2 writes, and all that module_torch.py.j2 reads differently from module.py.j2."""
    return {"forward": _forward_lines(cell.model, cell.notation, set(cell.code.cached), printer),
            "backward": _backward_lines(cell.derivation, cell.notation, cell.code, printer)}


def numpy_view(cell: DerivedCell) -> dict:
    """Everything module.py.j2 needs, as plain strings and lists."""
    derivation, code = cell.derivation, cell.code
    model, spec = cell.model, cell.spec
    lines = step_lines(cell)
    forward, backward = lines["forward"], lines["backward"]
    read, cache = code.reads, list(code.cached)
    return {
        "state_tuple": _python_tuple(spec.states),
        "size_tuple": _python_tuple(spec.sizes),
        "states": list(spec.states),
        "previous_states": [(s, model.names.prev(s)) for s in spec.states],
        "output": spec.output,
        "input": spec.input,
        "param_shapes": [(p.name, _python_tuple(str(dim) for dim in p.shape), _code_tuple(p.shape)) for p in spec.params],
        "param_sizes": [(p.name, _size_tuple(p.shape, spec.sizes)) for p in spec.params],
        "equations": [f"{eq.target} = {eq.expression}" for eq in spec.equations],
        "forward_params": _used_params(model, forward),
        "forward": forward,
        "cache": cache,
        "backward_params": [p.name for p in spec.params if p.name in read],
        "size_lines": _size_lines(model, read),
        "backward": backward,
        "grads": [(p.name, model.names.adjoint(p.name)) for p in spec.params],
        "carries": [(s, model.names.adjoint(model.names.prev(s))) for s in spec.states],
        "input_adjoint": _input_adjoints(model),
        **_size_view(spec),
        "helpers": ["sigmoid"] if any(e.has(Sigmoid) for e in _all_expressions(derivation)) else [],
        "all_params": [p.name for p in spec.params],
    }


def _size_view(spec) -> dict:
    """The sizes as the module's constants, signatures and shapes write them."""
    vector = lambda name: spec.size_of(name).code  # noqa: E731 - an input's or a state's size: one size name
    several = spec.several_inputs
    return {
        "sizes": list(spec.sizes),
        "size_names": ", ".join(spec.sizes),
        "extra_sizes": [size for size in spec.sizes if size not in ("D", "H")],
        "equal_sizes": [pair for pair in spec.equal_sizes if pair[0] in ("D", "H")],  # an argument of init_params set equal
        "several_inputs": several,
        "inputs": [(name, vector(name)) for name in spec.inputs],
        "input_size": vector(spec.input),
        "state_sizes": [(state, vector(state)) for state in spec.states],
        "one_state_size": len({vector(state) for state in spec.states}) == 1 and vector(spec.states[0]),
        "output_size": vector(spec.output),
        # what check_arguments is told of the inputs: axes letters, or a dict of them for several inputs
        "step_axes": _axes(spec, "B"),
        "sequence_axes": _axes(spec, "TB"),
        "step_input": "inputs" if several else spec.input,
        "size_from": _size_sources(spec),
        "size_counts": ", ".join([size.lower() for size in spec.sizes] + ["const"]),
        "size_formula": " + ".join([f"{size.lower()} * {size}" for size in spec.sizes] + ["const"]),
        "xs_shape": "(a dict of " + ", ".join(f"{n} (T, B, {vector(n)})" for n in spec.inputs) + ")" if several else f"(T, B, {vector(spec.input)})",
        "dtype": f'xs["{spec.input}"].dtype' if several else "xs.dtype",
        "zero_states": _zero_states(spec, "np.zeros((B, {size}), dtype=" + ('xs["' + spec.input + '"].dtype' if several else "xs.dtype") + ")"),
        "initial_states": _zero_states(spec, "np.zeros((B, {size}), xs.dtype) if state0 is None else state0[{name}].copy()"),
        "last_adjoints": _zero_states(spec, "np.zeros((B, {size}), xs.dtype) if d_state_last is None else d_state_last[{name}].copy()"),
        "empty_dxs": ("{" + ", ".join(f'"{n}": np.empty((T, B, {vector(n)}), dtype=d_outputs.dtype)' for n in spec.inputs) + "}"
                      if several else f"np.empty((T, B, {vector(spec.input)}), dtype=d_outputs.dtype)"),
    }


def _zero_states(spec, pattern: str) -> str:
    """A dict with an entry per state, pattern filled with each state's {size} and {name} (the code
    that names it): one comprehension over STATE when every state has one size, else one entry each."""
    sizes = [spec.size_of(state).code for state in spec.states]
    if len(set(sizes)) == 1:
        return "{name: " + pattern.format(size=sizes[0], name="name") + " for name in STATE}"
    return "{" + ", ".join(f'"{state}": ' + pattern.format(size=size, name=f'"{state}"') for state, size in zip(spec.states, sizes)) + "}"


def _size_sources(spec) -> list[tuple[str, str]]:
    """For each size no input has (H, P), the first parameter axis sized by it alone, as data:
    (size, '("W_f", 0, 1, 0)'), parameter, axis, how many of the size, a constant."""
    input_sizes = {name for v in spec.inputs for name in spec.size_of(v).names}
    sources = {}
    for param in spec.params:
        for axis, dim in enumerate(param.shape):
            if len(dim.counts) == 1 and dim.names[0] not in input_sizes and dim.names[0] not in sources:
                sources[dim.names[0]] = f'("{param.name}", {axis}, {dim.counts[0][1]}, {dim.const})'
    return [(size, sources[size]) for size in spec.sizes if size in sources]


def _axes(spec, leading: str) -> str:
    if not spec.several_inputs:
        return f'"{leading}{spec.size_of(spec.input).code}"'
    return "{" + ", ".join(f'"{name}": "{leading}{spec.size_of(name).code}"' for name in spec.inputs) + "}"


def _input_adjoints(model: CellModel) -> str:
    """What backward() returns for the inputs: d_x, or a dict of every input's adjoint."""
    spec = model.spec
    if not spec.several_inputs:
        return model.names.adjoint(spec.input)
    return "{" + ", ".join(f'"{name}": {model.names.adjoint(name)}' for name in spec.inputs) + "}"


def _all_expressions(derivation: Derivation):
    """Every forward and backward expression: a backward pass may call sigmoid alone (softplus' = sigmoid)."""
    yield from (a.expr for a in derivation.model.assignments)
    yield from (line.expr for line in derivation.lines)


def _tuple(items: list[str]) -> str:
    """(a, b) and (a,): Python tuple syntax."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _python_tuple(strings) -> str:
    """("a", "b"): a tuple of string literals."""
    return _tuple([f'"{s}"' for s in strings])


def _code_tuple(shape) -> str:
    """(H, D + H): a shape as Python code in the local names D and H."""
    return _tuple([str(dim) for dim in shape])


def _size_tuple(shape, sizes: tuple[str, ...]) -> str:
    """((0, 1, 0), (1, 1, 0)) for (H, D + H): each size as data, (how many of each of SIZES, a constant)."""
    return _tuple([_tuple([str(dim.count(name)) for name in sizes] + [str(dim.const)]) for dim in shape])


def _printer(derivation: Derivation, printer: type[NumpyPrinter]) -> NumpyPrinter:
    incoming = {symbol.name: f'd_state["{state}"]' for state, symbol in derivation.incoming.items()}
    return printer({"names": incoming})


def _forward_lines(model: CellModel, notation: Notation, keep: set[str], printer_class: type[NumpyPrinter]) -> list[CodeLine]:
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
    printer = printer_class()
    values = model.cached_values
    lines = []
    paired = sigmoid_pairs(model, emitted)
    for assignment in emitted:
        variable = model.variables[assignment.target]
        if sp.Symbol(assignment.target) in pre or assignment.target in paired.values():
            continue  # written inline, or computed together with its sigmoid
        if assignment.target in paired:
            argument = assignment.expr.args[0].xreplace(pre)
            lines.append(CodeLine(f"{assignment.target}, {paired[assignment.target]} = sigmoid_pair({printer.doprint(argument)})",
                                  f"{forward_comment(model, assignment)}; and 1 - {assignment.target} without cancellation",
                                  frozenset(read_names(argument))))
            continue
        expr = assignment.expr if variable.role == Role.LIFTED else assignment.expr.xreplace(values)
        expr = expr.xreplace(pre)
        lines.append(CodeLine(f"{assignment.target} = {printer.doprint(expr)}",
                              forward_comment(model, assignment, notation.text[assignment.target]), frozenset(read_names(expr))))
    return lines


def _read_by(name: str, model: CellModel) -> bool:
    """True if another forward assignment reads `name`."""
    return any(sp.Symbol(name) in a.expr.free_symbols for a in model.assignments if a.target != name)


def _backward_lines(derivation: Derivation, notation: Notation, code: BackwardCode,
                    printer_class: type[NumpyPrinter]) -> list[CodeLine]:
    """Adjoint lines with shared subexpressions computed once, just before their first use."""
    shared, reduced = code.shared, code.reduced
    printer, text = _printer(derivation, printer_class), TextPrinter({"names": notation.text, "ranks": notation.ranks})
    tags = equation_tags(derivation)
    pending = list(shared)
    out: list[CodeLine] = []
    for line, expr in zip(derivation.lines, reduced):
        for symbol, value in _needed(pending, expr):
            out.append(CodeLine(f"{symbol} = {printer.doprint(value)}", "shared subexpression"))
        tag = tags[line.target.name]
        out.append(CodeLine(f"{line.target} = {printer.doprint(expr)}", _equation_text(derivation, line, tag, text, notation),
                            tag=tag))
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


def _used_params(model: CellModel, lines: list[CodeLine]) -> list[str]:
    read = set().union(*(line.reads for line in lines))
    return [p.name for p in model.spec.params if p.name in read]


def _size_lines(model: CellModel, read: set[str]) -> list[str]:
    """Lines that recover the sizes the backward pass's slices read: a size from the first incoming
    state adjoint it sizes alone, else from a parameter axis where it is the only unknown size (one
    sized by it alone first)."""
    spec = model.spec
    solved: dict[str, tuple[str, tuple[str, ...]]] = {}  # size -> (its code, the sizes that code reads)
    for state in spec.states:
        size = spec.size_of(state)
        if size == Dim.of(size.names[0]) and size.names[0] not in solved:
            solved[size.names[0]] = (f'd_state["{state}"].shape[1]', ())
    while len(solved) < len(spec.sizes):  # the spec's checks make sure every size is reached
        candidates = [(name, param, axis, dim) for param in spec.params for axis, dim in enumerate(param.shape)
                      for name in dim.names if name not in solved and all(n in solved for n in dim.without(name).names)]
        name, param, axis, dim = min(candidates, key=lambda c: (c[3] != Dim.of(c[0]), len(str(c[3]))))
        solved[name] = (_solved(dim, name, f'params["{param.name}"].shape[{axis}]'), dim.without(name).names)
    needed = {size for size in spec.sizes if size in read}
    for size in reversed(list(solved)):  # a size read by a needed one's line is needed too
        if size in needed:
            needed.update(solved[size][1])
    return [f"{size} = {solved[size][0]}" for size in solved if size in needed]


def _solved(dim: Dim, name: str, length: str) -> str:
    """`name` from an axis of size dim whose length is `length`, the other sizes known: "params[..].shape[1] - H"."""
    rest = dim.without(name)
    if rest != Dim():
        length += f" - ({rest})" if "+" in str(rest) else f" - {rest}"
    count = dim.count(name)
    return f"({length}) // {count}" if count != 1 else length
