"""Generated code against the hand-written reference cells (tests/reference_cells.py).

The references are written per example, the seed cells in each seed author's own style and the
published cells (indrnn, janet, mingru, minlstm, ugrnn, ligru, and lstmp, sru, mlstm, zoneout_lstm with
states h and c of their own sizes) from their papers' equations, independent of the generator; they
agree with the generated batched code to 1e-12 in float64.
"""
import numpy as np
import pytest
from conftest import module_for
from reference_cells import (PUBLISHED_STEPS, layernorm_lstm_sequence, lstm_sequence, lstmp_sequence, mlstm_sequence,
                             nico_sequence, published_sequence, sru_sequence, zoneout_lstm_sequence)

from derive import contract

# (T, B, D, H): single step, single example, D != H both ways, a longer run
SIZES = [(1, 1, 3, 4), (1, 3, 5, 2), (4, 1, 2, 5), (6, 3, 4, 4), (5, 2, 7, 3)]


def random_case(module, T, B, D, H, seed):
    rng = np.random.default_rng(seed)
    params = {name: rng.normal(0, 0.6, value.shape) for name, value in module.init_params(D, H, rng=rng).items()}
    return {
        "params": params,
        "xs": rng.normal(size=(T, B, D)),
        "state0": {name: rng.normal(0, 0.5, (B, H)) for name in module.STATE},
        "d_outputs": rng.normal(size=(T, B, H)),
        "d_last": {name: rng.normal(size=(B, H)) for name in module.STATE},
    }


def run_generated(module, case):
    outputs, cache = module.forward_sequence(case["params"], case["xs"], case["state0"])
    grads, dxs, d_state0 = module.backward_sequence(case["params"], cache, case["d_outputs"], case["d_last"])
    return outputs, cache["final_state"], grads, dxs, d_state0


def assert_close(actual, expected, what):
    scale = max(np.max(np.abs(expected)), 1e-300)
    error = np.max(np.abs(actual - expected)) / scale
    assert error < 1e-12, f"{what}: relative error {error:.2e}"


@pytest.mark.parametrize("T,B,D,H", SIZES)
@pytest.mark.parametrize("seed", [0, 1])
def test_nico_matches_the_seed_cell(T, B, D, H, seed):
    module = module_for("nico")
    case = random_case(module, T, B, D, H, seed)
    outputs, final, grads, dxs, d_state0 = run_generated(module, case)
    ref = nico_sequence(case["params"], case["xs"], case["state0"]["s"], case["state0"]["h"],
                        case["d_outputs"], case["d_last"]["s"], case["d_last"]["h"])
    assert_close(outputs, ref["hs"], "h(t)")
    assert_close(final["s"], ref["ss"][-1], "s(T)")
    for name in module.PARAM_SHAPES:
        assert_close(grads[name], ref["grads"][name], f"dL/d{name}")
    assert_close(dxs, ref["dxs"], "dL/dx")
    assert_close(d_state0["s"], ref["d_s0"], "dL/ds(0)")
    assert_close(d_state0["h"], ref["d_h0"], "dL/dh(0)")


# Cells with states h and c, and their hand-written references: the second post's LSTM, and the
# layer-normalised LSTM of Ba et al. with layer norm's backward worked out by hand.
LSTM_REFERENCES = {"lstm": lstm_sequence, "layernorm_lstm": layernorm_lstm_sequence}


@pytest.mark.parametrize("cell", sorted(LSTM_REFERENCES))
@pytest.mark.parametrize("T,B,D,H", SIZES)
@pytest.mark.parametrize("seed", [0, 1])
def test_an_lstm_matches_its_hand_written_reference(cell, T, B, D, H, seed):
    module = module_for(cell)
    case = random_case(module, T, B, D, H, seed)
    outputs, final, grads, dxs, d_state0 = run_generated(module, case)
    ref = LSTM_REFERENCES[cell](case["params"], case["xs"], case["state0"]["h"], case["state0"]["c"],
                                case["d_outputs"], case["d_last"]["h"], case["d_last"]["c"])
    assert_close(outputs, ref["hs"], "h(t)")
    assert_close(final["c"], ref["cs"][-1], "c(T)")
    for name in module.PARAM_SHAPES:
        assert_close(grads[name], ref["grads"][name], f"dL/d{name}")
    assert_close(dxs, ref["dxs"], "dL/dx")
    assert_close(d_state0["h"], ref["d_h0"], "dL/dh(0)")
    assert_close(d_state0["c"], ref["d_c0"], "dL/dc(0)")


