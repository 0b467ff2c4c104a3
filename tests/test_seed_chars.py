"""The character-level LSTM baseline (benchmarks/seed_chars.py): gradients, loss, Adam, training."""
import numpy as np
import pytest

from benchmarks import seed_chars

V, H, T = 5, 4, 3
INPUTS = [0, 3, 1]
TARGETS = [3, 1, 4]
assert len(INPUTS) == len(TARGETS) == T
STEP = 3e-5  # balances truncation (STEP**2) against rounding (1e-16 * loss / STEP)
TOL = 1e-6


def tiny_model(seed=0):
    """A tiny float64 model with nonzero biases and a random carried-in state."""
    rng = np.random.default_rng(seed)
    params = seed_chars.init_params(V, H, rng)
    for name, value in params.items():
        value += 0.3 * rng.standard_normal(value.shape)  # biases too: every term is exercised
    h0 = 0.5 * rng.standard_normal((1, H))
    c0 = 0.5 * rng.standard_normal((1, H))
    return params, h0, c0, rng


def summed_loss(params, h0, c0):
    loss, _, _, _ = seed_chars.train_step(params, INPUTS, TARGETS, h0.copy(), c0.copy())
    return loss * T  # the mean per character times T: the summed loss the gradients are of


def numeric_grad(f, array, index):
    old = array[index]
    array[index] = old + STEP
    plus = f()
    array[index] = old - STEP
    minus = f()
    array[index] = old
    return (plus - minus) / (2 * STEP)


def assert_close(analytic, numeric, what):
    scale = max(abs(analytic), abs(numeric))
    assert scale > 1e-5, f"{what}: gradient too small to check ({analytic}, {numeric})"
    assert abs(analytic - numeric) / scale < TOL, f"{what}: analytic {analytic} vs numeric {numeric}"


def pick_checkable(array, rng, count=5):
    """Sample entries whose gradient is big enough to check to 1e-6 relative with finite differences.

    This skips the structurally zero ones (a weight of an input that never occurs), checked separately.
    """
    nonzero = np.argwhere(np.abs(array) > 1e-4)
    assert len(nonzero) >= min(3, array.size)
    chosen = rng.choice(len(nonzero), size=min(count, len(nonzero)), replace=False)
    return [tuple(nonzero[i]) for i in chosen]


@pytest.mark.parametrize("name", ["W_f", "W_i", "W_c", "W_o", "b_f", "b_i", "b_c", "b_o", "W_y", "b_y"])
def test_parameter_gradients_match_central_differences(name):
    params, h0, c0, rng = tiny_model()
    _, grads, _, _ = seed_chars.train_step(params, INPUTS, TARGETS, h0.copy(), c0.copy())
    assert grads[name].shape == params[name].shape
    for index in pick_checkable(grads[name], rng):
        numeric = numeric_grad(lambda: summed_loss(params, h0, c0), params[name], index)
        assert_close(grads[name][index], numeric, f"{name}{index}")


def test_structurally_zero_gradients_are_zero_numerically_too():
    """Columns of W_k reading an input character that never occurs get no gradient, either way."""
    params, h0, c0, _ = tiny_model()
    _, grads, _, _ = seed_chars.train_step(params, INPUTS, TARGETS, h0.copy(), c0.copy())
    unused = H + 2  # character 2 is not among INPUTS
    assert 2 not in INPUTS
    for name in ("W_f", "W_i", "W_c", "W_o"):
        assert np.all(grads[name][:, unused] == 0)
        numeric = numeric_grad(lambda: summed_loss(params, h0, c0), params[name], (1, unused))
        assert abs(numeric) < 1e-9


def test_every_parameter_gets_a_gradient_of_its_own_shape():
    params, h0, c0, _ = tiny_model()
    _, grads, _, _ = seed_chars.train_step(params, INPUTS, TARGETS, h0, c0)
    assert set(grads) == set(params)
    for name in params:
        assert grads[name].shape == params[name].shape
        assert grads[name].dtype == np.float64


