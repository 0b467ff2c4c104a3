"""derive.flavors: every built-in cell's Markdown, in every flavour, still carries exactly derive's math.

commonmark: the flavoured document goes through a real CommonMark parser (commonmark.js, pinned by
tests/render/package-lock.json) and the math is read back from the HTML as a browser-side MathJax would find it
(tests/render/commonmark_math.mjs); it must equal the canonical math string for string, which proves the
escaping exact. jekyll and hugo: the math is read with the flavour's own delimiters. Every formula recovered is
then rendered by KaTeX and MathJax (tests/test_renderers.py's render_check). One node run per tool, for all cells.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest
from test_renderers import RENDER, Math, math_blocks, render_check

import derive.flavors
from derive.catalog import builtin_names, builtin_spec
from derive.flavors import FLAVORS, HUGO_CONFIG, JEKYLL_LOADER, MathSpan, math_spans, to_flavor
from derive.emit import flavor_path
from derive.pipeline import generate

NAMES = builtin_names()
CASES = [(flavor, name) for flavor in FLAVORS for name in NAMES]
CASE_IDS = [f"{flavor}-{name}" for flavor, name in CASES]
COMMONMARK = RENDER / "commonmark_math.mjs"
GENERATED = RENDER.parent.parent / "generated"

# How each flavour delimits math, as rows for test_renderers.math_blocks (an extractor independent of derive's).
DELIMITERS = {
    "jekyll": (Math("$$", "$$", display=True, block=True), Math("$$", "$$", display=False, block=False)),
    "hugo": (Math("$$", "$$", display=True, block=True), Math(r"\(", r"\)", display=False, block=False)),
}
YAML_FRONT = re.compile(r'\A---\nlayout: post\ntitle: ("(?:[^"\\\n]|\\.)*")\nmathjax: true\n---\n')
TOML_FRONT = re.compile(r"\A\+\+\+\n(.*?\n)\+\+\+\n", re.DOTALL)


# A document written to trip every CommonMark construct that could reach into math (none of it has to render).
HOSTILE = r"""# Hostile math

Inline: $a<b$, $x <div>$, $<http://example.com>$, $[a](b)$, $[a][b]$, $![a](b)$, $[x]$, $a*b*c$, $a_b_c$.
More: $\_x \* y$, $&amp; &#36; &copy; \&lt;$, $a \\ b$, $\{ \} \, \; \! \# \% \& \~ \^ \' \" \/ \. \[ \] \<$.
Last: $\left[ x \right](t)$, $a`b$, $x\\$, $\|a\|$.

[x]: http://example.com/a-definition-makes-[x]-a-link

$$
- x
+ y
# z
> w
1. v
2) u
===
---
~~~
```
<div>
<!-- c -->
***
___
   - indented
a \\
\left[ x \right](t)
x\
$$
"""


# --- Running commonmark.js -----------------------------------------------------------------------------------


def _display_trimmed(item: dict) -> tuple[str, bool]:
    """(tex, display) as found in HTML; a display block keeps the newlines of its `$$` lines, dropped here."""
    tex = item["tex"]
    if item["display"]:
        tex = tex.removeprefix("\n").removesuffix("\n")
    return tex, item["display"]


def commonmark_math(documents: dict[str, str]) -> dict[str, list[tuple[str, bool]]]:
    """Each document rendered by commonmark.js, and the math found in its HTML, in one node run."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the CommonMark check needs Node.js")
    if not (RENDER / "node_modules" / "commonmark").is_dir():
        pytest.fail("tests/render/node_modules/commonmark is missing: run `npm ci --prefix tests/render`",
                    pytrace=False)
    result = subprocess.run(
        ["node", str(COMMONMARK)],
        input=json.dumps([{"where": where, "markdown": text} for where, text in documents.items()]),
        capture_output=True, text=True, encoding="utf-8", timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"commonmark_math.mjs exited {result.returncode}:\n{result.stderr}")
    report = json.loads(result.stdout)
    assert report["count"] == len(documents), report["count"]
    return {doc["where"]: [_display_trimmed(item) for item in doc["math"]] for doc in report["documents"]}


