"""python -m benchmarks: the generated lstm against torch.nn.LSTM, a seed-style NumPy LSTM and the
machine's own matrix-product throughput; layernorm_lstm against torch autograd of its equations;
and the time to generate the catalog.

Every implementation runs forward and backward over a whole sequence. Repeats are interleaved
(one of each, then again) and the median is reported, so a busy moment hurts all alike.
Writes a Markdown table (default benchmarks/RESULTS.md) and prints it.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import checks, layernorm, projection, seed_style, torch_module, training
from .timing import median_times

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(50, 64, 256, 256), (50, 32, 128, 128), (4, 1, 50, 100)]  # (T, B, D, H)
WORKSPACE = "generated, workspace"  # the generated code given the same workspace on every call
DTYPES = ["float32", "float64"]


def load_lstm():
    spec = importlib.util.spec_from_file_location("generated_lstm", ROOT / "generated" / "lstm" / "lstm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def contenders(T, B, D, H, dtype, lstm, torch):
    """name -> a function running forward and backward once."""
    rng = np.random.default_rng(0)
    params = lstm.init_params(D, H, rng=rng, dtype=dtype)
    xs = rng.normal(size=(T, B, D)).astype(dtype)
    d_hs = rng.normal(size=(T, B, H)).astype(dtype)
    zeros = np.zeros((B, H), dtype=dtype)

    def generated():
        outputs, cache = lstm.forward_sequence(params, xs)
        lstm.backward_sequence(params, cache, d_hs)

    workspace = {}

    def generated_workspace():  # as a training loop calls it: the arrays of the last call reused
        outputs, cache = lstm.forward_sequence(params, xs, workspace=workspace)
        lstm.backward_sequence(params, cache, d_hs, workspace=workspace)

    def generated_steps():
        outputs, cache = lstm.forward_sequence_steps(params, xs)
        lstm.backward_sequence_steps(params, cache, d_hs)

    def seed():
        hs, caches = seed_style.forward(params, xs, zeros, zeros)
        seed_style.backward(params, caches, d_hs)

    runs = {"generated": generated, WORKSPACE: generated_workspace, "generated, readable steps": generated_steps, "seed-style NumPy": seed,
            "matrix products alone": ceiling(T, B, D, H, dtype, rng)}
    if torch is not None:
        runs["torch.nn.LSTM"] = torch_run(torch, T, B, D, H, dtype, xs, d_hs)
    return runs


def ceiling(T, B, D, H, dtype, rng):
    """The products the generated code cannot avoid, at the same shapes: the ceiling."""
    x_all = rng.normal(size=(T * B, D)).astype(dtype)
    h_all = rng.normal(size=(T * B, H)).astype(dtype)
    w_x = rng.normal(size=(D, 4 * H)).astype(dtype)
    w_h = rng.normal(size=(H, 4 * H)).astype(dtype)
    w_h_back = np.ascontiguousarray(w_h.T)
    d_all = rng.normal(size=(T * B, 4 * H)).astype(dtype)
    h, d = h_all[:B], d_all[:B]

    def run():
        x_all @ w_x  # the input's products, all steps
        for _ in range(T):
            h @ w_h  # the recurrent products, step by step
            d @ w_h_back  # and their adjoints
        d_all.T @ x_all  # weight gradients, all steps
        d_all.T @ h_all
        d_all @ w_x.T  # dL/dx, all steps

    return run


def torch_run(torch, T, B, D, H, dtype, xs, d_hs):
    model = torch.nn.LSTM(D, H, dtype=getattr(torch, dtype))
    x = torch.tensor(xs, requires_grad=True)
    grad = torch.tensor(d_hs)

    def run():
        model.zero_grad()
        x.grad = None
        out, _ = model(x)
        out.backward(grad)

    return run


def generation_times(repeats: int) -> tuple[float, float]:
    """(cold, unchanged) seconds for `derive build` of the whole catalog, in a fresh process each."""
    cold, warm = [], []
    folder = Path(tempfile.mkdtemp(prefix="derive-bench-"))
    command = [sys.executable, "-m", "derive", "build", "--out", str(folder / "out")]
    try:
        for _ in range(repeats):
            shutil.rmtree(folder / "out", ignore_errors=True)
            for bucket in (cold, warm):
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
                bucket.append(time.perf_counter() - start)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return statistics.median(cold), statistics.median(warm)


def machine(torch) -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [f"- CPU: {cpu}, {os.cpu_count()} cores visible", f"- Python {platform.python_version()}, NumPy {np.__version__}"]
    lines.append(f"- torch {torch.__version__}, {torch.get_num_threads()} threads" if torch else "- torch: not imported")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example:\n  python -m benchmarks --repeats 9 --out benchmarks/RESULTS.md")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each contender (default 7)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"), help="where to write the table")
    parser.add_argument("--only", choices=("kernels", "generation", "training", "checks", "layernorm", "projection", "torch"),
                        help="run one part and print it (RESULTS.md is written only by a full run)")
    parser.add_argument("--without-torch", action="store_true",
                        help="do not import torch even if installed: torch running in the same process changes "
                             "how glibc hands freed memory back, and with it the generated code's fresh-array times")
    parser.add_argument("--device", default="cpu", help="where the PyTorch module's section runs: cpu (default) or cuda")
    args = parser.parse_args(argv)
    if args.only:
        print("\n".join(run_part(args.only, args.repeats, args.without_torch, args.device)))
        return 0
    torch = None if args.without_torch else import_torch()
    rows = kernel_rows(torch, args.repeats)
    print(f"[{len(rows) + 1}/{len(rows) + 2}] generating the catalog ...", flush=True)
    cold, warm = generation_times(max(3, args.repeats // 2))
    print(f"[{len(rows) + 2}/{len(rows) + 2}] training loops ...", flush=True)
    rates = training.iterations_per_second(args.repeats)
    print("[+] argument checks ...", flush=True)
    checked = checks_part(args.repeats)
    print("[+] layernorm_lstm against torch autograd ...", flush=True)
    normed = layernorm.render(layernorm.rows(torch, args.repeats), args.repeats)
    print("[+] lstmp against torch.nn.LSTM(proj_size) ...", flush=True)
    projected = projection.render(projection.rows(torch, args.repeats), args.repeats)
    print("[+] the generated PyTorch module against autograd and torch.nn.LSTM ...", flush=True)
    in_torch = torch_part(torch, args.repeats, args.device)
    report = (render(rows, cold, warm, machine(torch), args.repeats) + "\n" + "\n".join(training.render(rates))
              + "\n\n" + "\n".join(checked) + "\n\n" + "\n".join(normed) + "\n\n" + "\n".join(projected)
              + "\n\n" + "\n".join(in_torch) + "\n")
    args.out.write_text(report)
    print(report)
    return 0


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_part(torch, repeats: int, device: str) -> list[str]:
    if torch is None:
        return ["## The generated PyTorch module", "", "Not run: torch is not installed (pip install torch==2.13.0)."]
    return torch_module.render(torch_module.rows(torch, repeats, device), repeats, device)


def run_part(part: str, repeats: int, without_torch: bool = False, device: str = "cpu") -> list[str]:
    if part == "torch":
        return torch_part(None if without_torch else import_torch(), repeats, device)
    if part == "training":
        return training.render(training.iterations_per_second(repeats))
    if part == "checks":
        return checks_part(repeats)
    if part == "layernorm":
        return layernorm.render(layernorm.rows(None if without_torch else import_torch(), repeats), repeats)
    if part == "projection":
        return projection.render(projection.rows(None if without_torch else import_torch(), repeats), repeats)
    if part == "generation":
        cold, warm = generation_times(max(3, repeats // 2))
        return [f"- cold: {cold:.2f} s", f"- nothing changed: {warm:.2f} s"]
    torch = None if without_torch else import_torch()
    return render(kernel_rows(torch, repeats), float("nan"), float("nan"), machine(torch), repeats).splitlines()


def checks_part(repeats: int) -> list[str]:
    return checks.render(checks.rows(load_lstm(), SIZES, DTYPES, repeats), repeats)


def kernel_rows(torch, repeats: int) -> list:
    lstm = load_lstm()
    rows = []
    cases = [(size, dtype) for size in SIZES for dtype in DTYPES]
    for index, ((T, B, D, H), dtype) in enumerate(cases, 1):
        print(f"[{index}/{len(cases) + 2}] T={T} B={B} D={D} H={H} {dtype} ...", flush=True)
        rows.append(((T, B, D, H), dtype, median_times(contenders(T, B, D, H, dtype, lstm, torch), repeats)))
    return rows


def render(rows, cold, warm, machine_lines, repeats) -> str:
    ms = lambda seconds: f"{seconds * 1e3:.2f}"  # noqa: E731
    lines = ["# Benchmarks", "", "Written by `python -m benchmarks`; forward and backward over a whole sequence,",
             f"median of {repeats} interleaved runs, in milliseconds.", "", *machine_lines, "",
             "\"generated\" makes its arrays afresh on every call; \"workspace\" passes the same `workspace` dict on",
             "every call, as a training loop does (derive's own does), and reuses them. Ratios and shares are",
             "of the workspace figure.", "",
             "| T, B, D, H | dtype | generated | workspace | torch.nn.LSTM | workspace / torch | generated / torch | products alone | share of the ceiling | seed-style NumPy | speed-up over seed-style | readable steps |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, dtype, t in rows:
        fresh, reused, torch_time = t["generated"], t[WORKSPACE], t.get("torch.nn.LSTM")
        ratios = f"{reused / torch_time:.2f} | {fresh / torch_time:.2f}" if torch_time else "n/a | n/a"
        lines.append(f"| {', '.join(map(str, size))} | {dtype} | {ms(fresh)} | {ms(reused)} | {ms(torch_time) if torch_time else 'n/a'} | {ratios} | "
                     f"{ms(t['matrix products alone'])} | {t['matrix products alone'] / reused:.0%} | {ms(t['seed-style NumPy'])} | "
                     f"{t['seed-style NumPy'] / reused:.1f}x | {ms(t['generated, readable steps'])} |")
    lines += ["", "Generating the whole catalog (`derive build`, a fresh process each time, Python start-up included):",
              "", f"- cold: {cold:.2f} s", f"- nothing changed: {warm:.2f} s", ""]
    lines += targets(rows, cold, warm)
    return "\n".join(lines) + "\n"


def targets(rows, cold, warm) -> list[str]:
    """Each target of the issue, met or missed, with the figure that decides it (the workspace one)
    and, beside it, the figure with fresh arrays on every call."""
    out = ["## Targets", "", "Decided by the workspace figure; the figure with fresh arrays follows in brackets.", ""]
    verdict = lambda ok: "met" if ok else "missed"  # noqa: E731
    for size, dtype, t in rows:
        if size[1] >= 32 and "torch.nn.LSTM" in t:
            ratio, fresh = (t[name] / t["torch.nn.LSTM"] for name in (WORKSPACE, "generated"))
            out.append(f"- generated/torch at {size} {dtype}: {ratio:.2f} ({fresh:.2f}) (target at most 1.0): {verdict(ratio <= 1.0)}")
        if size == (50, 64, 256, 256) and dtype == "float32":
            share, fresh = (t["matrix products alone"] / t[name] for name in (WORKSPACE, "generated"))
            out.append(f"- share of the matrix-product ceiling at {size} float32: {share:.0%} ({fresh:.0%}) (target at least 70%): {verdict(share >= 0.7)}")
        if size == (4, 1, 50, 100):
            speedup, fresh = (t["seed-style NumPy"] / t[name] for name in (WORKSPACE, "generated"))
            out.append(f"- speed-up over seed-style NumPy at {size} {dtype}: {speedup:.1f}x ({fresh:.1f}x) (target at least 5x): {verdict(speedup >= 5)}")
    out.append(f"- catalog generation cold: {cold:.2f} s (target under 5 s): {verdict(cold < 5)}")
    out.append(f"- catalog generation, nothing changed: {warm:.2f} s (target under 1 s): {verdict(warm < 1)}")
    return out


if __name__ == "__main__":
    sys.exit(main())
