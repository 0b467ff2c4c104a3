"""Stages 8 and 9: render views through the Jinja templates into file contents, and the posts' flavours.

This stage knows templates and nothing of derivations: the pipeline hands it views (plain
strings, lists and frozen records) and gets file contents back.

Templates live in the top-level templates/ folder of the project; a wheel carries them
inside the package (see pyproject.toml), an editable install reads them from the source
tree. A user's --templates folder overrides them one file at a time.
"""
from __future__ import annotations

import traceback
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import escape, mathml, tex_layout
from .errors import DeriveError
from .flavors import FLAVORS, to_flavor

COMPARISON_TEMPLATES = {".md": "comparison.md.j2", ".html": "comparison.html.j2"}
TEMPLATES = {  # output suffix -> template that renders it
    ".py": "module.py.j2",
    ".tex": "document.tex.j2",
    ".md": "equations.md.j2",
    ".html": "page.html.j2",
    "_torch.py": "module_torch.py.j2",
}


def default_templates_dir() -> Path:
    """The templates shipped with derive: inside the package (wheel) or beside it (source, editable)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / TEMPLATES[".py"]).is_file():
            return candidate
    raise DeriveError(f"derive's templates are missing: looked in {here / 'templates'} and {here.parent / 'templates'}")


def environment(user_dir: Path | None = None) -> jinja2.Environment:
    """The templates' environment: a user's folder first, then derive's. Sandboxed, since a user's
    template is outside text too: no attribute starting with _ (so no lipsum.__globals__), no
    unsafe methods, no mutation of the views; a violation is a SecurityError, reported as a DeriveError."""
    folders = [str(user_dir)] if user_dir else []
    folders.append(str(default_templates_dir()))
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the outputs are code and LaTeX, not HTML
    )
    env.filters.update(escape.FILTERS)  # one per context an outside string lands in: see derive/escape.py
    env.filters["tex_lines"] = lambda right, left: tex_layout.broken_lines(left, right)  # a long display, broken
    env.filters.update({"math": mathml.math, "math_block": lambda latex: mathml.math(latex, display=True),
                        "math_aligned": mathml.aligned, "math_prose": mathml.prose})  # the offline page's MathML
    return env


def _render(env: jinja2.Environment, template: str, context: dict) -> str:
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateSyntaxError as error:
        raise DeriveError(f"template {error.filename or template}:{error.lineno}: {error}") from None
    except Exception as error:  # at run time: an undefined name, a sandbox refusal, {{ 1/0 }}
        raise DeriveError(f"template {_template_line(error, template)}: {type(error).__name__}: {error}") from None


def _template_line(error: Exception, template: str) -> str:
    """file:line of the template where a render failed: Jinja puts the template's own lines in the traceback."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.endswith(template)]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else template


def render_comparison(view: dict, suffix: str, env: jinja2.Environment) -> str:
    """The comparison report as Markdown (.md) or an HTML page (.html)."""
    return _render(env, COMPARISON_TEMPLATES[suffix], view)


def render_cell(views: dict[str, dict], env: jinja2.Environment) -> dict[str, str]:
    """File name (relative to the output folder) -> content, for one cell. views maps an output
    suffix (.py, .tex, .md) to what its template reads."""
    name = views[".py"]["name"]
    outputs = {f"{name}/{name}{suffix}": _render(env, template, views[suffix]) for suffix, template in TEMPLATES.items()}
    _check_python(outputs[f"{name}/{name}.py"], TEMPLATES[".py"])
    _check_python(outputs[f"{name}/{name}_torch.py"], TEMPLATES["_torch.py"])
    return outputs


def flavours(outputs: dict[str, str], name: str, title: str) -> dict[str, str]:
    """The post variants of a cell's Markdown, ready to paste: NAME.jekyll.md, NAME.hugo.md, NAME.commonmark.md."""
    markdown = outputs[f"{name}/{name}.md"]
    return {flavor_path(name, flavor): _flavored(markdown, flavor, title) for flavor in FLAVORS}


def _check_python(source: str, template: str) -> None:
    """Refuse a module that is not valid Python (a user's template can write anything); compile only
    parses and compiles, it runs nothing."""
    try:
        compile(source, template, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        text = (getattr(error, "text", None) or "").strip()
        raise DeriveError(f"template {template} wrote a module that is not valid Python, line {line}: "
                          f"{getattr(error, 'msg', error)}" + (f" ({text!r})" if text else "")) from None


def flavor_path(name: str, flavor: str) -> str:
    """Where a cell's Markdown in a blog engine's flavour is written, relative to the output folder."""
    return f"{name}/{name}.{flavor}.md"


def _flavored(markdown: str, flavor: str, title: str) -> str:
    try:
        return to_flavor(markdown, flavor, title)
    except ValueError as error:  # math a flavour cannot carry (a user's template can write anything)
        raise DeriveError(f"the {flavor} flavour of the Markdown: {error}") from None
