"""Hand-written reference implementations of two LSTM cells, for the tests.

These are written by hand, directly from the cell equations in
``derive/cells/nico.toml`` and ``derive/cells/lstm.toml``, and are completely
independent of the ``derive`` code generator (nothing here imports from or was
derived from ``derive``).  Each one follows the style of the seed author it
comes from, so that the generated code can be compared against the way the
backward pass was originally worked out by hand:

* ``NicoParams`` / ``NicoNode`` / ``nico_sequence`` -- the cell of Nicolas
  Jimenez's "Simple LSTM" post (2014).  One example at a time, with COLUMN
  vectors of shape (n, 1), the concatenated input ``xc = [x; h_prev]`` (x
  first), no tanh on the cell state (``h = s * o``), and the node interface
  ``top_diff_is(top_diff_h, top_diff_s)`` with ``bottom_diff_h``,
  ``bottom_diff_s`` (and here also ``bottom_diff_x``).

* ``lstm_forward`` / ``lstm_backward`` / ``lstm_sequence`` -- the standard LSTM
  as Agustinus Kristiadi derives it in "Deriving LSTM Gradient for
  Backpropagation" (2016).  One example at a time, with ROW vectors of shape
  (1, n), ``X = [h_old, x]`` (h first), ``h = o * tanh(c)``, and a backward
  step that takes and returns ``dh_next`` / ``dc_next``.  Our weight layout is
  W (H, H+D), so the row-vector code computes ``X @ W.T``.

Sequence conventions shared by both ``*_sequence`` functions: ``xs`` is
(T, B, D), initial states are (B, H), ``d_hs`` (T, B, H) is dL/dh(t) coming
from the loss at each step, and the optional ``d_*_last`` (B, H) are extra
adjoints on the final states.  Everything is float64 and deliberately loops
over examples and steps; speed is not a goal, obviousness is.
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_derivative(values):
    # derivative of the sigmoid written in terms of its output
    return values * (1.0 - values)


def tanh_derivative(values):
    # derivative of tanh written in terms of its output
    return 1.0 - values ** 2


# ---------------------------------------------------------------------------
# nico: "Simple LSTM" (Nicolas Jimenez), per sample, column vectors
# ---------------------------------------------------------------------------

NICO_GATES = ("g", "i", "f", "o")


class NicoParams:
    """Weights W_* (H, D+H) and column biases b_* (H, 1) of the nico cell."""

    def __init__(self, W_g, W_i, W_f, W_o, b_g, b_i, b_f, b_o):
        self.W_g = np.array(W_g, dtype=np.float64)
        self.W_i = np.array(W_i, dtype=np.float64)
        self.W_f = np.array(W_f, dtype=np.float64)
        self.W_o = np.array(W_o, dtype=np.float64)
        self.b_g = np.array(b_g, dtype=np.float64).reshape(-1, 1)
        self.b_i = np.array(b_i, dtype=np.float64).reshape(-1, 1)
        self.b_f = np.array(b_f, dtype=np.float64).reshape(-1, 1)
        self.b_o = np.array(b_o, dtype=np.float64).reshape(-1, 1)
        self.H = self.W_g.shape[0]
        self.D = self.W_g.shape[1] - self.H

    @classmethod
    def from_dict(cls, params):
        """From batched-layout arrays: params["W_g"] (H, D+H), params["b_g"] (H,)."""
        return cls(**{name: params[name] for name in
                      ("W_g", "W_i", "W_f", "W_o", "b_g", "b_i", "b_f", "b_o")})

    def zero_grads(self):
        """A fresh gradient holder with the same fields and shapes, all zero."""
        return NicoGrads(self)


class NicoGrads:
    """Accumulated gradients: W_* (H, D+H), b_* (H, 1), like the seed's *_diff."""

    def __init__(self, param):
        for name in ("W_g", "W_i", "W_f", "W_o", "b_g", "b_i", "b_f", "b_o"):
            setattr(self, name, np.zeros_like(getattr(param, name)))

    def to_dict(self):
        """Batched layout: W (H, D+H), b (H,)."""
        out = {}
        for gate in NICO_GATES:
            out["W_" + gate] = getattr(self, "W_" + gate).copy()
            out["b_" + gate] = getattr(self, "b_" + gate).reshape(-1).copy()
        return out


