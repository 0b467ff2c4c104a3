"""Outside text (the spec's path, title, reference) written into one exact context of an output file.

One function per context; the templates reach them as filters (see emit.environment), so a template says where a
string lands and the escaping follows. Each function returns text that, in its context, reads back as the
original string (or, for comments, as a visible and inert rendering of it) and cannot end the context early:

- python_docstring: inside a non-raw \"\"\" string literal; ast.get_docstring gives the text back.
- python_comment: after # on one line.
- tex_text: LaTeX text mode (tex_escape, with characters pdflatex cannot print named); tex_comment: after % on one line.
- markdown_text: Markdown prose (CommonMark, kramdown, Goldmark), in every flavour; nothing in it is markup, raw
  HTML, math, Liquid ({{ {%) or a Hugo shortcode ({{< {{%).
- html_comment: inside <!-- ... --> on one line of a Markdown post, with the same neutralisation.
- quoted_string: a double-quoted scalar that YAML (Jekyll's front matter) and TOML (Hugo's) both read back.
- markdown_reference: a reference: escaped text, every http(s) URL in it a link without its trailing punctuation.
"""
from __future__ import annotations

import html
import re



def tex_escape(text: str) -> str:
    """Plain text made safe for LaTeX's text mode."""
    replacements = {
        "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
        "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
    }
    return "".join(replacements.get(char, char) for char in text)


def _visible(char: str) -> str:
    """A character that is not printable (a line end, a control, a separator), as a Python-style escape."""
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _one_line(text: str) -> str:
    """text with every non-printable character written as an escape, so it holds no line end of any reader."""
    return "".join(char if char.isprintable() else _visible(char) for char in text)


def python_docstring(text: str) -> str:
    """text inside a non-raw triple-quoted Python string: backslashes and non-printables escaped, and a quote
    wherever it is followed by a quote or ends the text (so no three quotes in a row form, even with the quotes around it)."""
    out = []
    for index, char in enumerate(text):
        if char == "\\" or (char == '"' and text[index + 1 : index + 2] in ('"', "")):
            out.append("\\" + char)
        elif not char.isprintable():
            out.append(_visible(char))
        else:
            out.append(char)
    return "".join(out)


def python_comment(text: str) -> str:
    """text after # in Python source: one line."""
    return _one_line(text)


# The characters beyond ASCII that pdflatex's default set-up (utf8 input, OT1 fonts) prints; any other stops it
# ("Unicode character not set up for use with LaTeX", "Command \\dh unavailable in encoding OT1").
TEX_UNICODE = frozenset(map(chr, range(0xA1, 0x100))) - set("«»ÐÞðþ") | set("‐‑‒–—―‖‘’“”†‡•…‰€™")


def tex_text(text: str) -> str:
    """text in LaTeX's text mode: special characters as commands, non-printables as escapes (shown, not run), a
    character pdflatex cannot print as its code point, [U+03B1], and straight double quotes as opening and
    closing ones (TeX prints " as a closing quote at both ends)."""
    return tex_escape("".join(char if char.isascii() or char in TEX_UNICODE else f"[U+{ord(char):04X}]"
                              for char in _curly_quotes(_one_line(text))))


def _curly_quotes(text: str) -> str:
    """ "a" as “a”: a quote opens at the start or after a blank or an opening bracket, and closes elsewhere."""
    return "".join(("“" if index == 0 or text[index - 1] in " \t([{" else "”") if char == '"' else char
                   for index, char in enumerate(text))


def tex_reference(text: str) -> str:
    """A reference in LaTeX text: tex_text, with every web address (as markdown_reference finds it) in \\url, so that
    it breaks across lines instead of running into the margin."""
    return _linked(text, lambda url: "\\url{" + url + "}", tex_text)


def tex_comment(text: str) -> str:
    """text after % in TeX: TeX discards the rest of the line unread (so ^^ and \\ are inert); only a line end
    (\\n, \\r, and whatever else a reader may take for one) could end the comment, and none is left."""
    return _one_line(text)


# Characters written as character references in Markdown text: HTML's (& < >), what CommonMark, kramdown and GFM
# act on inside a line (\ ` * _ [ ] ~ | ^ !), the math delimiter $ and the braces of Liquid and Hugo's shortcodes.
# A numeric reference is decoded to the character by every engine and is never markup itself.
_MARKDOWN = {char: f"&#{ord(char)};" for char in "\\`*_[]~|^!${}"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def markdown_text(text: str) -> str:
    """text as Markdown prose that renders as exactly text, in every flavour (see _MARKDOWN)."""
    return "".join(_MARKDOWN.get(char, char) for char in _one_line(text))


_COMMENT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "{": "&#123;", "}": "&#125;", "$": "&#36;"}


def html_comment(text: str) -> str:
    """text inside <!-- ... --> of a post: with < > escaped it holds no --> or <!--, with { } $ escaped no Liquid,
    shortcode or math (the flavours read every line), and it is one line."""
    return "".join(_COMMENT.get(char, char) for char in _one_line(text))


# A reference that is a link: http or https, then characters that need no escaping in an autolink or a URL.
WEB_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!&'()*+,;=%]+")


def markdown_reference(text: str) -> str:
    """A reference in Markdown: escaped text in which every web address is a link <URL>, its end read as a
    reader reads it: a URL does not end in . , ; : ! ? ' * or in a ) it did not open ("see https://a.b/c;
    code: ..." links https://a.b/c). An engine's own autolinking would take the punctuation along (GFM,
    Hugo) or link nothing (kramdown)."""
    return _linked(text, lambda url: f"<{url}>", markdown_text)


def html_text(text: str) -> str:
    """text in an HTML element or a double-quoted attribute, on one line."""
    return html.escape(_one_line(text))


def html_reference(text: str) -> str:
    """A reference in an HTML page: escaped text, each web address a link (ending as markdown_reference's do)."""
    return _linked(text, lambda url: f'<a href="{html.escape(url)}">{html.escape(url)}</a>', html_text)


def _linked(text: str, link, plain) -> str:
    """text on one line, each web address in it written by link(url) and the rest by plain(piece)."""
    text = _one_line(text)
    out, start = [], 0
    for match in WEB_URL.finditer(text):
        url = _without_trailing_punctuation(match.group())
        out += [plain(text[start:match.start()]), link(url)]
        start = match.start() + len(url)
    return "".join(out) + plain(text[start:])


def _without_trailing_punctuation(url: str) -> str:
    while url and (url[-1] in ".,;:!?'*" or (url[-1] == ")" and url.count(")") > url.count("("))):
        url = url[:-1]
    return url


def quoted_string(text: str) -> str:
    """text as a double-quoted string that YAML and TOML both read back as text."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif not char.isprintable():  # control characters, line and paragraph separators, BOM...
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


FILTERS = {"tex_escape": tex_escape, "python_docstring": python_docstring, "python_comment": python_comment, "tex_text": tex_text,
           "tex_comment": tex_comment, "markdown_text": markdown_text, "markdown_reference": markdown_reference,
           "tex_reference": tex_reference,
           "html_comment": html_comment, "quoted_string": quoted_string, "html_text": html_text,
           "html_reference": html_reference}
