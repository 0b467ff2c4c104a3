"""Bounds on the work a small input can ask for: file sizes, parameter counts, time per cell.

Every cap here is checked before the work it bounds, and refusing is a DeriveError (one line,
no traceback, nothing written):
- files (a spec, a training text) are opened non-blocking, must be regular files once links are
  resolved (a FIFO, /dev/zero or a terminal is refused, never read), and are read incrementally,
  at most cap + 1 bytes;
- the parameters of a cell are counted at the sizes a command will allocate them (spec.py's
  check_parameter_count) before anything is allocated;
- deriving one cell (lowering, derivation) has a wall-clock budget, checked between assignments.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import stat
import time
from pathlib import Path

from .errors import DeriveError

READ_CHUNK = 64 * 1024

# Parameters (entries of all parameter arrays) a command may ask for, at the sizes it uses.
MAX_PARAMETERS_AT_SEED_SIZES = 10_000_000  # any spec, at D=50, H=100 (lstm has 60,400): 80 MB of float64
MAX_PARAMETERS = {
    "compare": 1_000_000_000,  # only counted, never allocated: a cost table up to a billion parameters
    "gradcheck": 100_000,  # two forward passes per entry (greff_fgr, the largest built-in cell, has 70,080 at D=H=64)
    "train": 20_000_000,  # params, gradients and Adam's two moments: 640 MB of float64
}

CELL_SECONDS = 60.0  # lowering or deriving one cell; every built-in cell takes well under a second

_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class FileRefused(DeriveError):
    """A file that is not a regular file, cannot be read, or is over its cap: `problem` says which."""

    def __init__(self, problem: str, expected: str = ""):
        self.problem, self.expected = problem, expected
        super().__init__(problem + (f"; expected {expected}" if expected else ""))


def read_capped(path: str | Path, cap: int, what: str = "a file") -> bytes:
    """The bytes of a regular file of at most `cap` bytes. Never blocks on a FIFO or device, never
    reads more than cap + 1 bytes. Raises FileRefused (no location: the caller adds it)."""
    try:
        resolved = Path(path).resolve()
        descriptor = os.open(resolved, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise FileRefused("no such file") from None
    except OSError as error:
        kind = _kind_without_opening(path)
        if kind:
            raise FileRefused(f"it is {kind}", f"{what}, a regular file") from None
        raise FileRefused(f"cannot read it ({error.strerror})") from None
    except (RuntimeError, ValueError) as error:  # a symlink loop on old Pythons, a NUL in the path
        raise FileRefused(f"cannot read it ({error})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
            raise FileRefused(f"it is {kind}", f"{what}, a regular file")
        chunks, total = [], 0
        while total <= cap:
            try:
                chunk = os.read(descriptor, min(READ_CHUNK, cap + 1 - total))
            except BlockingIOError:  # a regular file never does this; refuse rather than wait
                raise FileRefused("it would block", f"{what}, a regular file") from None
            except OSError as error:
                raise FileRefused(f"cannot read it ({error.strerror})") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:
            raise FileRefused(f"it is larger than {cap:,} bytes", f"at most {cap:,} bytes")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _kind_without_opening(path) -> str:
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return ""
    return next((name for test, name in _FILE_KINDS if test(mode)), "")


# --------------------------------------------------------------------------- time per cell

_deadline: contextvars.ContextVar[tuple[float, str] | None] = contextvars.ContextVar("derive_deadline", default=None)


class CellTimeout(DeriveError):
    """Deriving one cell took longer than CELL_SECONDS."""


@contextlib.contextmanager
def cell_deadline(what: str, seconds: float | None = None):
    """Within this block, check_deadline() raises CellTimeout once `seconds` (default CELL_SECONDS) have passed.
    Nested blocks keep the outer, earlier deadline."""
    budget = CELL_SECONDS if seconds is None else seconds
    outer = _deadline.get()
    end = time.monotonic() + budget
    token = _deadline.set(outer if outer and outer[0] <= end else (end, f"{what} took more than {budget:g} s"))
    try:
        yield
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    current = _deadline.get()
    if current is not None and time.monotonic() > current[0]:
        raise CellTimeout(f"{current[1]}; expected a cell that derives in under {CELL_SECONDS:g} s "
                          "(fewer or shorter equations)")
