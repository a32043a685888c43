"""Errors of the scanner, in the project's one hierarchy (``recovery_lib.errors``)::

    RecoveryError
     ├── ConfigError
     │    └── ExceptionsFileError   the exceptions file is malformed (no reason, unknown key, ...)
     └── ScanError
          ├── TranslationError      the program run cannot be turned into a plan
          └── CheckovError          checkov is missing, crashed, or wrote unreadable output

A finding is not an error: the CLI reports findings and stale exceptions and exits 1.
"""

from __future__ import annotations

from recovery_lib.errors import ConfigError, RecoveryError

__all__ = ["ScanError", "TranslationError", "CheckovError", "ExceptionsFileError"]


class ScanError(RecoveryError):
    """Base class of the scanner's own failures."""


class TranslationError(ScanError):
    """A registration (or an invoke the program made) has no Terraform-plan counterpart."""


class CheckovError(ScanError):
    """checkov could not be run, or its report could not be read."""


class ExceptionsFileError(ConfigError):
    """The exceptions file breaks a rule (every entry needs a check, a resource and a reason)."""
