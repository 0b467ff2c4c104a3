"""A character-level LSTM trained with Adam, written the way the seed blog post writes it.

"Deriving LSTM Gradient for Backpropagation" (Agustinus Kristiadi, 2016) trains an LSTM
on characters one step at a time and one gate at a time, in plain NumPy. This module is
that program, and it is a baseline: the hand-written code the project's generated
forward/backward passes are benchmarked and cross-checked against. It is not the product.

Parameters use derive's layout (as in seed_style.py): W_f, W_i, W_c, W_o are H x (H + V)
and act on X = [h(t-1), x] as X @ W.T; b_f, b_i, b_c, b_o have shape (H,); the output layer
is W_y (V x H) with b_y (V,). Rows are examples: one sequence, batch of one, so every
vector is a (1, n) row.
"""
import numpy as np

GATES = ("f", "i", "c", "o")
CLIP = 5.0


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(logits):
    e = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def init_params(vocab_size, hidden_size, rng):
    """Gate weights ~ N(0, 1 / (H + V)), output weights ~ N(0, 1 / H), zero biases."""
    V, H = vocab_size, hidden_size
    params = {}
    for k in GATES:
        params[f"W_{k}"] = rng.standard_normal((H, H + V)) / np.sqrt(H + V)
        params[f"b_{k}"] = np.zeros(H)
    params["W_y"] = rng.standard_normal((V, H)) / np.sqrt(H)
    params["b_y"] = np.zeros(V)
    return params


def one_hot(index, vocab_size):
    x = np.zeros((1, vocab_size))
    x[0, index] = 1.0
    return x


def lstm_forward(params, x, h_old, c_old):
    """One step: x (1, V), h_old and c_old (1, H); returns (prob (1, V), h, c, cache)."""
    X = np.column_stack((h_old, x))

    hf = sigmoid(X @ params["W_f"].T + params["b_f"])
    hi = sigmoid(X @ params["W_i"].T + params["b_i"])
    hc = np.tanh(X @ params["W_c"].T + params["b_c"])
    ho = sigmoid(X @ params["W_o"].T + params["b_o"])

    c = hf * c_old + hi * hc
    h = ho * np.tanh(c)

    logits = h @ params["W_y"].T + params["b_y"]
    prob = softmax(logits)

    cache = (X, hf, hi, hc, ho, c, c_old, h, logits)
    return prob, h, c, cache


def cross_entropy(logits, target):
    """-log softmax(logits)[target], as log-sum-exp minus the target's shifted logit."""
    shifted = logits - np.max(logits)
    return float(np.log(np.exp(shifted).sum()) - shifted[0, target])


def lstm_backward(params, prob, target, dh_next, dc_next, cache, grads):
    """One step back, gate by gate; adds into grads and returns (dh_next, dc_next)."""
    X, hf, hi, hc, ho, c, c_old, h, _ = cache
    H = h.shape[1]

    # Softmax and cross-entropy together.
    dy = prob.copy()
    dy[0, target] -= 1.0

    grads["W_y"] += dy.T @ h
    grads["b_y"] += dy.sum(axis=0)

    # The hidden state feeds the output layer and the next step.
    dh = dy @ params["W_y"] + dh_next

    # Output gate.
    dho = np.tanh(c) * dh
    dho = ho * (1 - ho) * dho

    # Cell state: through h = o * tanh(c), and from the next step.
    dc = ho * dh * (1 - np.tanh(c) ** 2) + dc_next

    # Forget gate.
    dhf = c_old * dc
    dhf = hf * (1 - hf) * dhf

    # Input gate.
    dhi = hc * dc
    dhi = hi * (1 - hi) * dhi

    # Candidate cell.
    dhc = hi * dc
    dhc = (1 - hc ** 2) * dhc

    grads["W_f"] += dhf.T @ X
    grads["W_i"] += dhi.T @ X
    grads["W_c"] += dhc.T @ X
    grads["W_o"] += dho.T @ X
    grads["b_f"] += dhf.sum(axis=0)
    grads["b_i"] += dhi.sum(axis=0)
    grads["b_c"] += dhc.sum(axis=0)
    grads["b_o"] += dho.sum(axis=0)

    dX = dhf @ params["W_f"] + dhi @ params["W_i"] + dhc @ params["W_c"] + dho @ params["W_o"]
    dh_next = dX[:, :H]
    dc_next = hf * dc
    return dh_next, dc_next


