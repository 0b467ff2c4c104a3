"""derive compare: differences marked where the variants differ, costs that match measurements."""
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from conftest import CATALOG, module_for

from derive import contract
from derive.catalog import builtin_spec
from derive.compare import Marked, comparison_view, mark_differences
from derive.metrics import cell_cost
from derive.pipeline import work_out

a, b, c, d = sp.symbols("a b c d")


@pytest.mark.parametrize("first,other,marked,dropped", [
    (a * b + c, a * b + c, [], []),  # the same expression: nothing marked, nothing dropped
    (a * b * c + d, a * b + d, [], [c]),  # a factor lost
    (a * b + d, a * b * c + d, [c], []),  # a factor gained
    (a + b, a + b + c, [c], []),  # a term gained
    (a + b + c, a + b, [], [c]),  # a term lost
    (a * b, c * d, [c * d], [a * b]),  # nothing in common
    (a + b, c - d, [c - d], [a + b]),  # nothing in common in any term: the whole side is marked
])
def test_mark_differences(first, other, marked, dropped):
    result, lost = mark_differences(first, other)
    assert sorted(map(str, (m.args[0] for m in result.atoms(Marked)))) == sorted(map(str, marked))
    assert sorted(map(str, lost)) == sorted(map(str, dropped))


def pairing(first, other):
    view = comparison_view([work_out(builtin_spec(first)), work_out(builtin_spec(other))], 50, 100)
    return view["pairings"][0]


def test_noaf_loses_the_tanh_derivative_from_the_cell_state_delta():
    rows = {row.key: row for row in pairing("greff_v", "greff_noaf").backward}
    assert rows["d_c"].dropped == r"1 - \tanh\left(c(t)\right)^{2}"
    assert r"\tanh" not in rows["d_c"].other
    assert rows["d_f"].first == rows["d_f"].other and not rows["d_f"].dropped


def test_identical_cells_differ_nowhere():
    spec = builtin_spec("lstm")
    twin = work_out(type(spec)(**{**spec.__dict__, "name": "lstm_twin"}))
    view = comparison_view([work_out(spec), twin], 50, 100)
    assert view["pairings"][0].changed == 0


def test_cifg_marks_the_coupled_forget_gate():
    forward = {row.key: row for row in pairing("greff_v", "greff_cifg").forward}
    assert forward["f"].other == r"{\color{red} 1 - i(t)}"
    assert forward["f"].dropped.startswith(r"\sigma\left(")


def costs_of(name, d, h):
    cell = work_out(builtin_spec(name))
    return cell_cost(cell.derivation, cell.code, d, h)


def measured_parameters(name, d, h):
    module = module_for(name)
    return sum(v.size for v in contract.init(module, contract.sizes_of(module, d, h)).values())


def measured_cached_floats(name, d, h):
    module = module_for(name)
    sizes = contract.sizes_of(module, d, h)  # a declared size counted as H, as the cost table counts it
    params = contract.init(module, sizes, rng=0)
    _, cache = module.forward(params, contract.inputs(module, sizes, (1,), np.zeros), contract.states(module, sizes, 1, np.zeros))
    return sum(v.size for v in cache.values())


@pytest.mark.parametrize("d,h", [(50, 100), (3, 7)])
def test_costs_match_the_generated_module(cell, d, h):
    cost = costs_of(cell, d, h)
    assert cost.parameters == measured_parameters(cell, d, h)
    assert cost.cached_floats == measured_cached_floats(cell, d, h)
    assert cost.backward_macs == 2 * cost.forward_macs  # W^T d and d v^T for every product W v
    assert cost.backward_ops_after_cse > 0


def test_lstm_costs_by_hand():
    cost = costs_of("lstm", 50, 100)
    D, H = 50, 100
    assert cost.forward_macs == 4 * H * (D + H)
    assert cost.backward_macs == 2 * 4 * H * (D + H)  # W^T d and d X^T for each of the four gates
    assert cost.parameters == 4 * H * (H + D) + 4 * H
    # kept per step: X = [h(t-1); x], c(t-1), f, i, c~, o, tanh(c), and 1 - f, 1 - i, 1 - o
    # (c itself is not needed: the backward pass reads tanh(c))
    assert cost.cached_floats == (H + D) + H + 4 * H + H + 3 * H


def derive(*args, cwd):
    return subprocess.run([sys.executable, "-m", "derive", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_compare_writes_markdown_and_html(tmp_path):
    for suffix in (".md", ".html"):
        out = tmp_path / f"report{suffix}"
        run = derive("compare", "greff_v", "greff_noaf", "greff_cifg", "--out", str(out), cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        text = out.read_text()
        assert "greff_noaf" in text and "greff_cifg" in text and r"\color{red}" in text  # the .html's in its annotations
    page = (tmp_path / "report.html").read_text()
    # offline: MathML the browser draws itself, nothing loaded from anywhere; the marked terms in red
    assert "<script" not in page and "http" not in page.split("<body>")[0] and "<td><math>" in page
    assert 'mathcolor="red"' in page and "&lt;" not in page.split("<body>")[1].split("<table")[0]


def test_compare_prints_markdown_without_out(tmp_path):
    run = derive("compare", "rnn", "gru", cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("<!-- Generated by derive compare (rnn, gru)")


@pytest.mark.parametrize("args,fragment", [
    (["compare", "lstm", "nosuchcell"], "cannot compare 'nosuchcell': unknown cell 'nosuchcell'"),
    (["compare", "lstm"], "at least two cells"),
    (["compare", "lstm", "lstm"], "cell 'lstm' is named twice"),
    (["compare", "lstm", "gru", "--out", "report.pdf"], "expected a file ending in .md or .html"),
    (["compare", "lstm", "gru", "--hidden-size", "0"], "--hidden-size 0"),
])
def test_compare_refuses_clearly(args, fragment, tmp_path):
    run = derive(*args, cwd=tmp_path)
    assert run.returncode == 2 and fragment in run.stderr and "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_compare_names_a_spec_that_fails_and_writes_nothing(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('name = "broken"\n')
    run = derive("compare", "lstm", str(bad), "--out", str(tmp_path / "r.md"), cwd=tmp_path)
    assert run.returncode == 2 and f"cannot compare '{bad}'" in run.stderr and "missing key" in run.stderr
    assert not (tmp_path / "r.md").exists()


def test_compare_refuses_cells_with_different_inputs(tmp_path):
    text = builtin_spec("rnn").source_text.replace('inputs = ["x"]', 'inputs = ["u"]').replace("W @ x", "W @ u")
    text = text.replace('name = "rnn"', 'name = "rnn_u"')
    spec = tmp_path / "rnn_u.toml"
    spec.write_text(text)
    run = derive("compare", "rnn", str(spec), cwd=tmp_path)
    assert run.returncode == 2 and "cannot compare rnn (input 'x') with rnn_u (input 'u')" in run.stderr


def test_every_builtin_cell_has_title_and_reference():
    for name in CATALOG:
        spec = builtin_spec(name)
        assert spec.title and spec.title != name and spec.reference
