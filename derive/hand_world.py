"""A cell at a random point: a value for every symbol a backward equation can read, all consistent.

The parameters, the input at t and t+1 and the states at t-1 are drawn; the forward pass runs
step t, then step t+1 from step t's states; the backward pass runs step t+1 from random adjoints
arriving at it, then step t from what step t+1 sends back and a random loss term. Every identity
the cell holds is then true of the numbers (g = tanh(g_pre), f_complement = 1 - f, d_s(t+1) f(t+1)
= what step t+1 sends back to s(t)), so two expressions with one value here are equal forms, and
two with different values are different: this is how `derive check` decides where the symbolic
comparison cannot (sigmoid(-z) for 1 - sigmoid(z), tanh(g_pre) for g).

Expressions are evaluated through derive's own NumPy printer, the one the generated modules are
printed with: the text evaluated is derive's printing of a SymPy tree, never a user's text, with
no builtins, and every symbol renamed to a local (_v0, _v1, ...) bound to its array.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .derivation import Derivation
from .dims import SizeSymbol, size_values
from .model import Kind
from .notation import LOSS, NEXT, incoming_meaning, shifted
from .printers import NumpyPrinter

INPUT_SIZE, HIDDEN_SIZE, BATCH = 3, 4, 2  # D != H, so a transposed product that should not be cannot fit


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow


class World:
    """Every value of one step t of a cell, and of step t+1 around it, at one random point."""

    def __init__(self, derivation: Derivation, seed: int):
        self.derivation = derivation
        self.model = derivation.model
        self.rng = np.random.default_rng(seed)
        self.sizes = size_values(self.model.spec.sizes, INPUT_SIZE, HIDDEN_SIZE)
        self.values: dict[str, np.ndarray] = {}
        self.draw_declared()
        self.run_forward("")
        self.draw_next_step()
        self.run_forward(NEXT)
        for state, symbol in derivation.incoming.items():  # what reaches step t+1 from beyond it
            self.values[symbol.name + NEXT] = self.rng.normal(size=self.shape(state))
        self.run_backward(NEXT)
        output = self.model.spec.output  # the loss at step t's own part of the output's adjoint
        self.values[self.model.names.adjoint(output) + LOSS] = self.rng.normal(size=self.shape(output))
        for state, symbol in derivation.incoming.items():
            self.values[symbol.name] = self.value(incoming_meaning(derivation, state))
        self.run_backward("")

    def shape(self, name: str) -> tuple[int, ...]:
        variable = self.model.variables[name]
        dims = tuple(dim.value(self.sizes) for dim in variable.shape)
        return dims if variable.kind == Kind.PARAM else (BATCH, *dims)

    def draw_declared(self) -> None:
        for variable in self.model.variables.values():
            if variable.kind == Kind.PARAM:  # the same at every step
                self.values[variable.name] = self.values[variable.name + NEXT] = self.rng.normal(0, 0.5, self.shape(variable.name))
            elif variable.kind in (Kind.INPUT, Kind.PREVIOUS):
                self.values[variable.name] = self.rng.normal(size=self.shape(variable.name))

    def draw_next_step(self) -> None:
        for variable in self.model.variables.values():
            if variable.kind == Kind.PREVIOUS:  # step t+1 starts from step t's states
                self.values[variable.name + NEXT] = self.values[variable.of]
            elif variable.kind == Kind.INPUT:
                self.values[variable.name + NEXT] = self.rng.normal(size=self.shape(variable.name))

    def run_forward(self, suffix: str) -> None:
        for assignment in self.model.assignments:
            expr = shifted(assignment.expr) if suffix else assignment.expr
            self.values[assignment.target + suffix] = self.value(expr)

    def run_backward(self, suffix: str) -> None:
        for line in self.derivation.lines:
            expr = shifted(line.expr) if suffix else line.expr
            self.values[line.target.name + suffix] = self.value(expr)

    def value(self, expr: sp.Expr) -> np.ndarray:
        """The value of an expression over this world's symbols (KeyError for a symbol it has no value of)."""
        symbols = sorted((s for s in expr.free_symbols if not isinstance(s, SizeSymbol)), key=lambda s: s.name)
        local = {f"_v{k}": self.values[s.name] for k, s in enumerate(symbols)}
        code = NumpyPrinter({"names": {s.name: f"_v{k}" for k, s in enumerate(symbols)}}).doprint(expr)
        with np.errstate(all="ignore"):  # a log of a negative draw is nan on both sides alike
            return np.asarray(eval(code, {"__builtins__": {}, "np": np, "sigmoid": _sigmoid}, {**self.sizes, **local}))  # noqa: S307 - see the module docstring


def same_value(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to rounding, broadcast to one shape (0 for an adjoint that is zero)."""
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        return False
    finite = [np.abs(x[np.isfinite(x)]) for x in (a, b)]  # an overflow (inf) is compared as itself, not as the scale
    scale = max(*(float(np.max(x, initial=0.0)) for x in finite), 1.0)
    return bool(np.allclose(a, b, rtol=1e-7, atol=1e-9 * scale, equal_nan=True))
