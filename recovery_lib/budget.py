"""The failover budget: how long each phase of a regional failover should take.

Pure arithmetic shared by the Pulumi program (``estimatedFailoverSeconds``) and the drills
(budget against measurement, phase by phase). Facts (Route 53 documentation): a health
check declares an endpoint unhealthy after ``failure_threshold`` consecutive failed
probes, ``request_interval`` seconds apart (10 or 30); resolvers then keep the old answer
for up to the record's TTL (60 s for an alias to a load balancer).
"""

from __future__ import annotations

from dataclasses import dataclass

REQUEST_INTERVALS = (10, 30)
ALIAS_TTL_SECONDS = 60


@dataclass(frozen=True)
class FailoverBudget:
    detection_seconds: int
    dns_seconds: int
    compute_seconds: int = 0

    @property
    def dns_failover_seconds(self) -> int:
        """Health check detection plus the TTL clients may cache the old answer."""
        return self.detection_seconds + self.dns_seconds

    @property
    def total_seconds(self) -> int:
        return self.detection_seconds + self.dns_seconds + self.compute_seconds

    def as_dict(self) -> dict[str, int]:
        return {
            "detection": self.detection_seconds,
            "dns": self.dns_seconds,
            "compute": self.compute_seconds,
            "total": self.total_seconds,
        }


def failover_budget(
    *, request_interval: int, failure_threshold: int, ttl: int, alias: bool = False, scale_up_seconds: int = 0
) -> FailoverBudget:
    """Budget for a DNS failover; ``ttl`` is ignored for alias records (the ALB's 60 s applies)."""
    if request_interval not in REQUEST_INTERVALS:
        raise ValueError(f"request_interval must be 10 or 30 seconds, got {request_interval!r}")
    if not 1 <= failure_threshold <= 10:
        raise ValueError(f"failure_threshold must be from 1 to 10, got {failure_threshold!r}")
    if ttl < 0:
        raise ValueError(f"ttl must be 0 or more seconds, got {ttl!r}")
    if scale_up_seconds < 0:
        raise ValueError(f"scale_up_seconds must be 0 or more, got {scale_up_seconds!r}")
    return FailoverBudget(
        detection_seconds=request_interval * failure_threshold,
        dns_seconds=ALIAS_TTL_SECONDS if alias else ttl,
        compute_seconds=scale_up_seconds,
    )