@pytest.mark.parametrize("which", ["h", "c"])
def test_initial_state_gradients_match_central_differences(which):
    params, h0, c0, rng = tiny_model()
    _, _, _, _, dh0, dc0 = seed_chars.bptt(params, INPUTS, TARGETS, h0.copy(), c0.copy())
    state, analytic = (h0, dh0) if which == "h" else (c0, dc0)
    assert analytic.shape == (1, H)
    for j in range(H):
        numeric = numeric_grad(lambda: summed_loss(params, h0, c0), state, (0, j))
        assert_close(analytic[0, j], numeric, f"d{which}0[{j}]")


def test_train_step_returns_the_state_after_the_chunk():
    params, h0, c0, _ = tiny_model()
    _, _, h_all, c_all = seed_chars.train_step(params, INPUTS, TARGETS, h0, c0)
    _, _, h_mid, c_mid = seed_chars.train_step(params, INPUTS[:2], TARGETS[:2], h0, c0)
    _, _, h_end, c_end = seed_chars.train_step(params, INPUTS[2:], TARGETS[2:], h_mid, c_mid)
    np.testing.assert_allclose(h_all, h_end, rtol=1e-14, atol=0)
    np.testing.assert_allclose(c_all, c_end, rtol=1e-14, atol=0)
    assert h_all.shape == c_all.shape == (1, H)


def test_loss_is_the_mean_of_the_per_character_losses():
    params, h0, c0, _ = tiny_model()
    total = 0.0
    h, c = h0, c0
    for x, y in zip(INPUTS, TARGETS):
        loss, _, h, c = seed_chars.train_step(params, [x], [y], h, c)
        total += loss
    mean, _, _, _ = seed_chars.train_step(params, INPUTS, TARGETS, h0, c0)
    assert mean == pytest.approx(total / len(INPUTS), rel=1e-14)


def zero_params():
    params = seed_chars.init_params(V, H, np.random.default_rng(0))
    return {name: np.zeros_like(value) for name, value in params.items()}


def test_loss_at_zero_weights_is_log_vocab_size():
    params = zero_params()
    zeros = np.zeros((1, H))
    for x in range(V):
        for y in range(V):
            loss, _, _, _ = seed_chars.train_step(params, [x], [y], zeros, zeros)
            assert loss == np.log(V)
    loss, _, _, _ = seed_chars.train_step(params, [0, 1, 2, 3, 4, 0, 1], [1, 2, 3, 4, 0, 1, 2], zeros, zeros)
    assert loss == pytest.approx(np.log(V), rel=1e-15)


def test_softmax_is_stable_for_huge_logits():
    params = zero_params()
    params["b_y"][:] = [1000.0, 0.0, -1000.0, 0.0, 0.0]
    zeros = np.zeros((1, H))
    loss, grads, _, _ = seed_chars.train_step(params, [0], [2], zeros, zeros)
    assert loss == pytest.approx(2000.0)
    assert np.all(np.isfinite(grads["b_y"]))
    np.testing.assert_allclose(grads["b_y"], [1.0, 0.0, -1.0, 0.0, 0.0], atol=1e-12)


def test_adam_first_step_moves_by_minus_lr_times_sign():
    rng = np.random.default_rng(1)
    params = seed_chars.init_params(V, H, rng)
    before = {name: value.copy() for name, value in params.items()}
    grads = {name: rng.uniform(0.5, 3.0, value.shape) * rng.choice([-1.0, 1.0], value.shape)
             for name, value in params.items()}
    state = seed_chars.adam_state(params)
    lr = 1e-3
    seed_chars.adam_update(params, grads, state, 1, lr=lr)
    for name in params:
        np.testing.assert_allclose(params[name] - before[name], -lr * np.sign(grads[name]), rtol=1e-7, atol=0)


