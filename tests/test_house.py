"""The house rules of derive/, read from the source with ast: small modules and functions, renderers
that do not import each other, no regex over generated code in the generator, roles compared as
enums. Each rule names the offending place when it breaks."""
import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "derive"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40
# The views of a cell: each reads the cell's stages, none reads another view.
RENDERERS = {"render_numpy", "render_fast", "render_latex", "walkthrough"}
# Modules that make or arrange generated code: what they know of a line is recorded when it is made.
GENERATORS = RENDERERS | {"fast_plan", "fast_forward", "fast_backward", "fused", "stepcode", "inplace", "backward_code", "emit",
                          "pipeline", "forward_code"}
ROLE_ATTRIBUTES = {"role", "kind"}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def imported_modules(module: ast.Module) -> set[str]:
    """The derive modules a module imports (from .x import y, from . import x, import re, ...)."""
    names = set()
    for node in ast.walk(module):
        if isinstance(node, ast.ImportFrom):
            if node.level and node.module:
                names.add(node.module.split(".")[0])
            elif node.level:
                names |= {alias.name for alias in node.names}
            elif node.module:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_are_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines (at most {MAX_MODULE_LINES})"
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree(path))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_no_renderer_imports_another(name):
    others = imported_modules(tree(PACKAGE / f"{name}.py")) & (RENDERERS - {name})
    assert not others, f"{name}.py imports the renderer(s) {sorted(others)}: share through a stage module instead"


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_read_no_printed_code_back(name):
    assert "re" not in imported_modules(tree(PACKAGE / f"{name}.py")), (
        f"{name}.py imports re: what a generated line reads is recorded when the line is made, never matched in its text")


def string_comparisons_of_roles(module: ast.Module) -> list[int]:
    """Lines comparing x.role or x.kind with a string (==, !=, in a tuple of strings)."""
    found = []
    for node in ast.walk(module):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        reads_role = any(isinstance(side, ast.Attribute) and side.attr in ROLE_ATTRIBUTES for side in sides)
        constants = [c for side in sides for c in ([side] if isinstance(side, ast.Constant) else getattr(side, "elts", []))]
        if reads_role and any(isinstance(c, ast.Constant) and isinstance(c.value, str) for c in constants):
            found.append(node.lineno)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_roles_are_compared_as_enums(path):
    lines = string_comparisons_of_roles(tree(path))
    assert not lines, f"{path.name} compares a role with a string at lines {lines}: use the Role, LineRole or UseKind enum"


def test_the_checks_catch_what_they_guard_against():
    """Each rule fails on a small example of what it forbids."""
    assert string_comparisons_of_roles(ast.parse('if line.role == "param": pass')) == [1]
    assert string_comparisons_of_roles(ast.parse('ok = v.kind in ("elementwise", "block")')) == [1]
    assert string_comparisons_of_roles(ast.parse("ok = line.role == LineRole.PARAM")) == []
    assert imported_modules(ast.parse("from .render_fast import fast_view\nimport re")) == {"render_fast", "re"}
    assert imported_modules(ast.parse("from . import naming")) == {"naming"}


def test_the_readme_layout_names_every_module():
    """The README's Layout section is the current picture of the house: a new module appears in it."""
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("```", layout.index("```") + 3)]
    words = set(re.findall(r"[A-Za-z_]+", layout))
    missing = [str(path.relative_to(PACKAGE)) for path in MODULES
               if path.stem not in words and path.stem not in ("__init__", "__main__")]
    assert not missing, f"README Layout does not name: {missing}"
