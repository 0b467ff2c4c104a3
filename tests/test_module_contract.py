"""The generated module's contract, for every built-in cell: every entry point refuses a wrong
argument with a ValueError naming it; right arguments pass at any sizes, T = 0 and B = 0 included;
a workspace serves one layer, and sharing one is refused rather than silently wrong."""
import inspect

import hypothesis.strategies as st
import numpy as np
import pytest
from conftest import CATALOG, module_for
from hypothesis import HealthCheck, given, settings

from derive import contract

SIZES = dict(T=3, B=2, D=5, H=4)
ENTRY_POINTS = ("forward", "backward", "forward_sequence", "forward_sequence_steps", "backward_sequence", "backward_sequence_steps")
CHECKS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])  # `cell` only names the cell


def problem(module, T, B, D, H, dtype=np.float64, seed=0, extra=None):
    """A right problem at these sizes; a declared size is H + 2, H + 3, ... unless given in extra
    (so that it differs from D and H), a cell that declares D = H has D = H."""
    rng = np.random.default_rng(seed)
    declared = [size for size in module.SIZES if size not in ("D", "H")]
    sizes = contract.sizes_of(module, D, H, {size: H + 2 + k for k, size in enumerate(declared)} | (extra or {}))
    draw = lambda shape: rng.normal(size=shape).astype(dtype)  # noqa: E731
    return {"params": contract.init(module, sizes, rng=rng, dtype=dtype), "xs": contract.inputs(module, sizes, (T, B), draw),
            "state0": contract.states(module, sizes, B, draw), "d_outputs": draw((T, B, contract.output_size(module, sizes))),
            "d_state_last": contract.states(module, sizes, B, draw), "sizes": sizes}


def at_step(xs, t):
    """The inputs of step t: an array, or a dict of them for a cell with several inputs."""
    return {name: sequence[t] for name, sequence in xs.items()} if isinstance(xs, dict) else xs[t]


def arguments(module, entry, p) -> dict:
    """The keyword arguments of a right call of `entry`, from a problem; backward passes get the
    cache of their own forward function."""
    if entry == "forward":
        return {"params": p["params"], input_name(module): at_step(p["xs"], 0), "state": p["state0"]}
    if entry == "backward":
        return {"params": p["params"], "cache": module.forward(p["params"], at_step(p["xs"], 0), p["state0"])[1], "d_state": p["d_state_last"]}
    if entry.startswith("forward"):
        return {"params": p["params"], "xs": p["xs"], "state0": p["state0"]}
    _, cache = getattr(module, entry.replace("backward", "forward"))(p["params"], p["xs"], p["state0"])
    return {"params": p["params"], "cache": cache, "d_outputs": p["d_outputs"], "d_state_last": p["d_state_last"]}


def input_name(module) -> str:
    return list(inspect.signature(module.forward).parameters)[1]


def arrays(kwargs):
    """(label as the messages write it, argument, key or None, array) for every array argument."""
    for argument, value in kwargs.items():
        if isinstance(value, np.ndarray):
            yield argument, argument, None, value
        elif argument != "cache":
            yield from ((f"{argument}[{key!r}]", argument, key, array) for key, array in value.items())


def replaced(kwargs, argument, key, new):
    """kwargs with one array (or, key None, one argument) replaced; nothing else is copied."""
    changed = dict(kwargs)
    changed[argument] = new if key is None else {**kwargs[argument], key: new}
    return changed


def free_axis(module, entry, label, axis) -> bool:
    """An axis no other argument fixes: any T for a forward pass of one input; in backward(), whose
    cache is not checked, a size no state has (D) in the only parameter sized by it."""
    if entry.startswith("forward") and label == "xs" and axis == 0:
        return True
    if entry != "backward" or not label.startswith("params["):
        return False
    name = label[len("params['"):-2]
    for k, size in enumerate(module.SIZES):
        users = [param for param, axes in module.PARAM_SIZES.items() if any(counts[k] for counts in axes)]
        if module.PARAM_SIZES[name][axis][k] and size not in module.STATE_SIZES.values() and users == [name]:
            return True
    return False


