"""The drill operator role: present, and limited to what a drill calls (no checkov / trivy id).

``recovery drill`` assumes the role tagged ``dr-platform:purpose = drill-operator`` (the
descriptor's ``drill.operator_role_arn``). The rule holds it to
:data:`infra.drill_operator_policy.ALL_ACTIONS`, keeps every action that changes something
off ``Resource: "*"``, and keeps object access (which the drill's canary gets through the
job role) out of it.

It also covers what the offline sandbox cannot check (docs/sandbox-iam.md): moto authorizes
Route 53, Auto Scaling and FIS calls against ``Resource: "*"`` only when the sandbox does not
resolve the resource, and never evaluates a condition a policy puts on them; so no operator
statement may carry a ``Condition`` or a ``NotResource`` whose effect the sandbox never saw.
"""

from __future__ import annotations

from typing import Any, Iterator

from pulumi_policy import ReportViolation, StackValidationArgs

from infra.drill_operator_policy import ALL_ACTIONS, MUTATING_ACTIONS, PURPOSE_TAG
from infra.policy import documents
from infra.policy.stack import ROLE, StackView, describe


def operator_roles(view: StackView) -> list[Any]:
    key, value = PURPOSE_TAG
    return [r for r in view.of_type(ROLE) if (r.props.get("tags") or {}).get(key) == value]


def _statements(view: StackView, role: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for raw in view.role_documents(role):
        try:
            document = documents.parse(raw)
        except documents.InvalidDocument:
            continue  # iam-no-wildcard-action reports unparsable documents
        for index, statement in enumerate(documents.statements(document or {})):
            if statement.get("Effect") == "Allow":
                yield index, statement


def validate_drill_operator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    if not view.resources:
        return
    roles = operator_roles(view)
    if len(roles) != 1:
        report_violation(
            f"the stack has {len(roles)} drill operator roles (tagged {PURPOSE_TAG[0]}={PURPOSE_TAG[1]}); "
            "exactly one is needed so that only it may run failover actions (infra/drill_operator.py).",
            None,
        )
        return
    role = roles[0]
    for index, statement in _statements(view, role):
        label = f"{describe(role)} statement {statement.get('Sid') or index}"
        actions = [str(a) for a in documents.as_list(statement.get("Action"))]
        extra = sorted(a for a in actions if a not in ALL_ACTIONS)
        if extra or "NotAction" in statement:
            report_violation(
                f"{label} allows {extra or 'NotAction'}, which no drill calls; a drill operator may only "
                f"have {sorted(ALL_ACTIONS)} (infra/drill_operator_policy.py).",
                role.urn,
            )
        resources = [str(r) for r in documents.as_list(statement.get("Resource"))]
        mutating = sorted(set(actions) & MUTATING_ACTIONS)
        if mutating and ("*" in resources or "NotResource" in statement):
            report_violation(
                f"{label} allows {mutating} on every resource; scope them to the platform's health check, "
                "standby group and FIS templates.",
                role.urn,
            )
        if "Condition" in statement:
            report_violation(
                f"{label} has a Condition, which the offline sandbox cannot evaluate on these services "
                "(docs/sandbox-iam.md), so a drill there would not prove it; scope by Resource instead.",
                role.urn,
            )
