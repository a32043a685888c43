"""KMS key rules (resource validations on ``aws:kms/key:Key``)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.policy import documents
from infra.policy.stack import KMS_KEY

SYMMETRIC = "SYMMETRIC_DEFAULT"


def _name(args: ResourceValidationArgs) -> str:
    return f"{args.resource_type} '{args.name}'"


def validate_rotation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != KMS_KEY:
        return
    spec = args.props.get("customerMasterKeySpec") or args.props.get("keySpec") or SYMMETRIC
    if spec != SYMMETRIC:
        return  # AWS rotates only symmetric encryption keys
    if args.props.get("enableKeyRotation") is not True:
        report_violation(
            f"{_name(args)} does not rotate its key material; set enable_key_rotation=True "
            "(optionally rotation_period_in_days).",
            None,
        )


def validate_key_policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != KMS_KEY:
        return
    try:
        document = documents.parse(args.props.get("policy"))
    except documents.InvalidDocument as exc:
        report_violation(f"{_name(args)} has a key policy that is {exc}; pass a JSON key policy document.", None)
        return
    if document is None:
        report_violation(
            f"{_name(args)} has no key policy, so AWS applies its default (kms:* for the account); "
            "set policy= to a JSON key policy naming who administers and who uses the key.",
            None,
        )
    elif not documents.statements(document):
        report_violation(f"{_name(args)} has a key policy without statements; add the admin and use statements.", None)
