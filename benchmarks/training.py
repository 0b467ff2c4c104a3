"""Iterations per second of the chars task: derive's training loop against the seed post's.

One iteration is one chunk of 10 characters forward and backward, plus an Adam update with
clipping, on the shipped text. derive's goes through the generated lstm's batched sequence
functions (derive/experiments/train.py); the baseline steps one character and one gate at a time
(seed_chars.py). Both start from the same weights and walk the same chunks.
"""
from __future__ import annotations

import numpy as np

from derive.experiments import train
from derive.catalog import builtin_spec
from derive.loader import generated_module

from . import seed_chars
from .timing import median_times

HIDDEN_SIZE = 128
BLOCK = 50  # iterations per timed block; blocks of the two loops alternate


def loops(hidden_size: int = HIDDEN_SIZE):
    """name -> a function that runs BLOCK training iterations, continuing where it stopped."""
    text, _ = train.default_text()
    vocab = train.Vocabulary.of(text)
    data = vocab.indices(text)
    module = generated_module(builtin_spec("lstm"))
    model = train.CharModel.create(module, vocab.size, hidden_size, np.random.default_rng(0))
    seed_params = {name: value.copy() for name, value in model.params.items()}
    adam, seed_adam = train.Adam(), seed_chars.adam_state(seed_params)
    state = {"derive": [model.zero_state(), 0], "seed": [np.zeros((1, hidden_size)), np.zeros((1, hidden_size)), 0, 0]}

    def chunk(position):
        if position + 11 > len(data):
            position = 0
        return position, data[position: position + 10], data[position + 1: position + 11]

    def derive_block():
        cell_state, position = state["derive"]
        for _ in range(BLOCK):
            position, inputs, targets = chunk(position)
            _, grads, cell_state = model.chunk_gradients(inputs, targets, cell_state)
            adam.update(model.params, grads)
            position += 10
        state["derive"] = [cell_state, position]

    def seed_block():
        h, c, position, step = state["seed"]
        for _ in range(BLOCK):
            position, inputs, targets = chunk(position)
            _, grads, h, c = seed_chars.train_step(seed_params, list(inputs), list(targets), h, c)
            step += 1
            seed_chars.adam_update(seed_params, grads, seed_adam, step)
            position += 10
        state["seed"] = [h, c, position, step]

    return {"derive (generated lstm, sequence functions)": derive_block, "seed-post style (per step, per gate)": seed_block}


def iterations_per_second(repeats: int, hidden_size: int = HIDDEN_SIZE) -> dict[str, float]:
    return {name: BLOCK / seconds for name, seconds in median_times(loops(hidden_size), repeats).items()}


def render(rates: dict[str, float], hidden_size: int = HIDDEN_SIZE) -> list[str]:
    (ours_name, ours), (seed_name, seed) = rates.items()
    speedup = ours / seed
    return [
        f"## Training: the chars task at H={hidden_size}", "",
        "One iteration: 10 characters forward and backward, softmax layer, Adam with clipping "
        f"(vocabulary 60, the shipped text); median of blocks of {BLOCK} iterations, interleaved.", "",
        "| training loop | iterations per second |", "|---|---:|",
        f"| {ours_name} | {ours:,.0f} |", f"| {seed_name} | {seed:,.0f} |", "",
        f"- speed-up of derive's loop: {speedup:.1f}x (target at least 3x): {'met' if speedup >= 3 else 'missed'}", "",
    ]