def _spans(markdown: str) -> list[tuple[str, bool]]:
    return [(span.tex, span.display) for span in math_spans(markdown)]


def _body(text: str, front: re.Pattern) -> str:
    """The post after its front matter, without the Jekyll post's own MathJax loader (tested on its own)."""
    match = front.match(text)
    assert match, f"no front matter at the top:\n{text[:200]}"
    body = text[match.end():]
    return body[:-len("\n" + JEKYLL_LOADER)] if body.endswith("\n" + JEKYLL_LOADER) else body


def _flavor_math(flavor: str, text: str, path: Path) -> list[tuple[str, bool]]:
    """The math of a jekyll or hugo document, read with that flavour's delimiters, as the engine sees it."""
    if flavor == "jekyll":
        body = _body(text, YAML_FRONT).replace("{% raw %}\n", "").replace("{% endraw %}\n", "")  # Liquid
        body = re.sub(r"(?m)^( {0,3})\\\$\$", r"\1$$", body)  # kramdown consumes its `\$$` escape
    else:
        body = _body(text, TOML_FRONT)
    path.write_text(body, encoding="utf-8")
    return [(item["tex"], item["display"]) for item in math_blocks(path, DELIMITERS[flavor])]


# --- Fixtures: every cell in every flavour, each tool run once -----------------------------------------------


@pytest.fixture(scope="module")
def canonical() -> dict[str, str]:
    return {name: generate(builtin_spec(name))[f"{name}/{name}.md"] for name in NAMES}


@pytest.fixture(scope="module")
def flavored() -> dict[tuple[str, str], str]:
    """The committed flavour files, the ones people paste (tests/test_golden.py holds them to what a build writes)."""
    return {(flavor, name): (GENERATED / flavor_path(name, flavor)).read_text(encoding="utf-8")
            for flavor, name in CASES}


@pytest.fixture(scope="module")
def html_math(canonical, flavored) -> dict[str, list[tuple[str, bool]]]:
    """commonmark.js over the commonmark flavour of every cell, the unescaped canonical documents (negative
    control) and the hostile document, escaped and not."""
    documents = {f"commonmark/{name}": flavored["commonmark", name] for name in NAMES}
    documents |= {f"raw/{name}": canonical[name] for name in NAMES}
    documents["commonmark/hostile"] = to_flavor(HOSTILE, "commonmark", "hostile")
    documents["raw/hostile"] = HOSTILE
    return commonmark_math(documents)


@pytest.fixture(scope="module")
def recovered(flavored, html_math, tmp_path_factory) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """The math each flavoured document delivers to the browser."""
    folder = tmp_path_factory.mktemp("flavors")
    found = {}
    for flavor, name in CASES:
        if flavor == "commonmark":
            found[flavor, name] = html_math[f"commonmark/{name}"]
        else:
            found[flavor, name] = _flavor_math(flavor, flavored[flavor, name], folder / f"{flavor}-{name}.md")
    return found


@pytest.fixture(scope="module")
def render_failures(recovered) -> dict[tuple[str, bool], list[dict]]:
    """Every distinct formula recovered, rendered once by KaTeX and MathJax; the failures by formula."""
    distinct = list(dict.fromkeys(math for found in recovered.values() for math in found))
    items = [{"where": str(index), "tex": tex, "display": display} for index, (tex, display) in enumerate(distinct)]
    failures = defaultdict(list)
    for failure in render_check(items):
        failures[distinct[int(failure["where"])]].append(failure)
    return failures


# --- Every cell, every flavour -------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor, name", CASES, ids=CASE_IDS)
def test_flavor_delivers_the_canonical_math(flavor, name, canonical, recovered):
    expected = _spans(canonical[name])
    assert expected, f"{name}: no math in the canonical Markdown"
    found = recovered[flavor, name]
    first = next((i for i, (a, b) in enumerate(zip(found, expected)) if a != b), min(len(found), len(expected)))
    assert found == expected, (
        f"{flavor}/{name}: {len(found)} formulas recovered, {len(expected)} expected; first difference at "
        f"#{first}:\n got {found[first:first + 1]!r}\nwant {expected[first:first + 1]!r}"
    )


