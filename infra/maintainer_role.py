"""MaintainerRole: the only principal allowed to delete checkpoint objects.

Jobs write and read checkpoints but cannot delete them (no ``s3:DeleteObject``): retention
retires versions logically. Garbage collection (``recovery gc``) runs as this role, which adds
``s3:DeleteObject`` on the checkpoint prefix of both buckets. Its deletes carry no version id,
so in the versioned buckets they leave delete markers and the data becomes noncurrent; the
bucket lifecycle's noncurrent-version expiry (``noncurrentVersionDays``) is the undo window.
The policy pack's ``checkpoint-delete-only-maintainer`` rule checks no other principal may
delete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import policies

COMPONENT_TYPE = "dr-platform:index:MaintainerRole"


@dataclass(frozen=True)
class MaintainerRoleArgs:
    bucket_arns: Sequence[pulumi.Input[str]]
    key_arns: Sequence[pulumi.Input[str]]
    prefix: str


class MaintainerRole(pulumi.ComponentResource):
    """A job's rights plus DeleteObject on the checkpoint prefix, and an instance profile."""

    def __init__(self, name: str, args: MaintainerRoleArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        # Assumed by the instance that runs the scheduled `recovery gc` (like the job role):
        # one exact service principal, never the whole account.
        self.role = aws.iam.Role(
            f"{name}-role",
            description="dr-platform maintainer: garbage collection of checkpoints (the only deleter)",
            assume_role_policy=json.dumps(policies.assume_role_policy("ec2.amazonaws.com")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        n_buckets = len(args.bucket_arns)
        self.policy = aws.iam.RolePolicy(
            f"{name}-checkpoints",
            role=self.role.id,
            policy=pulumi.Output.all(*args.bucket_arns, *args.key_arns).apply(
                lambda v: json.dumps(
                    policies.maintainer_role_policy(
                        bucket_arns=v[:n_buckets], key_arns=v[n_buckets:], prefix=args.prefix
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=self.role.name, opts=pulumi.ResourceOptions(parent=self)
        )
        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn, "instance_profile": self.instance_profile.name})
