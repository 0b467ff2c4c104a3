"""Lock the printed forms: `@` and `*` in code, \\odot and \\sigma in LaTeX, pdflatex compiles."""
import re
import shutil
import subprocess

import pytest
from conftest import CATALOG

from derive.catalog import builtin_spec
from derive.pipeline import generate


def outputs(name):
    return generate(builtin_spec(name))


def test_nico_forward_lines_read_like_the_equations():
    code = outputs("nico")["nico/nico.py"]
    assert "xc = np.concatenate((x, h_prev), axis=1)  # xc = concat(x, h(t-1))" in code
    assert "g = np.tanh(xc @ W_g.T + b_g)  # g = tanh(W_g @ xc + b_g)" in code
    assert "i_pre = xc @ W_i.T + b_i  # pre-activation of i" in code
    assert "i, i_complement = sigmoid_pair(i_pre)  # i = sigmoid(W_i @ xc + b_i); and 1 - i without cancellation" in code
    assert "h = o*s  # h = s * o" in code


def test_backward_lines_carry_their_equation():
    code = outputs("nico")["nico/nico.py"]
    assert "    # (B2) dL/ds(t) = dL/dh(t)*o(t) + dL/ds(t+1)*f(t+1)\n    d_s = d_state[\"s\"] + d_h*o\n" in code
    assert "    d_W_g = d_g_pre.T @ xc\n" in code
    assert "    d_xc = d_f_pre @ W_f + d_g_pre @ W_g + d_i_pre @ W_i + d_o_pre @ W_o\n" in code


def test_code_and_documents_share_equation_tags(cell):
    """Each tagged comment in the code names the left-hand side the documents tag alike."""
    files = outputs(cell)
    code, markdown, tex = (files[f"{cell}/{cell}{suffix}"] for suffix in (".py", ".md", ".tex"))
    comments = dict(re.findall(r"# \((B\d+)\) (\S+) ", code))
    assert comments and sorted(comments, key=lambda t: int(t[1:])) == [f"B{n}" for n in range(1, len(comments) + 1)]
    for tag in comments:
        # a display's \tag, or the label of a row in an aligned block of several (KaTeX and MathJax refuse \tag there)
        assert f"\\tag{{{tag}}}" in markdown or f"&& \\text{{({tag})}}" in markdown, tag
        assert f"\\tag{{{tag}}}" in tex, tag
    nico = outputs("nico")["nico/nico.md"]
    assert re.search(r"^\\frac\{dL\}\{ds\(t\)\} = .*\\tag\{B2\}$", nico, flags=re.M)


def test_generated_module_imports_nothing_from_derive(cell):
    code = outputs(cell)[f"{cell}/{cell}.py"]
    imports = re.findall(r"^\s*(?:import|from)\s+(\S+)", code, flags=re.M)
    assert imports == ["numpy"]


def test_latex_uses_the_cells_product_and_sigma_and_no_circ(cell):
    product = builtin_spec(cell).latex.product  # \odot unless the spec's [latex] says otherwise (nico: *)
    for suffix in (".tex", ".md"):
        text = outputs(cell)[f"{cell}/{cell}{suffix}"]
        assert f" {product} " in text
        assert (r"\odot" in text) == (product == r"\odot")
        uses_sigmoid = "sigmoid(" in builtin_spec(cell).source_text
        assert (r"\sigma\left(" in text) == uses_sigmoid
        for forbidden in (r"\circ", "eqnarray", r"\label", r"\operatorname{Sigmoid}", r"\mathbf{Sigmoid}"):
            assert forbidden not in text


def test_markdown_math_has_no_bar_and_uses_aligned(cell):
    text = outputs(cell)[f"{cell}/{cell}.md"]
    blocks = re.findall(r"\$\$\n(.*?)\n\$\$", text, flags=re.S)
    assert blocks and all("|" not in block for block in blocks)
    # several equations share a block only inside aligned; a tagged one stands alone (\tag is top-level only)
    assert all(b.startswith(r"\begin{aligned}") for b in blocks if "&" in b)
    assert all("\n" not in b and "aligned" not in b for b in blocks if r"\tag{" in b)


def test_headers_name_spec_template_and_do_not_edit(cell):
    for suffix, template in ((".py", "module.py.j2"), (".tex", "document.tex.j2"), (".md", "equations.md.j2")):
        head = outputs(cell)[f"{cell}/{cell}{suffix}"][:400]
        assert f"derive/cells/{cell}.toml" in head and f"templates/{template}" in head and "do not edit" in head


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
@pytest.mark.parametrize("name", CATALOG)
def test_tex_compiles_with_pdflatex(name, tmp_path):
    (tmp_path / f"{name}.tex").write_text(outputs(name)[f"{name}/{name}.tex"])
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
    log = (tmp_path / f"{name}.log").read_text(errors="replace")
    overfull = [line for line in log.splitlines() if line.startswith("Overfull")]
    assert not overfull, f"{len(overfull)} lines run into the margin (derive/tex_layout.py breaks long displays): {overfull[:3]}"


def test_a_long_display_breaks_at_its_sums_then_at_its_products():
    from derive.tex_layout import broken_lines, width

    term = r"\frac{\partial L}{\partial \hat{f}(t+1)} \odot W_{cf}"
    right = " + ".join([term] * 12)
    lines = broken_lines("x", right)
    assert len(lines) > 1
    assert "".join(lines).replace(" ", "") == right.replace(" ", "")  # nothing lost, nothing added
    assert all(line.startswith("+ ") for line in lines[1:]) and all(width(line) < 430 for line in lines)
    product = r" \odot ".join([r"\left(1 - \tanh\left(c(t)\right)^{2}\right)"] * 12)
    pieces = broken_lines("x", product)
    assert len(pieces) > 1 and all(piece.startswith("\\odot ") for piece in pieces[1:])
    assert broken_lines("x", "a + b") == ["a + b"]  # what fits stays on one line


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
def test_tex_of_every_function_and_a_power_compiles_with_pdflatex(tmp_path):
    """sqrt, |.|, max, min, softplus, the indicators and powers in a document: all of it compiles."""
    from derive.pipeline import generate
    from derive.spec import spec_from_text
    from test_elementwise import every_construct_spec

    (tmp_path / "every.tex").write_text(generate(spec_from_text(every_construct_spec(), "every.toml"))["every/every.tex"])
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "every.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


@pytest.mark.parametrize("base, expected", [
    ("g", "\\hat{g}"),
    ("\\sigma_{c}", "\\hat{\\sigma}_{c}"),  # the hat on the symbol, the subscript after it
    ("\\tilde{c}", "z_{\\tilde{c}}"),  # no hat stacked on an accent: z, as z = W x + b is written
    ("\\bar{h}_{1}", "z_{\\bar{h}_{1}}"),
    ("i", "\\hat{\\imath}"),  # an i loses its dot under the hat
    ("\\mathbf{x}_{a_{b}}", "\\hat{\\mathbf{x}}_{a_{b}}"),  # only a subscript outside braces splits
])
def test_a_pre_activation_hat_covers_the_symbol_not_its_subscript(base, expected):
    from derive.notation import hatted

    assert hatted(base) == expected
