"""Stage 1: read a cell spec (TOML text) into a typed, frozen CellSpec.

This stage checks the form of the file: required keys, their types, names, shapes and
the `target = expression` form of each equation. The expressions themselves are read
by `parse`, and their meaning is checked by `model`.
"""
from __future__ import annotations

import keyword
import re
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .dims import BUILT_IN_SIZES, D, H, ONE, Dim, dim_problem, parse_dim, size_values
from .sizes import ASCII_BLANKS, declared_sizes, sized_names
from .errors import Location, SpecError, SpecNameError, SpecSyntaxError
from . import limits
from .style import LatexStyle, style_from_table

MAX_SPEC_BYTES = 256 * 1024
MAX_EQUATIONS = 200
MAX_PARAMS = 200
MAX_NAME_LENGTH = 48

# Matched with fullmatch: `$` alone would also accept a name that ends in a newline ("W\n").
CELL_NAME = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
VARIABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)
BOM = "\ufeff"
# A cell's module is imported as NAME from NAME/NAME.py: a name Python or the module's own imports
# already use (sys, numpy, ...) would shadow it, or be shadowed, and the module could not be imported.
IMPORTED_NAMES = frozenset(sys.stdlib_module_names) | {
    "derive", "numpy", "sympy", "mpmath", "jinja2", "markupsafe", "matplotlib", "tomli", "setuptools", "pip",
    "pkg_resources", "_distutils_hack", "sitecustomize", "usercustomize"}
# [backward] holds the user's own backward equations, read only by `derive check` (derive/hand_read.py).
KNOWN_KEYS = ("name", "title", "reference", "sizes", "inputs", "states", "output", "equations", "params", "latex", "backward")
REQUIRED_KEYS = ("name", "inputs", "states", "output", "equations", "params")


@dataclass(frozen=True)
class ParamSpec:
    """A trainable parameter: a vector (one size) or a matrix (rows, columns)."""

    name: str  # as written in the spec, e.g. "W_g"
    shape: tuple[Dim, ...]  # one Dim for a vector, two for a matrix
    where: Location  # the line that declares it


@dataclass(frozen=True)
class EquationSpec:
    """One `target = expression` line, not yet parsed."""

    target: str  # the variable this line defines
    expression: str  # the right-hand side, as written
    where: Location  # line and column of the right-hand side's first character


@dataclass(frozen=True)
class CellSpec:
    """A cell as the spec file states it; every name checked, nothing yet interpreted."""

    name: str  # cell name: the module name and the folder in generated/
    title: str  # human title, e.g. "Simple LSTM"
    reference: str  # paper or post the equations come from
    input: str  # the first input's name: the sequence xs of the generated functions
    states: tuple[str, ...]  # carried states in spec order
    output: str  # the state the loss sees
    params: tuple[ParamSpec, ...]  # in spec order
    equations: tuple[EquationSpec, ...]  # in spec order
    path: str  # the spec file, as named by the user
    source_text: str = field(repr=False, default="")  # the whole file, for hashing and messages
    latex: LatexStyle = LatexStyle()  # the [latex] table: notation of the LaTeX and Markdown
    inputs_where: Location | None = None  # the `inputs = ...` line (messages about the input)
    states_where: Location | None = None  # the `states = ...` line
    inputs: tuple[str, ...] = ()  # every input in spec order, the first one `input`
    vector_sizes: tuple[tuple[str, Dim], ...] = ()  # (input or state, its size): D for inputs, H for states unless written
    sizes: tuple[str, ...] = BUILT_IN_SIZES  # the cell's sizes, D and H (unless declared equal to another) and declared ones
    equal_sizes: tuple[tuple[str, str], ...] = ()  # (size, the size it is declared equal to): SRU's D = H

    def size_of(self, name: str) -> Dim:
        """The size of an input or a state."""
        return dict(self.vector_sizes).get(name, D if name in self.inputs else H)

    @property
    def several_inputs(self) -> bool:
        return len(self.inputs) > 1

    def input_location(self) -> Location:
        return self.inputs_where or Location(self.path)

    def states_location(self) -> Location:
        return self.states_where or Location(self.path)


def load_spec(path: str | Path, display_path: str | None = None) -> CellSpec:
    """Read and check a spec file. Raises SpecError (with file, line, column) on any problem."""
    shown = display_path or str(path)
    try:
        raw = limits.read_capped(path, MAX_SPEC_BYTES, "a .toml spec")
    except limits.FileRefused as error:
        raise SpecError(Location(shown), f"cannot read the spec: {error.problem}", error.expected) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecSyntaxError(Location(shown), f"the spec is not UTF-8 text (byte {error.start})") from None
    return spec_from_text(text, shown)