def refused(module, entry, kwargs, *fragments):
    with pytest.raises(ValueError) as raised:
        getattr(module, entry)(**kwargs)
    for fragment in fragments:
        assert fragment in str(raised.value), (fragment, str(raised.value))
    return str(raised.value)


def drawn_call(data, module):
    """An entry point, its right arguments, and one of its arrays: (entry, kwargs, label, argument, key, array)."""
    entry = data.draw(st.sampled_from(ENTRY_POINTS), label="entry")
    kwargs = arguments(module, entry, problem(module, **SIZES))
    return (entry, kwargs, *data.draw(st.sampled_from(list(arrays(kwargs))), label="array"))


# -- wrong arguments --------------------------------------------------------------------------
@CHECKS
@given(data=st.data())
def test_a_wrong_length_of_any_axis_is_refused_naming_the_argument(cell, data):
    module = module_for(cell)
    entry, kwargs, label, argument, key, array = drawn_call(data, module)
    axis = data.draw(st.integers(0, array.ndim - 1), label="axis")
    length = data.draw(st.integers(0, 12).filter(lambda n: n != array.shape[axis]), label="length")
    shape = array.shape[:axis] + (length,) + array.shape[axis + 1:]
    wrong = replaced(kwargs, argument, key, np.zeros(shape, array.dtype))
    if free_axis(module, entry, label, axis):
        getattr(module, entry)(**wrong)  # nothing to compare with: accepted
    else:
        refused(module, entry, wrong, label)


def test_an_input_made_for_another_d_names_d(cell):
    """The issue's case: D = 3 inputs to parameters made for D = 5 ran on the weights' first columns."""
    module = module_for(cell)
    if "D" not in module.SIZES:
        pytest.skip(f"{cell} declares D = H: it has no D")
    p = problem(module, **SIZES)
    first = next(iter(module.INPUTS))
    xs = np.zeros((SIZES["T"], SIZES["B"], 3))
    xs, label = ({**p["xs"], first: xs}, f"xs[{first!r}]") if isinstance(p["xs"], dict) else (xs, "xs")
    for entry in ("forward_sequence", "forward_sequence_steps"):
        message = refused(module, entry, {"params": p["params"], "xs": xs}, f"{label} has D = 3 columns but params[", "was made for D = 5")
    assert "expected (" in message and "D" in message.split("expected (")[1].split(")")[0]  # the shape in D and H
    refused(module, "forward", {"params": p["params"], input_name(module): at_step(xs, 0), "state": p["state0"]}, "D = 3")


@CHECKS
@given(data=st.data())
def test_a_wrong_ndim_dtype_or_type_is_refused_naming_the_argument(cell, data):
    module = module_for(cell)
    entry, kwargs, label, argument, key, array = drawn_call(data, module)
    wrong = data.draw(st.sampled_from([array[..., None], array[0], array.astype(np.float32), array.tolist()]), label="wrong")
    refused(module, entry, replaced(kwargs, argument, key, wrong), label)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_missing_or_extra_parameter_or_state_is_refused(cell, entry):
    module = module_for(cell)
    kwargs = arguments(module, entry, problem(module, **SIZES))
    for argument, value in kwargs.items():
        if argument == "cache" or not isinstance(value, dict):
            continue
        first = next(iter(value))
        less = {key: array for key, array in value.items() if key != first}
        refused(module, entry, {**kwargs, argument: less}, f"{argument} must be a dict of exactly", f"missing: {first}")
        refused(module, entry, {**kwargs, argument: {**value, "W_y": value[first]}}, argument, "extra: W_y")
        refused(module, entry, {**kwargs, argument: list(value.values())}, argument, "it is a list")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_integer_arrays_are_refused(cell, entry):
    module = module_for(cell)
    kwargs = arguments(module, entry, problem(module, **SIZES))
    as_int = {argument: value.astype(np.int64) if isinstance(value, np.ndarray)
              else value if argument == "cache" else {key: array.astype(np.int64) for key, array in value.items()}
              for argument, value in kwargs.items()}
    refused(module, entry, as_int, "int64")  # "expected floats", or that the cache's arrays are floats


