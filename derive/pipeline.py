"""The whole run, stage by stage: spec -> model -> derivation -> rendered files -> disk."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .derivation import Derivation, derive_backward
from . import buildcache
from .emit import default_templates_dir, environment, render_comparison, render_outputs
from .errors import DeriveError
from . import files as output_files
from .model import build_model
from .spec import CellSpec


def derive_cell(spec: CellSpec) -> Derivation:
    """From a checked spec to the derived backward pass of one step."""
    model = build_model(spec)  # parse equations, order them, check names and sizes, lower
    return derive_backward(model)  # deltas, carries to t-1, dL/dx(t), parameter gradients


def generate(spec: CellSpec, templates: Path | None = None) -> dict[str, str]:
    """The files of one cell: NAME/NAME.py, NAME/NAME.tex, NAME/NAME.md and its flavours -> content."""
    derivation = derive_cell(spec)
    return render_outputs(derivation, spec.path, environment(templates))


def generated_module(spec: CellSpec):
    """The cell's generated NumPy module, generated now and imported under a private name."""
    from .gradcheck import load_generated  # the one place a generated module is imported

    return load_generated(generate(spec)[f"{spec.name}/{spec.name}.py"], spec.name)


@dataclass(frozen=True)
class BuildResult:
    files: tuple[str, ...]  # every file the build produces, relative to the output folder
    changed: tuple[str, ...]  # those that differ from what is on disk (written, unless checking)


COMPARISON_FILE = "COMPARISON.md"
COMPARISON_BASE = "lstm"  # the catalog is compared against the standard LSTM
SEED_SIZES = (50, 100)  # D and H of the seed posts' experiments


def compare(specs: list[CellSpec], suffix: str, templates: Path | None = None, sizes=SEED_SIZES) -> str:
    """The comparison report of cells (the first is the reference) as .md or .html text."""
    derivations = [derive_cell(spec) for spec in specs]
    return render_comparison(derivations, suffix, environment(templates), *sizes)


def build(specs: list[CellSpec], out_dir: Path, templates: Path | None = None, check: bool = False,
          comparison: bool = False) -> BuildResult:
    """Generate every cell in memory first; then write (or, with check, only compare).

    With comparison, also COMPARISON.md: every cell against lstm. Nothing is written unless
    every output generated without error.
    """
    names = [spec.name for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        paths = ", ".join(spec.path for spec in specs if spec.name == repeated[0])
        raise DeriveError(f"two cells are named {repeated[0]!r} ({paths}); expected distinct names, one folder each")
    generator = buildcache.generator_digest([d for d in (templates, default_templates_dir()) if d])
    manifest = {} if check else buildcache.load(out_dir)  # --check renders every file: it trusts no cache
    fresh: dict[str, dict] = {}
    files: dict[str, str] = {}
    for spec in specs:
        key = buildcache.cell_key(generator, spec.path, spec.source_text)
        outputs = buildcache.reusable(manifest, out_dir, spec.name, key) or generate(spec, templates)
        fresh[spec.name] = buildcache.entry(key, outputs)
        files.update(outputs)
    if comparison:
        key = buildcache.cell_key(generator, COMPARISON_FILE, "".join(fresh[s.name]["key"] for s in specs))
        ordered = sorted(specs, key=lambda spec: spec.name != COMPARISON_BASE)
        outputs = buildcache.reusable(manifest, out_dir, COMPARISON_FILE, key) or {COMPARISON_FILE: compare(ordered, ".md", templates)}
        fresh[COMPARISON_FILE] = buildcache.entry(key, outputs)
        files.update(outputs)
    return BuildResult(tuple(files), tuple(_write(out_dir, files, check, {**manifest, **fresh})))


def _write(out_dir: Path, files: dict[str, str], check: bool, manifest: dict) -> list[str]:
    """Under the folder's lock, after recovering an interrupted build: compare, or write and save the cache."""
    with output_files.open_folder(out_dir, create=not check) as folder:
        if check:
            return output_files.changed_in(folder, files) if folder.fd is not None else list(files)
        changed = output_files.write_into(folder, files)
        buildcache.save(folder, manifest)
        return changed
