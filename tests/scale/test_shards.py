"""Sharded multi-writer commit: 4 rank processes; the step commits only with every shard
present and verified; a rank killed before its shard lands leaves the previous step."""
from __future__ import annotations

import os
import pathlib
import signal

import pytest

from recovery_lib import CheckpointStore, InvalidData, manifest as mf
from recovery_lib.backends.memory import MemoryBackend
from recovery_lib.shards import ShardsIncomplete
from tests.scale.children import shard_bytes
from tests.scale.procs import finish, spawn, wait_for

WORLD = 4


def _commit_step_1(store: CheckpointStore) -> None:
    for rank in range(WORLD):
        store.save_shard("job/model", 1, rank, shard_bytes(rank, 1))
    store.commit_shards("job/model", 1, WORLD)


@pytest.mark.slow
def test_four_ranks_commit_and_each_loads_its_own_shard(tmp_path: pathlib.Path) -> None:
    store_dir, events = tmp_path / "store", tmp_path / "events"
    events.mkdir()
    store = CheckpointStore.local(store_dir)
    _commit_step_1(store)
    ranks = [spawn("shard", str(store_dir), str(events), str(r), "2", "save") for r in range(WORLD)]
    try:
        for rank, proc in enumerate(ranks):
            wait_for(events / f"saved-{rank}", proc)
        committed = store.commit_shards("job/model", 2, WORLD)
        (events / "committed").touch()
        results = [finish(proc) for proc in ranks]
    finally:
        for proc in ranks:
            proc.kill()
    assert [code for code, _ in results] == [0] * WORLD, results  # each loaded its own shard
    assert committed.step == 2 and store.info("job/model").version == committed.version
    assert store.item_index("job/model")["extra"] == {"world_size": WORLD}
    assert store.load_shard("job/model", 3, step=1) == shard_bytes(3, 1)
    # every rank may call commit: the step is committed once
    assert store.commit_shards("job/model", 2, WORLD).version == committed.version
    assert len(store.versions("job/model")) == 2


@pytest.mark.slow
def test_a_rank_killed_before_its_shard_lands_commits_nothing(tmp_path: pathlib.Path) -> None:
    store_dir, events = tmp_path / "store", tmp_path / "events"
    events.mkdir()
    store = CheckpointStore.local(store_dir)
    _commit_step_1(store)
    before = store.info("job/model")
    ranks = [spawn("shard", str(store_dir), str(events), str(r), "2", "hang" if r == 2 else "save")
             for r in range(WORLD)]
    try:
        for rank, proc in enumerate(ranks):
            wait_for(events / (f"ready-{rank}" if rank == 2 else f"saved-{rank}"), proc)
        os.kill(ranks[2].pid, signal.SIGKILL)
        assert finish(ranks[2])[0] == -signal.SIGKILL
        with pytest.raises(ShardsIncomplete, match=r"missing for ranks \[2\]; nothing was committed"):
            store.commit_shards("job/model", 2, WORLD)
    finally:
        (events / "abort").touch()
        for proc in ranks:
            finish(proc)
    after = store.info("job/model")
    assert after.version == before.version and after.step == 1
    assert store.load_shard("job/model", 0) == shard_bytes(0, 1)


def test_a_shard_whose_content_does_not_verify_blocks_the_commit() -> None:
    backend = MemoryBackend()
    store = CheckpointStore(backend)
    records = [store.save_shard("m", 5, rank, bytes([rank]) * 100_000) for rank in range(2)]
    key = records[1]["key"]  # the shard's data key, written by this upload
    assert key.startswith("shard-data/m@000000000000005/000001.")
    backend.put(key, b"X" * 100_000)
    with pytest.raises(ShardsIncomplete, match=r"\['rank-000001'\] is missing or does not verify"):
        store.commit_shards("m", 5, 2, verify="sha256")
    backend.delete(key)
    with pytest.raises(ShardsIncomplete, match=r"\['rank-000001'\] is missing or does not verify"):
        store.commit_shards("m", 5, 2)  # the default HEADs each shard: a missing one blocks
    assert not store.exists("m")
    store.save_shard("m", 5, 1, bytes([1]) * 100_000)  # the rank writes again: repaired
    assert store.commit_shards("m", 5, 2).step == 5


@pytest.mark.parametrize("call, message", [
    (lambda s: s.save_shard("m", None, 0, b"x"), "needs an int step"),
    (lambda s: s.save_shard("m", 1, -1, b"x"), "rank -1"),
    (lambda s: s.commit_shards("m", 1, 0), "world size 0"),
    (lambda s: s.commit_shards("m", 1, True), "world size True"),
    (lambda s: s.commit_shards("m", 1, 2, verify="md5"), "verify='md5'"),
])
def test_bad_arguments_are_refused(call, message) -> None:  # type: ignore[no-untyped-def]
    backend = MemoryBackend()
    with pytest.raises(InvalidData, match=message):
        call(CheckpointStore(backend))
    assert list(backend.list("")) == []


def test_extra_ranks_refuse_the_commit() -> None:
    store = CheckpointStore.memory()
    for rank in range(3):
        store.save_shard("m", 1, rank, b"x")
    with pytest.raises(ShardsIncomplete, match=r"unknown ranks \[2\]"):
        store.commit_shards("m", 1, 2)


def test_the_default_commit_reads_no_shard_content() -> None:
    """verify="size" HEADs each shard (its writer verified the bytes while uploading, every
    load verifies them again); only verify="sha256" reads them."""
    class Counting(MemoryBackend):
        downloads = 0

        def download(self, key, sink, **kwargs):  # type: ignore[no-untyped-def]
            Counting.downloads += 1
            return super().download(key, sink, **kwargs)

    store = CheckpointStore(Counting())
    for rank in range(3):
        store.save_shard("m", 1, rank, bytes([rank]) * 100_000)
    Counting.downloads = 0
    store.commit_shards("m", 1, 3)
    assert Counting.downloads == 0
    store.commit_shards("m", 1, 3, verify="sha256")  # already committed: nothing to read
    for rank in range(3):
        store.save_shard("m", 2, rank, bytes([rank + 5]) * 100_000)
    store.commit_shards("m", 2, 3, verify="sha256")
    assert Counting.downloads == 3
