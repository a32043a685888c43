"""The platform descriptor: parsing, validation messages, DR_PLATFORM."""
from __future__ import annotations

import copy
import json

import pytest

from recovery_lib import ConfigError, Platform, load_platform
from tests.recovery_lib.moto_helpers import descriptor


def valid() -> dict:
    return descriptor("bucket-primary", "bucket-secondary", primary_endpoint="http://127.0.0.1:5000")


def test_valid_descriptor_parses_and_keeps_extra_sections(tmp_path):
    data = valid()
    data["dns"] = {"zone_id": "Z1", "record_name": "api.example.com", "ttl": 60,
                   "primary_health_check_id": "hc-1", "request_interval": 10,
                   "failure_threshold": 3, "estimated_failover_seconds": 90}
    platform = load_platform(data)
    assert isinstance(platform, Platform) and platform.source is None
    assert platform.primary.bucket == "bucket-primary" and platform.secondary.name == "us-west-2"
    assert platform.primary.endpoint_url == "http://127.0.0.1:5000"
    assert platform.secondary.endpoint_url is None and platform.primary.kms_key_arn is None
    assert platform.checkpoint_prefix == "checkpoints/" and platform.strategy == "warm-standby"
    assert platform.replication.rtc is True and platform.dns.request_interval == 10
    assert platform.targets.rpo_seconds == 60 and dict(platform.extra) == {"sandbox": {"kept": True}}
    assert platform.to_dict() == data
    data["project"] = "changed"  # the Platform holds its own copy
    assert platform.project == "dr-platform"

    path = tmp_path / "platform.json"
    path.write_text(json.dumps(valid()))
    from_file = load_platform(str(path))
    assert from_file.source == str(path) and from_file.primary == platform.primary
    assert load_platform(from_file) is from_file


def test_dr_platform_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("DR_PLATFORM", raising=False)
    with pytest.raises(ConfigError, match=r"\$DR_PLATFORM is not set"):
        load_platform()
    path = tmp_path / "p.json"
    path.write_text(json.dumps(valid()))
    monkeypatch.setenv("DR_PLATFORM", str(path))
    assert load_platform().stack == "test"


def _without(path: str) -> dict:
    data = valid()
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    del node[last]
    return data


def _with(path: str, value) -> dict:
    data = valid()
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[last] = value
    return data


@pytest.mark.parametrize("data,message", [
    (_with("version", 2), "version must be 1"),
    (_with("version", True), "version must be 1"),
    (_without("project"), "project must be a non-empty string; it is missing"),
    (_with("stack", ""), "stack must be a non-empty string"),
    (_with("strategy", "active-active"), "strategy must be one of"),
    (_with("checkpoint_prefix", "checkpoints"), "checkpoint_prefix must be a key prefix ending with '/'"),
    (_with("checkpoint_prefix", "/abs/"), "starts with '/'"),
    (_without("regions.secondary"), "regions.secondary must be an object; it is missing"),
    (_with("regions.primary.bucket", "Bad_Bucket"), "regions.primary.bucket must be an S3 bucket name"),
    (_with("regions.secondary.bucket", "bucket-primary"), "different bucket"),
    (_with("regions.primary.kms_key_arn", "alias/x"), "KMS key ARN"),
    (_with("regions.secondary.endpoint_url", "ftp://x"), "endpoint_url must be null or an http"),
    (_without("regions.primary.asg_name"), "regions.primary.asg_name"),
    (_with("replication.rtc", "yes"), "replication.rtc must be true or false"),
    (_with("dns", {"zone_id": "Z"}), "dns.record_name"),
    (_with("alerts_topic_arn", None), "alerts_topic_arn"),
    (_with("targets.rto_seconds", 0), "targets.rto_seconds must be an integer >= 1"),
    (_with("targets.rpo_seconds", 1.5), "targets.rpo_seconds must be an integer"),
])
def test_bad_descriptors_name_the_field(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        load_platform(data)
    assert isinstance(info.value, ValueError)


def test_dns_values_are_range_checked():
    base = valid()
    base["dns"] = {"zone_id": "Z1", "record_name": "r", "ttl": 60, "primary_health_check_id": "h",
                   "request_interval": 15, "failure_threshold": 3, "estimated_failover_seconds": 90}
    with pytest.raises(ConfigError, match=r"dns.request_interval must be one of \[10, 30\]"):
        load_platform(base)
    fixed = copy.deepcopy(base)
    fixed["dns"].update(request_interval=30, failure_threshold=11)
    with pytest.raises(ConfigError, match="between 1 and 10"):
        load_platform(fixed)


def test_unreadable_or_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read platform descriptor"):
        load_platform(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_platform(bad)
    with pytest.raises(ConfigError, match="dict or a path"):
        load_platform(42)  # type: ignore[arg-type]
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(ConfigError, match="expected a JSON object, got list"):
        load_platform(listed)


def test_endpoint_url_may_be_omitted():
    assert load_platform(_without("regions.secondary.endpoint_url")).secondary.endpoint_url is None


def test_worst_case_failover_is_an_optional_dns_field():
    """Descriptors written before the worst case was exported still parse (None)."""
    base = valid()
    base["dns"] = {"zone_id": "Z1", "record_name": "r", "ttl": 30, "primary_health_check_id": "h",
                   "request_interval": 10, "failure_threshold": 3, "estimated_failover_seconds": 60}
    assert load_platform(base).dns.worst_case_failover_seconds is None
    base["dns"]["worst_case_failover_seconds"] = 116
    base["dns"]["worst_case_failover_parts"] = {"total": 116}
    assert load_platform(base).dns.worst_case_failover_seconds == 116
    base["dns"]["worst_case_failover_seconds"] = "soon"
    with pytest.raises(ConfigError, match="dns.worst_case_failover_seconds"):
        load_platform(base)
