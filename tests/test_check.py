"""derive check: a hand-written backward pass held against the derived one, line by line.

The gallery (derive/gallery) holds the seed posts' own backward passes, which must pass, and real
mistakes, each with the words a reader must be told, written by hand from the mistake (not from
the checker's output). The property tests hold every derived line of every built-in cell, printed in
the equation language and rewritten into equal forms, to "correct", and the same lines broken (a
term dropped, a sign, a factor, a time index) to "wrong".
"""
from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings, strategies as st

import derive
from derive.catalog import builtin_names, resolve
from derive.check import written_names
from derive.dims import SizeSymbol
from derive.cli import main
from derive.errors import DeriveError, Location
from derive.hand_compare import Comparer
from derive.hand_convert import convert_hand_line
from derive.mathml import math
from derive.model import Role
from derive.pipeline import work_out
from derive.printers import EquationPrinter
from derive.spec import EquationSpec
from conftest import ROOT

GALLERY = sorted((Path(derive.__file__).parent / "gallery").glob("*.toml"))


@pytest.fixture(scope="module")
def worked():
    cache = {}

    def get(name):
        if name not in cache:
            cell = work_out(resolve(name))
            cache[name] = (cell, Comparer(cell.derivation))
        return cache[name]
    return get


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main(["check", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- the gallery: the posts pass, each mistake is reported with the right words ----------------------
@pytest.mark.parametrize("path", GALLERY, ids=[path.stem for path in GALLERY])
def test_gallery(path, capsys):
    expected = tomllib.loads(path.read_text())["expect"]
    status, out, _ = run(capsys, "--backward", str(path))
    for words in expected:
        assert words in out, f"{path.name}: {words!r} not in\n{out}"
    wrongs = [words for words in expected if words.endswith(": WRONG")]
    assert out.count(": WRONG") == len(wrongs), out
    assert status == (1 if wrongs else 0)


def test_the_simple_lstm_posts_own_equations_pass(capsys):
    status, out, _ = run(capsys, "nico", "--backward", str(GALLERY[0].parent / "simple_lstm_post.toml"))
    assert status == 0 and "verdict: 21 of 21 written equations correct" in out
    assert "derived only (not written): d_h (B1)" in out  # the post takes dL/dh(t) as given (top_diff_h)


def test_the_markdown_report_is_latex_the_offline_page_can_read(capsys):
    status, out, _ = run(capsys, "--backward", str(GALLERY[0].parent / "tanh_forgotten.toml"), "--format", "markdown")
    assert status == 1
    formulas = out.split("$")[1::2]
    assert len(formulas) >= 4
    for formula in formulas:
        math(formula)  # derive's LaTeX reader refuses anything outside the documents' language
    assert "1 - \\tanh\\left(s(t)\\right)^{2}" in out


# -- equal forms are never wrong; broken forms always are ----------------------------------------------
def derived_text(cell, comparer, line, expr=None, ranks=None) -> str:
    printer = EquationPrinter({"names": written_names(cell), "ranks": ranks or {}})
    return printer.doprint(comparer.derived(line) if expr is None else expr)


def verdict(cell, comparer, line, text):
    _, written = convert_hand_line(cell.derivation, EquationSpec(line.target.name, text, Location("property", 1, 1)))
    return comparer.compare(line, written)


@pytest.mark.parametrize("name", builtin_names())
def test_every_derived_line_written_back_is_correct(name, worked):
    cell, comparer = worked(name)
    for line in cell.derivation.lines:
        text = derived_text(cell, comparer, line)
        assert verdict(cell, comparer, line, text).equal, f"{name}: {line.target} = {text}"


def rewrites(cell, comparer):
    """Equal forms of a derived right side, as a hand derivation might write them."""
    model = cell.derivation.model
    complements = {1 - sp.Symbol(v.of): sp.Symbol(v.name) for v in model.variables.values() if v.role == Role.COMPLEMENT}
    stable = {1 - sp.Symbol(v.of): next(a.expr for a in model.assignments if a.target == v.name)
              for v in model.variables.values() if v.role == Role.COMPLEMENT}  # sigmoid(-z): equal only in value
    definitions = {sp.Symbol(a.target): a.expr for a in model.assignments if model.variables[a.target].role == Role.EQUATION}
    return {
        "expanded": lambda e, rng: sp.expand(e),
        "factored": lambda e, rng: sp.factor_terms(e),
        "complement named": lambda e, rng: e.xreplace(complements),
        "complement as sigmoid(-z)": lambda e, rng: e.xreplace(stable),
        "a value by its equation": lambda e, rng: e.xreplace(dict(rng.sample(sorted(definitions.items(), key=str), min(2, len(definitions))))),
        "an adjoint by its definition": lambda e, rng: _inline_adjoint(e, comparer, rng),
    }


def _inline_adjoint(expr, comparer, rng):
    inside = sorted((s for s in comparer.adjoints_in(expr) if "@" not in s.name), key=str)  # one at t+1 reads what reaches t+2
    if not inside:
        return expr
    chosen = rng.choice(inside)
    return expr.xreplace({chosen: comparer.adjoints[chosen]})


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(builtin_names()), st.integers(0, 10**6), st.lists(st.integers(0, 5), min_size=1, max_size=3))
def test_rewritten_but_equal_lines_are_correct(worked_cache, name, seed, choices):
    cell, comparer = worked_cache(name)
    rng = random.Random(seed)
    line = rng.choice(cell.derivation.lines)
    forms = rewrites(cell, comparer)
    expr = comparer.derived(line)
    for choice in choices:
        expr = list(forms.values())[choice](expr, rng)
    ranks = {symbol.name: rng.random() for symbol in expr.free_symbols}  # the terms of each sum in a random order
    text = derived_text(cell, comparer, line, expr, ranks)
    result = verdict(cell, comparer, line, text)
    assert result.equal, f"{name}: {line.target} = {text} ({[list(forms)[c] for c in choices]}): {result.differences}"


@pytest.fixture(scope="module")
def worked_cache(worked):
    return worked


def broken(expr, rng, comparer, model):
    """A wrong form: a term dropped, the sign flipped, a factor 2, or one value read at another step."""
    terms = sp.Add.make_args(expr)
    symbols = [s for s in sorted(expr.free_symbols, key=str) if not isinstance(s, SizeSymbol) and comparer.other_times(s)]
    options = ["sign", "twice"] + (["drop"] if len(terms) > 1 else []) + (["time"] if symbols else [])
    kind = rng.choice(options)
    if kind == "drop":
        return kind, sp.Add(*(t for t in terms if t != rng.choice(terms)))
    if kind == "time":
        symbol = rng.choice(symbols)
        return kind, expr.xreplace({symbol: comparer.other_times(symbol)[0]})
    return kind, -expr if kind == "sign" else 2 * expr


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(builtin_names()), st.integers(0, 10**6))
def test_broken_lines_are_wrong(worked_cache, name, seed):
    cell, comparer = worked_cache(name)
    rng = random.Random(seed)
    line = rng.choice(cell.derivation.lines)
    kind, expr = broken(comparer.derived(line), rng, comparer, cell.derivation.model)
    if comparer.same(expr, comparer.derived(line)):
        return  # a time shift of a value that does not change here (a parameter), or a term that is zero
    text = derived_text(cell, comparer, line, expr)
    result = verdict(cell, comparer, line, text)
    assert not result.equal and result.differences, f"{name}: {kind}: {line.target} = {text}"


