"""What the argument checks cost: the generated lstm's check_arguments alone, as forward_sequence
and backward_sequence call it, against the forward and backward call it guards (with a
workspace, as a training loop calls them); both timed interleaved, so the ratio holds within a run.
"""
from __future__ import annotations

import numpy as np

from .timing import median_times

CALL, CHECKS = "forward and backward", "check_arguments alone"
TARGET_SIZE = (50, 32, 128, 128)  # (T, B, D, H) where the checks must cost below 2% of a call


def contenders(lstm, T, B, D, H, dtype) -> dict:
    rng = np.random.default_rng(0)
    params = lstm.init_params(D, H, rng=rng, dtype=dtype)
    xs = rng.normal(size=(T, B, D)).astype(dtype)
    d_hs = rng.normal(size=(T, B, H)).astype(dtype)
    workspace = {}

    def call():
        outputs, cache = lstm.forward_sequence(params, xs, workspace=workspace)
        lstm.backward_sequence(params, cache, d_hs, workspace=workspace)

    _, cache = lstm.forward_sequence(params, xs, workspace=workspace)

    def checks():  # the two calls the entry points make, with the same arguments
        lstm.check_arguments(params, [("xs", xs, "TBD")], [("state0", None)], workspace=workspace)
        cache["call"] = workspace["calls"]  # as forward_sequence stamps its cache
        lstm.check_arguments(params, [("d_outputs", d_hs, "TBH")], [("d_state_last", None)],
                             cache=cache, made_by="lstm.forward_sequence", workspace=workspace)

    return {CALL: call, CHECKS: checks}


def rows(lstm, sizes, dtypes, repeats: int) -> list:
    """[(size, dtype, {name: median seconds})]; the checks get 100 times the repeats, being short."""
    found = []
    for size in sizes:
        for dtype in dtypes:
            runs = contenders(lstm, *size, dtype)
            many = {CHECKS: lambda run=runs[CHECKS]: [run() for _ in range(100)]}
            times = median_times({CALL: runs[CALL], **many}, repeats)
            found.append((size, dtype, {CALL: times[CALL], CHECKS: times[CHECKS] / 100}))
    return found


def render(found, repeats: int) -> list[str]:
    lines = ["## The argument checks", "",
             "`check_arguments` (lstm), alone, as `forward_sequence` and `backward_sequence` call it once each, against",
             f"those two calls with a workspace; median of {repeats} interleaved runs (the checks timed 100 at a time).",
             "`python -m benchmarks --only checks` reruns this section.", "",
             "| T, B, D, H | dtype | forward and backward, ms | checks, µs | share of the call |", "|---|---|---:|---:|---:|"]
    for size, dtype, t in found:
        lines.append(f"| {', '.join(map(str, size))} | {dtype} | {t[CALL] * 1e3:.2f} | {t[CHECKS] * 1e6:.1f} | {t[CHECKS] / t[CALL]:.2%} |")
    lines.append("")
    for size, dtype, t in found:
        if size == TARGET_SIZE:
            share = t[CHECKS] / t[CALL]
            lines.append(f"- checks' share at {size} {dtype}: {share:.2%} (target below 2%): {'met' if share < 0.02 else 'missed'}")
    return lines
