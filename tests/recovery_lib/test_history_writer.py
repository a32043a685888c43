"""``HistoryWriter`` (recovery_lib/history_writer.py) and the store's use of it: history
records of S3 primaries are written after the commit, off the caller's path; a name's next
commit waits for its pending write; the store's own reads and listings see its commits.
Driven by events (a memory backend that says it is remote and holds history writes)."""
from __future__ import annotations

import threading

import pytest

from recovery_lib import CheckpointStore
from recovery_lib import manifest as mf
from recovery_lib.backends.memory import MemoryBackend
from recovery_lib.history_writer import HistoryWriter, flush_all


class RemoteLike(MemoryBackend):
    """A memory backend that says it is remote (history goes to the background) and holds
    history writes until released."""

    concurrent_reads = True

    def __init__(self) -> None:
        super().__init__(region="primary")
        self.release = threading.Event()
        self.started = threading.Event()

    def put_if_absent(self, key: str, data: bytes) -> None:
        if "/manifests/" in f"/{key}":
            self.started.set()
            assert self.release.wait(timeout=30), "the test did not release the history write"
        super().put_if_absent(key, data)


def history(backend: MemoryBackend) -> set[str]:
    return {k for k, _ in MemoryBackend.list(backend, "manifests/")}


def test_save_returns_before_its_history_write_and_reads_see_the_commit():
    backend = RemoteLike()
    store = CheckpointStore(backend)
    saved = store.save("cfg", {"lr": 0.1})  # returns although the history write is held
    assert backend.started.wait(timeout=30)
    assert history(backend) == set() and store._history.pending() == 1
    assert store.load("cfg") == {"lr": 0.1}  # the head is the commit
    backend.release.set()
    assert store.load("cfg", version=saved.version) == {"lr": 0.1}
    assert [c.version for c in store.versions("cfg")] == [saved.version]
    assert history(backend) == {mf.manifest_key("", "cfg", saved.version)}


def test_a_names_next_commit_waits_for_its_pending_history_write():
    backend = RemoteLike()
    store = CheckpointStore(backend)
    first = store.save("a", b"1")
    assert backend.started.wait(timeout=30)
    done = threading.Event()
    second: list[str] = []

    def commit_again() -> None:
        second.append(store.save("a", b"2").version)
        done.set()

    threading.Thread(target=commit_again).start()
    assert not done.wait(timeout=0.2)  # held: it waits for the first record
    assert store._history.pending() == 1
    backend.release.set()
    assert done.wait(timeout=30)
    flush_all()
    assert history(backend) == {mf.manifest_key("", "a", v) for v in (first.version, second[0])}


def test_local_and_memory_stores_write_history_before_save_returns(tmp_path):
    for store in (CheckpointStore.memory(), CheckpointStore.local(tmp_path)):
        saved = store.save("n", {"v": 1})
        assert store._history.pending() == 0
        assert store._backends[store.regions[0]].head(
            mf.manifest_key(store.prefix, "n", saved.version)) is not None


def test_pending_writes_are_bounded():
    writer = HistoryWriter(workers=1, max_pending=2)
    gate = threading.Event()
    ran: list[int] = []
    writer.submit("a", lambda: (gate.wait(30), ran.append(1)))
    writer.submit("b", lambda: ran.append(2))
    third = threading.Thread(target=writer.submit, args=("c", lambda: ran.append(3)))
    third.start()
    third.join(timeout=0.2)
    assert third.is_alive()  # the third waits for the oldest
    gate.set()
    third.join(timeout=30)
    writer.close()
    assert sorted(ran) == [1, 2, 3]


@pytest.mark.parametrize("bad", [{"workers": 0}, {"max_pending": 0}])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match=">= 1"):
        HistoryWriter(**bad)
