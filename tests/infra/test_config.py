"""parse_config: every rule, with the key, the bad value and what is allowed in the message."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import KNOWN_KEYS, parse_config
from infra.mockrun import load_stack_config
from recovery_lib.errors import ConfigError


def raw_for(stack: str) -> tuple[dict[str, Any], str]:
    config = load_stack_config(stack)
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("dr-platform:")}
    return raw, config["aws:region"]


def parse(stack: str = "dr", **changes: Any):
    raw, region = raw_for(stack)
    primary = changes.pop("primary_region", region)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return parse_config(raw, project="dr-platform", stack=stack, primary_region=primary)


DNS = {"zoneName": "example.com", "recordName": "ml-api.example.com"}


def test_both_stack_files_parse():
    dev, dr = parse("dev"), parse("dr")
    assert (dev.strategy, dev.kms, dev.dns, dev.standby_capacity, dev.protect_data) == ("pilot-light", False, None, 0, False)
    assert (dr.strategy, dr.kms, dr.replication_time_control, dr.failback) == ("warm-standby", True, True, True)
    assert dr.dns is not None and dr.dns.request_interval * dr.dns.failure_threshold + dr.dns.effective_ttl <= 60
    assert (dr.rto_seconds, dr.rpo_seconds) == (300, 900)


def test_every_declared_key_is_known_to_the_program():
    import yaml
    from infra.mockrun import ROOT

    declared = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])
    # dns and networking are objects the project-config schema cannot type
    assert declared | {"dns", "networking"} == set(KNOWN_KEYS)


def test_engine_strings_are_accepted():
    """The engine passes every value as a string; objects as JSON."""
    config = parse(kms="true", primaryCapacity="3", standbyCapacity="2",
                   dns='{"zoneName": "example.com", "recordName": "a.example.com"}')
    assert config.kms is True and config.primary_capacity == 3 and config.standby_capacity == 2
    assert config.dns.record_name == "a.example.com"


def test_dns_defaults():
    dns = parse(dns=dict(DNS)).dns
    assert (dns.protocol, dns.port, dns.path, dns.request_interval, dns.failure_threshold, dns.ttl, dns.alias) == (
        "HTTP", 80, "/healthz", 10, 3, 60, False)


def test_warm_standby_defaults_to_one_standby_instance():
    assert parse(standbyCapacity=None).standby_capacity == 1
    assert parse("dev", standbyCapacity=None).standby_capacity == 0


BAD = [
    # (changes, words the message must contain)
    ({"strategy": "hot-standby"}, ["dr-platform:strategy", "'hot-standby'", "pilot-light, warm-standby"]),
    ({"secondaryRegion": "us-east-1"}, ["dr-platform:secondaryRegion", "must differ", "us-east-1"]),
    ({"secondaryRegion": "mars-1"}, ["secondaryRegion", "'mars-1'", "region"]),
    ({"primary_region": None}, ["aws:region", "None"]),
    ({"secondaryRegion": None}, ["missing", "dr-platform:secondaryRegion"]),
    ({"kms": "yes"}, ["dr-platform:kms", "'yes'", "true or false"]),
    ({"noncurrentVersionDays": 0}, ["dr-platform:noncurrentVersionDays", "1 to 3650", "0"]),
    ({"noncurrentVersionDays": "ten"}, ["noncurrentVersionDays", "'ten'"]),
    ({"primaryCapacity": True}, ["primaryCapacity", "True"]),
    ({"standbyCapacity": 2}, ["dr-platform:standbyCapacity", "1 to 1", "2"]),
    ({"strategy": "pilot-light", "standbyCapacity": 1}, ["standbyCapacity", "0 to 0"]),
    ({"primaryCapacity": 1}, ["primaryCapacity", "at least 2 for warm-standby"]),
    ({"replication": False}, ["replicationTimeControl", "replication", "false"]),
    ({"replication": False, "replicationTimeControl": False}, ["failback", "replication"]),
    ({"rpoSeconds": 60}, ["rpoSeconds", "900"]),
    ({"replicationTimeControl": False}, ["dr-platform:fis", "replicationTimeControl", "metric"]),
    ({"replication": False, "replicationTimeControl": False, "failback": False}, ["dr-platform:fis", "replication"]),
    ({"checkpointPrefix": "checkpoints"}, ["checkpointPrefix", "ending in '/'"]),
    ({"checkpointPrefix": "/abs/"}, ["checkpointPrefix", "'/abs/'"]),
    ({"instanceType": "huge"}, ["instanceType", "'huge'", "t3.micro"]),
    ({"amiParameter": "ami-123"}, ["amiParameter", "SSM parameter"]),
    ({"alertEmail": "not-an-email"}, ["alertEmail", "'not-an-email'"]),
    ({"typoKey": 1}, ["unknown config key", "dr-platform:typoKey", "known keys"]),
    ({"dns": "{not json"}, ["dr-platform:dns", "must be an object"]),
    ({"dns": ["a"]}, ["dr-platform:dns", "list"]),
    ({"dns": {**DNS, "requestInterval": 15}}, ["dns.requestInterval", "10 or 30", "15"]),
    ({"dns": {**DNS, "failureThreshold": 11}}, ["dns.failureThreshold", "1 to 10", "11"]),
    ({"dns": {**DNS, "failureThreshold": 0}}, ["dns.failureThreshold", "0"]),
    ({"dns": {**DNS, "ttl": -1}}, ["dns.ttl", "0 to 86400", "-1"]),
    ({"dns": {**DNS, "ttl": 100000}}, ["dns.ttl", "100000"]),
    ({"dns": {**DNS, "protocol": "TCP"}}, ["dns.protocol", "HTTP, HTTPS", "'TCP'"]),
    ({"dns": {**DNS, "protocol": "HTTPS", "certificateArns": {"primary": "x"}}}, ["dns.certificateArns", "left out"]),
    ({"dns": {**DNS, "protocol": "HTTPS", "certificateArns": {"primary": "x", "secondary": "y"}}},
     ["dns.certificateArns.primary", "ACM certificate ARN", "'x'"]),
    ({"dns": {**DNS, "httpRedirect": True}}, ["dns.httpRedirect", "HTTPS", "'HTTP'"]),
    ({"dns": {**DNS, "protocol": "HTTPS", "port": 80, "httpRedirect": True}}, ["dns.httpRedirect", "port 80"]),
    ({"dns": None, "waf": True}, ["dr-platform:waf", "dr-platform:dns"]),
    ({"waf": "maybe"}, ["dr-platform:waf", "'maybe'"]),
    ({"dns": {**DNS, "certificateArns": {"primary": "x", "secondary": "y"}}}, ["certificateArns", "only allowed"]),
    ({"dns": {**DNS, "path": "healthz"}}, ["dns.path", "'healthz'"]),
    ({"dns": {"recordName": "a.example.com"}}, ["exactly one of zoneName or zoneId"]),
    ({"dns": {**DNS, "zoneId": "Z123"}}, ["exactly one of zoneName or zoneId"]),
    ({"dns": {"zoneId": "bad", "recordName": "a.example.com"}}, ["dns.zoneId", "'bad'"]),
    ({"dns": {"zoneName": "example.com", "recordName": "a.other.org"}}, ["dns.recordName", "not inside the zone"]),
    ({"dns": {"zoneName": "example.com", "recordName": "not a name"}}, ["dns.recordName", "'not a name'"]),
    ({"dns": {**DNS, "tll": 30}}, ["dr-platform:dns", "unknown field", "tll", "allowed"]),
    ({"dns": {**DNS, "requestInterval": 30, "failureThreshold": 10}, "rtoSeconds": 300}, ["exceeds", "rtoSeconds=300"]),
    ({"networking": {"primary": {"vpcId": "vpc-1", "subnetIds": []}}}, ["networking.primary.vpcId", "'vpc-1'"]),
    ({"networking": {"primary": {"vpcId": "vpc-0aaaaaaaaaaaaaaaa", "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1"]}}},
     ["networking.primary.subnetIds", "at least two"]),
    ({"networking": {"tertiary": {}}}, ["networking", "unknown field", "tertiary"]),
    # dr has dns: the internet-facing load balancer needs public subnets of its own
    ({"networking": {"primary": {"vpcId": "vpc-0aaaaaaaaaaaaaaaa", "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1",
                                                                              "subnet-0aaaaaaaaaaaaaaa2"]}}},
     ["networking.primary.publicSubnetIds", "is missing", "public subnets"]),
    ({"networking": {"primary": {"vpcId": "vpc-0aaaaaaaaaaaaaaaa", "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1",
                                                                              "subnet-0aaaaaaaaaaaaaaa2"],
                                 "publicSubnetIds": ["subnet-0aaaaaaaaaaaaaaa3"]}}},
     ["networking.primary.publicSubnetIds", "at least two", "'subnet-0aaaaaaaaaaaaaaa3'"]),
]


@pytest.mark.parametrize("changes,words", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_config_names_the_key_the_value_and_what_is_allowed(changes, words):
    with pytest.raises(ConfigError) as excinfo:
        parse(**changes)
    message = str(excinfo.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_the_rto_is_checked_against_the_worst_case_failover():
    """Best case 10 x 3 + 30 = 60 s fits an RTO of 100 s; the worst case (116 s) does not."""
    dns = {**DNS, "requestInterval": 10, "failureThreshold": 3, "ttl": 30}
    assert parse(dns=dns, rtoSeconds=116).dns.ttl == 30
    with pytest.raises(ConfigError) as info:
        parse(dns=dns, rtoSeconds=100)
    message = str(info.value)
    for part in ("up to 116 s", "target_group 20 s", "detection 30 s", "probe_timeout 6 s", "ttl 30 s",
                 "stale_cache 30 s", "rtoSeconds=100"):
        assert part in message


def test_a_cname_at_the_zone_apex_is_refused():
    with pytest.raises(ConfigError) as info:
        parse(dns={"zoneName": "example.com", "recordName": "example.com.", "alias": False})
    assert "'example.com.'" in str(info.value) and "dns.alias to true" in str(info.value)
    assert parse(dns={"zoneName": "example.com", "recordName": "example.com", "alias": True}).dns.alias


def test_public_subnets_are_only_for_a_load_balancer():
    net = {"vpcId": "vpc-0aaaaaaaaaaaaaaaa", "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]}
    public = ["subnet-0aaaaaaaaaaaaaaa3", "subnet-0aaaaaaaaaaaaaaa4"]
    dr = parse(networking={"primary": {**net, "publicSubnetIds": public}})
    assert dr.networks["primary"].public_subnet_ids == tuple(public)
    assert dr.networks["primary"].subnet_ids == tuple(net["subnetIds"])
    assert parse("dev", networking={"primary": net}).networks["primary"].public_subnet_ids == ()
    with pytest.raises(ConfigError, match="publicSubnetIds is only used with dns"):
        parse("dev", networking={"primary": {**net, "publicSubnetIds": public}})


def test_standby_capacity_minus_one_means_the_strategys_default():
    """Pulumi.yaml declares standbyCapacity with default -1 (a key without default is required)."""
    assert parse("dev", standbyCapacity=-1).standby_capacity == 0
    assert parse("dr", standbyCapacity="-1").standby_capacity == 1
    with pytest.raises(ConfigError, match="standbyCapacity"):
        parse("dr", standbyCapacity=-2)
