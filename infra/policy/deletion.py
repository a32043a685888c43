"""Only the maintainer role may delete checkpoint objects (issue 11).

Jobs retire checkpoints logically; garbage collection, run as the stack's ``MaintainerRole``,
is the one thing that deletes. So no identity policy (role inline, RolePolicy, UserPolicy,
GroupPolicy, managed Policy) outside that component, and no bucket policy, may Allow
``s3:DeleteObject`` or ``s3:DeleteObjectVersion`` (directly or through a wildcard such as
``s3:Delete*``) on objects of a checkpoint bucket. Conditions are not evaluated: a
conditioned grant still counts (conservative).
"""

from __future__ import annotations

from typing import Any, Iterator

from pulumi_policy import ReportViolation, StackValidationArgs

from infra.policy import documents
from infra.policy.protection import CHECKPOINT_COMPONENT, CHECKPOINT_TAG, is_checkpoint_bucket
from infra.policy.stack import (
    BUCKET,
    BUCKET_POLICY,
    MANAGED_POLICY,
    ROLE,
    ROLE_POLICY,
    StackView,
    describe,
    seq,
    setting,
    type_chain,
)

MAINTAINER_COMPONENT = "dr-platform:index:MaintainerRole"
DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
_OTHER_IDENTITY = ("aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy", MANAGED_POLICY)


def _covers_objects(pattern: Any, bucket_arn: str) -> bool:
    """Whether a Resource pattern matches some object of the bucket."""
    pattern = str(pattern)
    if documents.resource_matches(pattern, f"{bucket_arn}/any-key"):
        return True
    head, sep, _ = pattern.partition("/")
    return bool(sep) and documents.resource_matches(head, bucket_arn)


def _deletes(document: Any, bucket_arns: list[str]) -> list[str]:
    """Delete actions an Allow statement of ``document`` grants on checkpoint objects."""
    try:
        parsed = documents.parse(document)
    except documents.InvalidDocument:
        return []  # iam-no-wildcard-action reports unparsable documents
    found: list[str] = []
    for statement in documents.allow_statements(parsed):
        actions = [a for a in DELETE_ACTIONS
                   if any(documents.action_matches(str(p), a) for p in documents.as_list(statement.get("Action")))]
        if not actions:
            continue
        on_objects = "NotResource" in statement or any(
            _covers_objects(p, arn) for p in documents.as_list(statement.get("Resource")) for arn in bucket_arns
        )
        if on_objects:
            found.extend(a for a in actions if a not in found)
    return found


def _identity_policies(view: StackView) -> Iterator[tuple[Any, Any, bool]]:
    """(resource, document, belongs to the maintainer component) for every identity policy."""
    component = MAINTAINER_COMPONENT
    roles = {}
    for role in view.of_type(ROLE):
        for key in ("name", "id", "arn"):
            if role.props.get(key):
                roles[role.props.get(key)] = role
    for role in view.of_type(ROLE):
        maintainer = component in type_chain(role.urn)[:-1]
        for inline in seq(role.props.get("inlinePolicies")):
            yield role, inline.get("policy"), maintainer
    for policy in view.of_type(ROLE_POLICY):
        owner = roles.get(policy.props.get("role"))
        maintainer = component in type_chain(policy.urn)[:-1] and (
            owner is None or component in type_chain(owner.urn)[:-1])
        yield policy, policy.props.get("policy"), maintainer
    for type_ in _OTHER_IDENTITY:
        for policy in view.of_type(type_):
            yield policy, policy.props.get("policy"), False


def validate_only_maintainer_deletes(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    component = setting(args, "checkpointComponentType", CHECKPOINT_COMPONENT)
    tag = setting(args, "checkpointTag", CHECKPOINT_TAG)
    buckets = [b for b in view.of_type(BUCKET) if is_checkpoint_bucket(b, component, tag)]
    arns = [str(b.props.get("arn")) for b in buckets if b.props.get("arn")]
    if not arns:
        return
    for resource, document, maintainer in _identity_policies(view):
        if maintainer:
            continue
        granted = _deletes(document, arns)
        if granted:
            report_violation(
                f"{describe(resource)} allows {granted} on checkpoint objects; only the MaintainerRole "
                "(garbage collection) may delete checkpoints. Jobs retire versions logically: drop the "
                "delete actions, or run the deletion as the stack's maintainer role.",
                resource.urn,
            )
    for policy in view.of_type(BUCKET_POLICY):
        granted = _deletes(policy.props.get("policy"), arns)
        if granted:
            report_violation(
                f"{describe(policy)} allows {granted} on checkpoint objects to a principal in the "
                "bucket policy; only the MaintainerRole's identity policy may grant deletes. Remove the "
                "Allow statement (Deny statements are fine).",
                policy.urn,
            )
