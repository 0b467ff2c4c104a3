"""Writing outputs so that a failure never leaves a half-written or mixed set of files.

Every file is first written to a temporary file beside its target. Only when all of them
are written are they renamed into place (a rename within a folder is atomic). If a rename
fails part-way, the files already replaced are restored from backups taken just before,
so the folder ends as it began.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError


def _as_bytes(content: str | bytes) -> bytes:
    """Text is written as UTF-8; bytes (a PNG) as they are."""
    return content if isinstance(content, bytes) else content.encode("utf-8")


def changed_files(out_dir: Path, files: dict[str, str | bytes]) -> list[str]:
    """Relative paths whose content on disk differs from `files` (or that are missing)."""
    changed = []
    for relative, content in files.items():
        target = out_dir / relative
        try:
            same = target.read_bytes() == _as_bytes(content)
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


def _stage(target: Path, data: bytes) -> Path:
    """Write data to a temporary file beside target; return its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.chmod(temporary, _mode_for(target))
    return Path(temporary)


def write_files(out_dir: Path, files: dict[str, str | bytes]) -> list[str]:
    """Write the files that changed, all or none; returns their relative paths. Raises OutputError."""
    changed = changed_files(out_dir, files)
    staged: list[tuple[Path, Path]] = []  # (temporary, target)
    replaced: list[tuple[Path, Path | None]] = []  # (target, backup of what it held, or None if new)
    try:
        for relative in changed:
            target = out_dir / relative
            staged.append((_stage(target, _as_bytes(files[relative])), target))
        for temporary, target in staged:
            backup = _stage(target, target.read_bytes()) if target.exists() else None
            replaced.append((target, backup))
            os.replace(temporary, target)
    except OSError as error:
        _roll_back(replaced)
        raise OutputError(f"cannot write {error.filename or out_dir}: {error.strerror}; nothing was changed") from None
    except BaseException:  # Ctrl-C or a bug between two renames: put every file back, then let it through
        _roll_back(replaced)
        raise
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    for _, backup in replaced:
        if backup is not None:
            backup.unlink(missing_ok=True)
    return changed


def _roll_back(replaced: list[tuple[Path, Path | None]]) -> None:
    """Put back what each replaced file held (or remove it if it was new)."""
    for target, backup in reversed(replaced):
        if backup is None:
            target.unlink(missing_ok=True)
        else:
            os.replace(backup, target)
