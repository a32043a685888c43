"""S3 bucket rules (stack validations: settings are separate resources joined by bucket name).

Every rule reads ``exemptBuckets`` (logical names of buckets the rule skips) from its policy
config. Messages name the bucket (type and logical name) and the fix.
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import ReportViolation, StackValidationArgs

from infra.policy import documents
from infra.policy.stack import (
    BUCKET_POLICY,
    ENCRYPTION,
    LIFECYCLE,
    OWNERSHIP,
    PUBLIC_ACCESS_BLOCK,
    VERSIONING,
    StackView,
    describe,
    enabled,
    seq,
    setting,
)

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
SSE_ALGORITHMS = ("AES256",) + KMS_ALGORITHMS


def _buckets(args: StackValidationArgs):
    view = StackView(args.resources)
    return view, view.buckets(setting(args, "exemptBuckets", []))


def validate_versioning(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view, buckets = _buckets(args)
    for bucket in buckets:
        configs = view.attached(VERSIONING, bucket)
        if not configs:
            report_violation(
                f"{describe(bucket)} has no {VERSIONING}; add one with versioning_configuration status "
                "'Enabled' (replication and rollback both need object versions).",
                bucket.urn,
            )
        elif not view.is_versioned(bucket):
            statuses = [(c.props.get("versioningConfiguration") or {}).get("status") for c in configs]
            report_violation(
                f"{describe(bucket)} has versioning status {statuses}; set versioning_configuration "
                "status to 'Enabled' on its BucketVersioning.",
                bucket.urn,
            )


def validate_encryption(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view, buckets = _buckets(args)
    require_kms = bool(setting(args, "requireKms", False))
    kms_users = [b.name for b in buckets if view.uses_kms(b)]
    # ALB access logs are only delivered to SSE-S3 buckets (ELB User Guide, "Enable access logs
    # for your Application Load Balancer"): such log buckets need encryption, not KMS.
    sse_s3_only = {urn for urn, services in view.log_targets().items() if "elb" in services}
    for bucket in buckets:
        rules = view.sse_rules(bucket)
        algorithms = [r.get("sseAlgorithm") for r in rules]
        if not any(a in SSE_ALGORITHMS for a in algorithms):
            report_violation(
                f"{describe(bucket)} has no default encryption (found {algorithms or 'no ' + ENCRYPTION}); "
                "add a BucketServerSideEncryptionConfiguration with sse_algorithm 'aws:kms' "
                "(and kms_master_key_id) or 'AES256'.",
                bucket.urn,
            )
            continue
        if view.kms_key_of(bucket) or bucket.urn in sse_s3_only:
            continue
        others = [name for name in kms_users if name != bucket.name]
        if others:
            why = f"other buckets in this stack use SSE-KMS ({', '.join(others)})"
        elif require_kms:
            why = "policy config requireKms is true"
        elif bucket.name in kms_users:
            why = "it uses aws:kms with the AWS-managed key, which cannot be rotated or scoped"
        else:
            continue
        report_violation(
            f"{describe(bucket)} is not encrypted with a customer-managed KMS key (sse_algorithm "
            f"{algorithms}) but {why}; set sse_algorithm 'aws:kms' and kms_master_key_id to a "
            "rotating aws.kms.Key.",
            bucket.urn,
        )


def validate_public_access_block(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view, buckets = _buckets(args)
    for bucket in buckets:
        blocks = view.attached(PUBLIC_ACCESS_BLOCK, bucket)
        if not blocks:
            report_violation(
                f"{describe(bucket)} has no {PUBLIC_ACCESS_BLOCK}; add one with block_public_acls, "
                "block_public_policy, ignore_public_acls and restrict_public_buckets all true.",
                bucket.urn,
            )
            continue
        if not any(all(b.props.get(flag) is True for flag in PUBLIC_ACCESS_FLAGS) for b in blocks):
            off = sorted({flag for b in blocks for flag in PUBLIC_ACCESS_FLAGS if b.props.get(flag) is not True})
            report_violation(
                f"{describe(bucket)}'s public access block leaves {', '.join(off)} off; set all four "
                "flags (block_public_acls, block_public_policy, ignore_public_acls, "
                "restrict_public_buckets) to true.",
                bucket.urn,
            )


def validate_ownership(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view, buckets = _buckets(args)
    for bucket in buckets:
        settings = [(c.props.get("rule") or {}).get("objectOwnership") for c in view.attached(OWNERSHIP, bucket)]
        if "BucketOwnerEnforced" not in settings:
            report_violation(
                f"{describe(bucket)} has object ownership {settings or 'unset'}, so ACLs still apply; "
                "add a BucketOwnershipControls with rule object_ownership 'BucketOwnerEnforced'.",
                bucket.urn,
            )


def _denies_insecure_transport(statement: Mapping[str, Any], bucket_arn: str) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal != "*" and not (isinstance(principal, Mapping) and "*" in documents.as_list(principal.get("AWS"))):
        return False
    if not any(a in ("*", "s3:*") for a in documents.as_list(statement.get("Action"))):
        return False
    secure = (statement.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
    if str(secure).lower() != "false":
        return False
    resources = documents.as_list(statement.get("Resource"))
    return all(
        any(documents.resource_matches(p, target) for p in resources) for target in (bucket_arn, f"{bucket_arn}/key")
    )


def validate_tls_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view, buckets = _buckets(args)
    for bucket in buckets:
        arn = bucket.props.get("arn")
        ok = False
        problems = []
        for policy in view.attached(BUCKET_POLICY, bucket):
            try:
                document = documents.parse(policy.props.get("policy"))
            except documents.InvalidDocument as exc:
                problems.append(f"{describe(policy)} is {exc}")
                continue
            ok = ok or any(_denies_insecure_transport(s, arn) for s in documents.statements(document))
        if not ok:
            found = "; ".join(problems) or ("no " + BUCKET_POLICY if not view.attached(BUCKET_POLICY, bucket) else "no such statement")
            report_violation(
                f"{describe(bucket)} accepts plain HTTP ({found}); add a bucket policy statement "
                "Effect Deny, Principal '*', Action 's3:*', Resource [bucket ARN, bucket ARN + '/*'], "
                "Condition {\"Bool\": {\"aws:SecureTransport\": \"false\"}}.",
                bucket.urn,
            )


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    """The rule applies to every object: no prefix, tag or size filter."""
    if rule.get("prefix"):
        return False
    filter_ = rule.get("filter") or {}
    return all(not filter_.get(k) for k in filter_)


def validate_abort_multipart(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view, buckets = _buckets(args)
    for bucket in buckets:
        aborting = [
            rule
            for config in view.attached(LIFECYCLE, bucket)
            for rule in seq(config.props.get("rules"))
            if rule.get("status") == "Enabled"
            and (rule.get("abortIncompleteMultipartUpload") or {}).get("daysAfterInitiation")
            and _whole_bucket(rule)
        ]
        if not aborting:
            report_violation(
                f"{describe(bucket)} keeps incomplete multipart uploads forever (no enabled, "
                "whole-bucket lifecycle rule with abort_incomplete_multipart_upload); add a "
                "BucketLifecycleConfiguration rule with filter {prefix: ''} and "
                "abort_incomplete_multipart_upload {days_after_initiation: 7}.",
                bucket.urn,
            )


def validate_cross_region_replication(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view, buckets = _buckets(args)
    allow_external = bool(setting(args, "allowExternalDestinations", False))
    edges = view.replication_edges()
    destinations = {e.destination.urn for e in edges if e.destination is not None}
    sources = {e.source.urn for e in edges if e.source is not None}
    # A log bucket keeps one Region's logs in that Region (S3 server access logs must be in
    # the source bucket's Region, ALB logs in the load balancer's); it is not data to fail over.
    log_buckets = set(view.log_targets())
    for bucket in buckets:
        if bucket.urn not in destinations and bucket.urn not in sources and bucket.urn not in log_buckets:
            report_violation(
                f"{describe(bucket)} is a primary bucket (no bucket replicates into it) without "
                "cross-region replication; add a BucketReplicationConfig with an enabled rule to a "
                "versioned bucket in another region (depends_on both BucketVersioning resources).",
                bucket.urn,
            )
    for edge in edges:
        where = f"{describe(edge.config)} rule '{edge.rule_id}'"
        if edge.source is None:
            report_violation(
                f"{where} replicates bucket {edge.config.props.get('bucket')!r}, which is not in this "
                "stack; manage the source bucket in the same stack so its versioning can be checked.",
                edge.config.urn,
            )
            continue
        if not view.is_versioned(edge.source):
            report_violation(
                f"{where}: source {describe(edge.source)} is not versioned; S3 rejects replication "
                "until versioning is Enabled on both buckets. Add BucketVersioning 'Enabled'.",
                edge.config.urn,
            )
        if edge.destination is None:
            if not allow_external:
                report_violation(
                    f"{where} replicates to {edge.destination_arn!r}, which is not a bucket of this "
                    "stack, so its versioning and region cannot be checked; manage it here or set "
                    "allowExternalDestinations in this policy's config.",
                    edge.config.urn,
                )
            continue
        if not view.is_versioned(edge.destination):
            report_violation(
                f"{where}: destination {describe(edge.destination)} is not versioned (\"Destination "
                "bucket must have versioning enabled\"); add BucketVersioning 'Enabled' to it.",
                edge.config.urn,
            )
        src_region, dst_region = view.region(edge.source), view.region(edge.destination)
        if src_region is None or dst_region is None or src_region == dst_region:
            report_violation(
                f"{where}: destination {describe(edge.destination)} is in region {dst_region!r}, "
                f"source {describe(edge.source)} in {src_region!r}; a regional outage takes both. "
                "Create the destination with a provider for another region.",
                edge.config.urn,
            )


def validate_replication_kms_rights(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    for edge in view.replication_edges():
        where = f"{describe(edge.config)} rule '{edge.rule_id}'"
        source_key = view.kms_key_of(edge.source) if edge.source is not None else None
        selection = edge.rule.get("sourceSelectionCriteria") or {}
        selects_kms = enabled(selection.get("sseKmsEncryptedObjects"))
        if source_key is None and not selects_kms:
            continue  # objects are not SSE-KMS: no KMS rights needed
        replica_key = ((edge.rule.get("destination") or {}).get("encryptionConfiguration") or {}).get("replicaKmsKeyId")
        if source_key is not None and not selects_kms:
            report_violation(
                f"{where}: source bucket objects are SSE-KMS but the rule does not select them, so "
                "they never replicate; set source_selection_criteria.sse_kms_encrypted_objects "
                "status 'Enabled'.",
                edge.config.urn,
            )
        if not replica_key:
            report_violation(
                f"{where}: SSE-KMS objects need a replica key; set "
                "destination.encryption_configuration.replica_kms_key_id to a key in the "
                "destination region.",
                edge.config.urn,
            )
        role = view.role_by_arn(edge.config.props.get("role"))
        if role is None:
            report_violation(
                f"{where}: replication role {edge.config.props.get('role')!r} is not in this stack, so "
                "its KMS rights cannot be checked; manage the role (and its policy) in the same stack.",
                edge.config.urn,
            )
            continue
        policy_documents = []
        for value in view.role_documents(role):
            try:
                policy_documents.append(documents.parse(value))
            except documents.InvalidDocument:
                continue  # reported by the IAM rules
        needed = []
        if source_key is not None:
            needed.append(("kms:Decrypt", source_key))
        if replica_key:
            needed.append(("kms:Encrypt", replica_key))
        for action, key_ref in needed:
            candidates = {key_ref}
            key = view.kms_key(key_ref)
            if key is not None:
                candidates |= {key.props.get("arn")} - {None}
            if not any(documents.grants(d, action, c) for d in policy_documents for c in candidates):
                report_violation(
                    f"{where}: replication {describe(role)} is not allowed {action} on key {key_ref}; "
                    f"objects would replicate FAILED (never retried). Grant {action} on that key ARN "
                    "in the role's policy.",
                    role.urn,
                )
