"""Sharded checkpoints from many writers, committed once (PyTorch DCP style).

Every rank of a job writes its own shard; one call commits the step when, and only when,
all ``world_size`` shards are present and verified::

    save_shard(store, "run/model", step, rank, data)       # on every rank
    ... barrier ...
    commit_shards(store, "run/model", step, world_size)    # on one rank (or all: idempotent)
    data = load_shard(store, "run/model", rank)            # on resume, each rank its own

Layout under the store prefix ``P``::

    P shard-data/{name}@{step:015d}/{rank:06d}.{32 hex}   one upload of a rank's shard
    P shards/{name}@{step:015d}/{rank:06d}.json    the shard record: rank, step, sha256,
                                                   size, serializer, the data's key
                                                   (small shards inline, no data key)

A shard's data goes to a key of its own upload (a random token: a rank that saves again
never overwrites bytes a committed version references), not to a content address: its
SHA-256 is taken from the bytes as they are sent, so a file is read once, not hashed first
to name its key. The record is written after its data, so a record names data that was
completely written and that hashes to the record's SHA-256 (the hash is of the bytes the
upload read, and S3 checks each part's checksum on arrival). ``commit_shards`` LISTs the
step's records (one paginated LIST), refuses the step unless ranks ``0 .. world_size-1``
are all there (and no other), checks every shard's data is present with its recorded size
(``verify="sha256"``: also its SHA-256, from S3's stored full-object checksum where there
is one, else by reading and hashing it: a full re-read of the step), and commits ONE
multi-item manifest (:mod:`recovery_lib.items`) whose items are ``rank-000000`` ... with
``step`` in the manifest and ``{"world_size": N}`` in the index; its blob entries name the
data keys. The commit is the store's head compare-and-swap: a rank that crashes before its
shard lands makes the commit raise :class:`ShardsIncomplete` and the previous step stays
current. A rank that saves again replaces its record (the last write wins; only the
committed index counts). Records and data stay after the commit (jobs have no
DeleteObject); GC removes them once no version needs them (:mod:`recovery_lib.gc_shards`).

A file written while it uploads. The stored bytes always match the recorded SHA-256; what
a concurrent writer can do is make them a torn copy of the file, and that is refused
(IntegrityError, no record written). ``source_check="stat"`` (the default) compares the
file's size, mtime, ctime, inode and device before the first read and after the last, as
GNU tar does ("file changed as we read it"); like git's "racy clean" rule, it first waits
until the file's newest timestamp is a clock tick (``TIMESTAMP_TICK_NS``, 20 ms; Linux
stamps with a 1-10 ms coarse clock) behind this host's clock, so any later write moves the
mtime. Files whose timestamps are ahead of this host's clock (a file server's clock) or
whole seconds (a filesystem that keeps seconds) are hashed first instead. What stat cannot
see: a write through a shared ``mmap`` to a page already dirty; one long ``write(2)`` that
began before the call (a write is stamped when it starts); on NFS, another client's writes
hidden by attribute caching, or a server clock behind this host's. ``source_check="hash"``
hashes the file before the upload and fails the upload unless it reads the same bytes (two
reads of the file; a write between the two reads is caught whatever the filesystem).

Why size by default at commit: a shard's writer hashed its bytes while uploading them,
every load verifies size and SHA-256 again, and re-reading every shard at commit time
would double the step's I/O (S3 keeps only composite checksums for multipart uploads, so a
HEAD cannot prove a large shard's SHA-256).

DCP writes one ``.metadata`` file after all ranks' files; here the manifest plays that
part and the head CAS makes it the commit point.
"""
from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Mapping

from . import items as items_mod
from . import manifest as mf
from ._streams import HashingReader
from .checkpoint import BlobRef, Checkpoint
from .errors import (CheckpointNotFound, IntegrityError, InvalidData, RegionUnavailable,
                     ShardsIncomplete)
from .scale_protocols import ScaleStore

__all__ = ["save_shard", "commit_shards", "load_shard", "shard_item", "ShardsIncomplete"]

logger = logging.getLogger(__name__)

MAX_WORLD_SIZE = 10 ** 6
SOURCE_CHECKS = ("stat", "hash")
# A write stamps a file with the kernel's coarse clock (one tick: 1-10 ms on Linux, by
# CONFIG_HZ); once a file's timestamps are a tick behind, a later write moves them.
TIMESTAMP_TICK_NS = 20_000_000


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


