"""CheckpointBucket: one region's versioned, encrypted, private, TLS-only checkpoint bucket."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from infra import policies


@dataclass(frozen=True)
class CheckpointBucketArgs:
    role: str  # "primary" or "secondary": only used for names and tags
    kms: bool
    noncurrent_version_days: int
    protect: bool
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    abort_multipart_days: int = 7
    # More bucket tags, e.g. the one AWS FIS selects the replication source by.
    extra_tags: Mapping[str, str] = field(default_factory=dict)


class CheckpointBucket(pulumi.ComponentResource):
    """Bucket + versioning + default encryption + public-access block + ownership + policy + lifecycle.

    ``versioning`` is exposed so replication can depend on it: S3 refuses a replication
    configuration until versioning is enabled on both buckets.
    """

    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    key: Optional[aws.kms.Key]

    def __init__(self, name: str, args: CheckpointBucketArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:CheckpointBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Data (and the key that decrypts it) is protected from `pulumi destroy` and from
        # replacements; dev stacks may relax it (protectData: false).
        data = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)

        self.key = None
        if args.kms:
            self.key = aws.kms.Key(
                f"{name}-key",
                description=f"dr-platform {args.role} checkpoint bucket key",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=pulumi.Output.all(args.account_id, args.partition).apply(
                    lambda v: json.dumps(policies.kms_key_policy(account_id=v[0], partition=v[1]))
                ),
                opts=data,
            )
            aws.kms.Alias(
                f"{name}-key-alias",
                name=f"alias/{pulumi.get_project()}-{pulumi.get_stack()}-{args.role}-checkpoints",
                target_key_id=self.key.key_id,
                opts=child,
            )

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=not args.protect,
            tags={"dr-platform:bucket-role": args.role, **args.extra_tags},
            opts=data,
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        if self.key is not None:
            encryption = {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": self.key.arn,
                },
                "bucket_key_enabled": True,
            }
        else:
            encryption = {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=self.bucket.id, rules=[encryption], opts=child
        )
        public_access = block_public_access(name, self.bucket, child)
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(policies.tls_only_bucket_policy(arn))),
            # A policy put while the public-access block is still being applied can race it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
                },
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": args.abort_multipart_days},
                },
            ],
            # Lifecycle on a versioned bucket acts on noncurrent versions only once versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.key_arn: pulumi.Output[Optional[str]] = (
            self.key.arn if self.key is not None else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn, "key_arn": self.key_arn}
        )


def block_public_access(name: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions) -> aws.s3.BucketPublicAccessBlock:
    """No public ACLs or policies, and ACLs disabled (bucket owner owns every object): what
    every bucket of the platform gets. Returns the access block, which bucket policies wait for."""
    access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
    )
    return access
