"""Every name the generated code and documents use is decided here, unique by construction.

A cell's names live in one table (`Names`). The spec's own names are claimed first and never
change. Every other name is made by a family from the name it belongs to, in its readable form
(`d_v` is the adjoint dL/dv, `s_prev` is s(t-1), `g_pre` the pre-activation of g, `d_s_in` what
reaches s(t) from outside the step); when that form is already taken, by a spec name, a name the
module itself uses or another made-up name, the made-up name gets a number instead (`d_h_in2`).
So a spec may call its variables `h_in`, `d_x` or `z_pre`: nothing is ever silently overwritten,
and the only names a spec is refused are Python's keywords and the module's own (`np`, `params`).

The fast sequence code's arrays (`_stack_x`, `_history_h`, `_tmp0`) start with an underscore, which
no spec name can, and each family has a prefix that no other family's prefix extends, so they
cannot collide with a cell's variables or with each other either.
"""
from __future__ import annotations

import functools
import itertools
import keyword

from .calls import CALLABLE

# Names the generated module uses for its own purposes, and what for (a spec naming a variable so is
# told which use it would shadow).
MODULE_NAMES = {
    **{name: "the NumPy module" for name in ("np",)},
    **{name: "a module the PyTorch module imports" for name in ("torch", "math")},
    **{name: "an argument or local of the generated functions" for name in (
        "params", "state", "cache", "grads", "d_state", "d_state_prev", "state_next", "state0", "d_state_last", "xs",
        "outputs", "d_outputs", "dxs", "dx", "steps", "step_cache", "step_grads", "stacks", "cached", "parts", "name",
        "value", "values", "final_state", "d_state0", "workspace", "made", "T", "B", "D", "H", "t", "inputs")},
    **{name: "a function of the generated module" for name in (
        "sigmoid", "relu", "sigmoid_pair", "sigmoid_into", "sigmoid_pair_into", "buffers", "forward", "backward",
        "forward_sequence", "backward_sequence", "forward_sequence_steps", "backward_sequence_steps", "init_params",
        "check_arguments", "step", "heaviside", "softplus", "Sequence", "Layer", *CALLABLE)},
    **{name: "a constant of the generated module" for name in (
        "STATE", "OUTPUT", "PARAM_SHAPES", "PARAM_SIZES", "SIZES", "INPUTS", "STATE_SIZES", "SIZE_FROM")},
    # tests/test_naming.py checks that every builtin a generated module calls is listed here
    **{name: "a Python builtin the generated code calls" for name in (
        "any", "dict", "len", "range", "reversed", "zip", "isinstance", "tuple", "str", "list", "next", "type",
        "getattr", "enumerate", "ValueError", "TypeError", "iter", "staticmethod", "super")},
}


def reserved_use(name: str) -> str | None:
    """What `name` already is in the generated code ("a Python keyword", "the NumPy module", ...), or None."""
    if keyword.iskeyword(name):
        return "a Python keyword"
    return MODULE_NAMES.get(name)


def first_repeated(names) -> str | None:
    """The first, in sorted order, of the names that occur more than once; None if they are distinct.
    Sorted, not in order of appearance, so a message naming it does not depend on the arguments' order."""
    seen, repeated = set(), set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    return min(repeated) if repeated else None


