"""The ALB target group's own health checks in front of an app stand-in, on a manual clock.

Elastic Load Balancing, "Health checks for Application Load Balancer target groups",
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html:
a target is checked every HealthCheckIntervalSeconds, marked unhealthy after
UnhealthyThresholdCount consecutive failures and healthy again after HealthyThresholdCount
consecutive successes; the program's values are in infra.failover_budget.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from infra.failover_budget import (
    TARGET_GROUP_HEALTHY_THRESHOLD,
    TARGET_GROUP_INTERVAL_SECONDS,
    TARGET_GROUP_UNHEALTHY_THRESHOLD,
)
from infra.sandbox.apps import AppStandIn
from infra.sandbox.clock import ManualClock
from infra.sandbox.target_group import TargetGroupHealth


@pytest.fixture
def app() -> Iterator[tuple[AppStandIn, ManualClock]]:
    clock = ManualClock()
    stand_in = AppStandIn("primary", "us-east-1")
    stand_in.target_group = TargetGroupHealth(clock, stand_in.target_state)
    stand_in.start()
    try:
        yield stand_in, clock
    finally:
        stand_in.stop()


def test_failed_instances_are_served_until_interval_x_unhealthy_threshold(app):
    stand_in, clock = app
    interval, unhealthy = TARGET_GROUP_INTERVAL_SECONDS, TARGET_GROUP_UNHEALTHY_THRESHOLD
    assert stand_in.serving()[0] is True  # check at t=0 passes
    clock.advance(1)
    stand_in.set_up(False)  # the app on the instances dies at t=1; the ALB is still there
    served_until = None
    while clock.now() < 1 + 5 * interval:
        ok, reason = stand_in.serving()
        if not ok:
            break
        served_until = clock.now()
        clock.advance(0.5)
    flip = stand_in.target_group.transitions[-1]
    assert flip["healthy"] is False and flip["at"] == pytest.approx(interval * unhealthy)  # checks at 10, 20
    assert served_until is not None and served_until >= interval * unhealthy - 0.5
    assert "no healthy target" in stand_in.serving()[1]


def test_recovered_instances_serve_after_the_healthy_threshold(app):
    stand_in, clock = app
    interval = TARGET_GROUP_INTERVAL_SECONDS
    stand_in.set_up(False)
    for _ in range(TARGET_GROUP_UNHEALTHY_THRESHOLD + 1):
        clock.advance(interval)
        stand_in.serving()
    assert stand_in.serving()[0] is False
    recovered_at = clock.now() + 0.5
    clock.advance(0.5)
    stand_in.set_up(True)
    while not stand_in.serving()[0]:
        clock.advance(0.5)
    assert stand_in.target_group.transitions[-1]["healthy"] is True
    # not before HealthyThresholdCount successful checks, one interval apart
    assert clock.now() - recovered_at >= (TARGET_GROUP_HEALTHY_THRESHOLD - 1) * interval


def test_closing_the_load_balancer_applies_at_once(app):
    stand_in, clock = app
    stand_in.set_mode("closed")
    assert stand_in.serving() == (False, "app is closed")
    assert stand_in.target_group.healthy is True  # the targets were not checked as failed


def test_without_a_target_group_instance_failures_apply_at_once():
    stand_in = AppStandIn("primary", "us-east-1").start()
    try:
        stand_in.set_up(False)
        assert stand_in.serving() == (False, "app is 503")
    finally:
        stand_in.stop()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="interval must be > 0"):
        TargetGroupHealth(ManualClock(), lambda: (True, "ok"), interval=0)
