r"""The canonical Markdown of a cell rewritten for a blog engine: plain CommonMark, Jekyll (kramdown) or Hugo.

derive writes one canonical Markdown document per cell (generated/NAME/NAME.md): prose with `$...$` inline math,
and display math as blocks whose delimiter lines are `$$`. Each engine needs the math delimited or escaped its own
way, so that what reaches MathJax or KaTeX in the browser is exactly the TeX that derive wrote:

- commonmark: the same delimiters, with the math escaped for a CommonMark parser (see `_commonmark_line`), for a
  site that runs plain CommonMark and lets MathJax or KaTeX find `$...$` and `$$...$$` in the page's text
  (neither has `$...$` among its default inline delimiters: the page's configuration must add it).
- jekyll: kramdown's math syntax (`$$...$$` inline too; display blocks between blank lines), YAML front matter
  with `mathjax: true`, the body wrapped in `{% raw %}` when it holds `{{` or `{%` (Jekyll runs Liquid first);
  a body that would end that guard itself (`{% endraw %}`) is refused.
- hugo: TOML front matter with `math = true`; `$$` display blocks and `\(...\)` inline math, which Goldmark's
  passthrough extension hands to the page untouched, so nothing is escaped; a shortcode opening (`{{<`, `{{%`)
  anywhere in the post is refused, since Hugo would run it. The site's hugo.toml needs:

    [markup.goldmark.extensions.passthrough]
    enable = true
    [markup.goldmark.extensions.passthrough.delimiters]
    block = [['\[', '\]'], ['$$', '$$']]
    inline = [['\(', '\)']]

Jekyll and Hugo print the post's title themselves, so both drop the document's first `# ` heading.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

from .escape import quoted_string

FLAVORS = ("commonmark", "jekyll", "hugo")
# Liquid's end of a raw block ({% endraw %}, {%- endraw -%}), and the opening of a Hugo shortcode.
_ENDRAW = re.compile(r"\{%-?\s*endraw")
_SHORTCODE = re.compile(r"\{\{\s*[<%]")

# The Jekyll post loads MathJax itself, at its end, unless the page already has it (a site whose layout loads
# MathJax, or a second post on one page): kramdown passes HTML through, and a stock theme such as minima loads
# no math (`mathjax: true` in the front matter does nothing there). MathJax's defaults read the \(...\) and
# \[...\] that kramdown writes for $$...$$. No spec text goes into it.
MATHJAX_URL = "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-chtml.js"
JEKYLL_LOADER = f"""<script>
if (!window.MathJax) {{
  window.MathJax = {{}};
  var mathjax = document.createElement("script");
  mathjax.async = true;
  mathjax.src = "{MATHJAX_URL}";
  document.head.appendChild(mathjax);
}}
</script>
"""

# What a Hugo site's hugo.toml needs for the hugo flavour (the CLI prints it).
HUGO_CONFIG = r"""[markup.goldmark.extensions.passthrough]
enable = true
[markup.goldmark.extensions.passthrough.delimiters]
block = [['\[', '\]'], ['$$', '$$']]
inline = [['\(', '\)']]
"""


# What a Hugo layout needs for the math of a hugo post: a partial that loads MathJax (its defaults read the
# passthrough's \(...\), \[...\] and $$...$$), called in the <head> of pages whose front matter says math = true.
HUGO_MATH_PARTIAL = f'<script async src="{MATHJAX_URL}"></script>\n'
HUGO_HEAD_LINE = '{{ if .Param "math" }}{{ partial "math.html" . }}{{ end }}'

# What a page needs to read the commonmark flavour's math: MathJax told that $...$ is inline math too (its
# default reads only \(...\)). Hugo before 0.122, which has no passthrough, takes this file and these lines.
COMMONMARK_HEAD = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']]}};</script>\n"
                   f'<script async src="{MATHJAX_URL}"></script>\n')

# What `derive latex CELL --flavor F` says a site needs, once: the same words as the README's.
SITE_SETUP = {
    "jekyll": "Jekyll: nothing to add to the site. The post loads MathJax 3 itself (from cdn.jsdelivr.net) unless the "
              "page has it already; kramdown, Jekyll's Markdown, writes the math as MathJax reads it.",
    "hugo": "Hugo 0.122 or newer (older ones have no Goldmark passthrough and break the math without a warning: "
            "give them --flavor commonmark).\n"
            f"In hugo.toml:\n{HUGO_CONFIG}In layouts/partials/math.html:\n{HUGO_MATH_PARTIAL}"
            f"In the <head> of your layout (baseof.html, or the theme's head partial):\n{HUGO_HEAD_LINE}",
    "commonmark": "CommonMark: the math is left between $...$ and $$...$$; the page's MathJax or KaTeX must read $...$. "
                  "With MathJax, in the <head> of the layout:\n" + COMMONMARK_HEAD
                  + "Hugo before 0.122 (no passthrough): this file, with front matter (title) on top, and those lines.",
}


@dataclass(frozen=True)
class MathSpan:
    """One formula of the canonical Markdown."""

    tex: str  # display math: the lines between the two `$$` lines, joined by newlines
    display: bool
    line: int  # 1-based line of the inline span, or of a display block's opening `$$`


# --- Reading the canonical format ----------------------------------------------------------------------------

DISPLAY_DELIMITER = "$$"
CODE_FENCES = ("```", "~~~")
# A code span (matched so that it is skipped), or an inline math span. Math is read a backslash pair at a time,
# so `\$` neither opens nor closes it; no space may sit just inside the dollars (as in pandoc).
_INLINE = re.compile(r"(`+).+?\1|(?<!\\)\$(?!\s)(?P<tex>(?:\\.|[^\\$])+?)(?<!\s)\$")

# A document is a list of items, one per line except display blocks:
#   str                        a line inside a code fence, or a fence line (kept as it is)
#   tuple[str | MathSpan, ...]  a prose line: its text and inline math, in order
#   MathSpan                   a display block, from its opening `$$` line to its closing one


def _items(markdown: str) -> list:
    items: list = []
    fence = None  # the open code fence, if inside one
    block = None  # (line number, lines so far) of the open display block, if inside one
    for number, line in enumerate(markdown.split("\n"), start=1):
        stripped = line.strip()
        if block is not None:
            if stripped == DISPLAY_DELIMITER:
                items.append(MathSpan("\n".join(block[1]), display=True, line=block[0]))
                block = None
            else:
                block[1].append(line)
        elif fence is not None:
            items.append(line)
            if stripped.startswith(fence):
                fence = None
        elif stripped == DISPLAY_DELIMITER:
            block = (number, [])
        elif stripped.startswith(CODE_FENCES):
            fence = stripped[:3]
            items.append(line)
        else:
            items.append(_prose_line(line, number))
    if block is not None:
        raise ValueError(f"line {block[0]}: display math opened with {DISPLAY_DELIMITER} is never closed")
    return items


def _prose_line(line: str, number: int) -> tuple:
    pieces: list = []
    end = 0
    for match in _INLINE.finditer(line):
        if match["tex"] is not None:  # not a code span
            pieces += [line[end : match.start()], MathSpan(match["tex"], display=False, line=number)]
            end = match.end()
    pieces.append(line[end:])
    return tuple(piece for piece in pieces if piece != "")


def math_spans(markdown: str) -> list[MathSpan]:
    """The formulas of a canonical Markdown document, in order."""
    return _spans(_items(markdown))


def _spans(items: list) -> list[MathSpan]:
    found = []
    for item in items:
        if isinstance(item, MathSpan):
            found.append(item)
        elif isinstance(item, tuple):
            found += [piece for piece in item if isinstance(piece, MathSpan)]
    return found


# --- Writing a flavour ---------------------------------------------------------------------------------------


def to_flavor(markdown: str, flavor: str, title: str) -> str:
    """The canonical Markdown document `markdown` rewritten for `flavor` (one of FLAVORS).

    `title` goes into the front matter of jekyll and hugo (which then drop the first `# ` heading); commonmark
    has no front matter and keeps the heading.
    """
    if flavor not in FLAVORS:
        raise ValueError(f"unknown Markdown flavor {flavor!r}: expected one of {', '.join(FLAVORS)}")
    items = _items(markdown)
    if flavor == "commonmark":
        return _write(items, inline=lambda tex: f"${_commonmark(tex, display=False)}$",
                      display=lambda tex: _commonmark(tex, display=True))
    items = _provenance_last(_without_first_heading(items))
    if flavor == "jekyll":
        body = _write(items, inline=lambda tex: f"$${tex}$$", display=lambda tex: tex, spaced=True, kramdown=True)
        if "{{" in body or "{%" in body:  # Liquid would read them as its own tags before kramdown runs
            if (match := _ENDRAW.search(body)):  # it would end the raw guard early: what follows would run
                raise ValueError(f"line {_line_of(body, match.start())}: {match.group(0)!r} would end the "
                                 "{% raw %} guard of the Jekyll post and let Liquid run the rest")
            body = "{% raw %}\n" + body + ("" if body.endswith("\n") else "\n") + "{% endraw %}\n"
        return f"---\nlayout: post\ntitle: {quoted_string(title)}\nmathjax: true\n---\n{body}\n{JEKYLL_LOADER}"
    body = _write(items, inline=lambda tex: rf"\({tex}\)", display=lambda tex: tex, spaced=True)
    if (match := _SHORTCODE.search(markdown)):  # Hugo runs shortcodes anywhere in a post, math, prose or code
        raise ValueError(f"line {_line_of(markdown, match.start())}: Hugo would run {match.group(0)!r} as a shortcode")
    for span in _spans(items):
        if not span.display and r"\)" in span.tex:
            raise ValueError(rf"line {span.line}: \) in inline math would end Hugo's \(...\) passthrough early")
    return f"+++\ntitle = {quoted_string(title)}\nmath = true\n+++\n{body}"


def _provenance_last(items: list) -> list:
    """The "Generated by derive" comment moved to the end: an engine takes a post's first paragraph for its
    excerpt (Jekyll's feed and meta description), and a comment there leaves it empty."""
    first = next((i for i, item in enumerate(items) if isinstance(item, tuple) and item and isinstance(item[0], str)
                  and item[0].startswith("<!-- Generated by derive")), None)
    if first is None:
        return items
    rest = items[:first] + items[first + 1:]
    while rest and isinstance(rest[0], tuple) and not "".join(p for p in rest[0] if isinstance(p, str)).strip():
        rest = rest[1:]  # the blank line after it
    return rest + [("",), items[first]]


def _without_first_heading(items: list) -> list:
    for index, item in enumerate(items):
        if isinstance(item, tuple) and item and isinstance(item[0], str) and item[0].startswith("# "):
            return items[:index] + items[index + 1 :]
    return items


def _write(items: list, inline, display, spaced: bool = False, kramdown: bool = False) -> str:
    r"""The document again, with each formula written by `inline(tex)` or between `$$` lines as `display(tex)`.

    spaced: a blank line before and after every display block. kramdown: a line that holds nothing but one
    inline formula, at the start of a paragraph, gets kramdown's escape `\$$...$$`, without which kramdown
    would take it for a display block.
    """
    lines: list[str] = []
    blank_needed = False  # a display block was just written and wants a blank line after it
    for item in items:
        if isinstance(item, MathSpan):
            if spaced and lines and lines[-1].strip():
                lines.append("")
            lines += [DISPLAY_DELIMITER, display(item.tex), DISPLAY_DELIMITER]
            blank_needed = spaced
            continue
        if isinstance(item, str):
            text = item
        else:
            text = "".join(piece if isinstance(piece, str) else inline(piece.tex) for piece in item)
            math = [piece for piece in item if isinstance(piece, MathSpan)]
            alone = len(math) == 1 and "".join(p for p in item if isinstance(p, str)).strip() == ""
            paragraph_start = not lines or not lines[-1].strip() or blank_needed
            if kramdown and alone and paragraph_start:
                indent = text[: len(text) - len(text.lstrip())]
                text = indent + "\\" + text.lstrip()
        if blank_needed and text.strip():
            lines.append("")
        blank_needed = False
        lines.append(text)
    if blank_needed:
        lines.append("")
    return "\n".join(lines)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


# --- Escaping math for CommonMark ----------------------------------------------------------------------------

# Characters CommonMark acts on wherever they stand: backslash escapes, code spans, emphasis, raw HTML and
# autolinks, links and images (brackets are escaped in pairs, so that math inside a link's text stays balanced);
# and ~, which GFM's strikethrough takes (escaping it costs nothing and keeps the output safe on GFM engines).
_ACTIVE = frozenset("\\`*_<[]~")
# An entity or numeric character reference, which CommonMark decodes (matched loosely: escaping a `&` that
# would not have been decoded does no harm).
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
# What makes a line inside a paragraph start a new block: an ATX heading (#), a block quote (>), a list item
# (- + or 1. 1)), a thematic break or setext underline (- = ...); a code fence's ``` and ~~~ are escaped anyway.
# The match ends just before the character to escape.
_BLOCK_START = re.compile(r"[ \t]*(?:\d{1,9}(?=[.)])|(?=[#>+=-]))")


def _commonmark(tex: str, display: bool) -> str:
    """`tex` escaped so that a CommonMark parser's HTML holds `tex` again, character for character."""
    return "\n".join(_commonmark_line(line, line_start=display) for line in tex.split("\n"))


def _commonmark_line(line: str, line_start: bool) -> str:
    r"""One line of math escaped for CommonMark. line_start: the line starts a Markdown line (display math).

    A backslash before ASCII punctuation or at the end of the line is doubled: CommonMark turns `\\` into `\`,
    `\{` into `{` and a backslash ending a line into a hard line break. The character after a doubled backslash
    is then escaped like any other, so `\_` becomes `\\\_`. A backslash before a letter (a control word) or a
    space is left alone: CommonMark keeps it.

    CommonMark also strips the whitespace at the start and end of each line of a paragraph; TeX ignores it, and
    derive writes none.
    """
    marker = None
    if line_start and (match := _BLOCK_START.match(line)):
        marker = match.end()
    out = []
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            following = line[index + 1 : index + 2]
            if following and following not in string.punctuation:
                out.append(char)
                index += 1
                continue
            out.append("\\\\")
            index += 1
            if not following:
                break
            char = following
        if char in _ACTIVE or index == marker or (char == "&" and _ENTITY.match(line, index)):
            out.append("\\" + char)
        else:
            out.append(char)
        index += 1
    return "".join(out)
