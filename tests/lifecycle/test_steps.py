"""Steps on the store: save(step=), steps(), latest_step(), load(step=), info; the store's
retention policy; du."""
from __future__ import annotations

import pytest

from recovery_lib import CheckpointNotFound, CheckpointStore, ConfigError, InvalidData
from recovery_lib.gc import UNREFERENCED
from recovery_lib.retention import RetentionPolicy

from tests.lifecycle.support import DAY, payload, regions

NAME = "run/model"


@pytest.fixture(params=["memory", "local"])
def store(request, tmp_path):
    return CheckpointStore.memory() if request.param == "memory" else CheckpointStore.local(tmp_path)


def test_steps_are_saved_listed_and_loaded(store, tmp_path):
    for step in (100, 200, 300):
        store.save(NAME, {"step": step}, step=step, metadata={"loss": 1 / step})
    again = store.save(NAME, {"step": 200, "redo": True}, step=200)  # a new version of 200
    assert again.step == 200 and store.info(NAME).step == 200
    assert store.steps(NAME) == [100, 200, 300] and store.latest_step(NAME) == 300
    assert store.load(NAME, step=200) == {"step": 200, "redo": True}
    assert store.load(NAME, step=100) == {"step": 100}
    assert store.load_with_info(NAME, step=300)[1].step == 300
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * 1000)
    assert store.save_file(NAME, source, step=400).step == 400
    assert store.load_file(NAME, tmp_path / "out.bin", step=400).step == 400
    assert [c.step for c in store.versions(NAME, detail=True)][:2] == [400, 200]
    with pytest.raises(CheckpointNotFound, match="step 7"):
        store.load(NAME, step=7)
    with pytest.raises(InvalidData, match="not both"):
        store.load(NAME, step=100, version=again.version)


def test_unstepped_names_have_no_steps_and_old_manifests_still_load(store):
    store.save("plain", [1, 2])
    assert store.steps("plain") == [] and store.latest_step("plain") is None
    assert store.info("plain").step is None and store.load("plain") == [1, 2]


@pytest.mark.parametrize("step", [-1, 2.5, "10", True])
def test_a_bad_step_is_refused_and_nothing_is_written(store, step):
    with pytest.raises(InvalidData, match="step"):
        store.save(NAME, b"x", step=step)
    assert not store.list()


def test_a_rollback_keeps_the_step_it_restores(store):
    first = store.save(NAME, b"a", step=10)
    store.save(NAME, b"b", step=20)
    assert store.rollback(NAME, first.version).step == 10


def test_the_store_retention_policy_and_du():
    r = regions()
    with pytest.raises(ConfigError, match="retention"):
        r.store.prune()
    for step in range(0, 600, 100):
        r.store.save(NAME, payload(step), step=step)
    r.replicate()
    r.store.retention = RetentionPolicy(keep_last=2, keep_every=300)
    report = r.store.prune(dry_run=False)
    assert len(report.retired) == 2  # steps 100 and 200 (0 is a multiple of 300)
    assert r.store.steps(NAME) == [0, 300, 400, 500]  # retired steps are not listed
    rows = {(row["region"], row["name"]): row for row in r.store.du()}
    assert rows[("primary", NAME)]["garbage_objects"] == 4  # 2 manifests, 2 markers
    assert rows[("primary", NAME)]["live_objects"] == 1 + 4 + 4  # head, manifests, blobs
    r.clock.advance(2 * DAY)
    r.store.gc(clock=r.clock)
    rows = {(row["region"], row["name"]): row for row in r.store.du()}
    for region in ("primary", "secondary"):
        assert rows[(region, NAME)]["garbage_objects"] == 0
        assert (region, UNREFERENCED) not in rows
    assert r.secondary_store().load(NAME, step=300) == payload(300)
