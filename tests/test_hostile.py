"""Hostile equations and files: each refused with its own message; nothing runs, nothing is written.

Cases run through the library (fast); test_bad_specs.py runs the CLI end to end.
"""
import sys

import pytest

from derive.errors import DeriveError
from derive.pipeline import build
from derive.spec import spec_from_text

TEMPLATE = '''name = "hostile"
inputs = ["x"]
states = ["h"]
output = "h"
equations = """
h = tanh(W @ x + U @ h(t-1)) * ({expression})
"""
[params]
W = ["H", "D"]
U = ["H", "H"]
p = ["H"]
'''

# (id, expression, fragment of the message)
EQUATIONS = [
    ("dunder-name", "__class__", "starts with _"),
    ("dunder-call", "__import__('os')", "starts with _"),
    ("builtin-open", "open('PWNED', 'w')", "unknown function 'open'"),
    ("builtin-eval", "eval('1')", "unknown function 'eval'"),
    ("getattr", "getattr(x, 'real')", "unknown function 'getattr'"),
    ("attribute", "x.real", "attribute access"),
    ("method-call", "x.sum()", "attribute access"),
    ("subscript", "x[0]", "indexing"),
    ("slice", "x[0:2]", "indexing"),
    ("comprehension", "[a for a in x]", "a comprehension"),
    ("generator", "tanh(a for a in x)", "a comprehension"),
    ("unknown-call-with-generator", "any(a for a in x)", "unknown function 'any'"),
    ("reduction-of-a-generator", "sum(a for a in x)", "a comprehension is not part of the equation language"),
    ("lambda", "(lambda: x)()", "a lambda"),
    ("f-string", "f'{x}'", "an f-string"),
    ("string", "'x'", "is not a number"),
    ("bytes", "b'x'", "is not a number"),
    ("none", "None", "is not a number"),
    ("bool", "True", "is not a number"),
    ("complex", "1j", "is not a number"),
    ("ellipsis", "...", "is not a number"),
    ("walrus", "(y := x)", "assignment expression"),
    ("conditional", "x if x else x", "a conditional expression"),
    ("comparison", "x < x", "a comparison"),
    ("boolean", "x and x", "a boolean operator"),
    ("not", "not x", "not is not part"),
    ("power-of-a-variable", "x ** x", "the exponent x is not a number written in the equation"),
    ("exponent-tower", "2 ** 2 ** 2 ** 2 ** 2", "the exponent 2 ** 2 ** 2 ** 2 is not a number written"),
    ("huge-exponent", "h(t-1) ** 123456789", "the exponent 123456789 is above 8"),
    ("constant-power-tower", "((((((((10) ** 8) ** 8) ** 8) ** 8) ** 8) ** 8) ** 8)", "bits; expected a constant within 2^256"),
    ("float-exponent", "h(t-1) ** 1e308", "the exponent 1e308 has a decimal point"),
    ("bit-ops", "x ^ x", "the ^ operator"),
    ("keyword-argument", "tanh(a=x)", "keyword arguments"),
    ("starred", "tanh(*x)", "a starred argument"),
    ("deep-nesting", "(" * 40 + "x" + ")" * 40, "parentheses nest 41 deep"),
    ("deep-unary", "-" * 300 + "1", "too deeply nested"),
    ("huge-literal", "1" + "0" * 400, "too large"),
    ("overflowing-float", "1e309", "too large"),
    ("many-digits", "0.1234567891234", "too many digits"),
    ("long-expression", " + ".join(["x"] * 200), "characters long"),
    ("too-many-nodes", "concat(" + ", ".join(["-".join(["1"] * 30)] * 9) + ")", "the expression is too large"),
    ("cyrillic-lookalike", "\u0445", "U+0445"),
    ("zero-width-space", "x\u200b", "U+200B"),
    ("fullwidth", "\uff58", "U+FF58"),
    ("newline-injection", "x\nimport os", "is not an equation"),
    ("semicolon", "x; import os", "syntax error"),
    ("time-index-future", "h(t+1)", "h(t+1) is not a time index"),
    ("time-index-two-back", "h(t-2)", "h(t-2) is not a time index"),
    ("previous-of-input", "x(t-1)", "x is not a carried state"),
    ("concat-one", "concat(x)", "concat of 1 vector"),
    ("function-arity", "tanh(x, x)", "tanh takes one argument"),
    ("division-by-zero", "h(t-1) / 0", "division by zero"),
    ("parameter-only-operand", "U @ relu(W @ x) + U @ relu(p)", "the operand depends on parameters alone"),
]