def spec_from_text(text: str, path: str) -> CellSpec:
    """Check the TOML text of a spec and build its CellSpec. A leading UTF-8 byte order mark
    (Notepad writes one) is dropped; anywhere else U+FEFF is refused like any non-ASCII name."""
    if text.startswith(BOM):
        text = text[len(BOM):]
    table = read_toml(text, path)
    lines = text.split("\n")  # as a user's editor counts lines (splitlines also breaks at U+2028, U+0085, ...)
    where = lambda key: Location(path, key_line(lines, key))  # noqa: E731 - tiny local helper
    _check_keys(table, path, where)
    name = _cell_name(table["name"], where("name"))
    declared, equal = declared_sizes(table.get("sizes", []), where("sizes"))
    known = (*BUILT_IN_SIZES, *declared)
    inputs = sized_names(table["inputs"], "inputs", where("inputs"), known, equal, D, check_variable_name)
    states = sized_names(table["states"], "states", where("states"), known, equal, H, check_variable_name)
    output = _output(table["output"], states, where("output"))
    params = _params(table["params"], lines, path, known, equal)
    equations = equation_lines(table["equations"], lines, path, where("equations"))
    spec = CellSpec(
        name=name,
        title=_prose(table.get("title", name), "title", where("title")),
        reference=_prose(table.get("reference", ""), "reference", where("reference")),
        input=next(iter(inputs)),
        states=tuple(states),
        output=output,
        params=params,
        equations=equations,
        path=path,
        source_text=text,
        inputs_where=where("inputs"),
        states_where=where("states"),
        inputs=tuple(inputs),
        vector_sizes=tuple({**inputs, **states}.items()),
        sizes=tuple(size for size in known if size not in equal),
        equal_sizes=tuple(equal.items()))
    _check_sizes_used(spec, where("sizes"), declared)
    _check_unique_names(spec, where)
    check_parameter_count(spec, *SEED_SIZES, limits.MAX_PARAMETERS_AT_SEED_SIZES, "any spec, counted at the seed posts' sizes")
    names = {*spec.inputs, *spec.states, *(p.name for p in params), *(e.target for e in equations)}
    return replace(spec, latex=style_from_table(table.get("latex"), where("latex"), names))


def _output(value, states, where: Location) -> str:
    output = _text(value, "output", where)
    _refuse_non_ascii(output, where, "output")
    if output not in states:
        raise SpecNameError(where, f"output {output!r} is not a declared state", f"one of {', '.join(states)}")
    return output


SEED_SIZES = (50, 100)  # D and H of the seed posts: every spec's parameters are counted at these sizes


def parameter_count(spec: CellSpec, d: int, h: int) -> int:
    """Entries of all the cell's parameter arrays for input size d and hidden size h (declared sizes equal to h)."""
    values = size_values(spec.sizes, d, h)
    return sum(_entries(param, values) for param in spec.params)


def _entries(param: ParamSpec, values: dict[str, int]) -> int:
    entries = 1
    for dim in param.shape:
        entries *= dim.value(values)
    return entries


def check_parameter_count(spec: CellSpec, d: int, h: int, limit: int, use: str) -> None:
    """Refuse a cell whose parameters at D=d, H=h have more than `limit` entries, before anything
    is allocated; the message names the largest parameter, its shape and its size."""
    total = parameter_count(spec, d, h)
    if total <= limit:
        return
    values = size_values(spec.sizes, d, h)
    largest = max(spec.params, key=lambda param: _entries(param, values))
    shape = " x ".join(f"{dim.value(values):,}" for dim in largest.shape)
    raise SpecError(largest.where, f"the cell has {total:,} parameters at D={d}, H={h}; the largest, {largest.name}, "
                                   f"is {shape} = {_entries(largest, values):,}",
                    f"at most {limit:,} parameters for {use} (smaller sizes, fewer or smaller parameters)")


def read_toml(text: str, path: str) -> dict:
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise SpecSyntaxError(Location(path), "the TOML nests arrays or tables too deeply", "a flat cell spec as in derive/cells/nico.toml") from None
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
        line, column = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error)) or "invalid TOML"
        raise SpecSyntaxError(Location(path, line, column), f"invalid TOML: {problem}", "a TOML table as in derive/cells/nico.toml") from None


