"""IAM, bucket and key policy documents as plain dicts.

Pure functions of ARNs and names, so they are unit-tested without Pulumi; components
``json.dumps`` them inside ``Output.all(...).apply(...)``. No statement here allows a bare
``*`` or ``service:*`` action, and every Allow is scoped to named resources.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

Policy = dict[str, Any]

VERSION = "2012-10-17"

# What a job needs on the checkpoint prefix: read, write, list, and cleaning up its own
# failed multipart uploads. Deliberately no DeleteObject: recovery_lib deletes logically
# (tombstones), so a job cannot destroy history.
JOB_OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
# s3:ListBucket on the bucket, with no condition: S3 answers a HEAD/GET of a missing key with
# 404 only when the caller may s3:ListBucket the bucket, else 403 (S3 API Reference,
# HeadObject, "Permissions"). The store HEADs before each new blob and tells "absent" (404)
# from "forbidden" (403 -> ConfigError). A HEAD carries no s3:prefix, so a ListBucket grant
# conditioned on s3:prefix does not count for it (IAM condition operators: a condition on a
# key absent from the request does not match). Trade-off: jobs may list every key name in
# the two checkpoint buckets, which hold nothing but checkpoints.
JOB_LIST_BUCKET_ACTIONS = ("s3:ListBucket",)
# Version listings stay limited to the checkpoint prefix (they always carry one).
JOB_LIST_VERSIONS_ACTIONS = ("s3:ListBucketVersions",)
JOB_BUCKET_ACTIONS = JOB_LIST_BUCKET_ACTIONS + JOB_LIST_VERSIONS_ACTIONS
JOB_KMS_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
# The maintainer role (garbage collection, issue 11) is the ONLY principal that may delete
# checkpoint objects: a job's rights plus DeleteObject. Not DeleteObjectVersion: GC deletes
# without version ids, so data becomes a noncurrent version that the bucket's lifecycle
# expires after noncurrentVersionDays (the undo window); permanent deletes stay with admins.
MAINTAINER_DELETE_ACTIONS = ("s3:DeleteObject",)
MAINTAINER_OBJECT_ACTIONS = JOB_OBJECT_ACTIONS + MAINTAINER_DELETE_ACTIONS

# AWS's documented replication-role permissions (S3 User Guide, "Setting up permissions").
REPLICATION_SOURCE_BUCKET_ACTIONS = ("s3:GetReplicationConfiguration", "s3:ListBucket")
REPLICATION_SOURCE_OBJECT_ACTIONS = (
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
)
REPLICATION_DESTINATION_OBJECT_ACTIONS = ("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags")

# A key's administrators: everything but using the key, spelled out rather than kms:*.
KEY_ADMIN_ACTIONS = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)
KEY_USE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:ListGrants",
    "kms:RevokeGrant",
)


def assume_role_policy(service: str) -> Policy:
    """A trust policy naming exactly one AWS service principal."""
    if not service.endswith(".amazonaws.com") or "*" in service:
        raise ValueError(f"trust must name one service principal such as s3.amazonaws.com, got {service!r}")
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def tls_only_bucket_policy(bucket_arn: str) -> Policy:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _prefix_objects(bucket_arn: str, prefix: str) -> str:
    return f"{bucket_arn}/{prefix}*"


def replication_role_policy(
    *,
    source_bucket_arn: str,
    destination_bucket_arn: str,
    prefix: str,
    source_key_arn: Optional[str] = None,
    destination_key_arn: Optional[str] = None,
    source_region: Optional[str] = None,
    destination_region: Optional[str] = None,
    two_way: bool = False,
) -> Policy:
    """Least-privilege permissions for S3 to replicate ``prefix`` from source to destination.

    With ``two_way`` the same role also serves the reverse rule (failback), so each bucket is
    both a source and a destination. With KMS keys: decrypt with the source key, encrypt with
    the replica key (and the reverse when two-way), limited to S3 in the key's region and to
    objects of the bucket (``kms:EncryptionContext:aws:s3:arn``).
    """
    if (source_key_arn is None) != (destination_key_arn is None):
        raise ValueError("replication with KMS needs both the source and the replica key ARN")
    directions = [(source_bucket_arn, destination_bucket_arn, source_key_arn, destination_key_arn,
                   source_region, destination_region)]
    if two_way:
        directions.append((destination_bucket_arn, source_bucket_arn, destination_key_arn, source_key_arn,
                           destination_region, source_region))

    sources = [d[0] for d in directions]
    destinations = [d[1] for d in directions]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadReplicationConfiguration",
            "Effect": "Allow",
            "Action": list(REPLICATION_SOURCE_BUCKET_ACTIONS),
            "Resource": sources,
        },
        {
            "Sid": "ReadSourceVersions",
            "Effect": "Allow",
            "Action": list(REPLICATION_SOURCE_OBJECT_ACTIONS),
            "Resource": [_prefix_objects(arn, prefix) for arn in sources],
        },
        {
            "Sid": "WriteReplicas",
            "Effect": "Allow",
            "Action": list(REPLICATION_DESTINATION_OBJECT_ACTIONS),
            "Resource": [_prefix_objects(arn, prefix) for arn in destinations],
        },
    ]
    if source_key_arn is not None:
        for index, (src, dst, src_key, dst_key, src_region, dst_region) in enumerate(directions):
            suffix = "" if index == 0 else "Reverse"
            statements.append(_kms_statement(f"DecryptSource{suffix}", ["kms:Decrypt"], src_key, src, prefix, src_region))
            statements.append(
                _kms_statement(f"EncryptReplica{suffix}", ["kms:Encrypt", "kms:GenerateDataKey"], dst_key, dst, prefix, dst_region)
            )
    return {"Version": VERSION, "Statement": statements}


def _kms_statement(
    sid: str, actions: Sequence[str], key_arn: Optional[str], bucket_arn: str, prefix: str, region: Optional[str]
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [f"{bucket_arn}/{prefix}*", bucket_arn]}
    }
    if region:
        condition["StringEquals"] = {"kms:ViaService": f"s3.{region}.amazonaws.com"}
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": key_arn, "Condition": condition}


def maintainer_role_policy(*, bucket_arns: Sequence[str], prefix: str, key_arns: Sequence[str] = ()) -> Policy:
    """A job's rights plus ``s3:DeleteObject`` on the checkpoint prefix (garbage collection)."""
    policy = job_role_policy(bucket_arns=bucket_arns, prefix=prefix, key_arns=key_arns,
                             object_actions=MAINTAINER_OBJECT_ACTIONS)
    policy["Statement"][2]["Sid"] = "ReadWriteDeleteCheckpoints"
    return policy


