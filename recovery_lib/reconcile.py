"""Reconciliation after an outage: commits made in the secondary region come back.

While the primary region is unavailable, saves commit in the secondary (write failover) and
leave a marker ``P outage/{name}@{version}`` there. Once both regions answer, a store
reconciles on its first use (and ``recovery reconcile`` does it by hand):

1. List the secondary's outage markers, and the primary's ``P reconciled/`` markers (what
   was already brought back). Nothing to do in the common case: two LISTs per store.
2. For every outage marker not yet reconciled, oldest first in commit order, find its
   commit in the secondary: its history manifest, or the secondary's head when the writer
   died between its head CAS and its history write. Writers leave the marker BEFORE their
   head CAS (a writer killed right after the CAS must not lose its commit), so a marker may
   name a version that never committed: when the secondary's head has moved past it, it
   never will (recorded as reconciled, nothing to bring); otherwise it is left for later.
3. Bring the commit's bytes into the primary:
   - one-way replication (descriptor ``replication.two_way`` false): copy its blob
     (verified on the way: read from the secondary and hashed, uploaded with the expected
     SHA-256) and its manifest. Nothing copies them otherwise.
   - two-way replication: S3 replicates them back itself; the commit is left for a later
     pass while its manifest is not in the primary yet (reported as pending).
4. Replay the outage commits on top of the primary's head (:func:`_replay`): they are what
   happened last as far as the store can tell. When the primary's head is the version the
   first outage commit was based on, the head is fast-forwarded to the same bytes (same
   version ids). Otherwise (replication lag when the outage began, or a split brain) each
   is committed again with a new sequence number on top of the primary's head, with a
   WARNING naming both versions; the primary's version stays in history.
5. Write ``P reconciled/{name}@{version}`` in the primary.

Jobs have no DeleteObject permission, so markers stay; each costs nothing after step 1.
"""
from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
from typing import Any, Callable, Protocol, TypeVar

from . import manifest as mf
from ._streams import HashingReader, HashingWriter
from .checkpoint import BlobRef
from .backends.base import Backend
from .errors import CheckpointNotFound, ConflictError, IntegrityError

__all__ = ["ReconcilableStore", "reconcile", "reconciled_key"]

logger = logging.getLogger(__name__)
_CAS_ATTEMPTS = 16

T = TypeVar("T")


