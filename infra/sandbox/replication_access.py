"""May the replication role replicate this version? S3's permission check, done before each copy.

S3 replicates as the role named in the bucket's replication configuration (S3 User Guide,
"Setting up permissions for live replication"): it assumes the role (trust:
``s3.amazonaws.com``), reads the source with ``s3:GetObjectVersionForReplication`` (and the
bucket's configuration with ``s3:GetReplicationConfiguration`` / ``s3:ListBucket``), writes
with ``s3:ReplicateObject`` (``s3:ReplicateDelete`` for delete markers) and, for SSE-KMS
objects, decrypts with the source key and encrypts with the replica key through S3 in each
key's Region (``kms:ViaService``, ``kms:EncryptionContext:aws:s3:arn``). The replication
actions have no API a client could call, so moto cannot authorize them: this module asks the
same question of the role's policies as stored in the emulator (and, for keys, of the key
policy), with the request context S3 would send. A "no" leaves the object FAILED, which S3
never retries (S3 User Guide, "Getting replication status information": FAILED).

Evaluation: an explicit Deny wins; otherwise a matching Allow is needed (action and resource
wildcards as IAM matches them; conditions by :func:`infra.sandbox.moto_backend.conditions_match`).
A key's policy must allow the role, directly or by naming the account (delegation to IAM).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from typing import Any, Mapping, Optional

from infra.sandbox.iam_enforcement import IamEnforcement, TrustRefused
from infra.sandbox.moto_backend import conditions_match

logger = logging.getLogger(__name__)

ALLOW, DENY, IMPLICIT = "allow", "deny", "implicit deny"


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, dict)) else list(value or [])


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower() if p.startswith(("s3:", "kms:")) else value,
                                   p.lower() if p.startswith(("s3:", "kms:")) else p)
               for p in _as_list(patterns) if isinstance(p, str))


def evaluate(documents: list[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, str],
             principal: Optional[str] = None, account_id: Optional[str] = None) -> str:
    """IAM's decision for one request over identity (``principal`` None) or resource policies."""
    decision = IMPLICIT
    for document in documents:
        for statement in _statements(document):
            if "NotAction" in statement:
                if _matches(statement["NotAction"], action):
                    continue
            elif not _matches(statement.get("Action"), action):
                continue
            if "Resource" in statement and not _matches(statement["Resource"], resource):
                continue
            if principal is not None and not _principal_named(statement.get("Principal"), principal, account_id):
                continue
            if not conditions_match(statement.get("Condition") or {}, dict(context)):
                continue
            if statement.get("Effect") == "Deny":
                return DENY
            if statement.get("Effect") == "Allow":
                decision = ALLOW
    return decision


def _principal_named(value: Any, principal: str, account_id: Optional[str]) -> bool:
    if value == "*":
        return True
    aws = _as_list(value.get("AWS")) if isinstance(value, Mapping) else []
    root = f":iam::{account_id}:root"
    return any(a == "*" or a == principal or a == account_id or (account_id and str(a).endswith(root)) for a in aws)


