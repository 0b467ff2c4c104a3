"""Stage 8b: MathML for the offline HTML page, read from the LaTeX the documents print.

The page must show its math with no network and no script, and MathML Core renders natively in
current browsers. The documents' math is LaTeX made by the printers and by the walkthrough (its
sentences quote equations, its chain rules are written out as strings), so instead of printing
every form a second time this module reads that LaTeX, a closed language: the commands derive's
printers and notation emit, and those a spec's `latex` names may use (style.COMMANDS). A command
outside it is derive's own bug and is refused with its position (MathMLError).
"""
from __future__ import annotations

import re
from html import escape

from .errors import DeriveError
from .style import GREEK

TOKEN = re.compile(r"\\([A-Za-z]+)|\\(.)|(\d+(?:\.\d+)?)|(\s+)|(.)", re.S)
SYMBOLS = {  # command -> (element, character)
    **{name: ("mi", chr(code)) for name, code in (
        ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4), ("epsilon", 0x3F5),
        ("varepsilon", 0x3B5), ("zeta", 0x3B6), ("eta", 0x3B7), ("theta", 0x3B8), ("vartheta", 0x3D1),
        ("iota", 0x3B9), ("kappa", 0x3BA), ("lambda", 0x3BB), ("mu", 0x3BC), ("nu", 0x3BD), ("xi", 0x3BE),
        ("pi", 0x3C0), ("rho", 0x3C1), ("sigma", 0x3C3), ("tau", 0x3C4), ("upsilon", 0x3C5), ("phi", 0x3D5),
        ("varphi", 0x3C6), ("chi", 0x3C7), ("psi", 0x3C8), ("omega", 0x3C9), ("Gamma", 0x393), ("Delta", 0x394),
        ("Theta", 0x398), ("Lambda", 0x39B), ("Xi", 0x39E), ("Pi", 0x3A0), ("Sigma", 0x3A3), ("Upsilon", 0x3A5),
        ("Phi", 0x3A6), ("Psi", 0x3A8), ("Omega", 0x3A9), ("ell", 0x2113), ("imath", 0x131), ("jmath", 0x237),
        ("partial", 0x2202))},
    "odot": ("mo", "\u2299"), "circ": ("mo", "\u2218"), "cdot": ("mo", "\u22c5"), "ast": ("mo", "\u2217"),
    "times": ("mo", "\u00d7"), "geq": ("mo", "\u2265"), "leq": ("mo", "\u2264"), "ldots": ("mo", "\u2026"),
    "dots": ("mo", "\u2026"), "top": ("mi", "\u22a4"), "prime": ("mo", "\u2032"), "infty": ("mi", "\u221e"),
}
OPERATOR_NAMES = {"tanh", "exp", "log", "max", "min", "sin", "cos"}  # upright words: \tanh, \max, ...
SPACES = {",": "0.1667em", ";": "0.2778em", ":": "0.2222em", "!": "0em", " ": "0.25em", "quad": "1em", "qquad": "2em"}
ACCENT_MARKS = {"hat": "^", "widehat": "^", "tilde": "~", "widetilde": "~", "bar": "\u02c9", "overline": "\u203e",
                "vec": "\u20d7", "dot": "\u02d9", "ddot": "\u00a8", "check": "\u02c7", "breve": "\u02d8"}
WIDE = {"widehat", "widetilde", "overline"}  # drawn as wide as what they cover
# MathML Core draws only mathvariant="normal": the other alphabets are Unicode's mathematical letters.
ALPHABETS = {"mathbf": (0x1D400, 0x1D41A, 0x1D7CE), "mathit": (0x1D434, 0x1D44E, None),
             "boldsymbol": (0x1D468, 0x1D482, 0x1D7CE), "mathsf": (0x1D5A0, 0x1D5BA, 0x1D7E2),
             "mathcal": (0x1D49C, 0x1D4B6, None), "mathtt": (0x1D670, 0x1D68A, 0x1D7F6)}
