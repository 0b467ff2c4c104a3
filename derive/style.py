"""The LaTeX notation of a cell: the `[latex]` table of a spec, and the same options as CLI flags.

    [latex]
    time = "subscript"          # s_t instead of s(t)
    adjoint = "delta"           # \\delta s_t instead of \\frac{\\partial L}{\\partial s_t}
    product = "*"               # the element-wise product's symbol
    symbols = { c_tilde = "\\\\tilde{c}", W_gx = "W_{gx}" }

A symbol's LaTeX is limited to a small, safe grammar (see _SymbolParser): letters, digits,
braces, primes, at most one sub- and one superscript per term, and an allowlist of commands
(Greek letters, accents and font styles with a braced argument) that KaTeX, MathJax and
pdflatex all render. The check reads the tokens TeX reads, so a ^ is a superscript or refused
(`^^5c` is TeX's own spelling of a backslash), and a spec cannot smuggle `\\input`,
`\\write18` or a `$` into a post, nor a symbol that stops pdflatex (`x_1_2`, `^`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import Location, SpecError

TIMES = {"parens": "s(t)", "subscript": "s_t"}
ADJOINTS = {"partial": "\\frac{\\partial L}{\\partial s(t)}", "total": "\\frac{dL}{ds(t)}", "delta": "\\delta s(t)"}
PRODUCTS = ("\\odot", "\\circ", "\\cdot", "*", "\\ast", "\\times")
GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota",
         "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
         "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega")
COMMANDS = set(GREEK) | {"tilde", "hat", "bar", "vec", "dot", "ddot", "check", "breve", "widetilde", "widehat",
                         "overline", "mathbf", "mathrm", "mathit", "mathcal", "mathsf", "boldsymbol", "ell", "prime",
                         "imath", "jmath"}
SYMBOL_TOKEN = re.compile(r"\\([A-Za-z]+)|([A-Za-z0-9_^{}', ])")
MAX_SYMBOL = 60


@dataclass(frozen=True)
class LatexStyle:
    time: str = "parens"
    adjoint: str = "partial"
    product: str = "\\odot"
    symbols: tuple[tuple[str, str], ...] = ()  # (spec name, LaTeX), sorted

    @property
    def symbol_map(self) -> dict[str, str]:
        return dict(self.symbols)

    def at(self, base: str, time: str) -> str:
        """A symbol at a time: s(t) or s_{t}; a subscript already there is extended (W_{g} -> W_{g,t})."""
        if self.time == "parens":
            return f"{base}({time})"
        try:
            terms = symbol_terms(base, strict=False)  # derive's own \\hat{...} around a symbol too
        except SpecError:  # not a symbol of the grammar (derive's own LaTeX): the time goes on the whole of it
            return f"{{{base}}}_{{{time}}}"
        if len(terms) > 1:
            return f"{{{base}}}_{{{time}}}"
        term = terms[0]  # the time joins its subscript, which comes after any superscript (x'^2_{1,t})
        sub = term.sub[1:-1] if term.sub.startswith("{") else term.sub
        sup = f"^{term.sup}" if term.sup else ""
        return f"{term.base}{sup}_{{{sub + ',' if sub else ''}{time}}}"

    def adjoint_of(self, latex: str, of: str = "L") -> str:
        """The derivative of the loss `of` (L, or l(t)) with respect to a printed symbol."""
        if self.adjoint == "delta" and of == "L":
            return f"\\delta {latex}"
        if self.adjoint == "total":
            return f"\\frac{{d{of}}}{{d{latex}}}"
        return f"\\frac{{\\partial {of}}}{{\\partial {latex}}}"

    def partial(self, top: str, bottom: str) -> str:
        """A local derivative such as dh(t)/ds(t), in the style's d."""
        d = "d" if self.adjoint == "total" else "\\partial "
        return f"\\frac{{{d}{top}}}{{{d}{bottom}}}"


SIMPLE = set(GREEK) | {"ell", "prime", "imath", "jmath"}  # a command that is one token: a base, or a script's argument unbraced
ACCENTS = COMMANDS - SIMPLE  # a command that takes one braced argument: \\tilde{c}, \\mathbf{W}
EXPECTED = ("a base (letters, digits, Greek letters, \\ell, a {group}, an accent or font command with a braced "
            "argument such as \\tilde{c} or \\mathbf{W}), then optional primes ', then at most one _ and one ^, each "
            "with one letter, digit or Greek letter or a {group}")


