"""Writing outputs so that no failure, signal or crash leaves a half-written or mixed folder.

The write protocol, for the files that changed (all under one lock, see lock):

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
leaves the journal, and the next build (or --check) recovers before anything else (journal).

Test hook: DERIVE_TEST_KILL_AT_RENAME=K makes the process send itself DERIVE_TEST_KILL_SIGNAL
(KILL by default, or TERM, HUP, INT) just before the K-th rename of step 4 (1-based). It exists
for tests/test_crash_consistency.py and does nothing when unset.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .errors import OutputError
from .folder import NEW_SUFFIX, Folder, as_bytes, changed_in, path_parts, sha256
from .interrupts import signals_blocked
from .journal import JOURNAL, OLD_SUFFIX, end_journal, journal_text, roll_back, sibling, touched
from .lock import open_folder

KILL_AT_RENAME = "DERIVE_TEST_KILL_AT_RENAME"  # test hook, see the module docstring
KILL_SIGNAL = "DERIVE_TEST_KILL_SIGNAL"


def _plan(folder: Folder, changed: list[str], files: dict[str, str | bytes]) -> tuple[list[str], list[dict]]:
    """The folders to create (parents first) and one journal entry per changed file."""
    dirs: list[str] = []
    entries = []
    for relative in changed:
        folder.require_file_or_missing(relative)
        parts = path_parts(relative)
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix not in dirs and folder.dir_fd(tuple(parts[:depth])) is None:
                dirs.append(prefix)
        exists = folder.kind(relative) == "file"
        entries.append({"target": relative, "temp": sibling(relative, NEW_SUFFIX),
                        "backup": sibling(relative, OLD_SUFFIX) if exists else None,
                        "digest": sha256(as_bytes(files[relative]))})
    return dirs, entries


def _stage(folder: Folder, dirs: list[str], entries: list[dict], files: dict[str, str | bytes]) -> None:
    for relative in dirs:
        folder.make_dir(relative)
    for entry in entries:
        target = entry["target"]
        folder.write_new(entry["temp"], as_bytes(files[target]), folder.mode(target) if entry["backup"] else None)
        if entry["backup"]:
            folder.link(target, entry["backup"])
    folder.sync({tuple(path_parts(relative)) for relative in dirs} | touched({"entries": entries}))


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
    folder.sync(touched({"entries": entries}))


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
        folder.replace_file(JOURNAL, journal_text("staging", dirs, entries))
        _stage(folder, dirs, entries, files)
        folder.replace_file(JOURNAL, journal_text("renaming", dirs, entries))
        journal["state"] = "renaming"
        _rename_all(folder, entries)
    except BaseException as error:  # a full disk, Ctrl-C, SIGTERM, a bug: put every file back
        _undo(folder, journal)
        if isinstance(error, OSError):
            raise _failure(folder, error) from None
        raise
    with signals_blocked():
        for entry in entries:
            if entry["backup"]:
                folder.remove(entry["backup"])
        end_journal(folder)
    return changed


def _undo(folder: Folder, journal: dict) -> None:
    """Roll back in the process; if even that fails, the journal stays for the next build."""
    with signals_blocked():
        try:
            roll_back(folder, journal)
            end_journal(folder)
        except OSError as error:
            raise OutputError(f"cannot undo a failed write in {folder.path} ({error.strerror}); "
                              f"the next derive build into it will finish the recovery") from None


def write_files(out_dir: Path, files: dict[str, str | bytes]) -> list[str]:
    """Write the files that changed, all or none; returns their relative paths. Raises OutputError."""
    with open_folder(out_dir) as folder:
        return write_into(folder, files)
