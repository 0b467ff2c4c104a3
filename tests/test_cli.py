"""The command line as a user meets it: help with examples, list, build, --check, gradcheck."""
import re
import subprocess
import sys

import pytest
from conftest import CATALOG, ROOT


def derive(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "derive", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", [[], ["list"], ["build"], ["gradcheck"]])
def test_help_shows_an_example(command):
    run = derive(*command, "--help")
    assert run.returncode == 0
    assert "example" in run.stdout and "derive " in run.stdout


def test_list_names_every_builtin_cell_with_title_and_reference():
    run = derive("list")
    assert run.returncode == 0
    for name in CATALOG:
        assert re.search(rf"^{name}\s+\S", run.stdout, flags=re.M)
    assert "Simple LSTM" in run.stdout and "Deriving LSTM Gradient for Backpropagation" in run.stdout


def test_build_check_is_clean_on_the_committed_outputs():
    run = derive("build", "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 would change" in run.stdout


def test_build_then_check_names_a_changed_file(tmp_path):
    assert derive("build", "nico", "--out", str(tmp_path), cwd=tmp_path).returncode == 0
    target = tmp_path / "nico" / "nico.md"
    target.write_text(target.read_text() + "edited\n")
    run = derive("build", "nico", "--out", str(tmp_path), "--check", cwd=tmp_path)
    assert run.returncode == 1
    assert f"would change: {target}" in run.stdout
    assert target.read_text().endswith("edited\n"), "--check writes nothing"
    rebuilt = derive("build", "nico", "--out", str(tmp_path), cwd=tmp_path)
    assert rebuilt.returncode == 0 and "1 written, 7 unchanged" in rebuilt.stdout


def test_build_with_an_overriding_template(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "equations.md.j2").write_text("# {{ title }}\n{% for eq in forward %}{{ eq.left }}\n{% endfor %}")
    run = derive("build", "nico", "--out", str(tmp_path / "out"), "--templates", str(templates), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "nico" / "nico.md").read_text().startswith("# Simple LSTM\n")
    assert "def backward(" in (tmp_path / "out" / "nico" / "nico.py").read_text(), "other templates stay derive's"


def test_a_broken_template_is_reported_not_raised(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "equations.md.j2").write_text("{{ no_such_value }}")
    run = derive("build", "nico", "--out", str(tmp_path / "out"), "--templates", str(templates), cwd=tmp_path)
    assert run.returncode == 2 and "equations.md.j2" in run.stderr and "no_such_value" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["nico", "lstm"])
def test_gradcheck_reports_each_array_below_1e_6(name):
    run = derive("gradcheck", name)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = re.findall(r"^(\S+)\s+(\d+)\s+([0-9.e+-]+)$", run.stdout, flags=re.M)
    assert {row[0] for row in rows} >= {"W_i", "b_o", "xs"}
    assert all(float(error) < 1e-6 for _, _, error in rows)


def test_gradcheck_rejects_silly_sizes():
    run = derive("gradcheck", "nico", "--hidden-size", "0")
    assert run.returncode == 2 and "--hidden-size 0" in run.stderr and "Traceback" not in run.stderr


def test_console_script_is_installed():
    from shutil import which

    assert which("derive"), "pip install puts a `derive` command on the PATH"
