"""The benchmark's baseline computes the same thing as the generated code (so it is a fair race)."""
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, module_for

from benchmarks import seed_style


def test_seed_style_lstm_matches_the_generated_one():
    module = module_for("lstm")
    rng = np.random.default_rng(0)
    params = module.init_params(3, 4, rng=rng)
    xs, d_hs, zeros = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 2, 4)), np.zeros((2, 4))
    hs, caches = seed_style.forward(params, xs, zeros, zeros)
    grads, dxs = seed_style.backward(params, caches, d_hs)
    outputs, cache = module.forward_sequence(params, xs)
    expected_grads, expected_dxs, _ = module.backward_sequence(params, cache, d_hs)
    np.testing.assert_allclose(hs, outputs, rtol=1e-12)
    np.testing.assert_allclose(dxs, expected_dxs, rtol=1e-10, atol=1e-13)
    for name in grads:
        np.testing.assert_allclose(grads[name], expected_grads[name], rtol=1e-10, atol=1e-13)


def test_benchmark_command_has_help_with_an_example():
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and "example" in run.stdout


def test_the_checks_benchmark_times_calls_the_module_accepts():
    """benchmarks/checks.py calls check_arguments as the entry points do; no timing is asserted."""
    from benchmarks import checks

    runs = checks.contenders(module_for("lstm"), 3, 2, 5, 4, "float32")
    for _ in range(2):
        runs[checks.CHECKS]()
        runs[checks.CALL]()
    found = checks.rows(module_for("lstm"), [(2, 1, 3, 4)], ["float64"], repeats=1)
    assert "| 2, 1, 3, 4 | float64 |" in "\n".join(checks.render(found, 1))


def test_the_layernorm_benchmark_runs_its_contenders():
    """benchmarks/layernorm.py drives the committed layernorm_lstm (and torch when installed); no timing is asserted."""
    from benchmarks import against_torch, layernorm

    torch = None
    try:
        import torch
    except ImportError:
        pass
    runs = layernorm.contenders(layernorm.load_cell(), torch, 3, 2, 4, 4, "float64")
    assert set(runs) >= {against_torch.GENERATED, against_torch.FRESH}
    for run in runs.values():
        run()


def test_the_projection_benchmark_runs_its_contenders_on_the_same_function():
    """benchmarks/projection.py drives the committed lstmp and, with torch, nn.LSTM(proj_size) holding the
    same weights: their outputs agree (so the timed runs compute one thing); no timing is asserted."""
    from benchmarks import against_torch, projection

    torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    cell = projection.load_cell()
    runs = projection.contenders(cell, torch, 3, 2, 4, 5, 3, "float64")
    assert set(runs) == {against_torch.GENERATED, against_torch.FRESH, projection.TORCH}
    for run in runs.values():
        run()
    rng = np.random.default_rng(1)
    params = cell.init_params(4, 5, rng=rng, P=3)
    xs = rng.normal(size=(3, 2, 4))
    ours, _ = cell.forward_sequence(params, xs)
    theirs, _ = projection.torch_lstm(torch, params, 3, torch.float64)(torch.tensor(xs))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=1e-12)


def test_the_torch_module_benchmark_times_one_function_three_ways():
    """benchmarks/torch_module.py: the generated Sequence and autograd through the module's forward() give
    the same gradients, and nn.LSTM holds the same weights (the same outputs), so the timed runs compute
    one thing; each keeps some memory for its backward. No timing is asserted."""
    from benchmarks import torch_module

    torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    module = torch_module.load_torch_cell("lstm")
    layer = module.Layer(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    runs = torch_module.contenders(torch, module, "lstm", 4, 3, 5, 6, "cpu", layer=layer)
    assert set(runs) == {torch_module.GENERATED, torch_module.AUTOGRAD, torch_module.NN_LSTM}
    gradients = {}
    for name in (torch_module.GENERATED, torch_module.AUTOGRAD):
        layer.zero_grad()
        runs[name]()
        gradients[name] = {key: p.grad.clone() for key, p in layer.named_parameters()}
    for key, grad in gradients[torch_module.GENERATED].items():
        torch.testing.assert_close(grad, gradients[torch_module.AUTOGRAD][key], rtol=1e-10, atol=1e-12)
    xs = torch.randn(4, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(xs)[0], torch_module.same_weights_lstm(torch, layer)(xs)[0], rtol=1e-12, atol=1e-12)
    assert all(torch_module.kept_bytes(torch, run) > 0 for run in runs.values())
