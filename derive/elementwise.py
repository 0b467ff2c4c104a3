"""The element-wise functions of the spec language, one class each.

Each is a SymPy Function whose derivative rule (`fdiff`) sits next to its definition and is
written through the function's own output where that is how people write it: sigmoid' =
s (1 - s), tanh' = 1 - t^2, sqrt' = 1 / (2 sqrt(z)). The derivation then replaces every
application by the cached variable that holds it, so the backward pass reads the cache. A
derivative that is no function of the language has a helper class here (Step for relu, Sign for
abs, the indicators Above and AtLeast for maximum and minimum). Each class carries its NumPy,
in-place, LaTeX and text forms.
"""
from __future__ import annotations

import sympy as sp


class Elementwise(sp.Function):
    """An element-wise function of one vector argument (two where nargs says so), with how each output
    writes it. SymPy differentiates through `fdiff(argindex)`, so a function of two arguments needs
    nothing more than one rule per argument."""

    nargs = 1
    numpy = ""  # NumPy code with {} for the argument ({0}, {1} for two)
    torch = ""  # the same in PyTorch (the generated NAME_torch.py, whose helpers are step, heaviside and softplus)
    into = ""  # NumPy code writing f({0}) into the array {1} (f({0}, {1}) into {2}), which may be an argument itself
    latex = ""  # LaTeX with {} for the argument ({0}, {1} for two)
    text = ""  # plain text for code comments, with {} for the argument ({0}, {1} for two)

    def numpy_code(self, printed: list[str], printer) -> str:
        """The readable NumPy code of this application, given its arguments printed."""
        return self.numpy.format(*printed)

    def torch_code(self, printed: list[str], printer) -> str:
        """The same in PyTorch."""
        return self.torch.format(*printed)


class Sigmoid(Elementwise):
    """Logistic function; the generated module defines a stable `sigmoid` helper."""

    numpy, latex, text = "sigmoid({})", "\\sigma\\left({}\\right)", "sigmoid({})"
    torch = "torch.sigmoid({})"
    into = "sigmoid_into({0}, {1})"

    def fdiff(self, argindex=1):
        return self * (1 - self)  # sigma'(z) = sigma(z) (1 - sigma(z))


class Tanh(Elementwise):
    numpy, latex, text = "np.tanh({})", "\\tanh\\left({}\\right)", "tanh({})"
    torch = "torch.tanh({})"
    into = "np.tanh({0}, out={1})"

    def fdiff(self, argindex=1):
        return 1 - self**2  # tanh'(z) = 1 - tanh(z)^2


class Exp(Elementwise):
    numpy, latex, text = "np.exp({})", "\\exp\\left({}\\right)", "exp({})"
    torch = "torch.exp({})"
    into = "np.exp({0}, out={1})"

    def fdiff(self, argindex=1):
        return self  # exp'(z) = exp(z)


class Relu(Elementwise):
    numpy, latex, text = "np.maximum({}, 0)", "\\operatorname{{relu}}\\left({}\\right)", "relu({})"
    torch = "torch.relu({})"
    into = "np.maximum({0}, 0, out={1})"

    def fdiff(self, argindex=1):
        return Step(self)  # relu'(z) = 1 where relu(z) > 0, else 0


class Flat(Elementwise):
    """A function that is constant between jumps (a step, a sign, a comparison): its derivative is
    zero almost everywhere, and a derivative rule that reaches it sends nothing back."""

    def fdiff(self, argindex=1):
        return sp.S.Zero


class Step(Flat):
    """1 where the argument is positive, else 0 (the derivative of relu, read off its output)."""

    numpy, latex, text = "np.heaviside({}, 0)", "\\mathbf{{1}}\\left[{} > 0\\right]", "[{} > 0]"
    torch = "step({})"
    into = "np.heaviside({0}, 0, out={1})"


class Identity(Elementwise):
    @classmethod
    def eval(cls, arg):
        return arg  # identity(a) is a itself: nothing to cache, nothing to differentiate


class SquareRoot(Elementwise):
    """sqrt, of a positive argument (its derivative is infinite at 0)."""

    numpy, latex, text = "np.sqrt({})", "\\sqrt{{{}}}", "sqrt({})"
    torch = "torch.sqrt({})"
    into = "np.sqrt({0}, out={1})"

    def fdiff(self, argindex=1):
        return 1 / (2 * self)  # sqrt'(z) = 1 / (2 sqrt(z))


class Log(Elementwise):
    """Natural logarithm, of a positive argument."""

    numpy, latex, text = "np.log({})", "\\log\\left({}\\right)", "log({})"
    torch = "torch.log({})"
    into = "np.log({0}, out={1})"

    def fdiff(self, argindex=1):
        return 1 / self.args[0]  # log'(z) = 1 / z


