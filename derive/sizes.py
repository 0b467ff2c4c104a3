"""Stage 1, the sizes of a spec: the `sizes` list (new sizes such as P, and sizes declared equal,
such as D = H) and the size written after an input or a state ("h: P").

spec.py reads the rest of the file; every size it meets is written in these names, a size declared
equal to another already replaced by that one.
"""
from __future__ import annotations

import re

from .dims import AXES, BUILT_IN_SIZES, Dim
from .errors import Location, SpecError, SpecNameError

ASCII_BLANKS = " \t\r"  # the blanks spec.py trims too: str.strip() would also eat U+2003 and its kind
SIZE_NAME = re.compile(r"[A-Z]", re.ASCII)
SIZES_EXPECTED = 'a list of new sizes and equalities, e.g. sizes = ["P"] or sizes = ["D = H"]'


def declared_sizes(value, where: Location) -> tuple[tuple[str, ...], dict[str, str]]:
    """The `sizes` list: new sizes ("P": one capital letter) and equalities ("D = H": D is written H
    from then on, so element-wise operations between the two are allowed)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SpecError(where, f"sizes is {value!r}", SIZES_EXPECTED)
    declared: list[str] = []
    equal: dict[str, str] = {}
    for item in value:
        left, sign, right = (part.strip(ASCII_BLANKS) for part in item.partition("="))
        if not sign:
            _check_new_size(left, where, declared)
            declared.append(left)
            continue
        known = (*BUILT_IN_SIZES, *declared)
        for size in (left, right):
            if size not in known:
                raise SpecError(where, f"{item!r} names {size!r}, which is not a size of this cell",
                                f"an equality between {', '.join(known)} (a new size is declared first, as in sizes = [\"P\", \"P = H\"])")
        if left == right or left in equal or right in equal:
            raise SpecError(where, f"{item!r}: {left} and {right} are already equal or {left} is already declared equal to a size",
                            "each size declared equal to another at most once, and not to itself")
        equal[left] = right
    return tuple(declared), equal


def _check_new_size(name: str, where: Location, declared: list[str]) -> None:
    if not SIZE_NAME.fullmatch(name) or name in AXES or name in BUILT_IN_SIZES:
        raise SpecNameError(where, f"{name!r} cannot name a size",
                            f"one capital letter other than {', '.join(AXES + BUILT_IN_SIZES)} (those are built in), such as P")
    if name in declared:
        raise SpecNameError(where, f"the size {name!r} is declared twice", "each size declared once")


def sized_names(value, key: str, where: Location, known, equal: dict[str, str], default: Dim, check_name) -> dict[str, Dim]:
    """`inputs` or `states`: names in order, each with its size; "c" has the default size (D for an
    input, H for a state), "h: P" the size written after the colon. check_name(name, where, what)
    checks each name as spec.py checks every name."""
    if not isinstance(value, list) or not value:
        raise SpecError(where, f"{key} is not a list of names", f'a list of names, e.g. {key} = ["x"] or ["x", "m: H"]')
    vectors: dict[str, Dim] = {}
    for item in value:
        name, colon, size = item.partition(":") if isinstance(item, str) else (item, "", "")
        name = check_name(name.strip(ASCII_BLANKS) if colon else name, where, key.rstrip("s"))
        size = size.strip(ASCII_BLANKS)
        if colon and size not in known:
            raise SpecError(where, f"the size {size!r} of {name} is not a size of this cell",
                            f"one of {', '.join(known)} after the colon, as in \"{name}: H\" (declare a new one in sizes)")
        if name in vectors:
            raise SpecNameError(where, f"{name!r} is declared twice in {key}", "each name declared once")
        vectors[name] = (Dim.of(size) if colon else default).renamed(equal)
    return vectors
