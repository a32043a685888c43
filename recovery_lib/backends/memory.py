"""An in-process backend: a dict behind a lock (tests, throwaway pipelines)."""
from __future__ import annotations

import hashlib
import threading
import time
from typing import BinaryIO, Callable, Iterator

from ..errors import CheckpointNotFound, ConflictError, IntegrityError
from .base import Backend, Progress, read_source

__all__ = ["MemoryBackend"]

_CHUNK = 1024 * 1024


class MemoryBackend(Backend):
    def __init__(self, *, region: str = "memory",
                 clock: Callable[[], float] = time.time) -> None:
        self.region = region
        self._objects: dict[str, bytes] = {}
        self._modified: dict[str, float] = {}  # last write per key, from ``clock``
        self._deleted: dict[str, bytes] = {}  # the last deleted data per key (versioning)
        self._clock = clock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryBackend(region={self.region!r}, objects={len(self._objects)})"

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._objects[key]
            except KeyError:
                raise CheckpointNotFound(f"no object {key!r} in {self.region} memory") from None

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._objects[key] = bytes(data)
            self._modified[key] = self._clock()

    def put_if_absent(self, key: str, data: bytes) -> None:
        with self._lock:
            if key in self._objects:
                raise ConflictError(f"object {key!r} already exists in {self.region} memory")
            self._objects[key] = bytes(data)
            self._modified[key] = self._clock()

    def head(self, key: str) -> int | None:
        with self._lock:
            data = self._objects.get(key)
        return None if data is None else len(data)

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        with self._lock:
            found = [(k, len(v)) for k, v in self._objects.items() if k.startswith(prefix)]
        return iter(found)

    def list_modified(self, prefix: str) -> Iterator[tuple[str, int, float | None]]:
        with self._lock:
            found = [(k, len(v), self._modified.get(k)) for k, v in self._objects.items()
                     if k.startswith(prefix)]
        return iter(found)

    def delete(self, key: str) -> None:
        with self._lock:
            data = self._objects.pop(key, None)
            if data is not None:
                self._deleted[key] = data
            self._modified.pop(key, None)

    def restore(self, key: str) -> bool:
        with self._lock:
            data = self._deleted.pop(key, None)
            if data is None or key in self._objects:
                return False
            self._objects[key] = data
            self._modified[key] = self._clock()
        return True

    def upload(self, key: str, source: BinaryIO, size: int, *,
               progress: Progress | None = None) -> None:
        self.put(key, b"".join(read_source(key, source, size, progress=progress)))

    def get_tagged(self, key: str, *, max_bytes: int) -> tuple[bytes, str]:
        data = self.get(key)
        if len(data) > max_bytes:
            raise IntegrityError(f"object {key!r} has {len(data)} bytes, more than {max_bytes}")
        return data, _tag(data)

    def put_if_match(self, key: str, data: bytes, tag: str | None) -> str:
        with self._lock:
            current = self._objects.get(key)
            if (current is None) != (tag is None) or (current is not None
                                                      and _tag(current) != tag):
                raise ConflictError(f"object {key!r} in {self.region} memory changed "
                                    f"(expected tag {tag!r})")
            self._objects[key] = bytes(data)
            self._modified[key] = self._clock()
        return _tag(data)

    def download(self, key: str, sink: BinaryIO, *, progress: Progress | None = None,
                 expected_size: int | None = None) -> None:
        data = memoryview(self.get(key))
        if expected_size is not None and len(data) != expected_size:
            raise IntegrityError(f"object {key!r} has {len(data)} bytes, expected {expected_size}")
        for start in range(0, len(data), _CHUNK):
            chunk = data[start:start + _CHUNK]
            sink.write(chunk)
            if progress:
                progress(len(chunk))


def _tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]
