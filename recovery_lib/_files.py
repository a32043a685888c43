"""Local files the library writes for users (``load_file``, ``recovery get -o``).

A restored file is streamed into a temporary file beside its destination, verified, then
moved into place with ``os.replace``, so the destination is never half-written. The
temporary file is created the way ``open(dest, "xb")`` would create ``dest`` (``os.open``
with mode 0o666, which the kernel narrows by the process umask and the directory's default
ACL), so after the rename the restored file has the mode any newly created file gets, as
with ``cp`` or boto3's ``download_file``, not the 0600 of ``tempfile.mkstemp``. The
umask is never read or changed (``os.umask`` is process-wide and would race other threads).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["create_temp_beside"]

_TEMP_SUFFIX = ".partial"
_MAX_STEM_BYTES = 128  # keeps ".{stem}.{16 hex}.partial" well under 255 bytes
_ATTEMPTS = 16


def create_temp_beside(dest: Path) -> tuple[int, Path]:
    """A new, empty temporary file in ``dest``'s directory: ``(fd opened read-write, path)``.

    The caller writes, fsyncs, closes and ``os.replace``-s it onto ``dest`` (or unlinks it)."""
    stem = dest.name
    if len(os.fsencode(stem)) > _MAX_STEM_BYTES:
        stem = "restore"
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        temp = dest.parent / f".{stem}.{secrets.token_hex(8)}{_TEMP_SUFFIX}"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {str(dest)!r} "
                          f"after {_ATTEMPTS} attempts")
