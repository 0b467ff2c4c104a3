"""The `derive` command: parses flags, runs the pipeline, reports. No traceback for bad input."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import check_seed, size_setting, whole_number
from .api import restyled
from .catalog import builtin_names, builtin_spec, resolve
from .errors import DeriveError
from . import contract, limits
from .experiments.commands import train_and_race
from .spec import check_parameter_count
from .gradcheck import gradcheck
from .atomic_write import write_files
from .emit import flavor_path
from .loader import generated_module, user_module
from .pipeline import build, compare, explain, generate, work_out
from .check import check_backward, check_post
from .hand_read import backward_equations, read_backward_file, read_text
from .flavors import FLAVORS, SITE_SETUP
from .preview import png_pages
from .style import ADJOINTS, PRODUCTS, TIMES

EXAMPLES = {
    "list": "example:\n  derive list",
    "build": (
        "examples:\n"
        "  derive build                      # every built-in cell into generated/\n"
        "  derive build nico my_cell.toml --out out/\n"
        "  derive build --check              # exit 1 and name the files a build would change\n"
        "  derive build gru --explain        # what each stage produced for gru; writes nothing"
    ),
    "compare": (
        "examples:\n"
        "  derive compare greff_v greff_noaf              # Markdown to the terminal\n"
        "  derive compare lstm gru mgu --out report.html  # a page that renders with KaTeX\n"
        "  derive compare nico my_variant.toml --out diff.md --hidden-size 64"
    ),
    "train": (
        "examples:\n"
        "  derive train nico --task toy                 # the Simple LSTM post's run, digit for digit\n"
        "  derive train lstm --task chars               # Adam on the shipped text, samples every 500\n"
        "  derive train gru --task chars --text my.txt --hidden-size 128 --iterations 20000 --temperature 0.7"
    ),
    "race": (
        "examples:\n"
        "  derive race nico lstm gru --task toy --out race-toy/\n"
        "  derive race --task chars --iterations 3000 --out race-chars/   # the whole catalog"
    ),
    "latex": (
        "examples:\n"
        "  derive latex nico --flavor jekyll --out _posts/2026-11-21-lstm.md\n"
        "  derive latex nico --flavor html --out nico.html   (offline: MathML, backward() beside it)\n"
        "  derive latex lstm --flavor tex --time parens --adjoint delta --symbol c_tilde='\\tilde{c}'\n"
        "  derive latex gru --png --out gru.png        # look before you paste"
    ),
    "gradcheck": (
        "examples:\n"
        "  derive gradcheck nico\n"
        "  derive gradcheck my_cell.toml --hidden-size 6 --steps 5\n"
        "  derive gradcheck --module my_lstm.py      # your own code, written to generated/lstm/lstm.py's contract"
    ),
    "check": (
        "examples:\n"
        "  derive check nico --backward my_backward.toml      # your own backward equations, line by line\n"
        "  derive check my_cell.toml                           # the [backward] table inside the spec itself\n"
        "  derive check nico_tanh --backward my_backward.toml --format markdown > report.md\n"
        "  derive check --backward derive/gallery/tanh_forgotten.toml   # a real mistake; the file names its cell\n"
        "  derive check nico --latex _posts/2026-12-06-lstm.md          # a post's $$ displays, in derive's notation\n"
        "\n"
        "my_backward.toml (adjoints named as derive names them; what arrives from step t+1 written (t+1)):\n"
        "  [backward]\n"
        "  equations = \"\"\"\n"
        "  d_s = d_h * o + d_s(t+1) * f(t+1)\n"
        "  d_g_pre = d_s * i * (1 - g ** 2)\n"
        "  d_W_g = outer(d_g_pre, xc)\n"
        "  d_xc = W_g.T @ d_g_pre + W_i.T @ d_i_pre + W_f.T @ d_f_pre + W_o.T @ d_o_pre\n"
        "  d_h_prev = part(d_xc, h(t-1))\n"
        "  \"\"\""
    ),
}
SPEC_EXAMPLE = """example spec (my_cell.toml):
  name = "my_cell"
  inputs = ["x"]
  states = ["h"]
  output = "h"
  equations = \"\"\"
  xh = concat(x, h(t-1))
  z = sigmoid(W_z @ xh + b_z)
  h = z * h(t-1) + (1 - z) * tanh(W_h @ xh)
  \"\"\"
  [params]
  W_z = ["H", "D + H"]
  b_z = ["H"]
  W_h = ["H", "D + H"]
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except DeriveError as error:
        print(f"derive: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("derive: interrupted; every output is as it was or complete", file=sys.stderr)
        return 130
    except BrokenPipeError:  # derive list | head
        sys.stderr.close()
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="derive",
        description="Derive the backward pass of a recurrent cell from its forward equations; "
                    "write NumPy code and LaTeX.",
        epilog=SPEC_EXAMPLE + "\nthen: derive build my_cell.toml && derive gradcheck my_cell.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name: str, help: str, run) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, epilog=EXAMPLES[name],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=run)
        return sub

    command("list", "list the built-in cells with title and reference", _list)
    _build_and_compare(command)
    train_and_race(command)
    _latex_and_gradcheck(command)
    return parser


def _build_and_compare(command) -> None:
    sub = command("build", "generate NumPy code, LaTeX and Markdown for cells", _build)
    sub.add_argument("cells", nargs="*", metavar="CELL", help="built-in cell name or path to a .toml spec (default: all built-in cells)")
    sub.add_argument("--out", type=Path, default=Path("generated"), help="output folder (default: generated)")
    sub.add_argument("--templates", type=Path, help="folder of templates that override derive's own, file by file")
    sub.add_argument("--check", action="store_true", help="write nothing; exit 1 and name each file a build would change")
    sub.add_argument("--explain", action="store_true",
                     help="write nothing; print what each stage produced for each CELL (model, derivation, backward code, plan)")
    sub = command("compare", "what changes between cells: equations side by side, differences marked, costs", _compare)
    sub.add_argument("cells", nargs="+", metavar="CELL", help="two or more built-in cells or .toml specs; the first is the reference")
    sub.add_argument("--out", type=Path, help="write to FILE.md or FILE.html instead of printing Markdown")
    sub.add_argument("--input-size", type=whole_number, default=50, help="D for the cost table (default 50, as in the seed posts)")
    sub.add_argument("--hidden-size", type=whole_number, default=100, help="H for the cost table (default 100)")
    sub.add_argument("--templates", type=Path, help="folder of templates that override derive's own")


def _latex_and_gradcheck(command) -> None:
    sub = command("latex", "the derivation as a blog post or LaTeX article, in a chosen notation", _latex)
    sub.add_argument("cell", metavar="CELL", help="built-in cell name or path to a .toml spec")
    sub.add_argument("--flavor", choices=("tex", "html") + FLAVORS, default="commonmark",
                     help="tex (standalone article), html (a page that works offline: MathML, the code beside it), "
                          "jekyll (kramdown, front matter), hugo (passthrough math) or commonmark (default)")
    sub.add_argument("--out", type=Path, help="write to FILE instead of printing (with --png: FILE.png, or FILE-N.png per page)")
    sub.add_argument("--png", action="store_true", help="compile with pdflatex and write PNG pages (needs texlive-latex-base, poppler-utils)")
    sub.add_argument("--time", choices=tuple(TIMES), help="s(t) (parens) or s_t (subscript)")
    sub.add_argument("--adjoint", choices=tuple(ADJOINTS), help="partial, total (dL/ds) or delta")
    sub.add_argument("--product", help="element-wise product symbol: " + ", ".join(PRODUCTS))
    sub.add_argument("--symbol", action="append", default=[], metavar="NAME=LATEX", help="a variable's symbol, e.g. c_tilde='\\tilde{c}' (repeatable)")
    sub = command("gradcheck", "check a cell's generated backward pass against finite differences", _gradcheck)
    sub.add_argument("cell", metavar="CELL", nargs="?", help="built-in cell name or path to a .toml spec")
    sub.add_argument("--module", type=Path, metavar="FILE.py",
                     help="check your own module instead, one that follows the generated-module contract (its code runs)")
    sub.add_argument("--input-size", type=whole_number, default=3, help="D (default 3)")
    sub.add_argument("--hidden-size", type=whole_number, default=4, help="H (default 4)")
    sub.add_argument("--steps", type=whole_number, default=3, help="sequence length T (default 3)")
    sub.add_argument("--batch", type=whole_number, default=2, help="batch size B (default 2)")
    sub.add_argument("--size", type=size_setting, action="append", default=[], metavar="NAME=VALUE",
                     help="a size the spec declares, e.g. P=5 (repeatable; default: equal to H)")
    sub.add_argument("--seed", type=whole_number, default=0, help="random seed (default 0)")
    sub = command("check", "hold your own backward equations against the derived ones: which line is wrong, and how", _check)
    sub.add_argument("cell", metavar="CELL", nargs="?", help="built-in cell name or path to a .toml spec (default: the cell the file names)")
    sub.add_argument("--backward", type=Path, metavar="FILE.toml",
                     help="a file with a [backward] table of your equations (default: the spec's own [backward] table)")
    sub.add_argument("--latex", type=Path, metavar="POST.md",
                     help="check a post's display equations instead ($$ blocks, or a .tex file), written in derive's notation")
    sub.add_argument("--time", choices=tuple(TIMES), help="with --latex: the post writes s(t) (parens) or s_t (subscript)")
    sub.add_argument("--symbol", action="append", default=[], metavar="NAME=LATEX", help="with --latex: a variable's symbol in the post (repeatable)")
    sub.add_argument("--format", choices=("text", "markdown"), default="text",
                     help="text for the terminal (default), or Markdown with the differences in LaTeX")


def _list(args) -> int:
    for name in builtin_names():
        spec = builtin_spec(name)
        print(f"{name:<12} {spec.title}\n{'':<12} {spec.reference}")
    return 0


def _build(args) -> int:
    if args.templates is not None and not args.templates.is_dir():
        raise DeriveError(f"--templates {args.templates}: not a folder")
    whole_catalog = not args.cells
    specs = [resolve(cell) for cell in args.cells] if args.cells else [builtin_spec(n) for n in builtin_names()]
    if args.explain:
        if whole_catalog:
            raise DeriveError("--explain needs the cells to explain, e.g. derive build gru --explain")
        print("\n".join(explain(spec) for spec in specs), end="")
        return 0
    result = build(specs, args.out, args.templates, check=args.check, comparison=whole_catalog)
    if args.check:
        for relative in result.changed:
            print(f"would change: {args.out / relative}")
        print(f"{len(result.files)} files checked, {len(result.changed)} would change")
        return 1 if result.changed else 0
    for relative in result.changed:
        print(f"wrote {args.out / relative}")
    print(f"{len(specs)} cells, {len(result.files)} files: {len(result.changed)} written, "
          f"{len(result.files) - len(result.changed)} unchanged")
    return 0


def _compare(args) -> int:
    if args.templates is not None and not args.templates.is_dir():
        raise DeriveError(f"--templates {args.templates}: not a folder")
    suffix = args.out.suffix if args.out else ".md"
    if suffix not in (".md", ".html"):
        raise DeriveError(f"--out {args.out}: expected a file ending in .md or .html")
    for flag in ("input_size", "hidden_size"):
        if not 1 <= getattr(args, flag) <= 100_000:
            raise DeriveError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: expected a whole number from 1 to 100000")
    if len(args.cells) < 2:
        raise DeriveError("compare needs at least two cells, e.g. derive compare greff_v greff_noaf")
    specs = []
    for cell in args.cells:
        try:
            specs.append(resolve(cell))
        except DeriveError as error:
            raise DeriveError(f"cannot compare {cell!r}: {error}") from None
    for spec in specs:
        check_parameter_count(spec, args.input_size, args.hidden_size, limits.MAX_PARAMETERS["compare"], "compare's cost table")
    text = compare(specs, suffix, args.templates, (args.input_size, args.hidden_size))
    if args.out is None:
        sys.stdout.write(text)
        return 0
    write_files(args.out.parent, {args.out.name: text})
    print(f"wrote {args.out}")
    return 0


def _gradcheck(args) -> int:
    for flag in ("input_size", "hidden_size", "steps", "batch"):
        if not 1 <= getattr(args, flag) <= 64:
            raise DeriveError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: expected a whole number from 1 to 64")
    check_seed(args)
    name, module, extra = _checked_module(args)
    try:
        rows = gradcheck(module, input_size=args.input_size, hidden_size=args.hidden_size,
                         steps=args.steps, batch=args.batch, seed=args.seed, sizes=extra)
    except Exception as error:  # only a user's module gets here with an error: derive's own are checked
        raise DeriveError(f"{name}: running it raised {type(error).__name__}: {error}") from None
    sizes = contract.sizes_of(module, args.input_size, args.hidden_size, extra)
    print(f"{name}: central differences, {' '.join(f'{k}={v}' for k, v in sizes.items())} "
          f"T={args.steps} B={args.batch}, float64")
    print(f"{'array':<16} {'entries':>8} {'worst relative error':>22}")
    for row in rows:
        print(f"{row.name:<16} {row.entries:>8} {row.error:>22.2e}")
    worst = max(row.error for row in rows)
    verdict = "ok" if worst < 1e-6 else "FAILED"
    print(f"worst: {worst:.2e} ({verdict}: the threshold is 1e-6)")
    return 0 if worst < 1e-6 else 1


def _checked_module(args):
    """(name, module, declared sizes) of a gradcheck: a cell's generated module, or --module's."""
    if (args.cell is None) == (args.module is None):
        raise DeriveError("gradcheck takes a CELL or --module FILE.py, one of the two")
    if args.module is not None:
        module = user_module(args.module)
        return str(args.module), module, dict(args.size)
    spec = resolve(args.cell)
    extra = declared_sizes(spec, args.size)
    check_parameter_count(spec, args.input_size, args.hidden_size, limits.MAX_PARAMETERS["gradcheck"], "gradcheck")
    return spec.name, generated_module(spec), extra


def declared_sizes(spec, settings: list[tuple[str, int]]) -> dict[str, int]:
    """--size NAME=VALUE settings, each a size the spec declares, in 1..64."""
    declared = [size for size in spec.sizes if size not in ("D", "H")]
    extra = dict(settings)
    for name, value in extra.items():
        if name not in declared:
            raise DeriveError(f"--size {name}={value}: {spec.name} declares " + (f"the sizes {', '.join(declared)}" if declared else "no sizes besides D and H"))
        if not 1 <= value <= 64:
            raise DeriveError(f"--size {name}={value}: expected a whole number from 1 to 64")
    return extra


def _check(args) -> int:
    if args.backward is not None and args.latex is not None:
        raise DeriveError("check takes --backward FILE.toml or --latex POST.md, not both")
    written = read_backward_file(args.backward) if args.backward is not None else None
    name = args.cell or (written.cell if written is not None else None)
    if name is None:
        raise DeriveError("check needs a CELL, or --backward FILE.toml whose file names its cell (cell = \"nico\")")
    spec = restyled(resolve(name), args.time, None, None, _symbol_options(args.symbol), where="command line")
    if args.latex is not None:
        report = check_post(work_out(spec), read_text(args.latex, "a post (Markdown or .tex)"), str(args.latex))
    elif written is not None:
        report = check_backward(work_out(spec), written.equations, str(args.backward))
    else:
        equations = backward_equations(spec.source_text, spec.path)
        if equations is None:
            raise DeriveError(f"{spec.path}: {spec.name} has no [backward] table of its own; expected --backward FILE.toml "
                              "with your equations, or --latex POST.md (see derive check --help)")
        report = check_backward(work_out(spec), equations, spec.path)
    sys.stdout.write(report.markdown() if args.format == "markdown" else report.text())
    return 0 if report.passed else 1


def _symbol_options(items: list[str]) -> dict[str, str]:
    """--symbol NAME=LATEX settings, by name."""
    symbols = {}
    for item in items:
        name, sign, latex = item.partition("=")
        if not sign or not name:
            raise DeriveError(f"--symbol {item!r}: expected NAME=LATEX, e.g. c_tilde='\\tilde{{c}}'")
        symbols[name.strip()] = latex
    return symbols


def _latex(args) -> int:
    spec = resolve(args.cell)
    files = generate(restyled(spec, args.time, args.adjoint, args.product, _symbol_options(args.symbol), where="command line"))
    tex = files[f"{spec.name}/{spec.name}.tex"]
    if args.png:
        pages = png_pages(tex)
        if args.out is None:
            raise DeriveError("--png needs --out FILE.png: PNG is not for the terminal")
        stem = args.out.with_suffix("")
        outputs = {args.out.name: pages[0]} if len(pages) == 1 else {f"{stem.name}-{n}.png": page for n, page in enumerate(pages, 1)}
        write_files(args.out.parent, outputs)
        print(f"wrote {', '.join(str(args.out.parent / name) for name in outputs)}")
        return 0
    own = {"tex": tex, "html": files[f"{spec.name}/{spec.name}.html"]}
    text = own[args.flavor] if args.flavor in own else files[flavor_path(spec.name, args.flavor)]
    setup = SITE_SETUP.get(args.flavor)
    if args.out is None:
        sys.stdout.write(text)
        if setup:  # the post alone on stdout; what the site needs beside it, on stderr
            print("\n" + setup, file=sys.stderr)
        return 0
    write_files(args.out.parent, {args.out.name: text})
    print(f"wrote {args.out}" + (f"\n\n{setup}" if setup else ""))
    return 0
