"""Bad specs: one clear message each (file, line, column, what, what was expected), no
traceback, non-zero exit, and nothing written or overwritten."""
import subprocess
import sys

import pytest
from conftest import ROOT

GOOD = '''name = "tiny"
inputs = ["x"]
states = ["h"]
output = "h"
equations = """
z = sigmoid(W_z @ concat(x, h(t-1)) + b_z)
h = z * tanh(W_h @ x + U_h @ h(t-1))
"""

[params]
W_z = ["H", "D + H"]
b_z = ["H"]
W_h = ["H", "D"]
U_h = ["H", "H"]
'''
EQUATION_LINE = 7  # the line of `h = ...` in GOOD


def with_h(expression: str) -> str:
    return GOOD.replace("h = z * tanh(W_h @ x + U_h @ h(t-1))", f"h = {expression}")


# (id, spec text, fragments the message must contain)
CASES = [
    ("unknown-name", with_h("z * tanh(W_h @ x + U_h @ hh)"), [f":{EQUATION_LINE}:", "unknown name 'hh'", "did you mean 'h'"]),
    ("shape-mismatch", with_h("z * tanh(W_h @ h(t-1))"), [f":{EQUATION_LINE}:", "W_h has D columns but its operand has size H"]),
    ("elementwise-sizes", with_h("z * x"), [f":{EQUATION_LINE}:", "sizes H and D", "one of size 1", 'sizes = ["D = H"]']),
    ("cycle", GOOD.replace("z = sigmoid(W_z @ concat(x, h(t-1)) + b_z)", "z = sigmoid(W_z @ concat(x, h(t-1)) + b_z) * a\na = z * 2"),
     ["cycle", "z -> a -> z"]),
    ("self-reference", with_h("h * z + W_h @ x + U_h @ h(t-1)"), ["'h' is used in its own equation", "h(t-1)"]),
    ("unknown-function", with_h("z * softmax(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:", "unknown function 'softmax'", "sigmoid, tanh"]),
    ("function-of-two-arguments", with_h("z * sqrt(W_h @ x, U_h @ h(t-1))"), [f":{EQUATION_LINE}:", "sqrt takes one argument, given 2", "sqrt(a)"]),
    ("maximum-of-one-argument", with_h("z * maximum(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:", "maximum takes two arguments, given 1", "maximum(a, b)"]),
    ("maximum-of-two-sizes", with_h("z * maximum(W_h @ x + U_h @ h(t-1), x)"), [f":{EQUATION_LINE}:", "the arguments of maximum have sizes H and D", "one of size 1"]),
    ("minimum-of-numbers", with_h("z * minimum(1, 2) + W_h @ x + U_h @ h(t-1)"), [f":{EQUATION_LINE}:", "minimum is applied to constants only", "a vector argument"]),
    # once a crash (IndexError): the argument of a function whose terms cancel
    ("function-of-cancelled-terms", with_h("z * tanh(h(t-1) - h(t-1)) + W_h @ x + U_h @ h(t-1)"), [f":{EQUATION_LINE}:", "tanh is applied to a constant (its terms cancel)"]),
    ("call-on-variable", with_h("z(x) * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:", "z is a variable, not a function"]),
    ("state-time-index", with_h("h(t) * z + W_h @ x + U_h @ h(t-1)"), [f":{EQUATION_LINE}:", "h(t) is not a time index", "h for its value at step t, h(t-1) for the previous step"]),
    ("python-injection", with_h("__import__('os').system('touch PWNED')"), [f":{EQUATION_LINE}:", "attribute access (a.b) is not part of the equation language"]),
    ("attribute-access", with_h("z.__class__"), [f":{EQUATION_LINE}:", "attribute access"]),
    ("lambda", with_h("(lambda: z)()"), ["a lambda is not part of the equation language"]),
    # powers: a whole number from 2 to 8, written as one; the message points at the exponent (column 10)
    ("power-fraction", with_h("z ** 0.5 * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:10:", "the exponent 0.5 is not a whole number", "sqrt(v) for a square root", "from 2 to 8"]),
    ("power-negative", with_h("z ** -1 * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:10:", "the exponent -1 is negative", "a division such as 1 / v ** 2"]),
    ("power-variable", with_h("z ** x * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:10:", "the exponent x is not a number written in the equation", "a whole number from 2 to 8 written as one, such as v ** 2"]),
    ("power-expression", with_h("z ** (1 + 1) * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:11:", "the exponent 1 + 1 is not a number written in the equation"]),
    ("power-too-large", with_h("z ** 9 * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:10:", "the exponent 9 is above 8", "from 2 to 8"]),
    ("power-one", with_h("z ** 1 * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:10:", "the exponent 1 is below 2 (v ** 1 is v, v ** 0 is 1)"]),
    ("power-decimal-point", with_h("z ** 2.0 * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:10:", "the exponent 2.0 has a decimal point", "written as one"]),
    ("power-fraction-not-a-half", with_h("z ** 1.5 * tanh(W_h @ x + U_h @ h(t-1))"), [f":{EQUATION_LINE}:10:", "the exponent 1.5 is not a whole number; expected a whole number from 2 to 8"]),
    ("syntax-error", with_h("z * (tanh(W_h @ x)"), [f":{EQUATION_LINE}:", "syntax error", "expected names, numbers"]),
    ("huge-number", with_h("z * 1e300"), ["too large"]),
    ("unicode-lookalike", with_h("z * tanh(W_h @ \uff58 + U_h @ h(t-1))"), [f":{EQUATION_LINE}:", "U+FF58", "plain ASCII"]),
    ("matrix-as-vector", with_h("z * W_h"), ["W_h is a matrix", "W_h @ v"]),
    ("unused-param", GOOD.replace('U_h = ["H", "H"]', 'U_h = ["H", "H"]\nV = ["H"]'), ["parameter 'V' is declared but never used"]),
    ("bad-shape", GOOD.replace('b_z = ["H"]', 'b_z = ["H", "D", "H"]'), [":12", "the shape of b_z"]),
    ("bad-size", GOOD.replace('b_z = ["H"]', 'b_z = ["K"]'), [":12", "'K'", "does not declare", 'sizes = ["K"]']),
    ("size-not-a-term", GOOD.replace('b_z = ["H"]', 'b_z = ["Hh"]'), [":12", "'Hh' is not a term", "one capital letter"]),
    ("state-without-equation", GOOD.replace('states = ["h"]', 'states = ["h", "c"]'), [":3", "state 'c' has no equation"]),
    ("output-not-a-state", GOOD.replace('output = "h"', 'output = "y"'), [":4", "output 'y' is not a declared state"]),
    ("unknown-key", GOOD.replace('output = "h"', 'output = "h"\noutptu = "h"'), [":5", "unknown key 'outptu'"]),
    ("missing-key", GOOD.replace('inputs = ["x"]\n', ""), ["missing key 'inputs'"]),
    ("not-toml", "name = nico\n", [":1:8", "invalid TOML"]),
    ("toml-not-a-cell", 'title = "a shopping list"\n[items]\nmilk = 2\n', ["unknown key 'items'"]),
    ("escaping-name", GOOD.replace('name = "tiny"', 'name = "../x"'), [":1", "cannot name a module and a folder"]),
    ("keyword-name", GOOD.replace("z", "lambda"), ["Python keyword"]),
    ("reserved-name", GOOD.replace("z", "np"), ["'np' is used by the generated code"]),
    ("state-wrong-size", with_h("concat(x, h(t-1))"), ["state h has size D + H", "size H"]),
    ("title-injection", GOOD.replace('name = "tiny"', 'name = "tiny"\ntitle = \'x"""; import os; os.system("touch PWNED"); """\''), ["title contains", '"""']),
    ("reference-backslash", GOOD.replace('name = "tiny"', 'name = "tiny"\nreference = \'a \\ b\''), ["reference contains character '\\\\'"]),
    ("title-newline", GOOD.replace('name = "tiny"', 'name = "tiny"\ntitle = "a\\nb"'), ["title contains character '\\n'"]),
    ("unused-intermediate-parameter", GOOD.replace("h = z * tanh", "a = U_h @ h(t-1)\nh = z * tanh").replace("U_h @ h(t-1))", "W_h @ x)").replace('U_h = ["H", "H"]', 'U_h = ["H", "H"]'), [":7:5:", "'a' never reaches a state", "no state depends on it"]),
    ("latex-clash", GOOD.replace("h = z * tanh", "z_hat = z * 2\nh = z_hat * tanh"), ["'z_pre' and 'z_hat' would both print as", "another name for 'z_hat'"]),
    ("second-input-unused", GOOD.replace('inputs = ["x"]', 'inputs = ["x", "y"]'), [":2", "input 'y' is never used"]),
    ("input-size-undeclared", GOOD.replace('inputs = ["x"]', 'inputs = ["x: P"]'), [":2", "the size 'P' of x", "declare a new one in sizes"]),
    ("size-bad-name", 'sizes = ["p"]\n' + GOOD, [":1", "'p' cannot name a size", "one capital letter"]),
    ("size-built-in", 'sizes = ["T"]\n' + GOOD, [":1", "'T' cannot name a size"]),
    ("size-twice", 'sizes = ["P", "P"]\n' + GOOD, [":1", "declared twice"]),
    ("size-unused", 'sizes = ["P"]\n' + GOOD, [":1", "no input, state or parameter has the size P", "remove 'P'"]),
    ("size-equal-unknown", 'sizes = ["D = Q"]\n' + GOOD, [":1", "'Q', which is not a size of this cell"]),
    ("size-equal-itself", 'sizes = ["H = H"]\n' + GOOD, [":1", "not to itself"]),
    ("sizes-not-a-list", 'sizes = "P"\n' + GOOD, [":1", "sizes is 'P'", 'sizes = ["P"]']),
    ("input-named-like-a-size", GOOD.replace('inputs = ["x"]', 'inputs = ["D"]'), ["'D'"]),
    ("state-wrong-declared-size", 'sizes = ["P"]\n' + GOOD.replace('states = ["h"]', 'states = ["h: P"]'), ["W_z has D + H columns but its operand has size D + P"]),
    ("state-size-differs", 'sizes = ["P"]\n' + GOOD.replace('states = ["h"]', 'states = ["h: P"]').replace('"D + H"', '"D + P"').replace('U_h = ["H", "H"]', 'U_h = ["H", "P"]'),
     [":8:", "state h has size H", "size P, as declared in states"]),
    ("d-unused-once-inputs-are-h", GOOD.replace('inputs = ["x"]', 'inputs = ["x: H"]').replace('"D + H"', '"2*H"').replace('W_h = ["H", "D"]', 'W_h = ["H", "H"]'),
     ["no input, state or parameter has the size D", 'sizes = ["D = H"]']),
    ("not-an-equation", with_h("").replace("h = \n", "h == z\n"), ["is not an equation", "`name = expression`"]),
    # an equation no state depends on, here through another one that none does either
    ("dead-equation", GOOD.replace("h = z * tanh", "a = z * 2\nb = a * 3\nh = z * tanh"), [":7:5:", "'a' never reaches a state"]),
    ("unused-input", GOOD.replace("W_z @ concat(x, h(t-1))", "U_h @ h(t-1)").replace("W_h @ x + ", "").replace('W_z = ["H", "D + H"]\n', "").replace('W_h = ["H", "D"]\n', ""),
     [":2", "input 'x' is never used"]),
    ("unicode-digit-in-shape", GOOD.replace('b_z = ["H"]', 'b_z = ["\u0661*H"]'), [":12", "'\u0661' (U+0661)", "plain ASCII"]),
    ("unicode-space-in-shape", GOOD.replace('"D + H"', '"D\u00a0+\u2003H"'), [":11", "(U+00A0)", "plain ASCII"]),
    ("too-many-terms", GOOD.replace('b_z = ["H"]', 'b_z = ["' + " + ".join(["9999*H"] * 2000) + '"]'), [":12", "2000 terms (at most 8)"]),
    ("too-many-parameters", GOOD.replace('U_h = ["H", "H"]', 'U_h = ["9999*H", "9999*H"]'), [":14", "the largest, U_h, is 999,900 x 999,900", "at most 10,000,000 parameters"]),
    ("module-name-numpy", GOOD.replace('name = "tiny"', 'name = "numpy"'), [":1", "'numpy' is the name of a module Python imports"]),
    ("module-name-sys", GOOD.replace('name = "tiny"', 'name = "sys"'), [":1", "'sys' is the name of a module Python imports"]),
    ("name-ending-in-newline", GOOD.replace('b_z = ["H"]', '"b_z\\n" = ["H"]'), ["parameter name 'b_z\\n'", "U+000A"]),
]
NON_ASCII_CASES = {"unicode-lookalike", "unicode-digit-in-shape", "unicode-space-in-shape"}


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "derive", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case_id,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_is_refused_clearly(case_id, text, fragments, tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    run = run_cli("build", str(spec), "--out", str(out), cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and run.stdout == ""
    message = run.stderr.strip()
    assert message.startswith(f"derive: error: {spec}"), message
    assert "\n" not in message, "one message, one line"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not out.exists(), "nothing is written"
    assert not (tmp_path / "PWNED").exists()


def test_the_good_spec_builds(tmp_path):
    """The cases above are mutations of a spec that is itself fine."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(GOOD)
    run = run_cli("build", str(spec), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "tiny" / "tiny.py").is_file()


def test_a_bad_spec_among_good_cells_leaves_existing_outputs_untouched(tmp_path):
    out = tmp_path / "out"
    assert run_cli("build", "nico", "--out", str(out), cwd=tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.toml"
    bad.write_text(with_h("z * softplus(x)"))
    (out / "nico" / "nico.py").write_text("# edited by hand\n")
    before[out / "nico" / "nico.py"] = b"# edited by hand\n"
    run = run_cli("build", "nico", "lstm", str(bad), "--out", str(out), cwd=tmp_path)
    assert run.returncode == 2
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "a failed build changes nothing, not even the cells that were fine"


def test_two_cells_with_one_name_are_refused(tmp_path):
    twin = tmp_path / "twin.toml"
    twin.write_text(GOOD)
    other = tmp_path / "other.toml"
    other.write_text(GOOD)
    run = run_cli("build", str(twin), str(other), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 2 and "two cells are named 'tiny'" in run.stderr and not (tmp_path / "out").exists()


def test_a_template_failing_at_run_time_is_reported(tmp_path):
    templates = tmp_path / "t"
    templates.mkdir()
    (templates / "equations.md.j2").write_text("{{ 1 / 0 }}")
    run = run_cli("build", "nico", "--out", str(tmp_path / "out"), "--templates", str(templates), cwd=tmp_path)
    assert run.returncode == 2 and "ZeroDivisionError" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_compare_checks_its_templates_folder(tmp_path):
    run = run_cli("compare", "lstm", "gru", "--templates", str(tmp_path / "missing"), cwd=tmp_path)
    assert run.returncode == 2 and "not a folder" in run.stderr


def test_list_into_a_closed_pipe_is_quiet(tmp_path):
    run = subprocess.run(f"{sys.executable} -m derive list | head -1", shell=True, capture_output=True, text=True, cwd=tmp_path)
    assert "Traceback" not in run.stderr and run.stdout.strip()


def test_missing_spec_file(tmp_path):
    run = run_cli("build", "no_such_cell.toml", cwd=tmp_path)
    assert run.returncode == 2 and "cannot read the spec" in run.stderr and "Traceback" not in run.stderr


def test_unknown_cell_name(tmp_path):
    run = run_cli("gradcheck", "nicoo", cwd=tmp_path)
    assert run.returncode == 2 and "unknown cell 'nicoo'" in run.stderr and "nico" in run.stderr


def test_examples_in_this_file_are_plain_ascii_except_the_lookalike():
    """Guard against the table itself changing meaning: only the cases about look-alike Unicode carry non-ASCII."""
    assert {case_id for case_id, text, _ in CASES if not text.isascii()} == NON_ASCII_CASES
    assert (ROOT / "tests" / "test_bad_specs.py").is_file()
