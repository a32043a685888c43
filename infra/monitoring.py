"""Alerts: an SNS topic and the CloudWatch alarms that say the platform is drifting from its RPO/RTO."""

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


class Alerts(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlertsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:Alerts", name, None, opts)
        self._args = args
        self.topic = self._topic(f"{name}-topic", args.alert_email, pulumi.ResourceOptions(parent=self))
        self.alarm_names: list[pulumi.Output[str]] = []

        if args.source_bucket is not None and args.rule_id is not None:
            dimensions = {
                "SourceBucket": args.source_bucket,
                "DestinationBucket": args.destination_bucket,
                "RuleId": args.rule_id,
            }
            latency = aws.cloudwatch.MetricAlarm(
                f"{name}-replication-latency",
                alarm_description="Checkpoints take longer than the threshold to reach the secondary region (RPO at risk)",
                namespace="AWS/S3",
                metric_name="ReplicationLatency",
                dimensions=dimensions,
                statistic="Maximum",
                period=300,
                evaluation_periods=1,
                threshold=args.latency_threshold_seconds,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=pulumi.ResourceOptions(parent=self),
            )
            failed = aws.cloudwatch.MetricAlarm(
                f"{name}-replication-failed",
                alarm_description="S3 failed to replicate checkpoint objects; S3 does not retry FAILED objects",
                namespace="AWS/S3",
                metric_name="OperationsFailedReplication",
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
                alarm_topic = self._topic(f"{name}-topic-{ROUTE53_METRICS_REGION}", args.alert_email, alarm_opts)
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
        self.register_outputs({"topic_arn": self.topic_arn})

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
