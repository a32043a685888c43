"""AuditTrail: who read, wrote and deleted checkpoints, and who failed over (AWS CloudTrail).

Why CloudTrail data events and not only S3 server access logs: the S3 User Guide, "Logging
requests with server access logging", section "Best-effort server log delivery"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html), says access log
records are delivered on a best-effort basis and their completeness and timeliness are not
guaranteed, while CloudTrail records each S3 data event ("Amazon S3 CloudTrail events",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html) with
the caller's IAM identity, in encrypted files whose integrity can be validated (log file
validation). An audit trail must
not have gaps, so CloudTrail is the trail; server access logs (on every checkpoint bucket,
see :mod:`infra.log_bucket`) stay as a cheap per-Region request log.

One multi-Region trail in the primary Region:

- data events for ``AWS::S3::Object`` whose ARN starts with either checkpoint bucket's
  prefix (``GetObject``, ``PutObject``, ``DeleteObject``, ... in both Regions; CloudTrail
  User Guide, "Logging data events", advanced event selectors);
- management events: the failover actions themselves (Route 53 ``UpdateHealthCheck`` and
  record changes, Auto Scaling ``SetDesiredCapacity``, FIS ``StartExperiment``, S3
  replication changes); Route 53 is a global service, logged in us-east-1
  (``include_global_service_events``).

Log files go to the primary log bucket under ``cloudtrail/``, encrypted with a
customer-managed key that only CloudTrail may use to encrypt, for this trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import log_delivery, policies


def trail_name(project: str, stack: str) -> str:
    """The trail's name is fixed up front: the bucket and key policies name the trail's ARN."""
    return f"{project}-{stack}-checkpoint-audit"


def trail_arn(*, partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{name}"


def event_selectors(object_arn_prefixes: Sequence[str]) -> list[dict]:
    """Management events, and S3 object data events under the given ARN prefixes (pure)."""
    if not object_arn_prefixes:
        raise ValueError("the audit trail needs at least one checkpoint prefix ARN")
    return [
        {
            "name": "Failover and other management events",
            "field_selectors": [{"field": "eventCategory", "equals": ["Management"]}],
        },
        {
            "name": "Checkpoint reads, writes and deletes",
            "field_selectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "resources.ARN", "starts_withs": list(object_arn_prefixes)},
            ],
        },
    ]


@dataclass(frozen=True)
class AuditTrailArgs:
    name: str  # from trail_name()
    trail_arn: pulumi.Input[str]
    log_bucket_name: pulumi.Input[str]
    log_bucket_policy: pulumi.Resource  # CloudTrail checks the bucket policy on creation
    checkpoint_bucket_arns: Sequence[pulumi.Input[str]]
    prefix: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    protect: bool


class AuditTrail(pulumi.ComponentResource):
    def __init__(self, name: str, args: AuditTrailArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:AuditTrail", name, None, opts)
        data = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        self.key = aws.kms.Key(
            f"{name}-key",
            description="dr-platform audit trail log files",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(args.account_id, args.trail_arn, args.partition).apply(
                lambda v: json.dumps(policies.trail_key_policy(account_id=v[0], trail_arn=v[1], partition=v[2]))
            ),
            opts=data,
        )
        prefixes = pulumi.Output.all(*args.checkpoint_bucket_arns).apply(
            lambda arns: [f"{arn}/{args.prefix}" for arn in arns]
        )
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=args.name,
            s3_bucket_name=args.log_bucket_name,
            s3_key_prefix=log_delivery.CLOUDTRAIL_PREFIX,
            kms_key_id=self.key.arn,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            advanced_event_selectors=prefixes.apply(event_selectors),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.log_bucket_policy]),
        )
        self.trail_arn = self.trail.arn
        self.register_outputs({"trail_arn": self.trail_arn})
