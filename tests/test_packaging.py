"""templates/ (and the experiments subpackage with its text) are found after `pip install .` (a wheel)
and after `pip install -e .` (editable).

Each case copies the project, installs it into a fresh virtual environment that reuses this
one's packages (no network), and runs the installed `derive` from another folder.
"""
import shutil
import site
import subprocess
import sys

import pytest
from conftest import ROOT
from pathlib import Path

pytest.importorskip("hatchling", reason="the install tests build with hatchling (pip install -e '.[test]')")
PROJECT_FILES = ("derive", "templates", "pyproject.toml", "README.md")


def copy_project(target):
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)


def reuse_packages(python):
    """Let the new environment import this one's packages (sympy, numpy, jinja2, hatchling).

    Directories named in a .pth file are added to sys.path without reading their own .pth
    files, so the derive this test suite runs from does not leak into the new environment.
    """
    venv_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip()
    outer = [path for path in site.getsitepackages() + [site.getusersitepackages()]]
    (Path(venv_site) / "_outer_packages.pth").write_text("\n".join(outer) + "\n")


@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_installed_derive_finds_its_templates(editable, tmp_path):
    source, venv, work = tmp_path / "src", tmp_path / "venv", tmp_path / "work"
    source.mkdir(), work.mkdir()
    copy_project(source)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    reuse_packages(python)
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    install += ["-e", str(source)] if editable else [str(source)]
    subprocess.run(install, check=True, capture_output=True)
    probe = ("import derive, derive.emit, derive.experiments.train as train; print(derive.__file__); "
             "print(derive.emit.default_templates_dir()); print(train.__file__); print(len(train.default_text()[0]))")
    where = subprocess.run([str(python), "-c", probe], cwd=work, check=True, capture_output=True, text=True).stdout.split("\n")
    module_file, templates, experiments = where[0], where[1], where[2]
    if editable:
        assert module_file.startswith(str(source)), module_file
        assert templates == str(source / "templates")
    else:
        assert module_file.startswith(str(venv)), module_file
        assert templates.startswith(str(venv)) and templates.endswith("derive/templates")
    # The experiments subpackage travels too, and the chars task finds its shipped text (derive/data).
    assert experiments.startswith(str(source if editable else venv)), experiments
    assert experiments.endswith("derive/experiments/train.py") and int(where[3]) > 0
    run = subprocess.run([str(venv / "bin" / "derive"), "build", "nico", "--out", "out"], cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (work / "out" / "nico" / "nico.py").read_text() == (ROOT / "generated" / "nico" / "nico.py").read_text()