def test_a_backward_pass_refuses_another_functions_cache(cell):
    module, other = module_for(cell), module_for(CATALOG[CATALOG.index(cell) - 1])
    p = problem(module, **SIZES)
    fast = arguments(module, "backward_sequence", p)
    steps = arguments(module, "backward_sequence_steps", p)
    refused(module, "backward_sequence", {**fast, "cache": steps["cache"]}, f"cache is {cell}.forward_sequence_steps's")
    refused(module, "backward_sequence_steps", {**steps, "cache": fast["cache"]}, f"cache is {cell}.forward_sequence's")
    refused(module, "backward_sequence", {**fast, "cache": module.forward_sequence(p["params"], p["xs"])}, "it is a tuple")
    theirs = problem(other, **SIZES)
    _, foreign = other.forward_sequence(theirs["params"], theirs["xs"])
    refused(module, "backward_sequence", {**fast, "cache": foreign}, f"cache is {other.__name__[len('derive_generated_'):]}.forward_sequence's")


# -- right arguments ----------------------------------------------------------------------------
@settings(max_examples=15, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(T=st.integers(0, 4), B=st.integers(0, 3), D=st.integers(1, 4), H=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]), with_states=st.booleans())
def test_right_arguments_pass_at_any_sizes_and_both_paths_agree(cell, T, B, D, H, dtype, with_states):
    module = module_for(cell)
    p = problem(module, T, B, D, H, dtype)
    state0, d_state_last = (p["state0"], p["d_state_last"]) if with_states else (None, None)
    results = []
    for forward, backward in (("forward_sequence", "backward_sequence"), ("forward_sequence_steps", "backward_sequence_steps")):
        outputs, cache = getattr(module, forward)(p["params"], p["xs"], state0)
        grads, dxs, d_state0 = getattr(module, backward)(p["params"], cache, p["d_outputs"], d_state_last)
        sizes = p["sizes"]
        assert outputs.shape == (T, B, contract.output_size(module, sizes)) and outputs.dtype == dtype
        for name, size in module.INPUTS.items():
            assert contract.as_dict(module, dxs)[name].shape == (T, B, sizes[size]) and contract.as_dict(module, dxs)[name].dtype == dtype
        assert all(grads[name].shape == p["params"][name].shape and grads[name].dtype == dtype for name in module.PARAM_SHAPES)
        results.append((outputs, cache["final_state"], grads, dxs, d_state0))
    tolerance = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for fast, steps in zip(*results):
        for name in fast if isinstance(fast, dict) else [None]:
            np.testing.assert_allclose(fast[name] if name else fast, steps[name] if name else steps, **tolerance, err_msg=str(name))
    step = at_step(p["xs"], 0) if T else contract.inputs(module, p["sizes"], (B,), lambda shape: np.zeros(shape, dtype))
    _, step_cache = module.forward(p["params"], step, p["state0"])
    module.backward(p["params"], step_cache, p["d_state_last"])


