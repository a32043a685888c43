"""Facades for the two checkpoint patterns users come from, so jobs switch unchanged.

``DisasterRecovery`` (a state per step, in memory by default)::

    dr = DisasterRecovery()
    dr.save_checkpoint("preprocess", {"rows": 1000})
    dr.rollback_to_checkpoint("preprocess")   # -> {"rows": 1000}, or None if never saved

``CheckpointManager`` (stage-completion markers in a local directory by default)::

    manager = CheckpointManager("checkpoints")
    if not manager.has_checkpoint("train"):
        train()
        manager.save_checkpoint("train")
    manager.clear_checkpoints()

Both take ``store=`` to put the same data in any :class:`CheckpointStore` (local, S3 with
failover, ...), gaining versions, verification and replication. A store passed in may be
shared with other jobs, so ``CheckpointManager(store=...)`` needs a ``prefix`` before
``clear_checkpoints()`` will run (ConfigError otherwise, instead of clearing the store).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from .errors import CheckpointNotFound, ConfigError, InvalidData
from .names import validate_prefix
from .store import CheckpointStore

__all__ = ["DisasterRecovery", "CheckpointManager"]

logger = logging.getLogger(__name__)


class DisasterRecovery:
    """``save_checkpoint(step_name, data)`` / ``rollback_to_checkpoint(step_name)``.

    With the default in-memory store, any picklable object can be saved (nothing leaves
    the process, so pickle is safe). With a ``store`` given, data must be JSON-compatible
    or bytes unless ``allow_pickle=True`` is passed (only for stores you trust).
    A rollback returns a copy of the saved data, not the same object.
    """

    def __init__(self, store: CheckpointStore | None = None, *,
                 allow_pickle: bool | None = None) -> None:
        self.store = store if store is not None else CheckpointStore.memory()
        self.allow_pickle = (store is None) if allow_pickle is None else allow_pickle

    def save_checkpoint(self, step_name: str, data: Any) -> None:
        logger.info("Saving checkpoint for step: %s", step_name)
        try:
            self.store.save(step_name, data)
        except InvalidData:
            if not self.allow_pickle:
                raise
            self.store.save(step_name, data, serializer="pickle")

    def rollback_to_checkpoint(self, step_name: str) -> Any:
        """The data saved for ``step_name``, or None when there is none."""
        logger.info("Rolling back to checkpoint: %s", step_name)
        try:
            return self.store.load(step_name, allow_pickle=self.allow_pickle)
        except CheckpointNotFound:
            logger.warning("No checkpoint found for step: %s", step_name)
            return None


class CheckpointManager:
    """Stage-completion markers: ``save_checkpoint`` / ``has_checkpoint`` /
    ``clear_checkpoints``. Each marker is a checkpoint named ``prefix + stage_name`` whose
    data and metadata record when the stage completed (``completed_at``, ISO 8601 UTC).

    Without ``store`` the manager owns a local store in ``checkpoint_dir`` and
    ``clear_checkpoints()`` clears all of it, as the seed class did. With ``store`` (which
    other jobs may share) ``clear_checkpoints()`` clears only ``prefix``, and an empty
    ``prefix`` raises :class:`~recovery_lib.ConfigError` rather than clear the whole store."""

    def __init__(self, checkpoint_dir: str | os.PathLike[str] = "checkpoints",
                 store: CheckpointStore | None = None, *, prefix: str = "") -> None:
        validate_prefix(prefix)
        self.checkpoint_dir = checkpoint_dir
        self.store = store if store is not None else CheckpointStore.local(checkpoint_dir)
        self.prefix = prefix
        self._owns_store = store is None

    def save_checkpoint(self, stage_name: str) -> None:
        completed_at = dt.datetime.now(dt.timezone.utc).isoformat()
        self.store.save(self.prefix + stage_name,
                        {"stage": stage_name, "completed": True, "completed_at": completed_at},
                        metadata={"completed_at": completed_at})
        logger.info("Checkpoint saved for stage: %s", stage_name)

    def has_checkpoint(self, stage_name: str) -> bool:
        return self.store.exists(self.prefix + stage_name)

    def clear_checkpoints(self) -> None:
        if not self.prefix and not self._owns_store:
            raise ConfigError(
                f"clear_checkpoints() refused: this CheckpointManager was given "
                f"store={self.store!r} with prefix='' and would delete every checkpoint in "
                "that store, other jobs' included; give the manager its own prefix, e.g. "
                "CheckpointManager(store=..., prefix='jobs/<job name>/') (to empty a whole "
                "store on purpose, call store.clear())"
            )
        self.store.clear(self.prefix)
        logger.info("All checkpoints cleared.")
