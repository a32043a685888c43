"""Adversarial review of shards' data keys (commit 7234e8a): each test is a finding."""
from __future__ import annotations

import pytest

from recovery_lib import CheckpointStore, gc
from recovery_lib.backends.memory import MemoryBackend
from recovery_lib.errors import RegionUnavailable
from tests.lifecycle.support import regions

NAME = "run/model"


class FlakyRecordReads(MemoryBackend):
    """GETs of shard records fail (a transient RegionUnavailable) while ``flaky``."""

    flaky = False

    def get(self, key):
        if self.flaky and key.startswith("shards/"):
            raise RegionUnavailable("a record GET timed out")
        return super().get(key)


def test_gc_keeps_pending_data_when_a_record_cannot_be_read() -> None:
    """gc_shards logs 'the shards of NAME are kept' for an unreadable record, but the data
    that record names is in no pending set, so GC deletes a pending step's data once it
    is older than the grace period; the step can then never be committed."""
    clock = regions().clock
    backend = FlakyRecordReads(clock=clock)
    store = CheckpointStore(backend)
    store.save_shard(NAME, 1, 0, b"zero" * 5000)
    store.commit_shards(NAME, 1, 1)
    pending = store.save_shard(NAME, 2, 0, b"pending" * 5000)  # the slow rank 1 still saving
    clock.advance(7200)
    backend.flaky = True
    report = gc.collect(store, grace_seconds=3600, clock=clock)
    backend.flaky = False
    assert pending["key"] not in report.regions["memory"].blobs
    assert backend.head(pending["key"]) == pending["size"]
    store.save_shard(NAME, 2, 1, b"one" * 5000)
    assert store.commit_shards(NAME, 2, 2).step == 2
