"""The platform descriptor: the one contract between the program, recovery_lib and the drills.

``build_descriptor`` is pure: it takes resolved values and returns the JSON-able dict the
program exports as ``platform`` (and the sandbox writes, with ``endpoint_url`` filled and a
``sandbox`` section added). recovery_lib's ``load_platform`` parses the same shape.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from infra.config import PlatformConfig
from infra.failover_budget import best_case_seconds, worst_case

DESCRIPTOR_VERSION = 1


def region_entry(*, name: str, bucket: str, kms_key_arn: Optional[str], asg_name: str) -> dict[str, Any]:
    return {"name": name, "bucket": bucket, "kms_key_arn": kms_key_arn, "asg_name": asg_name, "endpoint_url": None}


def estimated_failover_seconds(config: PlatformConfig) -> Optional[int]:
    """Best case: interval × threshold + the effective TTL; None without DNS failover."""
    return None if config.dns is None else best_case_seconds(config.dns)


def worst_case_failover(config: PlatformConfig) -> Optional[dict[str, int]]:
    """Worst case with its parts (``total`` included); None without DNS failover."""
    return None if config.dns is None else worst_case(config.dns).as_dict()


def build_descriptor(
    config: PlatformConfig,
    *,
    primary: Mapping[str, Any],
    secondary: Mapping[str, Any],
    replication_role_arn: Optional[str],
    alerts_topic_arn: str,
    zone_id: Optional[str] = None,
    health_check_id: Optional[str] = None,
    fis_templates: Optional[Mapping[str, str]] = None,
    maintainer_role_arn: Optional[str] = None,
    drill_operator_role_arn: Optional[str] = None,
) -> dict[str, Any]:
    dns: Optional[dict[str, Any]] = None
    if config.dns is not None:
        if zone_id is None or health_check_id is None:
            raise ValueError("a DNS descriptor needs the zone id and the primary health check id")
        dns = {
            "zone_id": zone_id,
            "record_name": config.dns.record_name,
            "ttl": config.dns.effective_ttl,
            "alias": config.dns.alias,
            "protocol": config.dns.protocol,
            "port": config.dns.port,
            "path": config.dns.path,
            "primary_health_check_id": health_check_id,
            "request_interval": config.dns.request_interval,
            "failure_threshold": config.dns.failure_threshold,
            "estimated_failover_seconds": estimated_failover_seconds(config),
            # optional (readers of older descriptors do without): the upper bound and its parts
            "worst_case_failover_seconds": worst_case(config.dns).total_seconds,
            "worst_case_failover_parts": worst_case_failover(config),
        }
    return {
        "version": DESCRIPTOR_VERSION,
        "project": config.project,
        "stack": config.stack,
        "strategy": config.strategy,
        "checkpoint_prefix": config.checkpoint_prefix,
        "regions": {"primary": dict(primary), "secondary": dict(secondary)},
        "replication": {
            "enabled": config.replication,
            "role_arn": replication_role_arn,
            "rtc": config.replication_time_control,
            "two_way": config.failback,
        },
        "dns": dns,
        "alerts_topic_arn": alerts_topic_arn,
        # AWS FIS experiment templates the aws drill adapter starts (null without fis: true)
        "fis": {"templates": dict(fis_templates)} if fis_templates else None,
        # the role `recovery drill` assumes for its control-plane calls (null: the caller's own)
        "drill": {"operator_role_arn": drill_operator_role_arn} if drill_operator_role_arn else None,
        "targets": {"rto_seconds": config.rto_seconds, "rpo_seconds": config.rpo_seconds},
        # checkpoint lifecycle (optional for readers): the only role allowed to delete
        # checkpoint objects (garbage collection), and the undo window after a collection
        # (the bucket lifecycle's noncurrent-version expiry)
        "lifecycle": {
            "maintainer_role_arn": maintainer_role_arn,
            "noncurrent_version_days": config.noncurrent_version_days,
        },
        "capacity": {
            "primary": config.primary_capacity,
            "standby": config.standby_capacity,
            "max": config.max_capacity,
        },
    }
