"""Readiness preflight: does the account really hold what the descriptor promises?

Each check reads the control plane through the adapter's boto3 clients (on AWS the
regional endpoints; in the sandbox the emulator itself, behind no fault proxy) and returns
a ``Check`` with a sentence saying what was found. A drill on a platform that fails any
check fails at once, naming the cause, instead of "passing" a rehearsal of something that
would not have worked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)

ClientFactory = Callable[[str, str], Any]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "ClientError")
    return type(exc).__name__


def check_versioning(client: ClientFactory, descriptor: Mapping[str, Any]) -> list[Check]:
    checks = []
    for role in ("primary", "secondary"):
        bucket = descriptor["regions"][role]["bucket"]
        try:
            status = client("s3", role).get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
        except (ClientError, BotoCoreError) as exc:
            checks.append(Check(f"versioning:{role}", False, f"cannot read versioning of {bucket}: {_error_code(exc)}"))
            continue
        checks.append(Check(f"versioning:{role}", status == "Enabled", f"versioning of {role} bucket {bucket} is {status}"))
    return checks


def _rule_covers(rule: Mapping[str, Any], prefix: str, destination_bucket: str) -> bool:
    if rule.get("Status") != "Enabled":
        return False
    rule_prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
    if rule_prefix is None or not prefix.startswith(rule_prefix):
        return False
    return rule.get("Destination", {}).get("Bucket", "").split(":::")[-1] == destination_bucket


def check_replication(client: ClientFactory, descriptor: Mapping[str, Any]) -> list[Check]:
    replication = descriptor.get("replication") or {}
    if replication.get("enabled") is False:
        return [Check("replication", False, "the descriptor says replication is disabled: nothing reaches the secondary")]
    prefix = descriptor["checkpoint_prefix"]
    directions = [("primary", "secondary")]
    if replication.get("two_way"):
        directions.append(("secondary", "primary"))
    checks = []
    for source, destination in directions:
        name = f"replication:{source}->{destination}"
        source_bucket = descriptor["regions"][source]["bucket"]
        destination_bucket = descriptor["regions"][destination]["bucket"]
        try:
            config = client("s3", source).get_bucket_replication(Bucket=source_bucket)["ReplicationConfiguration"]
        except (ClientError, BotoCoreError) as exc:
            checks.append(Check(name, False, f"no replication configuration on {source_bucket}: {_error_code(exc)}"))
            continue
        rules = [r for r in config.get("Rules", []) if _rule_covers(r, prefix, destination_bucket)]
        if not rules:
            checks.append(Check(name, False, f"no enabled rule on {source_bucket} replicates {prefix!r} to {destination_bucket}"))
            continue
        rule = rules[0]
        if replication.get("rtc"):
            destination_cfg = rule.get("Destination", {})
            rtc = (destination_cfg.get("ReplicationTime") or {}).get("Status")
            metrics = (destination_cfg.get("Metrics") or {}).get("Status")
            if rtc != "Enabled" or metrics != "Enabled":
                checks.append(Check(name, False, f"rule {rule.get('ID')} lacks RTC/metrics (RTC {rtc}, metrics {metrics}) the descriptor promises"))
                continue
        checks.append(Check(name, True, f"rule {rule.get('ID')} replicates {prefix!r} {source_bucket} -> {destination_bucket}"))
    return checks


def check_dns(client: ClientFactory, descriptor: Mapping[str, Any]) -> list[Check]:
    dns = descriptor.get("dns")
    if not dns:
        return []
    route53 = client("route53", "primary")
    checks = []
    health_check_id = dns["primary_health_check_id"]
    try:
        route53.get_health_check(HealthCheckId=health_check_id)
        checks.append(Check("health-check", True, f"health check {health_check_id} exists"))
    except (ClientError, BotoCoreError) as exc:
        checks.append(Check("health-check", False, f"health check {health_check_id} is missing: {_error_code(exc)}"))
    name = dns["record_name"].rstrip(".") + "."
    try:
        sets = route53.list_resource_record_sets(HostedZoneId=dns["zone_id"], StartRecordName=name)["ResourceRecordSets"]
        failover = {r.get("Failover"): r for r in sets if r["Name"].rstrip(".") == name.rstrip(".")}
        missing = [kind for kind in ("PRIMARY", "SECONDARY") if kind not in failover]
        primary_check = (failover.get("PRIMARY") or {}).get("HealthCheckId")
        if missing:
            checks.append(Check("failover-records", False, f"{name} has no {' / '.join(missing)} failover record"))
        elif primary_check != health_check_id:
            checks.append(Check("failover-records", False, f"the PRIMARY record of {name} is guarded by {primary_check!r}, not {health_check_id}"))
        else:
            checks.append(Check("failover-records", True, f"{name} has PRIMARY (health-checked) and SECONDARY records"))
    except (ClientError, BotoCoreError) as exc:
        checks.append(Check("failover-records", False, f"cannot list records of zone {dns['zone_id']}: {_error_code(exc)}"))
    return checks


def check_capacity(client: ClientFactory, descriptor: Mapping[str, Any]) -> list[Check]:
    checks = []
    capacity = descriptor.get("capacity") or {}
    groups = {}
    for role in ("primary", "secondary"):
        name = descriptor["regions"][role]["asg_name"]
        try:
            found = client("autoscaling", role).describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        except (ClientError, BotoCoreError) as exc:
            checks.append(Check(f"capacity:{role}", False, f"cannot read Auto Scaling group {name}: {_error_code(exc)}"))
            continue
        if not found:
            checks.append(Check(f"capacity:{role}", False, f"Auto Scaling group {name} does not exist"))
            continue
        groups[role] = found[0]
    standby = groups.get("secondary")
    if standby is not None:
        desired, maximum = standby["DesiredCapacity"], standby["MaxSize"]
        needed = capacity.get("primary", 1)
        if descriptor["strategy"] == "warm-standby" and desired < 1:
            checks.append(Check("capacity:secondary", False, f"warm-standby needs the standby running, but {standby['AutoScalingGroupName']} has desired capacity {desired}"))
        elif maximum < needed:
            checks.append(Check("capacity:secondary", False, f"the standby can only grow to {maximum}, below the primary's {needed}"))
        else:
            checks.append(Check("capacity:secondary", True, f"standby desired {desired}, max {maximum} ({descriptor['strategy']})"))
    if "primary" in groups:
        checks.append(Check("capacity:primary", True, f"primary group {groups['primary']['AutoScalingGroupName']} desired {groups['primary']['DesiredCapacity']}"))
    return checks


def check_buckets(client: ClientFactory, descriptor: Mapping[str, Any]) -> list[Check]:
    """The buckets exist in the regions the descriptor names, encrypted with its keys."""
    checks = []
    for role in ("primary", "secondary"):
        entry = descriptor["regions"][role]
        bucket = entry["bucket"]
        s3 = client("s3", role)
        try:
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        except (ClientError, BotoCoreError) as exc:
            checks.append(Check(f"bucket:{role}", False, f"{role} bucket {bucket} is not there: {_error_code(exc)}"))
            continue
        if location != entry["name"]:
            checks.append(Check(f"bucket:{role}", False, f"{role} bucket {bucket} is in {location}, the descriptor says {entry['name']}"))
            continue
        if entry.get("kms_key_arn"):
            try:
                rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
                key = rules[0]["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID")
            except (ClientError, BotoCoreError, KeyError, IndexError) as exc:
                checks.append(Check(f"bucket:{role}", False, f"{role} bucket {bucket} has no KMS default encryption: {exc}"))
                continue
            if key != entry["kms_key_arn"]:
                checks.append(Check(f"bucket:{role}", False, f"{role} bucket {bucket} encrypts with {key}, the descriptor says {entry['kms_key_arn']}"))
                continue
        checks.append(Check(f"bucket:{role}", True, f"{role} bucket {bucket} in {location}"))
    return checks


def preflight(client: ClientFactory, descriptor: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for step in (check_buckets, check_versioning, check_replication, check_dns, check_capacity):
        checks.extend(step(client, descriptor))
    for check in checks:
        logger.info("preflight %s: %s (%s)", check.name, "ok" if check.ok else "FAILED", check.detail)
    return checks