def key_line(lines: list[str], key: str, start: int = 0) -> int:
    """The 1-based line where `key =` is first written at or after line index `start`; 0 if absent."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=|^\s*\[{re.escape(key)}\]")
    for index in range(start, len(lines)):
        if pattern.match(lines[index]):
            return index + 1
    return 0


def _check_keys(table: dict, path: str, where) -> None:
    unknown = [key for key in table if key not in KNOWN_KEYS]
    if unknown:
        raise SpecError(where(unknown[0]), f"unknown key {unknown[0]!r}", f"only {', '.join(KNOWN_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in table]
    if missing:
        raise SpecError(Location(path), f"missing key {missing[0]!r}", f"all of {', '.join(REQUIRED_KEYS)}")


def _text(value, key: str, where: Location) -> str:
    if not isinstance(value, str):
        raise SpecError(where, f"{key} is a {type(value).__name__}", "a string")
    return value


MAX_PROSE = 500


def _prose(value, key: str, where: Location) -> str:
    """Title and reference go into docstrings, comments and documents: one line of plain text."""
    text = _text(value, key, where)
    bad = next((c for c in text if not c.isprintable() or c in "\\`"), None)
    if bad is not None or '"""' in text or len(text) > MAX_PROSE:
        what = f"character {bad!r}" if bad is not None else ('"""' if '"""' in text else f"{len(text)} characters")
        raise SpecError(where, f"{key} contains {what}",
                        f"one line of printable text without backslashes, backquotes or \"\"\", at most {MAX_PROSE} characters")
    return text


def _cell_name(value, where: Location) -> str:
    name = _text(value, "name", where)
    _refuse_non_ascii(name, where, "cell name")
    if not CELL_NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH or keyword.iskeyword(name):
        raise SpecNameError(where, f"cell name {name!r} cannot name a module and a folder",
                            f"lower-case letters, digits and _, starting with a letter, at most {MAX_NAME_LENGTH} characters")
    if name in IMPORTED_NAMES:
        raise SpecNameError(where, f"cell name {name!r} is the name of a module Python imports (a generated {name}.py "
                                   "would shadow it or be shadowed, and could not be imported)", "another cell name")
    return name


def _refuse_non_ascii(name: str, where: Location, what: str) -> None:
    """Look-alike Unicode (a Cyrillic a, a fullwidth x, Arabic-Indic digits) is refused by its U+ code."""
    bad = next((char for char in name if not char.isascii() or not char.isprintable()), None) if isinstance(name, str) else None
    if bad is not None:
        raise SpecNameError(where, f"{what} {name!r} contains the character {bad!r} (U+{ord(bad):04X})",
                            "plain ASCII: A-Z, a-z, 0-9 and _")


def check_variable_name(name: str, where: Location, what: str) -> str:
    """A name usable in the generated Python and LaTeX: ASCII, no leading _, no keyword."""
    _refuse_non_ascii(name, where, f"{what} name")
    if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise SpecNameError(where, f"{what} name {name!r} is not allowed",
                            f"ASCII letters, digits and _, starting with a letter, at most {MAX_NAME_LENGTH} characters")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise SpecNameError(where, f"{what} name {name!r} is a Python keyword", "another name")
    return name


def _check_sizes_used(spec: CellSpec, where: Location, declared: tuple[str, ...]) -> None:
    """Every size of the cell is the size of some input, state or parameter axis: the generated code
    reads each size from an argument's shape."""
    used = {name for _, size in spec.vector_sizes for name in size.names}
    used |= {name for param in spec.params for dim in param.shape for name in dim.names}
    for size in spec.sizes:
        if size not in used:
            hint = f"remove {size!r} from sizes" if size in declared else f"declare it equal to a size used, as in sizes = [\"{size} = H\"]"
            raise SpecError(where if size in declared else spec.input_location(),
                            f"no input, state or parameter has the size {size}", hint)


def _params(value, lines: list[str], path: str, known: tuple[str, ...], equal: dict[str, str]) -> tuple[ParamSpec, ...]:
    section = key_line(lines, "params")
    if not isinstance(value, dict) or not value:
        raise SpecError(Location(path, section), "params is not a table of shapes", '[params] with lines such as W = ["H", "D + H"]')
    if len(value) > MAX_PARAMS:
        raise SpecError(Location(path, section), f"{len(value)} parameters", f"at most {MAX_PARAMS}")
    params = []
    for name, shape in value.items():
        where = Location(path, key_line(lines, name, max(section - 1, 0)))
        check_variable_name(name, where, "parameter")
        params.append(ParamSpec(name, tuple(dim.renamed(equal) for dim in _shape(shape, name, where, known)), where))
    return tuple(params)


