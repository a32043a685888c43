"""Shards' data keys: a shard is uploaded once, to a key of its own upload, and hashed as it
goes; a file written during the upload is refused; every reader, GC, rollback, replication
check and reconcile follows the manifest's blob keys, and a manifest cannot name any other
object."""
from __future__ import annotations

import io
import os
import pathlib
import time

import pytest

from recovery_lib import CheckpointStore, IntegrityError, gc
from recovery_lib import items as items_mod
from recovery_lib import manifest as mf
from recovery_lib import shards as shards_mod
from recovery_lib.backends.memory import MemoryBackend
from recovery_lib.checkpoint import BlobRef
from recovery_lib.shards import ShardsIncomplete
from tests.drill.fake_world import FaultyBackend
from tests.lifecycle.support import regions

NAME = "run/model"
SIZE = 300_000


def _file(tmp_path: pathlib.Path, rank: int, fill: int | None = None) -> pathlib.Path:
    path = tmp_path / f"shard-{rank}.bin"
    path.write_bytes(bytes([rank if fill is None else fill]) * SIZE)
    return path


def _records(backend: MemoryBackend) -> list[str]:
    return [k for k, _ in backend.list("shards/")]


def test_a_file_shard_is_read_once_into_its_own_data_key(tmp_path, monkeypatch) -> None:
    store = CheckpointStore.memory()

    def no_prehash(path):  # the default check reads the file once, while it uploads
        raise AssertionError(f"{path} was hashed before its upload")

    monkeypatch.setattr(items_mod, "hash_file", no_prehash)
    records = [store.save_shard(NAME, 7, rank, _file(tmp_path, rank)) for rank in range(2)]
    assert [r["key"].rpartition(".")[0] for r in records] == [
        f"shard-data/{NAME}@{7:015d}/00000{rank}" for rank in range(2)]
    again = store.save_shard(NAME, 7, 1, _file(tmp_path, 1))
    assert again["key"] != records[1]["key"]  # a new upload never overwrites the old bytes
    committed = store.commit_shards(NAME, 7, 2)
    assert {b.key for b in committed.blobs} == {records[0]["key"], again["key"]}
    assert store.load_shard(NAME, 1) == bytes([1]) * SIZE
    dest = tmp_path / "restored.bin"
    store.load_shard(NAME, 0, dest)
    assert dest.read_bytes() == bytes([0]) * SIZE


