"""The output folder, and every file in it reached without following a symbolic link.

Everything derive writes, reads back as its own or renames lies inside the output folder and
is reached without following a symbolic link: every folder below it is opened with O_NOFOLLOW
and every file operation is relative to that folder's descriptor. A link (or anything but a
regular file) where derive would write is refused with a message, before anything is written.
The output folder itself is the one path followed as given: the user named it, and a
`generated -> /elsewhere/generated` link is a common, deliberate setup. A link to nothing is
reported as such.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from .errors import OutputError

NEW_SUFFIX = ".derive-new"  # a temporary file beside its target, renamed over it when complete
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def as_bytes(content: str | bytes) -> bytes:
    """Text is written as UTF-8; bytes (a PNG) as they are."""
    return content if isinstance(content, bytes) else content.encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def path_parts(relative: str) -> list[str]:
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
        parts = path_parts(relative)
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
            self.dir_fd(tuple(path_parts(relative)))  # a folder is fine; a link or a file is refused

    def remove_dir(self, relative: str) -> None:
        """Remove a folder this build created, if it is there and empty."""
        folders = tuple(path_parts(relative))
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


def changed_in(folder: Folder, files: dict[str, str | bytes]) -> list[str]:
    """Relative paths whose content in the folder differs from `files` (or that are missing)."""
    return [relative for relative, content in files.items() if folder.read(relative) != as_bytes(content)]
