"""Sharded checkpoints from many writers, committed once (PyTorch DCP style).

Every rank of a job writes its own shard; one call commits the step when, and only when,
all ``world_size`` shards are present and verified::

    save_shard(store, "run/model", step, rank, data)       # on every rank
    ... barrier ...
    commit_shards(store, "run/model", step, world_size)    # on one rank (or all: idempotent)
    data = load_shard(store, "run/model", rank)            # on resume, each rank its own

Layout under the store prefix ``P``::

    P blobs/sha256/{hex}                           each shard's content (content-addressed)
    P shards/{name}@{step:015d}/{rank:06d}.json    the shard record: rank, step, sha256,
                                                   size, serializer (small shards inline)

A shard record is written after its blob, so a record names a blob that was completely
written. ``commit_shards`` LISTs the step's records (one paginated LIST), refuses the step
unless ranks ``0 .. world_size-1`` are all there (and no other), checks every blob is
present with its recorded size (``verify="sha256"``: also its SHA-256, from S3's stored
full-object checksum where there is one, else by reading and hashing it: a full re-read of
the step), and commits ONE multi-item manifest (:mod:`recovery_lib.items`) whose items are
``rank-000000`` ... with ``step`` in the manifest and ``{"world_size": N}`` in the index.
The commit is the store's head compare-and-swap: a rank that crashes before its shard
lands makes the commit raise :class:`ShardsIncomplete` and the previous step stays
current. A rank that saves again replaces its record (the last write wins; only the
committed index counts). Records stay after the commit (jobs have no DeleteObject); they
cost one small object per rank and step.

Why size by default: a shard's writer verified its bytes while uploading them (the upload
fails before it completes when they do not hash to the recorded SHA-256, so nothing
unverified lands at a content address), and every load verifies size and SHA-256 again.
Re-reading every shard at commit time would double the step's I/O (S3 keeps only composite
checksums for multipart uploads, so a HEAD cannot prove a large shard's SHA-256).

DCP writes one ``.metadata`` file after all ranks' files; here the manifest plays that
part and the head CAS makes it the commit point.
"""
from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import logging
from typing import Any, Mapping

from . import items as items_mod
from . import manifest as mf
from .checkpoint import BlobRef, Checkpoint
from .errors import (CheckpointNotFound, IntegrityError, InvalidData, RegionUnavailable,
                     ShardsIncomplete)
from .scale_protocols import ScaleStore

__all__ = ["save_shard", "commit_shards", "load_shard", "shard_item", "ShardsIncomplete"]

logger = logging.getLogger(__name__)

MAX_WORLD_SIZE = 10 ** 6


def shard_item(rank: int) -> str:
    """The item name of ``rank``'s shard in a committed sharded checkpoint."""
    return f"rank-{rank:06d}"


def _records_prefix(store: ScaleStore, name: str, step: int) -> str:
    return f"{store.prefix}shards/{name}@{step:015d}/"


