"""Generated cells against the frameworks that implement the same cell, weights mapped.

`lstm` against torch.nn.LSTMCell, `gru_reset_after` against torch.nn.GRUCell, `layernorm_lstm` against its
equations in torch with torch.nn.functional.layer_norm: the forward
over a sequence, and the gradients of a whole-sequence loss through torch's autograd.
Optional: `pip install torch==2.13.0` (the CPU build); skipped with this reason otherwise.
"""
import numpy as np
import pytest
from conftest import module_for

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0 for the framework cross-checks")

T, B, D, H = 5, 3, 4, 6


def blocks(tensor, count):
    return [block.detach().numpy().astype(np.float64) for block in torch.chunk(tensor, count, dim=0)]


def lstm_params(cell):
    """torch stacks the gates as [i, f, g, o]; our W_k is H x (H + D) over [h(t-1); x]."""
    w_ih, w_hh = blocks(cell.weight_ih, 4), blocks(cell.weight_hh, 4)
    b_ih, b_hh = blocks(cell.bias_ih, 4), blocks(cell.bias_hh, 4)
    params = {}
    for k, gate in enumerate(("i", "f", "c", "o")):
        params[f"W_{gate}"] = np.concatenate([w_hh[k], w_ih[k]], axis=1)
        params[f"b_{gate}"] = b_ih[k] + b_hh[k]
    return params


def gru_params(cell):
    """torch stacks the gates as [r, z, n], with separate input and hidden biases."""
    w_ih, w_hh = blocks(cell.weight_ih, 3), blocks(cell.weight_hh, 3)
    b_ih, b_hh = blocks(cell.bias_ih, 3), blocks(cell.bias_hh, 3)
    params = {}
    for k, gate in enumerate(("r", "z", "n")):
        params[f"W_i{gate}"], params[f"W_h{gate}"] = w_ih[k], w_hh[k]
        params[f"b_i{gate}"], params[f"b_h{gate}"] = b_ih[k], b_hh[k]
    return params


def run_torch(cell, xs, state0, d_outputs, name):
    xs_t = torch.tensor(xs, requires_grad=True)
    state = [torch.tensor(s, requires_grad=True) for s in state0]
    current = state if name == "lstm" else state[0]
    outputs = []
    for t in range(T):
        current = cell(xs_t[t], tuple(current) if name == "lstm" else current)
        outputs.append(current[0] if name == "lstm" else current)
    outputs = torch.stack(outputs)
    (outputs * torch.tensor(d_outputs)).sum().backward()
    return outputs.detach().numpy(), xs_t.grad.numpy(), [s.grad.numpy() for s in state]


@pytest.mark.parametrize("name,make,to_params", [
    ("lstm", lambda: torch.nn.LSTMCell(D, H, dtype=torch.float64), lstm_params),
    ("gru_reset_after", lambda: torch.nn.GRUCell(D, H, dtype=torch.float64), gru_params),
])
def test_generated_cell_matches_torch(name, make, to_params):
    torch.manual_seed(0)
    cell = make()
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(T, B, D))
    module = module_for(name)
    state0 = {k: rng.normal(0, 0.5, (B, H)) for k in module.STATE}
    d_outputs = rng.normal(size=(T, B, H))
    params = to_params(cell)
    assert set(params) == set(module.PARAM_SHAPES)
    outputs, cache = module.forward_sequence(params, xs, state0)
    grads, dxs, d_state0 = module.backward_sequence(params, cache, d_outputs)
    torch_state0 = [state0["h"], state0["c"]] if name == "lstm" else [state0["h"]]
    expected, expected_dxs, expected_d_state0 = run_torch(cell, xs, torch_state0, d_outputs, name)
    np.testing.assert_allclose(outputs, expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dxs, expected_dxs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d_state0["h"], expected_d_state0[0], rtol=1e-10, atol=1e-12)
    torch_grads = to_params(type("Grads", (), {
        "weight_ih": cell.weight_ih.grad, "weight_hh": cell.weight_hh.grad,
        "bias_ih": cell.bias_ih.grad, "bias_hh": cell.bias_hh.grad})())
    for key in ("W_i", "W_c") if name == "lstm" else ("W_ir", "W_hn", "b_hn", "b_in"):
        np.testing.assert_allclose(grads[key], torch_grads[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_layernorm_lstm_matches_torch_autograd_of_its_equations():
    """Ba et al.'s eqs. 20-22 written in torch with torch.nn.functional.layer_norm (eps 1e-5, over all
    units) and differentiated by torch's autograd: outputs and every gradient to 1e-10."""
    module = module_for("layernorm_lstm")
    rng = np.random.default_rng(0)
    params = {name: rng.normal(0, 0.5, value.shape) for name, value in module.init_params(D, H, rng=1).items()}
    xs, d_outputs = rng.normal(size=(T, B, D)), rng.normal(size=(T, B, H))
    state0 = {name: rng.normal(size=(B, H)) for name in module.STATE}
    outputs, cache = module.forward_sequence(params, xs, state0)
    grads, dxs, d_state0 = module.backward_sequence(params, cache, d_outputs)

    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    xs_t = torch.tensor(xs, requires_grad=True)
    h, c = (torch.tensor(state0[name], requires_grad=True) for name in ("h", "c"))
    h0, c0 = h, c

    def layer_norm(z, alpha, beta):
        return torch.nn.functional.layer_norm(z, (z.shape[-1],), alpha, beta, eps=1e-5)

    hs = []
    for t in range(T):
        a = layer_norm(h @ p["W_h"].T, p["alpha_h"], p["beta_h"]) + layer_norm(xs_t[t] @ p["W_x"].T, p["alpha_x"], p["beta_x"]) + p["b"]
        f, i, o, g = torch.chunk(a, 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(layer_norm(c, p["alpha_c"], p["beta_c"]))
        hs.append(h)
    expected = torch.stack(hs)
    (expected * torch.tensor(d_outputs)).sum().backward()
    np.testing.assert_allclose(outputs, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name in params:
        np.testing.assert_allclose(grads[name], p[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dxs, xs_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d_state0["h"], h0.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d_state0["c"], c0.grad.numpy(), rtol=1e-10, atol=1e-12)
