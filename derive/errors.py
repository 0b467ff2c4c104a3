"""Errors a user can cause, each with a message that says what, where, and what was expected.

Everything the CLI reports without a traceback is a DeriveError. Anything else is a bug.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in a spec file something stands (1-based line and column; 0 means unknown)."""

    path: str  # the spec file as the user named it
    line: int = 0  # 1-based line, 0 when the whole file is meant
    column: int = 0  # 1-based column, 0 when the whole line is meant

    def __str__(self) -> str:
        parts = [self.path]
        if self.line:
            parts.append(str(self.line))
            if self.column:
                parts.append(str(self.column))
        return ":".join(parts)


class DeriveError(Exception):
    """Base of every error caused by input: the CLI prints it and exits non-zero."""


class SpecError(DeriveError):
    """A spec that cannot be turned into a cell: names the place, the problem and what was expected."""

    def __init__(self, where: Location, problem: str, expected: str = ""):
        self.where = where
        self.problem = problem
        self.expected = expected
        message = f"{where}: {problem}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)


class SpecSyntaxError(SpecError):
    """The text is not valid TOML or not a valid equation."""


class UnsupportedError(SpecError):
    """Valid syntax that the spec language does not offer (attribute access, lambdas, ...)."""


class ShapeError(SpecError):
    """Sizes that do not fit: an element-wise op on vectors of different sizes, a bad product."""


class SpecNameError(SpecError):
    """An unknown, reserved, duplicated or cyclic name."""


class UnknownCellError(DeriveError):
    """A cell name that is neither built in nor a path to a spec file."""


class OutputError(DeriveError):
    """Outputs that cannot be written, or that differ from what a build would write (--check)."""