@pytest.mark.parametrize("name", sorted(PUBLISHED_STEPS))
@pytest.mark.parametrize("T,B,D,H", SIZES)
@pytest.mark.parametrize("seed", [0, 1])
def test_published_cell_matches_its_reference(name, T, B, D, H, seed):
    """The catalog cell of that name (module_for fails if it is not in the catalog)."""
    module = module_for(name)
    assert list(module.STATE) == ["h"]
    case = random_case(module, T, B, D, H, seed)
    outputs, final, grads, dxs, d_state0 = run_generated(module, case)
    ref = published_sequence(name, case["params"], case["xs"], case["state0"]["h"],
                             case["d_outputs"], case["d_last"]["h"])
    assert set(grads) == set(ref["grads"])
    assert_close(outputs, ref["hs"], "h(t)")
    assert_close(final["h"], ref["hs"][-1], "h(T)")
    for name_ in module.PARAM_SHAPES:
        assert_close(grads[name_], ref["grads"][name_], f"dL/d{name_}")
    assert_close(dxs, ref["dxs"], "dL/dx")
    assert_close(d_state0["h"], ref["d_h0"], "dL/dh(0)")


def test_one_step_backward_has_the_seed_semantics():
    """backward(d_state) takes dL/dh(t) in total and dL/ds(t) from step t+1 only, as top_diff_is does."""
    from reference_cells import NicoNode, NicoParams

    module = module_for("nico")
    rng = np.random.default_rng(7)
    D, H = 3, 5
    params = module.init_params(D, H, rng=rng)
    x, s_prev, h_prev = rng.normal(size=(1, D)), rng.normal(size=(1, H)), rng.normal(size=(1, H))
    top_h, top_s = rng.normal(size=(1, H)), rng.normal(size=(1, H))
    _, cache = module.forward(params, x, {"s": s_prev, "h": h_prev})
    grads, dx, d_prev = module.backward(params, cache, {"s": top_s, "h": top_h})
    reference = NicoParams.from_dict(params)
    node = NicoNode(reference, reference.zero_grads())
    node.forward(x.T, s_prev.T, h_prev.T)
    node.top_diff_is(top_h.T, top_s.T)
    assert_close(d_prev["s"], node.bottom_diff_s.T, "bottom_diff_s")
    assert_close(d_prev["h"], node.bottom_diff_h.T, "bottom_diff_h")
    assert_close(dx, node.bottom_diff_x.T, "bottom_diff_x")


# Cells with states h and c of their own sizes and declared sizes (lstmp: h has P entries, c has H;
# mlstm: m has M), sru with D = H, and zoneout_lstm with its masks as inputs: each against its
# hand-written reference, with sizes where P, M, D and H all differ (and equal, once).
# (T, B, D, H, extra sizes)
SIZED_CASES = {
    "lstmp": [(1, 1, 3, 4, {"P": 2}), (4, 2, 2, 5, {"P": 3}), (5, 3, 4, 3, {"P": 6}), (3, 2, 4, 4, {"P": 4})],
    "mlstm": [(1, 1, 3, 4, {"M": 2}), (4, 2, 2, 5, {"M": 3}), (5, 3, 4, 3, {"M": 6}), (3, 2, 4, 4, {"M": 4})],
    "sru": [(1, 1, 3, 3, {}), (4, 2, 5, 5, {}), (6, 3, 2, 2, {})],
    "zoneout_lstm": [(1, 1, 3, 4, {}), (4, 2, 5, 2, {}), (6, 3, 4, 4, {}), (5, 2, 7, 3, {})],
}
SIZED_REFERENCES = {"lstmp": lstmp_sequence, "mlstm": mlstm_sequence, "sru": sru_sequence,
                    "zoneout_lstm": zoneout_lstm_sequence}


