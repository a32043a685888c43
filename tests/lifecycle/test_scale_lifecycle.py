"""Lifecycle meets scale: steps of async, multi-item and sharded saves; GC keeps the blobs
of shards whose step is not committed yet, and collects them once their version is retired."""
from __future__ import annotations

import hashlib
import pathlib
import threading

import pytest

from recovery_lib import CheckpointStore, InvalidData, gc, lifecycle
from recovery_lib import manifest as mf

from tests.lifecycle.support import regions

NAME = "run/model"


def test_every_save_kind_records_its_step(tmp_path: pathlib.Path) -> None:
    store = CheckpointStore.memory()
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w" * 5000)
    store.save_async("run/a", {"epoch": 1}, step=10)
    store.save_file_async("run/a", weights, step=20)
    store.wait()
    assert store.steps("run/a") == [10, 20]
    assert store.load("run/a", step=10) == {"epoch": 1}
    assert store.load("run/a", step=20) == b"w" * 5000
    with pytest.raises(InvalidData, match="step -1"):
        store.save_async("run/a", {}, step=-1)  # refused before anything is queued

    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_bytes(b"a")
    store.save_items_async(NAME, {"x": b"x" * 300}, step=1).result()
    store.save_items(NAME, {"x": b"y" * 300}, step=2)
    store.save_dir(NAME, tmp_path / "dir", step=3)
    for rank in range(2):
        store.save_shard(NAME, 4, rank, bytes([rank]) * 300)
    store.commit_shards(NAME, 4, 2)
    assert store.steps(NAME) == [1, 2, 3, 4] and store.latest_step(NAME) == 4
    assert store.load_items(NAME, version=store.version_of_step(NAME, 2)) == {"x": b"y" * 300}
    assert store.load_shard(NAME, 1, step=4) == b"\x01" * 300


def _blobs(backend) -> set[str]:
    """Content-addressed blobs and shards' data keys."""
    return {k for k, _ in backend.list("blobs/")} | {k for k, _ in backend.list("shard-data/")}


def _blob(data: bytes) -> str:
    return mf.blob_key("", hashlib.sha256(data).hexdigest())


def test_gc_keeps_uncommitted_shards_and_collects_them_once_retired() -> None:
    r = regions()
    shards = [bytes([65 + rank]) * 5000 for rank in range(2)]
    keys = {r.store.save_shard(NAME, 1, rank, data)["key"] for rank, data in enumerate(shards)}
    report = gc.collect(r.store, grace_seconds=0, clock=r.clock)  # no commit yet: not garbage
    assert not report.regions["primary"].blobs and not report.regions["primary"].records
    assert keys <= _blobs(r.primary)
    usage = {row["name"]: row for row in gc.usage(r.store) if row["region"] == "primary"}
    assert gc.UNREFERENCED not in usage and usage[NAME]["live_bytes"] > 2 * 5000

    first = r.store.commit_shards(NAME, 1, 2)
    items = {"model": b"m" * 5000, "optim": b"o" * 5000}
    r.store.save_items(NAME, items, step=2)  # one manifest references both item blobs
    later = b"L" * 5000
    later_key = r.store.save_shard(NAME, 3, 0, later)["key"]  # pending while step 1 goes
    r.replicate()
    pruned = lifecycle.prune(r.store, {"keep_last": 1}, dry_run=False)
    assert [v for _, v in pruned.retired] == [first.version]
    r.replicate()
    r.clock.advance(1)
    report = gc.collect(r.store, grace_seconds=0, clock=r.clock)
    for backend in (r.primary, r.secondary):
        assert _blobs(backend) == {_blob(d) for d in items.values()} | {later_key}
    records = {k for k, _ in r.primary.list("shards/")}
    assert records == {f"shards/{NAME}@{3:015d}/000000.json"}  # step 1's records went too
    assert len(report.regions["primary"].records) == 2
    assert r.secondary_store().load_items(NAME) == items
    assert r.store.steps(NAME) == [2]


def test_save_items_uploads_again_a_blob_gc_removed_during_its_commit(monkeypatch) -> None:
    r = regions()
    data = b"m" * 5000
    commit = r.store._commit

    def commit_then_collected(*args, **kwargs):
        checkpoint = commit(*args, **kwargs)
        r.primary.delete(_blob(data))  # as GC would, had the blob been unreferenced
        return checkpoint

    monkeypatch.setattr(r.store, "_commit", commit_then_collected)
    r.store.save_items(NAME, {"model": data})
    assert _blob(data) in _blobs(r.primary)
    assert r.store.load_item(NAME, "model") == data


def test_prune_while_an_async_save_is_pending_keeps_what_it_will_supersede(monkeypatch) -> None:
    store = CheckpointStore.memory()
    first = store.save(NAME, "one", step=1)
    second = store.save(NAME, "two", step=2)
    gate = threading.Event()
    save_payload = store._save_payload

    def held(*args, **kwargs):
        assert gate.wait(10), "the test never opened the gate"
        return save_payload(*args, **kwargs)

    monkeypatch.setattr(store, "_save_payload", held)
    pending = store.save_async(NAME, "two, again", step=2)  # will supersede `second`
    report = store.prune({"keep_last": 1}, dry_run=False)
    assert [v for _, v in report.retired] == [first.version]  # `second` is current: kept
    gate.set()
    third = pending.result(timeout=10)
    report = store.prune({"keep_last": 1}, dry_run=False)
    assert [v for _, v in report.retired] == [second.version]  # superseded only once committed
    assert store.load(NAME, step=2) == "two, again" == store.load(NAME)
    assert store.steps(NAME) == [2] and store.info(NAME).version == third.version


def test_gc_collects_a_step_never_committed_once_the_job_moved_on() -> None:
    r = regions()
    abandoned = b"a" * 5000
    key = r.store.save_shard(NAME, 1, 0, abandoned)["key"]  # its job crashed: never committed
    r.store.save_items(NAME, {"model": b"m" * 5000}, step=2)
    r.replicate()
    young = gc.collect(r.store, grace_seconds=3600, clock=r.clock)
    assert key in _blobs(r.primary) and not young.regions["primary"].records
    r.clock.advance(3601)
    report = gc.collect(r.store, grace_seconds=3600, clock=r.clock)
    assert report.regions["primary"].records == [f"shards/{NAME}@{1:015d}/000000.json"]
    assert key not in _blobs(r.primary) | _blobs(r.secondary)
    assert r.store.load_item(NAME, "model") == b"m" * 5000
