"""Interleaved timing: one run of each contender, then again, so a busy moment hurts all alike."""
from __future__ import annotations

import statistics
import time


def median_times(runs: dict, repeats: int) -> dict[str, float]:
    """name -> median seconds of one call of runs[name], after one warm-up call each."""
    for run in runs.values():
        run()  # warm up
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
