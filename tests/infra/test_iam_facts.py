"""AWS IAM behaviour the offline sandbox cannot show, asserted on the program instead.

Under IAM enforcement the sandbox proves what moto can evaluate (docs/sandbox-iam.md). For
each gap below moto stays silent, so a facts test, naming its source, holds the program to
the documented rule.
"""

from __future__ import annotations

import json

from infra import policies
from infra.mockrun import ProgramRun
from infra.policies import allowed_actions

from .conftest import policy_of

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"


def _grants(policy: dict, action: str, resource: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] == "Allow" and action in actions and resource in resources:
            return True
    return False


def test_the_job_role_may_use_the_checkpoint_keys_s3_calls_for_it(dr: ProgramRun):
    """AWS re:Post Knowledge Center, "Why do I get an Access Denied error when I upload a large
    file to my S3 bucket with AWS KMS encryption?"
    (https://repost.aws/knowledge-center/s3-large-file-encryption-kms-key): uploading an
    SSE-KMS object needs kms:GenerateDataKey, a multipart upload also kms:Decrypt; reading one
    needs kms:Decrypt. moto's S3 never asks KMS, so the sandbox cannot show a missing grant."""
    policy = policy_of(dr.one(ROLE_POLICY, "jobs-checkpoints"))
    for key in dr.of_type(KEY):
        if not key.name.endswith("-checkpoints-key"):
            continue
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert _grants(policy, action, key.state["arn"]), (key.name, action)


def test_checkpoint_key_policies_let_iam_policies_grant_the_keys(dr: ProgramRun):
    """Same page: "If your IAM user or role is in the same AWS account as the KMS key, then you
    must have these permissions on the key policy"; AWS KMS Developer Guide, "Default key
    policy" (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html):
    a statement allowing the account root "enables IAM policies" to grant the key. moto's KMS
    never reads key policies (the sandbox's replication emulator does, for the replication role)."""
    account_root = "arn:aws:iam::123456789012:root"
    for key in dr.of_type(KEY):
        if not key.name.endswith("-checkpoints-key"):
            continue
        document = json.loads(key.inputs["policy"])
        delegated = [s for s in document["Statement"] if s["Effect"] == "Allow"
                     and s.get("Principal") == {"AWS": account_root}]
        actions = {a for s in delegated for a in s["Action"]}
        assert {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"} <= actions, key.name


def test_the_replication_role_keeps_its_kms_rights_to_s3_in_each_keys_region(dr: ProgramRun):
    """S3 User Guide, "Replicating objects created with server-side encryption (SSE-C,
    SSE-S3, SSE-KMS, DSSE-KMS)" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html):
    the role decrypts with the source key and encrypts with the replica key, and the example
    policies limit both with kms:ViaService (s3.<region>.amazonaws.com) and
    kms:EncryptionContext:aws:s3:arn. The sandbox's replication emulator evaluates these with
    S3's context; moto itself would ignore them. Here: each key is conditioned on its own Region."""
    policy = policy_of(dr.one(ROLE_POLICY, "replication-role-policy"))
    regions = {"primary": "us-east-1", "secondary": "us-west-2"}
    keys = {k.name.split("-", 1)[0]: k.state["arn"] for k in dr.of_type(KEY) if k.name.endswith("-checkpoints-key")}
    for statement in policy["Statement"]:
        if not statement["Action"][0].startswith("kms:"):
            continue
        role = next(r for r, arn in keys.items() if arn == statement["Resource"])
        assert statement["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{regions[role]}.amazonaws.com"}
        assert statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]


def test_the_drill_operator_is_assumed_only_by_principals_iam_allows(dr: ProgramRun):
    """IAM User Guide, "AWS JSON policy elements: Principal", AWS account principals
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html):
    naming the account in a trust policy delegates to the account's identity policies; only
    principals an administrator grants sts:AssumeRole on the role may assume it. moto 5.2 does
    not know this form (the sandbox fixes it); the program must not widen it to "*"."""
    trust = json.loads(dr.one("aws:iam/role:Role", "drill-operator-role").inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Sid": "AuthorizedOperatorsOfThisAccount", "Effect": "Allow",
                                   "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                   "Action": "sts:AssumeRole"}]


def test_the_job_role_never_deletes_what_replication_would_carry_over(dr: ProgramRun):
    """S3 User Guide, "Replicating delete markers between buckets": a delete made without a
    version id writes a delete marker that replicates when the rule enables it; a versioned
    delete (s3:DeleteObjectVersion) is never replicated. recovery_lib deletes logically, so
    the job role has neither, and the sandbox's AccessDenied on DeleteObject shows it."""
    actions = set(allowed_actions(policy_of(dr.one(ROLE_POLICY, "jobs-checkpoints"))))
    assert not actions & {"s3:DeleteObject", "s3:DeleteObjectVersion"}
    assert set(policies.JOB_OBJECT_ACTIONS) <= actions
