"""``CheckpointStore``: versioned, verified checkpoints with region failover.

The store holds the logic (commit protocol, verification, versions, failover choice); the
backends (:mod:`recovery_lib.backends`) do the I/O. Layout and formats live in
:mod:`recovery_lib.manifest`; in short, for a store with key prefix ``P``:

- content is written first, as an immutable blob ``P blobs/sha256/{hex}`` (payloads up to
  ``inline_limit`` bytes are inlined in the manifest instead, so a small save is one
  request and a load by version one GET);
- the commit is a compare-and-swap of the name's head record ``P heads/{name}.json`` (S3
  conditional writes: ``If-None-Match: *`` to create, ``If-Match: <ETag>`` to advance); the
  head holds the new version's manifest, whose version id carries the commit sequence
  number (head's plus one). The last committed save, rollback or delete is current
  whatever the writers' clocks say, and history order is commit order. The manifest is
  then also written as ``P manifests/{name}@{version}.json`` (history, listings; in an S3
  primary after the save returns, :mod:`recovery_lib.history_writer`). A crash before the
  CAS leaves the previous version current;
- loading the current version is one GET of the head (plus the blob, for large payloads),
  hedged to the secondary when the primary has not answered within its metadata timeout
  (:mod:`recovery_lib.hedge`); listings also take each name's current version from its
  head record; stores written before head records existed are read through their
  manifest listing;
- every load verifies size and SHA-256 and never returns bytes that do not verify. It
  falls back to the other region, or (when no version was pinned) to an older verified
  version *of the current lineage* (never one a rollback or delete moved away from),
  logging a WARNING; :meth:`CheckpointStore.load_with_info` tells which one served.
  IntegrityError when nothing acceptable verifies.

Commits made in the secondary during an outage leave a marker there (before their head
CAS); after failback they are replayed on top of the primary's head (see :mod:`recovery_lib.reconcile`, docs/consistency.md).

The class is assembled from layers, each using only what is beneath it:

- :mod:`.core`: the store's state, breaker-wrapped backend calls, manifest listings across
  regions, head and manifest records, and the reconciliation trigger;
- :mod:`.reads`: loads with verification and fallback (which versions may be served:
  :mod:`.lineage`);
- :mod:`.listings`: ``exists``, ``info``, ``versions``, ``heads``, ``list``, ``latest``;
- :mod:`.commits`: the commit protocol (saves, rollback, delete, clear);
- :mod:`.replication_status`: DR-safety checks of the secondary region;
- :mod:`.checkpoint_store`: ``CheckpointStore`` itself and its constructors.
"""
from __future__ import annotations

from .checkpoint_store import CheckpointStore
from .core import INLINE_LIMIT

__all__ = ["CheckpointStore", "INLINE_LIMIT"]
