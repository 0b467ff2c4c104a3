"""derive from Python: a cell to derive, read, edit, check, compare and train, in a notebook or a script.

    import derive
    lstm = derive.Cell("lstm")                      # a built-in cell, a spec file, or derive.Cell.from_text(SPEC)
    lstm                                            # Jupyter shows its forward and backward equations
    lstm.module().forward_sequence(...)             # the generated NumPy code, imported in memory
    lstm.markdown(), lstm.latex(), lstm.html()      # the post, the .tex article, the offline page
    lstm.gradcheck()                                # central differences against the derived backward
    lstm.check("d_c = o * d_h + d_c(t+1) * f(t+1)")   # your own backward equations, line by line
    lstm.compare(derive.Cell("gru"))                # Jupyter shows the comparison's tables
    linear = lstm.with_equation("h", "o * c", name="linear_out")   # a variant, derived anew

Each cell is worked out once (pipeline.work_out) and every output comes from the same templates as
`derive build`; a bad spec or option raises the command line's DeriveError, with the same message.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .catalog import resolve
from .errors import DeriveError, Location
from .escape import quoted_string
from .spec import CellSpec, spec_from_text
from .style import with_options

if TYPE_CHECKING:  # only for the annotation: the check loads SymPy, which `import derive` does not
    from .check import CheckReport


class Cell:
    """One cell: its spec, in a notation (time "parens" or "subscript", adjoint "partial", "total" or
    "delta", an element-wise product symbol, LaTeX symbols by name), and everything derived from it."""

    def __init__(self, source: str | Path | CellSpec, *, time: str | None = None, adjoint: str | None = None,
                 product: str | None = None, symbols: dict[str, str] | None = None):
        from .pipeline import work_out  # SymPy loads with the first cell, not with `import derive`

        spec = source if isinstance(source, CellSpec) else resolve(str(source))
        self.spec = restyled(spec, time, adjoint, product, symbols)
        self.derived = work_out(self.spec)  # now, so that a bad equation is refused where the cell is made

    @classmethod
    def from_text(cls, text: str, **notation) -> "Cell":
        """A cell from spec text (TOML, as a spec file holds it); its messages say "spec text"."""
        return cls(spec_from_text(text, "spec text"), **notation)

    def with_equation(self, target: str, right: str, name: str | None = None) -> "Cell":
        """A new cell whose equation for target reads `target = right`, renamed to name if given."""
        equation = next((e for e in self.spec.equations if e.target == target), None)
        if equation is None or not equation.where.line:
            targets = ", ".join(e.target for e in self.spec.equations)
            raise DeriveError(f"cannot edit {self.name!r}: it has no equation for {target!r}; expected one of {targets}")
        lines = self.source.split("\n")
        line = lines[equation.where.line - 1]
        lines[equation.where.line - 1] = line[:equation.where.column - 1] + right  # the right side is the rest of its line
        return Cell.from_text(_renamed("\n".join(lines), name))

    def edit(self, old: str, new: str, name: str | None = None) -> "Cell":
        """A new cell whose spec reads `new` where this one reads `old` (an equation, a shape), renamed to
        name if given; this cell is unchanged. Its notation options are not carried over."""
        if self.source.count(old) != 1:
            found = "is not" if old not in self.source else "is more than once"
            raise DeriveError(f"cannot edit {self.name!r}: {old!r} {found} in its spec; expected one exact piece of its text")
        return Cell.from_text(_renamed(self.source.replace(old, new), name))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def source(self) -> str:
        """The spec's text: edit it and make a new cell with Cell.from_text."""
        return self.spec.source_text

    @functools.cached_property
    def files(self) -> dict[str, str]:
        """Every output `derive build` writes for this cell, by path relative to the output folder."""
        from .emit import environment
        from .pipeline import render_files

        return render_files(self.derived, environment())

    def _file(self, suffix: str) -> str:
        return self.files[f"{self.name}/{self.name}{suffix}"]

    def notation(self, **options) -> "Cell":
        """The same cell in another notation: time=, adjoint=, product=, symbols= (as the constructor's)."""
        return Cell(self.spec, **options) if options else self

    def markdown(self, flavor: str = "md", **notation) -> str:
        """The post: "md" (dollar math), or a blog engine's flavour ("jekyll", "hugo", "commonmark"), in this
        cell's notation or the one given (time=, adjoint=, product=, symbols=)."""
        suffix = ".md" if flavor == "md" else f".{flavor}.md"
        if f"{self.name}/{self.name}{suffix}" not in self.files:
            raise DeriveError(f"no Markdown flavour {flavor!r}: expected md, jekyll, hugo or commonmark")
        return self.notation(**notation)._file(suffix)

    def latex(self, **notation) -> str:
        """The standalone LaTeX article (pdflatex compiles it), in this cell's notation or the one given."""
        return self.notation(**notation)._file(".tex")

    def html(self, **notation) -> str:
        """The offline page: the derivation in MathML with backward() beside it."""
        return self.notation(**notation)._file(".html")

    def code(self) -> str:
        """The generated NumPy module's source."""
        return self._file(".py")

    def module(self) -> ModuleType:
        """The generated NumPy module, imported in memory (forward_sequence, backward_sequence, ...)."""
        return self._module

    @functools.cached_property
    def _module(self) -> ModuleType:
        from .loader import load_generated

        return load_generated(self.code(), self.name)

    def gradcheck(self, eps: float = 1e-6, **sizes) -> "GradcheckReport":
        """The derived backward pass against central differences, one row per parameter, input and state."""
        from .gradcheck import gradcheck

        return GradcheckReport(self.name, tuple(gradcheck(self.module(), eps=eps, **sizes)))

    def compare(self, *others: "Cell", input_size: int = 50, hidden_size: int = 100) -> "Comparison":
        """What changes from this cell to each of the others, with a cost table at these sizes."""
        from .pipeline import compare

        specs = [self.spec, *(other.spec for other in others)]
        sizes = (input_size, hidden_size)
        return Comparison(compare(specs, ".md", sizes=sizes), compare(specs, ".html", sizes=sizes))

    def check(self, backward: str | Path) -> "CheckReport":
        """Your own backward equations against the derived ones, line by line (`derive check`): a path to a file
        with a [backward] table, or the equations as text, one `adjoint = expression` per line."""
        from .check import check_backward
        from .hand_read import read_backward_file
        from .spec import equation_lines

        if isinstance(backward, Path):
            return check_backward(self.derived, read_backward_file(backward).equations, str(backward))
        equations = equation_lines(backward, backward.split("\n"), "backward text", Location("backward text", 1))
        return check_backward(self.derived, equations, "backward text")

    def train_toy(self, iterations: int = 100, lr: float = 0.1, seed: int = 0) -> list[float]:
        """The "Simple LSTM" post's toy task (fit four numbers with SGD, `derive train CELL --task toy --init
        default`): the loss after each iteration."""
        from .experiments.train import train_toy, untrainable

        reason = untrainable(self.spec)
        if reason:
            raise DeriveError(f"cannot train {self.name!r} on the toy task: {reason}")
        return [record.loss for record in train_toy(self.module(), iterations=iterations, lr=lr, init="default", seed=seed)]

    def equations(self) -> str:
        """The forward and backward equations as Markdown with $$ math: what Jupyter shows for the cell."""
        from .render_latex import latex_view

        view = latex_view(self.derived.derivation, self.derived.notation)
        parts = [f"**{self.spec.title}** (`{self.name}`)", "Forward pass:", _display(view["forward"]),
                 "Backward pass, one step back (the tags are the generated code's):"]
        parts += [_display(section.equations) for section in view["backward"]]
        return "\n\n".join(parts) + "\n"

    def _repr_markdown_(self) -> str:
        return self.equations()

    def _repr_latex_(self) -> str:
        """The displays alone, for a front end that renders LaTeX output rather than Markdown."""
        return "\n".join(part for part in self.equations().split("\n\n") if part.startswith("$$"))

    def __repr__(self) -> str:
        return f"derive.Cell({self.name!r})"


