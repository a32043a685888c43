"""Listings: ``exists``, ``info``, ``versions``, ``heads``, ``list`` and ``latest``.

Each answers from one (paginated) LIST of manifest keys, or one GET of a head; manifest
fields are read only on request (``detail=True``), concurrently where the backend allows.
"""
from __future__ import annotations

import concurrent.futures
import logging
from typing import Iterable

from .. import manifest as mf
from ..checkpoint import Checkpoint
from ..errors import CheckpointNotFound, IntegrityError
from ..names import validate_name, validate_prefix
from .reads import VerifiedReads

__all__ = ["Listings"]

logger = logging.getLogger(__name__)


class Listings(VerifiedReads):
    """What a store holds: names, their current versions and their histories."""

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
