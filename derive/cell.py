"""A cell worked out: every stage's result for one spec, each computed once and read by every view."""
from __future__ import annotations

from dataclasses import dataclass

from .backward_code import BackwardCode
from .derivation import Derivation
from .fast_plan import FastPlan
from .model import CellModel
from .notation import Notation
from .spec import CellSpec


@dataclass(frozen=True)
class DerivedCell:
    """What the views of one cell read: its derivation, the backward code, the fast path's plan, its notation."""

    derivation: Derivation  # the adjoint lines of one step; its model holds the assignments and the spec
    code: BackwardCode  # the adjoint lines after CSE, and what they read
    plan: FastPlan  # the fast sequence code's plan, every fact it needs as data
    notation: Notation  # how every symbol prints, in LaTeX and in comment text

    @property
    def model(self) -> CellModel:
        return self.derivation.model

    @property
    def spec(self) -> CellSpec:
        return self.derivation.model.spec
