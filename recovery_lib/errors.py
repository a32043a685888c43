"""Exceptions raised by recovery_lib.

Every error the library raises on purpose derives from one base, so callers (the CLI, jobs)
can catch ``RecoveryError`` and nothing else::

    RecoveryError
     ├── CheckpointNotFound   (also KeyError)    no committed checkpoint / version / content
     ├── IntegrityError                          stored bytes or a manifest do not verify
     ├── RegionUnavailable                       a region did not answer (after retries) or
     │                                           its circuit breaker is open
     ├── InvalidName          (also ValueError)  a checkpoint name or prefix breaks a rule
     ├── InvalidData          (also TypeError)   data or a serializer the store refuses
     ├── ConfigError          (also ValueError)  bad descriptor, URL, options, bucket setup
     └── ConflictError                           a conditional create lost to another writer

Messages name the offending value and what is allowed instead. Backends translate their
low-level errors into these at the boundary (``raise X(...) from exc``) and re-raise what
they cannot classify.
"""
from __future__ import annotations

__all__ = [
    "RecoveryError",
    "CheckpointNotFound",
    "IntegrityError",
    "RegionUnavailable",
    "InvalidName",
    "InvalidData",
    "ConfigError",
    "ConflictError",
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