# -- the words for each kind of difference -----------------------------------------------------------
@pytest.mark.parametrize("text, words", [
    ("-d_h * s", "the sign of the whole right side is wrong"),
    ("2 * d_h * s", "an extra factor 2 in the term 2*dL/dh(t)*s(t)"),
    ("d_h", "a factor s(t) is missing in the term dL/dh(t)"),
    ("d_h * s(t-1)", "wrong time index: s(t-1) where s(t) is expected"),
    ("d_h * s + d_h * o", "an extra term dL/dh(t)*o(t)"),
])
def test_words_for_d_o(text, words):
    report = derive.Cell("nico").check(f"d_o = {text}")
    assert not report.passed
    assert words in report.text(), report.text()


def test_a_line_written_through_earlier_adjoints_is_judged_on_its_own():
    """d_g_pre written from d_s is held against the derived d_g * (1 - g**2) with d_g = d_s * i."""
    report = derive.Cell("nico").check("d_g_pre = d_s * i * (1 - g ** 2)\nd_o_pre = d_h * s * o * o_complement")
    assert report.passed, report.text()
    wrong = derive.Cell("nico").check("d_xc = W_g.T @ d_g_pre + W_i.T @ d_i + W_f.T @ d_f_pre + W_o.T @ d_o_pre")
    assert "a factor i(t)*(1 - i(t)) is missing in the term dL/di(t), inside W_i^T @ dL/di(t)" in wrong.text()