class ReconcilableStore(Protocol):
    """What reconciliation uses of a ``CheckpointStore`` (whose internals it shares): declared
    here so that this module does not import the store that calls it."""

    prefix: str
    two_way: bool
    _head_cache: dict[tuple[str, str], tuple[str, mf.Manifest]]
    _cache_lock: threading.Lock
    _signing_key: bytes | None
    _wall_clock: Callable[[], int]

    @property
    def regions(self) -> tuple[str, ...]: ...

    def backend(self, region: str) -> Backend: ...

    def _call(self, region: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def _get_manifest(self, region: str, name: str, version: str) -> mf.Manifest: ...

    def _region_entries(self, region: str, list_prefix: str) -> list[tuple[str, str]]: ...

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
    pb = store.backend(primary)
    actions: list[str] = []
    brought: list[tuple[str, mf.Manifest, bytes]] = []
    settled: list[str] = []  # markers to record as reconciled (brought back, or abandoned)
    head = store._read_head(secondary, name, raw=True)
    for version in todo:
        found = _outage_commit(store, name, version, secondary, head)
        if isinstance(found, str):
            if found == "abandoned":  # its writer lost the CAS (or died before it)
                settled.append(version)
                continue
            actions.append(f"{name}@{version}: {found}; left for a later pass")
            break
        m, raw = found
        key = mf.manifest_key(store.prefix, name, version)
        if store.two_way:
            if store._call(primary, pb.head, key) is None:
                actions.append(f"{name}@{version}: not in the {primary} region yet; two-way "
                               "replication will copy it (pending)")
                break
        else:
            for blob in m.blobs:
                _copy_blob(store, blob, secondary, primary)
            try:
                store._call(primary, pb.put_if_absent, key, raw)
            except ConflictError:
                pass  # already there (an earlier, interrupted pass)
            actions.append(f"{name}@{version}: copied from the {secondary} region to the "
                           f"{primary} region")
        brought.append((version, m, raw))
        settled.append(version)
    if brought:
        actions.extend(_replay(store, name, brought, primary, secondary))
    for version in settled:
        store._call(primary, pb.put, reconciled_key(store.prefix, name, version), b"")
    return actions


def _outage_commit(store: ReconcilableStore, name: str, version: str, secondary: str,
                   head: tuple[str, mf.Manifest, bytes] | None
                   ) -> tuple[mf.Manifest, bytes] | str:
    """The manifest (and its bytes) of the outage commit ``version`` in the secondary; or
    ``"abandoned"`` when its marker names a version that never committed and never will
    (a writer leaves the marker BEFORE its head CAS, so a marker alone proves nothing);
    or why it cannot be read yet."""
    key = mf.manifest_key(store.prefix, name, version)
    sb = store.backend(secondary)
    try:
        raw, _ = store._call(secondary, sb.get_tagged, key, max_bytes=mf.MAX_MANIFEST_BYTES)
        return mf.decode(raw, key=key, name=name, version=version,
                         signing_key=store._signing_key), raw
    except CheckpointNotFound:
        pass
    except IntegrityError as exc:
        return f"it does not verify in the {secondary} region ({exc})"
    if head is not None and head[1].version == version:
        # committed; its writer died before the history write: repair it (as the next writer
        # would), so two-way replication carries it too
        try:
            store._call(secondary, sb.put_if_absent, key, head[2])
        except ConflictError:
            pass
        return head[1], head[2]
    if head is not None and mf.order_key(head[1].version) > mf.order_key(version):
        # the head moved past it: a CAS from the head this version was based on can no
        # longer succeed (its ETag is gone), and a committed version would be in history
        return "abandoned"
    return f"not committed in the {secondary} region (yet)"


def _replay(store: ReconcilableStore, name: str, brought: list[tuple[str, mf.Manifest, bytes]],
            primary: str, secondary: str) -> list[str]:
    """Commit the outage commits on top of the primary's head, oldest first.

    Outage commits are what happened last as far as the store can tell: their writers could
    not reach the primary, and they are replayed after whatever the primary holds. When the
    primary's head is the version the first outage commit was based on, the commits are
    fast-forwarded with their own ids and bytes. Otherwise the primary committed something
    the secondary never saw (replication lag when the outage began, or writers that still
    reached the primary: a split brain); the outage commits are then committed again with
    new sequence numbers on top of it (same content), and a WARNING names both versions.
    Nothing is deleted; the primary's version stays in history (roll back to choose)."""
    first = brought[0][0]
    seq = mf.version_seq(first)
    base: str | None = None
    if seq > 1:
        listed = store._region_entries(secondary, mf.versions_prefix(store.prefix, name))
        base = next((v for n, v in listed if n == name and mf.version_seq(v) == seq - 1), None)
    actions: list[str] = []
    for version, m, raw in brought:
        for _ in range(_CAS_ATTEMPTS):
            head = store._read_head(primary, name, raw=True)
            current = head[1] if head is not None else None
            was = current.version if current is not None else None
            if current is not None and (was == version or _same_state(current, m)):
                break  # already there (two-way replication, or an earlier pass)
            if was == base:
                new, encoded = version, raw  # fast-forward: nothing happened in between
            else:
                next_seq = mf.version_seq(was) + 1 if was is not None else 1
                new = mf.new_version(seq=next_seq, deleted=m.deleted, clock=store._wall_clock,
                                     rollback=mf.is_rollback(version))
                encoded = mf.encode(dataclasses.replace(m, version=new,
                                                        created_at=mf.version_time(new)),
                                    signing_key=store._signing_key)
            if not _cas(store, name, primary, head, new, encoded):
                continue  # the head moved: decide again on the new one
            if new == version:
                actions.append(f"{name}: {primary} head {was or 'none'} -> {version} (outage "
                               "commit is current)")
            else:
                logger.warning("checkpoint %r: the %s region committed %s, which the %s region "
                               "never saw, and the outage commit %s was made without it (split "
                               "brain, or replication lag when the outage began); the outage "
                               "commit is replayed on top as %s and is current; %s stays in "
                               "history", name, primary, was, secondary, version, new, was)
                actions.append(f"{name}: SPLIT: {primary} head {was} and outage commit "
                               f"{version} diverged; replayed as {new} (current), {was} kept "
                               "in history")
            break
        else:
            actions.append(f"{name}: the {primary} head kept changing while replaying {version}; "
                           "left for a later pass")
            return actions
        head = store._read_head(primary, name)
        base = head[1].version if head is not None else None
    return actions


def _same_state(a: mf.Manifest, b: mf.Manifest) -> bool:
    """Whether two manifests make the same state current (the same content, or both
    deletions): replaying one on top of the other changes nothing."""
    if a.deleted or b.deleted:
        return a.deleted and b.deleted
    return (a.sha256, a.size, a.serializer, a.metadata) == (b.sha256, b.size, b.serializer,
                                                          b.metadata)


def _cas(store: ReconcilableStore, name: str, primary: str,
         head: tuple[str, mf.Manifest, bytes] | None, version: str, encoded: bytes) -> bool:
    """The commit protocol of the store: compare-and-swap the head, then write history."""
    pb = store.backend(primary)
    if head is not None:  # the head being replaced may lack its history record (its writer
        # died after its CAS, or its background history write failed): repair it first, as
        # the store's next writer would, or no record would name that version any more
        try:
            store._call(primary, pb.put_if_absent,
                        mf.manifest_key(store.prefix, name, head[1].version), head[2])
        except ConflictError:
            pass
    try:
        tag = store._call(primary, pb.put_if_match, mf.head_key(store.prefix, name), encoded,
                          head[0] if head is not None else None)
    except ConflictError:
        return False
    m = mf.decode(encoded, key=mf.head_key(store.prefix, name), name=name, version=version,
                  signing_key=store._signing_key)
    with store._cache_lock:
        store._head_cache[(primary, name)] = (tag, m)
    try:
        store._call(primary, pb.put_if_absent, mf.manifest_key(store.prefix, name, version),
                    encoded)
    except ConflictError:
        pass  # the fast-forwarded manifest was copied into history first
    return True


def _copy_blob(store: ReconcilableStore, blob: BlobRef, source: str, dest: str) -> None:
    key, sha256, size = mf.ref_key(store.prefix, blob), blob.sha256, blob.size
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
