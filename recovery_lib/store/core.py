"""The store's state and its access to regions: the layer every other store layer uses.

``StoreCore`` holds the backends, the failover policy, the signing key and the head cache;
runs each backend call through its region's circuit breaker; lists manifest keys across
regions (with failover, merged once this store has written to the secondary); reads head
and manifest records (verified) and content (size checked first); and triggers
reconciliation after an outage (:mod:`recovery_lib.reconcile`), which uses only these.
"""
from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any, Callable, TypeVar

from .. import manifest as mf
from .. import signing
from ..backends.base import Backend, Progress
from ..errors import (
    CheckpointNotFound,
    ConfigError,
    IntegrityError,
    InvalidName,
    RegionUnavailable,
)
from ..failover import FailoverPolicy
from ..hedge import Hedger
from ..history_writer import HistoryWriter
from ..names import validate_name, validate_prefix
from ..reconcile import reconcile

__all__ = ["INLINE_LIMIT", "StoreCore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
INLINE_LIMIT = 256 * 1024


class StoreCore:
    """State, region access and listings shared by the layers of ``CheckpointStore``."""

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
        self._hedger = Hedger()
        self._history = HistoryWriter()  # history records of remote primaries, written after
        # the head commit off the caller's path (recovery_lib.history_writer)

    def __repr__(self) -> str:
        backends = ", ".join(repr(b) for b in self._backends.values())
        return f"CheckpointStore({backends}, prefix={self.prefix!r})"

    @property
    def regions(self) -> tuple[str, ...]:
        """Region labels, primary first."""
        return tuple(self._backends)

    def backend(self, region: str) -> Backend:
        """The backend serving ``region`` (for inspection and tests); this store's pending
        history writes are flushed first, so it holds all of this store's commits."""
        self._history.flush()
        return self._backends[region]

    def flush(self) -> None:
        """Wait until the history records of this store's commits are written. Loads,
        listings and other processes do not need them (the head is the commit record,
        docs/consistency.md); interpreter exit flushes too."""
        self._history.flush()

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

    def _call(self, region: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one backend call through the region's circuit breaker (one trial call at a
        time while it is half-open)."""
        return self.policy.call(region, fn, *args, **kwargs)

    def _region_entries(self, region: str, list_prefix: str) -> list[tuple[str, str]]:
        entries = []
        self._history.flush()  # this store's own commits are listed as history
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

    # -- records: heads, manifests, content ---------------------------------------------
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

    def _get_manifest(self, region: str, name: str, version: str) -> mf.Manifest:
        """The manifest of ``version`` from history, or from the head when the writer
        crashed between its commit (the head CAS) and the history write."""
        self._history.wait_for((region, name))  # this store's own commit: read it back
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

    def _absent_message(self, name: str) -> str:
        return f"no checkpoint named {name!r} (never saved, or deleted)"

    # -- reconciliation after an outage ---------------------------------------------------
    def reconcile(self) -> list[str]:
        """Bring commits made in the secondary region during an outage into the primary
        (copy their content and manifests unless replication is two-way, then merge heads:
        the greater commit order wins). Returns one line per action. Runs automatically on
        a store's first use and after a failover; ``recovery reconcile`` runs it by hand."""
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
            reconcile(self)
        except RegionUnavailable as exc:
            logger.warning("reconciliation postponed: %s", exc)
            self._reconcile_due = True
        except ConfigError as exc:
            logger.warning("reconciliation not possible with these permissions: %s", exc)

