"""The platform's DNS failover budget, best and worst case, from its DNS config.

Pure (no Pulumi): config validation, the descriptor, the stack outputs and the docs use
it. The arithmetic and the model live in :mod:`recovery_lib.budget`; this module adds
what the program fixes itself: the target group's health check in front of the instances.
"""

from __future__ import annotations

from typing import Protocol

from recovery_lib.budget import WorstCaseFailover, failover_budget, worst_case_failover

# The ALB target group's health check (infra.regional_compute uses these).
TARGET_GROUP_INTERVAL_SECONDS = 10
TARGET_GROUP_UNHEALTHY_THRESHOLD = 2
TARGET_GROUP_HEALTHY_THRESHOLD = 2


class DnsTimings(Protocol):
    """The DNS settings the budget depends on (``infra.config.DnsConfig`` has them); declared
    here so that this module does not import the config module that validates with it."""

    @property
    def request_interval(self) -> int: ...

    @property
    def failure_threshold(self) -> int: ...

    @property
    def ttl(self) -> int: ...

    @property
    def alias(self) -> bool: ...


def best_case_seconds(dns: DnsTimings) -> int:
    """interval x threshold + the effective TTL (``estimatedFailoverSeconds``)."""
    return failover_budget(
        request_interval=dns.request_interval, failure_threshold=dns.failure_threshold, ttl=dns.ttl, alias=dns.alias
    ).dns_failover_seconds


def worst_case(dns: DnsTimings) -> WorstCaseFailover:
    """The upper bound with its parts (``worstCaseFailoverSeconds``; the RTO is checked against it)."""
    return worst_case_failover(
        request_interval=dns.request_interval,
        failure_threshold=dns.failure_threshold,
        ttl=dns.ttl,
        alias=dns.alias,
        target_group_interval=TARGET_GROUP_INTERVAL_SECONDS,
        target_group_unhealthy_threshold=TARGET_GROUP_UNHEALTHY_THRESHOLD,
    )
