"""A user's --templates folder is outside text too: its templates run in Jinja's sandbox and what
they write must be valid Python before anything is written."""
import pytest
from test_hostile import _Watch

from derive.catalog import builtin_spec
from derive.errors import DeriveError
from derive.pipeline import build

# Each reaches for Python objects the sandbox must not hand out, or for the views' insides.
ESCAPES = {
    "lipsum-globals": "{{ lipsum.__globals__['os'].popen('touch PWNED').read() }}",
    "cycler-init": "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
    "string-mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "format-attribute": "{{ '{0.__class__}'.format(name) }}",
    "context-reference": "{{ self._TemplateReference__context }}",
    "mutate-a-view": "{{ states.append('x') }}",
    "huge-range": "{% for i in range(10**9) %}{% endfor %}",
}


def build_with(template_text: str, tmp_path, name: str = "module.py.j2"):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / name).write_text(template_text)
    out = tmp_path / "out"
    _Watch.seen.clear()
    _Watch.on = True
    try:
        with pytest.raises(DeriveError) as caught:
            build([builtin_spec("rnn")], out, templates=folder)
    finally:
        _Watch.on = False
    assert _Watch.seen == [], f"a template ran code: {_Watch.seen}"
    assert not out.exists(), "nothing is written"
    assert not (tmp_path / "PWNED").exists()
    return str(caught.value)


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_template_cannot_reach_python(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = build_with(ESCAPES[case], tmp_path)
    assert message.startswith("template ") and "module.py.j2:1" in message, message


def test_a_template_that_writes_invalid_python_is_refused(tmp_path):
    message = build_with("def broken(:\n", tmp_path)
    assert "not valid Python, line 1" in message, message


def test_an_undefined_name_is_reported_with_its_line(tmp_path):
    message = build_with("# a comment\n{{ nothing_here }}\n", tmp_path)
    assert "module.py.j2:2" in message and "'nothing_here' is undefined" in message, message
