"""The generated PyTorch module (generated/NAME/NAME_torch.py) of every catalog cell.

Its Sequence (a torch.autograd.Function whose backward is derive's derived backward in torch operations)
is held to three independent references: the NumPy module's forward_sequence and backward_sequence
(float64, to 1e-12), torch.autograd.gradcheck (central differences in float64), and torch's autograd
through the module's own forward steps (the backward a user would otherwise get). On lstm, Layer equals
torch.nn.LSTM with the weights copied.
"""
import functools

import numpy as np
import pytest
from conftest import ROOT

from derive import gradcheck
from derive.catalog import builtin_spec
from derive.loader import load_generated
from derive.pipeline import generate

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")


@functools.cache
def generated(name: str) -> dict[str, str]:
    return generate(builtin_spec(name))


@functools.cache
def torch_module(name: str):
    return load_generated(generated(name)[f"{name}/{name}_torch.py"], f"{name}_torch")


@functools.cache
def numpy_module(name: str):
    return load_generated(generated(name)[f"{name}/{name}.py"], name)


def as_torch(problem: dict, module, grad: bool = False):
    """The problem's inputs, initial states and parameters as float64 tensors, in Sequence's order."""
    xs = problem["xs"] if isinstance(problem["xs"], dict) else {next(iter(module.INPUTS)): problem["xs"]}
    arrays = [xs[name] for name in module.INPUTS] + [problem["state0"][name] for name in module.STATE]
    arrays += [problem["params"][name] for name in module.PARAM_SHAPES]
    return [torch.tensor(a, dtype=torch.float64, requires_grad=grad) for a in arrays]


def loss_of(module, outputs, finals, problem):
    """The gradcheck problem's loss: sum(outputs * w_out) + sum over states of sum(final * w_last)."""
    loss = (outputs * torch.tensor(problem["w_out"])).sum()
    for name, final in zip(module.STATE, finals):
        loss = loss + (final * torch.tensor(problem["w_last"][name])).sum()
    return loss


def test_every_cell_has_its_torch_module_committed():
    from conftest import CATALOG

    for name in CATALOG:
        path = ROOT / "generated" / name / f"{name}_torch.py"
        assert path.read_text() == generated(name)[f"{name}/{name}_torch.py"]
        imports = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        assert imports == ["import math", "import torch"], name


def test_sequence_equals_the_numpy_module(cell):
    """Forward and derived backward, float64: the same numbers as NAME.py's sequence functions."""
    numpy_cell, module = numpy_module(cell), torch_module(cell)
    problem = gradcheck.random_problem(numpy_cell, steps=4, batch=3, seed=1)
    outputs, cache = numpy_cell.forward_sequence(problem["params"], problem["xs"], problem["state0"])
    grads, dxs, d_state0 = numpy_cell.backward_sequence(problem["params"], cache, problem["w_out"], problem["w_last"])
    tensors = as_torch(problem, module, grad=True)
    out, *finals = module.Sequence.apply(*tensors)
    np.testing.assert_allclose(out.detach().numpy(), outputs, rtol=1e-12, atol=1e-12)
    loss_of(module, out, finals, problem).backward()
    expected = list(dxs.values()) if isinstance(dxs, dict) else [dxs]
    expected += [d_state0[name] for name in module.STATE] + [grads[name] for name in module.PARAM_SHAPES]
    for tensor, value in zip(tensors, expected):
        np.testing.assert_allclose(tensor.grad.numpy(), value, rtol=1e-12, atol=1e-12)


