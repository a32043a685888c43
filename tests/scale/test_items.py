"""Multi-item checkpoints: one manifest commits every item; partial loads read only what
was asked; old single-blob checkpoints keep loading; nothing unverified is returned."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

from recovery_lib import CheckpointStore, IntegrityError, InvalidData, InvalidName
from recovery_lib import manifest as mf
from recovery_lib.backends.memory import MemoryBackend


def test_items_round_trip_in_one_version(store: CheckpointStore, tmp_path: pathlib.Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(bytes(range(256)) * 2000)  # 512 KB: a blob of its own
    weights = np.arange(12, dtype=np.float32).reshape(3, 4)
    old = store.save("run/state", {"single": "blob"})
    cp = store.save_items("run/state", {"model": model, "optimizer": b"o" * 10_000,
                                        "meta": {"epoch": 3}, "w": weights,
                                        "sd": {"a": np.ones(2, dtype=np.int64)}},
                          step=900, metadata={"who": "test"})
    assert cp.step == 900 and cp.serializer == "items" and cp.metadata == {"who": "test"}
    assert [v.version for v in store.versions("run/state")] == [cp.version, old.version]
    out = store.load_items("run/state")
    assert out["model"] == model.read_bytes() and out["optimizer"] == b"o" * 10_000
    assert out["meta"] == {"epoch": 3}
    np.testing.assert_array_equal(out["w"], weights)
    assert out["w"].dtype == np.float32 and out["sd"]["a"].dtype == np.int64
    dest = tmp_path / "restored.bin"
    assert store.load_item("run/state", "model", dest) == dest
    assert dest.read_bytes() == model.read_bytes()
    # the old single-blob version still loads, pinned; load() refuses the items version
    assert store.load("run/state", version=old.version) == {"single": "blob"}
    with pytest.raises(InvalidData, match="load_items"):
        store.load("run/state")
    with pytest.raises(InvalidData, match="not a multi-item one"):
        store.load_items("run/state", version=old.version)
    # the manifest lists every item blob: the DR checks and rollback walk them
    assert {b.size for b in store.info("run/state").blobs} == {512_000, 10_000}


class CountingBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def download(self, key, sink, **kwargs):  # type: ignore[no-untyped-def]
        self.reads.append(key)
        return super().download(key, sink, **kwargs)


def test_partial_load_reads_only_the_items_asked_for() -> None:
    backend = CountingBackend()
    store = CheckpointStore(backend)
    store.save_items("s", {"big1": b"1" * 100_000, "big2": b"2" * 100_000, "small": {"k": 1}})
    backend.reads.clear()
    assert store.load_items("s", ["small"]) == {"small": {"k": 1}}
    assert backend.reads == []  # inline in the index, which is in the head: no blob read
    assert store.load_item("s", "big2") == b"2" * 100_000
    assert [k.rsplit("/", 1)[-1] for k in backend.reads] == [mf.hashlib.sha256(b"2" * 100_000).hexdigest()]
    with pytest.raises(InvalidData, match=r"no item\(s\) \['nope'\]"):
        store.load_items("s", ["nope"])


def test_a_corrupt_item_is_never_returned_unpinned_load_falls_back() -> None:
    backend = MemoryBackend()
    store = CheckpointStore(backend)
    store.save_items("s", {"model": b"A" * 50_000})
    store.save_items("s", {"model": b"B" * 50_000})
    key = mf.blob_key("", mf.hashlib.sha256(b"B" * 50_000).hexdigest())
    backend.put(key, b"X" * 50_000)  # same size, other bytes
    assert store.load_items("s") == {"model": b"A" * 50_000}  # the previous version
    with pytest.raises(IntegrityError):
        store.load_items("s", version=store.info("s").version)


def test_bad_input_is_refused_before_anything_is_written(tmp_path: pathlib.Path) -> None:
    backend = MemoryBackend()
    store = CheckpointStore(backend)
    with pytest.raises(InvalidData, match="non-empty dict"):
        store.save_items("s", {})
    with pytest.raises(InvalidName, match="item name '../x'"):
        store.save_items("s", {"../x": b"1"})
    with pytest.raises(InvalidData, match="item 'o'.*tuple"):
        store.save_items("s", {"ok": b"x" * 10_000, "o": (1, 2)})
    with pytest.raises(InvalidData, match="dtype object"):
        store.save_items("s", {"a": np.array([object()])})
    with pytest.raises(InvalidData, match="does not exist"):
        store.save_items("s", {"f": tmp_path / "missing"})
    with pytest.raises(InvalidData, match="step -1"):
        store.save_items("s", {"a": b"1"}, step=-1)
    assert list(backend.list("")) == []


def test_save_dir_and_load_dir(store: CheckpointStore, tmp_path: pathlib.Path) -> None:
    src = tmp_path / "ckpt"
    (src / "shards").mkdir(parents=True)
    (src / ".metadata").write_bytes(b"meta")
    (src / "shards" / "0.distcp").write_bytes(b"0" * 300_000)
    cp = store.save_dir("run/dir", src, step=7)
    assert cp.step == 7
    dest = tmp_path / "restored"
    store.load_dir("run/dir", dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        ".metadata", "shards", "shards/0.distcp"]
    assert (dest / "shards" / "0.distcp").read_bytes() == b"0" * 300_000
    with pytest.raises(FileExistsError):
        store.load_dir("run/dir", dest)
    (src / "link").symlink_to(src / ".metadata")
    with pytest.raises(InvalidData, match="symbolic link"):
        store.save_dir("run/dir", src)


def test_dr_status_covers_every_item_blob(s3_pair) -> None:  # type: ignore[no-untyped-def]
    """An items checkpoint is DR-safe only once every item blob is in the secondary."""
    store = s3_pair.store
    store.save_items("job/x", {"a": b"a" * 300_000, "b": b"b" * 300_000})
    b_hash = mf.hashlib.sha256(b"b" * 300_000).hexdigest()
    s3_pair.replicate(only=lambda key: not key.endswith(b_hash))
    status = store.replication_status("job/x")
    assert not status.dr_safe
    s3_pair.replicate()
    assert store.replication_status("job/x").dr_safe
