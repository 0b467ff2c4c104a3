"""lstmp (Sak et al. 2014): the generated fast loops against torch.nn.LSTM(D, H, proj_size=P), forward
and backward over a whole sequence, with the same weights; both timed interleaved, so the ratio
holds within a run. `python -m benchmarks --only projection` reruns this section (torch needed).
"""
from __future__ import annotations

import numpy as np

from . import against_torch
from .timing import median_times

SIZES = [(50, 32, 128, 128, 64), (50, 64, 256, 256, 128)]  # (T, B, D, H, P): P = H / 2, a usual projection
DTYPES = ["float32", "float64"]
TORCH = "torch.nn.LSTM(proj_size)"


def load_cell():
    return against_torch.load_cell("lstmp")


def contenders(cell, torch, T, B, D, H, P, dtype) -> dict:
    rng = np.random.default_rng(0)
    params = cell.init_params(D, H, rng=rng, dtype=dtype, P=P)
    xs = rng.normal(size=(T, B, D)).astype(dtype)
    d_hs = rng.normal(size=(T, B, P)).astype(dtype)
    runs = against_torch.generated_runs(cell, params, xs, d_hs)
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
    intro = ["## lstmp against torch.nn.LSTM(proj_size)", "",
             "The generated `lstmp` (its fast loops, with and without a workspace) against torch.nn.LSTM with",
             f"`proj_size` and the same weights; median of {repeats} interleaved runs, ms per forward and backward.",
             "`python -m benchmarks --only projection` reruns this section."]
    return against_torch.render(found, intro, "T, B, D, H, P", TORCH)
