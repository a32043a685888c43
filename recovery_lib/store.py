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
  then also written as ``P manifests/{name}@{version}.json`` (history, listings). A crash
  before the CAS leaves the previous version current;
- loading the current version is one GET of the head (plus the blob, for large payloads);
  stores written before head records existed are read through their manifest listing;
- every load verifies size and SHA-256 and never returns bytes that do not verify. It
  falls back to the other region, or (when no version was pinned) to an older verified
  version *of the current lineage* (never one a rollback or delete moved away from),
  logging a WARNING; :meth:`CheckpointStore.load_with_info` tells which one served.
  IntegrityError when nothing acceptable verifies.

Commits made in the secondary during an outage leave a marker there; after failback they
are reconciled into the primary (see :mod:`recovery_lib.reconcile`, docs/consistency.md).
"""
from __future__ import annotations

import concurrent.futures
import copy
import hashlib
import inspect
import logging
import os
import random
import stat
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

from . import manifest as mf
from . import serialization, signing
from ._files import create_temp_beside
from ._streams import DigestSink, HashingReader, HashingWriter
from .backends.base import Backend, Progress
from .backends.local import LocalBackend
from .backends.memory import MemoryBackend
from .checkpoint import BlobRef, Checkpoint
from .config import S3Options
from .errors import (
    CheckpointNotFound,
    ConfigError,
    ConflictError,
    IntegrityError,
    InvalidData,
    InvalidName,
    RecoveryError,
    RegionUnavailable,
)
from .failover import FailoverPolicy
from .names import validate_name, validate_prefix
from .platform import Platform, load_platform
from .replication import ReplicationStatus

__all__ = ["CheckpointStore", "INLINE_LIMIT"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
INLINE_LIMIT = 256 * 1024
_HASH_CHUNK = 1024 * 1024
_COMMIT_ATTEMPTS = 5
_CAS_PATIENCE = 120.0  # seconds of lost compare-and-swaps before ConflictError
_named_memory: dict[str, "CheckpointStore"] = {}
_named_memory_lock = threading.Lock()


class CheckpointStore:
    """Versioned checkpoints in one region, or in a primary region with a secondary.

    Build one with :meth:`memory`, :meth:`local`, :meth:`from_platform` or :meth:`from_url`,
    or pass backends directly (``secondary`` enables failover and replication checks).

    Reads prefer the primary region. When it is unavailable (after bounded retries, or
    while its circuit breaker is open) every read, ``exists`` and listings included, is
    answered by the secondary: what the secondary can serve is what a recovery would get.
    Saves go to the secondary too unless the policy's write failover is off; once this
    store has written there, its listings merge both regions so it keeps seeing its own
    newest versions after the primary returns (other processes rely on two-way
    replication for that).
    """

    def __init__(self, primary: Backend, secondary: Backend | None = None, *, prefix: str = "",
                 inline_limit: int = INLINE_LIMIT, policy: FailoverPolicy | None = None,
                 manifest_key: bytes | None = None, two_way: bool = False,
                 wall_clock: Callable[[], int] = time.time_ns) -> None:
        validate_prefix(prefix, what="store prefix")
        if prefix and not prefix.endswith("/"):
            raise ConfigError(f"store prefix {prefix!r} must end with '/' (e.g. 'checkpoints/')")
        if isinstance(inline_limit, bool) or not isinstance(inline_limit, int) or inline_limit < 0:
            raise ConfigError(f"inline_limit must be an int >= 0, got {inline_limit!r}")
        self.prefix = prefix
        self.inline_limit = inline_limit
        self._backends: dict[str, Backend] = {primary.region: primary}
        if secondary is not None:
            if secondary.region in self._backends:
                raise ConfigError(f"primary and secondary backends share the region label "
                                  f"{secondary.region!r}")
            self._backends[secondary.region] = secondary
        self.policy = policy or FailoverPolicy(list(self._backends))
        if list(self.policy.regions) != list(self._backends):
            raise ConfigError(f"failover policy regions {self.policy.regions} do not match the "
                              f"backends {list(self._backends)}")
        self._diverged = False  # this store wrote to the secondary: merge listings from both
        #: whether the regions replicate both ways (descriptor ``replication.two_way``): then
        #: S3 copies outage writes back and reconciliation only merges heads
        self.two_way = bool(two_way)
        self._signing_key = (signing.check_key(manifest_key) if manifest_key is not None
                             else signing.key_from_environment())
        self._wall_clock = wall_clock  # labels version ids; never orders them
        self._head_cache: dict[tuple[str, str], tuple[str, mf.Manifest]] = {}
        self._cache_lock = threading.Lock()
        self._pickle_warned = False
        self._reconcile_due = secondary is not None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def memory(cls) -> "CheckpointStore":
        """A store in this process's memory (tests, throwaway pipelines)."""
        return cls(MemoryBackend())

    @classmethod
    def local(cls, path: str | os.PathLike[str]) -> "CheckpointStore":
        """A store in a local directory (created if needed)."""
        return cls(LocalBackend(path))

    @classmethod
    def from_platform(cls, descriptor: str | os.PathLike[str] | Mapping[str, Any] | Platform | None = None,
                      *, options: S3Options | None = None, session: Any = None,
                      client_factory: Any = None, clock: Callable[[], float] = time.monotonic,
                      manifest_key: bytes | None = None,
                      wall_clock: Callable[[], int] = time.time_ns) -> "CheckpointStore":
        """A store over the platform's replicated buckets, failing over to the secondary.

        ``descriptor``: the descriptor dict, a path to its JSON, or None for the file named
        by ``$DR_PLATFORM``. ``session`` (a boto3 Session) or ``client_factory`` (called
        as ``factory(region_name=..., endpoint_url=..., config=...)``) supply S3 clients;
        by default a boto3 Session is created on first use (standard credential chain).
        """
        from .backends.s3 import S3Backend  # boto3 is imported only by S3 stores

        platform = load_platform(descriptor)
        options = options or S3Options()
        backends = [
            S3Backend(spec.bucket, region=role, region_name=spec.name,
                      endpoint_url=spec.endpoint_url, kms_key_arn=spec.kms_key_arn,
                      options=options, session=session, client_factory=client_factory)
            for role, spec in (("primary", platform.primary), ("secondary", platform.secondary))
        ]
        policy = FailoverPolicy(["primary", "secondary"], threshold=options.breaker_threshold,
                                cooldown=options.breaker_cooldown,
                                write_failover=options.write_failover, clock=clock)
        return cls(backends[0], backends[1], prefix=platform.checkpoint_prefix, policy=policy,
                   manifest_key=manifest_key, two_way=platform.replication.two_way,
                   wall_clock=wall_clock)

    @classmethod
    def from_url(cls, url: str, *, options: S3Options | None = None, session: Any = None,
                 client_factory: Any = None) -> "CheckpointStore":
        """``memory://`` (a new in-memory store), ``memory://NAME`` (one shared per process
        and name), ``file://PATH`` (local directory; ``file:///abs`` or ``file://rel``) or
        ``s3://bucket/prefix`` (one region, credentials and region from the AWS chain)."""
        if not isinstance(url, str):
            raise ConfigError(f"store URL must be a str, got {type(url).__name__}")
        parsed = urllib.parse.urlsplit(url)
        scheme = parsed.scheme.lower()
        if scheme == "memory":
            name = parsed.netloc + parsed.path
            if not name:
                return cls.memory()
            with _named_memory_lock:
                return _named_memory.setdefault(name, cls.memory())
        if scheme == "file":
            path = urllib.parse.unquote(parsed.netloc + parsed.path)
            if not path:
                raise ConfigError(f"store URL {url!r} has no path; use file:///abs/dir or file://rel/dir")
            return cls.local(path)
        if scheme == "s3":
            from .backends.s3 import S3Backend

            bucket = parsed.netloc
            if not bucket:
                raise ConfigError(f"store URL {url!r} has no bucket; use s3://bucket/prefix")
            prefix = urllib.parse.unquote(parsed.path.lstrip("/"))
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            try:
                validate_prefix(prefix, what="S3 key prefix")
            except InvalidName as exc:
                raise ConfigError(f"store URL {url!r}: {exc}") from exc
            options = options or S3Options()
            backend = S3Backend(bucket, region="primary", options=options, session=session,
                                client_factory=client_factory)
            policy = FailoverPolicy(["primary"], threshold=options.breaker_threshold,
                                    cooldown=options.breaker_cooldown)
            return cls(backend, prefix=prefix, policy=policy)
        raise ConfigError(
            f"unsupported store URL {url!r}; use memory://, file://PATH or s3://bucket/prefix"
        )

    def __repr__(self) -> str:
        backends = ", ".join(repr(b) for b in self._backends.values())
        return f"CheckpointStore({backends}, prefix={self.prefix!r})"

    @property
    def regions(self) -> tuple[str, ...]:
        """Region labels, primary first."""
        return tuple(self._backends)

    def backend(self, region: str) -> Backend:
        """The backend serving ``region`` (for inspection and tests)."""
        return self._backends[region]

    def check(self) -> None:
        """Verify the set-up where a backend can (S3: buckets exist and are versioned)."""
        for region, backend in self._backends.items():
            checker = getattr(backend, "check", None)
            if checker is not None:
                self._call(region, checker)

    def _check_writable_name(self, name: str) -> None:
        """Name rules, plus every backend's key rules for the longest keys ``name`` derives
        (its deletion marker's manifest, and its head record), before anything is written:
        a name that can be saved can also be deleted, and a refused save leaves no orphaned
        blob."""
        validate_name(name, prefix=self.prefix)
        keys = (("the deletion marker's manifest", mf.longest_manifest_key(self.prefix, name)),
                ("the head record", mf.head_key(self.prefix, name)))
        for backend in self._backends.values():
            for what, key in keys:
                try:
                    backend.check_key(key)
                except InvalidName as exc:
                    raise InvalidName(f"checkpoint name {name!r} cannot be stored in {backend!r}: "
                                      f"a key it needs ({what}) is refused: {exc}") from exc

    # -- saving ---------------------------------------------------------------------------
    def save(self, name: str, data: Any, *, metadata: Mapping[str, Any] | None = None,
             serializer: str | None = None) -> Checkpoint:
        """Save ``data`` as a new version of ``name``.

        ``data`` is a JSON-compatible value (stored as JSON) or bytes-like (stored raw);
        anything else raises InvalidData unless ``serializer="pickle"``.
        """
        self._check_writable_name(name)
        meta = _check_metadata(metadata)
        payload, used = serialization.dumps(data, serializer)
        return self._save_payload(name, payload, used, meta)

    def _save_payload(self, name: str, payload: bytes, serializer: str,
                      meta: dict[str, Any]) -> Checkpoint:
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
                               size=size, metadata=meta, blobs=content[0], inline=content[1])

        return self._commit(name, put_content, make)

    def save_file(self, name: str, path: str | os.PathLike[str], *,
                  metadata: Mapping[str, Any] | None = None,
                  progress: Progress | None = None) -> Checkpoint:
        """Save a file's bytes as a new version of ``name`` (serializer ``"raw"``), streaming
        with bounded memory (multipart on S3). The file is hashed once (its content address),
        then hashed again while uploading; if it changed in between, the upload fails before
        it completes (nothing is left at the content address), IntegrityError, and nothing
        is committed. ``progress`` is called with byte counts as content moves."""
        self._check_writable_name(name)
        meta = _check_metadata(metadata)
        path = Path(path)
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidData(f"{str(path)!r} is not a regular file; save_file takes a file path")
        size = st.st_size
        if size <= self.inline_limit:
            payload = path.read_bytes()
            if progress:
                progress(len(payload))
            return self._save_payload(name, payload, "raw", meta)
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
                               metadata=meta, blobs=content[0], inline=None)

        return self._commit(name, put_content, make)

    def _commit(self, name: str,
                put_content: Callable[[str], T],
                make: Callable[[str, str, T], mf.Manifest],
                *, deleted: bool = False, rollback: bool = False) -> Checkpoint:
        """Write content, then advance the head by compare-and-swap in the first region that
        answers, then write the manifest to history. A commit in a region other than the
        primary (failover) also leaves an outage marker there for reconciliation."""
        self._maybe_reconcile()
        order = self.policy.write_order()
        failures: list[str] = []
        for region in order:
            try:
                content = put_content(region)
                built = self._advance_head(region, name,
                                           lambda version: make(region, version, content),
                                           deleted=deleted, rollback=rollback)
                if region != self.regions[0]:
                    self._call(region, self._backends[region].put,
                               mf.outage_key(self.prefix, name, built.version), b"")
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
        (S3 User Guide, conditional writes). Then write the manifest as history."""
        backend = self._backends[region]
        key = mf.head_key(self.prefix, name)
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
        history = mf.manifest_key(self.prefix, name, built.version)
        try:
            self._call(region, backend.put_if_absent, history, encoded)
        except ConflictError:
            if not self._own_commit(region, history, encoded):
                logger.error("manifest %s already exists with other content; the head is the "
                             "commit record, history is incomplete", history)
        return built

    def _read_head(self, region: str, name: str, *, raw: bool = False) -> Any:
        """``(tag, manifest)`` of the head of ``name`` in ``region`` (``(tag, manifest,
        bytes)`` with ``raw``), or None when there is none (a name of a legacy store, or
        never saved). IntegrityError when the head does not verify."""
        key = mf.head_key(self.prefix, name)
        try:
            data, tag = self._call(region, self._backends[region].get_tagged, key,
                                   max_bytes=mf.MAX_MANIFEST_BYTES)
        except CheckpointNotFound:
            return None
        m = mf.decode(data, key=key, name=name, version=mf.peek_version(data, key=key),
                      signing_key=self._signing_key)
        if mf.is_tombstone(m.version) != m.deleted:
            raise IntegrityError(f"head {key} is inconsistent")
        return (tag, m, data) if raw else (tag, m)

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

    # -- loading --------------------------------------------------------------------------
    def load(self, name: str, *, version: str | None = None, allow_pickle: bool = False) -> Any:
        """The data of ``name`` (current version, or ``version``), with its saved type."""
        return self.load_with_info(name, version=version, allow_pickle=allow_pickle)[0]

    def load_with_info(self, name: str, *, version: str | None = None,
                       allow_pickle: bool = False) -> tuple[Any, Checkpoint]:
        """Like :meth:`load`, also returning the Checkpoint that served (which version, which
        region), which differs from the current primary version after a fallback."""
        validate_name(name, prefix=self.prefix)
        if version is not None:
            mf.validate_version(version)

        def fetch(region: str, m: mf.Manifest) -> bytes:
            if m.serializer == "pickle" and not allow_pickle:
                serialization.loads(b"", "pickle", allow_pickle=False, name=name)  # raises
            if m.serializer == "pickle" and self._signing_key is None and not self._pickle_warned:
                self._pickle_warned = True
                logger.warning("loading pickle checkpoint %r from a store without a manifest "
                               "key: anyone who may write this store can make you run code; "
                               "set %s to sign and verify manifests", name, signing.ENV_VAR)
            if m.inline is not None:
                payload = m.inline
                digest, size = hashlib.sha256(payload).hexdigest(), len(payload)
            else:
                sink = DigestSink(keep=True)
                # the size is checked against the manifest before any byte is read
                self._download(region, mf.blob_key(self.prefix, m.sha256), sink,
                               expected_size=m.size)
                payload, digest, size = sink.getvalue(), sink.hexdigest(), sink.size
            _verify(m, region, size, digest)
            return payload

        payload, m, region = self._resolve(name, version, fetch)
        try:
            data = serialization.loads(payload, m.serializer, allow_pickle=allow_pickle, name=name)
        except ValueError as exc:  # verified bytes that do not parse: a writer bug
            raise IntegrityError(f"checkpoint {name!r} version {m.version} does not parse as "
                                 f"{m.serializer}: {exc}") from exc
        return data, m.to_checkpoint(region)  # type: ignore[arg-type]

    def load_file(self, name: str, dest: str | os.PathLike[str], *, version: str | None = None,
                  progress: Progress | None = None) -> Checkpoint:
        """Write the content of ``name`` to ``dest``: streamed into a temporary file beside
        it, verified, then moved into place. ``dest`` is never left half-written or
        unverified."""
        validate_name(name, prefix=self.prefix)
        if version is not None:
            mf.validate_version(version)
        dest = Path(dest)
        directory = dest.parent
        if not directory.is_dir():
            raise FileNotFoundError(f"directory {str(directory)!r} for {str(dest)!r} does not exist")

        def fetch(region: str, m: mf.Manifest) -> None:
            fd, temp = create_temp_beside(dest)  # mode as for any new file, not 0600
            try:
                with open(fd, "w+b", buffering=0) as fh:
                    writer = HashingWriter(fh)
                    if m.inline is not None:
                        writer.write(m.inline)
                        if progress:
                            progress(len(m.inline))
                    else:
                        self._download(region, mf.blob_key(self.prefix, m.sha256), writer,
                                       progress=progress, expected_size=m.size)
                    _verify(m, region, writer.size, writer.hexdigest())
                    os.fsync(fh.fileno())
                os.replace(temp, dest)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            _fsync_dir(directory)

        _, m, region = self._resolve(name, version, fetch)
        logger.info("checkpoint %r version %s written to %s from the %s region", name, m.version,
                    dest, region)
        return m.to_checkpoint(region)  # type: ignore[arg-type]

    def _resolve(self, name: str, version: str | None,
                 fetch: Callable[[str, mf.Manifest], T]) -> tuple[T, mf.Manifest, str]:
        """Serve the pinned ``version`` or the current one, trying each region in read
        order; the first copy whose manifest and content verify wins. Unpinned, when the
        current version cannot be served, older versions of its *lineage* are tried: the
        version before it in commit order, or for a rollback the version it restored
        (skipping what the rollback moved away from), never past a deletion."""
        failed: set[str] = set()  # regions that did not answer during this call
        problems: list[str] = []
        unavailable: list[str] = []
        state = {"bad": False}
        if version is not None:
            if mf.is_tombstone(version):
                raise CheckpointNotFound(f"version {version} of {name!r} is a deletion marker")
            served = self._serve(name, version, None, fetch, failed, problems, unavailable, state)
            if served is not None:
                return served
            self._raise_unserved(name, version, problems, unavailable, state["bad"])
        current, known, head_region = self._current(name, failed, unavailable)
        if current is None:
            raise CheckpointNotFound(self._absent_message(name))
        preferred = self.regions[0]
        candidate: str | None = current
        history: list[str] | None = None
        while candidate is not None:
            served = self._serve(name, candidate, (head_region, known) if known else None,
                                 fetch, failed, problems, unavailable, state)
            if served is not None:
                result, m, region = served
                if candidate != current:
                    logger.warning("checkpoint %r: serving version %s from the %s region instead "
                                   "of the current version %s (which could not be served)",
                                   name, candidate, region, current)
                elif region != preferred or unavailable:
                    logger.warning("checkpoint %r version %s served from the %s region", name,
                                   candidate, region)
                return served
            # what came before this candidate in its lineage?
            m = known if known is not None and known.version == candidate else None
            if m is None:
                try:
                    m, _ = self._manifest_any(name, candidate)
                except RecoveryError as exc:
                    if mf.is_rollback(candidate) or not mf.version_seq(candidate):
                        # a rollback (or a legacy id, which does not say): what it skipped
                        # is unknown without its manifest, so nothing older is acceptable
                        problems.append(f"cannot tell what version {candidate} replaced "
                                        f"({exc}); not falling back past it")
                        break
                    m = None  # a plain save, says its id: its predecessor is acceptable
            if history is None:
                try:
                    history = self._versions_of(name, failed)
                except RegionUnavailable as exc:
                    unavailable.append(str(exc))
                    break
            candidate = (_predecessor(history, m) if m is not None
                         else _predecessor_of_id(history, candidate))
            known, head_region = None, ""
        self._raise_unserved(name, None, problems, unavailable, state["bad"])
        raise AssertionError("unreachable")

    def _serve(self, name: str, version: str, known: tuple[str, mf.Manifest] | None,
               fetch: Callable[[str, mf.Manifest], T], failed: set[str], problems: list[str],
               unavailable: list[str], state: dict[str, bool]
               ) -> tuple[T, mf.Manifest, str] | None:
        try:
            order = self.policy.read_order()
        except RegionUnavailable as exc:
            unavailable.append(str(exc))
            return None
        if known is not None and known[0] in order:  # the region whose head we hold first
            order = [known[0]] + [r for r in order if r != known[0]]
        for region in order:
            if region in failed:
                continue
            try:
                if known is not None and region == known[0]:
                    m = known[1]
                else:
                    m = self._get_manifest(region, name, version)
                return fetch(region, m), m, region
            except RegionUnavailable as exc:
                failed.add(region)
                unavailable.append(str(exc))
            except IntegrityError as exc:
                state["bad"] = True
                problems.append(f"version {version} in the {region} region: {exc}")
                logger.warning("checkpoint %r version %s in the %s region does not verify: %s",
                               name, version, region, exc)
            except CheckpointNotFound as exc:
                problems.append(f"version {version} in the {region} region: {exc}")
                logger.debug("checkpoint %r version %s not servable from %s: %s", name,
                             version, region, exc)
        return None

    def _raise_unserved(self, name: str, version: str | None, problems: list[str],
                        unavailable: list[str], bad: bool) -> None:
        details = "; ".join(problems + unavailable)
        if bad:
            raise IntegrityError(f"no verified copy of checkpoint {name!r} that may be served "
                                 f"(the current version or its lineage) could be read: {details}")
        if unavailable:
            raise RegionUnavailable(f"checkpoint {name!r} could not be read: {details}")
        what = f"version {version} of {name!r}" if version else f"checkpoint {name!r}"
        skipped = [r for r in self.regions if not self.policy.breakers[r].allow()]
        if skipped:
            details = "; ".join(filter(None, [details, f"not asked: {', '.join(skipped)} "
                                                       "(circuit open)"]))
        raise CheckpointNotFound(f"{what} not found: {details}" if details else f"{what} not found")

    def _current(self, name: str, failed: set[str] | None = None,
                 unavailable: list[str] | None = None
                 ) -> tuple[str | None, mf.Manifest | None, str]:
        """The current version (None: absent or deleted), its manifest when a head held it,
        and the region whose head said so: the head from the first region that answers (merged with the other
        region's head once this store committed there: greatest commit order wins); for a
        name without a head (legacy store) the newest listed manifest."""
        self._maybe_reconcile()
        failed = set() if failed is None else failed
        errors: list[str] = []
        order = self.policy.read_order()
        for index, region in enumerate(order):
            if region in failed:
                continue
            try:
                head = self._read_head(region, name)
            except RegionUnavailable as exc:
                failed.add(region)
                errors.append(str(exc))
                self._reconcile_due = len(self._backends) > 1
                if index + 1 < len(order):
                    logger.warning("reading the head of %r in the %s region failed (%s); "
                                   "trying %s", name, region, exc, order[index + 1])
                continue
            except signing.SignatureError:
                raise  # forged, not damaged: never fall back past it
            except IntegrityError as exc:
                logger.warning("head of %r in the %s region does not verify (%s); using the "
                               "manifest listing", name, region, exc)
                head = None
                errors.append(str(exc))
            if head is not None and self._diverged:
                for other in order[index + 1:]:
                    try:
                        theirs = self._read_head(other, name)
                    except RecoveryError:
                        continue
                    if theirs is not None and mf.order_key(theirs[1].version) > mf.order_key(head[1].version):
                        head, region = theirs, other
            if head is not None:
                m = head[1]
                return (None, None, region) if m.deleted else (m.version, m, region)
            # no head (a legacy store), or an unreadable one: the newest listed manifest
            live = _live(self._versions_of(name, failed))
            if not live:
                return None, None, region
            return live[0], None, ""
        if unavailable is not None:
            unavailable.extend(errors)
        raise RegionUnavailable(f"no region answered for the head of {name!r}: "
                                + "; ".join(errors))

    def _get_manifest(self, region: str, name: str, version: str) -> mf.Manifest:
        """The manifest of ``version`` from history, or from the head when the writer
        crashed between its commit (the head CAS) and the history write."""
        key = mf.manifest_key(self.prefix, name, version)
        try:
            raw, _ = self._call(region, self._backends[region].get_tagged, key,
                                max_bytes=mf.MAX_MANIFEST_BYTES)
        except CheckpointNotFound:
            if mf.version_seq(version):
                head = self._read_head(region, name)
                if head is not None and head[1].version == version:
                    return head[1]
            raise
        return mf.decode(raw, key=key, name=name, version=version,
                         signing_key=self._signing_key)

    def _manifest_any(self, name: str, version: str) -> tuple[mf.Manifest, str]:
        """A verified manifest from the first region that has one."""
        problems: list[str] = []
        bad = False
        unavailable = False
        for region in self.policy.read_order():
            try:
                return self._get_manifest(region, name, version), region
            except IntegrityError as exc:
                bad = True
                logger.warning("%s", exc)
                problems.append(str(exc))
            except RegionUnavailable as exc:
                unavailable = True
                problems.append(str(exc))
            except CheckpointNotFound as exc:
                problems.append(str(exc))
        if bad:
            raise IntegrityError("; ".join(problems))
        if unavailable:
            raise RegionUnavailable("; ".join(problems))
        raise CheckpointNotFound(f"version {version} of {name!r} not found")

    # -- inspecting -----------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        """True if ``name`` has a committed, not deleted, checkpoint (one GET of its head;
        a LIST for stores without head records)."""
        validate_name(name, prefix=self.prefix)
        return self._current(name)[0] is not None

    def info(self, name: str, *, version: str | None = None) -> Checkpoint:
        """The Checkpoint of the current version of ``name`` (or of ``version``), from its
        manifest; content is not read."""
        validate_name(name, prefix=self.prefix)
        if version is None:
            version, known, region = self._current(name)
            if version is None:
                raise CheckpointNotFound(self._absent_message(name))
            if known is not None:
                return known.to_checkpoint(region)  # type: ignore[arg-type]
        else:
            mf.validate_version(version)
        m, region = self._manifest_any(name, version)
        return m.to_checkpoint(region)  # type: ignore[arg-type]

    def versions(self, name: str, *, include_deleted: bool = False,
                 detail: bool = False) -> list[Checkpoint]:
        """Every committed version of ``name``, newest first, from one (paginated) LIST.
        Tombstones only with ``include_deleted``; manifest fields only with ``detail=True``
        (one GET per version, concurrent on S3). CheckpointNotFound if ``name`` was never
        saved; a deleted name still has its history."""
        validate_name(name, prefix=self.prefix)
        entries, region = self._entries(mf.versions_prefix(self.prefix, name))
        listed = {v for n, v in entries if n == name}
        try:
            head = self._read_head(region, name)
        except IntegrityError as exc:
            logger.warning("head of %r does not verify: %s", name, exc)
            head = None
        if head is not None:  # committed, its history write may not have happened (crash)
            listed.add(head[1].version)
        versions = sorted(listed, reverse=True)
        if not versions:
            raise CheckpointNotFound(f"no checkpoint named {name!r} was ever saved")
        if not include_deleted:
            versions = [v for v in versions if not mf.is_tombstone(v)]
        return self._checkpoints([(name, v) for v in versions], region, detail=detail)

    def heads(self, prefix: str = "") -> dict[str, str]:
        """``{name: current version}`` for every live name starting with ``prefix``, from
        one (paginated) LIST."""
        return self._heads(prefix)[0]

    def list(self, prefix: str = "", *, detail: bool = False) -> list[Checkpoint]:
        """The current version of each live name starting with ``prefix``, sorted by name,
        from one (paginated) LIST whatever the number of names. Manifest fields only with
        ``detail=True`` (one GET per name, concurrent on S3)."""
        heads, region = self._heads(prefix)
        return self._checkpoints(list(heads.items()), region, detail=detail)

    def latest(self, prefix: str = "") -> Checkpoint | None:
        """The most recently committed checkpoint under ``prefix`` (detailed), or None."""
        heads, _ = self._heads(prefix)
        if not heads:
            return None
        # versions of different names have no common commit order: their time labels decide
        name, version = max(heads.items(), key=lambda item: (mf.version_time(item[1]), item[1][-8:]))
        m, region = self._manifest_any(name, version)
        return m.to_checkpoint(region)  # type: ignore[arg-type]

    def _heads(self, prefix: str) -> tuple[dict[str, str], str]:
        validate_prefix(prefix)
        entries, region = self._entries(mf.listing_prefix(self.prefix, prefix))
        heads: dict[str, str] = {}
        for name, version in entries:
            if version > heads.get(name, ""):
                heads[name] = version
        return {n: v for n, v in sorted(heads.items()) if not mf.is_tombstone(v)}, region

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
                key = mf.blob_key(self.prefix, blob.sha256)
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
                               blobs=old.blobs, inline=old.inline, parent_version=version)

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

    # -- reconciliation after an outage ---------------------------------------------------
    def reconcile(self) -> list[str]:
        """Bring commits made in the secondary region during an outage into the primary
        (copy their content and manifests unless replication is two-way, then merge heads:
        the greater commit order wins). Returns one line per action. Runs automatically on
        a store's first use and after a failover; ``recovery reconcile`` runs it by hand."""
        from .reconcile import reconcile

        self._reconcile_due = False
        return reconcile(self)

    def _maybe_reconcile(self) -> None:
        if not self._reconcile_due or len(self._backends) < 2:
            return
        primary, secondary = self.regions[:2]
        if not (self.policy.breakers[primary].allow() and self.policy.breakers[secondary].allow()):
            return
        self._reconcile_due = False
        try:
            from .reconcile import reconcile

            reconcile(self)
        except RegionUnavailable as exc:
            logger.warning("reconciliation postponed: %s", exc)
            self._reconcile_due = True
        except ConfigError as exc:
            logger.warning("reconciliation not possible with these permissions: %s", exc)

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

    # -- replication ----------------------------------------------------------------------
    def replication_status(self, name: str, *, deep: bool = True) -> ReplicationStatus:
        """Whether the current primary version of ``name`` is DR-safe (manifest and content
        present and verified in the secondary), and what the secondary could restore.
        ``deep=False`` checks content by size (HEAD) instead of reading and hashing it."""
        validate_name(name, prefix=self.prefix)
        primary, secondary = self._replicated_regions()
        versions_prefix = mf.versions_prefix(self.prefix, name)
        primary_versions = self._try_entries(primary, versions_prefix)
        secondary_versions = _group(self._region_entries(secondary, versions_prefix))
        return self._status(name, None if primary_versions is None
                            else _group(primary_versions).get(name, []),
                            secondary_versions.get(name, []), deep=deep)

    def replication_report(self, prefix: str = "", *, deep: bool = True) -> list[ReplicationStatus]:
        """:meth:`replication_status` for every name under ``prefix`` in either region
        (two LISTs, then per-name checks); the basis of RPO reports."""
        validate_prefix(prefix)
        primary, secondary = self._replicated_regions()
        list_prefix = mf.listing_prefix(self.prefix, prefix)
        primary_entries = self._try_entries(primary, list_prefix)
        primary_versions = _group(primary_entries) if primary_entries is not None else None
        secondary_versions = _group(self._region_entries(secondary, list_prefix))
        names = sorted(set(primary_versions or {}) | set(secondary_versions))
        report = []
        for name in names:
            status = self._status(name, None if primary_versions is None
                                  else primary_versions.get(name, []),
                                  secondary_versions.get(name, []), deep=deep)
            if status.primary_version is None and status.restorable is None and not status.pending:
                continue  # deleted in both regions
            report.append(status)
        return report

    def restorable(self, name: str, *, deep: bool = True) -> Checkpoint | None:
        """The newest checkpoint of ``name`` the secondary region can serve (manifest and
        content present and verified there), or None."""
        return self.replication_status(name, deep=deep).restorable

    def _replicated_regions(self) -> tuple[str, str]:
        if len(self._backends) < 2:
            raise ConfigError(
                f"this store has no secondary region ({self!r}); replication checks need a "
                "store built with CheckpointStore.from_platform(...)"
            )
        primary, secondary = self.regions[:2]
        return primary, secondary

    def _try_entries(self, region: str, list_prefix: str) -> list[tuple[str, str]] | None:
        if not self.policy.breakers[region].allow():
            return None
        try:
            return self._region_entries(region, list_prefix)
        except RegionUnavailable as exc:
            logger.warning("replication check: %s", exc)
            return None

    def _status(self, name: str, primary_versions: list[str] | None,
                secondary_versions: list[str], *, deep: bool) -> ReplicationStatus:
        _, secondary = self._replicated_regions()
        restorable: Checkpoint | None = None
        problems: dict[str, tuple[str, ...]] = {}
        for version in _live(secondary_versions):
            missing, m = self._dr_check(secondary, name, version, deep=deep)
            if not missing and m is not None:
                restorable = m.to_checkpoint(secondary)  # type: ignore[arg-type]
                break
            problems[version] = missing
            logger.info("checkpoint %r version %s is not DR-safe yet: %s", name, version,
                        ", ".join(missing))
        reachable = primary_versions is not None
        primary_live = _live(primary_versions) if primary_versions is not None else []
        current = primary_live[0] if primary_live else None
        missing: tuple[str, ...] = ()
        if current is not None:
            if restorable is not None and restorable.version == current:
                missing = ()
            elif current in problems:
                missing = problems[current]
            else:
                missing, _ = self._dr_check(secondary, name, current, deep=deep,
                                            source=self.regions[0])
        secondary_only: tuple[str, ...] = ()
        if reachable:
            in_primary = set(primary_versions or [])
            secondary_only = tuple(sorted((v for v in secondary_versions if v not in in_primary),
                                          key=mf.order_key))
        newest_primary = (primary_versions or [""])[0] if primary_versions else ""
        behind = any(v > newest_primary for v in secondary_only)
        if behind:
            missing = (*missing, "the secondary holds newer commits that the primary lacks "
                       f"({', '.join(secondary_only)}): run `recovery reconcile`")
        dr_safe = current is not None and not missing
        newer_than = restorable.version if restorable is not None else ""
        if reachable:
            pending = tuple(v for v in primary_live if v > newer_than)
        else:
            pending = tuple(v for v in _live(secondary_versions) if v > newer_than)
        if dr_safe:
            pending = tuple(v for v in pending if v != current)
        if not pending:
            lag: float | None = 0.0
        elif restorable is None:
            lag = None
        else:
            lag = (mf.version_time(pending[0]) - mf.version_time(restorable.version)).total_seconds()
        return ReplicationStatus(name=name, primary_version=current, dr_safe=dr_safe,
                                 restorable=restorable, missing=missing, pending=pending,
                                 lag_seconds=lag, primary_reachable=reachable,
                                 secondary_only=secondary_only)

    def _dr_check(self, region: str, name: str, version: str, *, deep: bool,
                  source: str | None = None) -> tuple[tuple[str, ...], mf.Manifest | None]:
        """Keys of ``version`` missing or not verifying in ``region`` (empty: DR-safe)."""
        key = mf.manifest_key(self.prefix, name, version)
        try:
            m = self._get_manifest(region, name, version)
        except CheckpointNotFound:
            blobs: tuple[BlobRef, ...] = ()
            if source is not None:  # which content would it need? ask the source region
                try:
                    blobs = self._get_manifest(source, name, version).blobs
                except RecoveryError:
                    blobs = ()
            absent = [mf.blob_key(self.prefix, b.sha256) for b in blobs
                      if self._call(region, self._backends[region].head,
                                    mf.blob_key(self.prefix, b.sha256)) != b.size]
            return (key, *absent), None
        except IntegrityError:
            return (f"{key} (does not verify)",), None
        missing: list[str] = []
        if m.inline is not None:
            if len(m.inline) != m.size or hashlib.sha256(m.inline).hexdigest() != m.sha256:
                missing.append(f"{key} (content does not verify)")
        for blob in m.blobs:
            blob_key = mf.blob_key(self.prefix, blob.sha256)
            if not deep:
                if self._call(region, self._backends[region].head, blob_key) != blob.size:
                    missing.append(blob_key)
                continue
            sink = DigestSink()
            try:
                self._call(region, self._backends[region].download, blob_key, sink)
            except CheckpointNotFound:
                missing.append(blob_key)
                continue
            if sink.size != blob.size or sink.hexdigest() != blob.sha256:
                missing.append(f"{blob_key} (does not verify)")
        return tuple(missing), m

    # -- listing helpers --------------------------------------------------------------------
    def _download(self, region: str, key: str, sink: Any, *, expected_size: int,
                  progress: Progress | None = None) -> None:
        """Download with the size checked before any byte is read, where the backend can
        (backends written before ``expected_size`` existed: checked by HEAD first)."""
        backend = self._backends[region]
        if "expected_size" in inspect.signature(backend.download).parameters:
            self._call(region, backend.download, key, sink, progress=progress,
                       expected_size=expected_size)
            return
        found = self._call(region, backend.head, key)
        if found is not None and found != expected_size:
            raise IntegrityError(f"{key} in the {region} region has {found} bytes, expected "
                                 f"{expected_size}; not read")
        self._call(region, backend.download, key, sink, progress=progress)

    def _call(self, region: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one backend call through the region's circuit breaker (one trial call at a
        time while it is half-open)."""
        return self.policy.call(region, fn, *args, **kwargs)

    def _region_entries(self, region: str, list_prefix: str) -> list[tuple[str, str]]:
        entries = []
        for key, _size in self._call(region, self._backends[region].list, list_prefix):
            parsed = mf.parse_manifest_key(self.prefix, key)
            if parsed is None:
                logger.debug("ignoring key %s: not a manifest key", key)
                continue
            entries.append(parsed)
        return entries

    def _entries(self, list_prefix: str, failed: set[str] | None = None
                 ) -> tuple[set[tuple[str, str]], str]:
        """Manifest ``(name, version)`` pairs under ``list_prefix`` from the first region that
        answers (and from the others too once this store has written to the secondary).
        Regions that fail are added to ``failed``."""
        failures: list[str] = []
        failed = set() if failed is None else failed
        order = self.policy.read_order()
        for index, region in enumerate(order):
            try:
                entries = set(self._region_entries(region, list_prefix))
            except RegionUnavailable as exc:
                failed.add(region)
                failures.append(str(exc))
                if index + 1 < len(order):
                    logger.warning("listing in the %s region failed (%s); trying %s", region,
                                   exc, order[index + 1])
                continue
            if self._diverged:
                for other in order[index + 1:]:
                    try:
                        entries |= set(self._region_entries(other, list_prefix))
                    except RegionUnavailable as exc:
                        failed.add(other)
                        logger.warning("listing in the %s region failed: %s", other, exc)
            return entries, region
        raise RegionUnavailable("no region answered a LIST of " + list_prefix + ": "
                                + "; ".join(failures))

    def _versions_of(self, name: str, failed: set[str] | None = None) -> list[str]:
        """Every version of ``name`` (tombstones included), newest first."""
        entries, _ = self._entries(mf.versions_prefix(self.prefix, name), failed)
        return sorted((v for n, v in entries if n == name), reverse=True)

    def _checkpoints(self, pairs: list[tuple[str, str]], region: str, *,
                     detail: bool) -> list[Checkpoint]:
        """Checkpoints for ``(name, version)`` pairs listed in ``region``: from the listing
        alone, or (``detail``) from their manifests, skipping (and logging) corrupt ones."""
        if not detail:
            return [Checkpoint(name=name, version=version, sha256=None, size=None,
                               created_at=mf.version_time(version), region=region,  # type: ignore[arg-type]
                               deleted=mf.is_tombstone(version))
                    for name, version in pairs]

        def one(pair: tuple[str, str]) -> Checkpoint | None:
            try:
                m, served_by = self._manifest_any(*pair)
            except (IntegrityError, CheckpointNotFound) as exc:
                logger.warning("skipping checkpoint %r version %s: %s", pair[0], pair[1], exc)
                return None
            return m.to_checkpoint(served_by)  # type: ignore[arg-type]

        if len(pairs) > 1 and any(b.concurrent_reads for b in self._backends.values()):
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(pairs))) as pool:
                results: Iterable[Checkpoint | None] = list(pool.map(one, pairs))
        else:
            results = [one(pair) for pair in pairs]
        return [c for c in results if c is not None]

    def _absent_message(self, name: str) -> str:
        return f"no checkpoint named {name!r} (never saved, or deleted)"


# -- helpers ----------------------------------------------------------------------------------
def _live(versions: list[str]) -> list[str]:
    """Versions (newest first) up to, not including, the newest tombstone."""
    live = []
    for version in versions:
        if mf.is_tombstone(version):
            break
        live.append(version)
    return live


def _predecessor(history: list[str], m: mf.Manifest) -> str | None:
    """The version an unpinned load may fall back to when ``m`` cannot be served: for a
    rollback, the version it restored; otherwise the one committed just before it. None
    when that is a deletion (or there is none): the versions before a deletion, and those a
    rollback skipped, were moved away from and are never served unpinned."""
    if m.parent_version is not None:
        target: str | None = m.parent_version
    else:
        older = [v for v in history if mf.order_key(v) < mf.order_key(m.version)]
        target = max(older, key=mf.order_key) if older else None
    if target is None or mf.is_tombstone(target):
        return None
    return target


def _predecessor_of_id(history: list[str], version: str) -> str | None:
    older = [v for v in history if mf.order_key(v) < mf.order_key(version)]
    target = max(older, key=mf.order_key) if older else None
    return None if target is None or mf.is_tombstone(target) else target


def _group(entries: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, version in entries:
        grouped.setdefault(name, []).append(version)
    return {name: sorted(versions, reverse=True) for name, versions in grouped.items()}


def _check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidData(f"metadata must be a dict, got {type(metadata).__name__}")
    meta = dict(metadata)
    serialization.check_json_value(meta, what="metadata")
    return copy.deepcopy(meta)


def _verify(m: mf.Manifest, region: str, size: int, digest: str | None) -> None:
    if size != m.size or digest != m.sha256:
        raise IntegrityError(
            f"content of {m.name!r} version {m.version} in the {region} region does not verify: "
            f"expected {m.size} bytes with sha256 {m.sha256[:16]}..., got {size} bytes with "
            f"sha256 {(digest or 'unknown')[:16]}..."
        )


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
