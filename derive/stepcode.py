"""The body of a fast loop as it is written: statements that record, when they are made, the names
they use, so later decisions (which views are read, what the backward loop reads from the forward
pass) never have to read printed code back."""
from __future__ import annotations

from dataclasses import dataclass, field

from .inplace import Pool


@dataclass(frozen=True)
class Statement:
    code: str  # one Python statement (or a comment line)
    comment: str = ""
    uses: frozenset[str] = frozenset()  # the names it reads or writes
    binds: str = ""  # for a view `name = array[...]`, the name it binds: nothing is computed


@dataclass
class StepCode:
    """One function's loop body and the arrays it allocates before the loop."""

    statements: list[Statement] = field(default_factory=list)
    buffers: dict[str, str] = field(default_factory=dict)  # name -> shape code, in allocation order
    pool: Pool = field(default_factory=Pool)

    def buffer(self, name: str, shape: str) -> str:
        self.buffers.setdefault(name, shape)
        return name

    def emit(self, code: str, comment: str = "", uses=()) -> None:
        self.statements.append(Statement(code, comment, frozenset(uses)))

    def view(self, name: str, source: str, comment: str = "", uses=()) -> None:
        """`name = source`: another name for an array (or a view of one) that holds the value."""
        self.statements.append(Statement(f"{name} = {source}", comment, frozenset({name, *uses}), name))

    def emit_lowered(self, statements: list[str], comment: str, uses, mentions=()) -> None:
        """One computation: its comment on its only line, or on a line of its own above several
        (that line uses the names the comment mentions)."""
        if len(statements) > 1 and comment:
            self.emit(f"# {comment}", uses=mentions)
            comment = ""
        for index, statement in enumerate(statements):
            self.emit(statement, comment if index == len(statements) - 1 else "", uses)

    @property
    def lines(self) -> list[tuple[str, str]]:
        """(code, comment) of every statement, for the template."""
        return [(s.code, s.comment) for s in self.statements]

    def used(self) -> set[str]:
        """Every name a statement uses."""
        return set().union(*(s.uses for s in self.statements))

    def allocation(self) -> list[tuple[str, str]]:
        """Every array: those named above, then the scratch arrays."""
        return list(self.buffers.items()) + list(self.pool.shapes.items())

    def drop_unread_views(self) -> None:
        """Remove views whose name no later statement uses (a gate's complement in the forward loop,
        say: only the backward pass reads it, from the (T, B, size) array)."""
        kept, used_later = [], set()
        for statement in reversed(self.statements):
            if statement.binds and statement.binds not in used_later:
                continue
            kept.append(statement)
            used_later |= statement.uses
        self.statements = kept[::-1]
