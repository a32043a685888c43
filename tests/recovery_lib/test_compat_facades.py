"""The seed-compatible facades: DisasterRecovery and CheckpointManager."""
from __future__ import annotations

import datetime as dt
import logging

import pytest

from recovery_lib import (
    CheckpointManager,
    CheckpointStore,
    ConfigError,
    DisasterRecovery,
    InvalidData,
    RecoveryError,
)


def test_disaster_recovery_saves_and_rolls_back_with_info_logs(caplog):
    caplog.set_level(logging.INFO, logger="recovery_lib")
    dr = DisasterRecovery()
    dr.save_checkpoint("preprocess", {"rows": 1000})
    assert dr.rollback_to_checkpoint("preprocess") == {"rows": 1000}
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "Saving checkpoint for step: preprocess" in messages
    assert "Rolling back to checkpoint: preprocess" in messages
    dr.save_checkpoint("preprocess", {"rows": 2000})
    assert dr.rollback_to_checkpoint("preprocess") == {"rows": 2000}


def test_disaster_recovery_returns_none_when_there_is_no_checkpoint(caplog):
    caplog.set_level(logging.INFO, logger="recovery_lib")
    assert DisasterRecovery().rollback_to_checkpoint("never") is None
    assert "Rolling back to checkpoint: never" in caplog.text
    assert "No checkpoint found for step: never" in caplog.text


def test_disaster_recovery_in_memory_keeps_any_python_object():
    dr = DisasterRecovery()
    state = {"seen": {1, 2}, "when": dt.date(2024, 1, 1)}
    dr.save_checkpoint("s", state)
    restored = dr.rollback_to_checkpoint("s")
    assert restored == state and restored is not state


def test_disaster_recovery_on_a_given_store_refuses_pickle_unless_allowed(tmp_path):
    store = CheckpointStore.local(tmp_path)
    dr = DisasterRecovery(store)
    with pytest.raises(InvalidData):
        dr.save_checkpoint("s", {1, 2})
    dr.save_checkpoint("s", [1, 2])
    assert DisasterRecovery(store).rollback_to_checkpoint("s") == [1, 2]
    trusting = DisasterRecovery(store, allow_pickle=True)
    trusting.save_checkpoint("p", {1, 2})
    assert trusting.rollback_to_checkpoint("p") == {1, 2}
    with pytest.raises(InvalidData, match="allow_pickle"):
        dr.rollback_to_checkpoint("p")


def test_checkpoint_manager_marks_stages_with_timestamps(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="recovery_lib")
    manager = CheckpointManager()  # default: a local store in ./checkpoints
    assert not manager.has_checkpoint("train")
    before = dt.datetime.now(dt.timezone.utc)
    manager.save_checkpoint("train")
    assert manager.has_checkpoint("train") and not manager.has_checkpoint("eval")
    assert (tmp_path / "checkpoints").is_dir()
    info = manager.store.info("train")
    completed = dt.datetime.fromisoformat(info.metadata["completed_at"])
    assert before <= completed <= dt.datetime.now(dt.timezone.utc)
    assert manager.store.load("train")["completed"] is True

    again = CheckpointManager("checkpoints")  # a new process sees the same markers
    assert again.has_checkpoint("train")
    again.clear_checkpoints()
    assert "All checkpoints cleared." in [r.getMessage() for r in caplog.records]
    assert not manager.has_checkpoint("train")
    assert len(manager.store.versions("train", include_deleted=True)) == 2  # history stays


def test_checkpoint_manager_on_a_shared_store_with_a_prefix():
    store = CheckpointStore.memory()
    store.save("unrelated", 1)
    manager = CheckpointManager(store=store, prefix="jobs/etl/")
    manager.save_checkpoint("extract")
    assert store.exists("jobs/etl/extract") and manager.has_checkpoint("extract")
    manager.clear_checkpoints()
    assert not manager.has_checkpoint("extract") and store.exists("unrelated")


@pytest.mark.parametrize("store_kind", ["memory", "local"])
def test_checkpoint_manager_refuses_to_clear_a_passed_in_store_without_a_prefix(tmp_path, store_kind):
    """Issue 10 point 11: with store=shared and no prefix, clear_checkpoints() would have
    cleared every job's checkpoints; it raises ConfigError naming the fix and deletes nothing."""
    store = (CheckpointStore.memory() if store_kind == "memory"
             else CheckpointStore.local(tmp_path / "shared"))
    store.save("jobs/other/train", {"owner": "another job"})
    manager = CheckpointManager(store=store)
    manager.save_checkpoint("extract")  # saving and asking still work without a prefix
    assert manager.has_checkpoint("extract")
    with pytest.raises(ConfigError) as caught:
        manager.clear_checkpoints()
    message = str(caught.value)
    assert "prefix=''" in message and "prefix='jobs/<job name>/'" in message
    assert isinstance(caught.value, RecoveryError)
    assert store.exists("jobs/other/train") and manager.has_checkpoint("extract")
    assert len(store.versions("extract", include_deleted=True)) == 1  # no tombstone written


def test_checkpoint_manager_owning_its_directory_still_clears_all_of_it(tmp_path):
    manager = CheckpointManager(tmp_path / "ckpt")
    manager.save_checkpoint("a")
    manager.save_checkpoint("b")
    manager.clear_checkpoints()
    assert not manager.has_checkpoint("a") and not manager.has_checkpoint("b")
