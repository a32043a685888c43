"""FaultInjection: AWS FIS experiment templates the drills start on a real deployment.

- ``replication-pause``: ``aws:s3:bucket-pause-replication`` on the primary (source) bucket.
  The FIS actions reference says the action "only supports targeting by tags", so the
  template selects the bucket by a tag the program puts on it (:func:`fis_target_tag`),
  never by ARN. It also says "existing objects may continue to be replicated for up to one
  hour after action begins": the experiment runs :data:`PAUSE_DURATION` (that hour plus a
  drill's fault window), and the drill plan records that objects written before the pause
  may still arrive (``recovery_lib.drill.plan.REPLICATION_PAUSE_LAG_SECONDS``).
- ``s3-primary`` (only with custom networking for the primary): ``aws:network:disrupt-connectivity``
  with scope ``s3`` on the platform's own instance subnets (``networking.primary.subnetIds``).
  It swaps those subnets' network ACL for one that drops traffic to S3: the instances lose
  their network path to S3 while S3 itself keeps serving everyone else. It is not an S3
  outage, and it is never pointed at the default VPC, whose subnets other workloads share.

Both templates run in the primary Region and stop on :attr:`FaultInjection.stop_alarm`,
which must be a CloudWatch alarm FIS can read: the FIS User Guide ("Stop conditions for AWS
FIS") references the alarm by ARN and documents no cross-Region alarms, so the alarm is kept
in the experiment's Region. ReplicationLatency is only published in the destination Region,
so the stop condition watches OperationsFailedReplication, published in the source
(primary) Region: a drill that makes S3 mark checkpoint objects FAILED (S3 does not retry
them) is doing damage and stops. Latency past the RPO is the destination Region's
``alerts-replication-latency`` alarm's job (it pages a human).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import policies

if TYPE_CHECKING:
    from infra.config import PlatformConfig

# Existing objects may keep replicating for up to an hour after the pause begins, so a pause
# shorter than that can show nothing; 2 h = that hour + the default drill's fault window
# (about 21 min: detection + DNS + compute + data timeouts) with room to spare.
PAUSE_DURATION = "PT2H"
NETWORK_DURATION = "PT30M"
FIS_TARGET_TAG_KEY = "dr-platform:fis-replication-source"


def fis_target_tag(config: "PlatformConfig") -> tuple[str, str]:
    """The tag that marks this stack's replication source for FIS (unique per project/stack)."""
    return FIS_TARGET_TAG_KEY, f"{config.project}/{config.stack}"


@dataclass(frozen=True)
class FaultInjectionArgs:
    primary_bucket_arn: pulumi.Input[str]
    primary_bucket_name: pulumi.Input[str]
    secondary_bucket_name: pulumi.Input[str]
    secondary_region: str
    primary_region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    rpo_seconds: int
    rule_id: str
    source_bucket_tag: tuple[str, str]
    checkpoint_prefix: str
    # The platform's own primary subnets (custom networking); None/(): no s3-primary experiment.
    primary_vpc_id: Optional[str] = None
    primary_subnet_ids: Sequence[str] = ()


class FaultInjection(pulumi.ComponentResource):
    def __init__(self, name: str, args: FaultInjectionArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:FaultInjection", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subnets = list(args.primary_subnet_ids) if args.primary_vpc_id else []
        self.role = aws.iam.Role(
            f"{name}-role",
            description="Lets AWS FIS run dr-platform's drill experiments",
            assume_role_policy=json.dumps(policies.assume_role_policy("fis.amazonaws.com")),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=pulumi.Output.all(args.primary_bucket_arn, args.partition, args.account_id).apply(
                lambda v: json.dumps(policies.fis_role_policy(
                    bucket_arn=v[0], partition=v[1], region=args.primary_region, account_id=v[2],
                    vpc_id=args.primary_vpc_id, subnet_ids=subnets))
            ),
            opts=child,
        )
        # In the experiments' (primary) Region, on a metric published there: see the module docstring.
        self.stop_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-stop",
            alarm_description="Stops dr-platform FIS experiments: S3 marked checkpoint objects FAILED to replicate",
            namespace="AWS/S3",
            metric_name="OperationsFailedReplication",
            dimensions={"SourceBucket": args.primary_bucket_name, "DestinationBucket": args.secondary_bucket_name,
                        "RuleId": args.rule_id},
            statistic="Sum",
            period=60,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            opts=child,
        )
        stop = [{"source": "aws:cloudwatch:alarm", "value": self.stop_alarm.arn}]
        after = pulumi.ResourceOptions(parent=self, depends_on=[policy])
        tag_key, tag_value = args.source_bucket_tag
        self.pause_replication = aws.fis.ExperimentTemplate(
            f"{name}-replication-pause",
            description=(
                "dr-platform drill: pause replication of the checkpoint prefix to the secondary bucket; objects "
                "that exist when it starts may keep replicating for up to an hour"
            ),
            role_arn=self.role.arn,
            stop_conditions=stop,
            actions=[{
                "name": "pause-replication",
                "action_id": "aws:s3:bucket-pause-replication",
                "parameters": [{"key": "duration", "value": PAUSE_DURATION},
                               {"key": "region", "value": args.secondary_region},
                               {"key": "destinationBuckets", "value": args.secondary_bucket_name},
                               {"key": "prefixes", "value": args.checkpoint_prefix}],
                "target": {"key": "Buckets", "value": "replication-source"},
            }],
            # The action only supports targeting by tags (FIS actions reference).
            targets=[{"name": "replication-source", "resource_type": "aws:s3:bucket",
                      "resource_tags": [{"key": tag_key, "value": tag_value}], "selection_mode": "ALL"}],
            tags={"Name": "dr-platform replication pause"},
            opts=after,
        )
        self.s3_outage: Optional[aws.fis.ExperimentTemplate] = None
        if subnets:
            subnet_arns = pulumi.Output.all(args.partition, args.account_id).apply(
                lambda v: [f"arn:{v[0]}:ec2:{args.primary_region}:{v[1]}:subnet/{s}" for s in subnets]
            )
            self.s3_outage = aws.fis.ExperimentTemplate(
                f"{name}-s3-primary",
                description=(
                    "dr-platform drill: cut the platform's own primary instance subnets off S3 (network ACL swap); "
                    "S3 itself keeps serving, this is a lost network path, not an S3 outage"
                ),
                role_arn=self.role.arn,
                stop_conditions=stop,
                actions=[{
                    "name": "disrupt-s3",
                    "action_id": "aws:network:disrupt-connectivity",
                    "parameters": [{"key": "duration", "value": NETWORK_DURATION}, {"key": "scope", "value": "s3"}],
                    "target": {"key": "Subnets", "value": "platform-subnets"},
                }],
                targets=[{"name": "platform-subnets", "resource_type": "aws:ec2:subnet",
                          "resource_arns": subnet_arns, "selection_mode": "ALL"}],
                tags={"Name": "dr-platform primary subnets lose S3"},
                opts=after,
            )
        ids = [self.pause_replication.id] + ([self.s3_outage.id] if self.s3_outage is not None else [])
        self.templates = pulumi.Output.all(*ids).apply(
            lambda v: {"replication-pause": v[0], **({"s3-primary": v[1]} if len(v) > 1 else {})}
        )
        self.register_outputs({"templates": self.templates, "role_arn": self.role.arn})
