"""Listings: ``exists``, ``info``, ``versions``, ``heads``, ``list`` and ``latest``.

Each answers from one GET of a head, or (paginated) LISTs of manifest and head keys (the
head records decide what is current, as for loads); manifest fields are read only on
request (``detail=True``), concurrently where the backend allows.
"""
from __future__ import annotations

import concurrent.futures
import logging
from typing import Iterable

from .. import manifest as mf
from ..checkpoint import Checkpoint
from ..errors import CheckpointNotFound, IntegrityError, RegionUnavailable
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
        two (paginated) LISTs (manifests and head records)."""
        return self._heads(prefix)[0]

    def list(self, prefix: str = "", *, detail: bool = False) -> list[Checkpoint]:
        """The current version of each live name starting with ``prefix``, sorted by name,
        from two (paginated) LISTs whatever the number of names. Manifest fields only with
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
        """``{name: current version}`` of live names under ``prefix``, and the region that
        answered: the first in read order (merged with the others, greatest commit order
        winning, once this store has written to the secondary)."""
        validate_prefix(prefix)
        failures: list[str] = []
        order = self.policy.read_order()
        for index, region in enumerate(order):
            try:
                found = self._heads_in(region, prefix)
            except RegionUnavailable as exc:
                failures.append(str(exc))
                if index + 1 < len(order):
                    logger.warning("listing in the %s region failed (%s); trying %s", region,
                                   exc, order[index + 1])
                continue
            if self._diverged:
                for other in order[index + 1:]:
                    try:
                        theirs = self._heads_in(other, prefix)
                    except RegionUnavailable as exc:
                        logger.warning("listing in the %s region failed: %s", other, exc)
                        continue
                    for name, version in theirs.items():
                        if name not in found or mf.order_key(version) > mf.order_key(found[name]):
                            found[name] = version
            return {n: v for n, v in sorted(found.items()) if not mf.is_tombstone(v)}, region
        raise RegionUnavailable(f"no region answered a LIST of {prefix!r}: " + "; ".join(failures))

    def _heads_in(self, region: str, prefix: str) -> dict[str, str]:
        """Current versions (tombstones included) in ``region``: the head records decide,
        as for ``load``/``exists``. Two LISTs (manifests, heads); a head is read only when
        its entity tag differs from that of the newest listed manifest of its name (their
        bytes are equal after every complete commit), i.e. after a crash between a head CAS
        and its history write, or where tags are not content hashes (SSE-KMS, local
        stores). Names without a head (stores written before heads) keep their newest
        listed manifest."""
        backend = self._backends[region]
        root = mf.heads_prefix(self.prefix)
        pool = (concurrent.futures.ThreadPoolExecutor(max_workers=1)
                if backend.concurrent_reads else None)
        try:  # the two LISTs at once where the backend allows
            listed_heads = (pool.submit(self._call, region, backend.list_tagged, root + prefix)
                            if pool is not None else None)
            manifests = self._call(region, backend.list_tagged,
                                   mf.listing_prefix(self.prefix, prefix))
            head_entries = (listed_heads.result() if listed_heads is not None
                            else self._call(region, backend.list_tagged, root + prefix))
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        newest: dict[str, tuple[str, str | None]] = {}
        for key, _size, tag in manifests:
            parsed = mf.parse_manifest_key(self.prefix, key)
            if parsed is None:
                continue
            name, version = parsed
            if name not in newest or mf.order_key(version) > mf.order_key(newest[name][0]):
                newest[name] = (version, tag)
        suspects = []
        for key, _size, tag in head_entries:
            name = key[len(root):-len(".json")] if key.endswith(".json") else ""
            if name and (tag is None or name not in newest or newest[name][1] != tag):
                suspects.append(name)
        found = {name: version for name, (version, _) in newest.items()}

        def read(name: str) -> tuple[str, str | None]:
            try:
                head = self._read_head(region, name)
            except IntegrityError as exc:
                logger.warning("head of %r does not verify (%s); listing its newest manifest",
                               name, exc)
                return name, None
            return name, head[1].version if head is not None else None

        if len(suspects) > 1 and backend.concurrent_reads:
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(suspects))) as pool:
                heads = list(pool.map(read, suspects))
        else:
            heads = [read(name) for name in suspects]
        for name, version in heads:
            if version is not None:
                found[name] = version
        return found

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
