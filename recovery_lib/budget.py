"""The failover budget: how long each phase of a regional failover should take.

Pure arithmetic shared by the Pulumi program (``estimatedFailoverSeconds``,
``worstCaseFailoverSeconds``), the policy pack and the drills (budget against measurement,
phase by phase). Facts (Route 53 Developer Guide, "How Amazon Route 53 determines whether a
health check is healthy" and "Values that you specify when you create or update health
checks"): a health checker declares an endpoint unhealthy after ``failure_threshold``
consecutive failed probes, ``request_interval`` seconds apart (10 or 30); an HTTP(S) probe
fails when the TCP connection takes more than 4 s or the answer more than 2 s after it;
the health check is healthy while more than 18 % of the checkers report healthy; resolvers
then keep the old answer for up to the record's TTL (60 s for an alias to a load balancer).

Best case (``dns_failover_seconds``, exported as ``estimatedFailoverSeconds``):
interval x threshold + TTL. It assumes every checker probes right after the failure and
every client re-resolves exactly at TTL expiry.

Worst case (:func:`worst_case_failover`), an upper bound built from independent parts:

- ``target_group``: when the instances (not the load balancer) fail, the ALB keeps routing
  to them until its target group has seen ``unhealthy_threshold`` failed checks,
  ``interval`` apart; only then does it answer errors the Route 53 probes can see.
- ``detection``: Route 53's checkers do not coordinate, so one may have probed just before
  the failure; it needs ``failure_threshold`` more probes, one ``request_interval`` apart,
  and the last of them is only declared failed after its 4 s connect + 2 s response
  timeouts. The check turns unhealthy once fewer than 18 % of checkers say healthy, i.e.
  when more than 82 % have flipped, so the slowest checker's time bounds it.
- ``dns``: the record's (effective) TTL, plus one more TTL for resolvers and clients that
  keep an answer past its TTL (stub caches, JVMs, browsers): a budget, not a guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUEST_INTERVALS = (10, 30)
ALIAS_TTL_SECONDS = 60
PROBE_CONNECT_TIMEOUT_SECONDS = 4  # Route 53 HTTP(S) probe: TCP connection within 4 s
PROBE_RESPONSE_TIMEOUT_SECONDS = 2  # ... and a 2xx/3xx answer within 2 s after connecting
HEALTHY_FRACTION = 0.18  # healthy while more than 18 % of checkers report healthy
# Clients and resolvers that hold an answer past its TTL: budgeted as this many extra TTLs.
STALE_CACHE_TTLS = 1


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


@dataclass(frozen=True)
class WorstCaseFailover:
    """The worst-case DNS failover, in parts (see the module docstring for the model)."""

    target_group_seconds: int
    detection_seconds: int
    probe_timeout_seconds: int
    ttl_seconds: int
    stale_cache_seconds: int

    @property
    def total_seconds(self) -> int:
        return (self.target_group_seconds + self.detection_seconds + self.probe_timeout_seconds
                + self.ttl_seconds + self.stale_cache_seconds)

    def as_dict(self) -> dict[str, int]:
        return {
            "target_group": self.target_group_seconds,
            "detection": self.detection_seconds,
            "probe_timeout": self.probe_timeout_seconds,
            "ttl": self.ttl_seconds,
            "stale_cache": self.stale_cache_seconds,
            "total": self.total_seconds,
        }


def worst_case_failover(
    *,
    request_interval: int,
    failure_threshold: int,
    ttl: int,
    alias: bool = False,
    target_group_interval: int = 0,
    target_group_unhealthy_threshold: int = 0,
) -> WorstCaseFailover:
    """Upper bound of a DNS failover; target-group arguments 0 when no load balancer fronts the app."""
    best = failover_budget(request_interval=request_interval, failure_threshold=failure_threshold, ttl=ttl, alias=alias)
    if target_group_interval < 0 or target_group_unhealthy_threshold < 0:
        raise ValueError(
            "target_group_interval and target_group_unhealthy_threshold must be 0 or more, got "
            f"{target_group_interval!r} and {target_group_unhealthy_threshold!r}"
        )
    return WorstCaseFailover(
        target_group_seconds=target_group_interval * target_group_unhealthy_threshold,
        detection_seconds=best.detection_seconds,
        probe_timeout_seconds=PROBE_CONNECT_TIMEOUT_SECONDS + PROBE_RESPONSE_TIMEOUT_SECONDS,
        ttl_seconds=best.dns_seconds,
        stale_cache_seconds=STALE_CACHE_TTLS * best.dns_seconds,
    )
