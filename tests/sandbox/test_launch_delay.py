"""The EC2 launch-to-InService delay's default and its validation (no sandbox started).

EC2 Auto Scaling User Guide, "Set the health check grace period for an Auto Scaling group",
https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html: "In the
console, by default, the health check grace period is 300 seconds". The running sandbox's
delay (the group's own grace period) is checked in test_deploy.py.
"""

from __future__ import annotations

import pytest

from infra.sandbox.sandbox import CONSOLE_GRACE_PERIOD_SECONDS, Sandbox


def test_the_delay_is_the_groups_grace_period_else_the_console_default(tmp_path):
    sandbox = Sandbox("dr", tmp_path)
    assert sandbox.launch_delay("secondary", {"HealthCheckGracePeriod": 120}) == 120
    assert sandbox.launch_delay("secondary", {"HealthCheckGracePeriod": 0}) == CONSOLE_GRACE_PERIOD_SECONDS == 300
    assert sandbox.launch_delay("secondary", {}) == 300


def test_an_explicit_delay_wins_and_a_negative_one_is_refused(tmp_path):
    assert Sandbox("dr", tmp_path, launch_delay_seconds=0).launch_delay("secondary", {"HealthCheckGracePeriod": 120}) == 0
    with pytest.raises(ValueError, match="launch_delay_seconds must be 0 or more emulated seconds, got -5"):
        Sandbox("dr", tmp_path, launch_delay_seconds=-5)
    with pytest.raises(ValueError, match="health_checkers must be 1 or more, got 0"):
        Sandbox("dr", tmp_path, health_checkers=0)