class Softplus(Elementwise):
    """log(1 + exp(z)), computed without overflow as np.logaddexp(0, z)."""

    numpy, latex, text = "np.logaddexp(0, {})", "\\operatorname{{softplus}}\\left({}\\right)", "softplus({})"
    torch = "softplus({})"
    into = "np.logaddexp(0, {0}, out={1})"

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])  # softplus'(z) = sigmoid(z)


class Absolute(Elementwise):
    """|z|; its derivative sign(z) is 0 at z = 0 (a subgradient, as np.sign and torch.abs take it)."""

    numpy, latex, text = "np.abs({})", "\\left|{}\\right|", "abs({})"
    torch = "torch.abs({})"
    into = "np.abs({0}, out={1})"

    def fdiff(self, argindex=1):
        return Sign(self.args[0])  # abs'(z) = sign(z)


class Sign(Flat):
    """-1, 0 or 1 by the sign of the argument (the derivative of abs)."""

    numpy, latex, text = "np.sign({})", "\\operatorname{{sign}}\\left({}\\right)", "sign({})"
    torch = "torch.sign({})"
    into = "np.sign({0}, out={1})"


class Maximum(Elementwise):
    """The larger of a and b, entry by entry. At a tie the whole gradient goes to the first argument:
    d/da = [a >= b], d/db = [b > a] (torch.maximum splits it evenly instead)."""

    nargs = 2
    numpy, latex, text = "np.maximum({0}, {1})", "\\max\\left({0}, {1}\\right)", "maximum({0}, {1})"
    torch = "torch.maximum({0}, {1})"
    into = "np.maximum({0}, {1}, out={2})"

    def fdiff(self, argindex=1):
        a, b = self.args
        return AtLeast(a, b) if argindex == 1 else Above(b, a)


class Minimum(Elementwise):
    """The smaller of a and b, entry by entry. At a tie the whole gradient goes to the first argument:
    d/da = [b >= a], d/db = [a > b]."""

    nargs = 2
    numpy, latex, text = "np.minimum({0}, {1})", "\\min\\left({0}, {1}\\right)", "minimum({0}, {1})"
    torch = "torch.minimum({0}, {1})"
    into = "np.minimum({0}, {1}, out={2})"

    def fdiff(self, argindex=1):
        a, b = self.args
        return AtLeast(b, a) if argindex == 1 else Above(a, b)


class _Indicator(Flat):
    """1 where a comparison of a and b holds, else 0: the derivatives of maximum and minimum. The readable
    code is a step of a - b (an array of the arguments' dtype); the loops write the comparison into a float array."""

    nargs = 2
    AT_TIE = 0  # the value where a == b

    def numpy_code(self, printed, printer):
        a, b = self.args
        return f"np.heaviside({printer._print(a - b)}, {self.AT_TIE})"

    def torch_code(self, printed, printer):
        a, b = self.args
        return f"heaviside({printer._print(a - b)}, {self.AT_TIE})"


class Above(_Indicator):
    """[a > b]: 1 where a > b, else 0; [z > 0] is Step(z)."""

    latex, text = "\\mathbf{{1}}\\left[{0} > {1}\\right]", "[{0} > {1}]"
    into = "np.greater({0}, {1}, out={2})"

    @classmethod
    def eval(cls, a, b):
        return Step(a) if b == 0 else None


class AtLeast(_Indicator):
    """[a >= b]: 1 where a >= b, else 0."""

    latex, text = "\\mathbf{{1}}\\left[{0} \\geq {1}\\right]", "[{0} >= {1}]"
    into = "np.greater_equal({0}, {1}, out={2})"
    AT_TIE = 1


# The functions a spec may call, by the name it calls them.
FUNCTIONS: dict[str, type[Elementwise]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "exp": Exp,
    "relu": Relu,
    "identity": Identity,
    "sqrt": SquareRoot,
    "log": Log,
    "softplus": Softplus,
    "abs": Absolute,
    "maximum": Maximum,
    "minimum": Minimum,
}
CONCAT = "concat"
# The derivatives' helpers, which a hand-written backward pass (derive check) may call too: relu'(z) is step(relu(z)).
DERIVATIVE_FUNCTIONS: dict[str, type[Elementwise]] = {"step": Step, "sign": Sign, "above": Above, "at_least": AtLeast}


def spelled(function: type[Elementwise]) -> str:
    """The name a spec calls a function by: Tanh -> "tanh", SquareRoot -> "sqrt"."""
    spellings = {**FUNCTIONS, **DERIVATIVE_FUNCTIONS}.items()
    return next((name for name, known in spellings if known is function), function.__name__.lower())


def arity(function: type[Elementwise]) -> int:
    """How many arguments a function takes."""
    return min(function.nargs)
