"""The whole run, stage by stage: spec -> model -> derivation -> backward code -> fast-path plan ->
views -> templates -> flavours -> disk. Each stage's result is a frozen object computed once."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import buildcache, emit, naming
from .atomic_write import write_into
from .backward_code import backward_code
from .cell import DerivedCell
from .compare import comparison_view
from .derivation import Derivation, derive_backward
from .errors import DeriveError
from .fast_plan import plan_fast_path
from .folder import changed_in
from .lock import open_folder
from .model import build_model
from .notation import Notation
from .printers import TorchPrinter
from .render_fast import fast_view
from .render_latex import latex_view
from .render_numpy import numpy_view, step_lines
from .spec import CellSpec
from .walkthrough import walkthrough_view


def derive_cell(spec: CellSpec) -> Derivation:
    """From a checked spec to the derived backward pass of one step."""
    return derive_backward(build_model(spec))


def work_out(spec: CellSpec) -> DerivedCell:
    """Every stage before the views, once: what all of a cell's outputs (and the comparison) read."""
    model = build_model(spec)  # parse equations, order them, check names and sizes, lower
    derivation = derive_backward(model)  # deltas, carries to t-1, dL/dx(t), parameter gradients
    code = backward_code(derivation)  # CSE over the adjoint lines, and what each line reads
    plan = plan_fast_path(derivation)  # the fast loops' layout: groups, blocks, runs, slots, bias sums
    notation = Notation(derivation)  # how every symbol prints, in LaTeX and in comment text
    return DerivedCell(derivation, code, plan, notation)


def cell_views(cell: DerivedCell) -> dict[str, dict]:
    """Output suffix -> what its template reads: the module (readable and fast code), the documents."""
    spec = cell.spec
    common = {"name": spec.name, "title": spec.title, "reference": spec.reference, "spec_path": spec.path}
    module = numpy_view(cell)
    documents = {**common, **latex_view(cell.derivation, cell.notation), **walkthrough_view(cell.derivation, cell.notation),
                 "code_lines": [(line.tag, line.comment, line.code) for line in module["backward"]],  # backward(), listed
                 "first_adjoints": [cell.model.names.adjoint(state) for state in spec.states]}  # named in the check's invitation
    fast = None if spec.several_inputs else fast_view(cell)  # several inputs: the sequence functions run the readable steps
    torch = {**common, **module, **step_lines(cell, TorchPrinter)}  # the same steps in PyTorch
    return {".py": {**common, **module, "fast": fast}, "_torch.py": torch, ".tex": documents, ".md": documents,
            ".html": documents}


def generate(spec: CellSpec, templates: Path | None = None, env: jinja2.Environment | None = None) -> dict[str, str]:
    """The files of one cell: NAME/NAME.py, NAME/NAME.tex, NAME/NAME.md and its flavours -> content."""
    return render_files(work_out(spec), env or emit.environment(templates))


def render_files(cell: DerivedCell, env: jinja2.Environment) -> dict[str, str]:
    """A worked-out cell's files, through the templates of env."""
    outputs = emit.render_cell(cell_views(cell), env)  # the templates: module, LaTeX document, Markdown
    outputs.update(emit.flavours(outputs, cell.spec.name, cell.spec.title))  # the posts for Jekyll, Hugo, CommonMark
    return outputs


def explain(spec: CellSpec) -> str:
    """What each stage produced for one cell, as text: `derive build CELL --explain`."""
    from .explain import stages  # only this debug view needs it

    return stages(work_out(spec))


@dataclass(frozen=True)
class BuildResult:
    files: tuple[str, ...]  # every file the build produces, relative to the output folder
    changed: tuple[str, ...]  # those that differ from what is on disk (written, unless checking)


COMPARISON_FILE = "COMPARISON.md"
COMPARISON_BASE = "lstm"  # the catalog is compared against the standard LSTM
SEED_SIZES = (50, 100)  # D and H of the seed posts' experiments


def compare(specs: list[CellSpec], suffix: str, templates: Path | None = None, sizes=SEED_SIZES,
            cells: dict[str, DerivedCell] | None = None, env: jinja2.Environment | None = None) -> str:
    """The comparison report of cells (the first is the reference) as .md or .html text; cells are
    those already worked out (a build's), by name."""
    cells = cells or {}
    worked = [cells.get(spec.name) or work_out(spec) for spec in specs]
    return emit.render_comparison(comparison_view(worked, *sizes), suffix, env or emit.environment(templates))


def build(specs: list[CellSpec], out_dir: Path, templates: Path | None = None, check: bool = False,
          comparison: bool = False) -> BuildResult:
    """Generate every cell in memory first; then write (or, with check, only compare).

    With comparison, also COMPARISON.md: every cell against lstm. Nothing is written unless
    every output generated without error.
    """
    repeated = naming.first_repeated(spec.name for spec in specs)
    if repeated is not None:
        paths = ", ".join(spec.path for spec in specs if spec.name == repeated)
        raise DeriveError(f"two cells are named {repeated!r} ({paths}); expected distinct names, one folder each")
    env = emit.environment(templates)  # one environment: each template is compiled once per build
    generator = buildcache.generator_digest([d for d in (templates, emit.default_templates_dir()) if d])
    manifest = {} if check else buildcache.load(out_dir)  # --check renders every file: it trusts no cache
    fresh: dict[str, dict] = {}
    files: dict[str, str] = {}
    cells: dict[str, DerivedCell] = {}  # worked out in this build: the comparison reads them again
    for spec in specs:
        key = buildcache.cell_key(generator, spec.path, spec.source_text)
        outputs = buildcache.reusable(manifest, out_dir, spec.name, key)
        if outputs is None:
            cells[spec.name] = work_out(spec)
            outputs = render_files(cells[spec.name], env)
        fresh[spec.name] = buildcache.entry(key, outputs)
        files.update(outputs)
    if comparison:
        key = buildcache.cell_key(generator, COMPARISON_FILE, "".join(fresh[s.name]["key"] for s in specs))
        ordered = sorted(specs, key=lambda spec: spec.name != COMPARISON_BASE)
        outputs = buildcache.reusable(manifest, out_dir, COMPARISON_FILE, key) or {
            COMPARISON_FILE: compare(ordered, ".md", cells=cells, env=env)}
        fresh[COMPARISON_FILE] = buildcache.entry(key, outputs)
        files.update(outputs)
    return BuildResult(tuple(files), tuple(_write(out_dir, files, check, {**manifest, **fresh})))


def _write(out_dir: Path, files: dict[str, str], check: bool, manifest: dict) -> list[str]:
    """Under the folder's lock, after recovering an interrupted build: compare, or write and save the cache."""
    with open_folder(out_dir, create=not check) as folder:
        if check:
            return changed_in(folder, files) if folder.fd is not None else list(files)
        changed = write_into(folder, files)
        buildcache.save(folder, manifest)
        return changed