def test_adam_clips_gradients_to_five():
    params = zero_params()
    grads = {name: np.full_like(value, 100.0) for name, value in params.items()}
    grads["b_y"][:] = -100.0
    state = seed_chars.adam_state(params)
    lr, beta1, beta2 = 1e-3, 0.9, 0.999
    seed_chars.adam_update(params, grads, state, 1, lr=lr, beta1=beta1, beta2=beta2)
    for name in params:
        sign = -1.0 if name == "b_y" else 1.0
        np.testing.assert_allclose(params[name], -lr * sign, rtol=1e-7)
        np.testing.assert_allclose(state["M"][name], (1 - beta1) * 5.0 * sign, rtol=1e-12)
        np.testing.assert_allclose(state["R"][name], (1 - beta2) * 25.0, rtol=1e-12)
        assert np.all(np.abs(grads[name]) == 100.0)  # the caller's gradients are not clipped in place


def test_adam_second_step_uses_bias_correction_at_step_two():
    params = {"w": np.array([0.0])}
    state = seed_chars.adam_state(params)
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    seed_chars.adam_update(params, {"w": np.array([1.0])}, state, 1, lr=lr)
    seed_chars.adam_update(params, {"w": np.array([3.0])}, state, 2, lr=lr)
    M = b1 * (1 - b1) * 1.0 + (1 - b1) * 3.0
    R = b2 * (1 - b2) * 1.0 + (1 - b2) * 9.0
    second = lr * (M / (1 - b1 ** 2)) / (np.sqrt(R / (1 - b2 ** 2)) + eps)
    assert params["w"][0] == pytest.approx(-lr - second, rel=1e-6)


def test_training_on_a_repetitive_text_learns():
    text = "hello world " * 20
    chars = sorted(set(text))
    indices = [chars.index(ch) for ch in text]
    losses = seed_chars.train(indices, len(chars), hidden_size=16, seq_len=10, iterations=300, seed=0)
    assert len(losses) == 300
    assert all(np.isfinite(losses))
    assert losses[0] == pytest.approx(np.log(len(chars)), abs=0.2)
    assert np.mean(losses[-20:]) < 0.6 * np.log(len(chars))


def test_train_walks_the_text_in_chunks_and_resets_the_state_when_it_wraps(monkeypatch):
    calls = []
    real = seed_chars.train_step

    def recording(params, inputs, targets, h, c):
        calls.append((list(inputs), list(targets), h.copy(), c.copy()))
        loss, grads, h2, c2 = real(params, inputs, targets, h, c)
        calls[-1] += (h2.copy(), c2.copy())
        return loss, grads, h2, c2

    monkeypatch.setattr(seed_chars, "train_step", recording)
    indices = list(range(12))  # 12 characters, chunks of 5: [0:5] and [5:10], then wrap
    seed_chars.train(indices, 12, hidden_size=3, seq_len=5, iterations=5, seed=0)
    assert [inputs for inputs, *_ in calls] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]] * 2 + [[0, 1, 2, 3, 4]]
    assert [targets for _, targets, *_ in calls] == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]] * 2 + [[1, 2, 3, 4, 5]]
    for k, (_, _, h, c, _, _) in enumerate(calls):
        if k % 2 == 0:  # the start of the text: a fresh state
            assert np.all(h == 0) and np.all(c == 0)
        else:  # the state carried from the previous chunk
            np.testing.assert_array_equal(h, calls[k - 1][4])
            np.testing.assert_array_equal(c, calls[k - 1][5])
            assert np.any(h != 0)


def test_train_is_deterministic_for_a_seed():
    indices = [i % 4 for i in range(30)]
    first = seed_chars.train(indices, 4, hidden_size=8, seq_len=5, iterations=12, seed=3)
    second = seed_chars.train(indices, 4, hidden_size=8, seq_len=5, iterations=12, seed=3)
    assert first == second
