"""IAM rules (resource validations on identity policies and role trust policies).

Identity policy documents are read from ``aws:iam/rolePolicy``, ``userPolicy``,
``groupPolicy``, ``policy`` (managed) and a Role's ``inlinePolicies``. Only Allow statements
are judged; Deny statements (such as the TLS-only deny in a bucket policy) may use ``*``.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.policy import documents
from infra.policy.stack import ROLE, seq, setting

IDENTITY_POLICY_TYPES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/policy:Policy",
)
# Verbs that only read. Anything else (Put, Create, Delete, Replicate, Encrypt, PassRole, ...)
# counts as a write for CKV_AWS_355, which keeps the rule conservative.
# "Test": route53:TestDNSAnswer only simulates a query (Service Authorization Reference, Amazon
# Route 53: access level Read, no resource types, so Resource "*").
READ_VERBS = ("Get", "List", "Describe", "Head", "View", "Lookup", "Search", "Check", "TestDNSAnswer")
SERVICE_PRINCIPAL_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")


def _name(args: ResourceValidationArgs) -> str:
    return f"{args.resource_type} '{args.name}'"


def _identity_documents(args: ResourceValidationArgs, report_violation: ReportViolation) -> Iterator[tuple[str, dict]]:
    """(where, document) for every identity policy on this resource."""
    values: list[tuple[str, Any]] = []
    if args.resource_type in IDENTITY_POLICY_TYPES:
        values.append(("policy", args.props.get("policy")))
    elif args.resource_type == ROLE:
        for index, inline in enumerate(seq(args.props.get("inlinePolicies"))):
            values.append((f"inline_policies[{index}] ({inline.get('name')})", inline.get("policy")))
    for where, value in values:
        try:
            document = documents.parse(value)
        except documents.InvalidDocument as exc:
            report_violation(f"{_name(args)} {where} is {exc}; pass a JSON policy document.", None)
            continue
        if document is not None:
            yield where, document


def _statement_label(statement: Mapping[str, Any], index: int) -> str:
    return f"statement {statement.get('Sid') or index}"


def validate_no_wildcard_action(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for where, document in _identity_documents(args, report_violation):
        for index, statement in enumerate(documents.statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            label = _statement_label(statement, index)
            if "NotAction" in statement:
                report_violation(
                    f"{_name(args)} {where} {label} allows NotAction (everything but a list); "
                    "list the exact actions under Action instead.",
                    None,
                )
            wild = [a for a in documents.as_list(statement.get("Action")) if a == "*" or str(a).endswith(":*")]
            if wild:
                report_violation(
                    f"{_name(args)} {where} {label} allows {wild}; list the exact actions the "
                    "principal needs (e.g. s3:GetObject, s3:PutObject).",
                    None,
                )


def is_write_action(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    if verb in ("*", ""):
        return True
    return not any(verb.startswith(read) for read in READ_VERBS)


def validate_no_wildcard_resource_for_writes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    allowed = [str(a) for a in setting(args, "allowedActions", [])]
    for where, document in _identity_documents(args, report_violation):
        for index, statement in enumerate(documents.statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            everything = "*" in documents.as_list(statement.get("Resource")) or "NotResource" in statement
            if not everything:
                continue
            writes = [
                a
                for a in documents.as_list(statement.get("Action"))
                if is_write_action(str(a)) and not any(documents.action_matches(p, str(a)) for p in allowed)
            ]
            if writes:
                report_violation(
                    f"{_name(args)} {where} {_statement_label(statement, index)} allows write actions "
                    f"{writes} on Resource '*'; scope Resource to the ARNs written (bucket/prefix, key, "
                    "role ARNs), or list an unscopable action in this policy's allowedActions.",
                    None,
                )


def validate_no_passrole_on_wildcard(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for where, document in _identity_documents(args, report_violation):
        for index, statement in enumerate(documents.statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            passes = [a for a in documents.as_list(statement.get("Action")) if documents.action_matches(str(a), "iam:PassRole")]
            resources = documents.as_list(statement.get("Resource"))
            any_role = "NotResource" in statement or any(
                documents.resource_matches(str(r), "arn:aws:iam::000000000000:role/any-role-at-all") for r in resources
            )
            if passes and any_role:
                report_violation(
                    f"{_name(args)} {where} {_statement_label(statement, index)} allows {passes} on "
                    f"{resources or 'NotResource'} (any role: privilege escalation); limit Resource to "
                    "the role ARNs it must pass and add an iam:PassedToService condition.",
                    None,
                )


def _principal_problems(principal: Any) -> list[str]:
    if principal == "*" or principal is None:
        return [f"Principal {principal!r} lets anyone assume the role"]
    problems = []
    if not isinstance(principal, Mapping):
        return [f"Principal {principal!r} is not a map of principal types"]
    for service in documents.as_list(principal.get("Service")):
        if "*" in str(service) or "?" in str(service) or not str(service).endswith(SERVICE_PRINCIPAL_SUFFIXES):
            problems.append(f"Service {service!r} is not one exact service principal")
    for aws in documents.as_list(principal.get("AWS")):
        if "*" in str(aws):
            problems.append(f"AWS principal {aws!r} is a wildcard")
    for federated in documents.as_list(principal.get("Federated")):
        if "*" in str(federated):
            problems.append(f"Federated principal {federated!r} is a wildcard")
    return problems


def validate_trust_exact_service(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ROLE:
        return
    try:
        document = documents.parse(args.props.get("assumeRolePolicy"))
    except documents.InvalidDocument as exc:
        report_violation(f"{_name(args)} has an assume_role_policy that is {exc}; pass a JSON trust policy.", None)
        return
    for index, statement in enumerate(documents.statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement:
            report_violation(
                f"{_name(args)} trust {_statement_label(statement, index)} uses NotPrincipal; name the "
                "exact principal (e.g. {\"Service\": \"s3.amazonaws.com\"}).",
                None,
            )
        for problem in _principal_problems(statement.get("Principal")):
            report_violation(
                f"{_name(args)} trust {_statement_label(statement, index)}: {problem}; name exactly "
                "the service that assumes it, e.g. {\"Service\": \"s3.amazonaws.com\"}.",
                None,
            )
