"""`derive train` and `derive race`: their flags, the checks of those flags, and the runs they start."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

import numpy as np

from .. import limits
from ..arguments import check_seed, real_number, whole_number
from ..catalog import builtin_names, builtin_spec, resolve
from ..atomic_write import write_files
from ..errors import DeriveError
from ..loader import generated_module
from ..naming import first_repeated
from ..spec import check_parameter_count
from . import race, train
from .progress import Progress

# The chars task's flags that the toy task refuses, with their defaults.
CHARS_DEFAULTS = {"hidden_size": train.CharSettings.hidden_size, "seq_length": train.CharSettings.seq_length,
                  "sample_every": 500, "sample_length": 100, "temperature": 1.0}


def train_and_race(command: Callable[[str, str, Callable], argparse.ArgumentParser]) -> None:
    """The train and race subcommands, made by the CLI's command(name, help, handler) in its order."""
    sub = command("train", "train a cell with its generated code: the seed posts' toy task or character model", _train)
    sub.add_argument("cell", metavar="CELL", help="built-in cell name or path to a .toml spec")
    _training_flags(sub)
    sub.add_argument("--init", choices=train.TOY_INITS,
                     help="toy task: 'original' replays the Simple LSTM repository's draws (default; takes no --seed); "
                          "'default' uses the module's init_params with --seed")
    sub.add_argument("--sample-every", type=whole_number, metavar="N", help="chars task: print sampled characters every N iterations (default 500)")
    sub.add_argument("--sample-length", type=whole_number, metavar="N", help="chars task: characters per sample (default 100)")
    sub.add_argument("--temperature", type=real_number, help="chars task: sampling temperature, > 0 (default 1.0)")
    sub = command("race", "train several cells on equal terms; write loss curves and a table", _race)
    sub.add_argument("cells", nargs="*", metavar="CELL", help="built-in cells or .toml specs (default: every built-in cell)")
    _training_flags(sub)
    sub.add_argument("--out", type=Path, required=True, help="folder for race.md, loss.png and loss.svg")
    sub.add_argument("--no-plot", action="store_true", help="write the table only (no matplotlib needed)")


