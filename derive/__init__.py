"""derive: from a recurrent cell's forward equations to a verified backward pass.

The stages, each a module, in the order `pipeline` runs them: spec (TOML -> CellSpec), parse
(equation text -> syntax tree), model (-> SymPy assignments), derivation (-> adjoint lines),
backward_code (-> CSE and what each line reads), fast_plan (-> the fast path's layout, as
data); those results and the notation, computed once per cell, make a DerivedCell (cell). Then the views
(render_numpy, render_fast, render_latex, walkthrough; none reads another), emit (-> file
contents through the templates, and the blog flavours) and atomic_write (-> disk, all or none,
with buildcache skipping unchanged cells). compare and metrics serve `derive compare`; the
experiments subpackage `derive train` and `derive race`.

The names below are imported on first use: importing `derive` itself loads nothing heavy, so
`python -m derive` and the `derive` command can catch Ctrl-C while SymPy is still loading.
"""
from .errors import DeriveError, SpecError

__all__ = ["Cell", "DeriveError", "SpecError", "build", "derive_cell", "generate"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("build", "derive_cell", "generate"):
        from . import pipeline

        return getattr(pipeline, name)
    if name == "Cell":  # the Python API for notebooks and scripts: derive/api.py
        from .api import Cell

        return Cell
    raise AttributeError(f"module 'derive' has no attribute {name!r}")
