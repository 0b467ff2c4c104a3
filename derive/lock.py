"""The output folder's lock: one build at a time writes into (or recovers) a folder.

Builds into one folder are serialised by fcntl.flock on `.derive-lock` (which holds the
owner's pid, for the message of a build that waits), held from before recovery to after the
cache is saved. The kernel releases a flock when its process dies, so the lock can never be
left stale. The holder removes the file before it lets go, and a waiter that then holds a
removed file's lock tries again with the file that is there, so a finished build leaves no
lock file behind (a killed one leaves an unlocked one, reused by the next build).
"""
from __future__ import annotations

import fcntl
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError
from .folder import Folder
from .interrupts import signals_interrupt
from .journal import JOURNAL, recover

LOCK = ".derive-lock"
LOCK_TIMEOUT = 60.0  # seconds a build waits for another one into the same folder
LOCK_TIMEOUT_VARIABLE = "DERIVE_LOCK_TIMEOUT"  # overrides LOCK_TIMEOUT (tests)


def _lock_timeout() -> float:
    try:
        return float(os.environ.get(LOCK_TIMEOUT_VARIABLE, LOCK_TIMEOUT))
    except ValueError:
        return LOCK_TIMEOUT


def _acquire(folder: Folder, writer: bool) -> int | None:
    """Hold the folder's lock (waiting, with a message, up to the timeout); a writer puts its pid
    in it. A reader (--check) opens it read-only, so that --check works in a read-only folder,
    and needs none if there is no lock file (no build is writing)."""
    deadline, told = time.monotonic() + _lock_timeout(), False
    while True:
        handle = _open_lock(folder, writer)
        if handle is None:
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(handle, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            if time.monotonic() > deadline:
                raise OutputError(f"another derive build into {folder.path} (pid {owner}) still holds "
                                  f"{folder.path / LOCK} after {_lock_timeout():g} s; try again when it has finished") from None
            if not told:
                print(f"derive: waiting for another derive build into {folder.path} (pid {owner})", file=sys.stderr, flush=True)
                told = True
            time.sleep(0.05)
            continue
        if _is_the_lock_file(folder, handle):
            break
        os.close(handle)  # the holder removed it as we opened it: lock the one that is there now
    if writer:
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
    return handle


def _open_lock(folder: Folder, writer: bool) -> int | None:
    folder.require_file_or_missing(LOCK)
    access = os.O_RDWR | os.O_CREAT if writer else os.O_RDONLY
    try:
        return os.open(LOCK, access | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666, dir_fd=folder.fd)
    except FileNotFoundError:
        return None


def _is_the_lock_file(folder: Folder, handle: int) -> bool:
    try:
        return os.lstat(LOCK, dir_fd=folder.fd).st_ino == os.fstat(handle).st_ino
    except FileNotFoundError:
        return False


def _release(folder: Folder, handle: int, writer: bool) -> None:
    """A writer removes the lock file while it still holds the lock (waiters then lock a new one,
    see _is_the_lock_file), so a finished build leaves no file behind; a killed one leaves an
    empty-handed file that the kernel has already unlocked."""
    if writer:
        folder.remove(LOCK)
    os.close(handle)


@contextmanager
def open_folder(out_dir: Path, create: bool = True):
    """The output folder, locked, with any interrupted build recovered first.

    With create False (--check), a folder or lock that does not exist is not created, and no
    lock is taken unless there is a journal to recover."""
    folder = Folder(out_dir, create=create)
    lock, writer = None, create
    try:
        if folder.fd is not None and (create or folder.exists(LOCK) or folder.exists(JOURNAL)):
            writer = create or folder.exists(JOURNAL)  # --check writes only to recover
            lock = _acquire(folder, writer)
            recover(folder)
        with signals_interrupt():
            yield folder
    except OSError as error:  # a folder that cannot be read or locked: before any write
        raise OutputError(f"cannot write {error.filename or folder.path}: {error.strerror}; nothing was changed") from None
    finally:
        if lock is not None:
            _release(folder, lock, writer)
        folder.close()
