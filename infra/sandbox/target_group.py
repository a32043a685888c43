"""The ALB target group's own health checks, between the load balancer and its instances.

Faults that kill the instances (the app on them), not the load balancer, reach Route 53 only
through the target group: the ALB keeps routing to a target until the target group has
seen ``UnhealthyThresholdCount`` consecutive failed checks, ``HealthCheckIntervalSeconds``
apart, and a target that recovers (or a newly launched instance) is used again only after
``HealthyThresholdCount`` consecutive successes (Elastic Load Balancing User Guide for
Application Load Balancers, "Health checks for Application Load Balancer target groups",
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html;
CreateTargetGroup API reference, UnhealthyThresholdCount / HealthyThresholdCount,
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html).

When every target is unhealthy the ALB "fails open" and routes to all of them (same page), so
clients see the dead instances' errors: the stand-in answers 503.

The sandbox takes the interval and thresholds from the program (:mod:`infra.failover_budget`,
which :mod:`infra.regional_compute` deploys), and models the region's targets as one: healthy
while the app on the instances is up and the Auto Scaling group has an InService instance.
Until the target group marks it unhealthy the stand-in keeps answering as the ALB did: the
conservative case of the worst-case budget (:mod:`recovery_lib.budget`, part
``target_group``), where the failure becomes visible to Route 53 only once the ALB has no
healthy target. Checks run on the emulated clock, on the target group's own phase, and are
evaluated lazily when anyone asks (the app stand-in on each request) and before every
change of the target's state, so no background thread is needed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

from infra.failover_budget import (
    TARGET_GROUP_HEALTHY_THRESHOLD,
    TARGET_GROUP_INTERVAL_SECONDS,
    TARGET_GROUP_UNHEALTHY_THRESHOLD,
)
from infra.sandbox.clock import Clock

logger = logging.getLogger(__name__)

# () -> (is the target healthy right now, why)
TargetProbe = Callable[[], tuple[bool, str]]


class TargetGroupHealth:
    def __init__(self, clock: Clock, probe: TargetProbe, *, name: str = "target-group",
                 interval: float = TARGET_GROUP_INTERVAL_SECONDS,
                 unhealthy_threshold: int = TARGET_GROUP_UNHEALTHY_THRESHOLD,
                 healthy_threshold: int = TARGET_GROUP_HEALTHY_THRESHOLD, phase: float = 0.0) -> None:
        if interval <= 0 or unhealthy_threshold < 1 or healthy_threshold < 1:
            raise ValueError(f"target group {name}: interval must be > 0 and thresholds >= 1, got "
                             f"{interval!r}, {unhealthy_threshold!r}, {healthy_threshold!r}")
        self.name = name
        self.clock = clock
        self.probe = probe
        self.interval = float(interval)
        self.unhealthy_threshold = unhealthy_threshold
        self.healthy_threshold = healthy_threshold
        self.healthy = True  # the deployed targets passed their checks before the sandbox started
        self.consecutive = 0  # results in a row that disagree with ``healthy``
        self.next_check_at = clock.now() + phase
        self.last_check_at: Optional[float] = None
        self.last_result: Optional[bool] = None
        self.last_detail = ""
        self.transitions: list[dict[str, Any]] = []
        self._lock = threading.RLock()

    def advance(self) -> bool:
        """Run every check due by now (each sees the target's current state); the status."""
        now = self.clock.now()
        with self._lock:
            if self.next_check_at > now:
                return self.healthy
            at = self.next_check_at
            missed = int((now - at) // self.interval)  # checks nobody asked about meanwhile
            ok, detail = self.probe()
            for step in range(missed + 1):
                self._count(ok, detail, at + step * self.interval)
            self.next_check_at = at + (missed + 1) * self.interval
            return self.healthy

    def _count(self, ok: bool, detail: str, at: float) -> None:
        self.last_check_at, self.last_result, self.last_detail = at, ok, detail
        if ok == self.healthy:
            self.consecutive = 0
            return
        self.consecutive += 1
        if self.consecutive >= (self.healthy_threshold if ok else self.unhealthy_threshold):
            self.healthy, self.consecutive = ok, 0
            self.transitions.append({"at": at, "healthy": ok, "detail": detail})
            logger.info("target group %s: target %s at %.1f s (%s)", self.name,
                        "healthy" if ok else "UNHEALTHY", at, detail)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"healthy": self.healthy, "consecutive": self.consecutive, "interval": self.interval,
                    "unhealthy_threshold": self.unhealthy_threshold, "healthy_threshold": self.healthy_threshold,
                    "last_check_at": self.last_check_at, "last_result": self.last_result,
                    "last_detail": self.last_detail, "next_check_at": self.next_check_at,
                    "transitions": list(self.transitions)}