@pytest.mark.parametrize("steps", [False, True], ids=["fast", "steps"])
def test_no_step_gives_empty_outputs_the_initial_state_and_zero_gradients(cell, steps):
    module = module_for(cell)
    forward, backward = (module.forward_sequence_steps, module.backward_sequence_steps) if steps else (module.forward_sequence, module.backward_sequence)
    p = problem(module, **{**SIZES, "T": 0})
    sizes = p["sizes"]
    outputs, cache = forward(p["params"], p["xs"], p["state0"])
    assert outputs.shape == (0, SIZES["B"], contract.output_size(module, sizes))
    for name in module.STATE:
        np.testing.assert_array_equal(cache["final_state"][name], p["state0"][name])
    grads, dxs, d_state0 = backward(p["params"], cache, p["d_outputs"], p["d_state_last"])
    assert all(contract.as_dict(module, dxs)[name].shape == (0, SIZES["B"], sizes[size]) for name, size in module.INPUTS.items())
    assert all(not grads[name].any() and grads[name].shape == p["params"][name].shape for name in module.PARAM_SHAPES)
    for name in module.STATE:
        np.testing.assert_array_equal(d_state0[name], p["d_state_last"][name])
    _, cache = forward(p["params"], p["xs"])
    _, _, d_state0 = backward(p["params"], cache, p["d_outputs"])
    assert all(d_state0[name].shape == (SIZES["B"], sizes[size]) and not d_state0[name].any() for name, size in module.STATE_SIZES.items())
    assert all(not cache["final_state"][name].any() for name in module.STATE)


# -- workspaces ---------------------------------------------------------------------------------
def layer_problem(module, seed):
    """Two layers' worth: every size 3 so that a layer's outputs are the next one's input."""
    return problem(module, T=4, B=2, D=3, H=3, seed=seed, extra=declared_as(module, 3))


def declared_as(module, value):
    """Every size the cell declares (beyond D and H) set to value."""
    return {size: value for size in module.SIZES if size not in ("D", "H")}


def stackable(module, cell):
    """Layers of one cell stack when the outputs can be the next layer's xs: one input."""
    if len(module.INPUTS) > 1:
        pytest.skip(f"{cell} has several inputs: a layer's outputs are not the next layer's inputs")


def test_two_stacked_layers_of_one_cell_sharing_a_workspace_are_refused(cell):
    module = module_for(cell)
    stackable(module, cell)
    first, second = layer_problem(module, 1), layer_problem(module, 2)
    workspace = {}
    outputs, cache1 = module.forward_sequence(first["params"], first["xs"], workspace=workspace)
    top, cache2 = module.forward_sequence(second["params"], outputs, workspace=workspace)
    expected = module.backward_sequence(second["params"], module.forward_sequence(second["params"], outputs.copy())[1], second["d_outputs"])
    grads2, dxs2, _ = module.backward_sequence(second["params"], cache2, second["d_outputs"], workspace=workspace)
    for name in module.PARAM_SHAPES:  # the latest layer's backward pass is right
        np.testing.assert_allclose(grads2[name], expected[0][name], rtol=1e-12, atol=1e-14)
    refused(module, "backward_sequence", {"params": first["params"], "cache": cache1, "d_outputs": dxs2, "workspace": workspace},
            "workspace", "use one workspace per layer")


def test_stacked_layers_of_other_sizes_sharing_a_workspace_are_refused_at_once(cell):
    module = module_for(cell)
    stackable(module, cell)
    if "D" not in module.SIZES:
        pytest.skip(f"{cell} declares D = H: layers that stack have one size")
    workspace = {}
    first = problem(module, T=4, B=2, D=5, H=3, extra=declared_as(module, 3))
    outputs, _ = module.forward_sequence(first["params"], first["xs"], workspace=workspace)
    second = layer_problem(module, 1)
    owner = ", ".join(f"{size} = {value}" for size, value in first["sizes"].items())
    refused(module, "forward_sequence", {"params": second["params"], "xs": outputs, "workspace": workspace},
            f"workspace belongs to {cell} with {owner}, not to {cell} with " + ", ".join(f"{size} = 3" for size in module.SIZES),
            "use one workspace per layer")