class WriterDuringUpload(MemoryBackend):
    """Another writer rewrites the file in place (same size) once half of it was read."""

    def __init__(self, path: pathlib.Path) -> None:
        super().__init__()
        self.path = path

    def upload(self, key, source, size, *, progress=None):
        first = source.read(size // 2)
        with open(self.path, "r+b") as fh:
            fh.write(b"\xff" * 16)  # a part already read
        rest = source.read(size - len(first))
        self.put(key, first + rest)


@pytest.mark.parametrize("check", ["stat", "hash"])
def test_a_file_written_during_its_upload_is_refused_and_nothing_recorded(tmp_path, check) -> None:
    path = _file(tmp_path, 3)
    backend = WriterDuringUpload(path)
    store = CheckpointStore(backend)
    store.save_shard(NAME, 1, 0, b"rank zero" * 1000)
    with pytest.raises(IntegrityError, match="changed while it was being saved; nothing was recorded"):
        store.save_shard(NAME, 1, 1, path, source_check=check)
    assert _records(backend) == [f"shards/{NAME}@{1:015d}/000000.json"]
    with pytest.raises(ShardsIncomplete, match=r"missing for ranks \[1\]"):
        store.commit_shards(NAME, 1, 2)


def test_the_wait_for_a_fresh_file_is_one_clock_tick_at_most(tmp_path, monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(shards_mod.time, "sleep", slept.append)
    store = CheckpointStore.memory()
    path = _file(tmp_path, 0)
    now = time.time_ns()
    os.utime(path, ns=(now, now))  # written "just now"
    store.save_shard(NAME, 1, 0, path)
    assert len(slept) == 1 and 0 < slept[0] <= shards_mod.TIMESTAMP_TICK_NS / 1e9
    later = now + 10 * 10 ** 9  # ten seconds after the file's last write: no wait
    monkeypatch.setattr(shards_mod.time, "time_ns", lambda: later)
    store.save_shard(NAME, 1, 0, path)
    assert len(slept) == 1


@pytest.mark.parametrize("when", ["future", "whole seconds"])
def test_timestamps_that_cannot_show_a_write_make_it_hash_first(tmp_path, monkeypatch, when) -> None:
    hashed: list[pathlib.Path] = []
    real = items_mod.hash_file
    monkeypatch.setattr(items_mod, "hash_file", lambda p: hashed.append(p) or real(p))
    path = _file(tmp_path, 5)
    stamp = (time.time_ns() + 3600 * 10 ** 9 if when == "future"  # a file server's clock
             else (time.time_ns() // 10 ** 9 - 60) * 10 ** 9)  # a filesystem keeping seconds
    os.utime(path, ns=(stamp, stamp))
    if when == "whole seconds" and os.stat(path).st_ctime_ns % 10 ** 9:
        monkeypatch.setattr(shards_mod, "_identity", _whole_seconds(shards_mod._identity))
    store = CheckpointStore.memory()
    store.save_shard(NAME, 1, 0, path)
    assert hashed == [path]
    store.commit_shards(NAME, 1, 1)
    assert store.load_shard(NAME, 0) == bytes([5]) * SIZE


def _whole_seconds(identity):  # ctime cannot be set: truncate both, as such a filesystem does
    def truncated(item, path):
        size, mtime, ctime, *rest = identity(item, path)
        return (size, mtime - mtime % 10 ** 9, ctime - ctime % 10 ** 9, *rest)
    return truncated


def test_source_check_is_validated_before_anything_is_written(tmp_path) -> None:
    backend = MemoryBackend()
    with pytest.raises(shards_mod.InvalidData, match=r"source_check='md5'.*\['stat', 'hash'\]"):
        CheckpointStore(backend).save_shard(NAME, 1, 0, _file(tmp_path, 0), source_check="md5")
    assert list(backend.list("")) == []


def _manifest(name: str, serializer: str, blobs: tuple[BlobRef, ...]) -> bytes:
    version = mf.new_version()
    inline = b'{"format":1,"items":{},"extra":{}}'
    m = mf.Manifest(name=name, version=version, created_at=mf.version_time(version),
                    origin_region="primary", serializer=serializer,
                    sha256=mf.hashlib.sha256(inline).hexdigest(), size=len(inline),
                    metadata={}, blobs=blobs, inline=inline)
    return mf.encode(m), version  # type: ignore[return-value]


@pytest.mark.parametrize("name, serializer, key, why", [
    ("run/model", "items", "shard-data/other/name@000000000000001/000000." + "a" * 32,
     "not a shard-data key of 'run/model'"),
    ("run/model", "items", "heads/run/model.json", "not a shard-data key"),
    ("run/model", "items", "shard-data/run/model@1/0." + "a" * 32, "not a shard-data key"),
    ("run/model", "json", "shard-data/run/model@000000000000001/000000." + "a" * 32,
     "only a multi-item manifest names blob keys"),
])
def test_a_manifest_cannot_name_any_other_object(name, serializer, key, why) -> None:
    raw, version = _manifest(name, serializer, (BlobRef("0" * 64, 5, key),))
    with pytest.raises(IntegrityError, match=why):
        mf.decode(raw, key="k", name=name, version=version)


def test_an_item_naming_a_key_its_manifest_does_not_list_is_not_read() -> None:
    store = CheckpointStore.memory()
    store.save_shard(NAME, 1, 0, b"x" * 10_000)
    committed = store.commit_shards(NAME, 1, 1)
    index = store.item_index(NAME)
    entry = dict(index["items"]["rank-000000"], key=f"shard-data/{NAME}@{1:015d}/000000." + "b" * 32)
    forged = items_mod.PreparedItem("rank-000000", "raw", entry["sha256"], entry["size"],
                                    key=entry["key"])
    m = store._get_manifest("memory", NAME, committed.version)
    with pytest.raises(IntegrityError, match="which its manifest does not list"):
        items_mod._read_item(store, "memory", m, "rank-000000", forged.entry(), io.BytesIO())


def test_gc_keeps_committed_and_pending_data_and_collects_the_rest(tmp_path) -> None:
    r = regions()
    first = r.store.save_shard(NAME, 1, 0, b"first" * 2000)["key"]
    second = r.store.save_shard(NAME, 1, 0, b"second" * 2000)["key"]  # the rank saved again
    r.store.commit_shards(NAME, 1, 1)
    pending = r.store.save_shard(NAME, 2, 0, b"pending" * 2000)["key"]
    r.replicate()
    r.clock.advance(1)
    report = gc.collect(r.store, grace_seconds=0, clock=r.clock)
    assert report.regions["primary"].blobs == [first] == report.regions["secondary"].blobs
    data = {k for k, _ in r.primary.list("shard-data/")}
    assert data == {second, pending}
    assert r.secondary_store().load_shard(NAME, 0) == b"second" * 2000


def test_orphaned_data_of_a_rank_that_died_before_its_record_is_collected() -> None:
    class NoRecords(MemoryBackend):
        refuse = True

        def put(self, key, data):
            if self.refuse and key.startswith("shards/"):
                raise shards_mod.RegionUnavailable("the rank died before writing its record")
            super().put(key, data)

    clock = regions().clock
    backend = NoRecords(clock=clock)
    store = CheckpointStore(backend)
    with pytest.raises(shards_mod.RegionUnavailable):
        store.save_shard(NAME, 1, 0, b"orphan" * 2000)
    backend.refuse = False
    orphan = [k for k, _ in backend.list("shard-data/")]
    assert len(orphan) == 1 and _records(backend) == []
    assert not gc.collect(store, grace_seconds=3600, clock=clock).regions["memory"].blobs
    clock.advance(3601)
    assert gc.collect(store, grace_seconds=3600, clock=clock).regions["memory"].blobs == orphan
    assert list(backend.list("shard-data/")) == []


def test_rollback_replication_checks_and_reconcile_follow_data_keys() -> None:
    primary, secondary = FaultyBackend("primary"), FaultyBackend("secondary")
    store = CheckpointStore(primary, secondary)
    store.save_shard(NAME, 1, 0, b"one" * 5000)
    one = store.commit_shards(NAME, 1, 1)
    for key, _ in list(primary.list("")):
        secondary.put(key, primary.get(key))  # replicated
    assert store.replication_status(NAME).dr_safe
    data_key = one.blobs[0].key
    secondary.delete(data_key)
    status = store.replication_status(NAME)
    assert not status.dr_safe and any(data_key in m for m in status.missing)
    secondary.put(data_key, primary.get(data_key))

    primary.down = True  # an outage: step 2 is saved and committed in the secondary
    store.save_shard(NAME, 2, 0, b"two" * 5000)
    two = store.commit_shards(NAME, 2, 1)
    assert two.region == "secondary"
    primary.down = False
    store.reconcile()
    assert primary.get(two.blobs[0].key) == b"two" * 5000  # copied back, verified
    back = store.rollback(NAME, one.version)
    assert back.blobs == one.blobs and store.load_shard(NAME, 0) == b"one" * 5000


def test_a_commit_with_the_gathered_records_reads_none_from_storage() -> None:
    class Counting(MemoryBackend):
        gets: list[str] = []

        def get(self, key):
            Counting.gets.append(key)
            return super().get(key)

    backend = Counting()
    store = CheckpointStore(backend)
    gathered = [store.save_shard(NAME, 3, rank, bytes([rank]) * 10_000) for rank in range(3)]
    Counting.gets.clear()
    committed = store.commit_shards(NAME, 3, 3, records=reversed(gathered))
    assert not [k for k in Counting.gets if k.startswith("shards/")]
    assert committed.step == 3 and store.load_shard(NAME, 2) == bytes([2]) * 10_000
    assert store.commit_shards(NAME, 3, 3).version == committed.version  # same shards: once
    with pytest.raises(ShardsIncomplete, match=r"missing for ranks \[1\]"):
        store.commit_shards(NAME, 4, 3, records=[
            store.save_shard(NAME, 4, rank, b"x" * 10_000) for rank in (0, 2)])
    lost = store.save_shard(NAME, 5, 0, b"y" * 10_000)
    backend.delete(lost["key"])
    with pytest.raises(ShardsIncomplete, match=r"\['rank-000000'\] is missing or does not verify"):
        store.commit_shards(NAME, 5, 1, records=[lost])
    assert store.info(NAME).version == committed.version


@pytest.mark.parametrize("records, why", [
    ({"rank": 0}, "pass the list of the dicts save_shard returned"),
    (b"rank-0", "pass the list of the dicts save_shard returned"),
    ([{"rank": 0}], "lacks rank, step, sha256, size or serializer"),
    (["not a dict"], "lacks rank, step"),
    ("twice", "rank 0 is given twice"),
    ("step", "its step is 8"),
    ("other rank's data", "is not one of rank 1 at step 7"),
    ("bool rank", "rank True is not an int"),
])
def test_bad_gathered_records_are_refused_and_nothing_is_committed(records, why) -> None:
    store = CheckpointStore.memory()
    good = [store.save_shard(NAME, 7, rank, bytes([rank]) * 10_000) for rank in range(2)]
    records = {"twice": [good[0], good[0]],
               "step": [dict(good[0], step=8), good[1]],
               "other rank's data": [good[0], dict(good[1], key=good[0]["key"])],
               "bool rank": [dict(good[0], rank=True)]}.get(records, records) \
        if isinstance(records, str) else records
    with pytest.raises(shards_mod.InvalidData, match=why):
        store.commit_shards(NAME, 7, 2, records=records)
    assert not store.exists(NAME)
