"""Training with the generated code: the two experiments of the seed posts.

`toy`: the "Simple LSTM" post's test.py. D=50, H=100, four random inputs, targets
y = (-0.5, 0.2, 0.1, -0.5) read from h(t)[0], loss sum_t (h(t)[0] - y(t))^2, plain SGD
with learning rate 0.1, full backpropagation through the four steps, the state reset
every iteration. Its "original" initialisation replays the repository's: every parameter
array uniform in [-0.1, 0.1) from NumPy's legacy generator reseeded to 0 before each array,
then the four inputs uniform in [0, 1) from where that generator stopped.

`chars`: the "Deriving LSTM Gradient" post's model. One-hot characters in, a softmax
layer (W_y, b_y) on the cell's output, cross-entropy on the next character, Adam with
bias correction, every gradient clipped element-wise to [-5, 5], truncated
backpropagation through time over chunks of 10 characters with the state carried
between chunks.

The cell's forward and backward passes come from its generated module only
(forward_sequence / backward_sequence, and the one-step forward for sampling); the loss
layers, the output layer's gradient and the optimisers are written here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

from .. import limits
from ..errors import DeriveError

TOY_TARGETS = (-0.5, 0.2, 0.1, -0.5)
TOY_SIZES = (50, 100)  # D and H of test.py
TOY_INITS = ("original", "default")
GRADIENT_CLIP = 5.0
MAX_VOCABULARY = 512  # one-hot inputs: a bigger alphabet is not what this task is for


# --------------------------------------------------------------------------- toy task

def untrainable(spec) -> str | None:
    """Why the training tasks cannot train this cell, or None: they draw one input of their own size
    (50 numbers for the toy task, a one-hot character for chars) and nothing else."""
    if spec.several_inputs:
        return f"it has inputs besides the data ({', '.join(spec.inputs[1:])}), which the tasks do not draw"
    if any(left == "D" for left, _ in spec.equal_sizes):
        return "it declares D = H (its input has the hidden size), and the tasks' inputs have a size of their own"
    return None


def original_init(module: ModuleType, input_size: int, hidden_size: int, steps: int):
    """Parameters and inputs as the Simple LSTM repository draws them (see the module docstring).

    Arrays are drawn in the spec's [params] order; for `nico` that is the repository's
    order (W_g, W_i, W_f, W_o, b_g, b_i, b_f, b_o), so the inputs match too.
    """
    legacy = np.random.RandomState()  # the global generator's algorithm, without touching it
    params = {}
    for name, like in module.init_params(input_size, hidden_size).items():  # spec order, shapes
        legacy.seed(0)
        params[name] = legacy.rand(*like.shape) * 0.2 - 0.1
    xs = np.stack([legacy.random_sample(input_size) for _ in range(steps)])
    return params, xs


def default_init(module: ModuleType, input_size: int, hidden_size: int, steps: int, seed: int):
    """The module's own init_params, and inputs uniform in [0, 1), from one seeded generator."""
    rng = np.random.default_rng(seed)
    params = module.init_params(input_size, hidden_size, rng=rng)
    return params, rng.random((steps, input_size))


@dataclass(frozen=True)
class ToyRecord:
    iteration: int
    predictions: np.ndarray  # h(t)[0] for each step, before this iteration's update
    loss: float


def toy_iteration(module: ModuleType, params: dict, xs: np.ndarray, targets: np.ndarray, lr: float,
                  iteration: int = 0) -> ToyRecord:
    """One forward and backward pass over the four steps, then one SGD step (in place)."""
    outputs, cache = module.forward_sequence(params, xs[:, None, :])  # a batch of one
    predictions = outputs[:, 0, 0]
    loss = float(np.sum((predictions - targets) ** 2))
    d_outputs = np.zeros_like(outputs)
    d_outputs[:, 0, 0] = 2 * (predictions - targets)
    grads, _, _ = module.backward_sequence(params, cache, d_outputs)
    for name in params:
        params[name] -= lr * grads[name]
    return ToyRecord(iteration, predictions.copy(), loss)


def train_toy(module: ModuleType, iterations: int = 100, lr: float = 0.1, init: str = "original",
              seed: int = 0, report: Callable[[ToyRecord], None] | None = None) -> list[ToyRecord]:
    """The toy experiment; report is called after every iteration."""
    input_size, hidden_size = TOY_SIZES
    targets = np.array(TOY_TARGETS)
    if init == "original":
        params, xs = original_init(module, input_size, hidden_size, len(targets))
    else:
        params, xs = default_init(module, input_size, hidden_size, len(targets), seed)
    records = []
    for iteration in range(iterations):
        record = toy_iteration(module, params, xs, targets, lr, iteration)
        records.append(record)
        if report:
            report(record)
    return records


