"""lstmp (Sak et al. 2014): the generated fast loops against torch.nn.LSTM(D, H, proj_size=P), forward
and backward over a whole sequence, with the same weights; both timed interleaved, so the ratio
holds within a run. `python -m benchmarks --only projection` reruns this section (torch needed).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .timing import median_times

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(50, 32, 128, 128, 64), (50, 64, 256, 256, 128)]  # (T, B, D, H, P): P = H / 2, a usual projection
DTYPES = ["float32", "float64"]
GENERATED, FRESH, TORCH = "generated, workspace", "generated", "torch.nn.LSTM(proj_size)"


def load_cell():
    path = ROOT / "generated" / "lstmp" / "lstmp.py"
    spec = importlib.util.spec_from_file_location("generated_lstmp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def contenders(cell, torch, T, B, D, H, P, dtype) -> dict:
    rng = np.random.default_rng(0)
    params = cell.init_params(D, H, rng=rng, dtype=dtype, P=P)
    xs = rng.normal(size=(T, B, D)).astype(dtype)
    d_hs = rng.normal(size=(T, B, P)).astype(dtype)
    workspace = {}

    def generated_workspace():
        outputs, cache = cell.forward_sequence(params, xs, workspace=workspace)
        cell.backward_sequence(params, cache, d_hs, workspace=workspace)

    def generated():
        outputs, cache = cell.forward_sequence(params, xs)
        cell.backward_sequence(params, cache, d_hs)

    runs = {GENERATED: generated_workspace, FRESH: generated}
    if torch is not None:
        runs[TORCH] = torch_run(torch, params, xs, d_hs, P)
    return runs


def torch_lstm(torch, params: dict, P: int, dtype):
    """torch.nn.LSTM(D, H, proj_size=P) holding lstmp's parameters: gates stacked i, f, g, o; the
    columns of each W are [h(t-1) (P); x (D)]; one bias in bias_ih, bias_hh zero."""
    H, columns = params["W_f"].shape
    lstm = torch.nn.LSTM(columns - P, H, proj_size=P).to(dtype)
    gates = [params[name] for name in ("W_i", "W_f", "W_c", "W_o")]
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(np.concatenate([w[:, P:] for w in gates])))
        lstm.weight_hh_l0.copy_(torch.tensor(np.concatenate([w[:, :P] for w in gates])))
        lstm.bias_ih_l0.copy_(torch.tensor(np.concatenate([params[b] for b in ("b_i", "b_f", "b_c", "b_o")])))
        lstm.bias_hh_l0.zero_()
        lstm.weight_hr_l0.copy_(torch.tensor(params["W_p"]))
    return lstm


def torch_run(torch, params, xs, d_hs, P):
    x, grad = torch.tensor(xs), torch.tensor(d_hs)
    lstm = torch_lstm(torch, params, P, x.dtype)

    def run():
        lstm.zero_grad(set_to_none=True)
        outputs, _ = lstm(x)
        outputs.backward(grad)

    return run


def rows(torch, repeats: int) -> list:
    cell = load_cell()
    return [((T, B, D, H, P), dtype, median_times(contenders(cell, torch, T, B, D, H, P, dtype), repeats))
            for T, B, D, H, P in SIZES for dtype in DTYPES]


def render(found, repeats: int) -> list[str]:
    lines = ["## lstmp against torch.nn.LSTM(proj_size)", "",
             "The generated `lstmp` (its fast loops, with and without a workspace) against torch.nn.LSTM with",
             f"`proj_size` and the same weights; median of {repeats} interleaved runs, ms per forward and backward.",
             "`python -m benchmarks --only projection` reruns this section.", "",
             f"| T, B, D, H, P | dtype | generated, workspace | generated | {TORCH} | workspace / torch |",
             "|---|---|---:|---:|---:|---:|"]
    for size, dtype, t in found:
        theirs = t.get(TORCH)
        ratio = f"{t[GENERATED] / theirs:.2f}" if theirs else "n/a"
        shown = f"{theirs * 1e3:.2f}" if theirs else "n/a (torch not installed)"
        lines.append(f"| {', '.join(map(str, size))} | {dtype} | {t[GENERATED] * 1e3:.2f} | {t[FRESH] * 1e3:.2f} | {shown} | {ratio} |")
    lines.append("")
    for size, dtype, t in found:
        if TORCH in t:
            ratio = t[GENERATED] / t[TORCH]
            lines.append(f"- generated/torch at {size} {dtype}: {ratio:.2f} (target at most 1.0): {'met' if ratio <= 1.0 else 'missed'}")
    return lines