class _Watch:
    """An audit hook, on only while a spec is built: code run from text, or a process started, is recorded.

    (Imports run code from real files, and ast.parse only compiles to a tree: neither counts.)
    """

    on = False
    seen: list = []

    @classmethod
    def hook(cls, event, args):
        if not cls.on:
            return
        if event == "exec" and getattr(args[0], "co_filename", "<").startswith("<"):
            cls.seen.append((event, args[0].co_filename))
        elif event in ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork"):
            cls.seen.append((event, args))


sys.addaudithook(_Watch.hook)


def expect_refusal(text: str, fragment: str, tmp_path) -> str:
    out = tmp_path / "out"
    _Watch.seen.clear()
    _Watch.on = True
    try:
        with pytest.raises(DeriveError) as caught:
            build([spec_from_text(text, "hostile.toml")], out)
    finally:
        _Watch.on = False
    assert _Watch.seen == [], f"building a spec ran code: {_Watch.seen}"
    message = str(caught.value)
    assert fragment in message, message
    assert not out.exists()
    return message


def test_the_watch_sees_code_run_from_text():
    """The hook is only evidence if it notices what it looks for."""
    _Watch.seen.clear()
    _Watch.on = True
    try:
        exec("1 + 1")
    finally:
        _Watch.on = False
    assert _Watch.seen and _Watch.seen[0][0] == "exec"


@pytest.mark.parametrize("case_id,expression,fragment", EQUATIONS, ids=[c[0] for c in EQUATIONS])
def test_hostile_equation_is_refused(case_id, expression, fragment, tmp_path):
    message = expect_refusal(TEMPLATE.replace("{expression}", expression), fragment, tmp_path)
    line = 7 if case_id == "newline-injection" else 6  # the newline starts a line of its own
    assert message.startswith(f"hostile.toml:{line}:"), message
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case_id,text,fragment", [
    ("self-reference", TEMPLATE.replace("{expression}", "h"), "'h' is used in its own equation"),
    ("not-a-cell", 'title = "a shopping list"\nitems = ["milk"]\n', "unknown key 'items'"),
    ("empty", "", "missing key 'name'"),
    ("binary", "\x00\x01", "invalid TOML"),
    ("deep-toml", "a = " + "[" * 5000 + "]" * 5000 + "\n", "nests arrays or tables too deeply"),
    ("escaping-name", TEMPLATE.replace('name = "hostile"', 'name = "../../etc/x"').replace("{expression}", "1"), "cannot name a module and a folder"),
    ("absolute-name", TEMPLATE.replace('name = "hostile"', 'name = "/tmp/x"').replace("{expression}", "1"), "cannot name a module and a folder"),
    ("keyword-name", TEMPLATE.replace('name = "hostile"', 'name = "class"').replace("{expression}", "1"), "cannot name a module and a folder"),
    ("numpy-shadow", TEMPLATE.replace("W", "np").replace("{expression}", "1"), "'np' is used by the generated code"),
    ("keyword-variable", TEMPLATE.replace("W", "lambda").replace("{expression}", "1"), "Python keyword"),
    ("soft-keyword-variable", TEMPLATE.replace("W", "match").replace("{expression}", "1"), "Python keyword"),
    ("params-shadow", TEMPLATE.replace("W", "params").replace("{expression}", "1"), "'params' is used by the generated code"),
], ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None)
def test_hostile_file_is_refused(case_id, text, fragment, tmp_path):
    expect_refusal(text, fragment, tmp_path)
