"""A multi-item checkpoint is atomic under SIGKILL mid-save (separate process)."""
from __future__ import annotations

import os
import pathlib
import signal

import pytest

from recovery_lib import CheckpointStore
from tests.scale.procs import finish, spawn, wait_for

pytestmark = pytest.mark.slow


def test_sigkill_after_the_first_item_leaves_the_previous_version_whole(tmp_path: pathlib.Path) -> None:
    store_dir, events = tmp_path / "store", tmp_path / "events"
    events.mkdir()
    store = CheckpointStore.local(store_dir)
    v1 = {name: bytes([1]) * 10_000 for name in ("model", "optimizer", "loader")}
    first = store.save_items("job/state", v1, step=1)
    child = spawn("items_crash", str(store_dir), str(events))
    try:
        wait_for(events / "mid-save", child)  # one item blob of step 2 is written
        os.kill(child.pid, signal.SIGKILL)
    finally:
        code, _ = finish(child)
    assert code == -signal.SIGKILL and not (events / "committed").exists()
    fresh = CheckpointStore.local(store_dir)
    assert fresh.info("job/state").version == first.version
    assert fresh.info("job/state").step == 1
    assert fresh.load_items("job/state") == v1
    assert [v.version for v in fresh.versions("job/state")] == [first.version]
    # the orphaned blob is harmless: the next save commits after it
    second = fresh.save_items("job/state", {"model": bytes([2]) * 10_000}, step=2)
    assert fresh.info("job/state").version == second.version
