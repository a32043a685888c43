"""Async saves: snapshot before return, per-name call order, errors on the future and the
next call, flush at interpreter exit (separate processes)."""
from __future__ import annotations

import pathlib
import threading

import pytest

from recovery_lib import CheckpointStore, IntegrityError, InvalidData
from recovery_lib.async_save import AsyncSaveFailed
from recovery_lib.backends.memory import MemoryBackend
from tests.scale.procs import finish, spawn, wait_for


class GatedBackend(MemoryBackend):
    """Commits (head CAS) wait until the test opens the gate; can be told to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.fail_names: set[str] = set()

    def put_if_match(self, key, data, tag):  # type: ignore[no-untyped-def]
        assert self.gate.wait(60), "the test never opened the gate"
        if any(key.endswith(f"heads/{n}.json") for n in self.fail_names):
            raise IntegrityError(f"refused {key}")
        return super().put_if_match(key, data, tag)


def test_commits_of_one_name_keep_call_order_and_data_is_snapshotted() -> None:
    backend = GatedBackend()
    store = CheckpointStore(backend)
    buffer = bytearray(b"v0")
    futures = []
    for i in range(12):
        buffer[:] = f"v{i}".encode()
        futures.append(store.save_async("ordered", buffer))  # same buffer, changed after
        futures.append(store.save_async(f"other-{i % 3}", {"i": i}))
    assert not any(f.done() for f in futures)  # all held at the gate: the caller did not wait
    backend.gate.set()
    store.wait()
    versions = [f.result().version for f in futures[::2]]
    assert versions == sorted(versions)  # commit order is call order
    history = store.versions("ordered")[::-1]
    assert [store.load("ordered", version=c.version) for c in history] == [
        f"v{i}".encode() for i in range(12)]
    assert store.load("other-2") == {"i": 11}


def test_save_file_async_snapshots_the_file(tmp_path: pathlib.Path) -> None:
    backend = GatedBackend()
    store = CheckpointStore(backend)
    path = tmp_path / "ckpt.bin"
    path.write_bytes(b"A" * 400_000)
    future = store.save_file_async("f", path)
    path.write_bytes(b"B" * 10)  # the caller reuses its file at once
    backend.gate.set()
    assert future.result().size == 400_000
    assert store.load("f") == b"A" * 400_000
    items = store.save_items_async("it", {"file": path, "meta": {"k": 1}}, step=4)
    path.unlink()
    assert items.result().step == 4
    assert store.load_items("it") == {"file": b"B" * 10, "meta": {"k": 1}}
    assert not list(tmp_path.glob("recovery-snapshot-*"))


def test_errors_surface_on_the_future_and_on_the_next_call() -> None:
    backend = GatedBackend()
    backend.fail_names.add("doomed")
    backend.gate.set()
    store = CheckpointStore(backend)
    future = store.save_async("doomed", {"x": 1})
    assert isinstance(future.exception(timeout=60), IntegrityError)
    with pytest.raises(AsyncSaveFailed, match="'doomed' failed: IntegrityError") as info:
        store.save_async("next", {"x": 2})
    assert isinstance(info.value.__cause__, IntegrityError) and info.value.name == "doomed"
    store.save_async("next", {"x": 2}).result()  # reported once; the store works on
    store.save_async("doomed", {"x": 3})
    with pytest.raises(AsyncSaveFailed):
        store.wait()
    store.wait()


def test_bad_input_is_refused_synchronously() -> None:
    backend = MemoryBackend()
    store = CheckpointStore(backend)
    with pytest.raises(InvalidData, match="type set"):
        store.save_async("x", {1, 2})
    with pytest.raises(InvalidData, match="does not exist"):
        store.save_file_async("x", "/nonexistent/file")
    assert store.async_saver.pending == 0 and list(backend.list("")) == []


@pytest.mark.slow
def test_interpreter_exit_flushes_pending_saves(tmp_path: pathlib.Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    child = spawn("async_flush", str(tmp_path / "store"), str(events))
    wait_for(events / "returned", child)  # main() returned; the save is held at its commit
    assert not CheckpointStore.local(tmp_path / "store").exists("async/flushed")
    (events / "release").touch()
    code, err = finish(child)
    assert code == 0, err
    assert "waiting for 1 pending async save" in err
    assert CheckpointStore.local(tmp_path / "store").load("async/flushed") == {"saved": True}


@pytest.mark.slow
def test_a_save_failing_at_exit_is_reported_not_dropped(tmp_path: pathlib.Path) -> None:
    child = spawn("async_fail", str(tmp_path / "store"), str(tmp_path))
    code, err = finish(child)
    assert code == 0
    assert "RuntimeWarning: async save of 'async/lost' failed and was not reported before exit" in err