class ReplicationAccess:
    """Answers "may ``role_arn`` replicate this version?" with the reason when it may not."""

    def __init__(self, enforcement: IamEnforcement) -> None:
        self.enforcement = enforcement
        self._assumed: dict[str, Optional[str]] = {}  # role ARN -> None (ok) or why S3 cannot assume it

    def _assume(self, role_arn: str) -> Optional[str]:
        if role_arn not in self._assumed:
            try:
                self.enforcement.assume_as_service(role_arn, "s3.amazonaws.com", "s3-replication")
                self._assumed[role_arn] = None
            except TrustRefused as exc:
                self._assumed[role_arn] = str(exc)
        return self._assumed[role_arn]

    def _iam(self, role_arn: str, action: str, resource: str, context: Mapping[str, str]) -> Optional[str]:
        decision = evaluate(self.enforcement.role_policies(role_arn), action, resource, context)
        if decision == ALLOW:
            return None
        role = role_arn.rsplit("/", 1)[-1]
        how = "explicitly denies" if decision == DENY else "does not allow"
        return f"the replication role {role}'s policy {how} {action} on {resource}"

    def _key(self, role_arn: str, action: str, key_arn: str, context: Mapping[str, str]) -> Optional[str]:
        policy = self._key_policy(key_arn)
        if policy is None:
            return f"{action}: KMS key {key_arn} does not exist in the emulator"
        account = self.enforcement.account_id
        by_key = evaluate([policy], action, key_arn, context, principal=role_arn, account_id=account)
        if by_key == DENY:
            return f"the key policy of {key_arn} denies {action} to the replication role"
        if by_key != ALLOW:
            return f"the key policy of {key_arn} does not allow {action} to the replication role or its account"
        delegated = _delegates_to_account(policy, action, account)
        if delegated and not _names_role(policy, role_arn, action):
            return self._iam(role_arn, action, key_arn, context)
        return None

    def _key_policy(self, key_arn: str) -> Optional[dict[str, Any]]:
        from moto.kms.models import kms_backends

        parts = key_arn.split(":")
        if len(parts) < 6:
            return None
        region, key_id = parts[3], parts[5].split("/", 1)[-1]
        key = kms_backends[self.enforcement.account_id][region].keys.get(key_id)
        if key is None:
            return None
        return json.loads(key.policy) if isinstance(key.policy, str) else key.policy

    def check(self, *, role_arn: Optional[str], source: str, destination: str, key: str, delete_marker: bool,
              source_region: str, destination_region: str, source_key_arn: Optional[str] = None,
              replica_key_arn: Optional[str] = None) -> Optional[str]:
        """None when the role may replicate ``key`` from ``source`` to ``destination``, else why not."""
        if not role_arn:
            return f"the replication configuration of {source} names no role"
        refused = self._assume(role_arn)
        if refused:
            return refused
        src, dst = f"arn:aws:s3:::{source}", f"arn:aws:s3:::{destination}"
        checks: list[tuple[str, str, Mapping[str, str]]] = [
            ("s3:GetReplicationConfiguration", src, {}),
            ("s3:ListBucket", src, {}),
            ("s3:GetObjectVersionForReplication", f"{src}/{key}", {}),
            ("s3:ReplicateDelete" if delete_marker else "s3:ReplicateObject", f"{dst}/{key}", {}),
        ]
        for action, resource, context in checks:
            reason = self._iam(role_arn, action, resource, context)
            if reason:
                return reason
        if source_key_arn and not delete_marker:
            context = {"kms:ViaService": f"s3.{source_region}.amazonaws.com",
                       "kms:EncryptionContext:aws:s3:arn": f"{src}/{key}"}
            reason = self._key(role_arn, "kms:Decrypt", source_key_arn, context)
            if reason:
                return reason
            if not replica_key_arn:
                return f"{key} is SSE-KMS and the rule names no replica key"
            context = {"kms:ViaService": f"s3.{destination_region}.amazonaws.com",
                       "kms:EncryptionContext:aws:s3:arn": f"{dst}/{key}"}
            reason = self._key(role_arn, "kms:Encrypt", replica_key_arn, context)
            if reason:
                return reason
        return None


def _allowed_principals(policy: Mapping[str, Any], action: str) -> list[str]:
    """The AWS principals the policy's Allow statements for ``action`` name."""
    found: list[str] = []
    for statement in _statements(policy):
        principal = statement.get("Principal")
        if statement.get("Effect") == "Allow" and _matches(statement.get("Action"), action) \
                and isinstance(principal, Mapping):
            found.extend(str(a) for a in _as_list(principal.get("AWS")))
    return found


def _delegates_to_account(policy: Mapping[str, Any], action: str, account_id: str) -> bool:
    return any(a == account_id or a.endswith(f":iam::{account_id}:root")
               for a in _allowed_principals(policy, action))


def _names_role(policy: Mapping[str, Any], role_arn: str, action: str) -> bool:
    return role_arn in _allowed_principals(policy, action)
