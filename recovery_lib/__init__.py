"""recovery_lib: replicated, verified checkpoints for ML pipelines.

    from recovery_lib import CheckpointStore

    store = CheckpointStore.from_platform("platform.json")   # or .local(dir), .memory()
    checkpoint = store.save("runs/42/state", {"epoch": 3})
    state = store.load("runs/42/state")

See :class:`CheckpointStore` for the operations and :mod:`recovery_lib.errors` for the
exception hierarchy.
"""
import logging

from .checkpoint import BlobRef, Checkpoint
from .compat import CheckpointManager, DisasterRecovery
from .config import S3Options
from .errors import (
    AsyncSaveFailed,
    CheckpointNotFound,
    ConfigError,
    ConflictError,
    IntegrityError,
    InvalidData,
    InvalidName,
    RecoveryError,
    RegionUnavailable,
    ShardsIncomplete,
    StagesFailed,
)
from .pipeline import Pipeline, PipelineError
from .platform import Platform, load_platform
from .replication import ReplicationStatus
from .retention import RetentionPolicy
from .store import CheckpointStore

__all__ = [
    "CheckpointStore",
    "Checkpoint",
    "Pipeline",
    "PipelineError",
    "DisasterRecovery",
    "CheckpointManager",
    "RecoveryError",
    "CheckpointNotFound",
    "IntegrityError",
    "RegionUnavailable",
    "InvalidName",
    "InvalidData",
    "ConfigError",
    "ConflictError",
    "AsyncSaveFailed",
    "ShardsIncomplete",
    "StagesFailed",
    "BlobRef",
    "ReplicationStatus",
    "RetentionPolicy",
    "S3Options",
    "Platform",
    "load_platform",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
