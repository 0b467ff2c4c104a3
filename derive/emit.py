"""Stage 6: render a derivation through the Jinja templates into file contents.

Templates live in the top-level templates/ folder of the project; a wheel carries them
inside the package (see pyproject.toml), an editable install reads them from the source
tree. A user's --templates folder overrides them one file at a time.
"""
from __future__ import annotations

from pathlib import Path

import jinja2

from .derivation import Derivation
from .errors import DeriveError
from .notation import Notation
from .render_latex import latex_view, tex_escape
from .render_numpy import numpy_view

TEMPLATES = {  # output suffix -> template that renders it
    ".py": "module.py.j2",
    ".tex": "document.tex.j2",
    ".md": "equations.md.j2",
}


def default_templates_dir() -> Path:
    """The templates shipped with derive: inside the package (wheel) or beside it (source, editable)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / TEMPLATES[".py"]).is_file():
            return candidate
    raise DeriveError(f"derive's templates are missing: looked in {here / 'templates'} and {here.parent / 'templates'}")


def environment(user_dir: Path | None = None) -> jinja2.Environment:
    folders = [str(user_dir)] if user_dir else []
    folders.append(str(default_templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the outputs are code and LaTeX, not HTML
    )
    env.filters["tex_escape"] = tex_escape
    return env


def render_outputs(derivation: Derivation, spec_path: str, env: jinja2.Environment) -> dict[str, str]:
    """File name (relative to the output folder) -> content, for one cell."""
    spec = derivation.model.spec
    notation = Notation(derivation)
    common = {"name": spec.name, "title": spec.title, "reference": spec.reference, "spec_path": spec_path}
    views = {".py": numpy_view(derivation, notation), ".tex": latex_view(derivation, notation)}
    views[".md"] = views[".tex"]
    outputs = {}
    for suffix, template in TEMPLATES.items():
        try:
            text = env.get_template(template).render(**common, **views[suffix])
        except jinja2.TemplateError as error:
            where = f"{getattr(error, 'filename', None) or template}:{getattr(error, 'lineno', '?')}"
            raise DeriveError(f"template {where}: {error}") from None
        outputs[f"{spec.name}/{spec.name}{suffix}"] = text
    return outputs