def toy_lines(record: ToyRecord) -> list[str]:
    """An iteration printed as the repository's test.py prints it (Python 2's str of a float)."""
    lines = [f"cur iter:  {record.iteration}"]
    lines += [f"y_pred[{index}] : {value:f}" for index, value in enumerate(record.predictions)]
    lines.append(f"loss:  {record.loss:.12g}")
    return lines


# --------------------------------------------------------------------------- chars task

def default_text() -> tuple[str, str]:
    """The shipped text and where it comes from."""
    text = (resources.files("derive") / "data" / "alice.txt").read_text(encoding="utf-8")
    return text, "Lewis Carroll, Alice's Adventures in Wonderland (1865), the opening of chapter I (public domain, Project Gutenberg eBook #11)"


MAX_TEXT_BYTES = 8 * 1024 * 1024  # War and Peace is 3.2 MB; 5000 chunks of 10 read 50 kB of it


def read_text(path: Path, seq_length: int) -> str:
    """A training text from a file, with a clear message for anything unusable. Only a regular
    file of at most MAX_TEXT_BYTES is read (a FIFO or /dev/zero is refused, never read), and at
    most MAX_TEXT_BYTES + 1 bytes of it, so a huge file costs nothing before it is refused."""
    try:
        raw = limits.read_capped(path, MAX_TEXT_BYTES, "a UTF-8 text file")
    except limits.FileRefused as error:
        kind = "a folder; expected a text file" if error.problem == "it is a folder" else \
            error.problem.removeprefix("it is ") + (f"; expected {error.expected}" if error.expected else "")
        raise DeriveError(f"--text {path}: {kind}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DeriveError(f"--text {path}: not UTF-8 text (byte {error.start}); expected a UTF-8 text file") from None
    if len(text) < seq_length + 1:
        raise DeriveError(f"--text {path}: {len(text)} characters; expected at least {seq_length + 1} "
                          f"(one chunk of --seq-length {seq_length} and its next character)")
    return text


@dataclass(frozen=True)
class Vocabulary:
    characters: tuple[str, ...]

    @classmethod
    def of(cls, text: str, where: str = "the text") -> "Vocabulary":
        characters = tuple(sorted(set(text)))
        if len(characters) > MAX_VOCABULARY:
            raise DeriveError(f"{where}: {len(characters)} distinct characters; expected at most {MAX_VOCABULARY}")
        return cls(characters)

    @property
    def size(self) -> int:
        return len(self.characters)

    def indices(self, text: str) -> np.ndarray:
        position = {char: index for index, char in enumerate(self.characters)}
        return np.array([position[char] for char in text], dtype=np.intp)

    def text(self, indices) -> str:
        return "".join(self.characters[index] for index in indices)


@dataclass
class CharModel:
    """A cell from its generated module under a softmax layer over the vocabulary."""

    module: ModuleType
    params: dict  # the cell's parameters and the output layer's W_y (V, H), b_y (V,)
    vocab_size: int
    workspace: dict = field(default_factory=dict)  # the generated code's arrays, reused chunk after chunk

    @classmethod
    def create(cls, module: ModuleType, vocab_size: int, hidden_size: int, rng: np.random.Generator) -> "CharModel":
        params = module.init_params(vocab_size, hidden_size, rng=rng)
        clash = {"W_y", "b_y"} & set(params)
        if clash:
            raise DeriveError(f"the cell has a parameter named {sorted(clash)[0]!r}, which the chars task's "
                              "output layer uses; expected other names for the cell's parameters")
        bound = 1 / math.sqrt(hidden_size)
        params["W_y"] = rng.uniform(-bound, bound, (vocab_size, hidden_size))
        params["b_y"] = np.zeros(vocab_size)
        return cls(module, params, vocab_size)

    def cell_params(self) -> dict:
        """The cell's own parameters, without the output layer's: the generated module refuses others."""
        return {name: self.params[name] for name in self.module.PARAM_SHAPES}

    def zero_state(self) -> dict:
        hidden_size = self.params["W_y"].shape[1]
        return {name: np.zeros((1, hidden_size)) for name in self.module.STATE}

    def one_hot(self, indices) -> np.ndarray:
        """(T, 1, V): a batch of one, as forward_sequence takes it."""
        xs = np.zeros((len(indices), 1, self.vocab_size))
        xs[np.arange(len(indices)), 0, indices] = 1.0
        return xs

    def chunk_gradients(self, inputs, targets, state: dict) -> tuple[float, dict, dict]:
        """Mean loss per character of one chunk, gradients of the chunk's summed loss, and the
        state after the chunk (carried to the next one; no gradient flows back into it)."""
        outputs, cache = self.module.forward_sequence(self.cell_params(), self.one_hot(inputs), state, workspace=self.workspace)
        hs = outputs[:, 0, :]  # (T, H)
        logits = hs @ self.params["W_y"].T + self.params["b_y"]
        log_probs = _log_softmax(logits)
        steps = np.arange(len(targets))
        loss = -float(log_probs[steps, targets].sum())
        d_logits = np.exp(log_probs)
        d_logits[steps, targets] -= 1  # d(-log softmax)/dlogits = p - onehot
        grads, _, _ = self.module.backward_sequence(self.cell_params(), cache, (d_logits @ self.params["W_y"])[:, None, :],
                                                    workspace=self.workspace)
        grads["W_y"] = d_logits.T @ hs
        grads["b_y"] = d_logits.sum(axis=0)
        return loss / len(targets), grads, cache["final_state"]

    def sample(self, state: dict, first: int, length: int, temperature: float, rng: np.random.Generator) -> list[int]:
        """Characters drawn one at a time from the one-step generated forward pass."""
        drawn, index = [], first
        for _ in range(length):
            state, _ = self.module.forward(self.cell_params(), self.one_hot([index])[0], state)
            logits = state[self.module.OUTPUT] @ self.params["W_y"].T + self.params["b_y"]
            probs = np.exp(_log_softmax(logits[0] / temperature))
            index = int(rng.choice(self.vocab_size, p=probs / probs.sum()))
            drawn.append(index)
        return drawn


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclass
class Adam:
    """Adam with bias correction, as the second seed post writes it; gradients clipped first."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    clip: float = GRADIENT_CLIP
    step: int = 0
    moments: dict = field(default_factory=dict)

    def update(self, params: dict, grads: dict) -> None:
        """One step, in place: the same arithmetic as the post's, without temporary arrays
        (at H=128 the update touches 100,000 numbers a handful of times; allocation dominated)."""
        self.step += 1
        step_size = self.lr / (1 - self.beta1 ** self.step)  # lr * m_hat = step_size * m
        r_scale = 1 / (1 - self.beta2 ** self.step)  # r_hat = r_scale * r
        for name, value in params.items():
            if name not in self.moments:
                self.moments[name] = tuple(np.zeros_like(value) for _ in range(4))
            m, r, grad, work = self.moments[name]
            np.clip(grads[name], -self.clip, self.clip, out=grad)
            m *= self.beta1
            m += np.multiply(grad, 1 - self.beta1, out=work)
            r *= self.beta2
            np.square(grad, out=work)
            work *= 1 - self.beta2
            r += work
            np.multiply(r, r_scale, out=work)
            np.sqrt(work, out=work)
            work += self.eps
            np.divide(m, work, out=work)
            work *= step_size
            value -= work


@dataclass
class CharRecord:
    iteration: int  # 1-based count of updates so far
    loss: float  # this chunk's mean loss per character
    smooth_loss: float  # exponential moving average of loss, starting at ln V
    seconds: float  # wall time since training started


@dataclass(frozen=True)
class CharSettings:
    hidden_size: int = 64
    seq_length: int = 10
    iterations: int = 2000
    lr: float = 1e-3
    seed: int = 0
    smoothing: float = 0.99  # weight of the old average: a time constant of about 100 iterations


def train_chars(module: ModuleType, text: str, settings: CharSettings = CharSettings(),
                report: Callable[[CharRecord, "CharModel", dict], None] | None = None) -> tuple[CharModel, list[CharRecord]]:
    """Train on consecutive chunks of text; at the end of the text, start over from a zero state.

    report(record, model, state) is called after every update (for progress, samples).
    """
    vocab = Vocabulary.of(text)
    data = vocab.indices(text)
    rng = np.random.default_rng(settings.seed)
    model = CharModel.create(module, vocab.size, settings.hidden_size, rng)
    optimizer = Adam(lr=settings.lr)
    state, position = model.zero_state(), 0
    smooth = math.log(vocab.size)  # the loss of a uniform guess
    records, start = [], time.perf_counter()
    for iteration in range(1, settings.iterations + 1):
        if position + settings.seq_length + 1 > len(data):
            state, position = model.zero_state(), 0
        inputs = data[position: position + settings.seq_length]
        targets = data[position + 1: position + settings.seq_length + 1]
        loss, grads, state = model.chunk_gradients(inputs, targets, state)
        optimizer.update(model.params, grads)
        position += settings.seq_length
        smooth = settings.smoothing * smooth + (1 - settings.smoothing) * loss
        records.append(CharRecord(iteration, loss, smooth, time.perf_counter() - start))
        if report:
            report(records[-1], model, state)
    return model, records
