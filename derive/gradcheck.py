"""Central finite differences on a generated module: every parameter, the inputs and the initial states.

The loss is L = sum(w_out * outputs) + sum_k sum(w_k * final_state_k) with random weights,
so every output and every final state carries its own adjoint. Errors are reported per
array as max|analytic - numeric| / max(max|analytic|, max|numeric|, 1e-3): the floor keeps a
gradient that is exactly zero from being judged by the rounding noise of the differences
(about 1e-10 here); a wrong gradient of size 1e-4 still shows as 0.1.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from . import contract



@dataclass(frozen=True)
class GradcheckRow:
    name: str  # "W_g", "xs" or "state0[s]"
    error: float  # worst relative error over the array
    entries: int  # how many entries were checked


def random_problem(module: ModuleType, input_size=3, hidden_size=4, steps=3, batch=2, seed=0, sizes=None) -> dict:
    """Parameters larger than init (and non-zero), inputs, initial states and the loss weights,
    all random. sizes: the values of the module's declared sizes (each H if not given)."""
    rng = np.random.default_rng(seed)
    values = contract.sizes_of(module, input_size, hidden_size, sizes)
    params = contract.init(module, values, rng=rng)
    params = {k: v * 2 + rng.normal(0, 0.1, v.shape) for k, v in params.items()}  # larger than init, non-zero
    output = contract.output_size(module, values)
    return {
        "params": params,
        "xs": contract.inputs(module, values, (steps, batch), lambda shape: rng.normal(size=shape)),
        "state0": contract.states(module, values, batch, lambda shape: rng.normal(0, 0.5, shape)),
        "w_out": rng.normal(size=(steps, batch, output)),
        "w_last": contract.states(module, values, batch, lambda shape: rng.normal(size=shape)),
        "sizes": values,
    }


def _loss(module, problem) -> float:
    outputs, cache = module.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    final = cache["final_state"]
    return float(np.sum(problem["w_out"] * outputs) + sum(np.sum(problem["w_last"][k] * final[k]) for k in module.STATE))


def _numeric(module, problem, array: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of the loss with respect to every entry of `array` (changed in place, restored)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = _loss(module, problem)
        array[index] = saved - eps
        down = _loss(module, problem)
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


SCALE_FLOOR = 1e-3  # see the module docstring


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), SCALE_FLOOR)
    return float(np.max(np.abs(analytic - numeric)) / scale)


def gradcheck(module: ModuleType, eps: float = 1e-6, **problem_sizes) -> list[GradcheckRow]:
    """Compare backward_sequence with central differences; one row per checked array."""
    problem = random_problem(module, **problem_sizes)
    _, cache = module.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    grads, dxs, d_state0 = module.backward_sequence(problem["params"], cache, problem["w_out"], problem["w_last"])
    checks = [(name, grads[name], problem["params"][name]) for name in module.PARAM_SHAPES]
    xs, dxs = contract.as_dict(module, problem["xs"]), contract.as_dict(module, dxs)
    checks += [("xs" if len(xs) == 1 else f"xs[{name}]", dxs[name], xs[name]) for name in xs]
    checks += [(f"state0[{k}]", d_state0[k], problem["state0"][k]) for k in module.STATE]
    return [GradcheckRow(name, relative_error(analytic, _numeric(module, problem, array, eps)), array.size)
            for name, analytic, array in checks]
