"""Who may write into a region's log bucket, as a bucket policy document (pure functions).

Three AWS services deliver logs into the log bucket, each under its own prefix:

- Elastic Load Balancing (ALB access logs, ``alb/``). ELB User Guide for Application Load
  Balancers, "Enable access logs for your Application Load Balancer"
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html):
  in Regions available before August 2022 the bucket policy grants ``s3:PutObject`` to the
  Region's Elastic Load Balancing account; in newer Regions to the service principal
  ``logdelivery.elasticloadbalancing.amazonaws.com``. The bucket must use SSE-S3 ("The only
  server-side encryption option that's supported is Amazon S3-managed keys (SSE-S3)").
- S3 server access logging (``s3-access/``). S3 User Guide, "Permissions for log delivery"
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html):
  ``s3:PutObject`` for ``logging.s3.amazonaws.com``, limited by ``aws:SourceArn`` (the source
  buckets) and ``aws:SourceAccount``; the target bucket must be in the source's Region and
  account.
- CloudTrail (``cloudtrail/``, primary Region only). CloudTrail User Guide, "Amazon S3 bucket
  policy for CloudTrail"
  (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html):
  ``s3:GetBucketAcl`` on the bucket and ``s3:PutObject`` under ``AWSLogs/<account>/`` with
  ``s3:x-amz-acl = bucket-owner-full-control``, both limited by the trail's ARN.

Every other request must use TLS, and with ``protect`` nobody may delete a log object or
version (lifecycle expiration is not a request, so retention still applies).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from infra.policies import VERSION, Policy, tls_only_bucket_policy

# ELB User Guide, "Enable access logs for your Application Load Balancer": Regions available
# before August 2022 and their Elastic Load Balancing account ids. Every other Region uses
# the log-delivery service principal.
ELB_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-south-1": "718504428378",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-south-1": "635631232127",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}
ELB_LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"
S3_LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"
CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"

ALB_PREFIX = "alb"
S3_ACCESS_PREFIX = "s3-access"
CLOUDTRAIL_PREFIX = "cloudtrail"

# Deleting log evidence: denied to everyone when the stack protects its data.
LOG_DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")


def elb_log_principal(region: str, partition: str = "aws") -> dict[str, str]:
    """The principal that writes ALB access logs in ``region`` (account in older Regions)."""
    account = ELB_ACCOUNTS.get(region)
    if account is not None:
        return {"AWS": f"arn:{partition}:iam::{account}:root"}
    return {"Service": ELB_LOG_DELIVERY_SERVICE}


def s3_access_log_prefix(bucket_name: str) -> str:
    return f"{S3_ACCESS_PREFIX}/{bucket_name}/"


def log_bucket_policy(
    *,
    bucket_arn: str,
    account_id: str,
    region: str,
    partition: str = "aws",
    source_bucket_arns: Sequence[str] = (),
    elb: bool = False,
    trail_arn: Optional[str] = None,
    protect: bool = False,
) -> Policy:
    statements: list[dict[str, Any]] = list(tls_only_bucket_policy(bucket_arn)["Statement"])
    if protect:
        statements.append({
            "Sid": "DenyLogDeletion",
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(LOG_DELETE_ACTIONS),
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
        })
    if elb:
        statements.append({
            "Sid": "ElbAccessLogs",
            "Effect": "Allow",
            "Principal": elb_log_principal(region, partition),
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{ALB_PREFIX}/AWSLogs/{account_id}/*",
        })
    if source_bucket_arns:
        statements.append({
            "Sid": "S3ServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": S3_LOG_DELIVERY_SERVICE},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{S3_ACCESS_PREFIX}/*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": list(source_bucket_arns)},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        })
    if trail_arn is not None:
        statements += [
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL_SERVICE},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL_SERVICE},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{CLOUDTRAIL_PREFIX}/AWSLogs/{account_id}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                               "aws:SourceArn": trail_arn}},
            },
        ]
    return {"Version": VERSION, "Statement": statements}
