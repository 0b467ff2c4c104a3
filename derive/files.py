"""Writing outputs so that a failure never leaves a half-written or mixed set of files.

Every file is first written to a temporary file beside its target; only when all of them
are written are they renamed into place (a rename within a folder is atomic).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError


def changed_files(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Relative paths whose content on disk differs from `files` (or that are missing)."""
    changed = []
    for relative, text in files.items():
        target = out_dir / relative
        try:
            same = target.read_bytes() == text.encode("utf-8")
        except OSError:
            same = False
        if not same:
            changed.append(relative)
    return changed


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual ones (mkstemp's are private)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_files(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Write the files that changed; returns their relative paths. Raises OutputError."""
    changed = changed_files(out_dir, files)
    staged: list[tuple[str, Path]] = []
    try:
        for relative in changed:
            target = out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            staged.append((temporary, target))
            with os.fdopen(handle, "wb") as stream:
                stream.write(files[relative].encode("utf-8"))
            os.chmod(temporary, _mode_for(target))
        for temporary, target in staged:
            os.replace(temporary, target)
    except OSError as error:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"cannot write {error.filename or out_dir}: {error.strerror}; nothing was changed") from None
    return changed
