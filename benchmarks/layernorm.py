"""layernorm_lstm (Ba et al. 2016, eqs. 20-22): the generated fast loops against the same cell written
in torch (torch.nn.functional.layer_norm, eps 1e-5) and differentiated by torch's autograd, forward
and backward over a whole sequence; both timed interleaved, so the ratio holds within a run.
`python -m benchmarks --only layernorm` reruns this section (torch needed for the comparison).
"""
from __future__ import annotations

import numpy as np

from . import against_torch
from .timing import median_times

SIZES = [(50, 32, 128, 128), (50, 64, 256, 256)]  # (T, B, D, H)
DTYPES = ["float32", "float64"]
TORCH = "torch autograd"


def load_cell():
    return against_torch.load_cell("layernorm_lstm")


def contenders(cell, torch, T, B, D, H, dtype) -> dict:
    rng = np.random.default_rng(0)
    params = cell.init_params(D, H, rng=rng, dtype=dtype)
    xs = rng.normal(size=(T, B, D)).astype(dtype)
    d_hs = rng.normal(size=(T, B, H)).astype(dtype)
    runs = against_torch.generated_runs(cell, params, xs, d_hs)
    if torch is not None:
        runs[TORCH] = torch_run(torch, params, xs, d_hs)
    return runs


def torch_run(torch, params, xs, d_hs):
    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    x, grad = torch.tensor(xs), torch.tensor(d_hs)
    T, B, _ = xs.shape
    H = d_hs.shape[2]

    def layer_norm(z, alpha, beta):
        return torch.nn.functional.layer_norm(z, (z.shape[-1],), alpha, beta, eps=1e-5)

    def run():
        for value in p.values():
            value.grad = None
        h = c = torch.zeros((B, H), dtype=x.dtype)
        projected = x.reshape(T * B, -1) @ p["W_x"].T  # the input's products, all steps at once
        normed_x = layer_norm(projected, p["alpha_x"], p["beta_x"]).reshape(T, B, -1) + p["b"]
        hs = []
        for t in range(T):
            a = layer_norm(h @ p["W_h"].T, p["alpha_h"], p["beta_h"]) + normed_x[t]
            f, i, o, g = torch.chunk(a, 4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(layer_norm(c, p["alpha_c"], p["beta_c"]))
            hs.append(h)
        torch.stack(hs).backward(grad)

    return run


def rows(torch, repeats: int) -> list:
    cell = load_cell()
    return [((T, B, D, H), dtype, median_times(contenders(cell, torch, T, B, D, H, dtype), repeats))
            for T, B, D, H in SIZES for dtype in DTYPES]


def render(found, repeats: int) -> list[str]:
    intro = ["## layernorm_lstm against torch autograd", "",
             "The generated `layernorm_lstm` (its fast loops, with and without a workspace) against the same",
             "equations in torch (`torch.nn.functional.layer_norm`, eps 1e-5; the input's products for all",
             f"steps at once) differentiated by autograd; median of {repeats} interleaved runs, ms per forward and backward.",
             "`python -m benchmarks --only layernorm` reruns this section."]
    return against_torch.render(found, intro, "T, B, D, H", TORCH)
