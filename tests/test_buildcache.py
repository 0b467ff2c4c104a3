"""A rebuild skips unchanged cells, and never skips one whose spec, templates, outputs or generating
code changed; editing code that does not generate (the CLI, the experiments) keeps every cell."""
import shutil
import subprocess
import sys

import pytest
from conftest import spec_path

from derive import buildcache, pipeline
from derive.catalog import builtin_spec
from derive.spec import load_spec


@pytest.fixture
def built(tmp_path):
    out = tmp_path / "out"
    pipeline.build([builtin_spec("nico"), builtin_spec("rnn")], out)
    return out


def forbid_generation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cell was generated again although nothing changed")
    monkeypatch.setattr(pipeline, "work_out", refuse)


def test_unchanged_cells_are_not_generated_again(built, monkeypatch):
    forbid_generation(monkeypatch)
    result = pipeline.build([builtin_spec("nico"), builtin_spec("rnn")], built)
    assert result.changed == ()


def test_a_hand_edited_output_is_regenerated(built):
    target = built / "nico" / "nico.md"
    original = target.read_text()
    target.write_text("edited\n")
    result = pipeline.build([builtin_spec("nico")], built)
    assert result.changed == ("nico/nico.md",) and target.read_text() == original


def test_a_deleted_output_is_regenerated(built):
    (built / "rnn" / "rnn.py").unlink()
    assert pipeline.build([builtin_spec("rnn")], built).changed == ("rnn/rnn.py",)


def test_an_edited_spec_is_regenerated(built, tmp_path):
    edited = tmp_path / "nico.toml"
    edited.write_text(spec_path("nico").read_text().replace("h = s * o", "h = tanh(s) * o"))
    result = pipeline.build([load_spec(edited)], built)
    assert "nico/nico.py" in result.changed


def test_a_new_template_regenerates(built, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "equations.md.j2").write_text("# {{ title }}\n")
    result = pipeline.build([builtin_spec("nico")], built, templates=templates)
    # the Markdown and the three blog-engine flavours made from it
    assert sorted(result.changed) == ["nico/nico.commonmark.md", "nico/nico.hugo.md", "nico/nico.jekyll.md", "nico/nico.md"]


MARKDOWN_FILES = ["nico/nico.commonmark.md", "nico/nico.hugo.md", "nico/nico.jekyll.md", "nico/nico.md"]
TEMPLATES_READING_OTHER_FILES = {  # the template, and the file it reads that the test edits
    "include": ('{% include "header.txt" %}# {{ title }}\n', "header.txt"),
    "a subfolder": ('{% include "parts/header.txt" %}# {{ title }}\n', "parts/header.txt"),
    "import": ('{% import "macros/title.j2" as m %}{{ m.title(title) }}\n', "macros/title.j2"),
    "extends": ('{% extends "base/page.j2" %}{% block body %}# {{ title }}{% endblock %}\n', "base/page.j2"),
}
READ_FILES = {"header.txt": "header one\n", "parts/header.txt": "header one\n",
              "macros/title.j2": "{% macro title(t) %}# {{ t }}\n\nmacro one{% endmacro %}",
              "base/page.j2": "one\n{% block body %}{% endblock %}\n"}


@pytest.mark.parametrize("how", TEMPLATES_READING_OTHER_FILES)
def test_an_edited_file_that_a_template_reads_regenerates(built, tmp_path, how):
    template, read = TEMPLATES_READING_OTHER_FILES[how]
    templates = tmp_path / "templates"
    (templates / read).parent.mkdir(parents=True, exist_ok=True)
    (templates / "equations.md.j2").write_text(template)
    (templates / read).write_text(READ_FILES[read])
    pipeline.build([builtin_spec("nico")], built, templates=templates)
    (templates / read).write_text(READ_FILES[read].replace("one", "two"))
    check = pipeline.build([builtin_spec("nico")], built, templates=templates, check=True)
    assert sorted(check.changed) == MARKDOWN_FILES, "--check names the files the edit changes"
    result = pipeline.build([builtin_spec("nico")], built, templates=templates)
    assert sorted(result.changed) == MARKDOWN_FILES and "two" in (built / "nico" / "nico.md").read_text()


def test_check_renders_every_cell_and_trusts_no_cache(built, monkeypatch):
    rendered = []
    real_work_out = pipeline.work_out
    monkeypatch.setattr(pipeline, "work_out", lambda spec: rendered.append(spec.name) or real_work_out(spec))
    result = pipeline.build([builtin_spec("nico"), builtin_spec("rnn")], built, check=True)
    assert result.changed == () and rendered == ["nico", "rnn"]


# --------------------------------------------------------------------------- the code in the key

INSTALLED = buildcache.PACKAGE  # this derive, before a test points the key at a copy

