"""The README's set-up commands are the ones CI runs, and its example spec builds."""
import re

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    command = re.search(r"<!-- test-command:.*?-->\n```bash\n(.*?)\n```", README, flags=re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == command


def test_readme_example_spec_builds_and_its_quoted_line_is_real(tmp_path):
    from derive.gradcheck import gradcheck
    from derive.loader import load_generated
    from derive.pipeline import generate
    from derive.spec import spec_from_text

    toml = re.search(r"## A cell in ten lines\n\n```toml\n(.*?)```", README, flags=re.S).group(1)
    spec = spec_from_text(toml, "tiny_gru.toml")
    source = generate(spec)["tiny_gru/tiny_gru.py"]
    quoted = re.search(r"```python\n(.*?)```", README, flags=re.S).group(1)
    for line in quoted.splitlines():
        assert line in source.splitlines(), f"README quotes a line the generator does not write: {line!r}"
    assert max(row.error for row in gradcheck(load_generated(source, "tiny_gru"))) < 1e-6


def test_the_readme_says_what_derive_latex_prints_a_blog_needs():
    """What a blogger adds to a Hugo site is written once in derive/flavors.py, printed by derive latex and
    tested by tests/test_blog_engines.py: the README must say the same lines."""
    from derive.flavors import COMMONMARK_HEAD, HUGO_CONFIG, HUGO_HEAD_LINE, HUGO_MATH_PARTIAL, MATHJAX_URL

    lines = [line.strip() for line in README.splitlines()]  # the README indents the hugo.toml block in a list
    config = [line for line in HUGO_CONFIG.splitlines()]
    assert any(lines[i:i + len(config)] == config for i in range(len(lines))), "the hugo.toml lines"
    assert HUGO_HEAD_LINE in README and HUGO_MATH_PARTIAL.strip() in README
    assert MATHJAX_URL in README
    head = COMMONMARK_HEAD.splitlines()  # the CommonMark post's lines (and an older Hugo's)
    assert any(lines[i:i + len(head)] == head for i in range(len(lines))), "the MathJax lines of the CommonMark post"


def test_the_readme_check_example_is_what_derive_check_prints(capsys):
    """The worked example of "Check your own derivation": its mine.toml reads, and every line of the quoted
    report (but the elided "...") is a line derive check prints for the gallery file."""
    from derive.cli import main
    from derive.hand_read import backward_equations

    section = README[README.index("## Check your own derivation"):]
    toml = re.search(r"```toml\n# mine.toml\n(.*?)```", section, flags=re.S).group(1)
    assert len(backward_equations(toml, "mine.toml")) == 6
    report = re.search(r"```\n\$ (derive check .*?)\n(.*?)```", section, flags=re.S)
    assert main(report.group(1).split()[1:]) == 1
    printed = capsys.readouterr().out.splitlines()
    for line in report.group(2).splitlines():
        assert line.strip() == "..." or line in printed, f"README quotes a line derive check does not print: {line!r}"
    assert main(["check", "nico_tanh", "--backward", "/dev/null"]) == 2  # not a regular file: a clear error
