"""FaultInjection: AWS FIS experiment templates the drills start on a real deployment.

Two templates, run in the primary region with a stop condition: pausing the primary
bucket's replication (``aws:s3:bucket-pause-replication``) and cutting the primary subnets
off S3 (``aws:network:disrupt-connectivity``, scope ``s3``). The stop-condition alarm fires
when replication latency exceeds the RPO target: past that point a drill is losing more
data than the platform promises, and FIS stops the experiment on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from infra import policies

EXPERIMENT_DURATION = "PT10M"


@dataclass(frozen=True)
class FaultInjectionArgs:
    primary_bucket_arn: pulumi.Input[str]
    primary_bucket_name: pulumi.Input[str]
    secondary_bucket_name: pulumi.Input[str]
    secondary_region: str
    primary_region: str
    primary_vpc_id: pulumi.Input[str]
    primary_subnet_ids: pulumi.Input[list]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    rpo_seconds: int
    rule_id: str


class FaultInjection(pulumi.ComponentResource):
    def __init__(self, name: str, args: FaultInjectionArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:FaultInjection", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            description="Lets AWS FIS run dr-platform's drill experiments",
            assume_role_policy=json.dumps(policies.assume_role_policy("fis.amazonaws.com")),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=pulumi.Output.all(args.primary_bucket_arn, args.partition, args.account_id, args.primary_vpc_id).apply(
                lambda v: json.dumps(policies.fis_role_policy(
                    bucket_arn=v[0], partition=v[1], region=args.primary_region, account_id=v[2], vpc_id=v[3]))
            ),
            opts=child,
        )
        self.stop_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-stop",
            alarm_description="Stops dr-platform FIS experiments: replication latency is past the RPO target",
            namespace="AWS/S3",
            metric_name="ReplicationLatency",
            dimensions={"SourceBucket": args.primary_bucket_name, "DestinationBucket": args.secondary_bucket_name,
                        "RuleId": args.rule_id},
            statistic="Maximum",
            period=60,
            evaluation_periods=1,
            threshold=args.rpo_seconds,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            opts=child,
        )
        stop = [{"source": "aws:cloudwatch:alarm", "value": self.stop_alarm.arn}]
        after = pulumi.ResourceOptions(parent=self, depends_on=[policy])
        self.pause_replication = aws.fis.ExperimentTemplate(
            f"{name}-replication-pause",
            description="dr-platform drill: pause replication of the checkpoint bucket",
            role_arn=self.role.arn,
            stop_conditions=stop,
            actions=[{
                "name": "pause-replication",
                "action_id": "aws:s3:bucket-pause-replication",
                "parameters": [{"key": "duration", "value": EXPERIMENT_DURATION},
                               {"key": "region", "value": args.secondary_region}],
                "target": {"key": "Buckets", "value": "checkpoint-bucket"},
            }],
            targets=[{"name": "checkpoint-bucket", "resource_type": "aws:s3:bucket",
                      "resource_arns": [args.primary_bucket_arn], "selection_mode": "ALL"}],
            tags={"Name": "dr-platform replication pause"},
            opts=after,
        )
        subnet_arns = pulumi.Output.all(args.partition, args.account_id, args.primary_subnet_ids).apply(
            lambda v: [f"arn:{v[0]}:ec2:{args.primary_region}:{v[1]}:subnet/{s}" for s in v[2]]
        )
        self.s3_outage = aws.fis.ExperimentTemplate(
            f"{name}-s3-primary",
            description="dr-platform drill: cut the primary subnets off S3",
            role_arn=self.role.arn,
            stop_conditions=stop,
            actions=[{
                "name": "disrupt-s3",
                "action_id": "aws:network:disrupt-connectivity",
                "parameters": [{"key": "duration", "value": EXPERIMENT_DURATION}, {"key": "scope", "value": "s3"}],
                "target": {"key": "Subnets", "value": "primary-subnets"},
            }],
            targets=[{"name": "primary-subnets", "resource_type": "aws:ec2:subnet",
                      "resource_arns": subnet_arns, "selection_mode": "ALL"}],
            tags={"Name": "dr-platform primary S3 outage"},
            opts=after,
        )
        self.templates = pulumi.Output.all(self.s3_outage.id, self.pause_replication.id).apply(
            lambda ids: {"s3-primary": ids[0], "replication-pause": ids[1]}
        )
        self.register_outputs({"templates": self.templates, "role_arn": self.role.arn})