@pytest.mark.parametrize("flavor, name", CASES, ids=CASE_IDS)
def test_flavor_math_renders(flavor, name, recovered, render_failures):
    failures = [f for math in recovered[flavor, name] for f in render_failures.get(math, [])]
    assert not failures, "\n".join(f"[{f['renderer']}] {f['message']}\n    {f['tex']!r}" for f in failures)


def _outside_code(lines: list[str]) -> list[str]:
    """The lines outside fenced code blocks."""
    kept, inside = [], False
    for line in lines:
        if line.startswith("```"):
            inside = not inside
        elif not inside:
            kept.append(line)
    return kept


def _prose(lines: list[str]) -> list[str]:
    """The lines outside display blocks that hold no math and are not blank."""
    kept, inside = [], False
    for line in lines:
        if line.strip() == "$$":
            inside = not inside
        elif not inside and line.strip() and "$" not in line and r"\(" not in line:
            kept.append(line)
    return kept


@pytest.mark.parametrize("name", NAMES)
def test_commonmark_changes_nothing_but_the_math(name, canonical, flavored):
    before, after = canonical[name].split("\n"), flavored["commonmark", name].split("\n")
    assert len(after) == len(before)
    assert _prose(after) == _prose(before)
    assert [line for line in after if line.startswith("#")] == [line for line in before if line.startswith("#")]


@pytest.mark.parametrize("flavor, name", [case for case in CASES if case[0] != "commonmark"],
                         ids=[i for i, case in zip(CASE_IDS, CASES) if case[0] != "commonmark"])
def test_front_matter_title_and_heading(flavor, name, canonical, flavored):
    text = flavored[flavor, name]
    if flavor == "jekyll":
        match = YAML_FRONT.match(text)
        assert match, text[:300]
        assert json.loads(match[1]) == builtin_spec(name).title  # the escapes written are also JSON's
    else:
        match = TOML_FRONT.match(text)
        assert match, text[:300]
        assert tomllib.loads(match[1]) == {"title": builtin_spec(name).title, "math": True}
    body = text[match.end():].split("\n")
    heading = next(line for line in canonical[name].split("\n") if line.startswith("# "))
    assert heading not in body
    assert not [line for line in _outside_code(body) if line.startswith("# ")]  # (a Python comment in the listing is no heading)
    rest = [line for line in canonical[name].split("\n") if line != heading]
    loader = JEKYLL_LOADER.splitlines() if flavor == "jekyll" else []
    expected = [line for line in _prose(rest) if not line.startswith("<!-- Generated by derive")]
    expected += [line for line in _prose(rest) if line.startswith("<!-- Generated by derive")]  # moved last: the excerpt
    assert [line for line in _prose(body) if line not in loader] == expected  # prose untouched, the other headings kept
    if flavor == "jekyll":
        assert text.endswith(JEKYLL_LOADER)  # the post loads MathJax itself


@pytest.mark.parametrize("flavor", ["jekyll", "hugo"])
def test_display_blocks_stand_between_blank_lines(flavor, flavored):
    for name in NAMES:
        lines = flavored[flavor, name].split("\n")
        inside = False
        for number, line in enumerate(lines):
            if line == "$$":
                neighbour = lines[number + 1] if inside else lines[number - 1]
                assert neighbour == "", f"{flavor}/{name}:{number + 1}: no blank line beside a $$ delimiter"
                inside = not inside


# --- The escaping, on purpose-made input ---------------------------------------------------------------------


