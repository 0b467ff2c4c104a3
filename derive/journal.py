"""The journal of a write in progress, and the recovery of a build that was cut short.

`.derive-journal.json` is what atomic_write's protocol writes first (its steps 1 and 3): every
target with its temporary file NAME.derive-new, its backup NAME.derive-old (None for a new file)
and the SHA-256 of its new content, the folders the build will create, and the state, "staging"
while the temporary files are written, "renaming" once every new content is on disk. A crash
(SIGKILL, power loss) leaves the journal, and the next build (or --check) recovers before
anything else:

- state "staging": the targets were never touched; remove the temporary files, the backups
  and the folders listed (undo).
- state "renaming": roll forward when every target either still has its complete temporary
  file (its hash matches) or already holds the new content (its hash matches): finish the
  renames, drop the backups. Otherwise (a rollback was itself interrupted) roll back: rename
  each backup into place, remove each new file that holds the new content, remove the temps.

Both are idempotent, so a crash during recovery is recovered by the next build in turn.
"""
from __future__ import annotations

import json
import os
import sys

from .errors import OutputError
from .folder import NEW_SUFFIX, Folder, path_parts, sha256
from .interrupts import signals_blocked

JOURNAL = ".derive-journal.json"
OLD_SUFFIX = ".derive-old"  # a target's backup while it is replaced (a hard link, see atomic_write)


def journal_text(state: str, dirs: list[str], entries: list[dict]) -> bytes:
    return (json.dumps({"version": 1, "state": state, "dirs": dirs, "entries": entries}, indent=1) + "\n").encode()


def _read_journal(folder: Folder) -> dict | None:
    data = folder.read(JOURNAL)
    if data is None:
        return None
    try:
        journal = json.loads(data)
        for relative in journal["dirs"]:
            path_parts(relative)
        for entry in journal["entries"]:
            target = entry["target"]
            path_parts(target)
            if entry["temp"] != sibling(target, NEW_SUFFIX) or entry["backup"] not in (None, sibling(target, OLD_SUFFIX)):
                raise ValueError(entry)
        if journal["state"] not in ("staging", "renaming"):
            raise ValueError(journal["state"])
        return journal
    except (ValueError, KeyError, TypeError, OutputError):
        raise OutputError(f"{folder.path / JOURNAL} is not a journal derive wrote; check the folder, "
                          f"then remove that file") from None


def sibling(target: str, suffix: str) -> str:
    """NAME's temporary file or backup beside it: .NAME.derive-new, .NAME.derive-old."""
    folders, _, name = target.rpartition("/")
    return (folders + "/" if folders else "") + f".{name}{suffix}"


def _digest_of(folder: Folder, relative: str) -> str | None:
    data = folder.read(relative)
    return None if data is None else sha256(data)


def _forward_possible(folder: Folder, journal: dict) -> bool:
    return all(_digest_of(folder, entry["temp"]) == entry["digest"] or _digest_of(folder, entry["target"]) == entry["digest"]
               for entry in journal["entries"])


def _roll_forward(folder: Folder, journal: dict) -> None:
    for entry in journal["entries"]:
        if folder.exists(entry["temp"]):
            folder.rename(entry["temp"], entry["target"])
    folder.sync(touched(journal))
    for entry in journal["entries"]:
        if entry["backup"]:
            folder.remove(entry["backup"])


def roll_back(folder: Folder, journal: dict) -> None:
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
    folder.sync(touched(journal))


def touched(journal: dict) -> set[tuple[str, ...]]:
    return {tuple(path_parts(entry["target"])[:-1]) for entry in journal["entries"]} | {()}


def end_journal(folder: Folder) -> None:
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
    with signals_blocked():
        try:
            if journal["state"] == "renaming" and _forward_possible(folder, journal):
                _roll_forward(folder, journal)
                what = f"finished it ({count} files written)"
            else:
                roll_back(folder, journal)
                what = f"undid it ({count} files as they were)"
            end_journal(folder)
        except OSError as error:
            raise OutputError(f"cannot recover the interrupted build in {folder.path} ({error.filename}: "
                              f"{error.strerror}); {JOURNAL} stays, for the next build to try again") from None
    print(f"derive: recovered an interrupted build in {folder.path}: {what}", file=sys.stderr, flush=True)