def job_role_policy(
    *, bucket_arns: Sequence[str], prefix: str, key_arns: Sequence[str] = (),
    object_actions: Sequence[str] = JOB_OBJECT_ACTIONS,
) -> Policy:
    """Read, write and list the checkpoint prefix in every given bucket, and use the keys."""
    if not bucket_arns:
        raise ValueError("a job role needs at least one bucket")
    statements: list[dict[str, Any]] = [
        {
            # Unconditioned, so that HEAD/GET of a missing key is 404, not 403 (see above).
            "Sid": "ListCheckpointBuckets",
            "Effect": "Allow",
            "Action": list(JOB_LIST_BUCKET_ACTIONS),
            "Resource": list(bucket_arns),
        },
        {
            "Sid": "ListCheckpointVersions",
            "Effect": "Allow",
            "Action": list(JOB_LIST_VERSIONS_ACTIONS),
            "Resource": list(bucket_arns),
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
        },
        {
            "Sid": "ReadWriteCheckpoints",
            "Effect": "Allow",
            "Action": list(object_actions),
            "Resource": [_prefix_objects(arn, prefix) for arn in bucket_arns],
        },
    ]
    if key_arns:
        statements.append(
            {"Sid": "UseCheckpointKeys", "Effect": "Allow", "Action": list(JOB_KMS_ACTIONS), "Resource": list(key_arns)}
        )
    return {"Version": VERSION, "Statement": statements}


