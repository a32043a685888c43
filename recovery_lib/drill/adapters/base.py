"""The seam between a drill and the world it breaks.

A ``FaultAdapter`` injects and reverts faults and observes what Route 53, the load
balancers and the Auto Scaling groups see. ``aws`` does it with Route 53 health-check
inversion, FIS experiments and ASG scaling; ``sandbox`` with the offline sandbox's control
endpoint. The runner holds the logic (phases, journal, measurement, rollbacks), so one plan
runs unchanged on both.

Every call that changes something is also *described* (``describe_inject`` /
``describe_revert``) so ``--dry-run`` can print it without making it.
"""

from __future__ import annotations

import abc
from typing import Any, Optional

from recovery_lib.drill.plan import Fault


class FaultAdapter(abc.ABC):
    name: str = "abstract"
    #: emulated seconds per real second (1 on AWS)
    time_scale: float = 1.0
    #: how long objects that existed when replication was paused may still replicate
    replication_pause_lag_seconds: float = 0.0

    # -- time --------------------------------------------------------------------------------
    @abc.abstractmethod
    def now(self) -> float:
        """Monotonic time in (emulated) seconds."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of (emulated) time."""
        import time

        time.sleep(max(0.0, seconds) / self.time_scale)

    # -- faults ------------------------------------------------------------------------------
    @abc.abstractmethod
    def describe_inject(self, fault: Fault) -> list[str]:
        """The calls ``inject`` would make, one line each."""

    @abc.abstractmethod
    def describe_revert(self, fault: Fault) -> list[str]:
        """The calls ``revert`` would make."""

    @abc.abstractmethod
    def inject(self, fault: Fault) -> dict[str, Any]:
        """Inject ``fault``; return what ``revert`` needs (JSON-able, kept in the journal)."""

    @abc.abstractmethod
    def is_injected(self, fault: Fault) -> bool:
        """Whether the fault is really in effect (a drill never passes on a fault that was not)."""

    @abc.abstractmethod
    def revert(self, fault: Fault, info: dict[str, Any]) -> None:
        """Undo ``fault``. Must be idempotent: reverting twice, or reverting a fault whose
        injection never completed, is safe."""

    # -- observations ------------------------------------------------------------------------
    @abc.abstractmethod
    def health_check_healthy(self) -> Optional[bool]:
        """What Route 53 thinks of the primary (None: no health check)."""

    @abc.abstractmethod
    def dns_answer(self) -> str:
        """``"PRIMARY"`` or ``"SECONDARY"``: which record a client resolving the name gets."""

    @abc.abstractmethod
    def app_healthy(self, region: str) -> bool:
        """Whether the region's service answers its health path."""

    @abc.abstractmethod
    def standby(self) -> tuple[int, int]:
        """The secondary group's (desired, in service) capacity."""

    @abc.abstractmethod
    def describe_scale(self, desired: int) -> list[str]:
        """The calls ``scale_standby`` would make."""

    @abc.abstractmethod
    def scale_standby(self, desired: int) -> None:
        """Set the secondary group's desired capacity."""

    def client(self, service: str, region_role: str) -> Any:
        """A boto3 client for control-plane reads (readiness checks)."""
        raise NotImplementedError

    def data_session(self) -> Any:
        """The boto3 session recovery_lib calls use (None: the standard credential chain)."""
        return None

    def state(self) -> dict[str, Any]:
        """A snapshot of what the adapter can see, for the journal and for tests."""
        return {}

    def close(self) -> None:
        """Release clients and connections."""
