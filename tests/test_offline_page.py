"""The offline page of a cell (generated/NAME/NAME.html) and the HTML comparison: MathML, no network.

Two independent checks of derive/mathml.py. KaTeX (tests/render/katex_mathml.mjs) reads every formula's
TeX, kept in the page as the formula's annotation, into MathML of its own: both must hold the same
symbols in the same order and the same fractions, roots, scripts and tables. Headless Chromium opens
pages with every request refused but the page itself: every formula is laid out (each fraction's
numerator above its denominator, no error node, no TeX left in the text), the page holds the same
equations as the cell's Markdown, and every tag links an equation to its line of backward() and back.
"""
import collections
import json
import re
import shutil
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from conftest import CATALOG, ROOT
from derive.latex_read import display_equations
from test_blog_engines import CHROMIUM, RENDER, browse
from test_outside_strings import GRAMMAR, _contexts

from derive import mathml

MATH = re.compile(r"<math[ >].*?</math>", re.S)
STRUCTURE = ("mfrac", "msqrt", "msub", "msup", "msubsup", "munder", "mover", "munderover", "mtable", "mtr")
LEAVES = ("mi", "mo", "mn", "mtext")


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def reading(markup: str) -> tuple[str, collections.Counter]:
    """What a formula's MathML says: its symbols in order (Unicode's mathematical letters read as the
    letters they are) and how many of each structure it has."""
    root = ET.fromstring(markup)
    symbols, structure = [], collections.Counter()
    for element in root.iter():
        name = local(element.tag)
        if name == "annotation":
            continue
        if name in STRUCTURE:
            structure[name] += 1
        if name in LEAVES and element.text:
            symbols.append(element.text)
    text = unicodedata.normalize("NFKC", "".join(symbols))
    return "".join(char for char in text if char not in "\u2061 "), structure