class Names:
    """The names of one cell: the spec's, then every made-up one, each claimed once."""

    def __init__(self, spec_names):
        self.owner: dict[str, tuple[str, tuple]] = {name: ("spec", (name,)) for name in spec_names}
        self.made: dict[tuple[str, tuple], str] = {}
        self.counts: dict[tuple[str, tuple], int] = {}  # see next_number

    def claim(self, family: str, of: tuple, readable: str) -> str:
        """The name of family `family` for `of`: its readable form, or that form with a number if taken.
        Asking again for the same (family, of) gives the same name."""
        key = (family, of)
        if key in self.made:
            return self.made[key]
        candidate, count = readable, 1
        while candidate in self.owner or reserved_use(candidate):
            count += 1
            candidate = f"{readable}{count}"
        self.owner[candidate] = key
        self.made[key] = candidate
        return candidate

    def next_number(self, family: str, key: tuple = ()) -> int:
        """1, then 2, 3, ...: how many names of `family` for `key` have been asked for, this one included.
        The families whose names are numbered in the order they are made (the second tanh inside h's
        equation is h_tanh2) count here, so no caller keeps a count of its own."""
        count = self.counts.get((family, key), 0) + 1
        self.counts[(family, key)] = count
        return count

    def existing(self, family: str, *of: str) -> str | None:
        """The name of family `family` for `of` if one was made, else None (a look-up that claims nothing)."""
        return self.made.get((family, of))

    # -- the families --------------------------------------------------------------------
    def prev(self, state: str) -> str:
        """A carried state's value at step t-1."""
        return self.claim("prev", (state,), f"{state}_prev")

    def pre(self, variable: str) -> str:
        """The argument of the activation function that defines `variable`."""
        return self.claim("pre", (variable,), f"{variable}_pre")

    def complement(self, variable: str) -> str:
        """1 - variable for a sigmoid output, computed as sigmoid(-z) so it keeps its small values."""
        return self.claim("complement", (variable,), f"{variable}_complement")

    def lifted(self, target: str, function: str) -> str:
        """The next function application inside target's equation, given its own cached variable:
        h_tanh, then h_tanh2 for the second tanh inside h's equation."""
        count = self.next_number("lifted", (target, function))
        return self.claim("lifted", (target, function, count), f"{target}_{function}" + (str(count) if count > 1 else ""))

    def operand(self, target: str) -> str:
        """The next expression used as the right operand of @ or inside concat in target's equation:
        h_arg, then h_arg2."""
        count = self.next_number("operand", (target,))
        return self.claim("operand", (target, count), f"{target}_arg" + (str(count) if count > 1 else ""))

    def product(self, matrix: str, vector: str) -> str:
        """A matrix-vector product whose value the backward pass needs."""
        return self.claim("product", (matrix, vector), f"{matrix}_{vector}")

    def adjoint(self, variable: str) -> str:
        """dL/d(variable)."""
        return self.claim("adjoint", (variable,), f"d_{variable}")

    def incoming(self, state: str) -> str:
        """The adjoint of a state at t that arrives from outside the step (the loss, step t+1)."""
        return self.claim("incoming", (state,), f"d_{state}_in")

    def product_adjoint(self, matrix: str, vector: str) -> str:
        """The adjoint of a product W v, a new line of the derivation each time (the number, counted
        over every product, only keeps the lines apart: a second line for W v is d_W_v2)."""
        count = self.next_number("product adjoint")
        return self.claim("product adjoint", (f"{matrix} {vector}", count), f"d_{matrix}_{vector}")

    def shared(self, count: int) -> str:
        """The count-th common subexpression of the backward pass (from 0)."""
        return self.claim("shared", (str(count),), f"common{count}")

    def shared_names(self):
        """common0, common1, ...: the temporaries of a CSE of the backward pass, made as they are drawn.
        Numbered by position, not by next_number: a second CSE over the same lines gets the same names."""
        return (self.shared(count) for count in itertools.count())


# -- the fast sequence code's arrays: an underscore, a family prefix, the name they belong to ----
# No prefix below is the start of another (so `_stack_` + a name never equals `_stackT_` + a name).
FAST_FAMILIES = {
    "stack": "the group's weight blocks, stacked: (rows of all blocks, size of part)",
    "stackT": "the same stack, transposed",
    "proj": "part @ stack.T: all the group's products at once",
    "sum": "this step's projections of groups with the same blocks, added once",
    "deltas": "the adjoints of the group's products: (T, B, rows)",
    "grad": "what the group sends back to the vector it multiplied",
    "dW": "the gradients of the group's stacked blocks, all steps at once",
    "history": "(T + 1, B, size): the state before the first step and after each",
    "seq": "(T, B, size): a value at every step",
    "carry_in": "dL/d state(t), arriving at step t from t+1 and the loss",
    "carry_out": "dL/d state(t-1), sent to step t-1",
}
# Numbered scratch names: an underscore, a prefix, a number (an _act block's complement adds _complement).
FAST_NUMBERED = {
    "act": "a block of activations computed by one call",
    "mv": "a product of the fused plan, standing in for its slice of a projection",
    "db": "a bias gradient summed once after the loop",
    "tmp": "a scratch array of the in-place loops",
}


def fast_numbered(prefix: str, number: int) -> str:
    """The fast code's number-th scratch name of a FAST_NUMBERED prefix: _act0, _mv3, _tmp1."""
    if prefix not in FAST_NUMBERED:
        raise KeyError(f"no fast-path prefix {prefix!r}")
    return f"_{prefix}{number}"


def fast_array(family: str, name: str) -> str:
    """The fast code's array of family `family` for the variable, state or part `name`."""
    if family not in FAST_FAMILIES:
        raise KeyError(f"no fast-path family {family!r}")
    return f"_{family}_{name}"


# The fast code's arrays by what they hold (one name per family, so no other module spells a name).
stack = functools.partial(fast_array, "stack")
stack_transposed = functools.partial(fast_array, "stackT")
projection = functools.partial(fast_array, "proj")
summed = functools.partial(fast_array, "sum")
deltas = functools.partial(fast_array, "deltas")
contribution = functools.partial(fast_array, "grad")
weight_gradients = functools.partial(fast_array, "dW")
history = functools.partial(fast_array, "history")
sequence = functools.partial(fast_array, "seq")
carry_in = functools.partial(fast_array, "carry_in")
carry_out = functools.partial(fast_array, "carry_out")


def activation_block(index: int) -> tuple[str, str]:
    """The index-th run's array of activations, and the array of their complements."""
    name = fast_numbered("act", index)
    return name, f"{name}_complement"