def test_the_key_reads_the_import_closure_of_pipeline():
    modules = set(buildcache.generating_modules(buildcache.PACKAGE))
    # explain is imported inside a function of pipeline; __init__ runs whenever pipeline is imported
    assert {"pipeline.py", "model.py", "derivation.py", "explain.py", "emit.py", "__init__.py"} <= modules
    assert not {"cli.py", "arguments.py", "__main__.py", "loader.py", "api.py"} & modules  # __init__ imports api lazily
    assert not [name for name in modules if name.startswith("experiments/")]


SMALL_PACKAGE = {  # a module's text, and whether pipeline.py's closure holds it
    "__init__.py": ("", True),
    "pipeline.py": ("import json\nfrom .a import thing\nfrom . import b\n\ndef later():\n    from .c import x\n", True),
    "a.py": ('"""A docstring line that reads like one:\nfrom the spec import names\n"""\nfrom .pkg.d import y\n'
             "from .m import (\n    one,\n    two,\n)\nfrom .n import \\\n    three\n", True),
    "m.py": ("", True),  # imported over several lines in parentheses
    "n.py": ("", True),  # imported over a backslash continuation
    "b.py": ("", True),
    "c.py": ("", True),
    "pkg/__init__.py": ("", True),
    "pkg/d.py": ("from .. import e\nfrom . import f\nfrom ..sub.deep import z\n", True),
    "pkg/f.py": ("", True),
    "sub/__init__.py": ("", True),  # imported on the way to sub.deep
    "sub/deep.py": ("", True),
    "e.py": ("from .pkg import g\nimport derive.h\nfrom derive.i import w\n", True),
    "pkg/g.py": ("", True),
    "h.py": ("", True),
    "i.py": ("", True),
    "outside.py": ("from . import pipeline\n", False),  # imports pipeline; pipeline does not import it
    "pkg/unused.py": ("", False),
}


def test_the_closure_follows_every_kind_of_import(tmp_path):
    package = tmp_path / "derive"
    for name, (text, _) in SMALL_PACKAGE.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert buildcache.generating_modules(package) == sorted(name for name, (_, held) in SMALL_PACKAGE.items() if held)


def test_every_module_a_build_loads_is_in_the_closure():
    """Independent of the reading: the files of what Python actually imports for a build and its debug view."""
    code = ("import sys, pathlib, derive, derive.pipeline, derive.explain\n"
            "root = pathlib.Path(derive.__file__).parent\n"
            "for name, module in sys.modules.items():\n"
            "    if name.split('.')[0] == 'derive': print(pathlib.Path(module.__file__).relative_to(root).as_posix())\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=INSTALLED.parent).stdout.split()
    assert "model.py" in loaded and set(loaded) - set(buildcache.generating_modules(INSTALLED)) == set()


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """derive's modules copied elsewhere; the key is read from the copy, which the test may edit."""
    copy = tmp_path / "elsewhere" / "derive"
    shutil.copytree(buildcache.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(buildcache, "PACKAGE", copy)
    monkeypatch.setattr(buildcache, "__file__", str(copy / "buildcache.py"))  # for code that finds itself anew
    return copy


def edit(path):
    with open(path, "a") as file:
        file.write("\n# edited\n")


def test_the_key_does_not_depend_on_where_derive_is_installed(package_copy, monkeypatch):
    copied = buildcache.generator_digest([])
    monkeypatch.setattr(buildcache, "PACKAGE", INSTALLED)
    monkeypatch.setattr(buildcache, "__file__", str(INSTALLED / "buildcache.py"))
    assert buildcache.generator_digest([]) == copied


@pytest.mark.parametrize("module", ["cli.py", "arguments.py", "api.py", "experiments/train.py", "experiments/commands.py"])
def test_editing_a_module_that_does_not_generate_keeps_the_key(package_copy, module):
    before = buildcache.generator_digest([])
    edit(package_copy / module)
    assert buildcache.generator_digest([]) == before


@pytest.mark.parametrize("module", ["derivation.py", "pipeline.py", "explain.py", "__init__.py"])
def test_editing_a_module_that_generates_changes_the_key(package_copy, module):
    before = buildcache.generator_digest([])
    edit(package_copy / module)
    assert buildcache.generator_digest([]) != before


def test_a_build_after_editing_the_cli_generates_nothing_and_after_editing_the_derivation_everything(built, package_copy,
                                                                                                       monkeypatch):
    worked = []
    real_work_out = pipeline.work_out
    monkeypatch.setattr(pipeline, "work_out", lambda spec: worked.append(spec.name) or real_work_out(spec))
    edit(package_copy / "cli.py")
    edit(package_copy / "experiments" / "race.py")
    assert pipeline.build([builtin_spec("nico"), builtin_spec("rnn")], built).changed == () and worked == []
    edit(package_copy / "derivation.py")
    assert pipeline.build([builtin_spec("nico"), builtin_spec("rnn")], built).changed == () and worked == ["nico", "rnn"]
