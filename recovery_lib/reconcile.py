"""Reconciliation after an outage: commits made in the secondary region come back.

While the primary region is unavailable, saves commit in the secondary (write failover) and
leave a marker ``P outage/{name}@{version}`` there. Once both regions answer, a store
reconciles on its first use (and ``recovery reconcile`` does it by hand):

1. List the secondary's outage markers, and the primary's ``P reconciled/`` markers (what
   was already brought back). Nothing to do in the common case: two LISTs per store.
2. For every outage commit not yet reconciled, oldest first in commit order:
   - one-way replication (descriptor ``replication.two_way`` false): copy its blob
     (verified on the way: read from the secondary and hashed, uploaded with the expected
     SHA-256) and its manifest into the primary. Nothing copies them otherwise.
   - two-way replication: S3 replicates them back itself; the commit is left for a later
     pass while its manifest is not in the primary yet (reported as pending).
3. Merge the heads of the name by commit order (docs/consistency.md): if the outage version
   orders after the primary's head, the primary's head is compare-and-swapped to it (the
   same bytes, so the same version id); if the primary also committed during the outage (a
   split: its head orders after), the primary's head stays and both histories are kept,
   with a WARNING naming the fork.
4. Write ``P reconciled/{name}@{version}`` in the primary.

Jobs have no DeleteObject permission, so markers stay; each costs nothing after step 1.
"""
from __future__ import annotations

import logging
import tempfile
import threading
from typing import Any, Callable, Protocol, TypeVar

from . import manifest as mf
from ._streams import HashingReader, HashingWriter
from .backends.base import Backend
from .errors import CheckpointNotFound, ConflictError, IntegrityError

__all__ = ["ReconcilableStore", "reconcile", "reconciled_key"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ReconcilableStore(Protocol):
    """What reconciliation uses of a ``CheckpointStore`` (whose internals it shares): declared
    here so that this module does not import the store that calls it."""

    prefix: str
    two_way: bool
    _head_cache: dict[tuple[str, str], tuple[str, mf.Manifest]]
    _cache_lock: threading.Lock

    @property
    def regions(self) -> tuple[str, ...]: ...

    def backend(self, region: str) -> Backend: ...

    def _call(self, region: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def _get_manifest(self, region: str, name: str, version: str) -> mf.Manifest: ...

    def _read_head(self, region: str, name: str, *, raw: bool = False) -> Any: ...

    def _download(self, region: str, key: str, sink: Any, *, expected_size: int,
                  progress: Any = None) -> None: ...


def reconciled_key(prefix: str, name: str, version: str) -> str:
    return f"{prefix}reconciled/{name}@{version}"


def reconcile(store: ReconcilableStore) -> list[str]:
    if len(store.regions) < 2:
        return []
    primary, secondary = store.regions[:2]
    pb, sb = store.backend(primary), store.backend(secondary)
    markers: dict[str, list[str]] = {}
    for key, _ in store._call(secondary, sb.list, mf.outage_prefix(store.prefix)):
        parsed = mf.parse_outage_key(store.prefix, key)
        if parsed is not None:
            markers.setdefault(parsed[0], []).append(parsed[1])
    if not markers:
        return []
    done_prefix = f"{store.prefix}reconciled/"
    done = {key[len(done_prefix):] for key, _ in store._call(primary, pb.list, done_prefix)}
    actions: list[str] = []
    for name, versions in sorted(markers.items()):
        todo = sorted((v for v in versions if f"{name}@{v}" not in done), key=mf.order_key)
        if todo:
            actions.extend(_reconcile_name(store, name, todo, primary, secondary))
    for line in actions:
        logger.warning("reconcile: %s", line)
    return actions


def _reconcile_name(store: ReconcilableStore, name: str, todo: list[str], primary: str,
                    secondary: str) -> list[str]:
    pb, sb = store.backend(primary), store.backend(secondary)
    actions: list[str] = []
    brought: list[str] = []
    for version in todo:
        key = mf.manifest_key(store.prefix, name, version)
        try:
            m = store._get_manifest(secondary, name, version)
            raw, _ = store._call(secondary, sb.get_tagged, key, max_bytes=mf.MAX_MANIFEST_BYTES)
        except (CheckpointNotFound, IntegrityError) as exc:
            actions.append(f"{name}@{version}: cannot read it in the {secondary} region ({exc}); "
                           "left for a later pass")
            break
        if store.two_way:
            if store._call(primary, pb.head, key) is None:
                actions.append(f"{name}@{version}: not in the {primary} region yet; two-way "
                               "replication will copy it (pending)")
                break
        else:
            for blob in m.blobs:
                _copy_blob(store, blob.sha256, blob.size, secondary, primary)
            try:
                store._call(primary, pb.put_if_absent, key, raw)
            except ConflictError:
                pass  # already there (an earlier, interrupted pass)
            actions.append(f"{name}@{version}: copied from the {secondary} region to the "
                           f"{primary} region")
        brought.append(version)
    if brought:
        actions.extend(_merge_head(store, name, brought[-1], primary))
        for version in brought:
            store._call(primary, pb.put, reconciled_key(store.prefix, name, version), b"")
    return actions


def _merge_head(store: ReconcilableStore, name: str, version: str, primary: str) -> list[str]:
    pb = store.backend(primary)
    head_key = mf.head_key(store.prefix, name)
    raw, _ = store._call(primary, pb.get_tagged, mf.manifest_key(store.prefix, name, version),
                         max_bytes=mf.MAX_MANIFEST_BYTES)
    theirs = store._get_manifest(primary, name, version)
    for _ in range(16):
        head = store._read_head(primary, name)
        if head is not None and mf.order_key(head[1].version) >= mf.order_key(version):
            if head[1].version == version:
                return []
            logger.warning("checkpoint %r forked during the outage: the %s region committed %s, "
                           "the outage commit %s orders before it; both stay in history",
                           name, primary, head[1].version, version)
            return [f"{name}: FORK: {primary} head {head[1].version} is after the outage commit "
                    f"{version} (both kept in history; roll back to choose)"]
        try:
            tag = store._call(primary, pb.put_if_match, head_key, raw,
                              head[0] if head is not None else None)
        except ConflictError:
            continue
        with store._cache_lock:
            store._head_cache[(primary, name)] = (tag, theirs)
        was = head[1].version if head is not None else "none"
        return [f"{name}: {primary} head {was} -> {version} (outage commit is current)"]
    raise ConflictError(f"could not merge the head of {name!r}: it kept changing")


def _copy_blob(store: ReconcilableStore, sha256: str, size: int, source: str, dest: str) -> None:
    key = mf.blob_key(store.prefix, sha256)
    db = store.backend(dest)
    if store._call(dest, db.holds, key, sha256, size):
        return
    with tempfile.TemporaryFile() as fh:
        # HashingWriter needs unbuffered reads of what it wrote
        raw = open(fh.fileno(), "w+b", buffering=0, closefd=False)
        with raw:
            writer = HashingWriter(raw)
            store._download(source, key, writer, expected_size=size)
            if writer.size != size or writer.hexdigest() != sha256:
                raise IntegrityError(f"blob {key} in the {source} region does not verify; "
                                     "not copied")
            raw.seek(0)
            store._call(dest, db.upload, key, HashingReader(raw, expect=(size, sha256)), size)
