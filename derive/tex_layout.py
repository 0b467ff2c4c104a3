"""Stage 7, the .tex document's layout: a display equation too wide for the page is broken into
lines at its top-level + and -, as a person would break it, since display math never breaks itself.

The width is estimated from the LaTeX the printers write (a fraction is as wide as its wider part, a
script 70% of its base, a command such as \\odot one symbol); the estimate is held against pdflatex by
tests/test_printed_forms.py, which reads the log of every catalog document for overfull boxes.
"""
from __future__ import annotations

import re

# Points of the text width that an aligned line may fill (article, 11pt, 2cm margins on letter paper:
# 499pt), less the room of a tag such as (B12) and the space before it.
LINE_POINTS = 430.0
CHAR_POINTS = 6.2  # an average math symbol at 11pt
OPERATOR_POINTS = 14.0  # a binary operator with its spaces: + - = \odot \cdot
_COMMAND = re.compile(r"\\([A-Za-z]+)|\\(.)")
_SPACING = {"left", "right", "quad", "qquad", "top", "mathrm", "mathbf", "mathtt", "operatorname", "displaystyle",
            "limits", "nolimits", "big", "Big", "bigl", "bigr", "Bigl", "Bigr"}
_OPERATORS = {"odot", "cdot", "circ", "times", "ast"}


def _command_points(name: str) -> float:
    """A command's width: none for sizing and font commands, an operator's, a thin space's, else one symbol's."""
    if name in _SPACING:
        return 0.0
    if name in _OPERATORS:
        return OPERATOR_POINTS
    return 1.7 if name == "," else CHAR_POINTS


def width(tex: str) -> float:
    """An estimate, in points, of how wide tex typesets in a display."""
    total, index = 0.0, 0
    while index < len(tex):
        char = tex[index]
        if tex.startswith("\\frac", index):
            numerator, index = _group(tex, index + len("\\frac"))
            denominator, index = _group(tex, index)
            total += max(width(numerator), width(denominator)) + 2
            continue
        if char == "\\":
            match = _COMMAND.match(tex, index)
            name = match.group(1) or match.group(2)
            index = match.end()
            total += _command_points(name)
            continue
        if char in "_^":
            script, index = _group(tex, index + 1)
            total += 0.7 * width(script)
            continue
        if char in "{}":
            index += 1
            continue
        total += OPERATOR_POINTS if char in "+-=" and tex[index - 1:index] == " " else 0 if char == " " else CHAR_POINTS
        index += 1
    return total


def _group(tex: str, index: int) -> tuple[str, int]:
    """The braced group (or single token) at index, and the index after it."""
    if index < len(tex) and tex[index] == "{":
        depth = 0
        for end in range(index, len(tex)):
            depth += {"{": 1, "}": -1}.get(tex[end], 0)
            if depth == 0:
                return tex[index + 1:end], end + 1
        return tex[index + 1:], len(tex)
    if tex.startswith("\\", index):
        match = _COMMAND.match(tex, index)
        return match.group(0), match.end()
    return tex[index:index + 1], index + 1


PLUS_MINUS = ("+", "-")
PRODUCTS = ("\\odot", "\\circ", "\\cdot", "\\times", "*")  # the element-wise products a [latex] table may choose


def terms(tex: str, operators=PLUS_MINUS) -> list[str]:
    """tex cut before each of the operators (written with a blank on both sides) that joins its pieces at
    the top level (outside braces and brackets): the first piece, then pieces that start with an operator."""
    pieces, depth, start = [], 0, 0
    for index, char in enumerate(tex):
        if char in "{([":
            depth += 1
        elif char in "})]":
            depth -= 1
        elif depth == 0 and index > start and tex[index - 1:index] == " " and any(
                tex.startswith(operator + " ", index) for operator in operators):
            pieces.append(tex[start:index].rstrip())
            start = index
    pieces.append(tex[start:])
    return [piece for piece in pieces if piece.strip()]


def broken_lines(left: str, right: str) -> list[str]:
    """The right side in lines that each fit beside the left side: one line when it fits, else as many
    terms on each line as fit, broken at + and -, and a term too wide for a line at its products."""
    room = LINE_POINTS - width(left) - OPERATOR_POINTS
    if width(right) <= room:
        return [right]
    pieces = [piece for term in terms(right)
              for piece in (terms(term, PRODUCTS) if width(term) > room else [term])]
    lines: list[str] = []
    for piece in pieces:
        if lines and width(lines[-1] + " " + piece) <= room:
            lines[-1] += " " + piece
        else:
            lines.append(piece)
    return lines
