"""The display equations of a whole document (a post's $$ blocks, a .tex file's align environments), each
as `left = right \\tag{..}`, for the LaTeX reader (latex_read) to read."""
from __future__ import annotations

import re

from .latex_tokens import LatexReadError


def display_equations(text: str, flavor: str) -> list[str]:
    """Every display equation of a document, each as ``left = right \\tag{..}``.

    md, jekyll, hugo: ``$$`` blocks whose ``$$`` stand on lines of their own (kramdown's inline
    ``$$..$$`` inside prose is skipped). commonmark: the same blocks, with CommonMark's backslash
    escapes undone. tex: ``align*``/``align``/``equation``/``equation*`` environments. A block holding
    ``\\begin{aligned}`` (or an align environment) is split into its rows at ``\\\\``.
    """
    return [equation for equation, _ in placed_equations(text, flavor)]


def placed_equations(text: str, flavor: str) -> list[tuple[str, int]]:
    """display_equations with, for each, the offset in the text of the display it stands in."""
    if flavor in ("md", "jekyll", "hugo", "commonmark"):
        blocks = _dollar_blocks(text)
        if flavor == "commonmark":
            blocks = [(_commonmark_unescape(body), pos) for body, pos in blocks]
        return [(row, pos) for body, pos in blocks for row in _display_rows(body, text, pos)]
    if flavor == "tex":
        equations = []
        for m in re.finditer(r"\\begin\{(align\*?|equation\*?)\}(.*?)\\end\{\1\}", text, re.DOTALL):
            body, pos = m.group(2), m.start(2)
            if m.group(1).startswith("align"):
                equations += [(_relation(row), pos) for row in _continued(_split_rows(body, text, pos))]
            else:
                equations += [(row, pos) for row in _display_rows(body, text, pos)]
        return equations
    raise ValueError(f"unknown flavor {flavor!r}: md, jekyll, hugo, commonmark or tex")


def _continued(rows: list[str]) -> list[str]:
    r"""Rows of an align with each row that begins ``&\quad`` joined to the row before it: one equation
    too wide for the page, broken at a + or a product and continued under its first line."""
    joined: list[str] = []
    for row in rows:
        stripped = row.strip()
        if stripped.startswith(r"&\quad") and joined:
            joined[-1] += " " + stripped[len(r"&\quad"):].strip()
        else:
            joined.append(row)
    return joined


def _dollar_blocks(text: str) -> list[tuple[str, int]]:
    """The bodies of ``$$`` blocks whose delimiters stand alone on their lines, with their offsets."""
    blocks, body, start, offset = [], None, 0, 0
    for line in text.splitlines(keepends=True):
        if line.strip() == "$$":
            if body is None:
                body, start = [], offset + len(line)
            else:
                blocks.append(("".join(body), start))
                body = None
        elif body is not None:
            body.append(line)
        offset += len(line)
    if body is not None:
        raise LatexReadError("a $$ block is not closed", text, start)
    return blocks


def _commonmark_unescape(body: str) -> str:
    """Undo CommonMark's escapes: a backslash before an ASCII punctuation character is an escape."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", body)


def _display_rows(body: str, text: str, pos: int) -> list[str]:
    """One display's equations: the rows of an aligned environment, or the display itself."""
    inner = body.strip()
    m = re.fullmatch(r"\\begin\{aligned\}(.*)\\end\{aligned\}", inner, re.DOTALL)
    if m:
        return [_relation(row) for row in _split_rows(m.group(1), text, pos)]
    if inner.startswith(r"\begin{"):
        raise LatexReadError("unknown display environment", text, pos)
    return [_relation(inner)]


def _relation(row: str) -> str:
    r"""A row as ``left = right \tag{..}``: its alignment mark dropped, and a label at its end in a column
    of its own (``&& \text{(B3)}``, how a row of ``aligned`` is tagged where ``\tag`` is refused) read as
    the tag it is."""
    row = re.sub(r"\s*&&\s*\\text\{\(([^()]+)\)\}\s*$", r" \\tag{\1}", row.strip())
    return re.sub(r"\s*&\s*=", " =", row, count=1).strip()


def _split_rows(body: str, text: str, pos: int) -> list[str]:
    r"""Split at the ``\\`` that end rows: not those inside braces or an inner environment (bmatrix)."""
    rows, depth, last, i = [], 0, 0, 0
    while i < len(body):
        if body.startswith("\\\\", i):
            if depth == 0:
                rows.append(body[last:i])
                last = i + 2
            i += 2
        elif body.startswith(r"\begin{", i) or body.startswith(r"\end{", i):
            # \begin{bmatrix} opens an inner environment, \end{..} closes it; skip the name.
            depth += 1 if body.startswith(r"\begin{", i) else -1
            i = body.find("}", i) + 1 or len(body)
        elif body[i] == "\\":
            i += 2          # \{ \} \, ... never open or close anything
        else:
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            i += 1
        if depth < 0:
            raise LatexReadError("unbalanced braces or environments in a display", text, pos + i)
    rows.append(body[last:])
    return [row.strip() for row in rows if row.strip()]
