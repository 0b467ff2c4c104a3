"""The generated Markdown's math renders in real renderers: KaTeX and MathJax 3, run by node.

tests/render/check_math.mjs does the rendering, with the versions pinned by tests/render/package-lock.json
(`npm ci --prefix tests/render` installs them). Negative controls prove the check can fail, so a passing run
means the formulas were really parsed, not that errors were swallowed.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RENDER = ROOT / "tests" / "render"
CHECKER = RENDER / "check_math.mjs"
# The canonical Markdown (dollar math) and COMPARISON.md; the blog-engine flavours, NAME.jekyll.md and the like,
# delimit math their own ways and are read and rendered by tests/test_flavors.py.
GENERATED_MD = sorted(path for path in (ROOT / "generated").glob("**/*.md") if len(path.suffixes) == 1)


# --- Finding the math in Markdown ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Math:
    """One way a Markdown flavour delimits math."""

    open: str
    close: str
    display: bool
    block: bool  # True: each delimiter stands alone on its own line; False: a span within one line


# What the generated Markdown uses (the dollar syntax of GitHub, pandoc and most blog engines).
# Another flavour is another row, e.g. Math(r"\[", r"\]", display=True, block=True).
DELIMITERS = (
    Math("$$", "$$", display=True, block=True),
    Math("$", "$", display=False, block=False),
)
CODE_FENCES = ("```", "~~~")


def _inline_pattern(delimiters) -> tuple[re.Pattern, dict[str, Math]]:
    """One regex for a line: a code span (matched so that it is skipped) or any inline math span; and which
    delimiter each math group name stands for.

    Math content is scanned a backslash pair at a time, so an escaped delimiter (`\\$`) neither opens nor
    closes a span; as in pandoc, no space may sit just inside the delimiters, which keeps prose such as
    "costs $ 5 and $ 6" from becoming math.
    """
    alternatives = [r"(?P<code>(`+).+?\2)"]
    spans = {}
    # Longest opener first, so that a flavour with both $$ and $ spans tries $$ first.
    for i, d in enumerate(sorted((d for d in delimiters if not d.block), key=lambda d: -len(d.open))):
        spans[f"m{i}"] = d
        alternatives.append(
            rf"(?<!\\){re.escape(d.open)}(?!\s)(?P<m{i}>(?:\\.|[^\\])+?)(?<!\s){re.escape(d.close)}"
        )
    return re.compile("|".join(alternatives)), spans


def math_blocks(path: Path, delimiters=DELIMITERS) -> list[dict]:
    """The math of a Markdown file, as check_math.mjs items: {"where": "file:line", "tex", "display"}.

    Display blocks run from a line holding only the opening delimiter to one holding only the closing one
    (where = the opening line). Inline spans are looked for in every other line outside code fences, with
    backtick code spans skipped.
    """
    pattern, spans = _inline_pattern(delimiters)
    blocks = [d for d in delimiters if d.block]
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    items: list[dict] = []
    fence = None  # the open code fence, if inside one
    block = None  # (delimiter, line number, lines so far) of the open display block, if inside one
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if block is not None:
            delimiter, start, lines = block
            if stripped == delimiter.close:
                items.append({"where": f"{name}:{start}", "tex": "\n".join(lines), "display": delimiter.display})
                block = None
            else:
                lines.append(line)
        elif fence is not None:
            if stripped.startswith(fence):
                fence = None
        elif opener := next((d for d in blocks if stripped == d.open), None):
            # Checked before code fences, so a fenced flavour (```math) can be a row of the table.
            block = (opener, number, [])
        elif fence := next((f for f in CODE_FENCES if stripped.startswith(f)), None):
            pass
        else:
            for match in pattern.finditer(line):
                group, tex = next((g, t) for g, t in match.groupdict().items() if t is not None)
                if group != "code":
                    items.append({"where": f"{name}:{number}", "tex": tex, "display": spans[group].display})
    if block is not None:
        raise ValueError(f"{name}:{block[1]}: display math opened with {block[0].open!r} is never closed")
    return items


# --- Running the renderers -----------------------------------------------------------------------------------


def render_check(items: list[dict]) -> list[dict]:
    """Render every item with KaTeX and MathJax; the failures, each {"where", "renderer", "message", "tex"}."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the KaTeX/MathJax render check needs Node.js")
    if not (RENDER / "node_modules").is_dir():
        pytest.fail(
            "tests/render/node_modules is missing: run `npm ci --prefix tests/render` "
            "(CI runs it before pytest)",
            pytrace=False,
        )
    result = subprocess.run(
        ["node", str(CHECKER)],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )
    if result.returncode not in (0, 1):  # 2 is bad input; anything else is node or the script breaking
        raise RuntimeError(f"check_math.mjs exited {result.returncode}:\n{result.stderr}")
    report = json.loads(result.stdout)
    assert report["count"] == len(items), report
    assert (result.returncode == 1) == bool(report["failures"]), result
    return report["failures"]


