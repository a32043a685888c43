"""The seam between the store's logic and storage I/O.

The store (commit protocol, verification, versions, failover) talks to storage only
through these primitives; keys are full keys (the store applies its prefix). A backend
raises :class:`~recovery_lib.CheckpointNotFound` for a missing key,
:class:`~recovery_lib.ConflictError` when ``put_if_absent`` finds the key present and
:class:`~recovery_lib.RegionUnavailable` when its region cannot be reached; anything it
cannot classify propagates unchanged.
"""
from __future__ import annotations

import abc
import hashlib
from typing import BinaryIO, Callable, Iterator, Sequence

from ..errors import IntegrityError

__all__ = ["Backend", "Progress", "DELETE_BATCH", "read_source"]

#: DeleteObjects takes at most 1,000 keys per request (S3 API reference, DeleteObjects).
DELETE_BATCH = 1000

Progress = Callable[[int], None]
"""Called with the number of bytes moved since the last call."""


def read_source(key: str, source: BinaryIO, size: int, *, progress: Progress | None = None,
                chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """The ``size`` bytes an upload to ``key`` reads from ``source``, in chunks of at most
    ``chunk``, each read once (and reported to ``progress``); IntegrityError when
    ``source`` ends first (the contract of :meth:`Backend.upload`)."""
    remaining = size
    while remaining > 0:
        data = source.read(min(chunk, remaining))
        if not data:
            raise IntegrityError(f"key {key!r}: the source gave {size - remaining} bytes, "
                                 f"expected {size}; nothing was stored")
        remaining -= len(data)
        if progress:
            progress(len(data))
        yield data


class Backend(abc.ABC):
    """A flat key/value blob store."""

    #: Where this backend's data lives: "primary", "secondary", "local" or "memory".
    region: str
    #: Whether many small calls may run concurrently to save latency (remote stores).
    concurrent_reads: bool = False
    #: Seconds after which the store also asks the next region for a name's head and takes
    #: the first answer (a hedged read, :mod:`recovery_lib.hedge`); None: never hedge.
    hedge_after: float | None = None

    def check_key(self, key: str) -> None:
        """Raise :class:`~recovery_lib.InvalidName` if this backend could not store ``key``
        (no I/O). The store calls it with the longest key a name derives before writing
        anything for that name. The default accepts every key (S3's 1,024-byte key limit
        is checked with the name rules, :mod:`recovery_lib.names`)."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The whole object. CheckpointNotFound if absent."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Create or replace ``key`` atomically (readers see old or new, never partial)."""

    @abc.abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> None:
        """Create ``key`` atomically; ConflictError if it already exists."""

    @abc.abstractmethod
    def head(self, key: str) -> int | None:
        """The object's size, or None if absent."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """``(key, size)`` for every key starting with ``prefix``, in no particular order."""

    def list_tagged(self, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        """``(key, size, entity tag)`` for every key starting with ``prefix``; the tag is
        None where the listing does not carry one (the default). Equal tags mean equal
        bytes, so a caller may skip reading an object whose tag it can match."""
        return ((key, size, None) for key, size in self.list(prefix))

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if absent). The store only uses it for bad blobs."""

    @abc.abstractmethod
    def upload(self, key: str, source: BinaryIO, size: int, *,
               progress: Progress | None = None) -> None:
        """Stream ``size`` bytes read from ``source`` into ``key`` (replacing it) with
        bounded memory. ``source`` is read once, front to back: the bytes stored are the
        bytes read (a retry resends what was read). IntegrityError, and nothing stored, if
        ``source`` ends before ``size`` bytes."""

    @abc.abstractmethod
    def download(self, key: str, sink: BinaryIO, *, progress: Progress | None = None,
                 expected_size: int | None = None) -> None:
        """Stream the object into ``sink`` with bounded memory. If ``sink`` is seekable,
        writes may arrive out of order (each preceded by a seek); otherwise in order.
        CheckpointNotFound if absent. With ``expected_size``, IntegrityError before any
        byte is written when the stored object has another size."""

    # -- garbage collection (the maintainer's calls; jobs never delete) ---------------------
    def list_modified(self, prefix: str) -> Iterator[tuple[str, int, float | None]]:
        """``(key, size, last modified as POSIX seconds)`` for every key starting with
        ``prefix``. The default does not know the time (None), and garbage collection
        treats an object of unknown age as young: it is never removed."""
        for key, size in self.list(prefix):
            yield key, size, None

    def delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        """Delete ``keys`` (absent ones are no error); ``(key, reason)`` for each that could
        not be deleted. S3 sends one DeleteObjects request per :data:`DELETE_BATCH` keys;
        the default deletes one by one."""
        for key in keys:
            self.delete(key)
        return []

    def restore(self, key: str) -> bool:
        """Make the newest deleted version of ``key`` current again (garbage collection
        undoing a delete that raced a save); True if it did. The default cannot."""
        return False

    # -- compare-and-swap (the head record) ---------------------------------------------
    # The built-in backends implement both atomically. The defaults below keep backends
    # written for earlier versions working for a single writer; they are NOT atomic.
    def get_tagged(self, key: str, *, max_bytes: int) -> tuple[bytes, str]:
        """The whole object and its entity tag (changes whenever the object is written).
        CheckpointNotFound if absent; IntegrityError, before reading it, if the object is
        larger than ``max_bytes``."""
        size = self.head(key)
        if size is not None and size > max_bytes:
            raise IntegrityError(f"object {key!r} has {size} bytes, more than {max_bytes}")
        data = self.get(key)
        return data, hashlib.sha256(data).hexdigest()[:32]

    def put_if_match(self, key: str, data: bytes, tag: str | None) -> str:
        """Write ``key`` only if its entity tag is still ``tag`` (``None``: only if absent),
        atomically; return the new tag. ConflictError if another write came first."""
        from ..errors import CheckpointNotFound, ConflictError

        if tag is None:
            self.put_if_absent(key, data)
        else:
            try:
                current = hashlib.sha256(self.get(key)).hexdigest()[:32]
            except CheckpointNotFound:
                current = None
            if current != tag:
                raise ConflictError(f"object {key!r} changed (expected tag {tag!r})")
            self.put(key, data)
        return hashlib.sha256(data).hexdigest()[:32]

    # -- content addresses ----------------------------------------------------------------
    def holds(self, key: str, sha256: str, size: int) -> bool:
        """Whether ``key`` holds exactly the bytes with this SHA-256 and size, by reading and
        hashing them (backends that keep a verified checksum answer from it instead)."""
        if self.head(key) != size:
            return False
        digest = hashlib.sha256()

        class _Sink:
            def write(self, data: bytes) -> int:
                digest.update(data)
                return len(data)

            def seekable(self) -> bool:
                return False

        try:
            self.download(key, _Sink())  # type: ignore[arg-type]  # size checked above
        except IntegrityError:
            return False
        return digest.hexdigest() == sha256
