"""SIGTERM and SIGHUP during a write are treated like Ctrl-C (SIGINT): they raise Interrupted, a
KeyboardInterrupt, so the write in progress is rolled back in the process (see atomic_write) and
the program ends with one line, instead of dying between two renames. A rollback or a recovery
runs with all three blocked: they are idempotent, but no signal should cut one in half.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # turned into Interrupted during a write


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a write: treated like Ctrl-C (the write is rolled back)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_interrupt():
    """SIGTERM and SIGHUP raise Interrupted, as SIGINT raises KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Interrupted(signum)

    previous = {number: signal.signal(number, interrupt) for number in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def signals_blocked():
    """No signal may cut a rollback or a recovery in half (they are idempotent, but still)."""
    blocked = {signal.SIGINT, *HANDLED_SIGNALS}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
