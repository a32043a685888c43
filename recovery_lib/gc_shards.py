"""Shard records in garbage collection: the data of a step not yet committed stays.

``save_shard`` writes a shard's data (``P shard-data/...``; records written before data
keys existed name a content-addressed blob), then its record ``P shards/{name}@{step:015d}/
{rank:06d}.json`` (:mod:`recovery_lib.shards`); no manifest references the blob until
``commit_shards`` commits the step, which may come long after (the slowest rank, a barrier,
a job restarted). So GC (:mod:`recovery_lib.gc`) reads every shard record (one GET each,
concurrent on S3) and decides, per record:

- *consumed*: a version of the name has the record's step and references its blob (for
  an inline shard: has its step). The record no longer protects anything: the manifests
  do, for as long as they are live. The record itself is garbage once every such version
  is retired and older than the grace period (its blob goes in the same collection).
- *abandoned*: not consumed, older than the grace period, and a live version of the name
  already has a higher step: the job moved on. Record and blob are garbage.
- otherwise *pending*: its blob is a reference, whatever its age, and the record stays.

To tell, GC also reads the manifests of the retired versions of every name with shard
records (it reads the live ones anyway). A name with a manifest that cannot be read keeps
all its records and their blobs. Records written while a collection runs are found by the
re-check just before the deletes (one LIST of ``shards/`` per region, GETs of new records
only), and their blobs are kept.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

from . import manifest as mf
from .errors import CheckpointNotFound, IntegrityError, RegionUnavailable

if TYPE_CHECKING:
    from .lifecycle import LifecycleStore

Pair = tuple[str, str]  # (name, version)


class View(Protocol):
    """What this module reads of :class:`recovery_lib.gc.View` (declared here: gc imports
    this module)."""

    shard_records: dict[str, dict[str, tuple[int, float | None]]]
    read: dict[Pair, mf.Manifest]
    unreadable: dict[Pair, str]
    retired: dict[Pair, float | None]

    def versions(self) -> set[Pair]: ...

    def live(self) -> set[Pair]: ...

    def is_retired(self, pair: Pair) -> bool: ...

__all__ = ["ShardRecord", "records_root", "parse_record_key", "classify", "fresh_blobs"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ShardRecord:
    key: str
    name: str
    step: int
    blob: str | None  # the key of the shard's data (or blob); None: an inline shard
    modified: float | None


def records_root(prefix: str) -> str:
    return f"{prefix}shards/"


def parse_record_key(prefix: str, key: str) -> tuple[str, int] | None:
    """``(name, step)`` of a shard record key, None for any other key."""
    root = records_root(prefix)
    if not key.startswith(root) or not key.endswith(".json"):
        return None
    head, _, _rank = key[len(root):].rpartition("/")
    name, at, step = head.rpartition("@")
    if not at or not name or not step.isdigit():
        return None
    return name, int(step)


def _read(store: "LifecycleStore", where: dict[str, tuple[str, float | None]]
          ) -> tuple[list[ShardRecord], set[str]]:
    """GET the records (``key -> (region, modified)``); also the names whose records could
    not be read (all their records are then kept)."""
    def one(item: tuple[str, tuple[str, float | None]]) -> ShardRecord | str:
        key, (region, modified) = item
        name, step = parse_record_key(store.prefix, key)  # type: ignore[misc]
        try:
            record = json.loads(store._call(region, store.backend(region).get, key))
            blob = None if "inline" in record else _blob_key(store.prefix, name, record)
        except (CheckpointNotFound, IntegrityError, RegionUnavailable, ValueError, KeyError,
                TypeError) as exc:
            logger.warning("gc: shard record %s in the %s region cannot be read (%s); the "
                           "shards of %r are kept", key, region, exc, name)
            return name
        return ShardRecord(key, name, step, blob, modified)

    items = sorted(where.items())
    concurrent_reads = any(store.backend(r).concurrent_reads for r in store.regions)
    if len(items) > 1 and concurrent_reads:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
            results = list(pool.map(one, items))
    else:
        results = [one(i) for i in items]
    return ([r for r in results if isinstance(r, ShardRecord)],
            {r for r in results if isinstance(r, str)})


def classify(store: "LifecycleStore", view: View, horizon: float,
             read_manifests: Callable[[Iterable[Pair]], None]
             ) -> tuple[dict[str, set[str]], set[str]]:
    """``({name: blobs its pending records reference}, record keys that are garbage)`` (see
    the module docstring). ``read_manifests`` reads versions into ``view.read`` (failures into
    ``view.unreadable``)."""
    where: dict[str, tuple[str, float | None]] = {}
    for region in store.regions:
        for key, (_, modified) in view.shard_records[region].items():
            seen = where.get(key)
            if seen is None or (modified is not None and (seen[1] is None or modified > seen[1])):
                where[key] = (region, modified)
    if not where:
        return {}, set()
    records, unreadable_names = _read(store, where)
    names = {r.name for r in records}
    read_manifests({p for p in view.versions() if p[0] in names} - set(view.read))
    unsure = unreadable_names | {n for n, _ in view.unreadable}
    by_name: dict[str, list[Pair]] = {}
    for pair in view.read:
        by_name.setdefault(pair[0], []).append(pair)
    live = view.live()
    pending: dict[str, set[str]] = {}
    for name in unreadable_names:  # its data keys are unknown: keep all of that name's data
        root = f"{mf.shard_data_root(store.prefix)}{name}@"
        pending[name] = {k for per in view.blobs.values() for k in per if k.startswith(root)}
    garbage: set[str] = set()
    for record in records:
        if record.name in unsure:
            if record.blob is not None:
                pending.setdefault(record.name, set()).add(record.blob)
            continue
        consumers = [p for p in by_name.get(record.name, ())
                     if view.read[p].step == record.step
                     and (record.blob is None
                          or any(mf.ref_key(store.prefix, b) == record.blob
                                 for b in view.read[p].blobs))]
        if consumers:
            if all(view.is_retired(p) and _old(view.retired[p], horizon) for p in consumers):
                garbage.add(record.key)
            continue
        newer = any(view.read[p].step is not None and view.read[p].step > record.step  # type: ignore[operator]
                    for p in by_name.get(record.name, ()) if p in live)
        if newer and _old(record.modified, horizon):
            garbage.add(record.key)
        elif record.blob is not None:
            pending.setdefault(record.name, set()).add(record.blob)
    return pending, garbage


def fresh_blobs(store: "LifecycleStore", view: View) -> set[str] | None:
    """Blobs of shard records written since the view was built (one LIST per region, GETs
    of the new records only); None when a new record cannot be read (keep every blob)."""
    root = records_root(store.prefix)
    known = {k for per in view.shard_records.values() for k in per}
    new: dict[str, tuple[str, float | None]] = {}
    for region in store.regions:
        for key, _ in store._call(region, store.backend(region).list, root):
            if key not in known and parse_record_key(store.prefix, key) is not None:
                new.setdefault(key, (region, None))
    records, unreadable = _read(store, new)
    if unreadable:
        return None
    return {r.blob for r in records if r.blob is not None}


def _blob_key(prefix: str, name: str, record: dict[str, object]) -> str:
    """The key holding a record's shard: its data key, or (records written before shards
    had data keys) the content address of its SHA-256."""
    location = record.get("key")
    if location is not None:
        return prefix + mf.check_blob_location(name, location)
    sha = record["sha256"]
    if not isinstance(sha, str):
        raise TypeError(f"sha256 {sha!r}")
    return mf.blob_key(prefix, sha)


def _old(modified: float | None, horizon: float) -> bool:
    return modified is not None and modified <= horizon