class NicoNode:
    """One time step of the nico cell for one example (column vectors)."""

    def __init__(self, param, grads):
        self.param = param
        self.grads = grads

    def forward(self, x, s_prev, h_prev):
        """x (D, 1), s_prev (H, 1), h_prev (H, 1).  Returns (s, h)."""
        p = self.param
        self.x = np.asarray(x, dtype=np.float64).reshape(-1, 1)
        self.s_prev = np.asarray(s_prev, dtype=np.float64).reshape(-1, 1)
        self.h_prev = np.asarray(h_prev, dtype=np.float64).reshape(-1, 1)

        # concatenate x(t) and h(t-1), x first
        self.xc = np.vstack((self.x, self.h_prev))
        self.g = np.tanh(p.W_g @ self.xc + p.b_g)
        self.i = sigmoid(p.W_i @ self.xc + p.b_i)
        self.f = sigmoid(p.W_f @ self.xc + p.b_f)
        self.o = sigmoid(p.W_o @ self.xc + p.b_o)
        self.s = self.g * self.i + self.s_prev * self.f
        self.h = self.s * self.o
        return self.s, self.h

    def top_diff_is(self, top_diff_h, top_diff_s):
        """Backward through this node.

        top_diff_h: dL/dh(t), total (from the loss at t plus from step t+1).
        top_diff_s: dL/ds(t) arriving from step t+1 only (h = s*o adds the rest).
        Accumulates into self.grads and sets bottom_diff_s / _h / _x.
        """
        top_diff_h = np.asarray(top_diff_h, dtype=np.float64).reshape(-1, 1)
        top_diff_s = np.asarray(top_diff_s, dtype=np.float64).reshape(-1, 1)

        # the state s feeds both h (through o) and the next step
        ds = self.o * top_diff_h + top_diff_s
        do = self.s * top_diff_h
        di = self.g * ds
        dg = self.i * ds
        df = self.s_prev * ds

        # through the non-linearities: deltas on the pre-activations
        di_input = sigmoid_derivative(self.i) * di
        df_input = sigmoid_derivative(self.f) * df
        do_input = sigmoid_derivative(self.o) * do
        dg_input = tanh_derivative(self.g) * dg

        # parameter gradients (outer products with the concatenated input)
        gr = self.grads
        gr.W_i += np.outer(di_input, self.xc)
        gr.W_f += np.outer(df_input, self.xc)
        gr.W_o += np.outer(do_input, self.xc)
        gr.W_g += np.outer(dg_input, self.xc)
        gr.b_i += di_input
        gr.b_f += df_input
        gr.b_o += do_input
        gr.b_g += dg_input

        # gradient with respect to the concatenated input [x; h_prev]
        p = self.param
        dxc = (p.W_i.T @ di_input + p.W_f.T @ df_input
               + p.W_o.T @ do_input + p.W_g.T @ dg_input)

        D = p.D
        self.bottom_diff_s = ds * self.f
        self.bottom_diff_x = dxc[:D]
        self.bottom_diff_h = dxc[D:]


