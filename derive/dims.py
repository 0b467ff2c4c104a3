"""Sizes of vectors and parameters as linear forms in D (input size) and H (hidden size).

`D + H` and `H + D` are the same size; shape checks compare these forms, never numbers,
so a spec is checked once for every D and H.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

# ASCII only: Python's \d and \s (and int(), str.strip()) also accept other scripts' digits and
# Unicode blanks (int("\u0661") == 1, "\u2003".isspace()); a size is read from [0-9], D, H, +, * and
# ASCII spaces only, and anything else is named with its U+ code by dim_problem.
_TERM = re.compile(r"(?:([0-9]{1,4}) *\* *)?([DH])|([0-9]{1,4})", re.ASCII)
_BLANKS = " \t"
MAX_TERMS = 8  # terms in one size: "D + H + 1" has three; no real cell needs more than a handful
MAX_COEFFICIENT = 9999  # at most four digits per number, so a size stays a small linear form
MAX_SIZE_CHARS = 100


@dataclass(frozen=True, order=True)
class Dim:
    """The size d*D + h*H + const."""

    d: int = 0  # how many D
    h: int = 0  # how many H
    const: int = 0  # a fixed number of entries

    def __add__(self, other: "Dim") -> "Dim":
        return Dim(self.d + other.d, self.h + other.h, self.const + other.const)

    def __sub__(self, other: "Dim") -> "Dim":
        return Dim(self.d - other.d, self.h - other.h, self.const - other.const)

    def __str__(self) -> str:
        terms = []
        for count, letter in ((self.d, "D"), (self.h, "H")):
            if count:
                terms.append(letter if count == 1 else f"{count}*{letter}")
        if self.const or not terms:
            terms.append(str(self.const))
        return " + ".join(terms)

    @property
    def code(self) -> str:
        """The size as generated code reads it, in the local names D and H: "D + H", "2 * H"."""
        return str(self).replace("*", " * ")

    def divided(self, parts: int) -> "Dim | None":
        """The size of one of `parts` equal blocks (4*H into 4: H), or None if it does not divide."""
        if any(count % parts for count in (self.d, self.h, self.const)):
            return None
        return Dim(self.d // parts, self.h // parts, self.const // parts)

    @property
    def symbolic(self) -> sp.Expr:
        """The size in the SymPy symbols D and H, as slice bounds, a mean's 1/n and the documents write it."""
        return sp.Symbol("D") * self.d + sp.Symbol("H") * self.h + self.const

    def value(self, d: int, h: int) -> int:
        """The number of entries for input size d and hidden size h."""
        return self.d * d + self.h * h + self.const


D = Dim(d=1)
H = Dim(h=1)
SIZE_SYMBOLS = ("D", "H")  # the names sizes print with; no spec name can be one of them (naming reserves them)
ONE = Dim(const=1)  # one number per example: a mean or sum over units, broadcast in element-wise operations


def parse_dim(text: str) -> Dim | None:
    """Read a size such as "H", "D + H" or "2*H"; None when the text is not one (dim_problem says why)."""
    return None if dim_problem(text) else _read(text)


def dim_problem(text: str) -> str | None:
    """Why `text` is not a size (a short phrase for a message), or None when it is one."""
    for column, char in enumerate(text, 1):
        if not char.isascii() or not (char.isprintable() or char == "\t"):
            return f"character {char!r} (U+{ord(char):04X}) at column {column} is not allowed: sizes are plain ASCII"
    terms = text.split("+")
    if len(terms) > MAX_TERMS:
        return f"it has {len(terms)} terms (at most {MAX_TERMS})"
    if len(text) > MAX_SIZE_CHARS:
        return f"it is {len(text)} characters long (at most {MAX_SIZE_CHARS})"
    for raw in terms:
        term = raw.strip(_BLANKS)
        if _TERM.fullmatch(term) is None:
            digits = re.search(r"[0-9]+", term)
            if digits and len(digits.group()) > len(str(MAX_COEFFICIENT)):
                return f"the number {digits.group()} is too large (at most {MAX_COEFFICIENT})"
            return f"{term!r} is not a term such as D, H, 2*H or 1"
    if _read(text) == Dim():
        return "it is zero"
    return None


def _read(text: str) -> Dim:
    total = Dim()
    for raw in text.split("+"):
        count, letter, number = _TERM.fullmatch(raw.strip(_BLANKS)).groups()
        if number is not None:
            total += Dim(const=int(number))
        else:
            total += Dim(**{letter.lower(): int(count or 1)})
    return total
