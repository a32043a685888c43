"""File-object wrappers that compute SHA-256 and size while bytes stream through.

- :class:`HashingReader` wraps a seekable source for uploads. It hashes bytes the first time
  they are read, so rewinds for retries (botocore seeks the body back) and s3transfer's
  size probe (seek to the end and back) do not disturb the digest.
- :class:`HashingWriter` wraps a temporary file for downloads. s3transfer writes parts of a
  multipart download at their offsets in any order; bytes at the contiguous front are hashed
  as they arrive, bytes written ahead are remembered as ranges (not kept in memory) and
  hashed by reading them back once the front reaches them. Memory stays bounded.
- :class:`DigestSink` hashes an in-order stream and throws the bytes away (verification).
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
from typing import BinaryIO

__all__ = ["HashingReader", "HashingWriter", "DigestSink"]

_CHUNK = 1024 * 1024


class HashingReader(io.RawIOBase):
    """With ``expect=(size, sha256)`` the read that completes the stream raises
    IntegrityError when the bytes read so far do not hash to ``sha256`` (or a read goes past
    ``size``): the upload fails before it completes (s3transfer aborts the multipart
    upload; a single PUT is never sent in full), so no unverified bytes are left under a
    content address."""

    def __init__(self, raw: BinaryIO, *, expect: tuple[int, str] | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._expect = expect
        self._pos = raw.tell()
        self._hash = hashlib.sha256()
        self._front = self._pos
        self._start = self._pos
        self._gap = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self._feed(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _feed(self, data: bytes) -> None:
        pos, end = self._pos, self._pos + len(data)
        if pos > self._front:
            self._gap = True  # bytes skipped without being read: the digest cannot be trusted
        elif end > self._front:
            self._hash.update(memoryview(data)[self._front - pos:])
            self._front = end
        self._pos = end
        if self._expect is not None and data:
            size, sha256 = self._expect
            hashed = self._front - self._start
            if hashed > size or (hashed == size and self.hexdigest() != sha256):
                from .errors import IntegrityError

                raise IntegrityError(
                    f"the source changed while it was being uploaded (expected {size} bytes "
                    f"with sha256 {sha256[:12]}...); upload abandoned"
                )

    def close(self) -> None:
        """Leave the wrapped file open: s3transfer closes bodies it is done with."""

    @property
    def bytes_hashed(self) -> int:
        return self._front - self._start

    def hexdigest(self) -> str | None:
        """SHA-256 of every byte from the start position to the furthest byte read, or
        None if some bytes were skipped."""
        return None if self._gap else self._hash.hexdigest()


class HashingWriter(io.RawIOBase):
    """Wraps a file opened ``"w+b", buffering=0`` (so reads see prior writes)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._fd = raw.fileno()
        self._pos = 0
        self._front = 0
        self._hash = hashlib.sha256()
        self._ahead: dict[int, int] = {}  # start -> end of ranges written beyond the front
        self._tainted = False
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with self._lock:
            self._pos = self._raw.seek(offset, whence)
            return self._pos

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        with self._lock:
            pos, end = self._pos, self._pos + len(view)
            if pos < self._front:
                # A retry rewriting bytes already hashed: they must be the same bytes.
                overlap = min(end, self._front) - pos
                if os.pread(self._fd, overlap, pos) != view[:overlap]:
                    self._tainted = True
            written = 0
            while written < len(view):
                written += self._raw.write(view[written:])
            self._pos = end
            if pos <= self._front < end:
                self._hash.update(view[self._front - pos:])
                self._front = end
                self._catch_up()
            elif pos > self._front:
                self._ahead[pos] = max(end, self._ahead.get(pos, end))
            return len(view)

    def _catch_up(self) -> None:
        while True:
            ready = [s for s in self._ahead if s <= self._front]
            if not ready:
                return
            for start in ready:
                stop = self._ahead.pop(start)
                while self._front < stop:
                    chunk = os.pread(self._fd, min(_CHUNK, stop - self._front), self._front)
                    if not chunk:
                        self._tainted = True
                        return
                    self._hash.update(chunk)
                    self._front += len(chunk)

    @property
    def size(self) -> int:
        """Bytes hashed contiguously from offset 0."""
        return self._front

    def hexdigest(self) -> str | None:
        """SHA-256 of bytes ``[0, size)``, or None if writes left holes or disagreed."""
        with self._lock:
            if self._tainted or self._ahead:
                return None
            return self._hash.hexdigest()

    def close(self) -> None:
        """Leave the wrapped file open; the caller owns it."""


class DigestSink(io.RawIOBase):
    """A non-seekable sink that hashes and counts what is written, in order; with
    ``keep=True`` it also keeps the bytes (for payloads loaded into memory)."""

    def __init__(self, *, keep: bool = False) -> None:
        super().__init__()
        self._hash = hashlib.sha256()
        self._chunks: list[bytes] | None = [] if keep else None
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._hash.update(data)
        if self._chunks is not None:
            self._chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def getvalue(self) -> bytes:
        if self._chunks is None:
            raise ValueError("DigestSink(keep=False) does not keep the bytes")
        return b"".join(self._chunks)
