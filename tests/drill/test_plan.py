"""Drill plans: the default, files in YAML and JSON, and every kind of bad plan."""

from __future__ import annotations

import json

import pytest

from recovery_lib.drill.plan import DEFAULT_PLAN, Fault, load_plan, parse_plan
from recovery_lib.errors import ConfigError


def test_default_plan_is_a_regional_outage_with_every_verification():
    plan = load_plan()
    assert plan.source == "built-in default"
    assert plan.injected_faults() == (
        Fault("app-down", region="primary"),
        Fault("s3", region="primary", mode="blackhole"),
        Fault("replication-pause"),
    )
    assert plan.verifications == ("detection", "dns-failover", "standby-serving", "data-recovery", "pipeline-resume")
    assert plan.rto_seconds is None and plan.rpo_seconds is None  # the descriptor's targets


@pytest.mark.parametrize("suffix,dump", [(".yaml", None), (".json", json.dumps)])
def test_plan_files(tmp_path, suffix, dump):
    raw = {"title": "S3 only", "faults": [{"type": "s3", "region": "primary", "mode": "reset"}],
           "targets": {"rto_seconds": 120, "rpo_seconds": 60}, "verifications": ["data-recovery"]}
    path = tmp_path / f"plan{suffix}"
    if dump:
        path.write_text(dump(raw))
    else:
        import yaml

        path.write_text(yaml.safe_dump(raw))
    plan = load_plan(path)
    assert plan.faults == (Fault("s3", region="primary", mode="reset"),)
    assert (plan.rto_seconds, plan.rpo_seconds) == (120, 60)
    assert plan.steady_state == parse_plan(DEFAULT_PLAN).steady_state  # missing sections default
    assert plan.source == str(path)


BAD = [
    ({"faults": []}, "faults"),
    ({"faults": [{"type": "meteor"}]}, "faults[0].type is 'meteor'"),
    ({"faults": [{"type": "s3", "region": "primary"}]}, "faults[0].mode is None; allowed: refuse, reset, blackhole"),
    ({"faults": [{"type": "app-down", "region": "moon"}]}, "faults[0].region is 'moon'"),
    ({"faults": [{"type": "replication-pause", "region": "primary"}]}, "no region for a replication-pause"),
    ({"faults": [{"type": "app-down", "region": "primary", "mode": "x"}]}, "mode only on an s3 fault"),
    ({"steady_state": [{"probe": "dns-answer", "expect": "TERTIARY"}]}, "steady_state[0].expect is 'TERTIARY'"),
    ({"steady_state": [{"probe": "app", "expect": "healthy"}]}, "steady_state[0].region is None"),
    ({"steady_state": [{"probe": "ping"}]}, "steady_state[0].probe is 'ping'"),
    ({"verifications": ["vibes"]}, "verifications[0] is 'vibes'"),
    ({"verifications": ["pipeline-resume"]}, "pipeline-resume only together with data-recovery"),
    ({"targets": {"rto_seconds": 0}}, "targets.rto_seconds is 0"),
    ({"targets": {"rto_seconds": "fast"}}, "targets.rto_seconds is 'fast'"),
    ({"targets": {"rpo": 5}}, "targets key 'rpo'"),
    ({"timeouts": {"detection_seconds": -1}}, "timeouts.detection_seconds is -1"),
    ({"canary": {"interval_seconds": 0}}, "canary.interval_seconds is 0"),
    ({"canary": {"name": "/abs"}}, "canary.name is '/abs'"),
    ({"title": ""}, "title is ''"),
    ({"surprise": 1}, "plan key 'surprise'"),
    (["not", "a", "mapping"], "plan is ['not', 'a', 'mapping']"),
]


@pytest.mark.parametrize("raw,message", BAD, ids=[m for _, m in BAD])
def test_bad_plans_name_the_field_and_what_is_allowed(raw, message):
    with pytest.raises(ConfigError) as excinfo:
        parse_plan(raw)
    assert message in str(excinfo.value)
    assert "allowed" in str(excinfo.value)


def test_unreadable_plan_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_plan(tmp_path / "missing.yaml")
    bad = tmp_path / "plan.yaml"
    bad.write_text("faults: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_plan(bad)
    other = tmp_path / "plan.txt"
    other.write_text("{}")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.json"):
        load_plan(other)


def test_a_replication_pause_that_lags_is_an_expectation_of_the_drill():
    """AWS FIS actions reference, aws:s3:bucket-pause-replication: existing objects may keep
    replicating for up to one hour after the action begins."""
    from recovery_lib.drill.adapters.aws import AwsAdapter
    from recovery_lib.drill.adapters.base import FaultAdapter
    from recovery_lib.drill.plan import REPLICATION_PAUSE_LAG_SECONDS

    assert REPLICATION_PAUSE_LAG_SECONDS == 3600 == AwsAdapter.replication_pause_lag_seconds
    assert FaultAdapter.replication_pause_lag_seconds == 0  # the sandbox pauses at once
    plan = load_plan()
    (expected,) = plan.expectations(replication_pause_lag_seconds=3600)
    assert expected["fault"] == "replication-pause" and expected["lag_seconds"] == 3600
    assert "3600 s" in expected["expect"] and "RPO" in expected["expect"]
    assert plan.expectations() == []
    app_only = parse_plan({"faults": [{"type": "app-down", "region": "primary"}]})
    assert app_only.expectations(replication_pause_lag_seconds=3600) == []
