"""What the cell-against-torch sections share (layernorm.py, projection.py): the committed generated
cell, its two contenders (with and without a workspace) and the table with its targets."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED, FRESH = "generated, workspace", "generated"


def load_cell(name: str, suffix: str = ""):
    """generated/NAME/NAME.py, the committed module (NAME_torch.py with suffix "_torch"), imported from its file."""
    path = ROOT / "generated" / name / f"{name}{suffix}.py"
    spec = importlib.util.spec_from_file_location(f"generated_{name}{suffix}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_runs(cell, params, xs, d_outputs) -> dict:
    """Forward and backward over the sequence, with one workspace kept across calls and without."""
    workspace = {}

    def with_workspace():
        outputs, cache = cell.forward_sequence(params, xs, workspace=workspace)
        cell.backward_sequence(params, cache, d_outputs, workspace=workspace)

    def fresh():
        outputs, cache = cell.forward_sequence(params, xs)
        cell.backward_sequence(params, cache, d_outputs)

    return {GENERATED: with_workspace, FRESH: fresh}


def render(found, intro: list[str], sizes: str, torch_name: str) -> list[str]:
    """The section: intro lines, a row per (size, dtype, times) in found, then each target."""
    lines = [*intro, "", f"| {sizes} | dtype | {GENERATED} | {FRESH} | {torch_name} | workspace / torch |",
             "|---|---|---:|---:|---:|---:|"]
    for size, dtype, t in found:
        theirs = t.get(torch_name)
        ratio = f"{t[GENERATED] / theirs:.2f}" if theirs else "n/a"
        shown = f"{theirs * 1e3:.2f}" if theirs else "n/a (torch not installed)"
        lines.append(f"| {', '.join(map(str, size))} | {dtype} | {t[GENERATED] * 1e3:.2f} | {t[FRESH] * 1e3:.2f} | {shown} | {ratio} |")
    lines.append("")
    for size, dtype, t in found:
        if torch_name in t:
            ratio = t[GENERATED] / t[torch_name]
            lines.append(f"- generated/torch at {size} {dtype}: {ratio:.2f} (target at most 1.0): {'met' if ratio <= 1.0 else 'missed'}")
    return lines
