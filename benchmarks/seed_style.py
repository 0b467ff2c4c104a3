"""The standard LSTM as the second seed post writes it: one step at a time, one gate at a time.

The baseline the generated code is measured against. Parameters use derive's layout
(W_k is H x (H + D) over X = [h(t-1); x]); rows are examples.
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward(params, xs, h, c):
    """xs (T, B, D); returns (hs (T, B, H), caches)."""
    Wf, Wi, Wc, Wo = params["W_f"], params["W_i"], params["W_c"], params["W_o"]
    bf, bi, bc, bo = params["b_f"], params["b_i"], params["b_c"], params["b_o"]
    hs, caches = [], []
    for x in xs:
        X = np.column_stack((h, x))
        hf = sigmoid(X @ Wf.T + bf)
        hi = sigmoid(X @ Wi.T + bi)
        ho = sigmoid(X @ Wo.T + bo)
        hc = np.tanh(X @ Wc.T + bc)
        c_old = c
        c = hf * c_old + hi * hc
        h = ho * np.tanh(c)
        hs.append(h)
        caches.append((X, hf, hi, ho, hc, c, c_old))
    return np.stack(hs), caches


def backward(params, caches, d_hs):
    """Backpropagation through time, gate by gate; returns (grads, dxs)."""
    Wf, Wi, Wc, Wo = params["W_f"], params["W_i"], params["W_c"], params["W_o"]
    H = Wf.shape[0]
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dh_next = np.zeros_like(d_hs[0])
    dc_next = np.zeros_like(d_hs[0])
    dxs = []
    for t in reversed(range(len(caches))):
        X, hf, hi, ho, hc, c, c_old = caches[t]
        dh = d_hs[t] + dh_next
        dho = np.tanh(c) * dh
        dho = ho * (1 - ho) * dho
        dc = ho * dh * (1 - np.tanh(c) ** 2) + dc_next
        dhf = c_old * dc
        dhf = hf * (1 - hf) * dhf
        dhi = hc * dc
        dhi = hi * (1 - hi) * dhi
        dhc = hi * dc
        dhc = (1 - hc ** 2) * dhc
        grads["W_f"] += dhf.T @ X
        grads["W_i"] += dhi.T @ X
        grads["W_o"] += dho.T @ X
        grads["W_c"] += dhc.T @ X
        grads["b_f"] += dhf.sum(axis=0)
        grads["b_i"] += dhi.sum(axis=0)
        grads["b_o"] += dho.sum(axis=0)
        grads["b_c"] += dhc.sum(axis=0)
        dX = dhf @ Wf + dhi @ Wi + dho @ Wo + dhc @ Wc
        dh_next = dX[:, :H]
        dc_next = hf * dc
        dxs.append(dX[:, H:])
    return grads, np.stack(dxs[::-1])