ALPHABET_HOLES = {"mathit": {"h": "\u210e"}, "mathcal": {  # letters Unicode placed among the letterlike symbols
    "B": "\u212c", "E": "\u2130", "F": "\u2131", "H": "\u210b", "I": "\u2110", "L": "\u2112", "M": "\u2133",
    "R": "\u211b", "e": "\u212f", "g": "\u210a", "o": "\u2134"}}
TALL = ("mfrac", "mtable", "msqrt", "munder")  # what a \\left( \\right) pair grows around, as TeX would
FENCES = {"(": "(", ")": ")", "[": "[", "]": "]", "|": "\u2223", ".": "", "\\{": "{", "\\}": "}"}
assert set(GREEK) <= set(SYMBOLS)


class MathMLError(DeriveError):
    pass


def math(latex: str, display: bool = False) -> str:
    """<math> for one formula: inline, or display="block"."""
    body = _Reader(latex, display).formula()
    mode = ' display="block"' if display else ""
    return f'<math{mode}><semantics><mrow>{body}</mrow><annotation encoding="application/x-tex">{escape(latex)}</annotation></semantics></math>'


def aligned(equations) -> str:
    """Equations (each with .left and .right) as one display, aligned at their = signs."""
    rows = " \\\\ ".join(f"{eq.left} &= {eq.right}" for eq in equations)
    return math(f"\\begin{{aligned}} {rows} \\end{{aligned}}", display=True)


def prose(text: str) -> str:
    """A sentence with $...$ math as HTML: the words escaped, each formula inline MathML."""
    parts = text.split("$")
    if len(parts) % 2 == 0:
        raise MathMLError(f"a $ is not closed in {text!r}")
    return "".join(math(part) if index % 2 else escape(part) for index, part in enumerate(parts))


def lettered(alphabet: str, text: str) -> str:
    """Letters and digits in one of Unicode's mathematical alphabets."""
    capital, small, digit = ALPHABETS[alphabet]
    out = []
    for char in text:
        hole = ALPHABET_HOLES.get(alphabet, {}).get(char)
        if hole:
            out.append(hole)
        elif "A" <= char <= "Z":
            out.append(chr(capital + ord(char) - ord("A")))
        elif "a" <= char <= "z":
            out.append(chr(small + ord(char) - ord("a")))
        elif char.isdigit() and digit:
            out.append(chr(digit + int(char)))
        else:
            out.append(char)
    return "".join(out)


