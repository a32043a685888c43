"""Alerts: SNS topics and the CloudWatch alarms that say the platform is drifting from its RPO/RTO.

Each alarm lives in the Region where its metric is published, and notifies a topic in its
own Region (a CloudWatch alarm action names an SNS topic of the alarm's Region):

- S3 publishes ReplicationLatency, BytesPendingReplication and OperationsPendingReplication
  in the *destination* bucket's Region, OperationsFailedReplication in the source's (S3 User
  Guide, "Using S3 Replication metrics"). An alarm in another Region never sees data.
- Route 53 publishes health-check metrics in us-east-1 only.

So there is one topic per Region that holds an alarm (``topics``); ``topic`` is the
primary Region's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import json

import pulumi
import pulumi_aws as aws

from infra import policies

# Route 53 publishes health-check metrics in us-east-1 only, so that alarm (and the topic
# it notifies) must live there whatever the primary region is.
ROUTE53_METRICS_REGION = "us-east-1"
# S3 Replication metrics and the Region they are published in (S3 User Guide, "Using S3
# Replication metrics": "published in the Region of the destination bucket" / source bucket).
DESTINATION_REGION_METRICS = ("ReplicationLatency", "BytesPendingReplication", "OperationsPendingReplication")
SOURCE_REGION_METRICS = ("OperationsFailedReplication",)


@dataclass(frozen=True)
class AlertsArgs:
    primary_region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    alert_email: Optional[str] = None
    # Replication alarms, when S3 publishes replication metrics (RTC on).
    source_bucket: Optional[pulumi.Input[str]] = None
    destination_bucket: Optional[pulumi.Input[str]] = None
    rule_id: Optional[str] = None
    latency_threshold_seconds: int = 900
    # The primary's health check, when DNS failover is on.
    health_check_id: Optional[pulumi.Input[str]] = None
    route53_metrics_provider: Optional[aws.Provider] = None
    # The replica's Region and a provider for it: where the latency/pending metrics are.
    destination_region: Optional[str] = None
    destination_provider: Optional[aws.Provider] = None


class Alerts(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlertsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:Alerts", name, None, opts)
        self._args = args
        self.topic = self._topic(f"{name}-topic", args.alert_email, pulumi.ResourceOptions(parent=self))
        self.topics: dict[str, aws.sns.Topic] = {args.primary_region: self.topic}
        self.alarm_names: list[pulumi.Output[str]] = []

        if args.source_bucket is not None and args.rule_id is not None:
            if args.destination_region is None or args.destination_provider is None:
                raise ValueError("replication alarms need the destination Region and a provider for it")
            dimensions = {
                "SourceBucket": args.source_bucket,
                "DestinationBucket": args.destination_bucket,
                "RuleId": args.rule_id,
            }
            in_destination = pulumi.ResourceOptions(parent=self, provider=args.destination_provider)
            destination_topic = self._topic_in(name, args.destination_region, args.alert_email, in_destination)
            latency = aws.cloudwatch.MetricAlarm(
                f"{name}-replication-latency",
                alarm_description="Checkpoints take longer than the threshold to reach the secondary region (RPO at risk)",
                namespace="AWS/S3",
                metric_name="ReplicationLatency",  # published in the destination bucket's Region
                dimensions=dimensions,
                statistic="Maximum",
                period=300,
                evaluation_periods=1,
                threshold=args.latency_threshold_seconds,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[destination_topic.arn],
                ok_actions=[destination_topic.arn],
                opts=in_destination,
            )
            failed = aws.cloudwatch.MetricAlarm(
                f"{name}-replication-failed",
                alarm_description="S3 failed to replicate checkpoint objects; S3 does not retry FAILED objects",
                namespace="AWS/S3",
                metric_name="OperationsFailedReplication",  # published in the source bucket's Region
                dimensions=dimensions,
                statistic="Sum",
                period=300,
                evaluation_periods=1,
                threshold=0,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.alarm_names += [latency.name, failed.name]

        self.health_alarm: Optional[aws.cloudwatch.MetricAlarm] = None
        if args.health_check_id is not None:
            alarm_topic = self.topic
            alarm_opts = pulumi.ResourceOptions(parent=self)
            if args.primary_region != ROUTE53_METRICS_REGION:
                if args.route53_metrics_provider is None:
                    raise ValueError(f"a {ROUTE53_METRICS_REGION} provider is needed for the health-check alarm")
                alarm_opts = pulumi.ResourceOptions(parent=self, provider=args.route53_metrics_provider)
                alarm_topic = self._topic_in(name, ROUTE53_METRICS_REGION, args.alert_email, alarm_opts)
            self.health_alarm = aws.cloudwatch.MetricAlarm(
                f"{name}-primary-unhealthy",
                alarm_description="Route 53 sees the primary endpoint unhealthy: DNS is failing over to the secondary",
                namespace="AWS/Route53",
                metric_name="HealthCheckStatus",
                dimensions={"HealthCheckId": args.health_check_id},
                statistic="Minimum",
                period=60,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="LessThanThreshold",
                treat_missing_data="breaching",
                alarm_actions=[alarm_topic.arn],
                ok_actions=[alarm_topic.arn],
                opts=alarm_opts,
            )
            self.alarm_names.append(self.health_alarm.name)

        self.topic_arn = self.topic.arn
        self.topic_arns = pulumi.Output.all(*[t.arn for t in self.topics.values()]).apply(
            lambda arns, regions=tuple(self.topics): dict(zip(regions, arns))
        )
        self.register_outputs({"topic_arn": self.topic_arn, "topic_arns": self.topic_arns})

    def _topic_in(self, name: str, region: str, email: Optional[str], opts: pulumi.ResourceOptions) -> aws.sns.Topic:
        """The alerts topic of ``region`` (created once; an alarm can only notify a topic of its Region)."""
        if region not in self.topics:
            self.topics[region] = self._topic(f"{name}-topic-{region}", email, opts)
        return self.topics[region]

    def _topic(self, name: str, email: Optional[str], opts: pulumi.ResourceOptions) -> aws.sns.Topic:
        # Encrypted with a customer-managed key: CloudWatch alarms cannot publish to a topic
        # under the AWS-managed alias/aws/sns key, whose policy cannot grant them the key
        # (see policies.alerts_key_policy for the document that says so).
        key = aws.kms.Key(
            f"{name}-key",
            description="dr-platform alerts topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(self._args.account_id, self._args.partition).apply(
                lambda v: json.dumps(policies.alerts_key_policy(account_id=v[0], partition=v[1]))
            ),
            opts=opts,
        )
        topic = aws.sns.Topic(name, kms_master_key_id=key.arn, opts=opts)
        if email:
            aws.sns.TopicSubscription(
                f"{name}-email", topic=topic.arn, protocol="email", endpoint=email, opts=opts
            )
        return topic