@dataclass(frozen=True)
class Term:
    """One term of a symbol: its base (primes included) and its scripts as written ('' when absent)."""

    base: str
    sub: str = ""  # the argument after _: one token, or {group} with its braces
    sup: str = ""


class _SymbolParser:
    """The grammar a symbol's LaTeX must follow, read over the tokens TeX would read (no ^^ notation: a ^ is
    only ever a superscript, and one that does not start a script is refused, as is a second _ or ^):

        symbol := term+                  group := '{' term (','? term)* '}'
        term   := atom+ "'"* scripts     scripts := ('_' arg)? ('^' arg)?  |  ('^' arg)? ('_' arg)?
        atom   := letter | digit | simple command | accent group | group
        arg    := letter | digit | simple command | group

    With primes, a ^ must come right after them (TeX merges x'^2; x'_1^2 is a double superscript). In a symbol of
    a spec (strict), no script or prime inside the braces of a group, an accent or a font (a script's own braces
    are fine): TeX unpacks a group that holds one accent, so {\\dot{x}_a}_t is a double subscript; amsmath's nested
    accents do the same to \\hat{\\tilde{c_x}}_t, and MathJax to \\boldsymbol{W_x}_t. The documents put \\hat{...}
    around a symbol and a time subscript after it, so every one of these would stop pdflatex or MathJax. Spaces
    between tokens are allowed (math mode ignores them).
    """

    def __init__(self, text: str, where: Location, name: str, strict: bool = True):
        self.text, self.where, self.name, self.strict = text, where, name, strict
        self.nest = 0  # braces of a group, an accent or a font the parser is inside (not a script's)
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            token = SYMBOL_TOKEN.match(text, position)
            if not token or (token.group(1) and token.group(1) not in COMMANDS):
                bad = token.group(0) if token else text[position]
                self.fail(f"contains {bad!r}", "letters, digits, _ ^ { } ' , and commands such as \\tilde, \\hat, "
                          "\\mathbf or Greek letters")
            if token.group(0) != " ":
                self.tokens.append(token.group(0))
            position = token.end()
        self.index = 0

    def fail(self, what: str, expected: str = EXPECTED):
        raise SpecError(self.where, f"the LaTeX symbol of {self.name!r} {what}: {self.text!r}", expected)

    def peek(self) -> str:
        return self.tokens[self.index] if self.index < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        self.index += 1
        return token

    def symbol(self) -> list[Term]:
        terms = [self.term()]
        while self.peek() and self.peek() != "}":
            terms.append(self.term())
        if self.peek():
            self.fail("closes a brace it never opened")
        return terms

    def term(self) -> Term:
        start = self.index
        while self.atom(optional=self.index > start):
            pass
        base = self.joined(start)
        primes = 0
        while self.peek() == "'":
            self.take()
            primes += 1
        if primes and self.nest and self.strict:
            self.fail("has a prime inside braces", "primes outside the braces, as in \\tilde{c}'")
        base += "'" * primes
        scripts = {"_": "", "^": ""}
        while self.peek() in ("_", "^"):
            mark = self.take()
            if self.nest and self.strict:
                self.fail(f"has {mark} inside braces", "scripts outside the braces of a group, an accent or a font, "
                          "as in \\tilde{c}_{x} or \\mathbf{W}_{g}")
            if scripts[mark]:
                self.fail(f"has a second {mark} on one term", f"at most one _ and one ^ per term ({EXPECTED})")
            if primes and mark == "^" and scripts["_"]:
                self.fail("has a ^ after primes and a _", "x'^{a}_{b}: the ^ right after the primes")
            scripts[mark] = self.argument(mark)
        return Term(base, scripts["_"], scripts["^"])

    def atom(self, optional: bool) -> bool:
        token = self.peek()
        if token == "{":
            self.nested_group()
        elif token[:1] == "\\" and token[1:] in ACCENTS:
            self.take()
            if self.peek() != "{":
                self.fail(f"has {token} without a braced argument", f"{token}{{...}}")
            self.nested_group()
        elif token and (token.isalnum() or token[1:] in SIMPLE):
            self.take()
        elif optional:
            return False
        else:
            self.fail(f"has {token!r} where a base is needed" if token else "ends where a base is needed")
        return True

    def argument(self, mark: str) -> str:
        start = self.index
        token = self.peek()
        if token == "{":  # a script's own group: scripts inside it are fine again (x_{i_j})
            nest, self.nest = self.nest, 0
            self.group()
            self.nest = nest
        elif token and (token.isalnum() or token[1:] in SIMPLE):
            self.take()
        else:
            self.fail(f"has {mark} followed by {token!r}" if token else f"ends with {mark}",
                      f"{mark} then one letter, digit or Greek letter, or a {{group}}")
        return self.joined(start)

    def nested_group(self) -> None:
        self.nest += 1
        self.group()
        self.nest -= 1

    def group(self) -> None:
        self.take()  # {
        self.term()
        while self.peek() not in ("}", ""):
            if self.peek() == ",":
                self.take()
            self.term()
        if self.take() != "}":
            self.fail("has unbalanced braces", "every { closed by a }")

    def joined(self, start: int) -> str:
        """The tokens from start on, as LaTeX: spaces dropped (math mode ignores them) except after a command word."""
        out = ""
        for token in self.tokens[start : self.index]:
            if token[:1].isalpha() and _ends_in_command(out):  # \\alpha x stays two tokens
                out += " "
            out += token
        return out


