"""The LaTeX notation of a cell: the `[latex]` table of a spec, and the same options as CLI flags.

    [latex]
    time = "subscript"          # s_t instead of s(t)
    adjoint = "delta"           # \\delta s_t instead of \\frac{\\partial L}{\\partial s_t}
    product = "*"               # the element-wise product's symbol
    symbols = { c_tilde = "\\\\tilde{c}", W_gx = "W_{gx}" }

A symbol's LaTeX is limited to a small, safe subset: letters, digits, sub- and superscripts,
braces, primes, and an allowlist of commands (Greek letters, accents, font styles) that
KaTeX, MathJax and pdflatex all render. Nothing else reaches the documents, so a spec
cannot smuggle `\\input`, `\\write18` or a `$` into a post.
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
                         "overline", "mathbf", "mathrm", "mathit", "mathcal", "mathsf", "boldsymbol", "ell", "prime"}
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
        match = re.fullmatch(r"(.*)_\{([^{}]*)\}", base) or re.fullmatch(r"(.*)_([A-Za-z0-9])", base)
        if match:
            return f"{match.group(1)}_{{{match.group(2)},{time}}}"
        return f"{base}_{{{time}}}"

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


def check_symbol(text, where: Location, name: str) -> str:
    """A symbol's LaTeX, or a SpecError saying which part is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(where, f"the LaTeX symbol of {name!r} is {text!r}", "a non-empty string such as \"\\\\tilde{c}\"")
    if len(text) > MAX_SYMBOL:
        raise SpecError(where, f"the LaTeX symbol of {name!r} is {len(text)} characters long", f"at most {MAX_SYMBOL}")
    position, depth = 0, 0
    while position < len(text):
        token = SYMBOL_TOKEN.match(text, position)
        if not token or (token.group(1) and token.group(1) not in COMMANDS):
            bad = token.group(0) if token else text[position]
            raise SpecError(where, f"the LaTeX symbol of {name!r} contains {bad!r}",
                            "letters, digits, _ ^ { } ' and commands such as \\tilde, \\hat, \\mathbf or Greek letters")
        depth += {"{": 1, "}": -1}.get(token.group(2), 0)
        if depth < 0:
            break
        position = token.end()
    if depth != 0:
        raise SpecError(where, f"the LaTeX symbol of {name!r} has unbalanced braces: {text!r}", "every { closed by a }")
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
