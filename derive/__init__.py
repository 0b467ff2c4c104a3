"""derive: from a recurrent cell's forward equations to a verified backward pass.

The stages, each a module: spec (TOML -> CellSpec), parse (equation text -> syntax tree),
model (-> SymPy assignments), derivation (-> adjoint lines), fused (-> the fast path's plan),
render_numpy / render_fast / render_latex and emit (-> file contents), files (-> disk, with
buildcache skipping unchanged cells). `pipeline` runs them in order; compare and metrics
serve `derive compare`.
"""
from .errors import DeriveError, SpecError
from .pipeline import build, derive_cell, generate

__all__ = ["DeriveError", "SpecError", "build", "derive_cell", "generate"]
__version__ = "0.1.0"
