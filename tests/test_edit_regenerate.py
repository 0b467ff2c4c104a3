"""Edit an equation, regenerate, and the checks still pass: no code change needed."""
import numpy as np
from conftest import module_from_file, spec_path

from derive.gradcheck import gradcheck

oracle = __import__("pytest").importorskip("oracle")


def edited_nico(tmp_path):
    text = spec_path("nico").read_text()
    assert "h = s * o\n" in text
    text = text.replace('name = "nico"', 'name = "nico_edit"').replace("h = s * o\n", "h = tanh(s) * o\n")
    path = tmp_path / "nico_edit.toml"
    path.write_text(text)
    return path


def test_tanh_on_s_builds_and_passes_finite_differences(tmp_path):
    module = module_from_file(edited_nico(tmp_path))
    assert max(row.error for row in gradcheck(module)) < 1e-6


def test_tanh_on_s_agrees_with_the_oracle(tmp_path):
    path = edited_nico(tmp_path)
    module = module_from_file(path)
    problem = oracle.random_problem(path, 3, 2, 3, 4, seed=11)
    outputs, cache = module.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    grads, dxs, d_state0 = module.backward_sequence(problem["params"], cache, problem["d_outputs"], problem["d_state_last"])
    expected = oracle.oracle_gradients(path, **problem)
    for name in module.PARAM_SHAPES:
        np.testing.assert_allclose(grads[name], expected["params"][name], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dxs, expected["xs"], rtol=1e-10, atol=1e-12)


def test_the_edit_changes_the_cell_state_adjoint(tmp_path):
    """dL/ds(t) gains the tanh' factor: 1 - tanh(s)^2."""
    from derive.pipeline import generate
    from derive.spec import load_spec

    markdown = generate(load_spec(edited_nico(tmp_path)))["nico_edit/nico_edit.md"]
    assert r"\left(1 - \tanh\left(s(t)\right)^{2}\right)" in markdown
