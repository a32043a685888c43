"""JobRole: the role and instance profile that pipelines run as.

:class:`CheckpointRole` is the shape both checkpoint principals share (an EC2-assumed role,
an inline policy over the checkpoint prefix of both buckets and their keys, an instance
profile); :class:`JobRole` and :class:`infra.maintainer_role.MaintainerRole` differ only in
their component type, description and policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import policies

#: builds a role's policy document from the resolved bucket ARNs, key ARNs and prefix
PolicyBuilder = Callable[..., Any]


@dataclass(frozen=True)
class JobRoleArgs:
    bucket_arns: Sequence[pulumi.Input[str]]
    key_arns: Sequence[pulumi.Input[str]]
    prefix: str


class CheckpointRole(pulumi.ComponentResource):
    """An EC2-assumed role with ``build_policy`` over the checkpoint buckets, and its profile.

    Assumed through the instance profile: one exact service principal, never the account.
    """

    def __init__(self, component_type: str, name: str, args: JobRoleArgs, *, description: str,
                 build_policy: PolicyBuilder, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(component_type, name, None, opts)
        self.role = aws.iam.Role(
            f"{name}-role",
            description=description,
            assume_role_policy=json.dumps(policies.assume_role_policy("ec2.amazonaws.com")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        n_buckets = len(args.bucket_arns)
        self.policy = aws.iam.RolePolicy(
            f"{name}-checkpoints",
            role=self.role.id,
            policy=pulumi.Output.all(*args.bucket_arns, *args.key_arns).apply(
                lambda v: json.dumps(
                    build_policy(bucket_arns=v[:n_buckets], key_arns=v[n_buckets:], prefix=args.prefix)
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=self.role.name, opts=pulumi.ResourceOptions(parent=self)
        )
        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn, "instance_profile": self.instance_profile.name})


class JobRole(CheckpointRole):
    """Read/write/list on the checkpoint prefix of both buckets, and the keys that needs."""

    def __init__(self, name: str, args: JobRoleArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:JobRole", name, args,
                         description="dr-platform pipelines: checkpoints in both regions",
                         build_policy=policies.job_role_policy, opts=opts)
