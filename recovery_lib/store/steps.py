"""Steps and the checkpoint lifecycle on ``CheckpointStore`` (issue 11).

A step is the caller's integer (a training step), stored in the manifest (``save(...,
step=N)``). ``steps``/``latest_step`` read the manifests of a name's versions (one LIST,
then one GET per version, concurrent on S3); versions retired by a prune are left out.
``prune``/``pin``/``gc``/``du`` delegate to :mod:`recovery_lib.lifecycle` and
:mod:`recovery_lib.gc`.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .. import manifest as mf
from ..errors import CheckpointNotFound, ConfigError
from ..names import validate_name

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint
    from ..gc import GcReport
    from ..lifecycle import LifecycleStore as CheckpointStore
    from ..lifecycle import PruneReport
    from ..retention import RetentionPolicy

__all__ = ["StepsAndLifecycle", "version_of_step"]


def _stepped(store: "CheckpointStore", name: str) -> list["Checkpoint"]:
    """Detailed, unretired, live versions of ``name``, newest commit first."""
    from ..lifecycle import markers

    validate_name(name, prefix=store.prefix)
    retired = {v for n, v in markers(store, "retired", name) if n == name}
    pinned = {v for n, v in markers(store, "pinned", name) if n == name}
    try:
        versions = store.versions(name, detail=True)
    except CheckpointNotFound:
        return []  # never saved: no steps (a fresh run resumes from nothing)
    return [c for c in versions if c.version not in retired or c.version in pinned]


def version_of_step(store: "CheckpointStore", name: str, step: int) -> str:
    """The newest version of ``name`` saved with ``step``; CheckpointNotFound if none."""
    mf.validate_step(step)
    for checkpoint in _stepped(store, name):
        if checkpoint.step == step:
            return checkpoint.version
    raise CheckpointNotFound(f"no version of {name!r} was saved with step {step} (or it was "
                             "retired); steps() lists the steps there are")


class StepsAndLifecycle:
    """Mixed into ``CheckpointStore``."""

    #: the store's retention policy, used by :meth:`prune` when none is passed
    retention: "RetentionPolicy | None" = None

    def steps(self: "CheckpointStore", name: str) -> list[int]:  # type: ignore[misc]
        """The distinct steps of ``name``'s unretired versions, ascending ([] for a name
        never saved)."""
        return sorted({c.step for c in _stepped(self, name) if c.step is not None})

    def version_of_step(self: "CheckpointStore", name: str, step: int) -> str:  # type: ignore[misc]
        """The newest unretired version of ``name`` saved with ``step``; CheckpointNotFound
        if there is none."""
        return version_of_step(self, name, step)

    def latest_step(self: "CheckpointStore", name: str) -> int | None:  # type: ignore[misc]
        """The highest step of ``name`` (None when no version has a step)."""
        steps = StepsAndLifecycle.steps(self, name)
        return steps[-1] if steps else None

    def prune(self: "CheckpointStore", policy: "RetentionPolicy | Mapping[str, Any] | None" = None,  # type: ignore[misc]
              *, prefix: str = "", dry_run: bool = True,
              now: dt.datetime | None = None) -> "PruneReport":
        """Retire (logically, undoable with :meth:`pin` until :meth:`gc`) the versions under
        ``prefix`` that ``policy`` (default: the store's ``retention``) does not keep. Never
        the current version, the newest DR-safe one, or what a head or rollback points at.
        ``dry_run=True`` (the default) only reports."""
        from ..lifecycle import prune

        chosen = policy if policy is not None else self.retention
        if chosen is None:
            raise ConfigError("no retention policy: pass one to prune(), or set "
                              "store.retention = RetentionPolicy(...)")
        return prune(self, chosen, prefix=prefix, dry_run=dry_run, now=now)

    def pin(self: "CheckpointStore", name: str, version: str) -> None:  # type: ignore[misc]
        """Keep ``version`` of ``name``: undoes its retirement (until GC removed it) and
        keeps later prunes and collections away from it."""
        from ..lifecycle import pin

        pin(self, name, version)

    def gc(self: "CheckpointStore", *, grace_seconds: float | None = None,  # type: ignore[misc]
           dry_run: bool = False, clock: Callable[[], float] = time.time) -> "GcReport":
        """Physically remove retired versions and unreferenced blobs older than the grace
        period, in every region, never what a restore in either region needs. Needs the
        maintainer role (``s3:DeleteObject``). See :mod:`recovery_lib.gc`."""
        from ..gc import DEFAULT_GRACE_SECONDS, collect

        grace = DEFAULT_GRACE_SECONDS if grace_seconds is None else grace_seconds
        return collect(self, grace_seconds=grace, dry_run=dry_run, clock=clock)

    def du(self: "CheckpointStore", prefix: str = "") -> list[dict[str, Any]]:  # type: ignore[misc]
        """Bytes and object counts per name and region, live against garbage (see
        :func:`recovery_lib.gc.usage`)."""
        from ..gc import usage

        return usage(self, prefix)
