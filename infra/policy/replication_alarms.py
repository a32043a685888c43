"""Alarms on S3 Replication metrics live in the Region S3 publishes the metric in.

S3 User Guide, "Using S3 Replication metrics": ReplicationLatency, BytesPendingReplication
and OperationsPendingReplication are published in the Region of the *destination* bucket,
OperationsFailedReplication in the Region of the source bucket. A CloudWatch alarm only
sees metrics of its own Region, so one in the other Region never leaves INSUFFICIENT_DATA
(with treat_missing_data=notBreaching it stays OK forever). Its SNS actions must also be
topics of its own Region.
"""

from __future__ import annotations

from typing import Optional

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from infra.policy.stack import METRIC_ALARM, StackView, describe, seq

DESTINATION_REGION_METRICS = ("ReplicationLatency", "BytesPendingReplication", "OperationsPendingReplication")
SOURCE_REGION_METRICS = ("OperationsFailedReplication",)


def _arn_region(arn: object) -> Optional[str]:
    parts = str(arn).split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[2] == "sns" else None


def expected_region(view: StackView, alarm: PolicyResource) -> tuple[Optional[str], str]:
    """(Region the metric is published in, which bucket decides); (None, why) when unknown."""
    metric = alarm.props.get("metricName")
    dimension = "DestinationBucket" if metric in DESTINATION_REGION_METRICS else "SourceBucket"
    bucket_name = (alarm.props.get("dimensions") or {}).get(dimension)
    bucket = view.bucket_named(bucket_name)
    if bucket is None:
        return None, f"{dimension} {bucket_name!r} is not a bucket of this stack"
    return view.region(bucket), f"the {dimension.replace('Bucket', '').lower()} bucket {describe(bucket)}"


def validate_replication_alarm_regions(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    for alarm in view.of_type(METRIC_ALARM):
        region = view.region(alarm)
        if alarm.props.get("namespace") == "AWS/S3" and alarm.props.get("metricName") in (
            DESTINATION_REGION_METRICS + SOURCE_REGION_METRICS
        ):
            want, why = expected_region(view, alarm)
            if want is not None and region != want:
                report_violation(
                    f"{describe(alarm)} watches {alarm.props.get('metricName')} in {region}, but S3 publishes it "
                    f"in the Region of {why}, {want}, so the alarm never sees a data point; create it with a "
                    f"provider for {want} (S3 User Guide, 'Using S3 Replication metrics').",
                    alarm.urn,
                )
        for key in ("alarmActions", "okActions", "insufficientDataActions"):
            for action in seq(alarm.props.get(key)):
                topic_region = _arn_region(action)
                if topic_region is not None and region is not None and topic_region != region:
                    report_violation(
                        f"{describe(alarm)} in {region} notifies the SNS topic {action} in {topic_region}; an alarm "
                        f"action must be a topic of the alarm's own Region: create a topic in {region}.",
                        alarm.urn,
                    )
