"""The atoms of derive's LaTeX, for the reader (latex_read): numbers, groups, blocks, fractions and
derivatives, functions, steps, stacked vectors and names with their times. A mixin of the parser, whose
expression rules (latex_read._Parser) these call back into."""
from __future__ import annotations

import re

import sympy as sp

from .latex_tokens import (ACCENTS, ALNUM_RE, FONTS, FUNCTIONS, GREEK, NAME_SCRIPT_RE, TIME_RE, TWO_ARGUMENTS, Adjoint,
                           Block, Concat, DOTLESS, Partial, Piece, Rows, STEP, SPREAD, UNITSUM, LatexReadError, Token,
                           is_loss)


class Atoms:
    """What the parser reads below a product: see latex_read's grammar."""

    # -- primaries ---------------------------------------------------------------------------

    def primary(self) -> Piece:
        tok = self.peek()
        if tok.category == "number":
            self.next()
            return Piece(sp.Rational(tok.text))  # exact: 0.00001 is 1/100000, as derive holds it
        if tok.category == "open":
            if tok.text == r"\left[":
                return Piece(self.block())
            if tok.text == r"\left|":
                return Piece(self.absolute())
            return Piece(self.group())
        if tok.category == "cmd":
            if tok.text == r"\frac":
                return Piece(self.frac())
            if tok.text == r"\begin":
                return Piece(self.bmatrix())
            if tok.text == r"\sqrt":
                self.next()
                return Piece(sp.Function("sqrt")(self.braced_expr()))
            if tok.text == r"\delta" and self.delta_is_adjoint():
                self.next()
                return Piece(Adjoint(sp.Symbol("L@"), self.operand()))
            if tok.text in FUNCTIONS or tok.text == r"\operatorname":
                # \sigma is the logistic function before an argument, else the Greek letter.
                if tok.text != r"\sigma" or self.opens_argument(self.peek(1)):
                    return Piece(self.function())
            if tok.text == r"\mathbf" and self.at("{", 1) and self.peek(2).text == "1" \
                    and self.at("}", 3):
                return Piece(self.step())
            if tok.text in GREEK or tok.text in ACCENTS or tok.text in FONTS:
                return Piece(self.name(), is_name=True)
        if tok.category == "letter":
            return Piece(self.name(), is_name=True)
        if tok.category == "end":
            raise self.error("unexpected end: an operand is missing")
        raise self.error(f"unexpected {tok.text!r}")

    def group(self) -> sp.Expr:
        open_tok = self.next()
        value = self.expr()
        closing = ")" if open_tok.text == "(" else r"\right)"
        if not self.at(closing):
            raise self.error(f"expected {closing!r} closing {open_tok.text!r} at {open_tok.pos}")
        self.next()
        return value

    def block(self) -> sp.Expr:
        r"""\left[ X \right]_{part}: the block of X belonging to part."""
        open_tok = self.next()
        value = self.expr()
        self.expect(r"\right]", rf"'\right]' closing '\left[' at {open_tok.pos}")
        if not self.at("_"):
            raise self.error(r"\left[ X \right] needs a subscript _{part} (a block of X)")
        self.next()
        if self.at("{") and any(t.text == ":" for t in self.toks[self.i:self.matching_brace(self.i)]):
            self.next()  # _{first:last}: rows of X
            first = self.expr()
            self.expect(":", "':' between a block's first and last rows")
            last = self.expr()
            self.expect("}", "'}' closing a block's rows")
            return Rows(value, first, last)
        return Block(value, self.script_expr())

    def absolute(self) -> sp.Expr:
        r"""\left| X \right|: the absolute value of X."""
        open_tok = self.next()
        value = self.expr()
        self.expect(r"\right|", rf"'\right|' closing '\left|' at {open_tok.pos}")
        return sp.Function("abs")(value)

    def frac(self) -> sp.Expr:
        frac_tok = self.next()
        if not self.at("{"):
            raise self.error(r"\frac needs two braced arguments")
        top_marker = self.derivative_marker(self.i + 1)
        bottom_open = self.matching_brace(self.i) + 1
        if self.toks[bottom_open].text != "{":
            raise self.error(r"\frac needs two braced arguments", self.toks[bottom_open])
        bottom_marker = self.derivative_marker(bottom_open + 1)
        if r"\partial" in (top_marker, bottom_marker) and top_marker != bottom_marker:
            raise self.error(r"a \frac with \partial on one side only", frac_tok)
        if top_marker is None or bottom_marker is None:
            # A d on one side only is a symbol named d: this is a division.
            top, bottom = self.braced_expr(), self.braced_expr()
            return top / bottom
        top = self.braced_expr(skip_marker=True)
        bottom = self.braced_expr(skip_marker=True)
        return Adjoint(top, bottom) if is_loss(top) else Partial(top, bottom)

    def derivative_marker(self, j: int) -> str | None:
        r"""What opens a \frac argument at token j: \partial, a differential d, or neither.

        d is a differential only when a name or \left( follows it (dL, d\hat{f}, dx_c, d L), and
        only when both arguments open with one; d alone, d_{..}, d^{..} and d(t) are a symbol d.
        """
        tok, after = self.toks[j], self.toks[min(j + 1, len(self.toks) - 1)]
        if tok.category == "cmd" and tok.text == r"\partial":
            return r"\partial"
        if tok.category == "letter" and tok.text == "d":
            if after.category == "letter" or (after.category == "cmd" and (
                    after.text in GREEK or after.text in ACCENTS or after.text in FONTS)):
                return "d"
            if after.category == "open" and after.text == r"\left(":
                return "d"
        return None

    def matching_brace(self, j: int) -> int:
        depth = 0
        for k in range(j, len(self.toks)):
            if self.toks[k].text == "{" and self.toks[k].category == "punct":
                depth += 1
            elif self.toks[k].text == "}" and self.toks[k].category == "punct":
                depth -= 1
                if depth == 0:
                    return k
        raise self.error("unclosed '{'", self.toks[j])

    def braced_expr(self, skip_marker: bool = False) -> sp.Expr:
        self.expect("{")
        if skip_marker:
            self.next()
            if self.at("}"):
                raise self.error(r"nothing after \partial or d")
        value = self.expr()
        self.expect("}", "'}' closing a \\frac argument")
        return value

    def delta_is_adjoint(self) -> bool:
        r"""\delta X is an adjoint when an operand follows; \delta_{..}, \delta(t) or \delta alone is a letter."""
        after = self.peek(1)
        if after.category == "open" and after.text == "(" and not after.space:
            return False
        self.i += 1
        try:
            return self.starts_operand()
        finally:
            self.i -= 1

    def function(self) -> sp.Expr:
        tok = self.next()
        if tok.text == r"\operatorname":
            name = self.raw_group().strip()
            if not ALNUM_RE.match(name):
                raise self.error(r"\operatorname{..} names a function with letters and digits", tok)
        else:
            name = FUNCTIONS[tok.text]
        if not self.opens_argument(self.peek()):
            raise self.error(f"{tok.text} needs an argument in parentheses")
        if name in TWO_ARGUMENTS:
            return sp.Function(name)(*self.pair())
        return sp.Function(name)(self.group())

    def pair(self) -> tuple[sp.Expr, sp.Expr]:
        """( A, B ) or \\left( A, B \\right): the two arguments of \\max or \\min."""
        open_tok = self.next()
        first = self.expr()
        self.expect(",", "',' between the two arguments")
        second = self.expr()
        closing = ")" if open_tok.text == "(" else r"\right)"
        self.expect(closing, f"{closing!r} closing {open_tok.text!r} at {open_tok.pos}")
        return first, second

    @staticmethod
    def opens_argument(tok: Token) -> bool:
        return tok.category == "open" and tok.text in ("(", r"\left(")

    def step(self) -> sp.Expr:
        r"""\mathbf{1}\left[ X > 0 \right]: the step function of X; \mathbf{1}\left[ A > B \right] and
        \mathbf{1}\left[ A \geq B \right]: 1 where the comparison holds; \mathbf{1}^{\top} \left(X\right): X
        summed over its units; \mathbf{1} X: X spread over a vector's units."""
        for _ in range(4):
            self.next()
        if self.peek().text == "^":
            self.next()
            if self.raw_group().strip() != r"\top":
                raise self.error(r"\mathbf{1}^{..} is \mathbf{1}^{\top}")
            return UNITSUM(self.group())
        if self.peek().text != r"\left[":
            return SPREAD(self.primary().expr)
        self.expect(r"\left[", r"'\left[' after \mathbf{1}")
        value = self.expr()
        if not (self.at(">") or self.at(r"\geq")):
            raise self.error(r"'>' or '\geq' in \mathbf{1}\left[A > B\right]")
        strict = self.next().text == ">"
        other = self.expr()
        self.expect(r"\right]", r"'\right]' closing \mathbf{1}\left[")
        if strict and other == 0:
            return STEP(value)
        return sp.Function("greater" if strict else "greater_equal")(value, other)

    def bmatrix(self) -> sp.Expr:
        begin = self.next()
        if self.raw_group().strip() != "bmatrix":
            raise self.error(r"the only environment inside an equation is bmatrix", begin)
        rows = [self.expr()]
        while self.at("\\\\"):
            self.next()
            rows.append(self.expr())
        self.expect(r"\end", r"'\\' or '\end{bmatrix}'")
        if self.raw_group().strip() != "bmatrix":
            raise self.error(r"expected \end{bmatrix}", begin)
        return Concat(*rows)

    # -- names -------------------------------------------------------------------------------

    def name(self) -> sp.Symbol:
        start = self.peek()
        base, time = self.name_base(allow_time=self.time == "subscript")
        after = self.peek()
        if after.category == "open" and after.text == "(" and not after.space:
            if self.time == "subscript":
                raise self.error("a parenthesis right after a name: a time in parentheses, but "
                                 "this is read with time='subscript'", after)
            if time is not None:
                raise self.error("two times on one name", after)
            time = self.paren_time(start)
        return sp.Symbol(f"{base}@{time or ''}")

    def paren_time(self, name_tok: Token) -> str:
        """The time in h(t-1): one of t, t±k, \\tau, in parentheses right after the name."""
        open_tok = self.next()
        j = self.i
        while self.toks[j].category not in ("end", "close", "open"):
            j += 1
        close_tok = self.toks[j]
        if close_tok.category == "end":
            raise self.error("unclosed '('", open_tok)
        text = re.sub(r"\s+", "", self.src[open_tok.pos + 1:close_tok.pos])
        if close_tok.text != ")" or not TIME_RE.match(text):
            raise self.error(r"expected a time (t, t-1, t+1, \tau) in parentheses after a name",
                             open_tok)
        self.i = j + 1
        return text

    def name_base(self, allow_time: bool) -> tuple[str, str | None]:
        """A name's canonical LaTeX and, in subscript mode, the time its subscript holds."""
        base = self.core()
        while self.peek().category == "prime" and not self.peek().space:
            base += self.next().text    # a prime belongs to the name: f' is a name of its own
        time = None
        while self.at("_") or self.at("^"):
            if self.at("^") and not self.superscript_is_name():
                break           # ^{\top} or a power: postfix, not part of the name
            script_tok = self.next()
            mark = script_tok.text
            text = self.raw_script()
            if mark == "_":
                sub, sub_time = self.split_time(text, script_tok)
                if sub_time is not None:
                    if not allow_time:
                        raise self.error("a time in a subscript here: read with "
                                         "time='subscript', or not inside an accent", script_tok)
                    if time is not None:
                        raise self.error("two times on one name", script_tok)
                    time = sub_time
                if sub:
                    base += "_{" + sub + "}"
            else:
                base += "^{" + text + "}"
        return base, time

    def split_time(self, sub: str, tok: Token) -> tuple[str, str | None]:
        """Split a subscript into the name's part and a time: t-1 -> ("", "t-1"), g,t -> ("g", "t")."""
        if TIME_RE.match(sub):
            return "", sub
        head, comma, tail = sub.rpartition(",")
        if comma and TIME_RE.match(tail):
            if not head:
                raise self.error("an empty subscript before the time", tok)
            return head, tail
        return sub, None

    def superscript_is_name(self) -> bool:
        """Whether the ^ ahead carries letters and digits (part of the name), not ^{\\top} or a power."""
        after = self.peek(1)
        if after.category == "letter":
            return True
        if after.text != "{":
            return False
        save = self.i
        try:
            self.next()
            return bool(NAME_SCRIPT_RE.match(re.sub(r"\s+", "", self.raw_group())))
        except LatexReadError:
            return False
        finally:
            self.i = save

    def core(self) -> str:
        tok = self.next()
        if tok.category == "letter":
            after = self.peek()
            if after.category in ("letter", "number") and not after.space:
                raise self.error(f"{tok.text}{after.text}: adjacent letters or digits are ambiguous "
                                 r"(a multi-letter name is \mathit{..}; a product needs a space "
                                 r"or an operator)", tok)
            return tok.text
        if tok.text in GREEK:
            return tok.text
        if tok.text in DOTLESS:
            return DOTLESS[tok.text]
        if tok.text in ACCENTS:
            if self.at("{"):
                self.next()
                inner, _ = self.name_base(allow_time=False)
                self.expect("}", f"'}}' closing {tok.text}{{..}}: an accent holds one name")
            else:
                inner, _ = self.name_base_unbraced()
            return f"{tok.text}{{{inner}}}"
        if tok.text in FONTS:
            content = re.sub(r"\s+", "", self.raw_group())
            if not ALNUM_RE.match(content):
                raise self.error(f"{tok.text}{{..}} holds letters and digits", tok)
            return f"{tok.text}{{{content}}}"
        raise self.error(f"expected a name, not {tok.text!r}", tok)

    def name_base_unbraced(self) -> tuple[str, None]:
        r"""\hat f: the accent's argument is the single next letter or command."""
        tok = self.peek()
        if tok.category == "letter" or tok.text in GREEK:
            self.next()
            return tok.text, None
        raise self.error("an unbraced accent takes one letter")

