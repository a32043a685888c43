"""LogBucket: one region's bucket for access logs and the audit trail, and the checkpoint
bucket's S3 server access logging into it.

Versioned, SSE-S3, private, TLS-only, owner-enforced; logs expire after a year. With
``protect`` it is kept on ``pulumi destroy`` and its policy denies deleting log objects.

SSE-S3 and not KMS on purpose: ALB access logs are only delivered to buckets whose default
encryption is SSE-S3 (ELB User Guide, "Enable access logs for your Application Load Balancer":
"The only server-side encryption option that's supported is Amazon S3-managed keys
(SSE-S3)"), and a stack without load balancers (dev) uses no KMS at all (``kms: false``).
CloudTrail encrypts its own log files with the trail's KMS key whatever the bucket default.
The bucket does not log itself (a log bucket logging into itself loops).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import log_delivery
from infra.checkpoint_bucket import block_public_access

LOG_RETENTION_DAYS = 365
NONCURRENT_LOG_DAYS = 30


@dataclass(frozen=True)
class LoggedBucket:
    """A checkpoint bucket whose server access logs go to this log bucket."""

    name: pulumi.Input[str]
    arn: pulumi.Input[str]


@dataclass(frozen=True)
class LogBucketArgs:
    role: str  # "primary" or "secondary"
    region: str
    protect: bool
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    logged_buckets: Sequence[LoggedBucket] = ()
    alb_logs: bool = False  # the region has a load balancer that logs here
    trail_arn: Optional[pulumi.Input[str]] = None  # the audit trail writes here


class LogBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: LogBucketArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:LogBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        data = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=not args.protect,
            # Not the checkpoint tag (dr-platform:bucket-role): this bucket holds no checkpoints.
            tags={"dr-platform:log-bucket-role": args.role},
            opts=data,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        public_access = block_public_access(name, self.bucket, child)
        sources = [b.arn for b in args.logged_buckets]
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(
                self.bucket.arn, args.account_id, args.partition, args.trail_arn, *sources
            ).apply(
                lambda v: json.dumps(log_delivery.log_bucket_policy(
                    bucket_arn=v[0], account_id=v[1], partition=v[2], region=args.region,
                    source_bucket_arns=v[4:], elb=args.alb_logs, trail_arn=v[3], protect=args.protect,
                ))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-logs",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": LOG_RETENTION_DAYS},
                    "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_LOG_DAYS},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        # S3 checks the target bucket's policy when logging is turned on: after the policy.
        after_policy = pulumi.ResourceOptions(parent=self, depends_on=[self.policy])
        for index, logged in enumerate(args.logged_buckets):
            aws.s3.BucketLogging(
                f"{name}-access-logging-{index}" if index else f"{name}-access-logging",
                bucket=logged.name,
                target_bucket=self.bucket.id,
                target_prefix=pulumi.Output.from_input(logged.name).apply(log_delivery.s3_access_log_prefix),
                opts=after_policy,
            )

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
