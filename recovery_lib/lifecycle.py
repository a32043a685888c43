"""Retiring versions under a retention policy (``prune``), and undoing it (``pin``).

Layout, beside the store's (:mod:`recovery_lib.manifest`)::

    P retired/{name}@{version}   a version retired by a prune (logical: it still loads)
    P pinned/{name}@{version}    a version pinned: never retired, never collected

Retiring is logical: a prune writes a *retired* marker per version (create-only, a PUT a job
may make), and nothing else changes; :func:`pin` undoes it (and keeps later prunes away
from that version) until garbage collection (:mod:`recovery_lib.gc`) has removed the
version. Markers are written in the primary region and replicate with everything else.

A prune never retires (see :mod:`recovery_lib.retention`): the current version; the version
each region's head names; the newest DR-safe version, i.e. what a restore in the secondary
would get now (``replication_status(...).restorable``); commits made in the secondary and
not yet reconciled; pinned versions; the version a kept rollback restored; versions whose
manifest cannot be read (their step and lineage are unknown).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import json
import logging
from typing import Any, Callable, Iterable, Mapping, Protocol, TypeVar

from . import manifest as mf
from .backends.base import Backend
from .checkpoint import Checkpoint
from .errors import ConflictError, RecoveryError
from .names import validate_name, validate_prefix
from .replication import ReplicationStatus
from .retention import RetentionPlan, RetentionPolicy, VersionInfo, plan

__all__ = ["LifecycleStore", "PruneReport", "prune", "pin", "retired_key", "pinned_key",
           "parse_marker_key", "markers"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LifecycleStore(Protocol):
    """What prune, GC and du use of a ``CheckpointStore`` (whose internals they share):
    declared here so that these modules do not import the store that calls them."""

    prefix: str
    policy: Any  # FailoverPolicy: write_order()

    @property
    def regions(self) -> tuple[str, ...]: ...

    def backend(self, region: str) -> Backend: ...

    def _call(self, region: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def _entries(self, list_prefix: str, failed: set[str] | None = None
                 ) -> tuple[set[tuple[str, str]], str]: ...

    def _versions_of(self, name: str, failed: set[str] | None = None) -> list[str]: ...

    def _read_head(self, region: str, name: str, *, raw: bool = False) -> Any: ...

    def _get_manifest(self, region: str, name: str, version: str) -> mf.Manifest: ...

    def _manifest_any(self, name: str, version: str) -> tuple[mf.Manifest, str]: ...

    def replication_status(self, name: str, *, deep: bool = True) -> ReplicationStatus: ...

    def versions(self, name: str, *, include_deleted: bool = False,
                 detail: bool = False) -> list[Checkpoint]: ...


def retired_key(prefix: str, name: str, version: str) -> str:
    return f"{prefix}retired/{name}@{version}"


def pinned_key(prefix: str, name: str, version: str) -> str:
    return f"{prefix}pinned/{name}@{version}"


def parse_marker_key(prefix: str, kind: str, key: str) -> tuple[str, str] | None:
    """``(name, version)`` of a ``retired``/``pinned`` marker key, or None."""
    root = f"{prefix}{kind}/"
    if not key.startswith(root):
        return None
    name, sep, version = key[len(root):].rpartition("@")
    if not sep or not name:
        return None
    try:
        mf.validate_version(version)
    except RecoveryError:
        return None
    return name, version


def markers(store: LifecycleStore, kind: str, name_prefix: str = ""
            ) -> set[tuple[str, str]]:
    """``(name, version)`` of every ``kind`` marker under ``name_prefix``, in every region
    that answers (one LIST each; the union, since markers replicate asynchronously)."""
    found: set[tuple[str, str]] = set()
    for region in store.regions:
        for key, _ in store._call(region, store.backend(region).list,
                                  f"{store.prefix}{kind}/{name_prefix}"):
            parsed = parse_marker_key(store.prefix, kind, key)
            if parsed is not None:
                found.add(parsed)
    return found


@dataclasses.dataclass(frozen=True)
class PruneReport:
    """Per name, what a prune kept and retired (or would, with ``dry_run``)."""

    dry_run: bool
    plans: Mapping[str, RetentionPlan]

    @property
    def retired(self) -> list[tuple[str, str]]:
        return [(name, v) for name, p in sorted(self.plans.items()) for v in p.retire]


def prune(store: LifecycleStore, policy: RetentionPolicy | Mapping[str, Any], *,
          prefix: str = "", dry_run: bool = True,
          now: dt.datetime | None = None) -> PruneReport:
    """Retire what ``policy`` does not keep, for every name under ``prefix``. With
    ``dry_run`` (the default) nothing is written."""
    if not isinstance(policy, RetentionPolicy):
        policy = RetentionPolicy.from_mapping(policy)
    validate_prefix(prefix)
    now = now or dt.datetime.now(dt.timezone.utc)
    retired = markers(store, "retired", prefix)
    pinned = markers(store, "pinned", prefix)
    names = sorted({name for name, _ in store._entries(mf.listing_prefix(store.prefix, prefix))[0]})
    plans: dict[str, RetentionPlan] = {}
    for name in names:
        plans[name] = _plan_name(store, name, policy, now=now,
                                 retired={v for n, v in retired if n == name},
                                 pinned={v for n, v in pinned if n == name})
    if not dry_run:
        region = store.policy.write_order()[0]
        stamp = json.dumps({"retired_at": now.isoformat(), "policy": dataclasses.asdict(policy)},
                           sort_keys=True).encode()
        for name, version in PruneReport(False, plans).retired:
            try:
                store._call(region, store.backend(region).put_if_absent,
                            retired_key(store.prefix, name, version), stamp)
            except ConflictError:
                pass  # retired by a concurrent prune
        count = sum(len(p.retire) for p in plans.values())
        logger.info("prune: retired %d version(s) of %d name(s) under %r", count, len(plans),
                    prefix)
    return PruneReport(dry_run=dry_run, plans=plans)


def pin(store: LifecycleStore, name: str, version: str) -> None:
    """Pin ``version`` of ``name``: it is no longer retired (undoing a prune, until garbage
    collection removed it), and later prunes and collections leave it."""
    validate_name(name, prefix=store.prefix)
    mf.validate_version(version)
    store._manifest_any(name, version)  # CheckpointNotFound when it is gone
    region = store.policy.write_order()[0]
    try:
        store._call(region, store.backend(region).put_if_absent,
                    pinned_key(store.prefix, name, version), b"")
    except ConflictError:
        pass
    logger.info("checkpoint %r version %s pinned", name, version)


def protected_versions(store: LifecycleStore, name: str) -> set[str]:
    """Versions of ``name`` a restore needs, in either region: each region's head (and what
    a head rollback restored), the newest DR-safe version in the secondary, and commits
    not yet reconciled. RegionUnavailable when a region cannot answer: a prune that
    cannot see a region cannot know what a restore there needs."""
    keep: set[str] = set()
    for region in store.regions:
        head = store._read_head(region, name)
        if head is not None:
            keep.add(head[1].version)
            if head[1].parent_version:
                keep.add(head[1].parent_version)
    if len(store.regions) > 1:
        status = store.replication_status(name, deep=False)
        if status.restorable is not None:
            keep.add(status.restorable.version)
        keep.update(status.secondary_only)
    return keep


def _plan_name(store: LifecycleStore, name: str, policy: RetentionPolicy, *,
               now: dt.datetime, retired: set[str], pinned: set[str]) -> RetentionPlan:
    versions = set(store._versions_of(name)) - retired
    protected = protected_versions(store, name) | pinned
    infos: dict[str, VersionInfo] = {}
    parents: dict[str, str] = {}
    for version, m in _manifests(store, name, sorted(versions)):
        if m is None:
            protected.add(version)  # unreadable: step and lineage unknown, keep it
            infos[version] = VersionInfo(version, None, mf.version_time(version), {})
            continue
        infos[version] = VersionInfo(version, m.step, m.created_at, m.metadata)
        if m.parent_version:
            parents[version] = m.parent_version
    while True:  # a kept rollback keeps the version it restored
        result = plan(policy, infos.values(), now=now, protected=protected)
        extra = {parents[v] for v in result.keep if v in parents} - protected
        if not extra:
            return result
        protected |= extra


def _manifests(store: LifecycleStore, name: str, versions: Iterable[str]
               ) -> list[tuple[str, mf.Manifest | None]]:
    def one(version: str) -> tuple[str, mf.Manifest | None]:
        try:
            return version, store._manifest_any(name, version)[0]
        except RecoveryError as exc:
            logger.warning("prune: %r version %s kept, its manifest cannot be read: %s",
                           name, version, exc)
            return version, None

    versions = list(versions)
    if len(versions) > 1 and any(store.backend(r).concurrent_reads for r in store.regions):
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(versions))) as pool:
            return list(pool.map(one, versions))
    return [one(v) for v in versions]
