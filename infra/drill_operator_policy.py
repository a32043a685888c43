"""The drill operator's permissions: exactly the calls ``recovery drill`` makes, nothing else.

A pure function of ARNs and ids (unit-tested without Pulumi); :mod:`infra.drill_operator`
``json.dumps`` it inside ``Output.all(...).apply(...)``. Where each action comes from:

- readiness checks (``recovery_lib/drill/readiness.py``): ``GetBucketVersioning``,
  ``GetBucketReplication`` (IAM action ``s3:GetReplicationConfiguration``),
  ``GetBucketLocation``, ``GetBucketEncryption`` (``s3:GetEncryptionConfiguration``) on both
  checkpoint buckets; ``route53:GetHealthCheck`` and ``route53:ListResourceRecordSets``;
  ``autoscaling:DescribeAutoScalingGroups``;
- the ``aws`` fault adapter (``recovery_lib/drill/adapters/aws.py``): Route 53 health-check
  inversion (``UpdateHealthCheck``, observed with ``GetHealthCheck``,
  ``GetHealthCheckStatus``, ``ListResourceRecordSets``, ``TestDNSAnswer``); AWS FIS
  (``StartExperiment`` with tags, which needs ``fis:TagResource``, ``ListExperiments``,
  ``StopExperiment``); the standby group's ``SetDesiredCapacity``.

The checkpoint canary and the data recovery run through recovery_lib with the job role's
credentials, so the operator has no object access at all.

Resource-level permissions follow the Service Authorization Reference: ``DescribeAutoScalingGroups``,
``ListExperiments`` and ``TestDNSAnswer`` support none (``Resource: "*"``, read-only); every
action that changes something is scoped to the one health check, group or template.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from infra.policies import VERSION, Policy

#: the tag the policy pack finds the role by
PURPOSE_TAG = ("dr-platform:purpose", "drill-operator")

BUCKET_READ_ACTIONS = (
    "s3:GetBucketVersioning",
    "s3:GetReplicationConfiguration",
    "s3:GetBucketLocation",
    "s3:GetEncryptionConfiguration",
)
GROUP_DESCRIBE_ACTIONS = ("autoscaling:DescribeAutoScalingGroups",)
GROUP_SCALE_ACTIONS = ("autoscaling:SetDesiredCapacity",)
HEALTH_CHECK_ACTIONS = ("route53:GetHealthCheck", "route53:GetHealthCheckStatus", "route53:UpdateHealthCheck")
ZONE_READ_ACTIONS = ("route53:ListResourceRecordSets",)
DNS_TEST_ACTIONS = ("route53:TestDNSAnswer",)
FIS_START_ACTIONS = ("fis:StartExperiment",)
FIS_EXPERIMENT_ACTIONS = ("fis:StopExperiment", "fis:TagResource")
FIS_LIST_ACTIONS = ("fis:ListExperiments",)

#: every action a drill operator may ever be granted (the policy pack checks against it)
ALL_ACTIONS = frozenset(
    BUCKET_READ_ACTIONS + GROUP_DESCRIBE_ACTIONS + GROUP_SCALE_ACTIONS + HEALTH_CHECK_ACTIONS
    + ZONE_READ_ACTIONS + DNS_TEST_ACTIONS + FIS_START_ACTIONS + FIS_EXPERIMENT_ACTIONS + FIS_LIST_ACTIONS
)
#: actions that change something: never on Resource "*"
MUTATING_ACTIONS = frozenset(GROUP_SCALE_ACTIONS + ("route53:UpdateHealthCheck",) + FIS_START_ACTIONS
                             + FIS_EXPERIMENT_ACTIONS)


def operator_trust_policy(*, account_id: str, partition: str = "aws") -> Policy:
    """Principals of this account whose own IAM policy lets them ``sts:AssumeRole`` this role.

    IAM User Guide, "AWS JSON policy elements: Principal" (AWS account principals): naming
    the account root in a trust policy delegates the decision to the account's identity
    policies, so only principals an administrator granted ``sts:AssumeRole`` on this role
    may run drills.
    """
    if not account_id:
        raise ValueError("the drill operator's trust needs the account id")
    return {
        "Version": VERSION,
        "Statement": [{
            "Sid": "AuthorizedOperatorsOfThisAccount",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "sts:AssumeRole",
        }],
    }


def drill_operator_policy(
    *,
    partition: str,
    account_id: str,
    bucket_arns: Sequence[str],
    standby_group_arn: str,
    health_check_id: Optional[str] = None,
    zone_id: Optional[str] = None,
    fis_region: Optional[str] = None,
    fis_template_ids: Optional[Mapping[str, str]] = None,
) -> Policy:
    """What a drill needs on this platform: read readiness, flip the health check, run the FIS
    templates, scale the standby group. Sections without their resource are left out."""
    if not bucket_arns:
        raise ValueError("a drill operator needs the checkpoint buckets to check readiness")
    if not standby_group_arn.startswith(f"arn:{partition}:autoscaling:"):
        raise ValueError(f"standby_group_arn must be an Auto Scaling group ARN, got {standby_group_arn!r}")
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadBucketReadiness", "Effect": "Allow", "Action": list(BUCKET_READ_ACTIONS),
         "Resource": list(bucket_arns)},
        {"Sid": "DescribeGroups", "Effect": "Allow", "Action": list(GROUP_DESCRIBE_ACTIONS), "Resource": "*"},
        {"Sid": "ScaleStandby", "Effect": "Allow", "Action": list(GROUP_SCALE_ACTIONS),
         "Resource": [standby_group_arn]},
    ]
    if health_check_id:
        statements.append({"Sid": "InvertPrimaryHealthCheck", "Effect": "Allow", "Action": list(HEALTH_CHECK_ACTIONS),
                           "Resource": [f"arn:{partition}:route53:::healthcheck/{health_check_id}"]})
        statements.append({"Sid": "TestFailoverAnswer", "Effect": "Allow", "Action": list(DNS_TEST_ACTIONS),
                           "Resource": "*"})
    if zone_id:
        statements.append({"Sid": "ReadFailoverRecords", "Effect": "Allow", "Action": list(ZONE_READ_ACTIONS),
                           "Resource": [f"arn:{partition}:route53:::hostedzone/{zone_id}"]})
    if fis_template_ids:
        if not fis_region:
            raise ValueError("FIS templates need the Region they run in")
        fis = f"arn:{partition}:fis:{fis_region}:{account_id}"
        templates = [f"{fis}:experiment-template/{tid}" for _, tid in sorted(fis_template_ids.items())]
        statements += [
            {"Sid": "StartDrillExperiments", "Effect": "Allow", "Action": list(FIS_START_ACTIONS),
             "Resource": templates + [f"{fis}:experiment/*"]},
            {"Sid": "StopAndTagDrillExperiments", "Effect": "Allow", "Action": list(FIS_EXPERIMENT_ACTIONS),
             "Resource": [f"{fis}:experiment/*"]},
            {"Sid": "ListDrillExperiments", "Effect": "Allow", "Action": list(FIS_LIST_ACTIONS), "Resource": "*"},
        ]
    return {"Version": VERSION, "Statement": statements}
