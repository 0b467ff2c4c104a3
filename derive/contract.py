"""What any generated module lets a caller do without knowing its cell: size it, make its
parameters, and make inputs and states of the right shapes.

The generated module states its own sizes (SIZES: D, H and any the spec declares), its inputs
and their sizes (INPUTS) and its states' sizes (STATE_SIZES). A cell with one input takes xs as
one (T, B, size) array; a cell with several takes a dict of them by name. gradcheck, train and
the tests go through these helpers, so each of them handles every cell the same way.
"""
from __future__ import annotations

from types import ModuleType
from typing import Callable

import numpy as np

from .dims import size_values

Draw = Callable[[tuple[int, ...]], np.ndarray]  # an array of the given shape, such as rng.normal(size=shape)


def sizes_of(module: ModuleType, input_size: int, hidden_size: int, extra: dict[str, int] | None = None) -> dict[str, int]:
    """A value for each of the module's SIZES: D and H as given, a declared size from extra, else
    equal to H (the command line's documented default). A cell that declares D = H has no D."""
    return size_values(module.SIZES, input_size, hidden_size, extra)


def init(module: ModuleType, sizes: dict[str, int], rng=None, dtype=np.float64) -> dict[str, np.ndarray]:
    """module.init_params at these sizes (its declared sizes passed by name)."""
    hidden = sizes.get("H", sizes.get("D"))
    extra = {name: value for name, value in sizes.items() if name not in ("D", "H")}
    return module.init_params(sizes.get("D", hidden), hidden, rng=rng, dtype=dtype, **extra)


def inputs(module: ModuleType, sizes: dict[str, int], leading: tuple[int, ...], draw: Draw):
    """Inputs with the leading axes given ((T, B) for a sequence, (B,) for one step): one array for
    a cell with one input, a dict by name for a cell with several."""
    arrays = {name: draw((*leading, sizes[size])) for name, size in module.INPUTS.items()}
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def states(module: ModuleType, sizes: dict[str, int], batch: int, draw: Draw) -> dict[str, np.ndarray]:
    """A dict of every state, (batch, its size)."""
    return {name: draw((batch, sizes[size])) for name, size in module.STATE_SIZES.items()}


def output_size(module: ModuleType, sizes: dict[str, int]) -> int:
    return sizes[module.STATE_SIZES[module.OUTPUT]]


def as_dict(module: ModuleType, xs) -> dict[str, np.ndarray]:
    """Inputs (or their adjoints) by input name, whichever form the module takes."""
    return dict(xs) if isinstance(xs, dict) else {next(iter(module.INPUTS)): xs}