def _without_indentation(math: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """CommonMark drops the indentation of a paragraph's lines (TeX ignores it: documented, not escaped)."""
    return [(re.sub(r"(?m)^[ \t]+", "", tex), display) for tex, display in math]


def test_hostile_math_survives_commonmark(html_math):
    expected = _without_indentation(_spans(HOSTILE))
    assert len(expected) == 18
    assert _without_indentation(html_math["commonmark/hostile"]) == expected
    assert _without_indentation(html_math["raw/hostile"]) != expected


def test_unescaped_markdown_loses_backslashes(canonical, html_math):
    """Negative control: the same check catches a document that is not escaped."""
    broken = [name for name in NAMES if html_math[f"raw/{name}"] != _spans(canonical[name])]
    assert broken, "commonmark.js kept every formula of the unescaped documents: the check cannot fail"
    name = broken[0]
    lost = sum(tex.count("\\") for tex, _ in _spans(canonical[name])) - sum(
        tex.count("\\") for tex, _ in html_math[f"raw/{name}"])
    assert lost > 0, f"{name}: the unescaped document lost no backslash"


def test_commonmark_escapes_only_what_commonmark_reads():
    doc = "$$\n- a \\\\ b_{1} \\, c \\frac{x}{y}\\\n$$\nSee $x_{1}*\\{y\\}$ & <b> [z]\n"
    assert to_flavor(doc, "commonmark", "t") == (
        "$$\n\\- a \\\\\\\\ b\\_{1} \\\\, c \\frac{x}{y}\\\\\n$$\nSee $x\\_{1}\\*\\\\{y\\\\}$ & <b> [z]\n"
    )


def test_kramdown_escapes_a_formula_alone_at_a_paragraph_start():
    doc = "# T\n$a$\n\n$b$\ntext\n$c$\n\n$d$ and $e$\n\n  $f$  \n"
    body = _body(to_flavor(doc, "jekyll", "T"), YAML_FRONT)  # the body starts a paragraph: so does $a$
    assert body == "\\$$a$$\n\n\\$$b$$\ntext\n$$c$$\n\n$$d$$ and $$e$$\n\n  \\$$f$$  \n"


def test_jekyll_hides_liquid_tags_in_raw():
    plain = _body(to_flavor("# T\n\n$x^{2}$\n", "jekyll", "T"), YAML_FRONT)
    assert "raw" not in plain
    liquid = _body(to_flavor("# T\n\n$x^{{2}}$ and $\\{%\\}$\n", "jekyll", "T"), YAML_FRONT)
    assert liquid == "{% raw %}\n\n$$x^{{2}}$$ and $$\\{%\\}$$\n{% endraw %}\n"


def test_hugo_uses_passthrough_delimiters_and_refuses_what_it_cannot_pass():
    body = _body(to_flavor("# T\ntext\n$$\na_{1} \\\\ *b*\n$$\nso $x_{1}$.\n", "hugo", "T"), TOML_FRONT)
    assert body == "text\n\n$$\na_{1} \\\\ *b*\n$$\n\nso \\(x_{1}\\).\n"
    with pytest.raises(ValueError, match="shortcode"):
        to_flavor("$$\nx^{{<}}\n$$\n", "hugo", "T")
    with pytest.raises(ValueError, match=r"line 2: \\\)"):
        to_flavor("a\n$\\left(x\\\\)$\n", "hugo", "T")


def test_hugo_config_is_documented_and_valid_toml():
    config = tomllib.loads(HUGO_CONFIG)["markup"]["goldmark"]["extensions"]["passthrough"]
    assert config == {"enable": True, "delimiters": {"block": [["\\[", "\\]"], ["$$", "$$"]],
                                                     "inline": [["\\(", "\\)"]]}}
    assert all(line in derive.flavors.__doc__ for line in HUGO_CONFIG.splitlines())


@pytest.mark.parametrize("title", ['plain', 'a "quoted" \\ title', "tab\tnew\nline", "# not a comment: yes",
                                   "unicode ∂L/∂h — ok", "sep\u2028arator\u0085", "'single' {braces} [list]"])
def test_titles_round_trip(title):
    toml_front = TOML_FRONT.match(to_flavor("# T\n", "hugo", title))
    assert tomllib.loads(toml_front[1])["title"] == title
    yaml_front = YAML_FRONT.match(to_flavor("# T\n", "jekyll", title))
    assert yaml_front and json.loads(yaml_front[1]) == title


def test_unknown_flavor_is_refused():
    with pytest.raises(ValueError, match="unknown Markdown flavor 'gfm': expected one of commonmark, jekyll, hugo"):
        to_flavor("# T\n", "gfm", "T")


# --- The scanner of the canonical format ---------------------------------------------------------------------


def test_math_spans_reads_the_canonical_format():
    doc = (
        "Intro $a$, `$code$`, \\$5 and $ 6 $, $b_{1}$.\n"  # 1
        "$$\n"  # 2
        "\\begin{aligned}\n"  # 3
        "x &= y \\\\\n"  # 4
        "\\end{aligned} \\tag{B3}\n"  # 5
        "$$\n"  # 6
        "```\n"  # 7
        "$$\n"  # 8
        "```\n"  # 9
        "End $c$\n"  # 10
    )
    assert math_spans(doc) == [
        MathSpan("a", False, 1),
        MathSpan("b_{1}", False, 1),
        MathSpan("\\begin{aligned}\nx &= y \\\\\n\\end{aligned} \\tag{B3}", True, 2),
        MathSpan("c", False, 10),
    ]
    with pytest.raises(ValueError, match="line 2: display math opened with \\$\\$ is never closed"):
        math_spans("text\n$$\nx\n")


@pytest.mark.parametrize("name", NAMES)
def test_math_spans_agrees_with_the_render_check_extractor(name, canonical, tmp_path):
    path = tmp_path / f"{name}.md"
    path.write_text(canonical[name], encoding="utf-8")
    assert _spans(canonical[name]) == [(item["tex"], item["display"]) for item in math_blocks(path)]


def test_latex_command_writes_each_flavor_and_refuses_unsafe_symbols(tmp_path, capsys):
    from derive.cli import main
    assert main(["latex", "nico", "--flavor", "jekyll", "--out", str(tmp_path / "post.md")]) == 0
    assert (tmp_path / "post.md").read_text().startswith("---\nlayout: post\n")
    assert main(["latex", "lstm", "--flavor", "tex", "--adjoint", "delta", "--out", str(tmp_path / "a.tex")]) == 0
    assert r"\delta c_{t}" in (tmp_path / "a.tex").read_text()
    assert main(["latex", "lstm", "--flavor", "html", "--adjoint", "delta", "--out", str(tmp_path / "a.html")]) == 0
    page = (tmp_path / "a.html").read_text()  # the offline page, in the notation asked for
    assert page.startswith("<!DOCTYPE html>") and r"\delta c_{t}" in page and "<script" not in page
    assert main(["latex", "nico", "--symbol", r"xc=\input{x}", "--out", str(tmp_path / "bad.md")]) == 2
    assert "contains '\\\\input'" in capsys.readouterr().err and not (tmp_path / "bad.md").exists()


def test_every_function_and_a_power_survive_every_flavor(tmp_path):
    """The LaTeX of the new functions (\\left|..\\right|, \\max, \\mathbf{1}[a \\geq b], powers) reaches the
    browser unchanged through each flavour, and renders."""
    from derive.spec import spec_from_text
    from test_elementwise import every_construct_spec

    outputs = generate(spec_from_text(every_construct_spec(), "every.toml"))
    expected = _spans(outputs["every/every.md"])
    assert any(r"\left|" in tex for tex, _ in expected) and any(r"\geq" in tex for tex, _ in expected)
    found = {"commonmark": commonmark_math({"every": outputs[flavor_path("every", "commonmark")]})["every"]}
    for flavor in (f for f in FLAVORS if f != "commonmark"):
        found[flavor] = _flavor_math(flavor, outputs[flavor_path("every", flavor)], tmp_path / f"{flavor}.md")
    for flavor, math in found.items():
        assert math == expected, flavor
    items = [{"where": str(i), "tex": tex, "display": display} for i, (tex, display) in enumerate(dict.fromkeys(expected))]
    assert not render_check(items)