def nico_sequence(params, xs, s0, h0, d_hs, d_s_last=None, d_h_last=None):
    """Forward and backward of the nico cell over a batch of sequences.

    params: dict, W_* (H, D+H), b_* (H,).  xs (T, B, D); s0, h0 (B, H);
    d_hs (T, B, H) is dL/dh(t) from the loss at each step; d_s_last and
    d_h_last (B, H) are extra adjoints on s(T-1) and h(T-1) (default zero).

    Returns dict: hs, ss (T, B, H); grads (same keys/shapes as params);
    dxs (T, B, D); d_s0, d_h0 (B, H).
    """
    param = NicoParams.from_dict(params)
    xs = np.asarray(xs, dtype=np.float64)
    s0 = np.asarray(s0, dtype=np.float64)
    h0 = np.asarray(h0, dtype=np.float64)
    d_hs = np.asarray(d_hs, dtype=np.float64)
    T, B, D = xs.shape
    H = param.H
    if d_s_last is None:
        d_s_last = np.zeros((B, H))
    if d_h_last is None:
        d_h_last = np.zeros((B, H))
    d_s_last = np.asarray(d_s_last, dtype=np.float64)
    d_h_last = np.asarray(d_h_last, dtype=np.float64)

    grads = param.zero_grads()
    hs = np.zeros((T, B, H))
    ss = np.zeros((T, B, H))
    dxs = np.zeros((T, B, D))
    d_s0 = np.zeros((B, H))
    d_h0 = np.zeros((B, H))

    for b in range(B):
        # forward, one node per step
        nodes = []
        s_prev = s0[b].reshape(-1, 1)
        h_prev = h0[b].reshape(-1, 1)
        for t in range(T):
            node = NicoNode(param, grads)
            s_prev, h_prev = node.forward(xs[t, b].reshape(-1, 1), s_prev, h_prev)
            ss[t, b] = s_prev[:, 0]
            hs[t, b] = h_prev[:, 0]
            nodes.append(node)

        # backward, last node first
        diff_h_from_next = d_h_last[b].reshape(-1, 1)
        diff_s_from_next = d_s_last[b].reshape(-1, 1)
        for t in reversed(range(T)):
            top_diff_h = d_hs[t, b].reshape(-1, 1) + diff_h_from_next
            nodes[t].top_diff_is(top_diff_h, diff_s_from_next)
            diff_h_from_next = nodes[t].bottom_diff_h
            diff_s_from_next = nodes[t].bottom_diff_s
            dxs[t, b] = nodes[t].bottom_diff_x[:, 0]
        d_h0[b] = diff_h_from_next[:, 0]
        d_s0[b] = diff_s_from_next[:, 0]

    return {"hs": hs, "ss": ss, "grads": grads.to_dict(),
            "dxs": dxs, "d_s0": d_s0, "d_h0": d_h0}


# ---------------------------------------------------------------------------
# lstm: "Deriving LSTM Gradient for Backpropagation" (Agustinus Kristiadi),
# per sample, row vectors
# ---------------------------------------------------------------------------

LSTM_GATES = ("f", "i", "c", "o")


def lstm_forward(x, state, model):
    """One step for one example.  x (1, D); state = (h_old, c_old), each (1, H).

    model: dict with W_* (H, H+D) and b_* (H,).  Returns (h, c), cache.
    """
    Wf, Wi, Wc, Wo = model["W_f"], model["W_i"], model["W_c"], model["W_o"]
    bf, bi, bc, bo = model["b_f"], model["b_i"], model["b_c"], model["b_o"]
    h_old, c_old = state

    # h first, then x
    X = np.column_stack((h_old, x))

    hf = sigmoid(X @ Wf.T + bf)
    hi = sigmoid(X @ Wi.T + bi)
    hc = np.tanh(X @ Wc.T + bc)
    ho = sigmoid(X @ Wo.T + bo)

    c = hf * c_old + hi * hc
    h = ho * np.tanh(c)

    cache = (X, hf, hi, hc, ho, c, c_old)
    return (h, c), cache


