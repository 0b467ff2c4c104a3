"""Make glibc's malloc keep the memory NumPy frees, instead of handing it back to the system.

By default glibc returns freed memory at the top of the heap to the kernel (above 128 KiB), so
the next step's arrays fault their pages in again. A sequence loop that allocates each step's
arrays pays that every step: at (50, 32, 128, 128) float32 it was about a third of the time here.
torch does not pay it, because its caching allocator keeps freed blocks. With the thresholds
raised, NumPy keeps them too. A user gets the same without code, from the environment:

    MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456 python train.py
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_TOP_PAD = -2
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed memory at the top of the heap
TOP_PAD = 256 << 20  # and grow the heap 256 MiB at a time
ENVIRONMENT = f"MALLOC_TRIM_THRESHOLD_={TRIM_THRESHOLD} MALLOC_TOP_PAD_={TOP_PAD}"


def keep_freed_memory() -> bool:
    """Raise glibc's trim threshold and top pad in this process; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_TOP_PAD, TOP_PAD))
