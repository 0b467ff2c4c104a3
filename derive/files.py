"""Writing outputs so that no failure, signal or crash leaves a half-written or mixed folder.

Everything derive writes, reads back as its own or renames lies inside the output folder and
is reached without following a symbolic link: every folder below it is opened with O_NOFOLLOW
and every file operation is relative to that folder's descriptor. A link (or anything but a
regular file) where derive would write is refused with a message, before anything is written.
The output folder itself is the one path followed as given: the user named it, and a
`generated -> /elsewhere/generated` link is a common, deliberate setup. A link to nothing is
reported as such.

The write protocol, for the files that changed (all under one lock, see below):

1. Journal, state "staging": `.derive-journal.json` (written to a temporary file, fsynced,
   renamed, folder fsynced) names every target, its temporary file NAME.derive-new, its
   backup NAME.derive-old (a hard link to what the target holds, None for a new file), the
   SHA-256 of its new content, and the folders this build will create.
2. Staging: create those folders, write and fsync every temporary file, link every backup.
   A failure here (a full disk) removes everything of step 1-2: nothing else was touched.
3. Journal, state "renaming" (atomically, as in 1): from now on every new content is on disk.
4. Rename each temporary file over its target (one atomic rename each); fsync the folders.
5. Remove the backups, then the journal (its removal is the commit).

A failure or SIGINT, SIGTERM or SIGHUP during step 4 rolls back in the process: backups are
renamed back, new files removed, folders it created removed. A crash (SIGKILL, power loss)
leaves the journal, and the next build (or --check) recovers before anything else:

- state "staging": the targets were never touched; remove the temporary files, the backups
  and the folders listed (undo).
- state "renaming": roll forward when every target either still has its complete temporary
  file (its hash matches) or already holds the new content (its hash matches): finish the
  renames, drop the backups. Otherwise (a rollback was itself interrupted) roll back: rename
  each backup into place, remove each new file that holds the new content, remove the temps.

Both are idempotent, so a crash during recovery is recovered by the next build in turn.

Concurrency: builds into one folder are serialised by fcntl.flock on `.derive-lock` (which
holds the owner's pid, for the message of a build that waits), held from before recovery to
after the cache is saved. The kernel releases a flock when its process dies, so the lock can
never be left stale. The holder removes the file before it lets go, and a waiter that then
holds a removed file's lock tries again with the file that is there, so a finished build
leaves no lock file behind (a killed one leaves an unlocked one, reused by the next build).

Test hook: DERIVE_TEST_KILL_AT_RENAME=K makes the process send itself DERIVE_TEST_KILL_SIGNAL
(KILL by default, or TERM, HUP, INT) just before the K-th rename of step 4 (1-based). It exists
for tests/test_crash_consistency.py and does nothing when unset.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import signal
import stat
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

JOURNAL = ".derive-journal.json"
LOCK = ".derive-lock"
NEW_SUFFIX = ".derive-new"
OLD_SUFFIX = ".derive-old"
LOCK_TIMEOUT = 60.0  # seconds a build waits for another one into the same folder
LOCK_TIMEOUT_VARIABLE = "DERIVE_LOCK_TIMEOUT"  # overrides LOCK_TIMEOUT (tests)
KILL_AT_RENAME = "DERIVE_TEST_KILL_AT_RENAME"  # test hook, see the module docstring
KILL_SIGNAL = "DERIVE_TEST_KILL_SIGNAL"
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # turned into Interrupted during a write
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a write: treated like Ctrl-C (the write is rolled back)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _as_bytes(content: str | bytes) -> bytes:
    """Text is written as UTF-8; bytes (a PNG) as they are."""
    return content if isinstance(content, bytes) else content.encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parts(relative: str) -> list[str]:
    """A relative path's components; anything that could leave the folder is refused."""
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise OutputError(f"{relative!r}: expected a relative path inside the output folder")
    return parts


