"""Generated cells against the frameworks that implement the same cell, weights mapped.

`lstm` against torch.nn.LSTMCell, `gru_reset_after` against torch.nn.GRUCell, `lstmp` against
torch.nn.LSTM with proj_size, `layernorm_lstm` against its
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


def lstmp_params(lstm):
    """torch.nn.LSTM(D, H, proj_size=P): weight_ih_l0 (4H, D) and weight_hh_l0 (4H, P) stacked as
    [i, f, g, o], two biases, weight_hr_l0 (P, H). Our W_k is H x (P + D) over [h(t-1); x], W_c is
    torch's g gate, b_k is b_ih + b_hh and W_p is weight_hr_l0."""
    w_ih, w_hh = blocks(lstm.weight_ih_l0, 4), blocks(lstm.weight_hh_l0, 4)
    b_ih, b_hh = blocks(lstm.bias_ih_l0, 4), blocks(lstm.bias_hh_l0, 4)
    params = {}
    for k, gate in enumerate(("i", "f", "c", "o")):
        params[f"W_{gate}"] = np.concatenate([w_hh[k], w_ih[k]], axis=1)
        params[f"b_{gate}"] = b_ih[k] + b_hh[k]
    params["W_p"] = lstm.weight_hr_l0.detach().numpy().astype(np.float64)
    return params


def test_lstmp_matches_torch_lstm_with_proj_size():
    """A whole sequence through torch.nn.LSTM(D, H, proj_size=P) (P != H != D) and torch's autograd
    of sum(d_outputs * outputs) + sum(d_h * h(T)) + sum(d_c * c(T)): outputs, final h and c, every
    weight's gradient, the input's and both initial states' to 1e-10."""
    P = 2
    assert len({D, H, P}) == 3
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(D, H, proj_size=P, dtype=torch.float64)
    module = module_for("lstmp")
    assert module.STATE_SIZES == {"h": "P", "c": "H"}
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(T, B, D))
    state0 = {"h": rng.normal(0, 0.5, (B, P)), "c": rng.normal(0, 0.5, (B, H))}
    d_outputs = rng.normal(size=(T, B, P))
    d_last = {"h": rng.normal(size=(B, P)), "c": rng.normal(size=(B, H))}
    params = lstmp_params(lstm)
    assert set(params) == set(module.PARAM_SHAPES)
    outputs, cache = module.forward_sequence(params, xs, state0)
    grads, dxs, d_state0 = module.backward_sequence(params, cache, d_outputs, d_last)

    xs_t = torch.tensor(xs, requires_grad=True)
    h0 = torch.tensor(state0["h"][None], requires_grad=True)  # (layers, B, P)
    c0 = torch.tensor(state0["c"][None], requires_grad=True)  # (layers, B, H)
    expected, (h_n, c_n) = lstm(xs_t, (h0, c0))
    ((expected * torch.tensor(d_outputs)).sum() + (h_n[0] * torch.tensor(d_last["h"])).sum()
     + (c_n[0] * torch.tensor(d_last["c"])).sum()).backward()

    def close(ours, theirs, what):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=what)

    close(outputs, expected.detach().numpy(), "outputs")
    close(cache["final_state"]["h"], h_n[0].detach().numpy(), "h(T)")
    close(cache["final_state"]["c"], c_n[0].detach().numpy(), "c(T)")
    # torch's two biases enter as their sum, so each gets the whole gradient of b_k: map bias_ih_l0's
    # (with zero in bias_hh_l0's place, not to count it twice) and check bias_hh_l0's is the same
    close(lstm.bias_hh_l0.grad.numpy(), lstm.bias_ih_l0.grad.numpy(), "bias_hh_l0 and bias_ih_l0 gradients")
    torch_grads = lstmp_params(type("Grads", (), {
        "weight_ih_l0": lstm.weight_ih_l0.grad, "weight_hh_l0": lstm.weight_hh_l0.grad,
        "bias_ih_l0": lstm.bias_ih_l0.grad, "bias_hh_l0": torch.zeros_like(lstm.bias_hh_l0.grad),
        "weight_hr_l0": lstm.weight_hr_l0.grad})())
    for key in module.PARAM_SHAPES:
        close(grads[key], torch_grads[key], f"dL/d{key}")
    close(dxs, xs_t.grad.numpy(), "dL/dx")
    close(d_state0["h"], h0.grad.numpy()[0], "dL/dh(0)")
    close(d_state0["c"], c0.grad.numpy()[0], "dL/dc(0)")