def bptt(params, inputs, targets, h, c):
    """Forward through the chunk, then back through time.

    Returns (mean_loss, grads, h, c, dh0, dc0): grads are those of the SUM of the per-character
    losses, h and c the state after the chunk, dh0 and dc0 the gradients of that sum with respect
    to the state carried in (the test suite checks them; truncated BPTT drops them).
    """
    if len(inputs) != len(targets) or not inputs:
        raise ValueError("inputs and targets must be non-empty and of the same length")
    V = params["W_y"].shape[0]

    loss = 0.0
    probs, caches = [], []
    for index, target in zip(inputs, targets):
        prob, h, c, cache = lstm_forward(params, one_hot(index, V), h, c)
        loss += cross_entropy(cache[-1], target)
        probs.append(prob)
        caches.append(cache)
    loss /= len(inputs)

    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dh_next = np.zeros_like(h)
    dc_next = np.zeros_like(c)
    for t in reversed(range(len(inputs))):
        dh_next, dc_next = lstm_backward(params, probs[t], targets[t], dh_next, dc_next, caches[t], grads)

    return loss, grads, h, c, dh_next, dc_next


def train_step(params, inputs, targets, h, c):
    """One chunk of truncated BPTT; returns (mean_loss, grads of the summed loss, h, c)."""
    loss, grads, h, c, _, _ = bptt(params, inputs, targets, h, c)
    return loss, grads, h, c


def adam_state(params):
    """Zero first (M) and second (R) moments for every parameter."""
    return {
        "M": {name: np.zeros_like(value) for name, value in params.items()},
        "R": {name: np.zeros_like(value) for name, value in params.items()},
    }


def adam_update(params, grads, state, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam update in place on params (and state); step is the 1-based update count.

    Each gradient is clipped element-wise to [-5, 5] first (into a copy: grads is left alone).
    """
    if step < 1:
        raise ValueError("step is the 1-based update count")
    M, R = state["M"], state["R"]
    for name in params:
        g = np.clip(grads[name], -CLIP, CLIP)
        M[name] = beta1 * M[name] + (1 - beta1) * g
        R[name] = beta2 * R[name] + (1 - beta2) * g ** 2
        m_hat = M[name] / (1 - beta1 ** step)
        r_hat = R[name] / (1 - beta2 ** step)
        params[name] -= lr * m_hat / (np.sqrt(r_hat) + eps)


def train(text_indices, vocab_size, hidden_size=128, seq_len=10, iterations=1000, seed=0):
    """Train on the text in consecutive chunks; returns the mean loss of each iteration.

    The state (h, c) is carried from chunk to chunk; when the text cannot supply another full
    chunk (inputs and their next characters), the walk wraps to the start and the state resets
    to zero.
    """
    data = [int(i) for i in text_indices]
    if len(data) < seq_len + 1:
        raise ValueError("the text must be longer than seq_len")
    rng = np.random.default_rng(seed)
    params = init_params(vocab_size, hidden_size, rng)
    state = adam_state(params)

    h = np.zeros((1, hidden_size))
    c = np.zeros((1, hidden_size))
    p = 0
    losses = []
    for step in range(1, iterations + 1):
        if p + seq_len + 1 > len(data):
            p = 0
            h = np.zeros((1, hidden_size))
            c = np.zeros((1, hidden_size))
        inputs = data[p:p + seq_len]
        targets = data[p + 1:p + seq_len + 1]
        loss, grads, h, c = train_step(params, inputs, targets, h, c)
        adam_update(params, grads, state, step)
        losses.append(loss)
        p += seq_len
    return losses
