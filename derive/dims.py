"""Sizes of vectors and parameters as linear forms in named sizes: D (input), H (hidden) and any
size a spec declares (one capital letter, such as P for a projection).

`D + H` and `H + D` are the same size; shape checks compare these forms, never numbers,
so a spec is checked once for every value of its sizes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

# ASCII only: Python's \d and \s (and int(), str.strip()) also accept other scripts' digits and
# Unicode blanks (int("\u0661") == 1, "\u2003".isspace()); a size is read from [0-9], capital letters,
# +, * and ASCII spaces only, and anything else is named with its U+ code by dim_problem.
_TERM = re.compile(r"(?:([0-9]{1,4}) *\* *)?([A-Z])|([0-9]{1,4})", re.ASCII)
_BLANKS = " \t"
MAX_TERMS = 8  # terms in one size: "D + H + 1" has three; no real cell needs more than a handful
MAX_COEFFICIENT = 9999  # at most four digits per number, so a size stays a small linear form
MAX_SIZE_CHARS = 100
BUILT_IN_SIZES = ("D", "H")  # every cell has these names for sizes: the input's and the states' by default
AXES = ("T", "B")  # time and batch: the generated code's other axes, never a size of the spec


def size_order(name: str) -> tuple:
    """D, then H, then the declared sizes alphabetically: the order sizes print and are passed in."""
    return (name != "D", name != "H", name)


class SizeSymbol(sp.Symbol):
    """A size in SymPy expressions (a block's bounds, a mean's 1/n): never a variable of the cell, so
    never shifted to t+1, never read from a cache, left alone by common-subexpression elimination."""


@dataclass(frozen=True, order=True)
class Dim:
    """The size sum(count * size) + const, such as D + H, 4*H or P + D."""

    counts: tuple[tuple[str, int], ...] = ()  # (size name, how many) in size_order, no zero counts
    const: int = 0  # a fixed number of entries

    @staticmethod
    def of(name: str, count: int = 1) -> "Dim":
        return Dim(((name, count),)) if count else Dim()

    @staticmethod
    def _made(counts: dict, const: int) -> "Dim":
        return Dim(tuple(sorted(((n, c) for n, c in counts.items() if c), key=lambda item: size_order(item[0]))), const)

    def count(self, name: str) -> int:
        """How many of the size `name` this size has (0 if none)."""
        return dict(self.counts).get(name, 0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.counts)

    def __add__(self, other: "Dim") -> "Dim":
        counts = dict(self.counts)
        for name, count in other.counts:
            counts[name] = counts.get(name, 0) + count
        return Dim._made(counts, self.const + other.const)

    def __sub__(self, other: "Dim") -> "Dim":
        return self + Dim(tuple((name, -count) for name, count in other.counts), -other.const)

    def __str__(self) -> str:
        terms = [name if count == 1 else f"{count}*{name}" for name, count in self.counts]
        if self.const or not terms:
            terms.append(str(self.const))
        return " + ".join(terms)

    @property
    def code(self) -> str:
        """The size as generated code reads it, in local names such as D and H: "D + H", "2 * H"."""
        return str(self).replace("*", " * ")

    def divided(self, parts: int) -> "Dim | None":
        """The size of one of `parts` equal blocks (4*H into 4: H), or None if it does not divide."""
        if any(count % parts for count in (*dict(self.counts).values(), self.const)):
            return None
        return Dim(tuple((name, count // parts) for name, count in self.counts), self.const // parts)

    def without(self, name: str) -> "Dim":
        """This size less its terms in `name`: D + 2*H without H is D."""
        return Dim(tuple(item for item in self.counts if item[0] != name), self.const)

    def renamed(self, equal: dict[str, str]) -> "Dim":
        """The same size with each size declared equal to another written as that one (D = H: D + H is 2*H)."""
        total = Dim(const=self.const)
        for name, count in self.counts:
            total += Dim.of(equal.get(name, name), count)
        return total

    @property
    def symbolic(self) -> sp.Expr:
        """The size in SymPy symbols named as the sizes, as slice bounds, a mean's 1/n and the documents write it."""
        return sum((SizeSymbol(name) * count for name, count in self.counts), sp.Integer(self.const))

    def value(self, sizes: dict[str, int]) -> int:
        """The number of entries for the sizes' values, such as {"D": 3, "H": 4}."""
        return sum(count * sizes[name] for name, count in self.counts) + self.const


D = Dim.of("D")
H = Dim.of("H")
ONE = Dim(const=1)  # one number per example: a mean or sum over units, broadcast in element-wise operations


def size_values(names, input_size: int, hidden_size: int, extra: dict[str, int] | None = None) -> dict[str, int]:
    """A value for each size named: D and H as given, a declared size from `extra` or else equal to H
    (the documented default of the command line and the races)."""
    given = {"D": input_size, "H": hidden_size, **(extra or {})}
    return {name: given.get(name, hidden_size) for name in names}


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
            return f"{term!r} is not a term such as D, H, 2*H or 1 (a size is one capital letter)"
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
            total += Dim.of(letter, int(count or 1))
    return total
