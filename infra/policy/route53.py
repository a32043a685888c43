"""Route 53 failover rules (stack validations: a record's health check is another resource).

The budget rule judges the *worst-case* DNS failover (model and sources in
:mod:`recovery_lib.budget`): the target group's interval x unhealthy threshold (when the
instances behind a load balancer fail), the health check's request_interval x
failure_threshold plus one probe's 4 s connect + 2 s response timeouts (checkers do not
coordinate), the record's TTL, and one more TTL for caches that hold answers past it.
The best case, interval x threshold + TTL, is what the first version checked; a stack can
meet it and still miss its RTO.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from infra.policy.stack import HEALTH_CHECK, RECORD, TARGET_GROUP, StackView, describe, seq, setting
from recovery_lib.budget import PROBE_CONNECT_TIMEOUT_SECONDS, PROBE_RESPONSE_TIMEOUT_SECONDS, STALE_CACHE_TTLS

DEFAULT_REQUEST_INTERVAL = 30  # Route 53's default
DEFAULT_FAILURE_THRESHOLD = 3  # Route 53's default
ALIAS_TTL_SECONDS = 60  # an alias to a load balancer answers with the ELB record's 60 s TTL
DEFAULT_RTO_SECONDS = 3600  # the project's default rtoSeconds (Pulumi.yaml)
DEFAULT_TG_INTERVAL = 30  # an ALB target group's default health-check interval
DEFAULT_TG_UNHEALTHY_THRESHOLD = 3  # ... and unhealthy threshold


def primary_records(view: StackView) -> list[PolicyResource]:
    return [
        r for r in view.of_type(RECORD)
        if any(p.get("type") == "PRIMARY" for p in seq(r.props.get("failoverRoutingPolicies")))
    ]


def health_check_of(view: StackView, record: PolicyResource) -> Optional[PolicyResource]:
    check_id = record.props.get("healthCheckId")
    for check in view.of_type(HEALTH_CHECK):
        if check_id and check.props.get("id") == check_id:
            return check
    for dependency in record.dependencies:
        if dependency.resource_type == HEALTH_CHECK:
            return dependency
    return None


def validate_primary_health_check(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    for record in primary_records(view):
        if not record.props.get("healthCheckId"):
            report_violation(
                f"{describe(record)} is a PRIMARY failover record without a health check, so Route 53 "
                "never fails over; set health_check_id to an aws.route53.HealthCheck on the primary "
                "endpoint.",
                record.urn,
            )


def rto_seconds(args: StackValidationArgs, view: StackView) -> tuple[float, str]:
    """Policy config ``rtoSeconds``; else the stack's ``<project>:rtoSeconds``; else 3600."""
    configured = setting(args, "rtoSeconds", None)
    if configured is not None:
        return float(configured), "policy config rtoSeconds"
    key = f"{view.project}:rtoSeconds"
    stack_value = pulumi.runtime.get_config(key) if view.project else None
    if stack_value not in (None, ""):
        return float(stack_value), f"stack config {key}"
    return float(DEFAULT_RTO_SECONDS), "the default rtoSeconds"


def _number(value: Any, default: float) -> float:
    return default if value in (None, "") else float(value)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def target_group_seconds(view: StackView) -> tuple[float, str]:
    """The slowest target group's interval x unhealthy threshold (0 without load balancers).

    Which target group sits behind a record's endpoint is not always visible in a plan
    (ids are unknown before creation), so the rule takes the slowest in the stack: an upper
    bound, like the rest of the worst case.
    """
    worst, name = 0.0, "no target group"
    for group in view.of_type(TARGET_GROUP):
        check = group.props.get("healthCheck") or {}
        seconds = _number(check.get("interval"), DEFAULT_TG_INTERVAL) * _number(
            check.get("unhealthyThreshold"), DEFAULT_TG_UNHEALTHY_THRESHOLD)
        if seconds > worst:
            worst, name = seconds, describe(group)
    return worst, name


def validate_failover_budget(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    records = [r for r in primary_records(view) if r.props.get("healthCheckId")]
    if not records:
        return
    rto, source = rto_seconds(args, view)
    alias_ttl = _number(setting(args, "aliasTtlSeconds", ALIAS_TTL_SECONDS), ALIAS_TTL_SECONDS)
    target_group, target_group_name = target_group_seconds(view)
    probe_timeout = PROBE_CONNECT_TIMEOUT_SECONDS + PROBE_RESPONSE_TIMEOUT_SECONDS
    for record in records:
        check = health_check_of(view, record)
        if check is None:
            report_violation(
                f"{describe(record)} uses health check {record.props.get('healthCheckId')!r}, which is "
                "not in this stack, so its failover time cannot be checked; manage the health check "
                "in the same stack.",
                record.urn,
            )
            continue
        interval = _number(check.props.get("requestInterval"), DEFAULT_REQUEST_INTERVAL)
        threshold = _number(check.props.get("failureThreshold"), DEFAULT_FAILURE_THRESHOLD)
        ttl = alias_ttl if seq(record.props.get("aliases")) else _number(record.props.get("ttl"), 0)
        stale = STALE_CACHE_TTLS * ttl
        worst = target_group + interval * threshold + probe_timeout + ttl + stale
        if worst > rto:
            report_violation(
                f"{describe(record)} fails over in up to {_fmt(target_group)} s target group "
                f"({target_group_name}) + {_fmt(interval)} s x {_fmt(threshold)} (health check "
                f"{describe(check)}) + {probe_timeout} s probe timeout + {_fmt(ttl)} s TTL + {_fmt(stale)} s "
                f"stale caches = {_fmt(worst)} s in the worst case, over the RTO target of {_fmt(rto)} s "
                f"({source}); lower request_interval (10), failure_threshold or the TTL, or raise the RTO target.",
                record.urn,
            )