def test_two_cells_sharing_a_workspace_are_refused(cell):
    module, other = module_for(cell), module_for(CATALOG[CATALOG.index(cell) - 1])
    p = layer_problem(module, 0)
    workspace = {}
    module.forward_sequence(p["params"], p["xs"], workspace=workspace)
    other_name = other.__name__[len("derive_generated_"):]
    owner = ", ".join(f"{size} = 3" for size in module.SIZES)
    theirs = layer_problem(other, 0)
    refused(other, "forward_sequence", {"params": theirs["params"], "xs": theirs["xs"], "workspace": workspace},
            f"workspace belongs to {cell} with {owner}, not to {other_name}", "use one workspace per layer")


def test_lstm_and_gru_sharing_a_workspace_are_refused_before_anything_is_overwritten():
    lstm, gru = module_for("lstm"), module_for("gru")
    workspace = {}
    p = layer_problem(lstm, 0)
    outputs, cache = lstm.forward_sequence(p["params"], p["xs"], workspace=workspace)
    kept = outputs.copy()
    refused(gru, "forward_sequence", {"params": gru.init_params(3, 3), "xs": p["xs"], "workspace": workspace}, "belongs to lstm")
    np.testing.assert_array_equal(outputs, kept)
    fresh = lstm.backward_sequence(p["params"], lstm.forward_sequence(p["params"], p["xs"])[1], p["d_outputs"])
    grads, _, _ = lstm.backward_sequence(p["params"], cache, p["d_outputs"], workspace=workspace)
    for name in lstm.PARAM_SHAPES:
        np.testing.assert_allclose(grads[name], fresh[0][name], rtol=1e-12, atol=1e-14)


def test_a_backward_pass_takes_the_workspace_its_forward_pass_had(cell):
    module = module_for(cell)
    p = layer_problem(module, 0)
    workspace = {}
    _, with_one = module.forward_sequence(p["params"], p["xs"], workspace=workspace)
    _, without = module.forward_sequence(p["params"], p["xs"])
    call = {"params": p["params"], "d_outputs": p["d_outputs"]}
    refused(module, "backward_sequence", {**call, "cache": with_one}, "workspace is not the one the cache was made with", "had one")
    refused(module, "backward_sequence", {**call, "cache": with_one, "workspace": {}}, "workspace is not the one")
    refused(module, "backward_sequence", {**call, "cache": without, "workspace": workspace}, "had none")


def test_a_training_loop_with_one_workspace_per_layer_gets_the_gradients_of_fresh_arrays(cell):
    """Two stacked layers, new params dicts every step (functional updates), the state carried
    between chunks: with a workspace each, every step's gradients are those of fresh arrays."""
    module = module_for(cell)
    stackable(module, cell)
    layers = [layer_problem(module, 1)["params"], layer_problem(module, 2)["params"]]
    workspaces = [{}, {}]
    rng = np.random.default_rng(3)
    states = [None, None]
    for step in range(3):
        xs, d_top = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 3))
        grads = {}
        for reuse in (True, False):
            inputs, caches = xs, []
            for layer, params in enumerate(layers):
                inputs, cache = module.forward_sequence(params, inputs, states[layer], workspace=workspaces[layer] if reuse else None)
                caches.append(cache)
            d_inputs, found = d_top, []
            for layer in reversed(range(2)):
                layer_grads, d_inputs, _ = module.backward_sequence(layers[layer], caches[layer], d_inputs,
                                                                    workspace=workspaces[layer] if reuse else None)
                found.insert(0, {name: array.copy() for name, array in layer_grads.items()})
            grads[reuse] = found
            next_states = [dict(cache["final_state"]) for cache in caches]
        for reused, fresh in zip(grads[True], grads[False]):
            for name in module.PARAM_SHAPES:
                np.testing.assert_allclose(reused[name], fresh[name], rtol=1e-12, atol=1e-14, err_msg=f"step {step}: {name}")
        layers = [{name: params[name] - 0.1 * step_grads[name] for name in params} for params, step_grads in zip(layers, grads[False])]
        states = next_states
