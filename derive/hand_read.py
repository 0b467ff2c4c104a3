"""A hand-written backward pass, as `derive check` reads it: the `[backward]` table of a file.

The table holds one `adjoint = expression` per line, in the spec's equation language, with the
adjoints named as derive names them (d_s, d_h, d_o_pre, d_W_g) and what arrives from step t+1
written with (t+1):

    [backward]
    equations = \"\"\"
    d_s = d_h * o + d_s(t+1) * f(t+1)
    d_W_o = outer(d_o_pre, xc)
    d_xc = W_g.T @ d_g_pre + W_i.T @ d_i_pre + W_f.T @ d_f_pre + W_o.T @ d_o_pre
    \"\"\"

The table may stand in the cell's spec itself or in a file of its own, which may name its cell
(cell = "nico": a built-in name, or a spec's path). Nothing here runs the
text: it is TOML, and each right-hand side is read by parse's whitelisting reader.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import limits
from .errors import Location, SpecError, SpecSyntaxError
from .spec import EquationSpec, equation_lines, key_line, read_toml

MAX_BACKWARD_BYTES = 256 * 1024
EXAMPLE = '[backward]\nequations = """\nd_s = d_h * o + d_s(t+1) * f(t+1)\n"""'


@dataclass(frozen=True)
class BackwardFile:
    """A file's hand-written backward pass, and the cell it is about if it says (cell = "nico")."""

    equations: tuple[EquationSpec, ...]
    cell: str | None


def read_text(path: str | Path, what: str) -> str:
    """A regular UTF-8 file of at most MAX_BACKWARD_BYTES: a file of backward equations, or a post (--latex)."""
    shown = str(path)
    try:
        raw = limits.read_capped(path, MAX_BACKWARD_BYTES, what)
    except limits.FileRefused as error:
        raise SpecError(Location(shown), f"cannot read it: {error.problem}", error.expected) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecSyntaxError(Location(shown), f"the file is not UTF-8 text (byte {error.start})") from None


def read_backward_file(path: str | Path) -> BackwardFile:
    """The backward equations of a file's `[backward]` table (a spec holding one, or a file of its own)."""
    shown = str(path)
    text = read_text(path, "a .toml file with a [backward] table")
    equations = backward_equations(text, shown)
    if equations is None:
        raise SpecError(Location(shown), "there is no [backward] table", f"a table such as\n{EXAMPLE}")
    cell = read_toml(text.removeprefix("\ufeff"), shown).get("cell")
    if cell is not None and not isinstance(cell, str):
        raise SpecError(Location(shown, key_line(text.split("\n"), "cell")), f"cell is a {type(cell).__name__}",
                        'the name of a built-in cell or the path of a spec, as a string: cell = "nico"')
    return BackwardFile(equations, cell)


def backward_equations(text: str, path: str) -> tuple[EquationSpec, ...] | None:
    """The equations of the `[backward]` table of TOML text, or None if it has none."""
    table = read_toml(text.removeprefix("\ufeff"), path)
    if "backward" not in table:
        return None
    lines = text.split("\n")
    where = Location(path, key_line(lines, "backward"))
    backward = table["backward"]
    if not isinstance(backward, dict) or set(backward) != {"equations"}:
        found = f"a {type(backward).__name__}" if not isinstance(backward, dict) else f"the keys {', '.join(sorted(backward)) or '(none)'}"
        raise SpecError(where, f"[backward] holds {found}", f"a table with one key, equations:\n{EXAMPLE}")
    equations_where = Location(path, key_line(lines, "equations", max(where.line - 1, 0)) or where.line)
    return equation_lines(backward["equations"], lines, path, equations_where)
