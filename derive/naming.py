"""Every name the generator makes up is decided here, so code and LaTeX agree.

`d_v` is the adjoint dL/dv, `s_prev` is s(t-1), `g_pre` is the pre-activation of g.
Spec names that clash with these, or with names the generated module uses, are refused.
"""
from __future__ import annotations

import keyword

from .functions import CONCAT, FUNCTIONS

# Names the generated module's step functions use for their own purposes.
MODULE_NAMES = frozenset({
    "np", "params", "state", "cache", "grads", "d_state", "d_state_prev", "state_next", "state0",
    "d_state_last", "xs", "outputs", "d_outputs", "dxs", "dx", "steps", "step_cache", "step_grads",
    "stacks", "cached", "parts", "name", "value", "T", "B", "D", "H", "t", "sigmoid", "relu",
    "sigmoid_pair", "sigmoid_into", "sigmoid_pair_into", "buffers", "workspace", "values", "final_state", "d_state0",
    "STATE", "OUTPUT", "PARAM_SHAPES", CONCAT, *FUNCTIONS,
    "check_arguments", "PARAM_SIZES", "made",
})


def prev(state: str) -> str:
    """A carried state's value at step t-1."""
    return f"{state}_prev"


def state_of(previous: str) -> str:
    """The state whose value at t-1 a `*_prev` name holds."""
    return previous[: -len(prev(""))]


def pre(variable: str) -> str:
    """The argument of the activation function that defines `variable`."""
    return f"{variable}_pre"


def adjoint(variable: str) -> str:
    """dL/d(variable)."""
    return f"d_{variable}"


def complement(variable: str) -> str:
    """1 - variable for a sigmoid output, computed as sigmoid(-z) so it keeps its small values."""
    return f"{variable}_complement"


def complemented(name: str) -> str:
    """The sigmoid output a complement variable belongs to."""
    return name[: -len(complement(""))]


def incoming(state: str) -> str:
    """The adjoint of a state at t that arrives from outside the step (the loss, step t+1)."""
    return f"d_{state}_in"


def lifted(target: str, function: str, count: int) -> str:
    """A function application inside an equation, given its own cached variable."""
    return f"{target}_{function}" if count == 1 else f"{target}_{function}{count}"


def operand(target: str, count: int) -> str:
    """An expression used as the right operand of @ or inside concat."""
    return f"{target}_arg" if count == 1 else f"{target}_arg{count}"


def product(matrix: str, vector: str) -> str:
    """A matrix-vector product whose value the backward pass needs."""
    return f"{matrix}_{vector}"


def shared(count: int) -> str:
    """A common subexpression of the backward pass."""
    return f"common{count}"


def is_adjoint(name: str) -> bool:
    """True for names of the adjoint form d_<name>, which a spec may not use for its own variables."""
    return name.startswith("d_")


def is_reserved(name: str) -> bool:
    """True for names a spec may not use because generated code needs them."""
    return name in MODULE_NAMES or keyword.iskeyword(name)
