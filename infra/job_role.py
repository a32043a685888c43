"""JobRole: the role and instance profile that pipelines run as."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import policies


@dataclass(frozen=True)
class JobRoleArgs:
    bucket_arns: Sequence[pulumi.Input[str]]
    key_arns: Sequence[pulumi.Input[str]]
    prefix: str


class JobRole(pulumi.ComponentResource):
    """Read/write/list on the checkpoint prefix of both buckets, and the keys that needs."""

    def __init__(self, name: str, args: JobRoleArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:JobRole", name, None, opts)
        self.role = aws.iam.Role(
            f"{name}-role",
            description="dr-platform pipelines: checkpoints in both regions",
            assume_role_policy=json.dumps(policies.assume_role_policy("ec2.amazonaws.com")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        n_buckets = len(args.bucket_arns)
        self.policy = aws.iam.RolePolicy(
            f"{name}-checkpoints",
            role=self.role.id,
            policy=pulumi.Output.all(*args.bucket_arns, *args.key_arns).apply(
                lambda v: json.dumps(
                    policies.job_role_policy(bucket_arns=v[:n_buckets], key_arns=v[n_buckets:], prefix=args.prefix)
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=self.role.name, opts=pulumi.ResourceOptions(parent=self)
        )
        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn, "instance_profile": self.instance_profile.name})