# -- bad input: a clear message, nothing run ---------------------------------------------------------
@pytest.mark.parametrize("equations, words", [
    ("d_q = d_h", "'d_q' is not an adjoint of cell 'nico'; expected one of its adjoints: d_h, d_s, d_g, d_g_pre"),
    ("d_s = d_h * oo", "unknown name 'oo'"),
    ("d_x = part(W_g @ d_g_pre, x)", "W_g has D + H columns but its operand has size H; expected W_g.T @ ..."),
    ("d_s = d_s(t-1)", "d_s(t-1) is computed after step t's backward step"),
    ("d_s = d_h * o\nd_s = d_h", "d_s is written twice"),
    ("d_s = d_h * W_g(t+1)", "W_g is a parameter, the same at every step"),
    ("d_s = outer(d_h, o)", "an outer product is a weight's gradient"),
    ("d_x = part(d_s, x)", "the first argument of part is not the adjoint of a stacked vector"),
    ("d_x = part(d_xc, s)", "s is not one of the stacked parts; expected one of x, h(t-1)"),
    ("d_s = d_h.real", "attribute access (d_h.real) is not part of the equation language; expected W.T, the one"),
    ("d_s = __import__('os').system('touch /tmp/derive-pwned')", "attribute access (a.b) is not part of the equation language"),
    ("d_s = __import__('os')", "the name '__import__' starts with _"),
    ("d_s = open('pwned', 'w')", "unknown function 'open'"),
    ("d_W_g = outer(d_g_pre, x)", "d_W_g has size H x D + H, its right side H x D"),
])
def test_bad_equations_are_refused_with_what_where_and_expected(equations, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DeriveError) as error:
        derive.Cell("nico").check(equations)
    assert words in str(error.value)
    assert str(error.value).startswith("backward text:")  # where: the line (and column) of the text
    assert list(tmp_path.iterdir()) == [] and not Path("/tmp/derive-pwned").exists()


def test_command_line_messages(tmp_path, capsys):
    spec_only = tmp_path / "no_table.toml"
    spec_only.write_text('cell = "nico"\n')
    status, _, err = run(capsys, "--backward", str(spec_only))
    assert status == 2 and "there is no [backward] table; expected a table such as" in err
    status, _, err = run(capsys, "nico")
    assert status == 2 and "nico has no [backward] table of its own; expected --backward FILE.toml" in err
    status, _, err = run(capsys)
    assert status == 2 and "check needs a CELL, or --backward FILE.toml whose file names its cell" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('[backward]\nequations = """\nd_s = d_h *\n"""\n')
    status, _, err = run(capsys, "nico", "--backward", str(bad))
    assert status == 2 and f"{bad}:3:" in err and "syntax error" in err


def test_a_spec_may_carry_its_own_backward_table(tmp_path, capsys):
    spec = tmp_path / "mine.toml"
    spec.write_text(resolve("nico").source_text.replace('name = "nico"', 'name = "mine"')
                    + '\n[backward]\nequations = """\nd_s = d_h * o + d_s(t+1) * f(t+1)\n"""\n')
    status, out, _ = run(capsys, str(spec))
    assert status == 0 and "(B2) d_s: correct" in out
    derive.Cell(str(spec))  # the table does not stop the spec from building


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "d_s = d_h * o + d_s(t+1) * f(t+1)" in out and "derive check nico --backward" in out


def test_documents_invite_the_check():
    cell = derive.Cell("nico")
    assert "derive check nico --backward mine.toml" in cell.markdown()
    assert "derive check nico --backward mine.toml" in cell.latex()
    assert "derive check nico --backward mine.toml" in cell.html()


# -- --latex: a post's displays, read by the documents' reader --------------------------------------
POST_SUFFIXES = (".md", ".tex", ".commonmark.md", ".jekyll.md", ".hugo.md")


@pytest.mark.parametrize("name", ["nico", "lstm", "gru", "layernorm_lstm", "zoneout_lstm"])
def test_derives_own_posts_pass_and_state_every_line(name, worked):
    """Every flavour of the generated post: each backward display is read, matched with its line and correct,
    and together they state every line (the derivation and the summary both count)."""
    from derive.check import check_post

    cell, _ = worked(name)
    for suffix in POST_SUFFIXES:
        path = f"generated/{name}/{name}{suffix}"
        report = check_post(cell, (ROOT / path).read_text(), path)
        assert report.passed and not report.derived_only, (suffix, report.text())
        assert len(report.lines) > len(cell.derivation.lines)  # the step-by-step results and the summary


