"""The rule list of the dr-platform-baseline pack: names, mirrored checkov / trivy ids, config.

Every policy leaves ``enforcement_level`` unset so the pack's default (MANDATORY) applies;
a policy config file overrides it per rule (``{"s3-bucket-versioning": "advisory"}``) or for
all (``{"all": "advisory"}``). Stack-specific knobs are each rule's ``config_schema``.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from infra.policy import (deletion, drill_operator, fis, iam, kms, protection, replication_alarms, route53,
                          s3)

PACK_NAME = "dr-platform-baseline"
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY
DESCRIPTION = (
    "Security and DR baseline for dr-platform stacks: S3 checkpoint buckets, replication, "
    "KMS, IAM and Route 53 failover, each rule mirroring checkov / trivy ids where they exist."
)

_EXEMPT = {
    "exemptBuckets": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Logical names of buckets this rule skips (e.g. an access-log bucket).",
    }
}


def _schema(properties: dict[str, dict[str, Any]]) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=dict(properties))


#: how the rules about checkpoint buckets find them (shared by those rules' configs)
_CHECKPOINT_BUCKETS: dict[str, dict[str, Any]] = {
    "checkpointComponentType": {
        "type": "string",
        "default": protection.CHECKPOINT_COMPONENT,
        "description": "Component type whose buckets hold checkpoints.",
    },
    "checkpointTag": {
        "type": "string",
        "default": protection.CHECKPOINT_TAG,
        "description": "Bucket tag key that marks a checkpoint bucket.",
    },
}


POLICIES: list[Policy] = [
    StackValidationPolicy(
        name="s3-bucket-versioning",
        description="S3 buckets have versioning Enabled (checkov CKV_AWS_21; trivy AWS-0090).",
        validate=s3.validate_versioning,
        config_schema=_schema(_EXEMPT),
    ),
    StackValidationPolicy(
        name="s3-bucket-encryption",
        description=(
            "S3 buckets have default encryption at rest, with a customer-managed KMS key when the stack "
            "uses KMS for any bucket or requireKms is set (checkov CKV_AWS_19, CKV_AWS_145; "
            "trivy AWS-0088, AWS-0132)."
        ),
        validate=s3.validate_encryption,
        config_schema=_schema(
            {
                **_EXEMPT,
                "requireKms": {
                    "type": "boolean",
                    "default": False,
                    "description": "Require SSE-KMS with a customer-managed key on every bucket even if none uses KMS yet.",
                },
            }
        ),
    ),
    StackValidationPolicy(
        name="s3-public-access-block",
        description=(
            "S3 buckets have a public access block with all four flags true (checkov CKV2_AWS_6, "
            "CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56; trivy AWS-0086, AWS-0087, AWS-0091, "
            "AWS-0093, AWS-0094)."
        ),
        validate=s3.validate_public_access_block,
        config_schema=_schema(_EXEMPT),
    ),
    StackValidationPolicy(
        name="s3-acls-disabled",
        description="S3 buckets disable ACLs with object ownership BucketOwnerEnforced (checkov CKV2_AWS_65).",
        validate=s3.validate_ownership,
        config_schema=_schema(_EXEMPT),
    ),
    StackValidationPolicy(
        name="s3-tls-only-policy",
        description=(
            "S3 buckets have a bucket policy denying requests without TLS (aws:SecureTransport false) "
            "(no checkov / trivy id; AWS Security Hub S3.5)."
        ),
        validate=s3.validate_tls_only,
        config_schema=_schema(_EXEMPT),
    ),
    StackValidationPolicy(
        name="s3-abort-incomplete-multipart",
        description=(
            "S3 buckets have an enabled whole-bucket lifecycle rule aborting incomplete multipart "
            "uploads (checkov CKV2_AWS_61, CKV_AWS_300)."
        ),
        validate=s3.validate_abort_multipart,
        config_schema=_schema(_EXEMPT),
    ),
    StackValidationPolicy(
        name="s3-cross-region-replication",
        description=(
            "Every primary S3 bucket replicates to a versioned bucket in another region, and every "
            "replication source is versioned (checkov CKV_AWS_144)."
        ),
        validate=s3.validate_cross_region_replication,
        config_schema=_schema(
            {
                **_EXEMPT,
                "allowExternalDestinations": {
                    "type": "boolean",
                    "default": False,
                    "description": "Accept destinations outside this stack (their versioning and region are not checked).",
                },
            }
        ),
    ),
    StackValidationPolicy(
        name="s3-replication-kms-rights",
        description=(
            "Replication of SSE-KMS objects selects them, names a replica key, and its role may "
            "kms:Decrypt the source key and kms:Encrypt the replica key (no checkov / trivy id; "
            "cloudposse/terraform-aws-s3-bucket#279)."
        ),
        validate=s3.validate_replication_kms_rights,
    ),
    ResourceValidationPolicy(
        name="kms-key-rotation",
        description="KMS keys rotate their key material (checkov CKV_AWS_7; trivy AWS-0065).",
        validate=kms.validate_rotation,
    ),
    ResourceValidationPolicy(
        name="kms-key-policy",
        description="KMS keys have an explicit key policy (checkov CKV2_AWS_64).",
        validate=kms.validate_key_policy,
    ),
    ResourceValidationPolicy(
        name="iam-no-wildcard-action",
        description='IAM identity policies allow no "*" or "service:*" action (checkov CKV_AWS_63).',
        validate=iam.validate_no_wildcard_action,
    ),
    ResourceValidationPolicy(
        name="iam-no-wildcard-resource-write",
        description='IAM identity policies allow no write action on Resource "*" (checkov CKV_AWS_355).',
        validate=iam.validate_no_wildcard_resource_for_writes,
        config_schema=_schema(
            {
                "allowedActions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                    "description": 'Write actions that cannot be scoped to a resource and may use "*".',
                }
            }
        ),
    ),
    ResourceValidationPolicy(
        name="iam-no-passrole-wildcard",
        description=(
            'IAM identity policies allow no iam:PassRole on every role (Resource "*") (no checkov / '
            "trivy id mirrors it exactly; related: checkov CKV_AWS_286 privilege escalation, trivy "
            "AWS-0342 PassRole filtering)."
        ),
        validate=iam.validate_no_passrole_on_wildcard,
    ),
    ResourceValidationPolicy(
        name="iam-trust-exact-service",
        description=(
            "IAM role trust policies name exact principals: one service such as s3.amazonaws.com, "
            "no wildcard (no checkov / trivy id mirrors it exactly; related: checkov CKV_AWS_60, CKV_AWS_61)."
        ),
        validate=iam.validate_trust_exact_service,
    ),
    StackValidationPolicy(
        name="route53-primary-health-check",
        description="Every Route 53 PRIMARY failover record has a health check (no checkov / trivy id).",
        validate=route53.validate_primary_health_check,
    ),
    StackValidationPolicy(
        name="route53-failover-budget",
        description=(
            "Route 53 worst-case failover time (target group interval x unhealthy threshold + health-check "
            "interval x failure threshold + 4 s + 2 s probe timeout + TTL + one TTL of stale caches) is "
            "within the stack's RTO target (no checkov / trivy id)."
        ),
        validate=route53.validate_failover_budget,
        config_schema=_schema(
            {
                "rtoSeconds": {
                    "type": "number",
                    "description": "RTO target in seconds; default: the stack's <project>:rtoSeconds, else 3600.",
                },
                "aliasTtlSeconds": {
                    "type": "number",
                    "default": route53.ALIAS_TTL_SECONDS,
                    "description": "TTL counted for alias records (a load balancer alias answers with 60 s).",
                },
            }
        ),
    ),
    StackValidationPolicy(
        name="replication-alarms-in-metric-region",
        description=(
            "CloudWatch alarms on S3 Replication metrics are in the Region S3 publishes them in "
            "(ReplicationLatency, BytesPendingReplication, OperationsPendingReplication: the destination "
            "bucket's; OperationsFailedReplication: the source's), and alarm actions are SNS topics of the "
            "alarm's Region (no checkov / trivy id)."
        ),
        validate=replication_alarms.validate_replication_alarm_regions,
    ),
    StackValidationPolicy(
        name="fis-pause-replication-by-tags",
        description=(
            "AWS FIS aws:s3:bucket-pause-replication actions select their buckets by tags that a bucket of "
            "the stack carries (never by ARN), and pause for more than an hour (no checkov / trivy id)."
        ),
        validate=fis.validate_pause_replication_by_tags,
    ),
    StackValidationPolicy(
        name="drill-operator-least-privilege",
        description=(
            "The stack has one drill operator role, allowed only the calls a drill makes, every change "
            "scoped to a named resource and no Condition the offline sandbox cannot evaluate (no checkov / "
            "trivy id; docs/sandbox-iam.md)."
        ),
        validate=drill_operator.validate_drill_operator,
    ),
    StackValidationPolicy(
        name="data-protected-from-deletion",
        description=(
            "S3 buckets (and the KMS keys encrypting them) are protected from deletion: protect=True, "
            "force_destroy off, except in stacks listed in unprotectedStacks (no checkov / trivy id; "
            "Pulumi resource option)."
        ),
        validate=protection.validate_data_protected,
        config_schema=_schema(
            {
                **_EXEMPT,
                "unprotectedStacks": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": protection.DEFAULT_UNPROTECTED_STACKS,
                    "description": "Stacks whose data may be destroyed (dev relaxes protectData on purpose).",
                },
            }
        ),
    ),
    StackValidationPolicy(
        name="checkpoint-delete-only-maintainer",
        description=(
            "Only the MaintainerRole (garbage collection) may delete checkpoint objects: no other identity "
            "policy and no bucket policy allows s3:DeleteObject or s3:DeleteObjectVersion on a checkpoint "
            "bucket's objects (no checkov / trivy id)."
        ),
        validate=deletion.validate_only_maintainer_deletes,
        config_schema=_schema(_CHECKPOINT_BUCKETS),
    ),
    StackValidationPolicy(
        name="checkpoint-bucket-replica",
        description=(
            "Every checkpoint bucket has a replica in another region (an enabled replication rule to or "
            "from a bucket in a different region) (no checkov / trivy id)."
        ),
        validate=protection.validate_checkpoint_replica,
        config_schema=_schema(_CHECKPOINT_BUCKETS),
    ),
]


def pack_arguments() -> dict[str, Any]:
    """Keyword arguments of the ``PolicyPack`` that ``__main__.py`` serves."""
    return {
        "name": PACK_NAME,
        "enforcement_level": DEFAULT_ENFORCEMENT,
        "description": DESCRIPTION,
        "policies": POLICIES,
    }
