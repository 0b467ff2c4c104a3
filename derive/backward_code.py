"""Stage 5: the backward pass as code will compute it, worked out once for every view.

Common-subexpression elimination over the adjoint lines, and the names the emitted lines
read. The readable module prints these lines, the cost report counts them, and both need
to know which forward values a step must keep for backpropagation through time.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .derivation import Derivation
from .dims import SizeSymbol
from .functions import read_names
from .model import Kind


@dataclass(frozen=True)
class BackwardCode:
    """The adjoint lines after CSE, and what they read."""

    shared: tuple[tuple[sp.Symbol, sp.Expr], ...]  # (temporary, value): subexpressions computed once
    reduced: tuple[sp.Expr, ...]  # one expression per adjoint line, reading the temporaries
    reads: frozenset[str]  # every name the emitted lines read (sizes such as D and H when a slice needs them)
    cached: tuple[str, ...]  # the forward variables among them: what a step keeps for backprop through time


def backward_code(derivation: Derivation) -> BackwardCode:
    """CSE over the backward pass of one step, and the names its code reads."""
    names = (sp.Symbol(name) for name in derivation.model.names.shared_names())  # drawn lazily, as CSE needs them
    sizes = tuple(SizeSymbol(name) for name in derivation.model.spec.sizes)  # slice bounds such as D + H stay written out
    shared, reduced = sp.cse([line.expr for line in derivation.lines], symbols=names, order="none", ignore=sizes)
    reads = frozenset().union(*(read_names(expr) for expr in [value for _, value in shared] + list(reduced)))
    cached = tuple(v.name for v in derivation.model.variables.values() if v.kind != Kind.PARAM and v.name in reads)
    return BackwardCode(tuple(shared), tuple(reduced), reads, cached)