def _ends_in_command(text: str) -> bool:
    return re.search(r"\\[A-Za-z]+$", text) is not None


def symbol_terms(text: str, where: Location | None = None, name: str = "symbol", strict: bool = True) -> list[Term]:
    """A symbol's terms, or a SpecError saying what the grammar did not allow (strict: a spec's symbol)."""
    return _SymbolParser(text, where or Location("LaTeX"), name, strict).symbol()


def check_symbol(text, where: Location, name: str) -> str:
    """A symbol's LaTeX, or a SpecError saying which part is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(where, f"the LaTeX symbol of {name!r} is {text!r}", "a non-empty string such as \"\\\\tilde{c}\"")
    if len(text) > MAX_SYMBOL:
        raise SpecError(where, f"the LaTeX symbol of {name!r} is {len(text)} characters long", f"at most {MAX_SYMBOL}")
    symbol_terms(text, where, name)
    return text


def style_from_table(table, where: Location, names: set[str]) -> LatexStyle:
    """The [latex] table of a spec, checked: known options, known names, safe symbols."""
    if table is None:
        return LatexStyle()
    if not isinstance(table, dict):
        raise SpecError(where, "latex is not a table", "[latex] with time, adjoint, product and symbols")
    known = ("time", "adjoint", "product", "symbols")
    unknown = [key for key in table if key not in known]
    if unknown:
        raise SpecError(where, f"unknown key {unknown[0]!r} in [latex]", f"only {', '.join(known)}")
    symbols = table.get("symbols", {})
    if not isinstance(symbols, dict):
        raise SpecError(where, "latex.symbols is not a table", "symbols = { name = \"LaTeX\", ... }")
    return with_options(LatexStyle(), where, names, table.get("time"), table.get("adjoint"), table.get("product"), symbols)


def with_options(style: LatexStyle, where: Location, names: set[str], time=None, adjoint=None, product=None,
                 symbols: dict | None = None) -> LatexStyle:
    """The style with options replaced (from a spec's table, or from command-line flags)."""
    for value, allowed, key in ((time, TIMES, "time"), (adjoint, ADJOINTS, "adjoint"), (product, PRODUCTS, "product")):
        if value is not None and value not in allowed:
            raise SpecError(where, f"latex {key} {value!r} is not offered", f"one of {', '.join(allowed)}")
    merged = style.symbol_map
    for name, text in (symbols or {}).items():
        if name not in names:
            raise SpecError(where, f"latex symbol for {name!r}, which the cell does not have", f"one of {', '.join(sorted(names))}")
        merged[name] = check_symbol(text, where, name)
    return replace(style, time=time or style.time, adjoint=adjoint or style.adjoint, product=product or style.product,
                   symbols=tuple(sorted(merged.items())))