class _Reader:
    """A recursive reader over the tokens of one formula; each method returns MathML text."""

    def __init__(self, latex: str, display: bool = False):
        self.latex = latex
        self.display = display  # a sum's limits go below and above it in a display, beside it inline
        self.tokens = [(m.group(0), m.start()) for m in TOKEN.finditer(latex) if not m.group(4)]
        self.index = 0

    def error(self, message: str) -> MathMLError:
        at = self.tokens[self.index][1] if self.index < len(self.tokens) else len(self.latex)
        return MathMLError(f"{message} at character {at} of {self.latex!r}")

    def peek(self) -> str:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if expected is not None and token != expected:
            raise self.error(f"expected {expected!r}, found {token or 'the end'!r}")
        if not token:
            raise self.error("unexpected end")
        self.index += 1
        return token

    def formula(self) -> str:
        body = self.row(stops=())
        if self.peek():
            raise self.error(f"unexpected {self.peek()!r}")
        return body

    def row(self, stops: tuple[str, ...]) -> str:
        """Items up to a closing token (left in place): one of stops, or the end."""
        items = []
        while self.peek() and self.peek() not in stops:
            items.append(self.scripted())
        return "".join(items)

    def group(self) -> str:
        self.take("{")
        body = self.row(stops=("}",))
        self.take("}")
        return f"<mrow>{body}</mrow>"

    def raw_group(self) -> str:
        """A {group}'s text as written, unread: the argument of \\text, \\operatorname, \\begin."""
        start = self.index
        self.take("{")
        depth = 1
        while depth:
            token = self.take()
            depth += {"{": 1, "}": -1}.get(token, 0)
        return self.source(start + 1, self.index - 1)

    def source(self, first: int, end: int) -> str:
        """The LaTeX of tokens first..end-1, spaces included, with \\_ read as _."""
        if first >= end:
            return ""
        return self.latex[self.tokens[first][1]:self.tokens[end - 1][1] + len(self.tokens[end - 1][0])].replace("\\_", "_")

    def scripted(self) -> str:
        """An atom with its primes, subscript and superscript."""
        base, large = self.atom()
        primes = ""
        while self.peek() == "'":
            self.take()
            primes += "\u2032"
        scripts = {}
        while self.peek() in ("_", "^") and self.peek() not in scripts:
            mark = self.take()
            scripts[mark] = self.argument()
        sub, sup = scripts.get("_"), scripts.get("^")
        if primes:  # as TeX reads x'^2_t: the primes open the superscript
            sup = f'<mrow><mo lspace="0em" rspace="0em">{primes}</mo>{sup or ""}</mrow>'

        tag = ("munderover", "munder", "mover") if large and self.display else ("msubsup", "msub", "msup")
        if sub and sup:
            return f"<{tag[0]}>{base}{sub}{sup}</{tag[0]}>"
        if sub or sup:
            element = tag[1] if sub else tag[2]
            return f"<{element}>{base}{sub or sup}</{element}>"
        return base

    def argument(self) -> str:
        """What follows _ or ^ or a command: a {group} or one token."""
        if self.peek() == "{":
            return self.group()
        return self.atom()[0]

    def atom(self) -> tuple[str, bool]:
        """One thing a script can attach to, and whether it is a large operator (limits above and below)."""
        token = self.peek()
        if token == "{":
            return self.group(), False
        if token.startswith("\\") and token[1:].isalpha():
            return self.command(self.take()[1:])
        self.take()
        if token.startswith("\\"):
            return self.escaped(token[1:]), False
        if token[0].isdigit():
            return f"<mn>{token}</mn>", False
        if token.isalpha():
            return f"<mi>{escape(token)}</mi>", False
        if token in "()[]|":  # as TeX: a bracket without \\left and \\right keeps its size
            return f'<mo stretchy="false" lspace="0em" rspace="0em">{token}</mo>', False
        if token in "+-=*/,:<>!;.":
            return f"<mo>{_operator(token)}</mo>", False
        raise self.error(f"unexpected {token!r}")

    def escaped(self, char: str) -> str:
        """\\, \\; \\{ \\_ and the like."""
        if char in SPACES:
            return f'<mspace width="{SPACES[char]}"></mspace>'
        if char in "{}_%&#$":
            return f"<mo>{escape(char)}</mo>"
        raise self.error(f"unknown command \\{char}")

    def command(self, name: str) -> tuple[str, bool]:
        if name in SYMBOLS:
            element, char = SYMBOLS[name]
            upright = ' mathvariant="normal"' if name[0].isupper() else ""  # capital Greek stands upright, as in TeX
            return f"<{element}{upright}>{char}</{element}>", False
        if name in OPERATOR_NAMES:
            return f"<mi>{name}</mi><mo>\u2061</mo>", False
        if name == "sum":
            return '<mo largeop="true" movablelimits="true">\u2211</mo>', True
        if name in SPACES:
            return f'<mspace width="{SPACES[name]}"></mspace>', False
        handlers = {"frac": self.frac, "sqrt": self.sqrt, "left": self.fenced, "text": self.text,
                    "operatorname": self.operatorname, "color": self.color, "begin": self.environment}
        if name in handlers:
            return handlers[name](), False
        if name in ACCENT_MARKS:
            stretchy = ' stretchy="true"' if name in WIDE else ""
            return f'<mover accent="true">{self.argument()}<mo{stretchy}>{ACCENT_MARKS[name]}</mo></mover>', False
        if name in ALPHABETS or name == "mathrm":
            return self.alphabet(name), False
        raise self.error(f"unknown command \\{name}")

    def frac(self) -> str:
        return f"<mfrac>{self.argument()}{self.argument()}</mfrac>"

    def sqrt(self) -> str:
        return f"<msqrt>{self.argument()}</msqrt>"

    def fenced(self) -> str:
        """\\left( ... \\right): the fences stretch around what they hold."""
        opening = self.take()
        body = self.row(stops=("\\right",))
        self.take("\\right")
        closing = self.take()
        tall = any(f"<{element}" in body for element in TALL)  # as TeX sizes them: normal around a line of text
        return f"<mrow>{self.fence(opening, tall)}{body}{self.fence(closing, tall)}</mrow>"

    def fence(self, token: str, tall: bool) -> str:
        if token not in FENCES:
            raise self.error(f"unknown delimiter {token!r}")
        stretchy = "true" if tall else "false"
        return f'<mo fence="true" stretchy="{stretchy}" lspace="0em" rspace="0em">{escape(FENCES[token])}</mo>' if FENCES[token] else ""

    def text(self) -> str:
        return f"<mtext>{escape(self.raw_group())}</mtext>"

    def operatorname(self) -> str:
        return f"<mi>{escape(self.raw_group())}</mi><mo>\u2061</mo>"

    def color(self) -> str:
        """{\\color{red} x}: the rest of the group in that colour."""
        colour = self.raw_group()
        body = self.row(stops=("}", "\\right", "&", "\\\\", "\\end"))
        return f'<mrow mathcolor="{escape(colour)}">{body}</mrow>'

    def alphabet(self, name: str) -> str:
        """\\mathbf{W}, \\mathtt{d\\_v}, \\mathrm{x}: letters and digits redrawn (upright for \\mathrm); anything
        else inside is read as usual, in the usual letters."""
        start = self.index
        inner = self.argument()
        tokens = [token for token, _ in self.tokens[start:self.index] if token not in "{}"]
        if not tokens or not all(token.isalnum() or token == "\\_" for token in tokens):  # a bare _ opens a subscript
            return inner
        plain = "".join(tokens).replace("\\_", "_")
        if name == "mathrm":
            return f'<mi mathvariant="normal">{escape(plain)}</mi>'
        element = "mn" if plain.isdigit() else "mi"
        return f"<{element}>{escape(lettered(name, plain))}</{element}>"

    def environment(self) -> str:
        """aligned (rows of right- and left-aligned columns) and bmatrix (a column in brackets)."""
        name = self.raw_group()
        if name not in ("aligned", "bmatrix"):
            raise self.error(f"unknown environment {name!r}")
        rows = [[]]
        while self.peek() != "\\end":
            cell = self.row(stops=("&", "\\\\", "\\end"))
            rows[-1].append(cell)
            if self.peek() == "&":
                self.take()
            elif self.peek() == "\\\\":
                self.take()
                rows.append([])
        self.take("\\end")
        if self.raw_group() != name:
            raise self.error(f"\\begin{{{name}}} closed by another environment")
        return _table(rows, name)


def _table(rows: list[list[str]], name: str) -> str:
    """An aligned block's columns alternate right and left (left = right, && label); a matrix's are centred."""
    def cell(index: int, body: str) -> str:
        side = "center" if name == "bmatrix" else ("right" if index % 2 == 0 else "left")
        return f'<mtd style="text-align: {side}; padding: 0.15em 0">{body}</mtd>'

    body = "".join("<mtr>" + "".join(cell(i, c) for i, c in enumerate(row)) + "</mtr>" for row in rows if any(row))
    table = f'<mtable displaystyle="true">{body}</mtable>'
    if name == "bmatrix":
        return f'<mrow><mo fence="true">[</mo>{table}<mo fence="true">]</mo></mrow>'
    return table


def _operator(token: str) -> str:
    return {"-": "\u2212", "*": "\u2217", "<": "&lt;", ">": "&gt;"}.get(token, token)
