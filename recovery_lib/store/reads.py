"""Reads with verification and fallback: head and manifest records, ``load``,
``load_with_info`` and ``load_file``.

Every load verifies size and SHA-256 and never returns bytes that do not verify; it falls
back to the other region, or (unpinned) to an older verified version of the current
lineage (:mod:`.lineage`). The head of a name says which version is current.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

from .. import manifest as mf
from .. import serialization, signing
from .._files import create_temp_beside
from .._streams import DigestSink, HashingWriter
from ..backends.base import Progress
from ..checkpoint import Checkpoint
from ..errors import CheckpointNotFound, IntegrityError, RecoveryError, RegionUnavailable
from ..names import validate_name
from .core import StoreCore
from .lineage import live_versions, predecessor, predecessor_of_id

__all__ = ["VerifiedReads"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class VerifiedReads(StoreCore):
    """Loads that verify what they return, falling back along the lineage."""

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
            candidate = (predecessor(history, m) if m is not None
                         else predecessor_of_id(history, candidate))
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
            live = live_versions(self._versions_of(name, failed))
            if not live:
                return None, None, region
            return live[0], None, ""
        if unavailable is not None:
            unavailable.extend(errors)
        raise RegionUnavailable(f"no region answered for the head of {name!r}: "
                                + "; ".join(errors))



def _verify(m: mf.Manifest, region: str, size: int, digest: str | None) -> None:
    if size != m.size or digest != m.sha256:
        raise IntegrityError(
            f"content of {m.name!r} version {m.version} in the {region} region does not verify: "
            f"expected {m.size} bytes with sha256 {m.sha256[:16]}..., got {size} bytes with "
            f"sha256 {(digest or 'unknown')[:16]}..."
        )



def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