def save_shard(store: ScaleStore, name: str, step: int, rank: int, data: Any, *,
               source_check: str = "stat") -> dict[str, Any]:
    """Write ``rank``'s shard of ``name`` at ``step`` (not committed until
    :func:`commit_shards`). ``data``: bytes, a file ``Path``, a numpy array, a dict of
    arrays, or a JSON value, as for ``save_items``. Returns the shard record.

    A file is read once: hashed as it uploads. ``source_check`` says how a file written
    while it uploads is detected (IntegrityError, nothing recorded): ``"stat"`` compares
    its size, mtime, ctime and inode before and after; ``"hash"`` also hashes it first and
    requires the upload to read the same bytes (two reads; see the module docstring)."""
    _check(name, step, rank, "rank", MAX_WORLD_SIZE)
    if source_check not in SOURCE_CHECKS:
        raise InvalidData(f"source_check={source_check!r}: use one of {list(SOURCE_CHECKS)}")
    store._check_writable_name(name)
    key = f"{_records_prefix(store, name, step)}{rank:06d}.json"
    source: _FileSource | items_mod.PreparedItem
    if isinstance(data, os.PathLike):
        source = _FileSource.open(shard_item(rank), Path(data), hashed=source_check == "hash")
    else:
        source = items_mod.prepare_item(shard_item(rank), data)
    failures = []
    for region in store.policy.write_order():
        backend = store.backend(region)
        backend.check_key(key)
        try:
            item = _write_data(store, region, name, step, rank, source)
            record = {"rank": rank, "step": step, **item.entry()}
            encoded = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
            store._call(region, backend.put, key, encoded)
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


def _write_data(store: ScaleStore, region: str, name: str, step: int, rank: int,
                source: "_FileSource | items_mod.PreparedItem") -> items_mod.PreparedItem:
    """Upload the shard's content (unless it is inline) to a new shard-data key; the item
    to record, with its key, SHA-256 and size."""
    if isinstance(source, items_mod.PreparedItem) and source.inline:
        return source
    location = mf.shard_data_key(name, step, rank, secrets.token_hex(16))
    target = f"{store.prefix}{location}"
    backend = store.backend(region)
    backend.check_key(target)
    if isinstance(source, items_mod.PreparedItem):
        store._call(region, backend.put, target, source.payload)
        return dataclasses.replace(source, key=location)
    return source.upload(store, region, target, location)


@dataclasses.dataclass(frozen=True)
class _FileSource:
    """A shard saved from a file: read once, hashed as it uploads. What proves the file
    was not written meanwhile: its ``os.stat`` identity (size, mtime, ctime, inode) before
    the first read and after the last, taken once the file's timestamps have fallen a
    clock tick behind (see the module docstring); with ``sha256`` (source_check="hash")
    also a hash taken before the upload, which the upload must reproduce."""

    item: str
    path: Path
    before: tuple[int, ...]
    sha256: str | None

    @classmethod
    def open(cls, item: str, path: Path, *, hashed: bool) -> "_FileSource":
        before, trusted = _settled_identity(item, path)
        if not trusted and not hashed:
            logger.info("file %s: its timestamps cannot show a write during the upload; "
                        "hashing it first (source_check='hash')", path)
        return cls(item, path, before,
                   items_mod.hash_file(path) if hashed or not trusted else None)

    @property
    def size(self) -> int:
        return self.before[0]

    def upload(self, store: ScaleStore, region: str, target: str, location: str
               ) -> items_mod.PreparedItem:
        changed = IntegrityError(f"item {self.item!r}: file {str(self.path)!r} changed while "
                                 "it was being saved; nothing was recorded")
        backend = store.backend(region)
        expect = None if self.sha256 is None else (self.size, self.sha256)
        with open(self.path, "rb") as fh:
            # Read once (the backend sends the bytes it read: see S3Backend.upload)
            reader = HashingReader(fh, expect=expect)
            try:
                store._call(region, backend.upload, target, reader, self.size)
            except IntegrityError as exc:
                raise changed from exc
        hashed, digest = reader.bytes_hashed, reader.hexdigest()
        if hashed != self.size or digest is None or _identity(self.item, self.path) != self.before:
            raise changed
        return items_mod.PreparedItem(self.item, "raw", digest, self.size, path=self.path,
                                      key=location)


