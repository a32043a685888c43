"""Stack-level data rules: protection from deletion, and a replica of every checkpoint bucket.

Protection (the ``protect`` resource option, ``resource.opts.protect``) is required for every
bucket and for every KMS key that encrypts one (losing the key loses the data), unless the
stack is listed in ``unprotectedStacks`` (default ``["dev"]``: the dev stack relaxes it on
purpose with ``protectData: false``).
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs

from infra.policy.stack import BUCKET, StackView, describe, setting, type_chain

DEFAULT_UNPROTECTED_STACKS = ["dev"]
CHECKPOINT_COMPONENT = "dr-platform:index:CheckpointBucket"
CHECKPOINT_TAG = "dr-platform:bucket-role"


def validate_data_protected(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    if view.stack in setting(args, "unprotectedStacks", DEFAULT_UNPROTECTED_STACKS):
        return
    for bucket in view.buckets(setting(args, "exemptBuckets", [])):
        if not bucket.opts.protect:
            report_violation(
                f"{describe(bucket)} in stack '{view.stack}' is not protected, so `pulumi destroy` or a "
                "replacement deletes the data; pass opts=ResourceOptions(protect=True, "
                "retain_on_delete=True), or list the stack in this policy's unprotectedStacks.",
                bucket.urn,
            )
        if bucket.props.get("forceDestroy") is True:
            report_violation(
                f"{describe(bucket)} in stack '{view.stack}' has force_destroy=True (deleting it "
                "empties every version); set force_destroy=False.",
                bucket.urn,
            )
        key_ref = view.kms_key_of(bucket)
        key = view.kms_key(key_ref) if key_ref else None
        if key is not None and not key.opts.protect:
            report_violation(
                f"{describe(key)} encrypts {describe(bucket)} but is not protected; deleting it makes "
                "every object unreadable. Pass opts=ResourceOptions(protect=True).",
                key.urn,
            )


def is_checkpoint_bucket(bucket, component: str, tag: str) -> bool:
    tags = bucket.props.get("tags") or {}
    return component in type_chain(bucket.urn)[:-1] or tag in tags


def validate_checkpoint_replica(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    component = setting(args, "checkpointComponentType", CHECKPOINT_COMPONENT)
    tag = setting(args, "checkpointTag", CHECKPOINT_TAG)
    paired: set[str] = set()
    for edge in view.replication_edges():
        if edge.source is None or edge.destination is None:
            continue
        src, dst = view.region(edge.source), view.region(edge.destination)
        if src and dst and src != dst:
            paired |= {edge.source.urn, edge.destination.urn}
    for bucket in view.of_type(BUCKET):
        if is_checkpoint_bucket(bucket, component, tag) and bucket.urn not in paired:
            report_violation(
                f"{describe(bucket)} holds checkpoints but has no replica in another region (no "
                "enabled replication rule between it and a bucket in a different region); pair it "
                "with a CheckpointBucket on the secondary provider and a BucketReplication.",
                bucket.urn,
            )
