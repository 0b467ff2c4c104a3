"""Sizes of vectors and parameters as linear forms in D (input size) and H (hidden size).

`D + H` and `H + D` are the same size; shape checks compare these forms, never numbers,
so a spec is checked once for every D and H.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_TERM = re.compile(r"^(?:(\d{1,4})\s*\*\s*)?([DH])$|^(\d{1,4})$")


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

    def value(self, d: int, h: int) -> int:
        """The number of entries for input size d and hidden size h."""
        return self.d * d + self.h * h + self.const


D = Dim(d=1)
H = Dim(h=1)


def parse_dim(text: str) -> Dim | None:
    """Read a size such as "H", "D + H" or "2*H"; None when the text is not one."""
    total = Dim()
    for raw in text.split("+"):
        match = _TERM.match(raw.strip())
        if not match:
            return None
        count, letter, number = match.groups()
        if number is not None:
            total += Dim(const=int(number))
        else:
            total += Dim(**{letter.lower(): int(count or 1)})
    return total if total != Dim() else None