def _shape(value, name: str, where: Location, known: tuple[str, ...]) -> tuple[Dim, ...]:
    expected = 'a list of one or two sizes in D, H and declared sizes, e.g. ["H", "D + H"] or ["H"], or [] for one number'
    if not isinstance(value, list) or len(value) > 2 or not all(isinstance(v, str) for v in value):
        raise SpecError(where, f"the shape of {name} is {value!r}", expected)
    if not value:  # a scalar: one number, a vector of size 1 that broadcasts like a mean over units
        return (ONE,)
    for size in value:
        problem = dim_problem(size)
        if problem:
            shown = repr(size) if len(size) <= 60 else repr(size[:50]) + f"... ({len(size)} characters)"
            raise SpecError(where, f"the size {shown} of {name} is not a sum of sizes and whole numbers: {problem}", expected)
    shape = tuple(parse_dim(v) for v in value)
    unknown = next((n for dim in shape for n in dim.names if n not in known), None)
    if unknown:
        raise SpecError(where, f"the shape of {name} uses the size {unknown!r}, which this cell does not declare",
                        f"sizes in {', '.join(known)}, or a new size declared first: sizes = [\"{unknown}\"]")
    return shape


def equation_lines(value, lines: list[str], path: str, key_where: Location) -> tuple[EquationSpec, ...]:
    """The `target = expression` lines of an equations string (a spec's, or the hand-written backward pass
    `derive check` reads), each with where its right-hand side starts in the file."""
    if not isinstance(value, str):
        raise SpecError(key_where, "equations is not a string", 'a multi-line string: equations = """ ... """ with one `name = expression` per line')
    equations = []
    search_from = max(key_where.line - 1, 0)
    # Lines end at "\n" only and are trimmed of ASCII blanks only: str.splitlines() also breaks at
    # U+2028 or U+0085 and str.strip() eats U+2003, which would move lines and hide characters.
    for raw in value.split("\n"):
        stripped = raw.strip(ASCII_BLANKS)
        if not stripped or stripped.startswith("#"):
            continue
        line, offset = _find_line(lines, stripped, search_from)
        search_from = max(search_from, line - 1) if line else search_from
        where = Location(path, line or key_where.line, offset + 1 if line else 0)
        bad = next((i for i, char in enumerate(stripped) if not char.isascii() or not (char.isprintable() or char == "\t")), None)
        if bad is not None:
            char = stripped[bad]
            raise SpecSyntaxError(Location(path, where.line, where.column + bad if where.column else 0),
                                  f"character {char!r} (U+{ord(char):04X}) is not allowed in an equation",
                                  "plain ASCII; names are written with A-Z, a-z, 0-9 and _")
        equations.append(_equation(stripped, where))
    if not equations:
        raise SpecError(key_where, "there are no equations", "one `name = expression` per line")
    if len(equations) > MAX_EQUATIONS:
        raise SpecError(key_where, f"{len(equations)} equations", f"at most {MAX_EQUATIONS}")
    return tuple(equations)


def _find_line(lines: list[str], text: str, start: int) -> tuple[int, int]:
    """Where an equation stands in the file: (1-based line, 0-based column), or (0, 0)."""
    for index in range(start, len(lines)):
        column = lines[index].find(text)
        if column >= 0:
            return index + 1, column
    return 0, 0


def _equation(text: str, where: Location) -> EquationSpec:
    target, sign, expression = text.partition("=")
    if not sign or expression.startswith("="):
        raise SpecSyntaxError(where, f"{text!r} is not an equation", "`name = expression`")
    name = target.strip(ASCII_BLANKS)
    check_variable_name(name, where, "equation target")
    rhs_offset = len(target) + 1 + (len(expression) - len(expression.lstrip(ASCII_BLANKS)))
    rhs_where = Location(where.path, where.line, where.column + rhs_offset if where.column else 0)
    return EquationSpec(name, expression.strip(ASCII_BLANKS), rhs_where)


def _check_unique_names(spec: CellSpec, where) -> None:
    """Every name is declared once: input, states, params and equation targets share one space."""
    seen: dict[str, str] = {}
    declared = [(size, "a size", spec.input_location()) for size in dict.fromkeys((*BUILT_IN_SIZES, *spec.sizes))]
    declared += [(name, "an input", spec.input_location()) for name in spec.inputs]
    declared += [(name, "a state", spec.states_location()) for name in spec.states]
    declared += [(param.name, "a parameter", param.where) for param in spec.params]
    for name, role, place in declared:
        if name in seen:
            raise SpecNameError(place, f"{name!r} is declared as {seen[name]} and as {role}", "each name declared once")
        seen[name] = role
    defined: set[str] = set()
    for equation in spec.equations:
        role = seen.get(equation.target)
        if role and role != "a state":
            raise SpecNameError(equation.where, f"{equation.target!r} is {role}; it cannot be assigned", "an equation for a state or a new intermediate")
        if equation.target in defined:
            raise SpecNameError(equation.where, f"{equation.target!r} is defined twice", "one equation per variable")
        defined.add(equation.target)
    for state in spec.states:
        if state not in defined:
            raise SpecNameError(spec.states_location(), f"state {state!r} has no equation", f"a line `{state} = ...` in equations")
