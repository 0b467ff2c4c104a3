"""The vocabulary of one step: the variables a cell's step computes and the assignments that compute them.

Every stage reads these (the model makes them, the derivation, the code and the documents read them),
so they live apart from the model's construction: a module that only needs to know what a Variable
or a Role is does not depend on how equations are parsed and lowered.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import sympy as sp

from .dims import Dim


class Role(enum.Enum):
    """Why a variable of the step exists."""

    DECLARED = "declared"  # an input, a state at t-1 or a parameter the spec declares
    EQUATION = "equation"  # the target of one of the spec's equations
    PRE = "pre"  # the argument of an activation, given its own name (g_pre)
    OPERAND = "operand"  # a compound operand of @ or concat, given its own name
    LIFTED = "lifted"  # a function application inside an equation, cached (h_tanh)
    PRODUCT = "product"  # a product W v whose value the backward pass reads
    COMPLEMENT = "complement"  # 1 - s for a sigmoid output s, computed without cancellation
    REDUCTION = "reduction"  # a mean or sum over a vector's units inside an equation, given its own name
    BLOCK = "block"  # a block of a stacked vector inside an equation, given its own name

    @property
    def made_up(self) -> bool:
        """Named by lowering after its definition, not by the spec: printed as that definition, and two
        of them with one definition are one variable (computed and cached once)."""
        return self in (Role.LIFTED, Role.PRODUCT, Role.OPERAND, Role.REDUCTION, Role.BLOCK)


class Kind(enum.Enum):
    INPUT = "input"  # x(t)
    PREVIOUS = "previous"  # a carried state at t-1
    PARAM = "param"  # a trainable parameter, vector or matrix
    STATE = "state"  # a carried state at t (defined by an equation)
    INTERMEDIATE = "intermediate"  # any other variable of the step


@dataclass(frozen=True)
class Variable:
    """A named quantity of one step."""

    name: str  # the name in generated code
    kind: Kind
    shape: tuple[Dim, ...]  # (size,) for vectors, (rows, columns) for matrices
    origin: int = -1  # index of the spec equation that defines it; -1 if none
    role: Role = Role.DECLARED  # why it exists: declared, a spec equation, or the lowering rule that made it
    of: str = ""  # for a made-up name, the name it belongs to: s for s_prev, g for g_pre, f for f_complement

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) == 2

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(self.name)


@dataclass(frozen=True)
class Assignment:
    """`target = expr` for one step; expr is element-wise SymPy, with MatVec and Concat nodes."""

    target: str
    expr: sp.Expr
    origin: int  # index of the spec equation it comes from
