"""Exceptions raised by recovery_lib.

Every error the library raises on purpose derives from one base, so callers (the CLI, jobs)
can catch ``RecoveryError`` and nothing else::

    RecoveryError
     ├── CheckpointNotFound   (also KeyError)    no committed checkpoint / version / content
     │    └── ShardsIncomplete                   commit_shards found a shard missing or bad
     ├── IntegrityError                          stored bytes or a manifest do not verify
     ├── RegionUnavailable                       a region did not answer (after retries) or
     │                                           its circuit breaker is open
     ├── InvalidName          (also ValueError)  a checkpoint name or prefix breaks a rule
     ├── InvalidData          (also TypeError)   data or a serializer the store refuses
     ├── ConfigError          (also ValueError)  bad descriptor, URL, options, bucket setup
     ├── ConflictError                           a conditional create lost to another writer
     ├── AsyncSaveFailed                         an earlier asynchronous save failed
     └── StagesFailed                            pipeline stages failed (run with an executor)

Messages name the offending value and what is allowed instead. Backends translate their
low-level errors into these at the boundary (``raise X(...) from exc``) and re-raise what
they cannot classify.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "RecoveryError",
    "CheckpointNotFound",
    "IntegrityError",
    "RegionUnavailable",
    "InvalidName",
    "InvalidData",
    "ConfigError",
    "ConflictError",
    "ShardsIncomplete",
    "AsyncSaveFailed",
    "StagesFailed",
]


class RecoveryError(Exception):
    """Base class of every error recovery_lib raises on purpose."""


class CheckpointNotFound(RecoveryError, KeyError):
    """No committed checkpoint (or version, or content blob) under that name."""

    def __str__(self) -> str:
        # KeyError.__str__ repr-quotes its argument; a message should read as a sentence.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class IntegrityError(RecoveryError):
    """Stored content or a manifest does not match its recorded size and SHA-256."""


class RegionUnavailable(RecoveryError):
    """A region did not answer within the configured timeouts and retries, or its
    circuit breaker is open."""


class InvalidName(RecoveryError, ValueError):
    """A checkpoint name or listing prefix breaks a naming rule (checked before any I/O)."""


class InvalidData(RecoveryError, TypeError):
    """Data the store refuses to serialize, or a serializer it refuses to use."""


class ConfigError(RecoveryError, ValueError):
    """A malformed platform descriptor, store URL, option, or bucket set-up."""


class ConflictError(RecoveryError):
    """A conditional create found the key already present (another writer won)."""


class ShardsIncomplete(CheckpointNotFound):
    """``commit_shards`` found a shard missing (or one that does not verify): nothing was
    committed, the previous step stays current."""


class AsyncSaveFailed(RecoveryError):
    """An earlier asynchronous save failed; ``name`` is its checkpoint, ``__cause__`` the error."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class StagesFailed(RecoveryError):
    """Stages of a pipeline run failed. ``failed``: ``{stage: exception}``; ``blocked``:
    the stages not run because something they depend on failed; ``outputs``: every output
    produced or loaded. Completed stages are checkpointed: the next run resumes."""

    def __init__(self, message: str, failed: "dict[str, BaseException]", blocked: "list[str]",
                 outputs: "dict[str, Any]") -> None:
        super().__init__(message)
        self.failed = failed
        self.blocked = blocked
        self.outputs = outputs