def sized_case(module, T, B, D, H, extra, seed, binary_masks=False):
    """Like random_case, with every size from the module's own SIZES, INPUTS and STATE_SIZES."""
    rng = np.random.default_rng(seed)
    sizes = contract.sizes_of(module, D, H, extra)
    assert sizes == {"D": D, "H": H, **extra} or (set(module.SIZES) == {"H"} and D == H)
    params = {name: rng.normal(0, 0.6, value.shape) for name, value in contract.init(module, sizes, rng=rng).items()}
    xs = contract.inputs(module, sizes, (T, B), lambda shape: rng.normal(size=shape))
    if isinstance(xs, dict):  # zoneout's masks: in [0, 1], or 0/1 as Bernoulli draws give them
        for name in ("z_c", "z_h"):
            xs[name] = (rng.uniform(size=xs[name].shape) < 0.4).astype(np.float64) if binary_masks \
                else rng.uniform(size=xs[name].shape)
    size_of_output = contract.output_size(module, sizes)
    return {
        "params": params,
        "xs": xs,
        "state0": contract.states(module, sizes, B, lambda shape: rng.normal(0, 0.5, shape)),
        "d_outputs": rng.normal(size=(T, B, size_of_output)),
        "d_last": contract.states(module, sizes, B, lambda shape: rng.normal(size=shape)),
    }


@pytest.mark.parametrize("cell,T,B,D,H,extra",
                         [(cell, *size) for cell in sorted(SIZED_CASES) for size in SIZED_CASES[cell]])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_sized_cell_matches_its_hand_written_reference(cell, T, B, D, H, extra, seed):
    module = module_for(cell)
    assert list(module.STATE) == ["h", "c"]
    case = sized_case(module, T, B, D, H, extra, seed, binary_masks=seed == 1)
    outputs, final, grads, dxs, d_state0 = run_generated(module, case)
    inputs = contract.as_dict(module, case["xs"])
    arguments = [inputs["x"], inputs["z_c"], inputs["z_h"]] if cell == "zoneout_lstm" else [inputs["x"]]
    ref = SIZED_REFERENCES[cell](case["params"], *arguments, case["state0"]["h"], case["state0"]["c"],
                                 case["d_outputs"], case["d_last"]["h"], case["d_last"]["c"])
    assert outputs.shape == ref["hs"].shape
    assert set(grads) == set(ref["grads"]) == set(module.PARAM_SHAPES)
    assert_close(outputs, ref["hs"], "h(t)")
    assert_close(final["h"], ref["hs"][-1], "h(T)")
    assert_close(final["c"], ref["cs"][-1], "c(T)")
    for name in module.PARAM_SHAPES:
        assert grads[name].shape == case["params"][name].shape
        assert_close(grads[name], ref["grads"][name], f"dL/d{name}")
    d_inputs = contract.as_dict(module, dxs)
    assert set(d_inputs) == set(module.INPUTS)
    assert_close(d_inputs["x"], ref["dxs"], "dL/dx")
    if cell == "zoneout_lstm":
        assert_close(d_inputs["z_c"], ref["d_z_cs"], "dL/dz_c")
        assert_close(d_inputs["z_h"], ref["d_z_hs"], "dL/dz_h")
    if cell == "sru":  # no equation reads h(t-1)
        np.testing.assert_array_equal(d_state0["h"], 0.0)
        np.testing.assert_array_equal(ref["d_h0"], 0.0)
    else:
        assert_close(d_state0["h"], ref["d_h0"], "dL/dh(0)")
    assert_close(d_state0["c"], ref["d_c0"], "dL/dc(0)")