def _refusal(folder: Path, relative: str, what: str) -> OutputError:
    return OutputError(f"refusing to use {folder / relative}: {what}; derive only writes regular files inside "
                       f"the output folder, reached without following symbolic links (remove it or choose another --out)")


def _explain(parent_fd: int, name: str) -> str:
    try:
        mode = os.lstat(name, dir_fd=parent_fd).st_mode
    except OSError:
        return "it cannot be opened"
    if stat.S_ISLNK(mode):
        return f"it is a symbolic link (to {os.readlink(name, dir_fd=parent_fd)})"
    return "it is not a folder" if not stat.S_ISREG(mode) else "it is a file, not a folder"


def _resolve_root(out_dir: Path) -> Path:
    """The output folder as given, followed if it is a link; a link to nothing is reported."""
    if out_dir.is_symlink() and not out_dir.exists():
        raise OutputError(f"cannot write {out_dir}: it is a symbolic link to {os.readlink(out_dir)}, which does not "
                          f"exist; create that folder or choose another --out; nothing was changed")
    return out_dir


class Folder:
    """The output folder, opened once; paths below it are walked without following links."""

    def __init__(self, out_dir: Path, create: bool):
        self.path = _resolve_root(Path(out_dir))
        self.fd: int | None = None
        self._dirs: dict[tuple[str, ...], int] = {}
        try:
            if create:
                self.path.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            if create:
                raise OutputError(f"cannot write {self.path}: it vanished while it was created; nothing was changed") from None
        except (FileExistsError, NotADirectoryError):
            raise OutputError(f"cannot write {self.path}: it is not a folder; nothing was changed") from None
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {error.strerror}; nothing was changed") from None
        if self.fd is not None:
            self._dirs[()] = self.fd

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        self.fd = None

    # -- walking without links --------------------------------------------------------------

    def dir_fd(self, folders: tuple[str, ...]) -> int | None:
        """The descriptor of a folder below the root, or None if it does not exist."""
        if folders in self._dirs or not folders:
            return self._dirs.get(folders)
        parent = self.dir_fd(folders[:-1])
        if parent is None:
            return None
        try:
            fd = os.open(folders[-1], _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            raise _refusal(self.path, "/".join(folders), _explain(parent, folders[-1])) from None
        self._dirs[folders] = fd
        return fd

    def _split(self, relative: str) -> tuple[tuple[str, ...], str]:
        parts = _parts(relative)
        return tuple(parts[:-1]), parts[-1]

    def _located(self, relative: str) -> tuple[int | None, str]:
        folders, name = self._split(relative)
        return self.dir_fd(folders), name

    def kind(self, relative: str) -> str:
        """'missing', 'file' (a regular file) or what else stands there ('a symbolic link ...')."""
        fd, name = self._located(relative)
        if fd is None:
            return "missing"
        try:
            mode = os.lstat(name, dir_fd=fd).st_mode
        except FileNotFoundError:
            return "missing"
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISLNK(mode):
            return f"it is a symbolic link (to {os.readlink(name, dir_fd=fd)})"
        return "it is not a regular file"

    def require_file_or_missing(self, relative: str) -> None:
        kind = self.kind(relative)
        if kind not in ("file", "missing"):
            raise _refusal(self.path, relative, kind)

    def read(self, relative: str) -> bytes | None:
        """A regular file's bytes, None if missing; a link or a non-file is refused."""
        fd, name = self._located(relative)
        if fd is None:
            return None
        try:
            handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            raise _refusal(self.path, relative, self.kind(relative)) from None
        with os.fdopen(handle, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise _refusal(self.path, relative, "it is not a regular file")
            return stream.read()

    def exists(self, relative: str) -> bool:
        return self.kind(relative) != "missing"

    def remove(self, relative: str) -> None:
        fd, name = self._located(relative)
        if fd is not None:
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass

    def rename(self, source: str, target: str) -> None:
        """Rename within one folder (the only renames derive makes)."""
        fd, name = self._located(source)
        os.replace(name, self._split(target)[1], src_dir_fd=fd, dst_dir_fd=fd)

    def make_dir(self, relative: str) -> None:
        fd, name = self._located(relative)
        try:
            os.mkdir(name, dir_fd=fd)
        except FileExistsError:
            self.dir_fd(tuple(_parts(relative)))  # a folder is fine; a link or a file is refused

    def remove_dir(self, relative: str) -> None:
        """Remove a folder this build created, if it is there and empty."""
        folders = tuple(_parts(relative))
        fd = self._dirs.pop(folders, None)
        if fd is not None:
            os.close(fd)
        parent = self.dir_fd(folders[:-1])
        try:
            if parent is not None:
                os.rmdir(folders[-1], dir_fd=parent)
        except OSError:
            pass  # gone already, or holds something that is not ours

    def write_new(self, relative: str, data: bytes, mode: int | None) -> None:
        """Write a fresh file (replacing a leftover of ours) and fsync it; mode None: the umask's."""
        fd, name = self._located(relative)
        self.remove(relative)
        handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                         0o666, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view):]
            if mode is not None:
                os.fchmod(handle, mode)
            os.fsync(handle)
        finally:
            os.close(handle)

    def link(self, source: str, target: str) -> None:
        """A hard link as backup (no copy, no space); a copy where links are not supported."""
        fd, name = self._located(source)
        self.remove(target)
        try:
            os.link(name, self._split(target)[1], src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            self.write_new(target, self.read(source) or b"", self.mode(source))

    def mode(self, relative: str) -> int:
        fd, name = self._located(relative)
        return os.lstat(name, dir_fd=fd).st_mode & 0o7777

    def sync(self, folders: set[tuple[str, ...]]) -> None:
        for key in sorted(folders):
            fd = self.dir_fd(key)
            if fd is not None:
                os.fsync(fd)

    def replace_file(self, relative: str, data: bytes) -> None:
        """One file replaced atomically (a temporary file, then a rename): the cache, the journal."""
        self.require_file_or_missing(relative)
        temporary = relative + NEW_SUFFIX
        try:
            self.write_new(temporary, data, None)
            self.rename(temporary, relative)
        except BaseException:
            self.remove(temporary)
            raise
        self.sync({self._split(relative)[0]})


# -- reading a folder's files (no lock) -------------------------------------------------------


def read_own(out_dir: Path, relative: str) -> bytes | None:
    """A file derive wrote in out_dir, read without following links; None if it is not there."""
    folder = Folder(out_dir, create=False)
    try:
        return folder.read(relative) if folder.fd is not None else None
    finally:
        folder.close()


def changed_files(out_dir: Path, files: dict[str, str | bytes]) -> list[str]:
    """Relative paths whose content on disk differs from `files` (or that are missing)."""
    folder = Folder(out_dir, create=False)
    try:
        return changed_in(folder, files) if folder.fd is not None else list(files)
    finally:
        folder.close()


def changed_in(folder: Folder, files: dict[str, str | bytes]) -> list[str]:
    return [relative for relative, content in files.items() if folder.read(relative) != _as_bytes(content)]


# -- the lock ---------------------------------------------------------------------------------


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
def _signals_interrupt():
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
def _signals_blocked():
    """No signal may cut a rollback or a recovery in half (they are idempotent, but still)."""
    blocked = {signal.SIGINT, *HANDLED_SIGNALS}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


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
        with _signals_interrupt():
            yield folder
    except OSError as error:  # a folder that cannot be read or locked: before any write
        raise OutputError(f"cannot write {error.filename or folder.path}: {error.strerror}; nothing was changed") from None
    finally:
        if lock is not None:
            _release(folder, lock, writer)
        folder.close()


# -- the journal ------------------------------------------------------------------------------


def _journal_text(state: str, dirs: list[str], entries: list[dict]) -> bytes:
    return (json.dumps({"version": 1, "state": state, "dirs": dirs, "entries": entries}, indent=1) + "\n").encode()


def _read_journal(folder: Folder) -> dict | None:
    data = folder.read(JOURNAL)
    if data is None:
        return None
    try:
        journal = json.loads(data)
        for relative in journal["dirs"]:
            _parts(relative)
        for entry in journal["entries"]:
            target = entry["target"]
            _parts(target)
            if entry["temp"] != _sibling(target, NEW_SUFFIX) or entry["backup"] not in (None, _sibling(target, OLD_SUFFIX)):
                raise ValueError(entry)
        if journal["state"] not in ("staging", "renaming"):
            raise ValueError(journal["state"])
        return journal
    except (ValueError, KeyError, TypeError, OutputError):
        raise OutputError(f"{folder.path / JOURNAL} is not a journal derive wrote; check the folder, "
                          f"then remove that file") from None


def _sibling(target: str, suffix: str) -> str:
    """NAME's temporary file or backup beside it: .NAME.derive-new, .NAME.derive-old."""
    folders, _, name = target.rpartition("/")
    return (folders + "/" if folders else "") + f".{name}{suffix}"


def _digest_of(folder: Folder, relative: str) -> str | None:
    data = folder.read(relative)
    return None if data is None else _sha256(data)


def _forward_possible(folder: Folder, journal: dict) -> bool:
    return all(_digest_of(folder, entry["temp"]) == entry["digest"] or _digest_of(folder, entry["target"]) == entry["digest"]
               for entry in journal["entries"])


def _roll_forward(folder: Folder, journal: dict) -> None:
    for entry in journal["entries"]:
        if folder.exists(entry["temp"]):
            folder.rename(entry["temp"], entry["target"])
    folder.sync(_touched(journal))
    for entry in journal["entries"]:
        if entry["backup"]:
            folder.remove(entry["backup"])


def _roll_back(folder: Folder, journal: dict) -> None:
    """Put back what each target held (or remove it if it was new); drop what the build made."""
    renaming = journal["state"] == "renaming"
    for entry in reversed(journal["entries"]):
        renamed = renaming and not folder.exists(entry["temp"])
        if entry["backup"] and folder.exists(entry["backup"]):
            if renamed:
                folder.rename(entry["backup"], entry["target"])
            else:
                folder.remove(entry["backup"])
        elif entry["backup"] is None and renamed and _digest_of(folder, entry["target"]) == entry["digest"]:
            folder.remove(entry["target"])
        folder.remove(entry["temp"])
    for relative in reversed(journal["dirs"]):
        folder.remove_dir(relative)
    folder.sync(_touched(journal))


def _touched(journal: dict) -> set[tuple[str, ...]]:
    return {tuple(_parts(entry["target"])[:-1]) for entry in journal["entries"]} | {()}


def _end_journal(folder: Folder) -> None:
    folder.remove(JOURNAL)
    folder.sync({()})


def _remove_single_file_temporaries(folder: Folder) -> None:
    """What replace_file leaves when killed: .derive-journal.json.derive-new (a journal being
    written: nothing was staged after it) or .derive-cache.json.derive-new (the targets are done)."""
    for name in os.listdir(folder.fd):
        if name.startswith(".derive-") and name.endswith(NEW_SUFFIX) and folder.kind(name) == "file":
            folder.remove(name)


def recover(folder: Folder) -> None:
    """Finish or undo a build that was cut short (its journal is there); say which, in one line."""
    _remove_single_file_temporaries(folder)
    journal = _read_journal(folder)
    if journal is None:
        return
    count = len(journal["entries"])
    with _signals_blocked():
        try:
            if journal["state"] == "renaming" and _forward_possible(folder, journal):
                _roll_forward(folder, journal)
                what = f"finished it ({count} files written)"
            else:
                _roll_back(folder, journal)
                what = f"undid it ({count} files as they were)"
            _end_journal(folder)
        except OSError as error:
            raise OutputError(f"cannot recover the interrupted build in {folder.path} ({error.filename}: "
                              f"{error.strerror}); {JOURNAL} stays, for the next build to try again") from None
    print(f"derive: recovered an interrupted build in {folder.path}: {what}", file=sys.stderr, flush=True)


# -- writing ----------------------------------------------------------------------------------


def _plan(folder: Folder, changed: list[str], files: dict[str, str | bytes]) -> tuple[list[str], list[dict]]:
    """The folders to create (parents first) and one journal entry per changed file."""
    dirs: list[str] = []
    entries = []
    for relative in changed:
        folder.require_file_or_missing(relative)
        parts = _parts(relative)
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix not in dirs and folder.dir_fd(tuple(parts[:depth])) is None:
                dirs.append(prefix)
        exists = folder.kind(relative) == "file"
        entries.append({"target": relative, "temp": _sibling(relative, NEW_SUFFIX),
                        "backup": _sibling(relative, OLD_SUFFIX) if exists else None,
                        "digest": _sha256(_as_bytes(files[relative]))})
    return dirs, entries


def _stage(folder: Folder, dirs: list[str], entries: list[dict], files: dict[str, str | bytes]) -> None:
    for relative in dirs:
        folder.make_dir(relative)
    for entry in entries:
        target = entry["target"]
        folder.write_new(entry["temp"], _as_bytes(files[target]), folder.mode(target) if entry["backup"] else None)
        if entry["backup"]:
            folder.link(target, entry["backup"])
    folder.sync({tuple(_parts(relative)) for relative in dirs} | _touched({"entries": entries}))


def _test_hook(index: int) -> None:
    """Test only: the process signals itself just before rename `index` (see the module docstring)."""
    wanted = os.environ.get(KILL_AT_RENAME)
    if wanted and int(wanted) == index:
        os.kill(os.getpid(), getattr(signal, "SIG" + os.environ.get(KILL_SIGNAL, "KILL")))
        time.sleep(1)  # a handled signal is raised here, in Python, before the rename


def _rename_all(folder: Folder, entries: list[dict]) -> None:
    for index, entry in enumerate(entries, 1):
        _test_hook(index)
        folder.rename(entry["temp"], entry["target"])
    folder.sync(_touched({"entries": entries}))


def _failure(folder: Folder, error: OSError) -> OutputError:
    return OutputError(f"cannot write {error.filename or folder.path}: {error.strerror}; nothing was changed")


def write_into(folder: Folder, files: dict[str, str | bytes]) -> list[str]:
    """Write the files that changed, all or none (the protocol above); returns their relative paths."""
    changed = changed_in(folder, files)
    if not changed:
        return []
    dirs, entries = _plan(folder, changed, files)
    journal = {"state": "staging", "dirs": dirs, "entries": entries}
    try:
        folder.replace_file(JOURNAL, _journal_text("staging", dirs, entries))
        _stage(folder, dirs, entries, files)
        folder.replace_file(JOURNAL, _journal_text("renaming", dirs, entries))
        journal["state"] = "renaming"
        _rename_all(folder, entries)
    except BaseException as error:  # a full disk, Ctrl-C, SIGTERM, a bug: put every file back
        _undo(folder, journal)
        if isinstance(error, OSError):
            raise _failure(folder, error) from None
        raise
    with _signals_blocked():
        for entry in entries:
            if entry["backup"]:
                folder.remove(entry["backup"])
        _end_journal(folder)
    return changed


def _undo(folder: Folder, journal: dict) -> None:
    """Roll back in the process; if even that fails, the journal stays for the next build."""
    with _signals_blocked():
        try:
            _roll_back(folder, journal)
            _end_journal(folder)
        except OSError as error:
            raise OutputError(f"cannot undo a failed write in {folder.path} ({error.strerror}); "
                              f"the next derive build into it will finish the recovery") from None


def write_files(out_dir: Path, files: dict[str, str | bytes]) -> list[str]:
    """Write the files that changed, all or none; returns their relative paths. Raises OutputError."""
    with open_folder(out_dir) as folder:
        return write_into(folder, files)