def kms_key_policy(*, account_id: str, partition: str = "aws") -> Policy:
    """A key policy in which the account administers and uses the key through IAM.

    Like AWS's default key policy, the account root delegates to IAM policies (so the
    replication and job roles get their KMS rights from their own least-privilege
    policies), but with the administrative and usage actions spelled out, not ``kms:*``.
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": list(KEY_ADMIN_ACTIONS) + list(KEY_USE_ACTIONS),
                "Resource": "*",
            }
        ],
    }


def allowed_actions(policy: Policy) -> list[str]:
    """Every action an Allow statement grants (used by tests and the policy pack)."""
    actions: list[str] = []
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        value = statement.get("Action", [])
        actions.extend([value] if isinstance(value, str) else value)
    return actions


# What AWS FIS needs for the drills' two experiments (FIS User Guide, actions reference):
# aws:s3:bucket-pause-replication and aws:network:disrupt-connectivity with scope s3.
# The FIS actions reference grants Put/GetReplicationConfiguration only with this condition.
FIS_PAUSE_CONDITION = {"Bool": {"s3:IsReplicationPauseRequest": "true"}}
FIS_DISCOVERY_ACTIONS = (  # read-only; these APIs take no resource-level permissions
    "s3:ListAllMyBuckets",
    "tag:GetResources",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeManagedPrefixLists",
)
# Takes a prefix-list ARN (Service Authorization Reference, Amazon EC2): scoped to the
# AWS-managed prefix lists (owner "aws") of the primary Region, such as com.amazonaws.<region>.s3.
FIS_PREFIX_LIST_ACTIONS = ("ec2:GetManagedPrefixListEntries",)
FIS_NACL_ACTIONS = (
    "ec2:CreateNetworkAcl",
    "ec2:CreateNetworkAclEntry",
    "ec2:DeleteNetworkAcl",
    "ec2:ReplaceNetworkAclAssociation",
    "ec2:CreateTags",
)


def fis_role_policy(
    *, bucket_arn: str, partition: str, region: str, account_id: str,
    vpc_id: Optional[str] = None, subnet_ids: Sequence[str] = (),
) -> Policy:
    """Pause the primary bucket's replication and cut the platform's own subnets off S3, nothing else.

    Without ``vpc_id``/``subnet_ids`` (the default VPC: no subnet of its own) there is no
    network experiment, so no network-ACL rights either.
    """
    ec2 = f"arn:{partition}:ec2:{region}:{account_id}"
    statements: list[dict[str, Any]] = [
        {"Sid": "ReplicationConfigurationForPause", "Effect": "Allow",
         "Action": ["s3:PutReplicationConfiguration", "s3:GetReplicationConfiguration"],
         "Resource": [bucket_arn], "Condition": FIS_PAUSE_CONDITION},
        {"Sid": "PauseReplication", "Effect": "Allow", "Action": ["s3:PauseReplication"], "Resource": [bucket_arn]},
        {"Sid": "DiscoverTargets", "Effect": "Allow", "Action": list(FIS_DISCOVERY_ACTIONS), "Resource": "*"},
    ]
    if vpc_id and subnet_ids:
        statements += [
            {"Sid": "ReadAwsPrefixLists", "Effect": "Allow", "Action": list(FIS_PREFIX_LIST_ACTIONS),
             "Resource": [f"arn:{partition}:ec2:{region}:aws:prefix-list/*"]},
            {"Sid": "DisruptS3FromPlatformSubnets", "Effect": "Allow", "Action": list(FIS_NACL_ACTIONS),
             "Resource": [f"{ec2}:vpc/{vpc_id}", *(f"{ec2}:subnet/{s}" for s in subnet_ids), f"{ec2}:network-acl/*"]},
        ]
    return {"Version": VERSION, "Statement": statements}


def _account_administers(account_id: str, partition: str) -> dict[str, Any]:
    return {
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": list(KEY_ADMIN_ACTIONS) + list(KEY_USE_ACTIONS),
        "Resource": "*",
    }


def alerts_key_policy(*, account_id: str, partition: str = "aws") -> Policy:
    """The alerts topic's customer-managed key: CloudWatch alarms may publish to the topic.

    SNS Developer Guide, "Enable compatibility between event sources from AWS services and
    encrypted topics" (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
    #compatibility-with-aws-services): a service that publishes to an encrypted topic needs
    ``kms:Decrypt`` and ``kms:GenerateDataKey*`` on the key, which the AWS-managed
    ``alias/aws/sns`` key's policy cannot grant; CloudWatch is one of those services.
    """
    return {
        "Version": VERSION,
        "Statement": [
            _account_administers(account_id, partition),
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }


def trail_key_policy(*, account_id: str, trail_arn: str, partition: str = "aws") -> Policy:
    """The audit trail's key: CloudTrail encrypts log files with it for this trail only.

    CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail"
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html):
    ``kms:GenerateDataKey*`` with the encryption context ``aws:cloudtrail:arn`` of the
    account's trails, and ``kms:DescribeKey``; readers decrypt through IAM (account root).
    """
    return {
        "Version": VERSION,
        "Statement": [
            _account_administers(account_id, partition),
            {
                "Sid": "CloudTrailEncryptsLogs",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                                   f"arn:{partition}:cloudtrail:*:{account_id}:trail/*"},
                },
            },
            {
                "Sid": "CloudTrailDescribesKey",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
            },
        ],
    }


def log_group_key_policy(*, account_id: str, region: str, log_group: str, partition: str = "aws") -> Policy:
    """A CloudWatch Logs group's key: the Region's CloudWatch Logs may use it for that group only.

    CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html):
    the ``logs.<region>.amazonaws.com`` principal, limited by the encryption context
    ``kms:EncryptionContext:aws:logs:arn`` to the log group's ARN.
    """
    return {
        "Version": VERSION,
        "Statement": [
            _account_administers(account_id, partition),
            {
                "Sid": "CloudWatchLogsUsesKey",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn":
                                            f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group}"}},
            },
        ],
    }
