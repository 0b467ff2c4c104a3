"""The benchmark's baseline computes the same thing as the generated code (so it is a fair race)."""
import subprocess
import sys

import numpy as np
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


def test_keep_freed_memory_takes_effect_on_glibc():
    """mallopt is reached and accepts both settings (in a child: this process's allocator stays as it is)."""
    import platform

    import pytest

    if platform.libc_ver()[0] != "glibc":
        pytest.skip(f"not glibc ({platform.libc_ver()[0] or 'unknown libc'}): the benchmark reports the kernels once")
    code = "from benchmarks.allocator import keep_freed_memory; print(keep_freed_memory())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.stdout.strip() == "True", run.stderr


def test_kept_memory_section_has_the_kernel_table_and_only_kernel_targets():
    from benchmarks.__main__ import kept_memory_section

    times = {"generated": 0.010, "torch.nn.LSTM": 0.020, "matrix products alone": 0.008,
             "seed-style NumPy": 0.030, "generated, readable steps": 0.040}
    rows = [((50, 64, 256, 256), "float32", times), ((4, 1, 50, 100), "float64", times)]
    section = kept_memory_section(rows)
    table = [line for line in section if line.startswith("|")]
    assert len(table) == 2 + len(rows)  # header, rule, a row per case
    assert "| 50, 64, 256, 256 | float32 | 10.00 | 20.00 | 0.50 |" in table[2]
    targets = [line for line in section if line.startswith("- ")]
    assert targets and not any("catalog" in line for line in targets)
    assert any("share of the matrix-product ceiling" in line and "80%" in line and "met" in line for line in targets)
