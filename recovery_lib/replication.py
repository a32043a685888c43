"""``ReplicationStatus``: is a checkpoint DR-safe, and what could the secondary restore?"""
from __future__ import annotations

import dataclasses

from .checkpoint import Checkpoint

__all__ = ["ReplicationStatus"]


@dataclasses.dataclass(frozen=True)
class ReplicationStatus:
    """The replication state of one checkpoint name.

    - ``primary_version``: the current version in the primary region (None when the name is
      absent or deleted there, or the primary could not be reached: see
      ``primary_reachable``).
    - ``dr_safe``: the current primary version's manifest and all its content are present
      and verify in the secondary region.
    - ``restorable``: the newest checkpoint the secondary can serve right now (manifest and
      content present and verified there), or None. Restoring in the secondary means this.
    - ``missing``: keys of the current primary version absent from, or not verifying in, the
      secondary.
    - ``pending``: versions newer than ``restorable`` that the secondary cannot serve yet,
      newest first: the data a regional failure now would lose.
    - ``secondary_only``: committed versions that exist only in the secondary region (saved
      there during an outage and not yet reconciled into the primary), oldest first. While
      any orders after ``primary_version``, the primary is behind: not DR-safe.
    - ``lag_seconds``: creation time of the newest pending version minus that of
      ``restorable`` (the recovery point actually achieved); 0.0 when nothing is pending,
      None when nothing is restorable but something is pending.
    """

    name: str
    primary_version: str | None
    dr_safe: bool
    restorable: Checkpoint | None
    missing: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    lag_seconds: float | None = 0.0
    primary_reachable: bool = True
    secondary_only: tuple[str, ...] = ()

    @property
    def version(self) -> str | None:
        """The version whose safety ``dr_safe`` describes (the primary's current one)."""
        return self.primary_version

    @property
    def secondary_version(self) -> str | None:
        """The version the secondary would restore (``restorable.version``)."""
        return self.restorable.version if self.restorable else None