def _identity(item: str, path: Path) -> tuple[int, ...]:
    st = items_mod.stat_regular_file(f"item {item!r}", path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _settled_identity(item: str, path: Path) -> tuple[tuple[int, ...], bool]:
    """The file's identity, and whether a write after it is sure to change it: once the
    file's newest timestamp is ``TIMESTAMP_TICK_NS`` behind this host's clock (waited for,
    at most that long), any later write stamps a newer time. Not when the timestamps are
    ahead of this host's clock (a file server's clock) or whole seconds (a filesystem that
    keeps seconds): then the caller hashes the file first."""
    identity = _identity(item, path)
    mtime, ctime = identity[1], identity[2]
    newest = max(mtime, ctime)
    if mtime % 1_000_000_000 == 0 and ctime % 1_000_000_000 == 0:
        return identity, False
    wait = newest + TIMESTAMP_TICK_NS - time.time_ns()
    if wait > TIMESTAMP_TICK_NS:
        return identity, False
    if wait > 0:
        time.sleep(wait / 1e9)
    return identity, True


def _read_records(store: ScaleStore, region: str, name: str, step: int, verify: str,
                  given: Any = None) -> dict[int, tuple[dict[str, Any], bool]]:
    """The step's shard records, each with whether its data is there with its recorded
    size: the records ``given`` (gathered from the ranks: no request), else those in
    ``region`` (one LIST, then their GETs, concurrent on S3), alongside one LIST of the
    step's data keys (a record of a content-addressed shard HEADs its blob).
    ``verify="sha256"`` reads content: that waits until the step is known not to be
    committed already (the verdicts here are then True)."""
    backend = store.backend(region)
    if given is not None:
        records = _given_records(given, name, step)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as side:
        listed = side.submit(lambda: dict(store._call(
            region, backend.list, f"{mf.shard_data_root(store.prefix)}{name}@{step:015d}/")))
        keys = [] if given is not None else [
            key for key, _ in store._call(region, backend.list, _records_prefix(store, name, step))]
        data_sizes = listed.result()

    def present(record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        if "inline" in record or verify != "size":
            return record, True
        if "key" in record:
            return record, data_sizes.get(store.prefix + record["key"]) == record["size"]
        return record, _holds(store, region, _prepared(record), verify)

    def read(key: str) -> tuple[dict[str, Any], bool]:
        try:
            record = json.loads(store._call(region, backend.get, key))
        except ValueError:
            record = None
        problem = _record_problem(record, name, step)
        if problem is None and not key.endswith(f"/{record['rank']:06d}.json"):  # type: ignore[index]
            problem = "its key names another rank"
        if problem is not None:
            raise IntegrityError(f"shard record {key} in the {region} region is malformed: "
                                 f"{problem}")
        return present(record)  # type: ignore[arg-type]

    if given is not None:
        return {r["rank"]: present(r) for r in records}
    workers = min(16, len(keys)) if backend.concurrent_reads and len(keys) > 1 else 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return {found[0]["rank"]: found for found in pool.map(read, keys)}


def _given_records(given: Any, name: str, step: int) -> list[dict[str, Any]]:
    if isinstance(given, (str, bytes, Mapping)) or not hasattr(given, "__iter__"):
        raise InvalidData(f"records={type(given).__name__}: pass the list of the dicts "
                          "save_shard returned on every rank")
    records, ranks = list(given), set()
    for record in records:
        problem = _record_problem(record, name, step)
        if problem is not None:
            raise InvalidData(f"records: {record!r:.200} is not a shard record of {name!r} step "
                              f"{step} as save_shard returns it: {problem}")
        if record["rank"] in ranks:
            raise InvalidData(f"records: rank {record['rank']} is given twice")
        ranks.add(record["rank"])
    return records


def _record_problem(record: Any, name: str, step: int) -> str | None:
    """What is wrong with a shard record (None: nothing)."""
    try:
        rank = record["rank"]
        if record["step"] != step:
            return f"its step is {record['step']!r}"
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < MAX_WORLD_SIZE:
            return f"rank {rank!r} is not an int in [0, {MAX_WORLD_SIZE})"
        if (not isinstance(record["sha256"], str) or len(record["sha256"]) != 64
                or isinstance(record["size"], bool) or not isinstance(record["size"], int)
                or not isinstance(record["serializer"], str)):
            return "its sha256, size or serializer is not a 64-digit hex string, int, string"
        if not _data_key_ok(record.get("key"), name, step, rank):
            return f"data key {record.get('key')!r} is not one of rank {rank} at step {step}"
    except (KeyError, TypeError):
        return "it lacks rank, step, sha256, size or serializer"
    return None


def _holds(store: ScaleStore, region: str, p: items_mod.PreparedItem, verify: str) -> bool:
    key = mf.ref_key(store.prefix, p.ref)
    if verify == "size":
        return store._call(region, store.backend(region).head, key) == p.size
    return store._call(region, store.backend(region).holds, key, p.sha256, p.size)


def _data_key_ok(location: object, name: str, step: int, rank: object) -> bool:
    """A record names no data key (content-addressed or inline) or one of its own rank."""
    if location is None:
        return True
    try:
        mf.check_blob_location(name, location)
    except IntegrityError:
        return False
    return isinstance(rank, int) and str(location).startswith(
        f"shard-data/{name}@{step:015d}/{rank:06d}.")


def _prepared(record: Mapping[str, Any]) -> items_mod.PreparedItem:
    payload = None
    if "inline" in record:
        payload = base64.b64decode(record["inline"])
        if len(payload) != record["size"] or hashlib.sha256(payload).hexdigest() != record["sha256"]:
            raise IntegrityError(f"shard record of rank {record['rank']} does not verify")
    return items_mod.PreparedItem(shard_item(record["rank"]), record["serializer"],
                                  record["sha256"], record["size"], payload=payload,
                                  spec=record.get("spec"), key=record.get("key"))


def commit_shards(store: ScaleStore, name: str, step: int, world_size: int, *,
                  metadata: Mapping[str, Any] | None = None, verify: str = "size",
                  records: Any = None) -> Checkpoint:
    """Commit ``step`` of ``name`` once all ``world_size`` shards are present and verified;
    :class:`ShardsIncomplete` (nothing committed) otherwise. When the current version is
    already this step with these shards, it is returned and nothing new is committed.

    ``records``: the records ``save_shard`` returned on every rank, gathered by the job (as
    DCP gathers its ranks' metadata, e.g. ``torch.distributed.gather_object``); the commit
    then reads none from storage (it still checks every shard's data is there). Without
    it, the step's records are listed and read. Pass them unchanged: with
    ``verify="size"`` their SHA-256 is trusted (a wrong one commits a step that no load
    accepts); ``verify="sha256"`` checks it against the data."""
    if isinstance(world_size, bool) or not isinstance(world_size, int) or not 1 <= world_size <= MAX_WORLD_SIZE:
        raise InvalidData(f"world size {world_size!r} of {name!r} is not an int in [1, {MAX_WORLD_SIZE}]")
    _check(name, step, 0, "rank", MAX_WORLD_SIZE)
    if verify not in ("size", "sha256"):
        raise InvalidData(f"verify={verify!r}: use 'size' (HEAD each shard) or 'sha256' "
                          "(also check each shard's SHA-256, re-reading where S3 has no "
                          "full-object checksum)")
    store._check_writable_name(name)
    region = store.policy.write_order()[0]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as side:
        head = side.submit(_committed_index, store, name)  # read alongside the records
        found = _read_records(store, region, name, step, verify, records)
        committed = head.result()
    missing = sorted(set(range(world_size)) - set(found))
    extra = sorted(set(found) - set(range(world_size)))
    if missing or extra:
        raise ShardsIncomplete(
            f"step {step} of {name!r} cannot be committed with world size {world_size}: "
            f"shards missing for ranks {missing}" + (f", shards of unknown ranks {extra}" if extra else "")
            + "; nothing was committed, the previous step stays current")
    prepared = [_prepared(found[rank][0]) for rank in range(world_size)]
    if committed is not None and committed[0].step == step and \
            committed[1]["items"] == {p.name: p.entry() for p in prepared}:
        logger.info("step %d of %r is already committed as version %s", step, name,
                    committed[0].version)
        return committed[0]

    def check_content(at: str) -> tuple[BlobRef, ...]:
        blobs = [p for p in prepared if not p.inline]
        if at == region and verify == "size":  # checked as the records were read
            verdicts = [found[rank][1] for rank, p in enumerate(prepared) if not p.inline]
        else:  # the commit failed over: check the data there
            workers = min(16, len(blobs)) if store.backend(at).concurrent_reads else 1
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                verdicts = list(pool.map(lambda p: _holds(store, at, p, verify), blobs))
        bad = [p.name for p, ok in zip(blobs, verdicts) if not ok]
        if bad:
            raise ShardsIncomplete(f"step {step} of {name!r}: shard content of {bad} is missing "
                                   f"or does not verify in the {at} region; nothing was "
                                   "committed, the previous step stays current")
        return tuple(dict.fromkeys(p.ref for p in blobs))

    checkpoint = items_mod.commit_prepared(store, name, prepared, step=step, metadata=metadata,
                                           extra={"world_size": world_size},
                                           put_content=check_content)
    logger.info("step %d of %r committed from %d shards as version %s", step, name, world_size,
                checkpoint.version)
    return checkpoint


def _committed_index(store: ScaleStore, name: str) -> tuple[Checkpoint, dict[str, Any]] | None:
    """The current version of ``name`` and its item index, when it is a multi-item version
    (from the head record: one GET; a store without heads reads the manifest)."""
    try:
        version, known, region = store._current(name)
        if version is None:
            return None
        if known is None:
            info = store.info(name, version=version)
            return (info, items_mod.item_index(store, name, version=version)) \
                if info.serializer == "items" else None
        if known.serializer != "items":
            return None
        return known.to_checkpoint(region), items_mod.parse_index(known, region)  # type: ignore[arg-type]
    except (CheckpointNotFound, InvalidData, IntegrityError):
        return None


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
