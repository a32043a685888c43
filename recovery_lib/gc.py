"""Garbage collection: physically remove what no restore, in either region, needs.

Run by the maintainer role, the only principal allowed to delete checkpoint objects (jobs
have no ``s3:DeleteObject``). One :func:`collect` call:

1. LISTs the whole store prefix in **every** region (paginated; last-modified times from
   the listing) and GETs each region's head records. A region that does not answer stops
   the collection: what a restore there needs cannot be known.
2. Builds one view over both regions: a version is *live* unless a retired marker names it
   (and no pin), and it is never retired when it is a head in either region, what a head
   rollback restored, or the newest DR-safe version of the name in either region (manifest
   and every blob present there, by size; in the secondary that is what ``restorable()``
   gives). Live manifests are read (GET, from whichever region has them) for the blobs and
   the rollback they reference; a manifest that cannot be read stops blob collection.
3. Garbage, per region: manifests of retired versions, blobs no live manifest in either
   region references, both only when older than the grace period (which protects in-flight
   saves: a blob uploaded but not yet committed, a marker a prune just wrote), then the
   retired markers of removed versions. The blobs of shards whose step is not committed
   yet are references whatever their age (:mod:`recovery_lib.gc_shards`).
4. Just before deleting, LISTs the manifests (and the heads written since it started)
   again in both regions and reads the versions committed meanwhile: a save that reused an
   old blob keeps it; so do shard records written meanwhile.
5. Deletes with ``DeleteObjects``, 1,000 keys per request, in each region separately;
   content first, retired markers after.
6. Checks once more: a version committed between step 4 and the deletes gets its blob back
   (copied from the noncurrent version the delete left: ``Backend.restore``). A save that
   commits later finds its reused blob missing and uploads it again (the store checks a
   reused blob once more after its commit).

Why per region, with the union of both regions' needs (S3 User Guide, "Replicating delete
markers between buckets",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html, and
"What does Amazon S3 replicate?",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html):
a DELETE without a version id adds a delete marker, which replicates only when the rule has
``DeleteMarkerReplication`` enabled (our program enables it on its V2 rule); a DELETE of a
specific version id is never replicated, nor are lifecycle actions. So a deletion in the
primary may or may not reach the secondary: GC deletes in each region itself, and deletes
nowhere what either region's restore needs, since a replicated delete marker would hide it
in the other region too. GC deletes without version ids: the data becomes a noncurrent
version, which the bucket's lifecycle rule expires after ``noncurrentVersionDays``; until
then an operator can undo a collection by removing the delete marker.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from typing import Callable, Iterable

from . import gc_shards
from . import manifest as mf
from .errors import CheckpointNotFound, IntegrityError
from .lifecycle import LifecycleStore, parse_marker_key, retired_key

__all__ = ["GcReport", "RegionGc", "View", "collect", "build_view", "usage",
           "DEFAULT_GRACE_SECONDS", "UNREFERENCED"]

logger = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 24 * 3600.0
_SKEW = 300.0  # seconds of clock skew allowed between this host and the object store
UNREFERENCED = "(unreferenced blobs)"  # the du row of blobs no live version references
Pair = tuple[str, str]  # (name, version)


@dataclasses.dataclass
class RegionGc:
    """What a collection removed (or would, in a dry run) in one region."""

    region: str
    manifests: list[str] = dataclasses.field(default_factory=list)
    blobs: list[str] = dataclasses.field(default_factory=list)
    markers: list[str] = dataclasses.field(default_factory=list)
    records: list[str] = dataclasses.field(default_factory=list)  # shard records (gc_shards)
    bytes: int = 0
    young: int = 0  # garbage left because it is younger than the grace period
    delete_requests: int = 0
    errors: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    restored: list[str] = dataclasses.field(default_factory=list)  # deleted, then restored

    @property
    def keys(self) -> int:
        return len(self.manifests) + len(self.blobs) + len(self.markers) + len(self.records)


@dataclasses.dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    regions: dict[str, RegionGc]
    protected: set[Pair]
    problems: list[str]


@dataclasses.dataclass
class View:
    """Everything collection and ``du`` need, from the listings of every region."""

    prefix: str
    manifests: dict[str, dict[Pair, tuple[int, float | None]]]  # region -> pair -> size, mtime
    blobs: dict[str, dict[str, tuple[int, float | None]]]  # region -> blob key -> size, mtime
    retired: dict[Pair, float | None]  # newest marker time over regions
    retired_keys: dict[str, set[Pair]]  # region -> markers present there
    pinned: set[Pair]
    heads: dict[str, dict[str, mf.Manifest]]  # region -> name -> head manifest
    read: dict[Pair, mf.Manifest] = dataclasses.field(default_factory=dict)
    unreadable: dict[Pair, str] = dataclasses.field(default_factory=dict)
    protected: set[Pair] = dataclasses.field(default_factory=set)
    shard_records: dict[str, dict[str, tuple[int, float | None]]] = dataclasses.field(
        default_factory=dict)  # region -> shard record key -> size, mtime

    def versions(self) -> set[Pair]:
        found = {p for per in self.manifests.values() for p in per}
        found |= {(n, m.version) for per in self.heads.values() for n, m in per.items()}
        return found

    def is_retired(self, pair: Pair) -> bool:
        return pair in self.retired and pair not in self.pinned and pair not in self.protected

    def live(self) -> set[Pair]:
        return {p for p in self.versions() if not self.is_retired(p)}

    def referenced(self) -> set[str]:
        return {mf.ref_key(self.prefix, b) for p in self.live() if p in self.read
                for b in self.read[p].blobs}


def build_view(store: LifecycleStore, *, name_prefix: str = "") -> View:
    prefix = store.prefix
    view = View(prefix=prefix, manifests={}, blobs={}, retired={}, retired_keys={},
                pinned=set(), heads={})
    for region in store.regions:
        listed = store._call(region, lambda: list(store.backend(region).list_modified(prefix)))
        _index(store, view, region, listed, name_prefix)
    _protect(store, view)
    return view


def _index(store: LifecycleStore, view: View, region: str,
           listed: list[tuple[str, int, float | None]], name_prefix: str) -> None:
    prefix = view.prefix
    manifests: dict[Pair, tuple[int, float | None]] = {}
    blobs: dict[str, tuple[int, float | None]] = {}
    head_names: list[str] = []
    view.retired_keys[region] = set()
    view.shard_records[region] = {}
    blob_roots = (mf.blob_key(prefix, ""), mf.shard_data_root(prefix))
    head_root = mf.heads_prefix(prefix)
    for key, size, modified in listed:
        if key.startswith(blob_roots):  # content addresses and shards' data keys
            blobs[key] = (size, modified)
        elif key.startswith(head_root) and key.endswith(".json"):
            name = key[len(head_root):-len(".json")]
            if name.startswith(name_prefix):
                head_names.append(name)
        elif (pair := mf.parse_manifest_key(prefix, key)) is not None:
            if pair[0].startswith(name_prefix):
                manifests[pair] = (size, modified)
        elif (pair := parse_marker_key(prefix, "retired", key)) is not None:
            if pair[0].startswith(name_prefix):
                view.retired_keys[region].add(pair)
                seen = view.retired.get(pair)
                view.retired[pair] = modified if seen is None or modified is None else max(
                    seen, modified)
        elif (pair := parse_marker_key(prefix, "pinned", key)) is not None:
            view.pinned.add(pair)
        elif (at := gc_shards.parse_record_key(prefix, key)) is not None:
            if at[0].startswith(name_prefix):
                view.shard_records[region][key] = (size, modified)
    view.manifests[region], view.blobs[region] = manifests, blobs
    view.heads[region] = {}
    for name in head_names:
        head = store._read_head(region, name)
        if head is not None:
            view.heads[region][name] = head[1]


def _protect(store: LifecycleStore, view: View) -> None:
    """Mark what restores need; read every live manifest."""
    for per in view.heads.values():
        for name, m in per.items():
            view.protected.add((name, m.version))
            view.read[(name, m.version)] = m
            if m.parent_version:
                view.protected.add((name, m.parent_version))
    _read(store, view, view.live() - set(view.read))
    for region in store.regions:  # newest DR-safe version of each name, in each region
        by_name: dict[str, list[str]] = {}
        for name, version in view.manifests[region]:
            by_name.setdefault(name, []).append(version)
        for name, versions in by_name.items():
            for version in sorted(versions, key=mf.order_key, reverse=True):
                if mf.is_tombstone(version):
                    break
                pair = (name, version)
                if pair not in view.read:
                    _read(store, view, {pair})
                m = view.read.get(pair)
                if m is not None and all(
                        view.blobs[region].get(mf.ref_key(view.prefix, b), (None,))[0] == b.size
                        for b in m.blobs):
                    view.protected.add(pair)
                    break
    while True:  # live rollbacks keep what they restored
        extra = {(n, view.read[(n, v)].parent_version) for n, v in view.live()
                 if (n, v) in view.read and view.read[(n, v)].parent_version} - view.protected
        extra = {p for p in extra if p in view.retired}
        if not extra:
            return
        view.protected |= extra  # type: ignore[arg-type]
        _read(store, view, extra - set(view.read))  # type: ignore[arg-type]


def _read(store: LifecycleStore, view: View, pairs: Iterable[Pair]) -> None:
    def one(pair: Pair) -> tuple[Pair, mf.Manifest | None, str]:
        error = "manifest listed but not found"
        for region in store.regions:
            if pair in view.manifests[region]:
                try:
                    return pair, store._get_manifest(region, *pair), ""
                except (CheckpointNotFound, IntegrityError) as exc:
                    error = str(exc)
        return pair, None, error

    pairs = sorted(pairs)
    if len(pairs) > 1 and any(store.backend(r).concurrent_reads for r in store.regions):
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(pairs))) as pool:
            results = list(pool.map(one, pairs))
    else:
        results = [one(p) for p in pairs]
    for pair, m, error in results:
        if m is not None:
            view.read[pair] = m
        else:
            view.unreadable[pair] = error


def collect(store: LifecycleStore, *, grace_seconds: float = DEFAULT_GRACE_SECONDS,
            dry_run: bool = False, clock: Callable[[], float] = time.time) -> GcReport:
    """Collect garbage in every region of ``store`` (see the module docstring)."""
    if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, (int, float)) \
            or grace_seconds < 0:
        from .errors import ConfigError
        raise ConfigError(f"grace period {grace_seconds!r}: expected seconds >= 0")
    started = clock()
    view = build_view(store)
    horizon = started - grace_seconds
    problems = [f"{n}@{v}: {why}" for (n, v), why in sorted(view.unreadable.items())
                if not view.is_retired((n, v))]
    if problems:
        logger.error("gc: live manifests cannot be read, no blob is collected: %s",
                     "; ".join(problems))
    pending, spent = gc_shards.classify(store, view, horizon, lambda p: _read(store, view, p))
    referenced = view.referenced().union(*pending.values())
    report = GcReport(dry_run=dry_run, grace_seconds=float(grace_seconds), regions={},
                      protected=set(view.protected), problems=problems)
    for region in store.regions:
        out = report.regions[region] = RegionGc(region)
        for pair, (size, modified) in view.manifests[region].items():
            if view.is_retired(pair):
                if _old(view.retired[pair], horizon) and _old(modified, horizon):
                    out.manifests.append(mf.manifest_key(view.prefix, *pair))
                else:
                    out.young += 1
        if not problems:
            for key, (size, modified) in view.blobs[region].items():
                if key in referenced:
                    continue
                if _old(modified, horizon):
                    out.blobs.append(key)
                else:
                    out.young += 1
    # a retired marker goes once its version's manifest is gone from every region
    going = {r: set(report.regions[r].manifests) for r in store.regions}
    for region in store.regions:
        out = report.regions[region]
        for pair in view.retired_keys[region]:
            if view.is_retired(pair) and _old(view.retired[pair], horizon) and all(
                    pair not in view.manifests[r]
                    or mf.manifest_key(view.prefix, *pair) in going[r] for r in store.regions):
                out.markers.append(retired_key(view.prefix, *pair))
        out.records = sorted(spent & set(view.shard_records[region]))
    if not dry_run:
        _recheck(store, view, report, since=started - _SKEW)
    for region in store.regions:
        out = report.regions[region]
        out.bytes = sum(view.manifests[region][mf.parse_manifest_key(view.prefix, k)][0]  # type: ignore[index]
                        for k in out.manifests)
        out.bytes += sum(view.blobs[region][k][0] for k in out.blobs)
        if dry_run:
            continue
        for keys in (out.manifests + out.blobs, out.markers + out.records):  # after content
            if keys:
                out.errors.extend(store._call(region, store.backend(region).delete_many,
                                              sorted(keys)))
                out.delete_requests += -(-len(keys) // 1000)
    if not dry_run:
        _repair(store, view, report, since=started - _SKEW)
    for out in report.regions.values():
        logger.info("gc in the %s region: %d manifest(s), %d blob(s), %d marker(s), %d shard "
                    "record(s), %d bytes; "
                    "%d younger than the grace period; %d restored, %d error(s)%s", out.region,
                    len(out.manifests), len(out.blobs), len(out.markers), len(out.records),
                    out.bytes, out.young,
                    len(out.restored), len(out.errors), " (dry run)" if dry_run else "")
    return report


def _fresh(store: LifecycleStore, view: View, since: float) -> set[Pair]:
    """Versions committed since the view was built, read: new history manifests (one LIST
    per region) and heads written since ``since`` (a LIST per region, GETs of those only;
    a commit is in its head before its history manifest)."""
    known = view.versions()
    fresh: set[Pair] = set()
    for region in store.regions:
        backend = store.backend(region)
        for key, _ in store._call(region, backend.list, mf.manifests_root(view.prefix)):
            pair = mf.parse_manifest_key(view.prefix, key)
            if pair is not None and pair not in known:
                fresh.add(pair)
                view.manifests[region].setdefault(pair, (0, None))
        root = mf.heads_prefix(view.prefix)
        for key, _, modified in store._call(region, lambda: list(backend.list_modified(root))):
            if not key.endswith(".json") or (modified is not None and modified < since):
                continue
            head = store._read_head(region, key[len(root):-len(".json")])
            if head is not None and (head[1].name, head[1].version) not in known:
                pair = (head[1].name, head[1].version)
                fresh.add(pair)
                view.read[pair] = head[1]
    _read(store, view, fresh - set(view.read))
    return fresh


def _recheck(store: LifecycleStore, view: View, report: GcReport, since: float) -> None:
    """Just before deleting: blobs referenced by versions committed meanwhile are kept."""
    fresh = _fresh(store, view, since)
    keep = {mf.ref_key(view.prefix, b) for p in fresh if p in view.read
            for b in view.read[p].blobs}
    shards = gc_shards.fresh_blobs(store, view)
    if any(p in view.unreadable for p in fresh) or shards is None:
        keep = {k for out in report.regions.values() for k in out.blobs}
    else:
        keep |= shards
    for out in report.regions.values():
        out.blobs = [k for k in out.blobs if k not in keep]


def _repair(store: LifecycleStore, view: View, report: GcReport, since: float) -> None:
    """After deleting: a version committed between the last check and the deletes (a save
    reusing a blob it found present) gets its blob back, copied from the noncurrent
    version the delete left. A save that commits after this check finds the blob missing
    itself and uploads it again (CheckpointStore.save)."""
    fresh = _fresh(store, view, since)
    needed = {mf.ref_key(view.prefix, b) for p in fresh if p in view.read
              for b in view.read[p].blobs}
    for region in store.regions:
        out = report.regions[region]
        for key in sorted(needed & set(out.blobs)):
            if store._call(region, store.backend(region).restore, key):
                out.restored.append(key)
                logger.warning("gc: %s in the %s region was deleted while a save reused it; "
                               "restored", key, region)
            else:
                out.errors.append((key, "deleted while a save reused it, and could not be "
                                        "restored (the saver uploads it again)"))


def _old(modified: float | None, horizon: float) -> bool:
    return modified is not None and modified <= horizon


def usage(store: LifecycleStore, name_prefix: str = "") -> list[dict[str, object]]:
    """``recovery du``: per region and name, bytes and objects that are live (head, manifests
    of unretired versions, the blobs they reference, shard records and the blobs of shards
    not committed yet) against garbage (manifests of retired
    versions and their markers); blobs no live version references in one row of their own.
    One view as for :func:`collect` (LISTs, head and live-manifest GETs); nothing written."""
    from .names import validate_prefix

    validate_prefix(name_prefix)
    view = build_view(store, name_prefix=name_prefix)
    rows: list[dict[str, object]] = []
    live = view.live()  # the blobs of shards not committed yet count as their name's
    pending, _ = gc_shards.classify(store, view, float("-inf"), lambda p: _read(store, view, p))
    for region in store.regions:
        per: dict[str, dict[str, int]] = {}

        def add(name: str, kind: str, size: int) -> None:
            row = per.setdefault(name, {"live_bytes": 0, "live_objects": 0,
                                        "garbage_bytes": 0, "garbage_objects": 0})
            row[f"{kind}_bytes"] += size
            row[f"{kind}_objects"] += 1

        for name in view.heads[region]:
            add(name, "live", 0)
        for pair, (size, _) in view.manifests[region].items():
            add(pair[0], "live" if pair in live else "garbage", size)
        for pair in view.retired_keys[region]:
            if view.is_retired(pair):
                add(pair[0], "garbage", 0)
        for key, (size, _) in view.shard_records[region].items():
            add(gc_shards.parse_record_key(view.prefix, key)[0], "live", size)  # type: ignore[index]
        referenced: set[str] = set()
        by_name: dict[str, set[str]] = {n: set(keys) for n, keys in pending.items()}
        for pair in live:
            if pair in view.read:
                by_name.setdefault(pair[0], set()).update(
                    mf.ref_key(view.prefix, b) for b in view.read[pair].blobs)
        for name, blobs in sorted(by_name.items()):
            for key in blobs:
                if key in view.blobs[region]:
                    add(name, "live", view.blobs[region][key][0])
            referenced |= blobs
        for key, (size, _) in view.blobs[region].items():
            if key not in referenced and not name_prefix:
                add(UNREFERENCED, "garbage", size)
        rows.extend({"region": region, "name": name, **counts}
                    for name, counts in sorted(per.items()))
    return rows
