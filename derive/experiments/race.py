"""Cells compared by training them: same task, seed, data and budget; curves and a table.

`derive race A B ... --task toy|chars` trains each cell with derive/experiments/train.py and writes
race.md (final loss, time per iteration, parameter count) with loss.png and loss.svg.
Plotting needs matplotlib (the `plot` extra); it is imported only here, only when drawing.
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from . import train
from ..errors import DeriveError

TASK_TITLES = {
    "toy": "toy task of the Simple LSTM post (sum of squared errors over 4 steps, SGD lr 0.1)",
    "chars": "character model of the Deriving LSTM Gradient post (smoothed cross-entropy per character, Adam)",
}


@dataclass(frozen=True)
class Curve:
    cell: str
    losses: tuple[float, ...]  # one per iteration: the toy loss, or the chars task's smoothed loss
    seconds_per_iteration: float
    parameters: int  # the cell's parameters (and, for chars, the output layer's)

    @property
    def final(self) -> float:
        return self.losses[-1]


def run_toy(name: str, module: ModuleType, iterations: int, seed: int) -> Curve:
    start = time.perf_counter()
    records = train.train_toy(module, iterations=iterations, init="original", seed=seed)
    elapsed = time.perf_counter() - start
    input_size, hidden_size = train.TOY_SIZES
    count = sum(p.size for p in module.init_params(input_size, hidden_size).values())
    return Curve(name, tuple(r.loss for r in records), elapsed / iterations, count)


def run_chars(name: str, module: ModuleType, text: str, settings: train.CharSettings,
              report: Callable | None = None) -> Curve:
    model, records = train.train_chars(module, text, settings, report)
    count = sum(p.size for p in model.params.values())
    return Curve(name, tuple(r.smooth_loss for r in records), records[-1].seconds / len(records), count)


def require_matplotlib():
    """matplotlib with a file-only backend, or a message that says how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise DeriveError("drawing loss curves needs matplotlib: pip install 'derive[plot]' "
                          "(or pass --no-plot for the table alone)") from None
    matplotlib.use("Agg")  # no screen here, and none needed
    import matplotlib.pyplot as plt
    return plt


def plot(curves: list[Curve], task: str) -> dict[str, bytes]:
    """loss.png and loss.svg, byte for byte the same on every run of the same curves."""
    plt = require_matplotlib()
    with plt.rc_context({"svg.hashsalt": "derive", "font.size": 9}):
        figure, axes = plt.subplots(figsize=(8, 4.8), dpi=100)
        styles = ["-", "--", ":", "-."]
        for index, curve in enumerate(curves):
            axes.plot(range(1, len(curve.losses) + 1), curve.losses, label=curve.cell,
                      linestyle=styles[index // 10 % len(styles)], linewidth=1.2)
        axes.set_xlabel("iteration")
        axes.set_ylabel("loss" if task == "toy" else "smoothed loss per character")
        axes.set_yscale("log")  # cells that blow up early (unbounded states) would flatten the rest
        axes.set_title(f"derive race: {TASK_TITLES[task]}", fontsize=9)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7, ncol=2 if len(curves) > 9 else 1, loc="upper right")
        figure.tight_layout()
        outputs = {}
        for suffix, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix, metadata=metadata)
            outputs[f"loss.{suffix}"] = buffer.getvalue()
        plt.close(figure)
    return outputs


def report(curves: list[Curve], task: str, settings: dict, plotted: bool, skipped=()) -> str:
    """race.md: how the race was run, the table sorted by final loss, and the curves."""
    lines = [f"# derive race: {task}", "", f"Task: {TASK_TITLES[task]}.", ""]
    lines.append("Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items()) + ".")
    lines.append("Every cell starts from the same seed and sees the same data in the same order.")
    lines += ["", "| cell | final loss | best loss | worst loss | ms per iteration | parameters |",
              "|---|---:|---:|---:|---:|---:|"]
    for curve in sorted(curves, key=lambda c: (math.isnan(c.final), c.final)):
        lines.append(f"| {curve.cell} | {curve.final:.6g} | {min(curve.losses):.6g} | {max(curve.losses):.6g} | "
                     f"{1000 * curve.seconds_per_iteration:.3f} | {curve.parameters:,} |")
    if skipped:
        lines += ["", "Not in this race:", ""] + [f"- {name}: {reason}." for name, reason in skipped]
    if plotted:
        lines += ["", "![loss curves](loss.svg)", "", "Also as [loss.png](loss.png)."]
    lines += ["", "Times are wall-clock on the machine that ran the race; compare them within one race only.", ""]
    return "\n".join(lines)
