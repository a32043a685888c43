"""A local-directory backend: one file per key, crash-safe writes.

Every write goes to a temporary file in the destination directory, is fsynced, then
moved into place (``os.replace`` to create-or-replace, ``os.link`` to create only if
absent) and the directory is fsynced. A crash at any point leaves either the old state or
the new one, plus at most an orphaned temporary file that listings ignore.

Temporary files are named ``.{16 hex digits}.partial``. Only *files* with exactly that name
are treated as temporary, and a key whose last segment has that form is refused, so no
key can collide with one; a directory segment may end in ``.partial`` like any other.

Every path segment of a key must fit the file system's 255-byte name limit.
:meth:`LocalBackend.check_key` applies that rule without I/O, and the store calls it with
the longest key a checkpoint name derives (its deletion marker's manifest) before it writes
anything, so a name that can be saved can also be deleted.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import CheckpointNotFound, ConfigError, ConflictError, IntegrityError, InvalidName
from .base import Backend, Progress, read_source

__all__ = ["LocalBackend"]

_PARTIAL = ".partial"
_TEMP_NAME = re.compile(r"\.[0-9a-f]{16}" + re.escape(_PARTIAL))
_CHUNK = 1024 * 1024
_NAME_MAX = 255


class LocalBackend(Backend):
    def __init__(self, root: str | os.PathLike[str], *, region: str = "local") -> None:
        self.region = region
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise ConfigError(f"local store path {str(self.root)!r} is not a directory") from exc

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    # -- helpers ----------------------------------------------------------------------
    def check_key(self, key: str) -> None:
        """InvalidName unless ``key`` maps to a path under the root (no I/O): no empty,
        ``.`` or ``..`` segment, no backslash or NUL, each segment at most 255 bytes, and a
        last segment not of the temporary-file form ``.{16 hex}.partial``."""
        parts = key.split("/")
        for part in parts:
            if part in ("", ".", "..") or "\\" in part or "\0" in part:
                raise InvalidName(f"key {key!r} cannot be stored as a local path")
            size = len(os.fsencode(part))
            if size > _NAME_MAX:
                raise InvalidName(
                    f"key {key!r} has a path segment of {size} bytes ({_shorten(part)}); local "
                    f"file systems allow at most {_NAME_MAX} bytes per segment"
                )
        if _TEMP_NAME.fullmatch(parts[-1]):
            raise InvalidName(f"key {key!r} ends in a segment of the form '.<16 hex>{_PARTIAL}', "
                              "reserved for the local backend's temporary files")

    def _path(self, key: str) -> Path:
        self.check_key(key)
        return self.root.joinpath(*key.split("/"))

    def _make_parent(self, path: Path) -> None:
        missing = []
        parent = path.parent
        while not parent.is_dir():
            missing.append(parent)
            parent = parent.parent
        if not missing:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing):  # make each new directory entry durable
            _fsync_dir(created.parent)

    def _write_temp(self, path: Path, chunks: Iterator[bytes]) -> Path:
        self._make_parent(path)
        temp = path.parent / f".{secrets.token_hex(8)}{_PARTIAL}"
        try:
            with open(temp, "xb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def _replace(self, path: Path, chunks: Iterator[bytes]) -> None:
        temp = self._write_temp(path, chunks)
        try:
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    # -- Backend ----------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise CheckpointNotFound(f"no file for key {key!r} under {self.root}") from None

    def put(self, key: str, data: bytes) -> None:
        self._replace(self._path(key), iter([data]))

    def put_if_absent(self, key: str, data: bytes) -> None:
        path = self._path(key)
        temp = self._write_temp(path, iter([data]))
        try:
            os.link(temp, path)
        except FileExistsError:
            raise ConflictError(f"key {key!r} already exists under {self.root}") from None
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise ConfigError(
                    f"local store at {self.root} needs hard links for atomic create-if-absent, "
                    f"which this file system refuses ({exc})"
                ) from exc
            raise
        finally:
            temp.unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def head(self, key: str) -> int | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if not _is_dir(st) else None

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        head, _, partial = prefix.rpartition("/")
        base = self.root.joinpath(*head.split("/")) if head else self.root
        yield from self._scan(base, f"{head}/" if head else "", partial)

    def _scan(self, directory: Path, rel: str, startswith: str = "") -> Iterator[tuple[str, int]]:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not entry.name.startswith(startswith):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._scan(Path(entry.path), f"{rel}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                if _TEMP_NAME.fullmatch(entry.name):
                    continue  # a write in progress, or orphaned by a crash
                try:
                    yield f"{rel}{entry.name}", entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue

    def list_modified(self, prefix: str) -> Iterator[tuple[str, int, float | None]]:
        for key, size in self.list(prefix):
            try:
                modified = self._path(key).stat().st_mtime
            except FileNotFoundError:
                continue  # deleted since the scan
            yield key, size, modified

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    def upload(self, key: str, source: BinaryIO, size: int, *,
               progress: Progress | None = None) -> None:
        self._replace(self._path(key), read_source(key, source, size, progress=progress))

    def get_tagged(self, key: str, *, max_bytes: int) -> tuple[bytes, str]:
        try:
            with open(self._path(key), "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > max_bytes:
                    raise IntegrityError(f"file for key {key!r} has {size} bytes, more than "
                                         f"{max_bytes}")
                data = fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise CheckpointNotFound(f"no file for key {key!r} under {self.root}") from None
        return data, _tag(data)

    def put_if_match(self, key: str, data: bytes, tag: str | None) -> str:
        """Compare-and-swap under an exclusive ``flock`` on the key's directory (held only
        for the compare and the atomic rename), so writer processes sharing the directory
        serialize; POSIX advisory locks, so only this library honours them."""
        path = self._path(key)
        self._make_parent(path)
        fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current: str | None = _tag(path.read_bytes())
            except FileNotFoundError:
                current = None
            if current != tag:
                raise ConflictError(f"key {key!r} under {self.root} changed (expected tag "
                                    f"{tag!r}, found {current!r})")
            self._replace(path, iter([data]))
        finally:
            os.close(fd)  # releases the lock
        return _tag(data)

    def download(self, key: str, sink: BinaryIO, *, progress: Progress | None = None,
                 expected_size: int | None = None) -> None:
        try:
            fh = open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise CheckpointNotFound(f"no file for key {key!r} under {self.root}") from None
        with fh:
            if expected_size is not None and os.fstat(fh.fileno()).st_size != expected_size:
                raise IntegrityError(f"file for key {key!r} has {os.fstat(fh.fileno()).st_size} "
                                     f"bytes, expected {expected_size}")
            if progress is None:
                shutil.copyfileobj(fh, sink, _CHUNK)
                return
            while chunk := fh.read(_CHUNK):
                sink.write(chunk)
                progress(len(chunk))


def _shorten(segment: str, limit: int = 40) -> str:
    return repr(segment) if len(segment) <= limit else repr(segment[:limit]) + "..."


def _tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _is_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
