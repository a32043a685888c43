"""``Checkpoint``: what the store knows about one committed version of a name."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

__all__ = ["Checkpoint", "BlobRef", "Region"]

Region = Literal["primary", "secondary", "local", "memory"]


@dataclasses.dataclass(frozen=True)
class BlobRef:
    """One immutable blob a checkpoint's content lives in: at its content address
    (``blobs/sha256/{sha256}``), or, with ``key``, at that key under the store prefix (a
    shard's data, written where its writer chose before its hash was known; see
    :mod:`recovery_lib.shards`). Either way ``sha256``/``size`` describe the bytes, and every
    read verifies them."""

    sha256: str
    size: int
    key: str | None = None


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One committed version of a checkpoint name.

    ``region`` says where this copy was written or read (``"primary"``, ``"secondary"``,
    ``"local"`` or ``"memory"``); ``origin_region`` where the writer committed it.
    ``sha256``/``size`` describe the serialized content, whether it is inlined in the
    manifest (``blobs == ()``) or stored in blobs. A rollback records the version whose
    content it restores in ``parent_version``. ``deleted`` marks a tombstone: a version
    that makes the name absent without removing any history. ``step`` is the caller's
    integer step (a training step) given at save time, or None.

    ``list()`` and ``versions()`` answer from LIST requests (``list()``: manifests and head
    records; a head is read only when its listing does not match): their Checkpoints carry
    name, version, created_at (encoded in the version id), region and deleted, and leave
    the manifest fields (``sha256``, ``size``, ``serializer``, ``metadata``, ...) unset
    (``None``/empty) unless called with ``detail=True``; ``detailed`` tells which.
    ``save``, ``info``, ``load_with_info``, ``load_file``, ``rollback`` and ``latest``
    always return detailed Checkpoints.
    """

    name: str
    version: str
    sha256: str | None
    size: int | None
    created_at: dt.datetime
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    region: Region = "memory"
    serializer: str | None = None
    blobs: tuple[BlobRef, ...] = ()
    parent_version: str | None = None
    deleted: bool = False
    origin_region: str | None = None
    step: int | None = None

    @property
    def detailed(self) -> bool:
        """True when the manifest fields are known (not a listing-only Checkpoint)."""
        return self.sha256 is not None

    @property
    def inline(self) -> bool:
        """True when the content is stored inside the manifest (small payloads)."""
        return self.detailed and not self.blobs