def _check(name: str, step: object, value: object, what: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise InvalidData(f"{what} {value!r} of {name!r} is not an int in [0, {limit})")
    if step is None or mf.validate_step(step) is None:
        raise InvalidData(f"step {step!r} of {name!r}: a sharded checkpoint needs an int step")
    return value


def save_shard(store: ScaleStore, name: str, step: int, rank: int, data: Any) -> dict[str, Any]:
    """Write ``rank``'s shard of ``name`` at ``step`` (not committed until
    :func:`commit_shards`). ``data``: bytes, a file ``Path``, a numpy array, a dict of
    arrays, or a JSON value, as for ``save_items``. Returns the shard record."""
    _check(name, step, rank, "rank", MAX_WORLD_SIZE)
    store._check_writable_name(name)
    item = items_mod.prepare_item(shard_item(rank), data)
    record = {"rank": rank, "step": step, **item.entry()}
    encoded = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
    key = f"{_records_prefix(store, name, step)}{rank:06d}.json"
    failures = []
    for region in store.policy.write_order():
        store.backend(region).check_key(key)
        try:
            if not item.inline:
                # a shard is new content (a step's state): no HEAD to look for a copy
                items_mod.put_blob(store, region, item, reuse=False)
            store._call(region, store.backend(region).put, key, encoded)
        except RegionUnavailable as exc:
            failures.append(str(exc))
            logger.warning("cannot write shard %d of %r step %d in the %s region (%s)", rank,
                           name, step, region, exc)
            continue
        logger.info("shard %d of %r step %d written (%d bytes) in the %s region", rank, name,
                    step, item.size, region)
        return record
    raise RegionUnavailable(f"could not save shard {rank} of {name!r} step {step}: "
                            + "; ".join(failures))


def _read_records(store: ScaleStore, region: str, name: str, step: int
                  ) -> dict[int, dict[str, Any]]:
    """The step's shard records in ``region``: one LIST, then the GETs (concurrent on S3)."""
    backend = store.backend(region)
    keys = [key for key, _ in store._call(region, backend.list, _records_prefix(store, name, step))]

    def read(key: str) -> dict[str, Any]:
        raw = store._call(region, backend.get, key)
        try:
            record = json.loads(raw)
            rank = record["rank"]
            ok = (record["step"] == step and isinstance(rank, int)
                  and key.endswith(f"/{rank:06d}.json")
                  and isinstance(record["sha256"], str) and isinstance(record["size"], int))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise IntegrityError(f"shard record {key} in the {region} region is malformed")
        return record

    workers = min(16, len(keys)) if backend.concurrent_reads and len(keys) > 1 else 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return {record["rank"]: record for record in pool.map(read, keys)}


def _prepared(record: Mapping[str, Any]) -> items_mod.PreparedItem:
    payload = None
    if "inline" in record:
        payload = base64.b64decode(record["inline"])
        if len(payload) != record["size"] or hashlib.sha256(payload).hexdigest() != record["sha256"]:
            raise IntegrityError(f"shard record of rank {record['rank']} does not verify")
    return items_mod.PreparedItem(shard_item(record["rank"]), record["serializer"],
                                  record["sha256"], record["size"], payload=payload,
                                  spec=record.get("spec"))


def commit_shards(store: ScaleStore, name: str, step: int, world_size: int, *,
                  metadata: Mapping[str, Any] | None = None, verify: str = "size") -> Checkpoint:
    """Commit ``step`` of ``name`` once all ``world_size`` shards are present and verified;
    :class:`ShardsIncomplete` (nothing committed) otherwise. When the current version is
    already this step with these shards, it is returned and nothing new is committed."""
    if isinstance(world_size, bool) or not isinstance(world_size, int) or not 1 <= world_size <= MAX_WORLD_SIZE:
        raise InvalidData(f"world size {world_size!r} of {name!r} is not an int in [1, {MAX_WORLD_SIZE}]")
    _check(name, step, 0, "rank", MAX_WORLD_SIZE)
    if verify not in ("size", "sha256"):
        raise InvalidData(f"verify={verify!r}: use 'size' (HEAD each shard) or 'sha256' "
                          "(also check each shard's SHA-256, re-reading where S3 has no "
                          "full-object checksum)")
    store._check_writable_name(name)
    region = store.policy.write_order()[0]
    records = _read_records(store, region, name, step)
    missing = sorted(set(range(world_size)) - set(records))
    extra = sorted(set(records) - set(range(world_size)))
    if missing or extra:
        raise ShardsIncomplete(
            f"step {step} of {name!r} cannot be committed with world size {world_size}: "
            f"shards missing for ranks {missing}" + (f", shards of unknown ranks {extra}" if extra else "")
            + "; nothing was committed, the previous step stays current")
    prepared = [_prepared(records[rank]) for rank in range(world_size)]
    current = _current_same(store, name, step, prepared)
    if current is not None:
        logger.info("step %d of %r is already committed as version %s", step, name, current.version)
        return current

    def check_content(at: str) -> tuple[BlobRef, ...]:
        blobs = [p for p in prepared if not p.inline]
        backend = store.backend(at)

        def holds(p: items_mod.PreparedItem) -> bool:
            key = mf.blob_key(store.prefix, p.sha256)
            if verify == "size":
                return store._call(at, backend.head, key) == p.size
            return store._call(at, backend.holds, key, p.sha256, p.size)

        workers = min(16, len(blobs)) if backend.concurrent_reads else 1
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            verdicts = list(pool.map(holds, blobs))
        bad = [p.name for p, ok in zip(blobs, verdicts) if not ok]
        if bad:
            raise ShardsIncomplete(f"step {step} of {name!r}: shard content of {bad} is missing "
                                   f"or does not verify in the {at} region; nothing was "
                                   "committed, the previous step stays current")
        return tuple(dict.fromkeys(BlobRef(p.sha256, p.size) for p in blobs))

    checkpoint = items_mod.commit_prepared(store, name, prepared, step=step, metadata=metadata,
                                           extra={"world_size": world_size},
                                           put_content=check_content)
    logger.info("step %d of %r committed from %d shards as version %s", step, name, world_size,
                checkpoint.version)
    return checkpoint


def _current_same(store: ScaleStore, name: str, step: int,
                  prepared: list[items_mod.PreparedItem]) -> Checkpoint | None:
    try:
        info = store.info(name)
        if info.step != step or info.serializer != "items":
            return None
        index = items_mod.item_index(store, name, version=info.version)
    except (CheckpointNotFound, InvalidData):
        return None
    wanted = {p.name: p.entry() for p in prepared}
    return info if index["items"] == wanted else None


def load_shard(store: ScaleStore, name: str, rank: int, dest: Any = None, *,
               step: int | None = None, version: str | None = None, expect: Any = None) -> Any:
    """``rank``'s shard of the current version of ``name`` (or of the newest committed
    version of ``step``, or of ``version``); with ``dest``, written to that file."""
    if step is not None and version is None:
        version = _version_of_step(store, name, step)
    return items_mod.load_item(store, name, shard_item(rank), dest, version=version,
                               expect=expect)


def _version_of_step(store: ScaleStore, name: str, step: int) -> str:
    for checkpoint in store.versions(name, detail=True):
        if checkpoint.step == step and checkpoint.serializer == "items":
            return checkpoint.version
    raise CheckpointNotFound(f"no committed sharded checkpoint of {name!r} at step {step}")
