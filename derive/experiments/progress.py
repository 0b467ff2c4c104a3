"""A one-line progress bar for long commands, drawn only on a terminal.

Redirected to a file or a pipe, the bar draws nothing, so logs keep only the lines a
command prints on purpose.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24  # characters of the bar itself


class Progress:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, every: float = 0.1):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.active = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every  # seconds between redraws: drawing each of 10,000 iterations costs time
        self.start = time.perf_counter()
        self.drawn_at = -every

    def update(self, done: int, detail: str = "") -> None:
        now = time.perf_counter()
        if not self.active or (now - self.drawn_at < self.every and done < self.total):
            return
        self.drawn_at = now
        filled = WIDTH * done // self.total
        rate = done / max(now - self.start, 1e-9)
        line = f"{self.label}[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{self.total} {rate:,.0f} it/s {detail}"
        self.stream.write("\r" + line[:160].ljust(80))
        self.stream.flush()

    def clear(self) -> None:
        """Remove the bar before ordinary output is printed, or at the end."""
        if self.active:
            self.stream.write("\r" + " " * 160 + "\r")
            self.stream.flush()
            self.drawn_at = -self.every
