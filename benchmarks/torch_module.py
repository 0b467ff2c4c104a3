"""The generated PyTorch module (NAME_torch.py) against what a user would otherwise run: torch's autograd
through the same cell's forward written in torch (the module's own forward() steps, differentiated by
autograd), and torch.nn.LSTM for lstm (its weights copied). Forward and backward over a whole sequence,
timed interleaved, and the memory kept for the backward: the bytes of every distinct storage the forward
saves for it (torch.autograd.graph.saved_tensors_hooks sees both custom Functions' and autograd's).
`python -m benchmarks --only torch [--device cuda]` reruns this section.
"""
from __future__ import annotations

from .against_torch import load_cell
from .timing import median_times

SIZES = [(50, 32, 128, 128), (50, 64, 256, 256)]  # (T, B, D, H)
CELLS = ["lstm", "gru", "layernorm_lstm"]
GENERATED, AUTOGRAD, NN_LSTM = "generated Sequence", "autograd of its forward", "torch.nn.LSTM"


def load_torch_cell(name: str):
    return load_cell(name, "_torch")


def contenders(torch, module, name, T, B, D, H, device, layer=None) -> dict:
    """contender -> a function running forward and loss.backward() once (float32, or layer's dtype: the
    generated Sequence and autograd backpropagate into layer's parameters)."""
    generator = torch.Generator().manual_seed(0)
    layer = layer if layer is not None else module.Layer(D, H, generator=generator).to(device)
    dtype = next(layer.parameters()).dtype
    xs = torch.randn(T, B, D, generator=generator, dtype=dtype).to(device)
    weights = torch.randn(T, B, H, generator=generator, dtype=dtype).to(device)

    def generated():
        outputs, _ = layer(xs)
        (outputs * weights).sum().backward()

    def autograd():
        state = {state: xs.new_zeros((B, H)) for state in module.STATE}
        params = dict(layer.named_parameters())
        outputs = []
        for t in range(T):
            state, _ = module.forward(params, xs[t], state)
            outputs.append(state[module.OUTPUT])
        (torch.stack(outputs) * weights).sum().backward()

    runs = {GENERATED: generated, AUTOGRAD: autograd}
    if name == "lstm":
        runs[NN_LSTM] = nn_lstm_run(torch, layer, xs, weights)
    return runs


def nn_lstm_run(torch, layer, xs, weights):
    reference = same_weights_lstm(torch, layer)

    def run():
        outputs, _ = reference(xs)
        (outputs * weights).sum().backward()
    return run


def same_weights_lstm(torch, layer):
    """torch.nn.LSTM holding lstm's weights: gates stacked i, f, g, o, columns [x; h] split from [h; x]."""
    H, columns = layer.W_f.shape
    reference = torch.nn.LSTM(columns - H, H).to(device=layer.W_f.device, dtype=layer.W_f.dtype)
    with torch.no_grad():
        gates = [getattr(layer, f"W_{gate}") for gate in ("i", "f", "c", "o")]
        reference.weight_hh_l0.copy_(torch.cat([w[:, :H] for w in gates]))
        reference.weight_ih_l0.copy_(torch.cat([w[:, H:] for w in gates]))
        reference.bias_ih_l0.copy_(torch.cat([getattr(layer, f"b_{gate}") for gate in ("i", "f", "c", "o")]))
        reference.bias_hh_l0.zero_()
    return reference


def kept_bytes(torch, run) -> int:
    """The bytes of the distinct storages a forward saves for its backward (run's backward frees them)."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(storages.values())


def synchronized(torch, run, device):
    if device == "cuda":
        def run_and_wait():
            run()
            torch.cuda.synchronize()
        return run_and_wait
    return run


def rows(torch, repeats: int, device: str = "cpu") -> list:
    found = []
    for name in CELLS:
        module = load_torch_cell(name)
        for size in SIZES:
            runs = contenders(torch, module, name, *size, device)
            memory = {contender: kept_bytes(torch, run) for contender, run in runs.items()}
            times = median_times({c: synchronized(torch, run, device) for c, run in runs.items()}, repeats)
            found.append((name, size, times, memory))
    return found


def render(found, repeats: int, device: str) -> list[str]:
    lines = ["## The generated PyTorch module", "",
             f"Forward and backward over the sequence, float32, on {device}; median of {repeats} interleaved runs (ms), and",
             "the memory kept for the backward (MiB of distinct saved storages). `python -m benchmarks --only torch`.", "",
             f"| cell | T, B, D, H | {GENERATED} | {AUTOGRAD} | {NN_LSTM} | time / autograd | kept / autograd | time / nn.LSTM |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, size, t, m in found:
        mib = lambda c: f"{t[c] * 1e3:.1f} ({m[c] / 2**20:.1f} MiB)"  # noqa: E731
        nn = mib(NN_LSTM) if NN_LSTM in t else "—"
        versus_nn = f"{t[GENERATED] / t[NN_LSTM]:.2f}" if NN_LSTM in t else "—"
        lines.append(f"| {name} | {', '.join(map(str, size))} | {mib(GENERATED)} | {mib(AUTOGRAD)} | {nn} | "
                     f"{t[GENERATED] / t[AUTOGRAD]:.2f} | {m[GENERATED] / m[AUTOGRAD]:.2f} | {versus_nn} |")
    lines.append("")
    for name, size, t, m in found:
        faster, smaller = t[GENERATED] < t[AUTOGRAD], m[GENERATED] < m[AUTOGRAD]
        lines.append(f"- {name} at {size}: faster than autograd of the same forward: {'met' if faster else 'missed'}; "
                     f"less memory kept: {'met' if smaller else 'missed'}")
    return lines
