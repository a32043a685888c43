"""The commit protocol: ``save``, ``save_file``, ``rollback``, ``delete`` and ``clear``.

Content is written first (an immutable blob, or inlined in the manifest); the commit is a
compare-and-swap of the name's head record, whose manifest carries the next commit
sequence number; the manifest is then written as history (in an S3 primary in the
background, :mod:`recovery_lib.history_writer`). A crash before the CAS leaves
the previous version current. A commit in the secondary (failover) leaves an outage marker
there, before its CAS, for reconciliation.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
import stat
import time
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from .. import manifest as mf
from .. import serialization
from .._streams import HashingReader
from ..backends.base import Progress
from ..checkpoint import BlobRef, Checkpoint
from ..errors import (
    CheckpointNotFound,
    ConflictError,
    IntegrityError,
    InvalidData,
    RecoveryError,
    RegionUnavailable,
)
from ..names import validate_name
from .listings import Listings

__all__ = ["CommitProtocol"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
_HASH_CHUNK = 1024 * 1024
_COMMIT_ATTEMPTS = 5
_CAS_PATIENCE = 120.0  # seconds of lost compare-and-swaps before ConflictError


class CommitProtocol(Listings):
    """Every write of a store: new versions, rollbacks and deletions (tombstones), each a
    compare-and-swap of the name's head."""

    # -- saving ---------------------------------------------------------------------------
    def save(self, name: str, data: Any, *, metadata: Mapping[str, Any] | None = None,
             serializer: str | None = None, step: int | None = None) -> Checkpoint:
        """Save ``data`` as a new version of ``name``.

        ``data`` is a JSON-compatible value (stored as JSON) or bytes-like (stored raw);
        anything else raises InvalidData unless ``serializer="pickle"``. ``step`` is the
        caller's integer step (a training step), stored in the manifest; saving a step
        that exists makes a new version of that step.
        """
        self._check_writable_name(name)
        mf.validate_step(step)
        meta = serialization.check_metadata(metadata)
        payload, used = serialization.dumps(data, serializer)
        return self._save_payload(name, payload, used, meta, step=step)

    def _save_payload(self, name: str, payload: bytes, serializer: str,
                      meta: dict[str, Any], *, step: int | None = None) -> Checkpoint:
        sha256 = hashlib.sha256(payload).hexdigest()
        size = len(payload)
        inline = size <= self.inline_limit

        def put_content(region: str) -> tuple[tuple[BlobRef, ...], bytes | None]:
            if inline:
                return (), payload
            key = mf.blob_key(self.prefix, sha256)
            # Reuse a blob only once its bytes verify (S3: its stored SHA-256 checksum);
            # otherwise write it again, which also repairs a poisoned content address.
            if not self._call(region, self._backends[region].holds, key, sha256, size):
                self._call(region, self._backends[region].put, key, payload)
            return (BlobRef(sha256, size),), None

        def make(region: str, version: str, content: tuple[tuple[BlobRef, ...], bytes | None]
                 ) -> mf.Manifest:
            return mf.Manifest(name=name, version=version, created_at=mf.version_time(version),
                               origin_region=region, serializer=serializer, sha256=sha256,
                               size=size, metadata=meta, blobs=content[0], inline=content[1],
                               step=step)

        return self._blob_still_there(self._commit(name, put_content, make), put_content)

    def save_file(self, name: str, path: str | os.PathLike[str], *,
                  metadata: Mapping[str, Any] | None = None,
                  progress: Progress | None = None, step: int | None = None) -> Checkpoint:
        """Save a file's bytes as a new version of ``name`` (serializer ``"raw"``), streaming
        with bounded memory (multipart on S3). The file is hashed once (its content address),
        then hashed again while uploading; if it changed in between, the upload fails before
        it completes (nothing is left at the content address), IntegrityError, and nothing
        is committed. ``progress`` is called with byte counts as content moves."""
        self._check_writable_name(name)
        mf.validate_step(step)
        meta = serialization.check_metadata(metadata)
        path = Path(path)
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidData(f"{str(path)!r} is not a regular file; save_file takes a file path")
        size = st.st_size
        if size <= self.inline_limit:
            payload = path.read_bytes()
            if progress:
                progress(len(payload))
            return self._save_payload(name, payload, "raw", meta, step=step)
        sha256 = _hash_file(path)
        key = mf.blob_key(self.prefix, sha256)

        def put_content(region: str) -> tuple[tuple[BlobRef, ...], bytes | None]:
            backend = self._backends[region]
            if self._call(region, backend.holds, key, sha256, size):
                logger.debug("blob %s already in %s and verified; upload skipped", key, region)
                if progress:
                    progress(size)
                return (BlobRef(sha256, size),), None
            try:
                with open(path, "rb") as fh:
                    reader = HashingReader(fh, expect=(size, sha256))
                    self._call(region, backend.upload, key, reader, size, progress=progress)
            except IntegrityError:
                reader_ok = False
            else:
                reader_ok = reader.bytes_hashed == size and reader.hexdigest() == sha256
            if not reader_ok:
                raise IntegrityError(
                    f"file {str(path)!r} changed while it was being saved as {name!r} "
                    f"(expected {size} bytes with sha256 {sha256[:12]}...); nothing was committed"
                )
            return (BlobRef(sha256, size),), None

        def make(region: str, version: str, content: tuple[tuple[BlobRef, ...], bytes | None]
                 ) -> mf.Manifest:
            return mf.Manifest(name=name, version=version, created_at=mf.version_time(version),
                               origin_region=region, serializer="raw", sha256=sha256, size=size,
                               metadata=meta, blobs=content[0], inline=None, step=step)

        return self._blob_still_there(self._commit(name, put_content, make), put_content)

    def _blob_still_there(self, checkpoint: Checkpoint, put_content: Callable[[str], object]
                        ) -> Checkpoint:
        """A save with a blob checks it is still there after its commit (one HEAD): garbage
        collection may have deleted it in between, because it was unreferenced then (a blob
        reused, or an upload that took longer than the grace period), and then it is
        uploaded again (recovery_lib.gc, step 6)."""
        region = checkpoint.region
        for blob in checkpoint.blobs:
            key = mf.ref_key(self.prefix, blob)
            if self._call(region, self._backends[region].head, key) is None:
                put_content(region)
                logger.warning("checkpoint %r version %s: its blob was removed while it was "
                               "being committed (garbage collection); uploaded it again",
                               checkpoint.name, checkpoint.version)
        return checkpoint

    def _commit(self, name: str,
                put_content: Callable[[str], T],
                make: Callable[[str, str, T], mf.Manifest],
                *, deleted: bool = False, rollback: bool = False) -> Checkpoint:
        """Write content, then advance the head by compare-and-swap in the first region that
        answers, then write the manifest to history. A commit in a region other than the
        primary (failover) also leaves an outage marker there for reconciliation, written
        before the head CAS (see :meth:`_advance_head`)."""
        self._maybe_reconcile()
        order = self.policy.write_order()
        failures: list[str] = []
        for region in order:
            try:
                content = put_content(region)
                built = self._advance_head(region, name,
                                           lambda version: make(region, version, content),
                                           deleted=deleted, rollback=rollback)
            except RegionUnavailable as exc:
                failures.append(str(exc))
                if region != order[-1]:
                    logger.warning("cannot write %r to the %s region (%s); failing over", name,
                                   region, exc)
                continue
            if region != self.regions[0]:
                self._diverged = True
                self._reconcile_due = True
                logger.warning("checkpoint %r version %s committed in the %s region (failover)",
                               name, built.version, region)
            elif deleted:
                logger.info("checkpoint %r deleted (tombstone %s)", name, built.version)
            else:
                logger.info("checkpoint %r version %s committed (%d bytes, %s) in the %s region",
                            name, built.version, built.size, built.serializer, region)
            return built.to_checkpoint(region)  # type: ignore[arg-type]
        if not self.policy.write_failover and len(self._backends) > 1:
            failures.append("write failover is off (S3Options.write_failover=False)")
        raise RegionUnavailable(f"could not save {name!r}: " + "; ".join(failures))

    def _advance_head(self, region: str, name: str, build: Callable[[str], mf.Manifest], *,
                      deleted: bool, rollback: bool = False) -> mf.Manifest:
        """Compare-and-swap the head of ``name`` in ``region`` from the head this store last
        saw (none: create-only) to a manifest with the next commit sequence number. On 412
        PreconditionFailed / 409 ConditionalRequestConflict: read the head again and retry
        (S3 User Guide, conditional writes). Then write the manifest as history.

        Outside the primary region each attempt first writes an outage marker naming its
        version: a writer killed right after the CAS has then left what reconciliation
        needs to find the commit. A marker whose CAS lost (or never ran) names a version
        that never committed; reconciliation skips it (:mod:`recovery_lib.reconcile`)."""
        backend = self._backends[region]
        key = mf.head_key(self.prefix, name)
        self._history.wait_for((region, name))  # only a current version may lack history
        with self._cache_lock:
            seen = self._head_cache.get((region, name))
        taken = 0
        deadline = time.monotonic() + _CAS_PATIENCE
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and time.monotonic() > deadline:
                raise ConflictError(f"could not commit {name!r}: the head changed {attempt - 1} "
                                    f"times in {_CAS_PATIENCE:.0f} s under concurrent writers")
            tag, current = seen if seen is not None else (None, None)
            seq = mf.version_seq(current.version) + 1 if current is not None else 1
            version = mf.new_version(seq=seq, deleted=deleted, clock=self._wall_clock,
                                     **({"rollback": True} if rollback else {}))
            if current is not None and version == current.version:
                taken += 1  # only a clock standing still and a 32-bit random collision
                if taken >= _COMMIT_ATTEMPTS:
                    raise ConflictError(f"could not commit {name!r}: {_COMMIT_ATTEMPTS} version "
                                        "ids in a row were already taken")
                continue
            built = build(version)
            encoded = mf.encode(built, signing_key=self._signing_key)
            if region != self.regions[0]:
                self._call(region, backend.put, mf.outage_key(self.prefix, name, version), b"")
            try:
                new_tag = self._call(region, backend.put_if_match, key, encoded, tag)
                break
            except ConflictError:
                head = self._read_head(region, name, raw=True)
                if head is not None and head[2] == encoded:  # our write took effect; its
                    new_tag = head[0]                        # response was lost
                    break
                seen = (head[0], head[1]) if head is not None else None
                if head is not None:  # repair history if its writer crashed after the CAS
                    try:
                        self._call(region, backend.put_if_absent,
                                   mf.manifest_key(self.prefix, name, head[1].version), head[2])
                    except ConflictError:
                        pass
                if attempt > 1:  # jittered back-off: contending writers spread out
                    time.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** attempt)))
                logger.debug("head of %r in %s moved; retrying the commit", name, region)
        with self._cache_lock:
            self._head_cache[(region, name)] = (new_tag, built)
        if backend.concurrent_reads and region == self.regions[0]:
            # off the caller's path: the head is the commit (recovery_lib.history_writer)
            self._history.submit((region, name),
                                 lambda: self._write_history(region, name, built, encoded))
        else:  # the secondary (outage commits: reconciliation reads them) and local stores
            self._write_history(region, name, built, encoded, background=False)
        return built

    def _write_history(self, region: str, name: str, built: mf.Manifest, encoded: bytes, *,
                       background: bool = True) -> None:
        """Write a committed manifest to history (create-only). In the background a failure
        is logged and the cached head of ``name`` dropped, so this store's next commit of it
        reads the head again and repairs the record (as after a crash between the head CAS
        and this write)."""
        history = mf.manifest_key(self.prefix, name, built.version)
        try:
            self._call(region, self._backends[region].put_if_absent, history, encoded)
        except ConflictError:
            if not self._own_commit(region, history, encoded):
                logger.error("manifest %s already exists with other content; the head is the "
                             "commit record, history is incomplete", history)
        except RecoveryError as exc:
            if not background:
                raise
            with self._cache_lock:
                self._head_cache.pop((region, name), None)
            logger.warning("history record %s not written (%s); the head holds the commit and "
                           "the next commit of %r repairs it", history, exc, name)

    def _own_commit(self, region: str, key: str, encoded: bytes) -> bool:
        """Whether the manifest already at ``key`` is byte for byte the one this call is
        committing: an earlier attempt of the same conditional PUT took effect but its
        response was lost (a 5xx or a timeout after the write, then a retry that got 412).
        Version ids carry a random part, so no other writer makes the same bytes."""
        try:
            existing = self._call(region, self._backends[region].get, key)
        except RecoveryError as exc:
            logger.info("cannot read back %s after a conflict: %s", key, exc)
            return False
        if existing == encoded:
            logger.info("manifest %s was already committed by a retried request", key)
            return True
        return False

    # -- rewriting history (without deleting any) -------------------------------------------
    def rollback(self, name: str, version: str) -> Checkpoint:
        """Make ``version`` current again by committing a NEW version with its content
        (``parent_version`` records which); nothing is deleted."""
        self._check_writable_name(name)
        mf.validate_version(version)
        if mf.is_tombstone(version):
            raise CheckpointNotFound(f"version {version} of {name!r} is a deletion marker; "
                                     "roll back to a version listed by versions()")
        old, _ = self._manifest_any(name, version)
        if old.inline is not None and hashlib.sha256(old.inline).hexdigest() != old.sha256:
            raise IntegrityError(f"content of {name!r} version {version} does not verify")

        def check_content(region: str) -> None:
            for blob in old.blobs:
                key = mf.ref_key(self.prefix, blob)
                if not self._call(region, self._backends[region].holds, key, blob.sha256,
                                  blob.size):
                    raise CheckpointNotFound(
                        f"content of {name!r} version {version} ({key}) is not in the {region} "
                        "region, or does not verify there; cannot roll back to it there"
                    )

        def make(region: str, new: str, _: None) -> mf.Manifest:
            return mf.Manifest(name=name, version=new, created_at=mf.version_time(new),
                               origin_region=region, serializer=old.serializer,
                               sha256=old.sha256, size=old.size, metadata=old.metadata,
                               blobs=old.blobs, inline=old.inline, parent_version=version,
                               step=old.step)

        checkpoint = self._commit(name, check_content, make, rollback=True)
        logger.info("checkpoint %r rolled back to version %s as version %s", name, version,
                    checkpoint.version)
        return checkpoint

    def delete(self, name: str) -> Checkpoint:
        """Logically delete ``name``: commit a tombstone version. History stays (roll back to
        an older version to restore it). CheckpointNotFound if there is nothing to delete."""
        validate_name(name, prefix=self.prefix)
        if not self.exists(name):
            raise CheckpointNotFound(self._absent_message(name))
        return self._tombstone(name)

    def clear(self, prefix: str = "") -> int:
        """Logically delete every live name starting with ``prefix``; returns how many."""
        names = list(self._heads(prefix)[0])
        for name in names:
            self._tombstone(name)
        logger.info("cleared %d checkpoint(s) under prefix %r", len(names), prefix)
        return len(names)

    def _tombstone(self, name: str) -> Checkpoint:
        def make(region: str, version: str, _: None) -> mf.Manifest:
            return mf.tombstone(name, version, origin_region=region)

        return self._commit(name, lambda region: None, make, deleted=True)



def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

