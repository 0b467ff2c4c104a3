"""Hand-written reference implementations of the two seed LSTM cells and of
published cells, for the tests.

These are written by hand, directly from the cell equations (in
``derive/cells/nico.toml`` and ``derive/cells/lstm.toml`` for the seeds, and from
the papers' equations for the published cells), and are completely independent
of the ``derive`` code generator (nothing here imports from or was derived from
``derive``).  Each seed cell follows the style of the seed author it comes from,
so that the generated code can be compared against the way the backward pass
was originally worked out by hand:

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

* ``published_sequence(name, ...)`` -- ``indrnn``, ``janet``, ``mingru``,
  ``minlstm``, ``ugrnn`` and ``ligru``, each a forward step and a backward step
  per example in the row-vector style of the lstm reference, with one carried
  state h (see the section at the end for the equations and their sources).

* ``lstmp_sequence``, ``sru_sequence``, ``mlstm_sequence`` and
  ``zoneout_lstm_sequence`` -- four cells with states h and c (LSTMP, SRU, the
  multiplicative LSTM and the LSTM with zoneout), in the same row-vector style,
  each backward step worked out by hand from the equations (see their section).

Sequence conventions shared by the ``*_sequence`` functions: ``xs`` is
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


# ---------------------------------------------------------------------------
# Six published cells with one state h, written from the papers' equations:
# per example, row vectors (1, n) as in the lstm reference above, a forward
# step that returns its cache and a backward step whose local derivatives
# are worked out by hand in the comments.  Weights are (H, D) or (H, H), so
# a row vector x multiplies W as x @ W.T and sends back d @ W.
#
#   indrnn   Li et al. (2018), eq. 2:  h = relu(W x + u * h_prev + b)
#   janet    van der Westhuizen & Lasenby (2018), with beta = 1:
#            s = U_f h_prev + W_f x + b_f,  c~ = tanh(U_c h_prev + W_c x + b_c),
#            c = sigmoid(s) * c_prev + (1 - sigmoid(s - beta)) * c~,  h = c
#   mingru   Feng et al. (2024), sequential:  z = sigmoid(W_z x + b_z),
#            h~ = W_h x + b_h,  h = (1 - z) * h_prev + z * h~
#   minlstm  Feng et al. (2024), sequential:  f = sigmoid(W_f x + b_f),
#            i = sigmoid(W_i x + b_i),  f' = f / (f + i),  i' = i / (f + i),
#            h~ = W_h x + b_h,  h = f' * h_prev + i' * h~
#   ugrnn    Collins et al. (2017):  c = tanh(W_cx x + W_ch h_prev + b_c),
#            g = sigmoid(W_gx x + W_gh h_prev + b_g),  h = g * h_prev + (1 - g) * c
#   leaky_rnn  Lukosevicius (2012), eqs. 2-3, the leaking rate alpha one learned number:
#            h~ = tanh(W_in x + W h_prev + b),  h = (1 - alpha) h_prev + alpha h~
#   ligru    Ravanelli et al. (2018), no batch norm:
#            z = sigmoid(W_z x + U_z h_prev + b_z),
#            h~ = relu(W_h x + U_h h_prev + b_h),  h = z * h_prev + (1 - z) * h~
# ---------------------------------------------------------------------------

JANET_BETA = 1.0

# Parameter shapes as the papers give them, in terms of D (input) and H (hidden).
PUBLISHED_SHAPES = {
    "indrnn": {"W": ("H", "D"), "u": ("H",), "b": ("H",)},
    "janet": {"U_f": ("H", "H"), "W_f": ("H", "D"), "b_f": ("H",),
              "U_c": ("H", "H"), "W_c": ("H", "D"), "b_c": ("H",)},
    "mingru": {"W_z": ("H", "D"), "b_z": ("H",), "W_h": ("H", "D"), "b_h": ("H",)},
    "minlstm": {"W_f": ("H", "D"), "b_f": ("H",), "W_i": ("H", "D"), "b_i": ("H",),
                "W_h": ("H", "D"), "b_h": ("H",)},
    "ugrnn": {"W_cx": ("H", "D"), "W_ch": ("H", "H"), "b_c": ("H",),
              "W_gx": ("H", "D"), "W_gh": ("H", "H"), "b_g": ("H",)},
    "leaky_rnn": {"W_in": ("H", "D"), "W": ("H", "H"), "b": ("H",), "alpha": ("1",)},
    "ligru": {"W_z": ("H", "D"), "U_z": ("H", "H"), "b_z": ("H",),
              "W_h": ("H", "D"), "U_h": ("H", "H"), "b_h": ("H",)},
}


def indrnn_forward(x, h_prev, p):
    a = x @ p["W"].T + p["u"] * h_prev + p["b"]
    h = np.maximum(a, 0.0)
    return h, (x, h_prev, a)


def indrnn_backward(dh, cache, p, grad):
    x, h_prev, a = cache
    da = dh * (a > 0)              # relu'(a) is 1 where a > 0, else 0
    grad["W"] += da.T @ x
    grad["u"] += (da * h_prev)[0]  # d(u * h_prev)/du = h_prev, element by element
    grad["b"] += da[0]
    dx = da @ p["W"]
    dh_prev = da * p["u"]          # each unit sees only its own past
    return dh_prev, dx


def janet_forward(x, h_prev, p):
    c_prev = h_prev                # h(t) = c(t), so c(t-1) is h(t-1)
    s = h_prev @ p["U_f"].T + x @ p["W_f"].T + p["b_f"]
    c_tilde = np.tanh(h_prev @ p["U_c"].T + x @ p["W_c"].T + p["b_c"])
    forget = sigmoid(s)
    shifted = sigmoid(s - JANET_BETA)
    c = forget * c_prev + (1.0 - shifted) * c_tilde
    h = c
    return h, (x, h_prev, c_prev, c_tilde, forget, shifted)


def janet_backward(dh, cache, p, grad):
    x, h_prev, c_prev, c_tilde, forget, shifted = cache
    dc = dh                                        # h = c
    # c = sigma(s) c_prev + (1 - sigma(s - beta)) c~: s reaches c by two routes
    ds = dc * c_prev * sigmoid_derivative(forget) - dc * c_tilde * sigmoid_derivative(shifted)
    dc_tilde_pre = dc * (1.0 - shifted) * tanh_derivative(c_tilde)
    grad["U_f"] += ds.T @ h_prev
    grad["W_f"] += ds.T @ x
    grad["b_f"] += ds[0]
    grad["U_c"] += dc_tilde_pre.T @ h_prev
    grad["W_c"] += dc_tilde_pre.T @ x
    grad["b_c"] += dc_tilde_pre[0]
    dx = ds @ p["W_f"] + dc_tilde_pre @ p["W_c"]
    # h_prev is c_prev in the cell equation and h_prev in both products
    dh_prev = dc * forget + ds @ p["U_f"] + dc_tilde_pre @ p["U_c"]
    return dh_prev, dx


def mingru_forward(x, h_prev, p):
    z = sigmoid(x @ p["W_z"].T + p["b_z"])
    h_tilde = x @ p["W_h"].T + p["b_h"]
    h = (1.0 - z) * h_prev + z * h_tilde
    return h, (x, h_prev, z, h_tilde)


def mingru_backward(dh, cache, p, grad):
    x, h_prev, z, h_tilde = cache
    dz_pre = dh * (h_tilde - h_prev) * sigmoid_derivative(z)   # dh/dz = h~ - h_prev
    dh_tilde = dh * z
    grad["W_z"] += dz_pre.T @ x
    grad["b_z"] += dz_pre[0]
    grad["W_h"] += dh_tilde.T @ x
    grad["b_h"] += dh_tilde[0]
    dx = dz_pre @ p["W_z"] + dh_tilde @ p["W_h"]
    dh_prev = dh * (1.0 - z)       # nothing else reads h_prev
    return dh_prev, dx


def minlstm_forward(x, h_prev, p):
    f = sigmoid(x @ p["W_f"].T + p["b_f"])
    i = sigmoid(x @ p["W_i"].T + p["b_i"])
    total = f + i
    f_prime = f / total
    i_prime = i / total
    h_tilde = x @ p["W_h"].T + p["b_h"]
    h = f_prime * h_prev + i_prime * h_tilde
    return h, (x, h_prev, f, i, total, f_prime, i_prime, h_tilde)


def minlstm_backward(dh, cache, p, grad):
    x, h_prev, f, i, total, f_prime, i_prime, h_tilde = cache
    df_prime = dh * h_prev
    di_prime = dh * h_tilde
    dh_tilde = dh * i_prime
    # f' = f/(f+i): df'/df = i/(f+i)^2, df'/di = -f/(f+i)^2; i' = i/(f+i) the other way round
    df = (df_prime - di_prime) * i / total ** 2
    di = (di_prime - df_prime) * f / total ** 2
    df_pre = df * sigmoid_derivative(f)
    di_pre = di * sigmoid_derivative(i)
    grad["W_f"] += df_pre.T @ x
    grad["b_f"] += df_pre[0]
    grad["W_i"] += di_pre.T @ x
    grad["b_i"] += di_pre[0]
    grad["W_h"] += dh_tilde.T @ x
    grad["b_h"] += dh_tilde[0]
    dx = df_pre @ p["W_f"] + di_pre @ p["W_i"] + dh_tilde @ p["W_h"]
    dh_prev = dh * f_prime
    return dh_prev, dx


def ugrnn_forward(x, h_prev, p):
    c = np.tanh(x @ p["W_cx"].T + h_prev @ p["W_ch"].T + p["b_c"])
    g = sigmoid(x @ p["W_gx"].T + h_prev @ p["W_gh"].T + p["b_g"])
    h = g * h_prev + (1.0 - g) * c
    return h, (x, h_prev, c, g)


def ugrnn_backward(dh, cache, p, grad):
    x, h_prev, c, g = cache
    dc_pre = dh * (1.0 - g) * tanh_derivative(c)
    dg_pre = dh * (h_prev - c) * sigmoid_derivative(g)        # dh/dg = h_prev - c
    grad["W_cx"] += dc_pre.T @ x
    grad["W_ch"] += dc_pre.T @ h_prev
    grad["b_c"] += dc_pre[0]
    grad["W_gx"] += dg_pre.T @ x
    grad["W_gh"] += dg_pre.T @ h_prev
    grad["b_g"] += dg_pre[0]
    dx = dc_pre @ p["W_cx"] + dg_pre @ p["W_gx"]
    dh_prev = dh * g + dc_pre @ p["W_ch"] + dg_pre @ p["W_gh"]
    return dh_prev, dx


def ligru_forward(x, h_prev, p):
    z = sigmoid(x @ p["W_z"].T + h_prev @ p["U_z"].T + p["b_z"])
    a = x @ p["W_h"].T + h_prev @ p["U_h"].T + p["b_h"]
    h_tilde = np.maximum(a, 0.0)
    h = z * h_prev + (1.0 - z) * h_tilde
    return h, (x, h_prev, z, a, h_tilde)


def ligru_backward(dh, cache, p, grad):
    x, h_prev, z, a, h_tilde = cache
    dz_pre = dh * (h_prev - h_tilde) * sigmoid_derivative(z)  # dh/dz = h_prev - h~
    da = dh * (1.0 - z) * (a > 0)                             # relu'(a)
    grad["W_z"] += dz_pre.T @ x
    grad["U_z"] += dz_pre.T @ h_prev
    grad["b_z"] += dz_pre[0]
    grad["W_h"] += da.T @ x
    grad["U_h"] += da.T @ h_prev
    grad["b_h"] += da[0]
    dx = dz_pre @ p["W_z"] + da @ p["W_h"]
    dh_prev = dh * z + dz_pre @ p["U_z"] + da @ p["U_h"]
    return dh_prev, dx


def leaky_rnn_forward(x, h_prev, p):
    h_tilde = np.tanh(x @ p["W_in"].T + h_prev @ p["W"].T + p["b"])
    h = (1.0 - p["alpha"]) * h_prev + p["alpha"] * h_tilde
    return h, (x, h_prev, h_tilde)


def leaky_rnn_backward(dh, cache, p, grad):
    x, h_prev, h_tilde = cache
    grad["alpha"] += np.sum(dh * (h_tilde - h_prev))   # dh/dalpha = h~ - h_prev, one number for every unit
    da = dh * p["alpha"] * tanh_derivative(h_tilde)     # through h~ = tanh(a)
    grad["W_in"] += da.T @ x
    grad["W"] += da.T @ h_prev
    grad["b"] += da[0]
    dx = da @ p["W_in"]
    dh_prev = dh * (1.0 - p["alpha"]) + da @ p["W"]
    return dh_prev, dx


PUBLISHED_STEPS = {
    "indrnn": (indrnn_forward, indrnn_backward),
    "janet": (janet_forward, janet_backward),
    "mingru": (mingru_forward, mingru_backward),
    "minlstm": (minlstm_forward, minlstm_backward),
    "ugrnn": (ugrnn_forward, ugrnn_backward),
    "ligru": (ligru_forward, ligru_backward),
    "leaky_rnn": (leaky_rnn_forward, leaky_rnn_backward),
}


def published_sequence(name, params, xs, h0, d_hs, d_h_last=None):
    """Forward and backward of one of PUBLISHED_STEPS over a batch of sequences.

    params: dict with the keys and shapes of PUBLISHED_SHAPES[name]; xs (T, B, D);
    h0 (B, H); d_hs (T, B, H) is dL/dh(t) from the loss at each step; d_h_last (B, H)
    an extra adjoint on h(T-1) (default zero).

    Returns dict: hs (T, B, H); grads (same keys/shapes as params); dxs (T, B, D); d_h0 (B, H).
    """
    forward, backward = PUBLISHED_STEPS[name]
    model = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    xs = np.asarray(xs, dtype=np.float64)
    h0 = np.asarray(h0, dtype=np.float64)
    d_hs = np.asarray(d_hs, dtype=np.float64)
    T, B, D = xs.shape
    H = h0.shape[1]
    d_h_last = np.zeros((B, H)) if d_h_last is None else np.asarray(d_h_last, dtype=np.float64)

    grad = {k: np.zeros_like(v) for k, v in model.items()}
    hs = np.zeros((T, B, H))
    dxs = np.zeros((T, B, D))
    d_h0 = np.zeros((B, H))
    for b in range(B):
        h = h0[b:b + 1]
        caches = []
        for t in range(T):
            h, cache = forward(xs[t, b:b + 1], h, model)
            hs[t, b] = h[0]
            caches.append(cache)
        dh_next = d_h_last[b:b + 1]
        for t in reversed(range(T)):
            # dL/dh(t) in total: the loss at t plus what step t+1 sent back
            dh_next, dx = backward(d_hs[t, b:b + 1] + dh_next, caches[t], model, grad)
            dxs[t, b] = dx[0]
        d_h0[b] = dh_next[0]
    return {"hs": hs, "grads": grad, "dxs": dxs, "d_h0": d_h0}


# ---------------------------------------------------------------------------
# layernorm_lstm: Ba, Kiros & Hinton (2016), Layer Normalization, eqs. 20-22,
# with LN as torch.nn.functional.layer_norm computes it (biased variance, eps):
#   (f, i, o, g) = LN(W_h h_prev; alpha_h, beta_h) + LN(W_x x; alpha_x, beta_x) + b
#   c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g)
#   h = sigmoid(o) * tanh(LN(c; alpha_c, beta_c))
# LN(z; alpha, beta) = alpha * (z - mean(z)) / sqrt(mean((z - mean(z))^2) + eps) + beta,
# over the units of z. Per example, row vectors (1, n).
# ---------------------------------------------------------------------------

LAYERNORM_EPS = 1e-5
LAYERNORM_SHAPES = {"W_h": ("4H", "H"), "W_x": ("4H", "D"), "b": ("4H",), "alpha_h": ("4H",), "beta_h": ("4H",),
                    "alpha_x": ("4H",), "beta_x": ("4H",), "alpha_c": ("H",), "beta_c": ("H",)}


def layer_norm(z, alpha, beta):
    """LN(z) and what its backward step needs: the normalised z and 1 / sqrt(var + eps)."""
    centred = z - z.mean()
    inverse = 1.0 / np.sqrt(np.mean(centred ** 2) + LAYERNORM_EPS)
    normalised = centred * inverse
    return alpha * normalised + beta, (normalised, inverse)


def layer_norm_backward(d_out, cache, alpha):
    """dL/dz from dL/dLN(z), and dL/dalpha, dL/dbeta.

    With y = (z - mu) r, r = (var + eps)^(-1/2) and dy = alpha * d_out:
    dz_j = r (dy_j - mean(dy) - y_j mean(dy * y)), the classic form (the mean and the variance
    each send back one number per example, spread over the units)."""
    normalised, inverse = cache
    dy = alpha * d_out
    dz = inverse * (dy - dy.mean() - normalised * np.mean(dy * normalised))
    return dz, d_out * normalised, d_out


def layernorm_lstm_forward(x, h_prev, c_prev, p):
    ln_h, cache_h = layer_norm(h_prev @ p["W_h"].T, p["alpha_h"], p["beta_h"])
    ln_x, cache_x = layer_norm(x @ p["W_x"].T, p["alpha_x"], p["beta_x"])
    a = ln_h + ln_x + p["b"]
    f_pre, i_pre, o_pre, g_pre = np.split(a, 4, axis=1)
    f, i, o, g = sigmoid(f_pre), sigmoid(i_pre), sigmoid(o_pre), np.tanh(g_pre)
    c = f * c_prev + i * g
    ln_c, cache_c = layer_norm(c, p["alpha_c"], p["beta_c"])
    tanh_c = np.tanh(ln_c)
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, cache_h, cache_x, f, i, o, g, cache_c, tanh_c)


def layernorm_lstm_backward(dh, dc_next, cache, p, grad):
    """dh: dL/dh(t) in total; dc_next: dL/dc(t) from step t+1. Returns (dh_prev, dc_prev, dx)."""
    x, h_prev, c_prev, cache_h, cache_x, f, i, o, g, cache_c, tanh_c = cache
    do = dh * tanh_c
    d_ln_c = dh * o * tanh_derivative(tanh_c)
    dc_ln, d_alpha_c, d_beta_c = layer_norm_backward(d_ln_c, cache_c, p["alpha_c"])
    grad["alpha_c"] += d_alpha_c[0]
    grad["beta_c"] += d_beta_c[0]
    dc = dc_next + dc_ln
    df, di, dg = dc * c_prev, dc * g, dc * i
    da = np.concatenate((df * sigmoid_derivative(f), di * sigmoid_derivative(i),
                         do * sigmoid_derivative(o), dg * tanh_derivative(g)), axis=1)
    grad["b"] += da[0]
    dz_h, d_alpha_h, d_beta_h = layer_norm_backward(da, cache_h, p["alpha_h"])
    dz_x, d_alpha_x, d_beta_x = layer_norm_backward(da, cache_x, p["alpha_x"])
    grad["alpha_h"] += d_alpha_h[0]
    grad["beta_h"] += d_beta_h[0]
    grad["alpha_x"] += d_alpha_x[0]
    grad["beta_x"] += d_beta_x[0]
    grad["W_h"] += dz_h.T @ h_prev
    grad["W_x"] += dz_x.T @ x
    return dz_h @ p["W_h"], dc * f, dz_x @ p["W_x"]


def layernorm_lstm_sequence(params, xs, h0, c0, d_hs, d_h_last=None, d_c_last=None):
    """Forward and backward over a batch of sequences, one example at a time.

    Returns dict: hs, cs (T, B, H); grads; dxs (T, B, D); d_h0, d_c0 (B, H)."""
    model = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    T, B, D = xs.shape
    H = h0.shape[1]
    d_h_last = np.zeros((B, H)) if d_h_last is None else d_h_last
    d_c_last = np.zeros((B, H)) if d_c_last is None else d_c_last
    grad = {k: np.zeros_like(v) for k, v in model.items()}
    hs, cs, dxs = np.zeros((T, B, H)), np.zeros((T, B, H)), np.zeros((T, B, D))
    d_h0, d_c0 = np.zeros((B, H)), np.zeros((B, H))
    for b in range(B):
        h, c, caches = h0[b:b + 1], c0[b:b + 1], []
        for t in range(T):
            h, c, cache = layernorm_lstm_forward(xs[t, b:b + 1], h, c, model)
            hs[t, b], cs[t, b] = h[0], c[0]
            caches.append(cache)
        dh_next, dc_next = d_h_last[b:b + 1], d_c_last[b:b + 1]
        for t in reversed(range(T)):
            dh_next, dc_next, dx = layernorm_lstm_backward(d_hs[t, b:b + 1] + dh_next, dc_next, caches[t], model, grad)
            dxs[t, b] = dx[0]
        d_h0[b], d_c0[b] = dh_next[0], dc_next[0]
    return {"hs": hs, "cs": cs, "grads": grad, "dxs": dxs, "d_h0": d_h0, "d_c0": d_c0}


# ---------------------------------------------------------------------------
# Four cells with two states h and c, written from their papers' equations (the same as in
# derive/cells/lstmp.toml, sru.toml, mlstm.toml and zoneout_lstm.toml), per example, row
# vectors (1, n) as in the lstm reference: each a forward step that returns its cache and a
# backward step, worked out by hand, that takes dL/dh(t) in total and dL/dc(t) from step t+1
# and returns dL/dh(t-1), dL/dc(t-1) (both as far as they come through step t) and the inputs'
# adjoints.
#
#   lstmp   Sak, Senior & Beaufays (2014), as torch.nn.LSTM(proj_size=P): X = [h_prev, x]
#           (h_prev has P entries), f, i, o = sigmoid(W_* X + b_*), c~ = tanh(W_c X + b_c),
#           c = f * c_prev + i * c~ (H entries),  h = W_p (o * tanh(c)) (P entries)
#   sru     Lei et al. (2018), eqs. 1-4 (D = H):
#           f = sigmoid(W_f x + v_f * c_prev + b_f),  c = f * c_prev + (1 - f) * (W x),
#           r = sigmoid(W_r x + v_r * c_prev + b_r),  h = r * c + (1 - r) * x
#           (h_prev is a state that no equation reads: its adjoint is zero)
#   mlstm   Krause et al. (2016), eqs. 18-22 with biases: m = (W_mx x) * (W_mh h_prev) (M entries),
#           u = W_hx x + W_hm m + b_h,  i, o, f = sigmoid(W_*x x + W_*m m + b_*),
#           c = f * c_prev + i * u,  h = tanh(c * o)
#   zoneout_lstm  Krueger et al. (2016), section 3: the lstm's gates over X = [h_prev, x] with
#           candidate g, c_new = f * c_prev + i * g,  c = z_c * c_prev + (1 - z_c) * c_new,
#           h = z_h * h_prev + (1 - z_h) * (o * tanh(c_new)); the masks z_c, z_h (H entries each)
#           are inputs, and their adjoints are returned like dx.
# ---------------------------------------------------------------------------

# Parameter shapes from the specs, in terms of D, H and the declared sizes P and M.
TWO_STATE_SHAPES = {
    "lstmp": {"W_f": ("H", "P+D"), "W_i": ("H", "P+D"), "W_c": ("H", "P+D"), "W_o": ("H", "P+D"),
              "b_f": ("H",), "b_i": ("H",), "b_c": ("H",), "b_o": ("H",), "W_p": ("P", "H")},
    "sru": {"W": ("H", "H"), "W_f": ("H", "H"), "W_r": ("H", "H"), "v_f": ("H",), "v_r": ("H",),
            "b_f": ("H",), "b_r": ("H",)},
    "mlstm": {"W_mx": ("M", "D"), "W_mh": ("M", "H"), "W_hx": ("H", "D"), "W_hm": ("H", "M"),
              "W_ix": ("H", "D"), "W_im": ("H", "M"), "W_ox": ("H", "D"), "W_om": ("H", "M"),
              "W_fx": ("H", "D"), "W_fm": ("H", "M"), "b_h": ("H",), "b_i": ("H",), "b_o": ("H",),
              "b_f": ("H",)},
    "zoneout_lstm": {"W_f": ("H", "H+D"), "W_i": ("H", "H+D"), "W_g": ("H", "H+D"), "W_o": ("H", "H+D"),
                     "b_f": ("H",), "b_i": ("H",), "b_g": ("H",), "b_o": ("H",)},
}


def lstmp_forward(x, h_prev, c_prev, p):
    X = np.column_stack((h_prev, x))             # X = [h(t-1), x]: P + D entries
    f = sigmoid(X @ p["W_f"].T + p["b_f"])
    i = sigmoid(X @ p["W_i"].T + p["b_i"])
    c_tilde = np.tanh(X @ p["W_c"].T + p["b_c"])
    o = sigmoid(X @ p["W_o"].T + p["b_o"])
    c = f * c_prev + i * c_tilde
    tanh_c = np.tanh(c)
    m = o * tanh_c                               # the H-unit LSTM output before the projection
    h = m @ p["W_p"].T                           # h = W_p m: P entries
    return h, c, (X, c_prev, f, i, c_tilde, o, tanh_c, m)


def lstmp_backward(dh, dc_next, cache, p, grad):
    """dh (1, P): dL/dh(t) in total; dc_next (1, H): dL/dc(t) from step t+1.
    Returns (dh_prev (1, P), dc_prev (1, H), dx (1, D))."""
    X, c_prev, f, i, c_tilde, o, tanh_c, m = cache
    P = p["W_p"].shape[0]
    # h = W_p m: dL/dW_p = dh^T m, dL/dm = dh W_p
    grad["W_p"] += dh.T @ m
    dm = dh @ p["W_p"]
    # m = o * tanh(c): to o, and to c through tanh' = 1 - tanh^2, plus dL/dc(t) from t+1
    do = dm * tanh_c
    dc = dc_next + dm * o * tanh_derivative(tanh_c)
    # c = f * c_prev + i * c~
    df, di, dc_tilde = dc * c_prev, dc * c_tilde, dc * i
    # through the non-linearities: deltas on the pre-activations
    da_f = df * sigmoid_derivative(f)
    da_i = di * sigmoid_derivative(i)
    da_c = dc_tilde * tanh_derivative(c_tilde)
    da_o = do * sigmoid_derivative(o)
    dX = np.zeros_like(X)
    for gate, delta in (("f", da_f), ("i", da_i), ("c", da_c), ("o", da_o)):
        grad["W_" + gate] += delta.T @ X         # W_k X: dL/dW_k = delta^T X
        grad["b_" + gate] += delta[0]
        dX += delta @ p["W_" + gate]             # and dL/dX = delta W_k
    # X = [h_prev, x]: the first P columns go to h(t-1), the rest to x; c_prev reaches c through f
    return dX[:, :P], dc * f, dX[:, P:]


def sru_forward(x, h_prev, c_prev, p):
    # h_prev is not read: the SRU's recurrence is through c alone
    f = sigmoid(x @ p["W_f"].T + p["v_f"] * c_prev + p["b_f"])
    wx = x @ p["W"].T
    c = f * c_prev + (1.0 - f) * wx
    r = sigmoid(x @ p["W_r"].T + p["v_r"] * c_prev + p["b_r"])
    h = r * c + (1.0 - r) * x                    # the highway: x has H entries (D = H)
    return h, c, (x, h_prev, c_prev, f, wx, c, r)


def sru_backward(dh, dc_next, cache, p, grad):
    """dh (1, H): dL/dh(t) in total; dc_next (1, H): dL/dc(t) from step t+1.
    Returns (dh_prev, dc_prev, dx), each (1, H)."""
    x, h_prev, c_prev, f, wx, c, r = cache
    # h = r * c + (1 - r) * x: dh/dr = c - x, dh/dc = r, dh/dx = 1 - r
    da_r = dh * (c - x) * sigmoid_derivative(r)
    dc = dc_next + dh * r
    # c = f * c_prev + (1 - f) * (W x): dc/df = c_prev - W x, dc/d(W x) = 1 - f
    da_f = dc * (c_prev - wx) * sigmoid_derivative(f)
    dwx = dc * (1.0 - f)
    grad["W"] += dwx.T @ x
    grad["W_f"] += da_f.T @ x
    grad["W_r"] += da_r.T @ x
    grad["v_f"] += (da_f * c_prev)[0]            # v_f * c_prev, unit by unit
    grad["v_r"] += (da_r * c_prev)[0]
    grad["b_f"] += da_f[0]
    grad["b_r"] += da_r[0]
    # x reaches h directly (highway) and through W x, W_f x and W_r x
    dx = dh * (1.0 - r) + dwx @ p["W"] + da_f @ p["W_f"] + da_r @ p["W_r"]
    # c_prev reaches c directly (times f) and both gates through v_f, v_r
    dc_prev = dc * f + da_f * p["v_f"] + da_r * p["v_r"]
    return np.zeros_like(h_prev), dc_prev, dx


def mlstm_forward(x, h_prev, c_prev, p):
    mx = x @ p["W_mx"].T
    mh = h_prev @ p["W_mh"].T
    m = mx * mh                                   # m = (W_mx x) * (W_mh h(t-1)): M entries
    u = x @ p["W_hx"].T + m @ p["W_hm"].T + p["b_h"]
    i = sigmoid(x @ p["W_ix"].T + m @ p["W_im"].T + p["b_i"])
    o = sigmoid(x @ p["W_ox"].T + m @ p["W_om"].T + p["b_o"])
    f = sigmoid(x @ p["W_fx"].T + m @ p["W_fm"].T + p["b_f"])
    g = np.tanh(u)                                # the cell input, through tanh as in the authors' code
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = tanh_c * o
    return h, c, (x, h_prev, c_prev, mx, mh, m, g, i, o, f, tanh_c, h)


def mlstm_backward(dh, dc_next, cache, p, grad):
    """dh (1, H): dL/dh(t) in total; dc_next (1, H): dL/dc(t) from step t+1.
    Returns (dh_prev (1, H), dc_prev (1, H), dx (1, D))."""
    x, h_prev, c_prev, mx, mh, m, g, i, o, f, tanh_c, h = cache
    # h = tanh(c) * o
    do = dh * tanh_c
    dc = dc_next + dh * o * tanh_derivative(tanh_c)
    # c = f * c_prev + i * g, g = tanh(u)
    df, di, dg = dc * c_prev, dc * g, dc * i
    du = dg * tanh_derivative(g)
    da_i = di * sigmoid_derivative(i)
    da_o = do * sigmoid_derivative(o)
    da_f = df * sigmoid_derivative(f)
    # u and the three gates are each W_*x x + W_*m m + b_*: the same pattern four times
    dm = np.zeros_like(m)
    dx = np.zeros_like(x)
    for name, delta in (("h", du), ("i", da_i), ("o", da_o), ("f", da_f)):
        grad[f"W_{name}x"] += delta.T @ x
        grad[f"W_{name}m"] += delta.T @ m
        grad[f"b_{name}"] += delta[0]
        dx += delta @ p[f"W_{name}x"]
        dm += delta @ p[f"W_{name}m"]
    # m = mx * mh with mx = W_mx x and mh = W_mh h_prev
    dmx, dmh = dm * mh, dm * mx
    grad["W_mx"] += dmx.T @ x
    grad["W_mh"] += dmh.T @ h_prev
    dx += dmx @ p["W_mx"]
    dh_prev = dmh @ p["W_mh"]                     # h(t-1) is read only through m
    return dh_prev, dc * f, dx


def zoneout_lstm_forward(x, z_c, z_h, h_prev, c_prev, p):
    X = np.column_stack((h_prev, x))             # X = [h(t-1), x]
    f = sigmoid(X @ p["W_f"].T + p["b_f"])
    i = sigmoid(X @ p["W_i"].T + p["b_i"])
    g = np.tanh(X @ p["W_g"].T + p["b_g"])
    o = sigmoid(X @ p["W_o"].T + p["b_o"])
    c_new = f * c_prev + i * g
    tanh_c_new = np.tanh(c_new)
    c = z_c * c_prev + (1.0 - z_c) * c_new       # keep c(t-1) where z_c is 1
    h_new = o * tanh_c_new                       # h from the new c, before zoneout
    h = z_h * h_prev + (1.0 - z_h) * h_new       # keep h(t-1) where z_h is 1
    return h, c, (X, z_c, z_h, h_prev, c_prev, f, i, g, o, c_new, tanh_c_new, h_new)


def zoneout_lstm_backward(dh, dc_next, cache, p, grad):
    """dh (1, H): dL/dh(t) in total; dc_next (1, H): dL/dc(t) from step t+1.
    Returns (dh_prev, dc_prev, dx (1, D), dz_c (1, H), dz_h (1, H))."""
    X, z_c, z_h, h_prev, c_prev, f, i, g, o, c_new, tanh_c_new, h_new = cache
    H = f.shape[1]
    # h = z_h * h_prev + (1 - z_h) * h_new: dh/dz_h = h_prev - h_new
    dz_h = dh * (h_prev - h_new)
    dh_new = dh * (1.0 - z_h)
    # c = z_c * c_prev + (1 - z_c) * c_new: dc/dz_c = c_prev - c_new
    dz_c = dc_next * (c_prev - c_new)
    # h_new = o * tanh(c_new); c_new also reaches c, weighted (1 - z_c)
    do = dh_new * tanh_c_new
    dc_new = dh_new * o * tanh_derivative(tanh_c_new) + dc_next * (1.0 - z_c)
    # c_new = f * c_prev + i * g
    df, di, dg = dc_new * c_prev, dc_new * g, dc_new * i
    da_f = df * sigmoid_derivative(f)
    da_i = di * sigmoid_derivative(i)
    da_g = dg * tanh_derivative(g)
    da_o = do * sigmoid_derivative(o)
    dX = np.zeros_like(X)
    for gate, delta in (("f", da_f), ("i", da_i), ("g", da_g), ("o", da_o)):
        grad["W_" + gate] += delta.T @ X
        grad["b_" + gate] += delta[0]
        dX += delta @ p["W_" + gate]
    # h_prev: through X, and directly where z_h keeps it; c_prev: through c_new (times f), and
    # directly where z_c keeps it
    dh_prev = dX[:, :H] + dh * z_h
    dc_prev = dc_new * f + dc_next * z_c
    return dh_prev, dc_prev, dX[:, H:], dz_c, dz_h


def _two_state_sequence(forward, backward, params, inputs, h0, c0, d_hs, d_h_last, d_c_last):
    """Forward and backward of a cell with states h and c over a batch of sequences, one example
    at a time.  inputs: a tuple of (T, B, n) arrays, passed to forward(*inputs_t, h, c, p) step by
    step; backward(dh, dc_next, cache, p, grad) -> (dh_prev, dc_prev, *d_inputs_t).

    Returns dict: hs (T, B, size of h), cs (T, B, size of c); grads; d_inputs (a tuple like
    inputs); d_h0, d_c0."""
    model = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    inputs = tuple(np.asarray(a, dtype=np.float64) for a in inputs)
    h0 = np.asarray(h0, dtype=np.float64)
    c0 = np.asarray(c0, dtype=np.float64)
    d_hs = np.asarray(d_hs, dtype=np.float64)
    T, B = inputs[0].shape[:2]
    d_h_last = np.zeros_like(h0) if d_h_last is None else np.asarray(d_h_last, dtype=np.float64)
    d_c_last = np.zeros_like(c0) if d_c_last is None else np.asarray(d_c_last, dtype=np.float64)
    grad = {k: np.zeros_like(v) for k, v in model.items()}
    hs = np.zeros((T, B, h0.shape[1]))
    cs = np.zeros((T, B, c0.shape[1]))
    d_inputs = tuple(np.zeros_like(a) for a in inputs)
    d_h0, d_c0 = np.zeros_like(h0), np.zeros_like(c0)
    for b in range(B):
        h, c, caches = h0[b:b + 1], c0[b:b + 1], []
        for t in range(T):
            h, c, cache = forward(*(a[t, b:b + 1] for a in inputs), h, c, model)
            hs[t, b], cs[t, b] = h[0], c[0]
            caches.append(cache)
        dh_next, dc_next = d_h_last[b:b + 1], d_c_last[b:b + 1]
        for t in reversed(range(T)):
            # dL/dh(t) in total: the loss at t plus what step t+1 sent back
            dh_next, dc_next, *d_step = backward(d_hs[t, b:b + 1] + dh_next, dc_next, caches[t], model, grad)
            for d_input, d in zip(d_inputs, d_step):
                d_input[t, b] = d[0]
        d_h0[b], d_c0[b] = dh_next[0], dc_next[0]
    return {"hs": hs, "cs": cs, "grads": grad, "d_inputs": d_inputs, "d_h0": d_h0, "d_c0": d_c0}


def lstmp_sequence(params, xs, h0, c0, d_hs, d_h_last=None, d_c_last=None):
    """lstmp over a batch of sequences.  params: TWO_STATE_SHAPES["lstmp"]; xs (T, B, D);
    h0 (B, P), c0 (B, H); d_hs (T, B, P); d_h_last (B, P), d_c_last (B, H) (default zero).

    Returns dict: hs (T, B, P), cs (T, B, H); grads; dxs (T, B, D); d_h0 (B, P), d_c0 (B, H)."""
    out = _two_state_sequence(lstmp_forward, lstmp_backward, params, (xs,), h0, c0, d_hs, d_h_last, d_c_last)
    (out["dxs"],) = out.pop("d_inputs")
    return out


def sru_sequence(params, xs, h0, c0, d_hs, d_h_last=None, d_c_last=None):
    """sru over a batch of sequences.  params: TWO_STATE_SHAPES["sru"]; xs (T, B, H) (D = H);
    h0, c0 (B, H); d_hs (T, B, H); d_h_last, d_c_last (B, H) (default zero).

    Returns dict: hs, cs (T, B, H); grads; dxs (T, B, H); d_h0 (zero: h(t-1) is not read), d_c0."""
    out = _two_state_sequence(sru_forward, sru_backward, params, (xs,), h0, c0, d_hs, d_h_last, d_c_last)
    (out["dxs"],) = out.pop("d_inputs")
    return out


def mlstm_sequence(params, xs, h0, c0, d_hs, d_h_last=None, d_c_last=None):
    """mlstm over a batch of sequences.  params: TWO_STATE_SHAPES["mlstm"]; xs (T, B, D);
    h0, c0 (B, H); d_hs (T, B, H); d_h_last, d_c_last (B, H) (default zero).

    Returns dict: hs, cs (T, B, H); grads; dxs (T, B, D); d_h0, d_c0 (B, H)."""
    out = _two_state_sequence(mlstm_forward, mlstm_backward, params, (xs,), h0, c0, d_hs, d_h_last, d_c_last)
    (out["dxs"],) = out.pop("d_inputs")
    return out


def zoneout_lstm_sequence(params, xs, z_cs, z_hs, h0, c0, d_hs, d_h_last=None, d_c_last=None):
    """zoneout_lstm over a batch of sequences.  params: TWO_STATE_SHAPES["zoneout_lstm"];
    xs (T, B, D); the masks z_cs, z_hs (T, B, H); h0, c0 (B, H); d_hs (T, B, H);
    d_h_last, d_c_last (B, H) (default zero).

    Returns dict: hs, cs (T, B, H); grads; dxs (T, B, D); d_z_cs, d_z_hs (T, B, H); d_h0, d_c0."""
    out = _two_state_sequence(zoneout_lstm_forward, zoneout_lstm_backward, params, (xs, z_cs, z_hs),
                              h0, c0, d_hs, d_h_last, d_c_last)
    out["dxs"], out["d_z_cs"], out["d_z_hs"] = out.pop("d_inputs")
    return out