def _by_where(failures: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for failure in failures:
        grouped[failure["where"]].append(failure)
    return grouped


def _describe(failures: list[dict]) -> str:
    return "\n".join(f"{f['where']} [{f['renderer']}] {f['message']}\n    {f['tex']!r}" for f in failures)


# --- The generated Markdown ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated_failures() -> dict[Path, list[dict]]:
    """All generated files' math rendered in one node run (startup is paid once); failures by file."""
    items = {path: math_blocks(path) for path in GENERATED_MD}
    failures = render_check([item for file_items in items.values() for item in file_items])
    by_file = defaultdict(list)
    for failure in failures:
        by_file[failure["where"].rsplit(":", 1)[0]].append(failure)
    return {path: by_file[path.relative_to(ROOT).as_posix()] for path in items}


def test_the_math_of_every_function_and_a_power_renders(tmp_path):
    """The LaTeX of the new functions (sqrt, |.|, max, min, 1[a >= b], ...) and powers, in KaTeX and MathJax."""
    from derive.pipeline import generate
    from derive.spec import spec_from_text
    from test_elementwise import every_construct_spec

    path = tmp_path / "every.md"
    path.write_text(generate(spec_from_text(every_construct_spec(), "every.toml"))["every/every.md"])
    items = math_blocks(path)
    assert any(r"\geq" in item["tex"] for item in items) and any(r"\sqrt" in item["tex"] for item in items)
    failures = render_check(items)
    assert not failures, _describe(failures)


def test_generated_markdown_exists():
    assert GENERATED_MD, "no generated/**/*.md to check"


@pytest.mark.parametrize("path", GENERATED_MD, ids=[p.name for p in GENERATED_MD])
def test_generated_math_renders(path, generated_failures):
    assert math_blocks(path), f"{path.name}: no math found (has the Markdown's math syntax changed?)"
    failures = generated_failures[path]
    assert not failures, f"{len(failures)} formula(s) in {path.name} fail to render:\n{_describe(failures)}"


def test_math_blocks_finds_display_inline_and_skips_code(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Intro with $a$ and `$not math$` and \\$5, $b_{1}$.\n"  # 1
        "$$\n"  # 2
        "\\begin{aligned}\n"  # 3
        "x &= y\n"  # 4
        "\\end{aligned}\n"  # 5
        "$$\n"  # 6
        "```python\n"  # 7
        "cost = '$x$'\n"  # 8
        "```\n"  # 9
        "| $c$ | costs $ 5 and $ 6 |\n",  # 10
        encoding="utf-8",
    )
    where = str(doc)
    assert math_blocks(doc) == [
        {"where": f"{where}:1", "tex": "a", "display": False},
        {"where": f"{where}:1", "tex": "b_{1}", "display": False},
        {"where": f"{where}:2", "tex": "\\begin{aligned}\nx &= y\n\\end{aligned}", "display": True},
        {"where": f"{where}:10", "tex": "c", "display": False},
    ]


def test_math_blocks_rejects_an_unclosed_display_block(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n$$\nx\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"doc\.md:2"):
        math_blocks(doc)


# --- Controls: the checker fails what it should and passes what it should ------------------------------------

# name -> (tex, display, the renderers that must reject it)
NEGATIVE_CONTROLS = {
    "undefined-macro": (r"\notamacro{x}", False, {"katex", "mathjax"}),
    "label": (r"\label{x} x = 1", True, {"katex"}),  # MathJax accepts \label; KaTeX has none
    "eqnarray": (r"\begin{eqnarray} a &=& b \end{eqnarray}", True, {"katex"}),
    "unbalanced-braces": (r"\frac{a}{b", False, {"katex", "mathjax"}),
}
POSITIVE_CONTROL = r"\frac{\partial L}{\partial s(t)} = \sigma(\hat{g}(t)) \odot \tanh(c(t))"


@pytest.fixture(scope="module")
def control_failures() -> dict[str, list[dict]]:
    items = [{"where": name, "tex": tex, "display": display} for name, (tex, display, _) in NEGATIVE_CONTROLS.items()]
    items += [{"where": f"positive-{mode}", "tex": POSITIVE_CONTROL, "display": mode == "display"}
              for mode in ("inline", "display")]
    return _by_where(render_check(items))


@pytest.mark.parametrize("name", NEGATIVE_CONTROLS)
def test_checker_rejects(name, control_failures):
    tex, _, expected = NEGATIVE_CONTROLS[name]
    rejected_by = {f["renderer"] for f in control_failures[name]}
    assert expected <= rejected_by, f"{tex!r} should fail in {sorted(expected)}, failed in {sorted(rejected_by)}"


def test_checker_accepts_positive_control(control_failures):
    failures = control_failures["positive-inline"] + control_failures["positive-display"]
    assert not failures, _describe(failures)
