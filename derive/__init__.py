"""derive: from a recurrent cell's forward equations to a verified backward pass.

The stages, each a module: spec (TOML -> CellSpec), parse (equation text -> syntax tree),
model (-> SymPy assignments), derivation (-> adjoint lines), fused (-> the fast path's plan),
render_numpy / render_fast / render_latex and emit (-> file contents), files (-> disk, with
buildcache skipping unchanged cells). `pipeline` runs them in order; compare and metrics
serve `derive compare`.

The names below are imported on first use: importing `derive` itself loads nothing heavy, so
`python -m derive` and the `derive` command can catch Ctrl-C while SymPy is still loading.
"""
from .errors import DeriveError, SpecError

__all__ = ["DeriveError", "SpecError", "build", "derive_cell", "generate"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("build", "derive_cell", "generate"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")
