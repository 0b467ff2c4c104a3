"""The element-wise functions of the spec language, one class each.

Each is a SymPy Function whose derivative rule (`fdiff`) sits next to its definition and is
written through the function's own output, as the seed posts write it: sigmoid' = s (1 - s),
tanh' = 1 - t^2. The derivation then replaces every application by the cached variable that
holds it, so the backward pass reads the cache. Each class carries its NumPy, in-place, LaTeX
and text forms.
"""
from __future__ import annotations

import sympy as sp


class Elementwise(sp.Function):
    """An element-wise function of one vector argument, with how each output writes it."""

    nargs = 1
    numpy = ""  # NumPy code with {} for the argument
    into = ""  # NumPy code writing f({0}) into the array {1}, which may be {0} itself
    latex = ""  # LaTeX with {} for the argument
    text = ""  # plain text for code comments, with {} for the argument


class Sigmoid(Elementwise):
    """Logistic function; the generated module defines a stable `sigmoid` helper."""

    numpy, latex, text = "sigmoid({})", "\\sigma\\left({}\\right)", "sigmoid({})"
    into = "sigmoid_into({0}, {1})"

    def fdiff(self, argindex=1):
        return self * (1 - self)  # sigma'(z) = sigma(z) (1 - sigma(z))


class Tanh(Elementwise):
    numpy, latex, text = "np.tanh({})", "\\tanh\\left({}\\right)", "tanh({})"
    into = "np.tanh({0}, out={1})"

    def fdiff(self, argindex=1):
        return 1 - self**2  # tanh'(z) = 1 - tanh(z)^2


class Exp(Elementwise):
    numpy, latex, text = "np.exp({})", "\\exp\\left({}\\right)", "exp({})"
    into = "np.exp({0}, out={1})"

    def fdiff(self, argindex=1):
        return self  # exp'(z) = exp(z)


class Relu(Elementwise):
    numpy, latex, text = "np.maximum({}, 0)", "\\operatorname{{relu}}\\left({}\\right)", "relu({})"
    into = "np.maximum({0}, 0, out={1})"

    def fdiff(self, argindex=1):
        return Step(self)  # relu'(z) = 1 where relu(z) > 0, else 0


class Step(Elementwise):
    """1 where the argument is positive, else 0 (the derivative of relu, read off its output)."""

    numpy, latex, text = "np.heaviside({}, 0)", "\\mathbf{{1}}\\left[{} > 0\\right]", "[{} > 0]"
    into = "np.heaviside({0}, 0, out={1})"

    def fdiff(self, argindex=1):
        return sp.S.Zero  # zero almost everywhere


class Identity(Elementwise):
    @classmethod
    def eval(cls, arg):
        return arg  # identity(a) is a itself: nothing to cache, nothing to differentiate


# The functions a spec may call, by the name it calls them.
FUNCTIONS: dict[str, type[Elementwise]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "exp": Exp,
    "relu": Relu,
    "identity": Identity,
}
CONCAT = "concat"
