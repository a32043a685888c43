"""BucketReplication: the replication role and the cross-region rule(s) between two buckets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.checkpoint_bucket import CheckpointBucket

# Replication Time Control: 15 minutes is the only value S3 accepts, and RTC needs metrics.
RTC_MINUTES = 15


@dataclass(frozen=True)
class BucketReplicationArgs:
    primary: CheckpointBucket
    secondary: CheckpointBucket
    primary_region: str
    secondary_region: str
    prefix: str
    rtc: bool
    two_way: bool
    secondary_provider: aws.Provider


def replication_rule(
    *, rule_id: str, prefix: str, destination_bucket_arn: Any, replica_key_arn: Any, rtc: bool, two_way: bool
) -> dict[str, Any]:
    """One V2 rule (it has a filter): delete markers on, SSE-KMS objects, RTC + metrics when asked."""
    destination: dict[str, Any] = {"bucket": destination_bucket_arn, "storage_class": "STANDARD"}
    selection: dict[str, Any] = {}
    if replica_key_arn is not None:
        destination["encryption_configuration"] = {"replica_kms_key_id": replica_key_arn}
        selection["sse_kms_encrypted_objects"] = {"status": "Enabled"}
    if rtc:
        destination["replication_time"] = {"status": "Enabled", "time": {"minutes": RTC_MINUTES}}
        destination["metrics"] = {"status": "Enabled", "event_threshold": {"minutes": RTC_MINUTES}}
    if two_way:
        # Two-way replication keeps metadata changes on replicas in sync (V2 rules only).
        selection["replica_modifications"] = {"status": "Enabled"}
    rule: dict[str, Any] = {
        "id": rule_id,
        "status": "Enabled",
        "priority": 1,
        "filter": {"prefix": prefix},
        "delete_marker_replication": {"status": "Enabled"},
        "destination": destination,
    }
    if selection:
        rule["source_selection_criteria"] = selection
    return rule


class BucketReplication(pulumi.ComponentResource):
    role: aws.iam.Role

    def __init__(self, name: str, args: BucketReplicationArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:BucketReplication", name, None, opts)
        primary, secondary = args.primary, args.secondary

        self.role = aws.iam.Role(
            f"{name}-role",
            description="Lets S3 replicate dr-platform checkpoints between the regions",
            assume_role_policy=json.dumps(policies.assume_role_policy("s3.amazonaws.com")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                primary.bucket_arn, secondary.bucket_arn, primary.key_arn, secondary.key_arn
            ).apply(
                lambda v: json.dumps(
                    policies.replication_role_policy(
                        source_bucket_arn=v[0],
                        destination_bucket_arn=v[1],
                        source_key_arn=v[2],
                        destination_key_arn=v[3],
                        source_region=args.primary_region,
                        destination_region=args.secondary_region,
                        prefix=args.prefix,
                        two_way=args.two_way,
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # S3 rejects a replication configuration until BOTH buckets are versioned, and
        # objects replicate FAILED (never retried) if the role lacks its KMS rights.
        after = [primary.versioning, secondary.versioning, role_policy]

        self.forward = aws.s3.BucketReplicationConfig(
            f"{name}-forward",
            bucket=primary.bucket.id,
            role=self.role.arn,
            rules=[
                replication_rule(
                    rule_id="checkpoints-to-secondary",
                    prefix=args.prefix,
                    destination_bucket_arn=secondary.bucket_arn,
                    replica_key_arn=secondary.key.arn if secondary.key is not None else None,
                    rtc=args.rtc,
                    two_way=args.two_way,
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        self.reverse: Optional[aws.s3.BucketReplicationConfig] = None
        if args.two_way:
            self.reverse = aws.s3.BucketReplicationConfig(
                f"{name}-reverse",
                bucket=secondary.bucket.id,
                role=self.role.arn,
                rules=[
                    replication_rule(
                        rule_id="checkpoints-to-primary",
                        prefix=args.prefix,
                        destination_bucket_arn=primary.bucket_arn,
                        replica_key_arn=primary.key.arn if primary.key is not None else None,
                        rtc=args.rtc,
                        two_way=True,
                    )
                ],
                opts=pulumi.ResourceOptions(
                    parent=self, provider=args.secondary_provider, depends_on=after + [self.forward]
                ),
            )
        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn})
