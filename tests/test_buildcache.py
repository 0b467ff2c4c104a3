"""A rebuild skips unchanged cells, and never skips one whose spec, templates or outputs changed."""
import pytest
from conftest import spec_path

from derive import pipeline
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