def _training_flags(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--task", choices=("toy", "chars"), required=True, help="toy: fit four numbers (first seed post); chars: next-character model (second)")
    sub.add_argument("--iterations", type=whole_number, help="updates (default: 100 for toy, 5000 for chars)")
    sub.add_argument("--lr", type=real_number, help="learning rate (default: 0.1, SGD, for toy; 1e-3, Adam, for chars)")
    sub.add_argument("--seed", type=whole_number, help="random seed of initialisation and sampling (default 0; "
                     "the toy task's original initialisation takes none)")
    sub.add_argument("--text", type=Path, help="chars task: a UTF-8 text file (default: the opening of Alice in Wonderland, shipped)")
    sub.add_argument("--hidden-size", type=whole_number, help=f"chars task: H (default {CHARS_DEFAULTS['hidden_size']})")
    sub.add_argument("--seq-length", type=whole_number, help=f"chars task: characters per chunk of truncated BPTT (default {CHARS_DEFAULTS['seq_length']})")


def _check_training_flags(args) -> None:
    """Numbers in range, no chars-only flag given to the toy task (it would be ignored);
    then the chars task's defaults filled in. (Those flags default to None so that "given"
    is known without repeating their defaults.)"""
    limits = {"iterations": (1, 10_000_000), "hidden_size": (1, 4096), "seq_length": (1, 10_000),
              "sample_every": (1, 10_000_000), "sample_length": (1, 100_000)}
    for flag, (low, high) in limits.items():
        value = getattr(args, flag, None)
        if value is not None and not low <= value <= high:
            raise DeriveError(f"--{flag.replace('_', '-')} {value}: expected a whole number from {low} to {high}")
    for flag in ("lr", "temperature"):
        value = getattr(args, flag, None)
        if value is not None and not (0 < value < float("inf")):
            raise DeriveError(f"--{flag} {value}: expected a positive number")
    check_seed(args)
    given = [flag for flag in ("text", *CHARS_DEFAULTS) if getattr(args, flag, None) is not None]
    if args.task == "toy" and given:
        raise DeriveError(f"--{given[0].replace('_', '-')} applies to --task chars; the toy task is fixed by "
                          "the Simple LSTM post (D=50, H=100, 4 steps)")
    if args.task == "chars" and getattr(args, "init", None) is not None:
        raise DeriveError(f"--init {args.init} applies to --task toy; the chars task draws its parameters with --seed")
    original = args.task == "toy" and getattr(args, "init", None) in (None, "original")
    if original and args.seed is not None:
        how = "race --task toy always uses" if not hasattr(args, "init") else "--init original (the default) uses"
        hint = "" if not hasattr(args, "init") else "; add --init default to draw with --seed"
        raise DeriveError(f"--seed {args.seed} would be ignored: {how} the Simple LSTM repository's draws "
                          f"(a generator reseeded to 0 before each array){hint}")
    if hasattr(args, "init") and args.init is None:
        args.init = "original"
    if args.seed is None:
        args.seed = 0
    for flag, value in CHARS_DEFAULTS.items():
        if hasattr(args, flag) and getattr(args, flag) is None:
            setattr(args, flag, value)


def _char_settings(args) -> train.CharSettings:
    return train.CharSettings(hidden_size=args.hidden_size, seq_length=args.seq_length,
                              iterations=args.iterations or 5000, lr=args.lr or 1e-3, seed=args.seed)


def _training_text(args) -> tuple[str, str]:
    if args.text is None:
        return train.default_text()
    return train.read_text(args.text, args.seq_length), str(args.text)


def _train(args) -> int:
    _check_training_flags(args)
    spec = resolve(args.cell)
    reason = train.untrainable(spec)
    if reason:
        raise DeriveError(f"{spec.name} cannot be trained by derive train: {reason}")
    if args.task == "toy":
        check_parameter_count(spec, *train.TOY_SIZES, limits.MAX_PARAMETERS["train"], "the toy task")
        return _train_toy(args, generated_module(spec))
    text, source = _training_text(args)
    vocab = train.Vocabulary.of(text, str(args.text or "the shipped text"))
    check_parameter_count(spec, vocab.size, args.hidden_size, limits.MAX_PARAMETERS["train"], "the chars task")
    return _train_chars(args, spec.name, generated_module(spec), text, source, vocab)


def _train_toy(args, module) -> int:
    def report(record: train.ToyRecord) -> None:  # every iteration is printed: no progress bar needed
        print("\n".join(train.toy_lines(record)), flush=True)

    train.train_toy(module, iterations=args.iterations or 100, lr=args.lr or 0.1, init=args.init, seed=args.seed,
                    report=report)
    return 0


def _train_chars(args, name: str, module, text: str, source: str, vocab: train.Vocabulary) -> int:
    settings = _char_settings(args)
    print(f"{name}: chars task on {source}: {len(text):,} characters, vocabulary {vocab.size}, "
          f"H={settings.hidden_size}, chunks of {settings.seq_length}, Adam lr {settings.lr:g}; "
          f"start loss ln {vocab.size} = {math.log(vocab.size):.4f}", flush=True)
    bar = Progress(settings.iterations)
    sampler = np.random.default_rng(settings.seed + 1)

    def report(record: train.CharRecord, model: train.CharModel, state: dict) -> None:
        bar.update(record.iteration, f"loss {record.smooth_loss:.4f}")
        if record.iteration % args.sample_every and record.iteration != settings.iterations:
            return
        drawn = model.sample(dict(state), int(sampler.integers(vocab.size)), args.sample_length, args.temperature, sampler)
        bar.clear()
        print(f"iter {record.iteration}, smoothed loss {record.smooth_loss:.4f}, "
              f"{record.iteration / record.seconds:,.0f} it/s\n----\n{vocab.text(drawn)}\n----", flush=True)

    train.train_chars(module, text, settings, report)
    bar.clear()
    return 0


def _race(args) -> int:
    _check_training_flags(args)
    if not args.no_plot:
        race.require_matplotlib()  # before minutes of training, not after
    specs = [resolve(cell) for cell in args.cells] if args.cells else [builtin_spec(n) for n in builtin_names()]
    repeated = first_repeated(spec.name for spec in specs)
    if repeated is not None:
        raise DeriveError(f"cell {repeated!r} is named twice; expected distinct cells")
    reasons = {spec.name: train.untrainable(spec) for spec in specs}
    skipped = [(name, reason) for name, reason in reasons.items() if reason]
    if skipped and args.cells:
        raise DeriveError(f"{skipped[0][0]} cannot be raced: {skipped[0][1]}")
    specs = [spec for spec in specs if not reasons[spec.name]]  # every built-in cell: those listed as skipped
    if args.task == "toy":
        settings = {"iterations": args.iterations or 100, "lr": args.lr or 0.1, "init": "original"}
    else:
        text, source = _training_text(args)
        chars = _char_settings(args)
        settings = {"text": source, "iterations": chars.iterations, "H": chars.hidden_size,
                    "chunk": chars.seq_length, "Adam lr": chars.lr, "seed": chars.seed}
    for spec in specs:
        sizes = train.TOY_SIZES if args.task == "toy" else (train.Vocabulary.of(text).size, chars.hidden_size)
        check_parameter_count(spec, *sizes, limits.MAX_PARAMETERS["train"], f"the {args.task} task")
    curves = []
    for index, spec in enumerate(specs):
        module = generated_module(spec)
        if args.task == "toy":
            curves.append(race.run_toy(spec.name, module, settings["iterations"], args.seed))
        else:
            bar = Progress(chars.iterations, f"{spec.name} ({index + 1}/{len(specs)}) ")
            curves.append(race.run_chars(spec.name, module, text, chars,
                                         lambda record, *_: bar.update(record.iteration, f"loss {record.smooth_loss:.4f}")))
            bar.clear()
        print(f"{spec.name}: final loss {curves[-1].final:.6g}, {1000 * curves[-1].seconds_per_iteration:.3f} ms per iteration", flush=True)
    files = {} if args.no_plot else race.plot(curves, args.task)
    files["race.md"] = race.report(curves, args.task, settings, plotted=not args.no_plot, skipped=skipped)
    write_files(args.out, files)
    print(f"wrote {', '.join(str(args.out / name) for name in sorted(files))}")
    return 0