def lstm_backward(dh_from_loss, dnext, cache, model, grad):
    """One backward step for one example (row vectors).

    dh_from_loss (1, H): dL/dh(t) from the loss at this step.
    dnext = (dh_next, dc_next), each (1, H): from step t+1.
    Accumulates parameter gradients into ``grad`` (same layout as model).
    Returns (dh_next, dc_next) for step t-1 and dx (1, D).
    """
    X, hf, hi, hc, ho, c, c_old = cache
    dh_next, dc_next = dnext
    H = hf.shape[1]

    dh = dh_from_loss + dh_next
    tanh_c = np.tanh(c)

    # output gate
    dho = tanh_c * dh
    dho = sigmoid_derivative(ho) * dho

    # cell state: through h = ho * tanh(c), plus what came from t+1
    dc = ho * dh * tanh_derivative(tanh_c)
    dc = dc + dc_next

    # forget gate
    dhf = c_old * dc
    dhf = sigmoid_derivative(hf) * dhf

    # input gate
    dhi = hc * dc
    dhi = sigmoid_derivative(hi) * dhi

    # candidate c~
    dhc = hi * dc
    dhc = tanh_derivative(hc) * dhc

    # parameter gradients: X^T @ delta is (H+D, H); our W is (H, H+D)
    grad["W_f"] += (X.T @ dhf).T
    grad["W_i"] += (X.T @ dhi).T
    grad["W_c"] += (X.T @ dhc).T
    grad["W_o"] += (X.T @ dho).T
    grad["b_f"] += dhf[0]
    grad["b_i"] += dhi[0]
    grad["b_c"] += dhc[0]
    grad["b_o"] += dho[0]

    # gradient with respect to X = [h_old, x]; X @ W.T back-propagates as delta @ W
    dXf = dhf @ model["W_f"]
    dXi = dhi @ model["W_i"]
    dXc = dhc @ model["W_c"]
    dXo = dho @ model["W_o"]
    dX = dXo + dXc + dXi + dXf

    dh_next = dX[:, :H]
    dx = dX[:, H:]
    dc_next = hf * dc

    return (dh_next, dc_next), dx


def lstm_sequence(params, xs, h0, c0, d_hs, d_h_last=None, d_c_last=None):
    """Forward and backward of the lstm cell over a batch of sequences.

    params: dict, W_* (H, H+D), b_* (H,).  xs (T, B, D); h0, c0 (B, H);
    d_hs (T, B, H) is dL/dh(t) from the loss at each step; d_h_last and
    d_c_last (B, H) are extra adjoints on h(T-1) and c(T-1) (default zero).

    Returns dict: hs, cs (T, B, H); grads (same keys/shapes as params);
    dxs (T, B, D); d_h0, d_c0 (B, H).
    """
    model = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    xs = np.asarray(xs, dtype=np.float64)
    h0 = np.asarray(h0, dtype=np.float64)
    c0 = np.asarray(c0, dtype=np.float64)
    d_hs = np.asarray(d_hs, dtype=np.float64)
    T, B, D = xs.shape
    H = model["W_f"].shape[0]
    if d_h_last is None:
        d_h_last = np.zeros((B, H))
    if d_c_last is None:
        d_c_last = np.zeros((B, H))
    d_h_last = np.asarray(d_h_last, dtype=np.float64)
    d_c_last = np.asarray(d_c_last, dtype=np.float64)

    grad = {k: np.zeros_like(v) for k, v in model.items()}
    hs = np.zeros((T, B, H))
    cs = np.zeros((T, B, H))
    dxs = np.zeros((T, B, D))
    d_h0 = np.zeros((B, H))
    d_c0 = np.zeros((B, H))

    for b in range(B):
        state = (h0[b:b + 1], c0[b:b + 1])
        caches = []
        for t in range(T):
            state, cache = lstm_forward(xs[t, b:b + 1], state, model)
            hs[t, b] = state[0][0]
            cs[t, b] = state[1][0]
            caches.append(cache)

        dnext = (d_h_last[b:b + 1], d_c_last[b:b + 1])
        for t in reversed(range(T)):
            dnext, dx = lstm_backward(d_hs[t, b:b + 1], dnext, caches[t], model, grad)
            dxs[t, b] = dx[0]
        d_h0[b] = dnext[0][0]
        d_c0[b] = dnext[1][0]

    return {"hs": hs, "cs": cs, "grads": grad,
            "dxs": dxs, "d_h0": d_h0, "d_c0": d_c0}
