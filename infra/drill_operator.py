"""DrillOperator: the role ``recovery drill`` assumes to inject faults and observe the platform.

Only principals of the account that an administrator grants ``sts:AssumeRole`` on this role
may run drills (the trust names the account, the identity policies decide); the role itself
may do what a drill does on this platform and nothing more (see
:mod:`infra.drill_operator_policy`). The program exports its ARN as ``drillOperatorRoleArn``
and in the descriptor's ``drill.operator_role_arn``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import drill_operator_policy
from infra.drill_operator_policy import PURPOSE_TAG


@dataclass(frozen=True)
class DrillOperatorArgs:
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    bucket_arns: Sequence[pulumi.Input[str]]
    standby_group_arn: pulumi.Input[str]
    health_check_id: Optional[pulumi.Input[str]] = None
    zone_id: Optional[pulumi.Input[str]] = None
    fis_region: Optional[str] = None
    fis_templates: Optional[pulumi.Input[Mapping[str, str]]] = None


class DrillOperator(pulumi.ComponentResource):
    def __init__(self, name: str, args: DrillOperatorArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:DrillOperator", name, None, opts)
        self.role = aws.iam.Role(
            f"{name}-role",
            description="dr-platform drills: fault injection and observation, nothing else",
            assume_role_policy=pulumi.Output.all(args.account_id, args.partition).apply(
                lambda v: json.dumps(drill_operator_policy.operator_trust_policy(account_id=v[0], partition=v[1]))),
            max_session_duration=3600,
            tags=dict([PURPOSE_TAG]),
            opts=pulumi.ResourceOptions(parent=self),
        )
        n = len(args.bucket_arns)
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.account_id, args.partition, args.standby_group_arn, args.health_check_id, args.zone_id,
                args.fis_templates, *args.bucket_arns,
            ).apply(lambda v: json.dumps(drill_operator_policy.drill_operator_policy(
                account_id=v[0], partition=v[1], standby_group_arn=v[2], health_check_id=v[3], zone_id=v[4],
                fis_region=args.fis_region, fis_template_ids=v[5], bucket_arns=list(v[6:6 + n])))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn})
