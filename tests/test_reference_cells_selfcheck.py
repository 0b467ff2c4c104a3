"""Self-check of the hand-written references in reference_cells.py.

The forward passes are compared with a separate, batched forward written
straight from the cells' equations (derive/cells/*.toml for the seed cells, the
papers' equations for the published ones), and every gradient output
(weights, biases, dxs, initial-state adjoints) is compared with central finite
differences of the scalar loss

    L = sum(d_hs * hs) + sum(d_<state>_last * <state>_T) for each state,

so the references can be trusted without reference to the generator.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference_cells import (  # noqa: E402
    JANET_BETA,
    LAYERNORM_EPS,
    LAYERNORM_SHAPES,
    PUBLISHED_SHAPES,
    TWO_STATE_SHAPES,
    NicoNode,
    NicoParams,
    layernorm_lstm_sequence,
    lstm_sequence,
    lstmp_sequence,
    mlstm_sequence,
    nico_sequence,
    published_sequence,
    sru_sequence,
    zoneout_lstm_sequence,
)

T, B, D, H = 3, 2, 3, 4
EPS = 1e-5
RTOL = 1e-6


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --- independent batched forwards, straight from the .toml equations ---------

def nico_forward_batched(p, xs, s0, h0):
    s, h = s0, h0
    hs, ss = [], []
    for x in xs:
        xc = np.concatenate([x, h], axis=1)  # concat(x, h(t-1))
        g = np.tanh(xc @ p["W_g"].T + p["b_g"])
        i = _sigmoid(xc @ p["W_i"].T + p["b_i"])
        f = _sigmoid(xc @ p["W_f"].T + p["b_f"])
        o = _sigmoid(xc @ p["W_o"].T + p["b_o"])
        s = g * i + s * f
        h = s * o
        hs.append(h)
        ss.append(s)
    return np.array(hs), np.array(ss)


def lstm_forward_batched(p, xs, h0, c0):
    h, c = h0, c0
    hs, cs = [], []
    for x in xs:
        X = np.concatenate([h, x], axis=1)  # concat(h(t-1), x)
        f = _sigmoid(X @ p["W_f"].T + p["b_f"])
        i = _sigmoid(X @ p["W_i"].T + p["b_i"])
        ct = np.tanh(X @ p["W_c"].T + p["b_c"])
        o = _sigmoid(X @ p["W_o"].T + p["b_o"])
        c = f * c + i * ct
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


# --- problem set-up -----------------------------------------------------------

def _problem(cell, seed):
    rng = np.random.default_rng(seed)
    gates = "gifo" if cell == "nico" else "fico"
    params = {}
    for gname in gates:
        params["W_" + gname] = rng.normal(0.0, 0.5, (H, D + H))
        params["b_" + gname] = rng.normal(0.0, 0.5, H)
    data = {
        "xs": rng.normal(size=(T, B, D)),
        "st0": rng.normal(size=(B, H)),   # s0 (nico) / h0 (lstm)
        "st1": rng.normal(size=(B, H)),   # h0 (nico) / c0 (lstm)
        "d_hs": rng.normal(size=(T, B, H)),
        "d_last0": rng.normal(size=(B, H)),  # d_s_last (nico) / d_h_last (lstm)
        "d_last1": rng.normal(size=(B, H)),  # d_h_last (nico) / d_c_last (lstm)
    }
    return params, data


def _loss(cell, params, data):
    if cell == "nico":
        hs, ss = nico_forward_batched(params, data["xs"], data["st0"], data["st1"])
        last0, last1 = ss[-1], hs[-1]
    else:
        hs, cs = lstm_forward_batched(params, data["xs"], data["st0"], data["st1"])
        last0, last1 = hs[-1], cs[-1]
    return (np.sum(data["d_hs"] * hs) + np.sum(data["d_last0"] * last0)
            + np.sum(data["d_last1"] * last1))


def _run_reference(cell, params, data, with_last=True):
    if cell == "nico":
        kw = {"d_s_last": data["d_last0"], "d_h_last": data["d_last1"]} if with_last else {}
        return nico_sequence(params, data["xs"], data["st0"], data["st1"], data["d_hs"], **kw)
    kw = {"d_h_last": data["d_last0"], "d_c_last": data["d_last1"]} if with_last else {}
    return lstm_sequence(params, data["xs"], data["st0"], data["st1"], data["d_hs"], **kw)


def _central_differences(target, loss):
    """d loss() / d target by central differences, entry by entry (target is changed and restored)."""
    grad = np.zeros_like(target)
    for idx in np.ndindex(target.shape):
        old = target[idx]
        target[idx] = old + EPS
        plus = loss()
        target[idx] = old - EPS
        minus = loss()
        target[idx] = old
        grad[idx] = (plus - minus) / (2 * EPS)
    return grad


def _numerical_grad(cell, params, data, which, key):
    """Central differences of the loss w.r.t. params[key] (which='param') or data[key]."""
    target = params[key] if which == "param" else data[key]
    return _central_differences(target, lambda: _loss(cell, params, data))


def _rel_err(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)) + np.max(np.abs(b)), 1e-12)


# --- tests --------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["nico", "lstm"])
def test_forward_matches_equations(cell):
    params, data = _problem(cell, seed=1)
    out = _run_reference(cell, params, data)
    if cell == "nico":
        hs, ss = nico_forward_batched(params, data["xs"], data["st0"], data["st1"])
        np.testing.assert_allclose(out["ss"], ss, rtol=1e-12, atol=1e-12)
    else:
        hs, cs = lstm_forward_batched(params, data["xs"], data["st0"], data["st1"])
        np.testing.assert_allclose(out["cs"], cs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["hs"], hs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", ["nico", "lstm"])
def test_gradients_match_finite_differences(cell):
    params, data = _problem(cell, seed=2)
    out = _run_reference(cell, params, data)

    assert set(out["grads"]) == set(params)
    for key in params:
        assert out["grads"][key].shape == params[key].shape
        num = _numerical_grad(cell, params, data, "param", key)
        err = _rel_err(out["grads"][key], num)
        assert err < RTOL, (cell, key, err)

    init_names = ("d_s0", "d_h0") if cell == "nico" else ("d_h0", "d_c0")
    for out_key, data_key in [("dxs", "xs"), (init_names[0], "st0"), (init_names[1], "st1")]:
        assert out[out_key].shape == data[data_key].shape
        num = _numerical_grad(cell, params, data, "data", data_key)
        err = _rel_err(out[out_key], num)
        assert err < RTOL, (cell, out_key, err)


@pytest.mark.parametrize("cell", ["nico", "lstm"])
def test_default_last_adjoints_are_zero(cell):
    params, data = _problem(cell, seed=3)
    data["d_last0"] = np.zeros((B, H))
    data["d_last1"] = np.zeros((B, H))
    explicit = _run_reference(cell, params, data, with_last=True)
    default = _run_reference(cell, params, data, with_last=False)
    for key in explicit:
        if key == "grads":
            for k in explicit[key]:
                np.testing.assert_array_equal(explicit[key][k], default[key][k])
        else:
            np.testing.assert_array_equal(explicit[key], default[key])


def test_nico_node_single_step_interface():
    """One NicoNode: column-vector shapes and bottom diffs vs finite differences."""
    params, data = _problem("nico", seed=4)
    param = NicoParams.from_dict(params)
    assert param.b_g.shape == (H, 1) and param.W_g.shape == (H, D + H)
    rng = np.random.default_rng(5)
    x, s_prev, h_prev = rng.normal(size=(D, 1)), rng.normal(size=(H, 1)), rng.normal(size=(H, 1))
    top_h, top_s = rng.normal(size=(H, 1)), rng.normal(size=(H, 1))

    node = NicoNode(param, param.zero_grads())
    s, h = node.forward(x, s_prev, h_prev)
    assert s.shape == (H, 1) and h.shape == (H, 1)
    np.testing.assert_array_equal(node.xc, np.vstack((x, h_prev)))
    node.top_diff_is(top_h, top_s)
    assert node.bottom_diff_x.shape == (D, 1)
    assert node.bottom_diff_h.shape == (H, 1)
    assert node.bottom_diff_s.shape == (H, 1)

    def loss(x_, s_, h_):
        s1, h1 = NicoNode(param, param.zero_grads()).forward(x_, s_, h_)
        return float(np.sum(top_h * h1) + np.sum(top_s * s1))

    for arr, got in [(x, node.bottom_diff_x), (s_prev, node.bottom_diff_s),
                     (h_prev, node.bottom_diff_h)]:
        num = np.zeros_like(arr)
        for k in range(arr.shape[0]):
            old = arr[k, 0]
            arr[k, 0] = old + EPS
            lp = loss(x, s_prev, h_prev)
            arr[k, 0] = old - EPS
            lm = loss(x, s_prev, h_prev)
            arr[k, 0] = old
            num[k, 0] = (lp - lm) / (2 * EPS)
        assert _rel_err(got, num) < RTOL


# --- the six published cells with one state h -----------------------------------------------------
# Batched forwards (B, n) straight from the papers' equations, then the same checks as above.

def _relu(z):
    return np.maximum(z, 0.0)


def _published_step(name, p, x, h):
    if name == "indrnn":
        return _relu(x @ p["W"].T + p["u"] * h + p["b"])
    if name == "janet":
        s = h @ p["U_f"].T + x @ p["W_f"].T + p["b_f"]
        c_tilde = np.tanh(h @ p["U_c"].T + x @ p["W_c"].T + p["b_c"])
        return _sigmoid(s) * h + (1 - _sigmoid(s - JANET_BETA)) * c_tilde
    if name == "mingru":
        z = _sigmoid(x @ p["W_z"].T + p["b_z"])
        return (1 - z) * h + z * (x @ p["W_h"].T + p["b_h"])
    if name == "minlstm":
        f = _sigmoid(x @ p["W_f"].T + p["b_f"])
        i = _sigmoid(x @ p["W_i"].T + p["b_i"])
        return f / (f + i) * h + i / (f + i) * (x @ p["W_h"].T + p["b_h"])
    if name == "ugrnn":
        c = np.tanh(x @ p["W_cx"].T + h @ p["W_ch"].T + p["b_c"])
        g = _sigmoid(x @ p["W_gx"].T + h @ p["W_gh"].T + p["b_g"])
        return g * h + (1 - g) * c
    if name == "ligru":
        z = _sigmoid(x @ p["W_z"].T + h @ p["U_z"].T + p["b_z"])
        h_tilde = _relu(x @ p["W_h"].T + h @ p["U_h"].T + p["b_h"])
        return z * h + (1 - z) * h_tilde
    if name == "leaky_rnn":
        h_tilde = np.tanh(x @ p["W_in"].T + h @ p["W"].T + p["b"])
        return (1 - p["alpha"]) * h + p["alpha"] * h_tilde
    raise KeyError(name)


def published_forward_batched(name, p, xs, h0):
    h, hs = h0, []
    for x in xs:
        h = _published_step(name, p, x, h)
        hs.append(h)
    return np.array(hs)


def _published_problem(name, seed):
    rng = np.random.default_rng(seed)
    size = {"D": D, "H": H, "1": 1}
    params = {key: rng.normal(0.0, 0.5, tuple(size[s] for s in shape))
              for key, shape in PUBLISHED_SHAPES[name].items()}
    data = {"xs": rng.normal(size=(T, B, D)), "h0": rng.normal(size=(B, H)),
            "d_hs": rng.normal(size=(T, B, H)), "d_last": rng.normal(size=(B, H))}
    return params, data


def _published_loss(name, params, data):
    hs = published_forward_batched(name, params, data["xs"], data["h0"])
    return np.sum(data["d_hs"] * hs) + np.sum(data["d_last"] * hs[-1])


def _published_numerical_grad(name, target, params, data):
    return _central_differences(target, lambda: _published_loss(name, params, data))


@pytest.mark.parametrize("name", sorted(PUBLISHED_SHAPES))
def test_published_forward_matches_equations(name):
    params, data = _published_problem(name, seed=1)
    out = published_sequence(name, params, data["xs"], data["h0"], data["d_hs"], data["d_last"])
    expected = published_forward_batched(name, params, data["xs"], data["h0"])
    np.testing.assert_allclose(out["hs"], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PUBLISHED_SHAPES))
def test_published_gradients_match_finite_differences(name):
    params, data = _published_problem(name, seed=2)
    out = published_sequence(name, params, data["xs"], data["h0"], data["d_hs"], data["d_last"])
    assert set(out["grads"]) == set(params)
    for key in params:
        num = _published_numerical_grad(name, params[key], params, data)
        err = _rel_err(out["grads"][key], num)
        assert err < RTOL, (name, key, err)
    for out_key, data_key in [("dxs", "xs"), ("d_h0", "h0")]:
        num = _published_numerical_grad(name, data[data_key], params, data)
        err = _rel_err(out[out_key], num)
        assert err < RTOL, (name, out_key, err)


@pytest.mark.parametrize("name", sorted(PUBLISHED_SHAPES))
def test_published_default_last_adjoint_is_zero(name):
    params, data = _published_problem(name, seed=3)
    explicit = published_sequence(name, params, data["xs"], data["h0"], data["d_hs"], np.zeros((B, H)))
    default = published_sequence(name, params, data["xs"], data["h0"], data["d_hs"])
    for key in ("hs", "dxs", "d_h0"):
        np.testing.assert_array_equal(explicit[key], default[key])
    for key in params:
        np.testing.assert_array_equal(explicit["grads"][key], default["grads"][key])


# --- layernorm_lstm: a batched forward straight from eqs. 20-22, and finite differences ----

def _layer_norm_batched(z, alpha, beta):
    centred = z - z.mean(axis=1, keepdims=True)
    return alpha * centred / np.sqrt(np.mean(centred ** 2, axis=1, keepdims=True) + LAYERNORM_EPS) + beta


def layernorm_lstm_forward_batched(p, xs, h0, c0):
    h, c, hs, cs = h0, c0, [], []
    for x in xs:
        a = (_layer_norm_batched(h @ p["W_h"].T, p["alpha_h"], p["beta_h"])
             + _layer_norm_batched(x @ p["W_x"].T, p["alpha_x"], p["beta_x"]) + p["b"])
        f, i, o, g = np.split(a, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(_layer_norm_batched(c, p["alpha_c"], p["beta_c"]))
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def _layernorm_problem(seed):
    rng = np.random.default_rng(seed)
    size = {"D": D, "H": H, "4H": 4 * H}
    params = {key: rng.normal(0.0, 0.5, tuple(size[s] for s in shape)) for key, shape in LAYERNORM_SHAPES.items()}
    data = {name: rng.normal(size=shape) for name, shape in
            (("xs", (T, B, D)), ("h0", (B, H)), ("c0", (B, H)), ("d_hs", (T, B, H)), ("d_h", (B, H)), ("d_c", (B, H)))}
    return params, data


def test_layernorm_lstm_reference_forward_and_gradients():
    params, data = _layernorm_problem(seed=4)
    out = layernorm_lstm_sequence(params, data["xs"], data["h0"], data["c0"], data["d_hs"], data["d_h"], data["d_c"])
    hs, cs = layernorm_lstm_forward_batched(params, data["xs"], data["h0"], data["c0"])
    np.testing.assert_allclose(out["hs"], hs, rtol=1e-12, atol=1e-12)

    def loss():
        hs, cs = layernorm_lstm_forward_batched(params, data["xs"], data["h0"], data["c0"])
        return np.sum(data["d_hs"] * hs) + np.sum(data["d_h"] * hs[-1]) + np.sum(data["d_c"] * cs[-1])

    arrays = {**{f"param {k}": (v, out["grads"][k]) for k, v in params.items()},
              "xs": (data["xs"], out["dxs"]), "h0": (data["h0"], out["d_h0"]), "c0": (data["c0"], out["d_c0"])}
    for what, (array, analytic) in arrays.items():
        np.testing.assert_allclose(analytic, _central_differences(array, loss), rtol=RTOL, atol=1e-8, err_msg=what)


# --- lstmp, sru, mlstm, zoneout_lstm: batched forwards straight from the specs' equations -------------
# Distinct sizes, so that a P or M used where H belongs (or D where P + D does) fails on shapes.

TWO_STATE_SIZES = {"D": 3, "H": 4, "P": 2, "M": 5}


def lstmp_forward_batched(p, xs, h0, c0):
    h, c, hs, cs = h0, c0, [], []
    for x in xs:
        X = np.concatenate([h, x], axis=1)  # concat(h(t-1), x)
        f = _sigmoid(X @ p["W_f"].T + p["b_f"])
        i = _sigmoid(X @ p["W_i"].T + p["b_i"])
        c_tilde = np.tanh(X @ p["W_c"].T + p["b_c"])
        o = _sigmoid(X @ p["W_o"].T + p["b_o"])
        c = f * c + i * c_tilde
        h = (o * np.tanh(c)) @ p["W_p"].T  # W_p @ (o * tanh(c))
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def sru_forward_batched(p, xs, h0, c0):
    c, hs, cs = c0, [], []
    for x in xs:
        f = _sigmoid(x @ p["W_f"].T + p["v_f"] * c + p["b_f"])
        r = _sigmoid(x @ p["W_r"].T + p["v_r"] * c + p["b_r"])  # reads c(t-1), as f does
        c = f * c + (1 - f) * (x @ p["W"].T)
        h = r * c + (1 - r) * x
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def mlstm_forward_batched(p, xs, h0, c0):
    h, c, hs, cs = h0, c0, [], []
    for x in xs:
        m = (x @ p["W_mx"].T) * (h @ p["W_mh"].T)
        u = x @ p["W_hx"].T + m @ p["W_hm"].T + p["b_h"]
        i = _sigmoid(x @ p["W_ix"].T + m @ p["W_im"].T + p["b_i"])
        o = _sigmoid(x @ p["W_ox"].T + m @ p["W_om"].T + p["b_o"])
        f = _sigmoid(x @ p["W_fx"].T + m @ p["W_fm"].T + p["b_f"])
        c = f * c + i * np.tanh(u)
        h = np.tanh(c) * o
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def zoneout_lstm_forward_batched(p, xs, z_cs, z_hs, h0, c0):
    h, c, hs, cs = h0, c0, [], []
    for x, z_c, z_h in zip(xs, z_cs, z_hs):
        X = np.concatenate([h, x], axis=1)
        f = _sigmoid(X @ p["W_f"].T + p["b_f"])
        i = _sigmoid(X @ p["W_i"].T + p["b_i"])
        g = np.tanh(X @ p["W_g"].T + p["b_g"])
        o = _sigmoid(X @ p["W_o"].T + p["b_o"])
        c_new = f * c + i * g
        h = z_h * h + (1 - z_h) * (o * np.tanh(c_new))  # the old h and c on the right
        c = z_c * c + (1 - z_c) * c_new
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def _two_state_problem(name, seed):
    """Parameters, inputs (by the reference's argument names), initial states and adjoints."""
    rng = np.random.default_rng(seed)
    size = dict(TWO_STATE_SIZES)
    if name == "sru":
        size["D"] = size["H"]  # D = H
    size.update({"P+D": size["P"] + size["D"], "H+D": size["H"] + size["D"]})
    params = {key: rng.normal(0.0, 0.5, tuple(size[s] for s in shape))
              for key, shape in TWO_STATE_SHAPES[name].items()}
    h_size = size["P"] if name == "lstmp" else size["H"]
    inputs = {"xs": rng.normal(size=(T, B, size["D"]))}
    if name == "zoneout_lstm":
        # masks in [0, 1]: Bernoulli draws in training, the rate at test time; any value here
        inputs["z_cs"] = rng.uniform(size=(T, B, size["H"]))
        inputs["z_hs"] = rng.uniform(size=(T, B, size["H"]))
    data = {**inputs, "h0": rng.normal(size=(B, h_size)), "c0": rng.normal(size=(B, size["H"])),
            "d_hs": rng.normal(size=(T, B, h_size)), "d_h": rng.normal(size=(B, h_size)),
            "d_c": rng.normal(size=(B, size["H"]))}
    return params, data, list(inputs)


TWO_STATE_CELLS = {
    "lstmp": (lstmp_sequence, lstmp_forward_batched, {"xs": "dxs"}),
    "sru": (sru_sequence, sru_forward_batched, {"xs": "dxs"}),
    "mlstm": (mlstm_sequence, mlstm_forward_batched, {"xs": "dxs"}),
    "zoneout_lstm": (zoneout_lstm_sequence, zoneout_lstm_forward_batched,
                     {"xs": "dxs", "z_cs": "d_z_cs", "z_hs": "d_z_hs"}),
}


@pytest.mark.parametrize("name", sorted(TWO_STATE_CELLS))
def test_two_state_reference_forward_and_gradients(name):
    reference, forward_batched, adjoint_of = TWO_STATE_CELLS[name]
    params, data, input_names = _two_state_problem(name, seed=5)
    inputs = [data[k] for k in input_names]
    out = reference(params, *inputs, data["h0"], data["c0"], data["d_hs"], data["d_h"], data["d_c"])
    hs, cs = forward_batched(params, *inputs, data["h0"], data["c0"])
    np.testing.assert_allclose(out["hs"], hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["cs"], cs, rtol=1e-12, atol=1e-12)
    assert set(out["grads"]) == set(params)

    def loss():
        hs, cs = forward_batched(params, *(data[k] for k in input_names), data["h0"], data["c0"])
        return np.sum(data["d_hs"] * hs) + np.sum(data["d_h"] * hs[-1]) + np.sum(data["d_c"] * cs[-1])

    arrays = {**{f"param {k}": (v, out["grads"][k]) for k, v in params.items()},
              **{k: (data[k], out[adjoint_of[k]]) for k in input_names},
              "h0": (data["h0"], out["d_h0"]), "c0": (data["c0"], out["d_c0"])}
    for what, (array, analytic) in arrays.items():
        assert analytic.shape == array.shape, what
        np.testing.assert_allclose(analytic, _central_differences(array, loss), rtol=RTOL, atol=1e-8,
                                   err_msg=f"{name}: {what}")


@pytest.mark.parametrize("name", sorted(TWO_STATE_CELLS))
def test_two_state_default_last_adjoints_are_zero(name):
    reference = TWO_STATE_CELLS[name][0]
    params, data, input_names = _two_state_problem(name, seed=6)
    inputs = [data[k] for k in input_names]
    explicit = reference(params, *inputs, data["h0"], data["c0"], data["d_hs"],
                         np.zeros_like(data["h0"]), np.zeros_like(data["c0"]))
    default = reference(params, *inputs, data["h0"], data["c0"], data["d_hs"])
    for key, value in explicit.items():
        if key == "grads":
            for k in value:
                np.testing.assert_array_equal(value[k], default[key][k])
        else:
            np.testing.assert_array_equal(value, default[key])


def test_sru_reads_no_previous_h():
    """No SRU equation reads h(t-1): its adjoint is exactly zero, whatever comes in."""
    params, data, _ = _two_state_problem("sru", seed=7)
    out = sru_sequence(params, data["xs"], data["h0"], data["c0"], data["d_hs"], data["d_h"], data["d_c"])
    np.testing.assert_array_equal(out["d_h0"], np.zeros_like(data["h0"]))