def test_sequence_passes_torch_gradcheck(cell):
    numpy_cell, module = numpy_module(cell), torch_module(cell)
    problem = gradcheck.random_problem(numpy_cell, steps=3, batch=2, seed=2)
    tensors = as_torch(problem, module, grad=True)
    assert torch.autograd.gradcheck(module.Sequence.apply, tuple(tensors), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_the_derived_backward_equals_autograd_of_the_forward(cell):
    """torch's autograd through forward() step by step: what a user without derive would run."""
    numpy_cell, module = numpy_module(cell), torch_module(cell)
    problem = gradcheck.random_problem(numpy_cell, steps=4, batch=2, seed=3)
    derived, by_autograd = as_torch(problem, module, grad=True), as_torch(problem, module, grad=True)
    out, *finals = module.Sequence.apply(*derived)
    loss_of(module, out, finals, problem).backward()
    inputs, states = len(module.INPUTS), len(module.STATE)
    xs = dict(zip(module.INPUTS, by_autograd[:inputs]))
    state = dict(zip(module.STATE, by_autograd[inputs:inputs + states]))
    params = dict(zip(module.PARAM_SHAPES, by_autograd[inputs + states:]))
    outputs = []
    for t in range(next(iter(xs.values())).shape[0]):
        step = {name: x[t] for name, x in xs.items()}
        state, _ = module.forward(params, step if len(xs) > 1 else next(iter(step.values())), state)
        outputs.append(state[module.OUTPUT])
    loss_of(module, torch.stack(outputs), [state[name] for name in module.STATE], problem).backward()
    for ours, theirs in zip(derived, by_autograd):  # autograd leaves None where nothing depends on a tensor (sru's c(t-1) in h)
        expected = theirs.grad if theirs.grad is not None else torch.zeros_like(theirs)
        torch.testing.assert_close(ours.grad, expected, rtol=1e-10, atol=1e-12)


def test_lstm_layer_equals_torch_nn_lstm():
    """Layer with nn.LSTM's weights: the same outputs, final states and gradients (float64)."""
    module = torch_module("lstm")
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 5, dtype=torch.float64)
    layer = module.Layer(3, 5, dtype=torch.float64)
    w_ih, w_hh = reference.weight_ih_l0.detach().chunk(4), reference.weight_hh_l0.detach().chunk(4)
    b = (reference.bias_ih_l0 + reference.bias_hh_l0).detach().chunk(4)
    with torch.no_grad():
        for k, gate in enumerate(("i", "f", "c", "o")):  # torch stacks [i, f, g, o]; lstm's W_k is over [h(t-1); x]
            getattr(layer, f"W_{gate}").copy_(torch.cat((w_hh[k], w_ih[k]), dim=1))
            getattr(layer, f"b_{gate}").copy_(b[k])
    xs = torch.randn(6, 2, 3, dtype=torch.float64)
    h0, c0 = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    ours, final = layer(xs, {"h": h0, "c": c0})
    theirs, (h_n, c_n) = reference(xs, (h0[None], c0[None]))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(final["c"], c_n[0], rtol=1e-12, atol=1e-12)
    (ours.sum() + final["c"].sum()).backward()
    (theirs.sum() + c_n.sum()).backward()
    w_grads = layer.W_f.grad, reference.weight_hh_l0.grad.chunk(4)[1], reference.weight_ih_l0.grad.chunk(4)[1]
    torch.testing.assert_close(w_grads[0], torch.cat(w_grads[1:], dim=1), rtol=1e-10, atol=1e-12)


def test_layer_takes_batch_first_no_state_and_float32():
    module = torch_module("gru")
    layer = module.Layer(4, 6, batch_first=True, generator=torch.Generator().manual_seed(0))
    assert layer.W_z.dtype == torch.get_default_dtype() and {name for name, _ in layer.named_parameters()} == set(module.PARAM_SHAPES)
    xs = torch.randn(2, 7, 4)  # (B, T, D)
    outputs, final = layer(xs)
    assert outputs.shape == (2, 7, 6) and outputs.dtype == torch.float32 and final["h"].shape == (2, 6)
    torch.testing.assert_close(outputs[:, -1], final["h"])
    outputs.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    with pytest.raises(ValueError, match="at least one step"):
        layer(torch.randn(2, 0, 4))