def test_a_post_in_another_notation_is_read_with_its_time_style(tmp_path, capsys):
    post = tmp_path / "post.md"
    post.write_text(derive.Cell("nico").markdown(adjoint="delta", time="subscript"))  # nico's own: dL/ds(t)
    status, out, _ = run(capsys, "nico", "--latex", str(post), "--time", "subscript")
    assert status == 0 and "verdict: 44 of 44 written equations correct" in out
    status, _, err = run(capsys, "nico", "--latex", str(post))
    assert status == 2 and "needs --time subscript" in err


def test_a_post_with_a_wrong_display_gets_its_line_and_words(tmp_path, capsys):
    lines = (ROOT / "generated/nico/nico.md").read_text().split("\n")
    summary = next(n for n, line in enumerate(lines) if "&& \\text{(B2)}" in line)
    lines[summary] = lines[summary].replace(" + \\frac{dL}{ds(t+1)} * f(t+1)", "")  # the carry dropped from the summary
    step = next(n for n, line in enumerate(lines) if line.endswith("\\tag{B4}"))
    lines[step] = lines[step].replace("1 - g(t)^{2}", "1 + g(t)^{2}")
    post = tmp_path / "post.md"
    post.write_text("\n".join(lines))
    status, out, _ = run(capsys, "nico", "--latex", str(post))
    assert status == 1 and out.count(": WRONG") == 2, out
    block_start = max(n for n in range(summary) if lines[n] == "$$") + 2  # a display's line: the first after its $$
    assert f"(B2) d_s: WRONG ({post}:{block_start})" in out, out
    assert f"(B4) d_g_pre: WRONG ({post}:{step + 1})" in out, out
    assert "missing the term dL/ds(t+1)*f(t+1)" in out
    assert "the factor 1 + g(t)**2 should be 1 - g(t)**2" in out


def test_post_messages(tmp_path, capsys):
    post = tmp_path / "post.md"
    post.write_text("# Notes\n\nNo equations here.\n")
    status, _, err = run(capsys, "nico", "--latex", str(post))
    assert status == 2 and "no display equation states a backward line of cell 'nico'" in err
    post.write_text("$$\n\\frac{dL}{ds(t)} = \\frac{dL}{dh(t)} * q(t)\n$$\n")
    status, _, err = run(capsys, "nico", "--latex", str(post))
    assert status == 2 and f"{post}:2: the symbol q at t is not a symbol of cell 'nico'" in err
    post.write_text("$$\n\\frac{dL}{ds(t)} = 1\n")
    status, _, err = run(capsys, "nico", "--latex", str(post))
    assert status == 2 and "a $$ block is not closed" in err
    post.write_text("$$\n\\frac{dL}{ds(t)} = \\frac{dL}{dh(t)} * o(t) + \\frac{dL}{ds(t+1)} * f(t+1\n$$\n")
    status, _, err = run(capsys, "nico", "--latex", str(post))  # a backward line the reader cannot read is not passed by
    assert status == 2 and f"{post}:2: the display of d_s cannot be read: unclosed '('" in err
    status, _, err = run(capsys, "nico", "--latex", str(post), "--backward", str(GALLERY[0]))
    assert status == 2 and "not both" in err


def test_hostile_backward_equations_are_refused_before_anything_runs(tmp_path):
    """The spec language's hostile corpus, as the right side of a backward equation: the same refusal, and the
    audit hook sees no code run from text (the check evaluates only after every equation is read)."""
    from test_hostile import EQUATIONS, TEMPLATE, _Watch

    cell = derive.Cell.from_text(TEMPLATE.replace("{expression}", "p"))
    allowed_here = {"time-index-future", "parameter-only-operand"}  # h(t+1) is the backward language's; no such rule
    for case_id, expression, fragment in EQUATIONS:
        if case_id in allowed_here:
            continue
        _Watch.seen.clear()
        _Watch.on = True
        try:
            with pytest.raises(DeriveError) as caught:
                cell.check(f"d_h = ({expression})")  # parenthesised as the forward corpus is
        finally:
            _Watch.on = False
        assert _Watch.seen == [], f"{case_id}: code ran: {_Watch.seen}"
        assert fragment in str(caught.value), (case_id, str(caught.value))