@dataclasses.dataclass(frozen=True)
class GradcheckReport:
    cell: str
    rows: tuple  # gradcheck.GradcheckRow: name, worst relative error, entries

    @property
    def worst(self) -> float:
        return max(row.error for row in self.rows)

    def _repr_markdown_(self) -> str:
        lines = [f"Gradient check of `{self.cell}` (worst relative error {self.worst:.1e}):", "",
                 "| array | entries | worst relative error |", "|---|---:|---:|"]
        lines += [f"| `{row.name}` | {row.entries} | {row.error:.1e} |" for row in self.rows]
        return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class Comparison:
    markdown: str  # as COMPARISON.md
    html: str  # the offline page of `derive compare --out FILE.html`

    def _repr_markdown_(self) -> str:
        return self.markdown


def restyled(spec: CellSpec, time=None, adjoint=None, product=None, symbols=None, where: str = "notation") -> CellSpec:
    """The spec in another notation (the command line's --time, --adjoint, --product, --symbol)."""
    if time is None and adjoint is None and product is None and not symbols:
        return spec
    names = {*spec.inputs, *spec.states, *(p.name for p in spec.params), *(e.target for e in spec.equations)}
    style = with_options(spec.latex, Location(where), names, time, adjoint, product, symbols or {})
    return dataclasses.replace(spec, latex=style)


def _renamed(text: str, name: str | None) -> str:
    """Spec text with its top-level `name = ...` line naming name instead (unchanged for None)."""
    if name is None:
        return text
    return re.sub(r"^name\s*=.*$", lambda _: f"name = {quoted_string(name)}", text, count=1, flags=re.M)


def _display(equations) -> str:
    rows = " \\\\\n".join(f"{eq.left} &= {eq.right}" + (f" && \\text{{({eq.tag})}}" if eq.tag else "") for eq in equations)
    return f"$$\n\\begin{{aligned}}\n{rows}\n\\end{{aligned}}\n$$"
