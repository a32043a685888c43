"""Replication status: whether the secondary region could restore what the primary holds
(``replication_status``, ``replication_report``, ``restorable``), the basis of RPO reports."""
from __future__ import annotations

import hashlib
import logging
from typing import Iterable

from .. import manifest as mf
from .._streams import DigestSink
from ..checkpoint import BlobRef, Checkpoint
from ..errors import CheckpointNotFound, ConfigError, IntegrityError, RecoveryError, RegionUnavailable
from ..names import validate_name, validate_prefix
from ..replication import ReplicationStatus
from .lineage import live_versions
from .reads import VerifiedReads

__all__ = ["ReplicationChecks"]

logger = logging.getLogger(__name__)


class ReplicationChecks(VerifiedReads):
    """DR-safety checks of the secondary region, by listing and verifying what it holds."""

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
        for version in live_versions(secondary_versions):
            missing, m = self._dr_check(secondary, name, version, deep=deep)
            if not missing and m is not None:
                restorable = m.to_checkpoint(secondary)  # type: ignore[arg-type]
                break
            problems[version] = missing
            logger.info("checkpoint %r version %s is not DR-safe yet: %s", name, version,
                        ", ".join(missing))
        reachable = primary_versions is not None
        primary_live = live_versions(primary_versions) if primary_versions is not None else []
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
            pending = tuple(v for v in live_versions(secondary_versions) if v > newer_than)
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
            absent = [mf.ref_key(self.prefix, b) for b in blobs
                      if self._call(region, self._backends[region].head,
                                    mf.ref_key(self.prefix, b)) != b.size]
            return (key, *absent), None
        except IntegrityError:
            return (f"{key} (does not verify)",), None
        missing: list[str] = []
        if m.inline is not None:
            if len(m.inline) != m.size or hashlib.sha256(m.inline).hexdigest() != m.sha256:
                missing.append(f"{key} (content does not verify)")
        for blob in m.blobs:
            blob_key = mf.ref_key(self.prefix, blob)
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


def _group(entries: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, version in entries:
        grouped.setdefault(name, []).append(version)
    return {name: sorted(versions, reverse=True) for name, versions in grouped.items()}