def katex_mathml(formulas: list[tuple[str, bool]]) -> list[str]:
    if shutil.which("node") is None or not (RENDER / "node_modules" / "katex").is_dir():
        pytest.fail("node and tests/render/node_modules are needed: run `npm ci --prefix tests/render`", pytrace=False)
    run = subprocess.run(["node", str(RENDER / "katex_mathml.mjs")], capture_output=True, text=True, encoding="utf-8",
                         input=json.dumps([{"tex": tex, "display": display} for tex, display in formulas]), timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return [re.search(r"<math.*</math>", page, re.S).group() for page in json.loads(run.stdout)]


def formulas_of(page: str) -> list[tuple[str, bool, str]]:
    """(TeX, display, derive's MathML) of every formula of a page."""
    out = []
    for markup in MATH.findall(page):
        tex = ET.fromstring(markup).find(".//annotation").text
        out.append((tex, 'display="block"' in markup.split(">", 1)[0], markup))
    return out


def agree_with_katex(formulas: list[tuple[str, bool, str]]) -> list[str]:
    """The formulas whose MathML says something other than KaTeX's reading of their TeX."""
    theirs = katex_mathml([(tex, display) for tex, display, _ in formulas])
    return [f"{tex}\n  derive: {reading(ours)}\n  katex:  {reading(katex)}"
            for (tex, _, ours), katex in zip(formulas, theirs) if reading(ours) != reading(katex)]


def test_every_page_formula_says_what_katex_reads():
    formulas = [f for cell in CATALOG for f in formulas_of((ROOT / "generated" / cell / f"{cell}.html").read_text())]
    assert len(formulas) > 3000
    assert not agree_with_katex(formulas)[:5]


def test_every_symbol_the_grammar_accepts_says_what_katex_reads():
    """A spec's `latex` names: every construct of the symbol grammar, in every context the documents use."""
    formulas = [(tex, False, mathml.math(tex)) for symbol in GRAMMAR for tex in _contexts(symbol)]
    assert not agree_with_katex(formulas)[:5]


def test_every_function_the_language_has_says_what_katex_reads():
    """|v|, max, min, the indicator [a >= b], sqrt, powers, mean and sum over units, blocks: one spec with all."""
    from test_elementwise import every_construct_spec

    from derive.pipeline import generate
    from derive.spec import spec_from_text

    page = generate(spec_from_text(every_construct_spec(), "every.toml"))["every/every.html"]
    formulas = formulas_of(page)
    assert any(r"\left|" in tex for tex, _, _ in formulas) and any(r"\geq" in tex for tex, _, _ in formulas)
    assert not agree_with_katex(formulas)[:5]


def test_the_check_sees_a_wrong_reading():
    """Draw a product's operator as another (the bug a converter makes): KaTeX's reading disagrees."""
    tex = r"\frac{dL}{dg(t)} = \frac{dL}{ds(t)} \odot i(t)"
    wrong = mathml.math(tex).replace("\u2299", "\u2217")
    frac_lost = mathml.math(tex).replace("<mfrac>", "<mrow>").replace("</mfrac>", "</mrow>")
    assert len(agree_with_katex([(tex, False, wrong), (tex, False, frac_lost)])) == 2


@pytest.mark.parametrize("latex, message", [
    (r"\notacommand x", "unknown command \\notacommand"),
    (r"\frac{a}{b", "expected '}'"),
    (r"\begin{cases} a \end{cases}", "unknown environment 'cases'"),
    (r"\left< a \right>", "unknown delimiter"),
])
def test_latex_outside_the_language_is_refused_with_its_place(latex, message):
    with pytest.raises(mathml.MathMLError, match=re.escape(message)):
        mathml.math(latex)


# -- in a browser, offline -------------------------------------------------------------------------
PAGES = ("nico", "lstm", "layernorm_lstm", "lstmp", "zoneout_lstm")  # the seed posts, Spec language 2's cells


def inline_math(markdown: str) -> list[str]:
    """The $...$ formulas of a Markdown document's prose (not its displays, not its code listing)."""
    prose = re.sub(r"^\$\$\n.*?^\$\$\n|^```.*?^```\n", "", markdown, flags=re.S | re.M)
    return re.findall(r"\$([^$\n]+)\$", prose)


def displayed(formulas: list[tuple[str, bool, str]]) -> list[str]:
    """The page's display equations one per row, as the Markdown's are read."""
    return [row for tex, display, _ in formulas if display
            for row in display_equations(f"$$\n{tex.replace('begin{aligned} ', 'begin{aligned}')}\n$$\n", "md")]


def untagged(rows: list[str]) -> collections.Counter:
    return collections.Counter(re.sub(r" \\tag\{B\d+\}$", "", row) for row in rows)


@pytest.mark.slow
def test_the_offline_pages_draw_every_formula_in_chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    compared = tmp_path / "compare.html"
    run = subprocess.run([sys.executable, "-m", "derive", "compare", "lstm", "gru", "nico", "--out", str(compared)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    files = [ROOT / "generated" / cell / f"{cell}.html" for cell in PAGES] + [compared]
    seen = browse([{"url": path.as_uri(), "screenshot": str(tmp_path / f"{path.stem}.png")} for path in files])
    print(f"\nscreenshots of the offline pages: {tmp_path}")
    for path, page in zip(files, seen):
        text = path.read_text()
        where = path.name
        assert not page["blocked"] and not page["consoleErrors"], (where, page["blocked"], page["consoleErrors"])
        assert len(page["mathml"]) == text.count("<math") > 20, where
        assert page["mathmlErrors"] == 0 and page["flatFractions"] == 0 and not page["texLeft"], (where, page["texLeft"])
        assert all(formula["width"] > 0 for formula in page["mathml"]), where
        assert not page["brokenAnchors"], (where, page["brokenAnchors"][:5])
        if path == compared:
            continue
        markdown = (path.with_suffix(".md")).read_text()
        formulas = [(f["tex"], f["display"], "") for f in page["mathml"]]
        assert untagged(displayed(formulas)) == untagged(display_equations(markdown, "md")), where
        assert collections.Counter(tex for tex, display, _ in formulas if not display) == collections.Counter(inline_math(markdown))
        tags = set(re.findall(r"\\tag\{(B\d+)\}|\\text\{\((B\d+)\)\}", markdown))
        tags = {a or b for a, b in tags}
        links = set(page["links"])
        assert {f"#code-{tag}" for tag in tags} <= links and {f"#eq-{tag}" for tag in tags} <= links, where
