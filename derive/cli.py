"""The `derive` command: parses flags, runs the pipeline, reports. No traceback for bad input."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .catalog import builtin_names, builtin_spec, resolve
from .errors import DeriveError
from .gradcheck import gradcheck, load_generated
from .files import write_files
from .pipeline import build, compare, generate

EXAMPLES = {
    "list": "example:\n  derive list",
    "build": (
        "examples:\n"
        "  derive build                      # every built-in cell into generated/\n"
        "  derive build nico my_cell.toml --out out/\n"
        "  derive build --check              # exit 1 and name the files a build would change"
    ),
    "compare": (
        "examples:\n"
        "  derive compare greff_v greff_noaf              # Markdown to the terminal\n"
        "  derive compare lstm gru mgu --out report.html  # a page that renders with KaTeX\n"
        "  derive compare nico my_variant.toml --out diff.md --hidden-size 64"
    ),
    "gradcheck": (
        "examples:\n"
        "  derive gradcheck nico\n"
        "  derive gradcheck my_cell.toml --hidden-size 6 --steps 5"
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
    sub = command("build", "generate NumPy code, LaTeX and Markdown for cells", _build)
    sub.add_argument("cells", nargs="*", metavar="CELL", help="built-in cell name or path to a .toml spec (default: all built-in cells)")
    sub.add_argument("--out", type=Path, default=Path("generated"), help="output folder (default: generated)")
    sub.add_argument("--templates", type=Path, help="folder of templates that override derive's own, file by file")
    sub.add_argument("--check", action="store_true", help="write nothing; exit 1 and name each file a build would change")
    sub = command("compare", "what changes between cells: equations side by side, differences marked, costs", _compare)
    sub.add_argument("cells", nargs="+", metavar="CELL", help="two or more built-in cells or .toml specs; the first is the reference")
    sub.add_argument("--out", type=Path, help="write to FILE.md or FILE.html instead of printing Markdown")
    sub.add_argument("--input-size", type=int, default=50, help="D for the cost table (default 50, as in the seed posts)")
    sub.add_argument("--hidden-size", type=int, default=100, help="H for the cost table (default 100)")
    sub.add_argument("--templates", type=Path, help="folder of templates that override derive's own")
    sub = command("gradcheck", "check a cell's generated backward pass against finite differences", _gradcheck)
    sub.add_argument("cell", metavar="CELL", help="built-in cell name or path to a .toml spec")
    sub.add_argument("--input-size", type=int, default=3, help="D (default 3)")
    sub.add_argument("--hidden-size", type=int, default=4, help="H (default 4)")
    sub.add_argument("--steps", type=int, default=3, help="sequence length T (default 3)")
    sub.add_argument("--batch", type=int, default=2, help="batch size B (default 2)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


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
    spec = resolve(args.cell)
    source = generate(spec)[f"{spec.name}/{spec.name}.py"]
    module = load_generated(source, spec.name)
    rows = gradcheck(module, input_size=args.input_size, hidden_size=args.hidden_size,
                     steps=args.steps, batch=args.batch, seed=args.seed)
    print(f"{spec.name}: central differences, D={args.input_size} H={args.hidden_size} "
          f"T={args.steps} B={args.batch}, float64")
    print(f"{'array':<16} {'entries':>8} {'worst relative error':>22}")
    for row in rows:
        print(f"{row.name:<16} {row.entries:>8} {row.error:>22.2e}")
    worst = max(row.error for row in rows)
    verdict = "ok" if worst < 1e-6 else "FAILED"
    print(f"worst: {worst:.2e} ({verdict}: the threshold is 1e-6)")
    return 0 if worst < 1e-6 else 1
