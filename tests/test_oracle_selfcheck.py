"""Self-checks for the independent autodiff oracle (tests/oracle.py).

The oracle's gradients are compared against central finite differences of its
own forward pass, and its forward pass is compared against hand-written NumPy
for the built-in cells.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

CELLS = Path(__file__).resolve().parent.parent / "derive" / "cells"
SPECS = ["nico", "lstm"]


def spec_path(name):
    return CELLS / f"{name}.toml"


def loss_value(path, params, xs, state0, d_outputs, d_state_last):
    outputs, final = oracle.evaluate_sequence(path, params, xs, state0)
    total = float(np.sum(d_outputs * outputs))
    for k, v in final.items():
        total += float(np.sum(d_state_last[k] * v))
    return total


def central_diff(f, arr, eps=1e-6):
    """Central finite differences of scalar f() w.r.t. every entry of arr (in place)."""
    g = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def rel_err(a, b):
    denom = max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-8)
    return float(np.max(np.abs(a - b)) / denom)


@pytest.mark.parametrize("name", SPECS)
def test_gradients_match_finite_differences(name):
    path = spec_path(name)
    prob = oracle.random_problem(path, T=3, B=2, D=2, H=3, seed=1234)
    grads = oracle.oracle_gradients(path, **prob)

    def f():
        return loss_value(path, **prob)

    assert set(grads) == {"params", "xs", "state0"}
    assert set(grads["params"]) == set(prob["params"])
    for k, p in prob["params"].items():
        assert grads["params"][k].shape == p.shape
        fd = central_diff(f, p)
        assert rel_err(grads["params"][k], fd) < 1e-6, k
    assert grads["xs"].shape == prob["xs"].shape
    assert rel_err(grads["xs"], central_diff(f, prob["xs"])) < 1e-6
    assert set(grads["state0"]) == set(prob["state0"])
    for k, s in prob["state0"].items():
        assert grads["state0"][k].shape == s.shape
        assert rel_err(grads["state0"][k], central_diff(f, s)) < 1e-6, k


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_nico_forward_matches_handwritten_step():
    path = spec_path("nico")
    D, H, B = 3, 4, 2
    prob = oracle.random_problem(path, T=1, B=B, D=D, H=H, seed=7)
    p, x = prob["params"], prob["xs"][0]
    s0, h0 = prob["state0"]["s"], prob["state0"]["h"]
    assert p["W_g"].shape == (H, D + H) and p["b_g"].shape == (H,)

    xc = np.concatenate([x, h0], axis=1)
    g = np.tanh(xc @ p["W_g"].T + p["b_g"])
    i = sig(xc @ p["W_i"].T + p["b_i"])
    f = sig(xc @ p["W_f"].T + p["b_f"])
    o = sig(xc @ p["W_o"].T + p["b_o"])
    s = g * i + s0 * f
    h = s * o

    outputs, final = oracle.evaluate_sequence(path, p, prob["xs"], prob["state0"])
    assert outputs.shape == (1, B, H)
    np.testing.assert_allclose(outputs[0], h, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(final["h"], h, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(final["s"], s, rtol=1e-13, atol=1e-14)


def test_lstm_forward_matches_handwritten_loop():
    path = spec_path("lstm")
    T, B, D, H = 3, 2, 3, 4
    prob = oracle.random_problem(path, T=T, B=B, D=D, H=H, seed=11)
    p = prob["params"]
    assert p["W_f"].shape == (H, H + D)
    h, c = prob["state0"]["h"], prob["state0"]["c"]
    hs = []
    for t in range(T):
        X = np.concatenate([h, prob["xs"][t]], axis=1)
        f = sig(X @ p["W_f"].T + p["b_f"])
        i = sig(X @ p["W_i"].T + p["b_i"])
        ct = np.tanh(X @ p["W_c"].T + p["b_c"])
        o = sig(X @ p["W_o"].T + p["b_o"])
        c = f * c + i * ct
        h = o * np.tanh(c)
        hs.append(h)
    outputs, final = oracle.evaluate_sequence(path, p, prob["xs"], prob["state0"])
    np.testing.assert_allclose(outputs, np.stack(hs), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(final["c"], c, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(final["h"], h, rtol=1e-13, atol=1e-14)


def test_random_problem_is_deterministic_and_shaped():
    path = spec_path("nico")
    a = oracle.random_problem(path, T=2, B=3, D=4, H=5, seed=3)
    b = oracle.random_problem(path, T=2, B=3, D=4, H=5, seed=3)
    for k in a["params"]:
        np.testing.assert_array_equal(a["params"][k], b["params"][k])
        assert a["params"][k].dtype == np.float64
        assert np.all(np.abs(a["params"][k]) <= 0.5)
    assert a["params"]["W_o"].shape == (5, 9)
    assert a["params"]["b_o"].shape == (5,)
    assert a["xs"].shape == (2, 3, 4)
    assert a["d_outputs"].shape == (2, 3, 5)
    assert set(a["state0"]) == set(a["d_state_last"]) == {"s", "h"}
    assert all(v.shape == (3, 5) for v in a["state0"].values())


def test_small_expression_features(tmp_path):
    """Exercise operators the built-in cells do not use."""
    spec = tmp_path / "toy.toml"
    spec.write_text(
        'name = "toy"\ninputs = ["x"]\nstates = ["h"]\noutput = "h"\n'
        'equations = """\n# comment\n\n'
        "a = relu(W @ concat(x, h(t-1)) - b) / 2.0\n"
        "h = identity(-a + exp(0 * a)) * 1\n"
        '"""\n[params]\nW = ["H", "D + H"]\nb = ["H"]\n'
    )
    prob = oracle.random_problem(spec, T=2, B=2, D=2, H=2, seed=5)
    p = prob["params"]
    h = prob["state0"]["h"]
    for t in range(2):
        z = np.concatenate([prob["xs"][t], h], axis=1) @ p["W"].T - p["b"]
        a = np.maximum(z, 0.0) / 2.0
        h = -a + 1.0
    _, final = oracle.evaluate_sequence(spec, p, prob["xs"], prob["state0"])
    np.testing.assert_allclose(final["h"], h, rtol=1e-13, atol=1e-14)


def test_rejects_unsupported_syntax(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(
        'name = "bad"\ninputs = ["x"]\nstates = ["h"]\noutput = "h"\n'
        'equations = """\nh = __import__(x)\n"""\n[params]\n'
    )
    prob = {"params": {}, "xs": np.zeros((1, 1, 1)), "state0": {"h": np.zeros((1, 1))}}
    with pytest.raises(ValueError):
        oracle.evaluate_sequence(spec, **prob)
