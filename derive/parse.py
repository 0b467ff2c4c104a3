"""Stage 2: read the right-hand side of an equation into a small, whitelisted syntax tree.

Python's own parser tokenises the text (it never runs it); every node of its tree is then
checked against the short list this language offers. Anything else is refused with a
message that names the construct. Nothing here calls eval, exec, sympify or parse_expr.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from fractions import Fraction

from .errors import Location, SpecSyntaxError, UnsupportedError
from .calls import CALLABLE
from .elementwise import DERIVATIVE_FUNCTIONS

MAX_EXPRESSION_CHARS = 600
MAX_DEPTH = 32
MAX_NODES = 400
MAX_NUMBER = 10**6
MAX_DENOMINATOR = 10**9
POWERS = range(2, 9)
# A hand-written backward pass may also call outer(d, v), part(d_xc, h(t-1)) and the derivatives' helpers (step(z)).
BACKWARD_CALLS = ("outer", "part", *DERIVATIVE_FUNCTIONS)  # the exponents v ** k may have (see read_power)


@dataclass(frozen=True)
class Number:
    value: Fraction  # exact value of the literal
    where: Location


@dataclass(frozen=True)
class Name:
    name: str  # an input, a state at step t, a parameter or an intermediate
    where: Location


@dataclass(frozen=True)
class Previous:
    name: str  # a state at step t-1, written name(t-1)
    where: Location


@dataclass(frozen=True)
class Next:
    name: str  # a value or an adjoint at step t+1, written name(t+1): only in a hand-written backward pass
    where: Location


@dataclass(frozen=True)
class Transposed:
    name: str  # a matrix parameter transposed, written W.T: only in a hand-written backward pass
    where: Location


@dataclass(frozen=True)
class Negate:
    operand: "Node"
    where: Location


@dataclass(frozen=True)
class BinaryOp:
    op: str  # one of + - * / @ **, the exponent of ** a whole Number of POWERS
    left: "Node"
    right: "Node"
    where: Location


@dataclass(frozen=True)
class Call:
    function: str  # a function name; checked against the registry by the model stage
    args: tuple["Node", ...]
    where: Location


Node = Number | Name | Previous | Next | Transposed | Negate | BinaryOp | Call

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@", ast.Pow: "**"}

# What each refused construct is called in messages, so users learn what they wrote.
_REFUSED = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "indexing (a[i])",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string",
    ast.Compare: "a comparison", ast.BoolOp: "a boolean operator (and/or)",
    ast.IfExp: "a conditional expression", ast.NamedExpr: "an assignment expression (:=)",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.Starred: "a starred argument", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice",
}
_REFUSED_OPERATORS = {
    ast.FloorDiv: "floor division (//)", ast.Mod: "the % operator",
    ast.LShift: "a bit shift", ast.RShift: "a bit shift", ast.BitOr: "the | operator",
    ast.BitAnd: "the & operator", ast.BitXor: "the ^ operator",
    ast.Invert: "the ~ operator", ast.Not: "not",
}
EXPECTED = "names, numbers, + - * / @, v ** k, unary minus, parentheses and calls such as tanh(a) or s(t-1)"
POWER_EXPECTED = f"a whole number from {POWERS.start} to {POWERS.stop - 1} written as one, such as v ** 2"


def parse_expression(text: str, where: Location, backward: bool = False) -> Node:
    """Parse one right-hand side. `where` is the place of its first character. backward=True reads a
    hand-written backward pass (derive check), which may also write name(t+1) and W.T.

    Returns the root Node. Raises SpecSyntaxError for text that is not an expression and
    UnsupportedError for constructs outside the language.
    """
    _check_text(text, where)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        column = (error.offset or 1) - 1
        raise SpecSyntaxError(_shift(where, column), f"syntax error in {text!r}: {error.msg}", EXPECTED) from None
    except (RecursionError, MemoryError, ValueError):
        raise SpecSyntaxError(where, "the expression is too deeply nested", f"at most {MAX_DEPTH} levels") from None
    return _Reader(where, text, backward).read(tree.body, depth=0)


def _check_text(text: str, where: Location) -> None:
    if len(text) > MAX_EXPRESSION_CHARS:
        raise SpecSyntaxError(where, f"the expression is {len(text)} characters long", f"at most {MAX_EXPRESSION_CHARS}")
    for column, char in enumerate(text):
        if not (char.isascii() and (char.isprintable() or char == "\t")):
            raise SpecSyntaxError(_shift(where, column), f"character {char!r} (U+{ord(char):04X}) is not allowed",
                                  "plain ASCII; names are written with A-Z, a-z, 0-9 and _")
    depth = deepest = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise SpecSyntaxError(where, f"parentheses nest {deepest} deep", f"at most {MAX_DEPTH} levels")


def _shift(where: Location, columns: int) -> Location:
    return Location(where.path, where.line, where.column + columns if where.column else 0)


class _Reader:
    """Turns a Python expression tree into Nodes, refusing everything not on the list."""

    def __init__(self, where: Location, text: str, backward: bool = False):
        self.where = where
        self.text = text
        self.nodes = 0
        self.backward = backward

    def place(self, node: ast.AST) -> Location:
        return _shift(self.where, getattr(node, "col_offset", 0))

    def read(self, node: ast.AST, depth: int) -> Node:
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise SpecSyntaxError(self.place(node), "the expression is too deeply nested", f"at most {MAX_DEPTH} levels")
        if self.nodes > MAX_NODES:
            raise SpecSyntaxError(self.where, "the expression is too large", f"at most {MAX_NODES} operations and operands")
        reader = getattr(self, f"read_{type(node).__name__}", None)
        if isinstance(node, ast.Attribute) and self.backward:
            return self.read_transposed(node)
        if reader is None:
            what = _REFUSED.get(type(node), f"the construct {type(node).__name__}")
            hint = "block(a, i, n) for the i-th of n equal blocks of a" if isinstance(node, ast.Subscript) else EXPECTED
            raise UnsupportedError(self.place(node), f"{what} is not part of the equation language", hint)
        return reader(node, depth + 1)

    def read_Constant(self, node: ast.Constant, depth: int) -> Number:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnsupportedError(self.place(node), f"the literal {value!r} is not a number", "a real number such as 1 or 0.5")
        if abs(value) > MAX_NUMBER:
            raise UnsupportedError(self.place(node), f"the number {value!r} is too large", f"a magnitude of at most {MAX_NUMBER}")
        exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
        if exact.denominator > MAX_DENOMINATOR:
            raise UnsupportedError(self.place(node), f"the number {value!r} has too many digits", "at most 9 decimal places")
        return Number(exact, self.place(node))

    def read_Name(self, node: ast.Name, depth: int) -> Name:
        return Name(self.checked_name(node.id, node), self.place(node))

    def checked_name(self, name: str, node: ast.AST) -> str:
        if not name[0].isalpha():
            raise UnsupportedError(self.place(node), f"the name {name!r} starts with _", "names that start with a letter")
        return name

    def read_transposed(self, node: ast.Attribute) -> Transposed:
        """W.T, the one attribute a backward pass may write: a matrix parameter transposed (W.T @ d)."""
        if node.attr != "T" or not isinstance(node.value, ast.Name):
            written = ast.get_source_segment(self.text, node) or node.attr
            raise UnsupportedError(self.place(node), f"attribute access ({written}) is not part of the equation language",
                                   "W.T, the one attribute a backward equation may write: W.T @ d_g_pre, or d_g_pre @ xc.T")
        return Transposed(self.checked_name(node.value.id, node), self.place(node))

    def read_UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:
        if isinstance(node.op, ast.UAdd):
            return self.read(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return Negate(self.read(node.operand, depth), self.place(node))
        raise UnsupportedError(self.place(node), f"{_REFUSED_OPERATORS[type(node.op)]} is not part of the equation language", EXPECTED)

    def read_BinOp(self, node: ast.BinOp, depth: int) -> BinaryOp:
        op = _OPERATORS.get(type(node.op))
        if op is None:
            what = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            raise UnsupportedError(self.place(node), f"{what} is not part of the equation language", EXPECTED)
        if op == "**":
            return BinaryOp(op, self.read(node.left, depth), self.read_power(node.right), self.place(node))
        return BinaryOp(op, self.read(node.left, depth), self.read(node.right, depth), self.place(node))

    def read_power(self, exponent: ast.AST) -> Number:
        """The exponent of v ** k: a whole number of POWERS, written as one. A fraction (0.5: sqrt(v)) or a
        negative number (-1: a division) has its own way to be written; a variable exponent is no
        element-wise function of this language; and the bound is a cap, as numbers have one."""
        where, written = self.place(exponent), ast.get_source_segment(self.text, exponent) or "?"
        value = exponent.value if isinstance(exponent, ast.Constant) else None
        if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub) and isinstance(exponent.operand, ast.Constant):
            raise UnsupportedError(where, f"the exponent {written} is negative", f"a division such as 1 / v ** 2, or {POWER_EXPECTED}")
        if isinstance(value, float) and value.is_integer():
            raise UnsupportedError(where, f"the exponent {written} has a decimal point", POWER_EXPECTED)
        if isinstance(value, float):
            hint = "sqrt(v) for a square root, or " if value == 0.5 else ""
            raise UnsupportedError(where, f"the exponent {written} is not a whole number", hint + POWER_EXPECTED)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UnsupportedError(where, f"the exponent {written} is not a number written in the equation", POWER_EXPECTED)
        if value not in POWERS:
            what = "below 2 (v ** 1 is v, v ** 0 is 1)" if value < POWERS.start else f"above {POWERS.stop - 1}"
            raise UnsupportedError(where, f"the exponent {written} is {what}", POWER_EXPECTED)
        return Number(Fraction(value), where)

    def read_Call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            what = _REFUSED.get(type(node.func))
            problem = f"{what} is not part of the equation language" if what else "only named functions can be called"
            raise UnsupportedError(self.place(node), problem, "a call such as tanh(a)")
        self.checked_name(node.func.id, node)
        if node.keywords:
            raise UnsupportedError(self.place(node), "keyword arguments are not part of the equation language", "positional arguments")
        if _is_step(node, ast.Sub):
            return Previous(node.func.id, self.place(node))
        if self.backward and _is_step(node, ast.Add):
            return Next(node.func.id, self.place(node))
        if any(_mentions_time(arg) for arg in node.args):
            name = node.func.id
            later = f", {name}(t+1) for the next step" if self.backward else ""
            raise UnsupportedError(self.place(node), f"{ast.get_source_segment(self.text, node) or name} is not a time index this language reads",
                                   f"{name} for its value at step t, {name}(t-1) for the previous step{later}")
        if node.func.id not in CALLABLE and not (self.backward and node.func.id in BACKWARD_CALLS):
            return Call(node.func.id, (), self.place(node))  # refused by name in the model stage; its arguments do not matter
        args = tuple(self.read(arg, depth) for arg in node.args)
        return Call(node.func.id, args, self.place(node))


def _mentions_time(arg: ast.AST) -> bool:
    """True for t, t+1, t-2, ...: an attempt at a time index other than t-1."""
    is_t = lambda n: isinstance(n, ast.Name) and n.id == "t"  # noqa: E731
    return is_t(arg) or (isinstance(arg, ast.BinOp) and (is_t(arg.left) or is_t(arg.right)))


def _is_step(node: ast.Call, sign: type) -> bool:
    """True for `name(t-1)` (sign ast.Sub), the one way to read a carried state at the previous step, or
    `name(t+1)` (sign ast.Add), the next step's value in a hand-written backward pass."""
    if len(node.args) != 1:
        return False
    arg = node.args[0]
    return (isinstance(arg, ast.BinOp) and isinstance(arg.op, sign)
            and isinstance(arg.left, ast.Name) and arg.left.id == "t"
            and isinstance(arg.right, ast.Constant) and arg.right.value == 1
            and not isinstance(arg.right.value, bool))
