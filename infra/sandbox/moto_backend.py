"""Access to the in-process moto backend, and the fixes the sandbox makes to moto.

The sandbox runs moto in its own process as ``moto.server.ThreadedMotoServer`` so that the
emulators can reach moto's S3 backend directly, for what the S3 API cannot express:

- ``x-amz-replication-status`` (PENDING / COMPLETED / FAILED on a source version, REPLICA on
  a replica) is set by S3 itself, never by a client, and moto never sets it. The sandbox
  keeps the status on moto's version object (attribute ``_sandbox_replication_status``) and
  :func:`install` patches ``FakeKey.response_dict`` so HEAD/GET return it as the header
  (boto3: ``head_object(...)["ReplicationStatus"]``).
- moto 5.2's GetBucketReplication answers every rule with ``Filter: {Prefix: ""}`` and
  ``DeleteMarkerReplication: Disabled`` and drops ``SourceSelectionCriteria``, whatever was
  put. :func:`install` patches the response to return the configuration as stored, so the
  replication emulator (and the drill's readiness checks) read the real rule.
- moto 5.2 evaluates bucket policies on object requests, but a statement whose Condition
  does not match returns DENIED whatever its Effect, and it passes no request context: the
  program's TLS-only policy (Deny when ``aws:SecureTransport`` is ``false``) then denies
  every PutObject/GetObject. :func:`install` patches ``FakeBucket.get_permission`` to
  evaluate statements as IAM does (a statement whose condition does not match does not
  apply) with the context ``aws:SecureTransport = true``: the sandbox's loopback HTTP
  endpoints stand in for AWS's HTTPS ones.

- moto 5.2's PutBucketLogging check of the target bucket's policy crashes on a statement
  whose ``Principal`` is the string ``"*"`` (such as the TLS-only Deny) and only accepts a
  ``Resource`` spelled exactly ``<bucket>/<prefix>*``. :func:`install` patches it to do what
  S3 documents ("Permissions for log delivery"): an Allow of ``s3:PutObject`` to
  ``logging.s3.amazonaws.com`` on a resource that covers the target prefix.

:func:`install` / :func:`uninstall` are reference-counted (several sandboxes may share a
process); with no sandbox running, moto behaves as shipped.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3 import exceptions as s3_exceptions
from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses

STATUS_ATTRIBUTE = "_sandbox_replication_status"
REPLICATION_STATUSES = ("PENDING", "COMPLETED", "FAILED", "REPLICA")

_lock = threading.Lock()
_installed = 0
_originals: dict[str, Any] = {}

_RULE_FIELDS = ("ID", "Priority", "Status", "Filter", "Prefix", "DeleteMarkerReplication",
                "SourceSelectionCriteria", "ExistingObjectReplication", "Destination")


def _response_dict(self: Any) -> dict[str, Any]:
    headers = _originals["response_dict"].fget(self)
    status = getattr(self, STATUS_ATTRIBUTE, None)
    if status is not None:
        headers["x-amz-replication-status"] = status
    return headers


def _stored_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out = {k: rule[k] for k in _RULE_FIELDS if k in rule}
    if "Filter" in out:
        flt = out["Filter"] or {}
        if "Prefix" in flt and flt["Prefix"] is None:  # <Prefix></Prefix> parses to None
            flt = {**flt, "Prefix": ""}
        out["Filter"] = flt
    return out


def _get_bucket_replication(self: Any) -> Any:
    self.data["Action"] = "GetBucketReplication"
    replication = self.backend.get_bucket_replication(self.bucket_name)
    if not replication:
        raise s3_responses.ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
    rules = [_stored_rule(rule) for rule in replication["Rule"]]
    return self.serialized(s3_responses.ActionResult(
        {"ReplicationConfiguration": {"Role": replication["Role"], "Rules": rules}}))


# The request context the sandbox evaluates bucket-policy conditions with.
REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


def conditions_match(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """IAM condition evaluation for the operators bucket policies commonly use (moto's accepts anything).

    Bool, String(Not)Equals(IgnoreCase), String(Not)Like, Arn(Not)Like/Equals and Null, with ``...IfExists``; a key
    missing from the context fails the condition (passes with IfExists). Any other operator
    does not match, so a statement using it never applies in the sandbox.
    """
    import fnmatch

    for operator, block in conditions.items():
        if_exists = operator.endswith("IfExists")
        op = operator[: -len("IfExists")] if if_exists else operator
        for key, expected in (block or {}).items():
            values = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
            actual = context.get(key)
            if op == "Null":
                if (actual is None) != (values[0].lower() == "true"):
                    return False
                continue
            if actual is None:
                if if_exists:
                    continue
                return False
            if op == "Bool":
                ok = actual.lower() in [v.lower() for v in values]
            elif op in ("StringEquals", "StringNotEquals"):
                ok = (actual in values) == (op == "StringEquals")
            elif op in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
                ok = (actual.lower() in [v.lower() for v in values]) == (op == "StringEqualsIgnoreCase")
            elif op in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"):
                positive = op in ("StringLike", "ArnLike", "ArnEquals")
                ok = any(fnmatch.fnmatchcase(actual, v) for v in values) == positive
            else:
                return False
            if not ok:
                return False
    return True


def _get_permission(self: Any, action: str, resource: str) -> Any:
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    permitted = False
    for raw in statements:
        statement = IAMPolicyStatement(raw)
        if "NotAction" in raw:
            concerned = not statement._check_element_matches("NotAction", action)
        else:
            concerned = "Action" in raw and statement._check_element_matches("Action", action)
        if not concerned or statement.is_unknown_principal(raw.get("Principal")):
            continue
        if raw.get("Resource") and not statement._check_element_matches("Resource", resource):
            continue
        if not conditions_match(raw.get("Condition") or {}, REQUEST_CONTEXT):
            continue  # the statement does not apply to this request
        if raw.get("Effect") == "Deny":
            return PermissionResult.DENIED
        permitted = True
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def _log_permissions_enabled_policy(target_bucket: Any, target_prefix: Optional[str]) -> bool:
    import fnmatch

    if not target_bucket.policy:
        return False
    raw = target_bucket.policy
    policy = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    statements = policy.get("Statement") or []
    key = f"arn:{target_bucket.partition}:s3:::{target_bucket.name}/{target_prefix or ''}x"
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        services = [services] if isinstance(services, str) else services or []
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else resources or []
        if (statement.get("Effect") == "Allow" and "logging.s3.amazonaws.com" in services
                and any(fnmatch.fnmatchcase("s3:PutObject", a) for a in actions)
                and any(fnmatch.fnmatchcase(key, r) for r in resources)):
            return True
    return False


def _check_moto() -> None:
    """The patches target moto 5.2's internals: fail loudly, not subtly, on a moto that moved them."""
    missing = [name for name, ok in (
        ("FakeKey.response_dict (property)", isinstance(s3_models.FakeKey.__dict__.get("response_dict"), property)),
        ("S3Response.get_bucket_replication", hasattr(s3_responses.S3Response, "get_bucket_replication")),
        ("FakeBucket.get_permission", hasattr(s3_models.FakeBucket, "get_permission")),
        ("moto.s3.responses.ActionResult", hasattr(s3_responses, "ActionResult")),
        ("FakeBucket._log_permissions_enabled_policy",
         isinstance(s3_models.FakeBucket.__dict__.get("_log_permissions_enabled_policy"), staticmethod)),
    ) if not ok]
    if missing:
        import moto

        raise RuntimeError(f"the sandbox's moto fixes do not fit moto {moto.__version__} (missing: "
                           f"{', '.join(missing)}); the sandbox is written against moto 5.2")


def install() -> None:
    global _installed
    with _lock:
        if _installed == 0:
            _check_moto()
            _originals["get_permission"] = s3_models.FakeBucket.get_permission
            s3_models.FakeBucket.get_permission = _get_permission  # type: ignore[assignment]
            _originals["response_dict"] = s3_models.FakeKey.__dict__["response_dict"]
            _originals["get_bucket_replication"] = s3_responses.S3Response.get_bucket_replication
            s3_models.FakeKey.response_dict = property(_response_dict)  # type: ignore[assignment]
            s3_responses.S3Response.get_bucket_replication = _get_bucket_replication  # type: ignore[assignment]
            _originals["log_permissions"] = s3_models.FakeBucket.__dict__["_log_permissions_enabled_policy"]
            s3_models.FakeBucket._log_permissions_enabled_policy = staticmethod(_log_permissions_enabled_policy)  # type: ignore[assignment]
        _installed += 1


def uninstall() -> None:
    global _installed
    with _lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed == 0:
            s3_models.FakeKey.response_dict = _originals.pop("response_dict")  # type: ignore[assignment]
            s3_responses.S3Response.get_bucket_replication = _originals.pop("get_bucket_replication")  # type: ignore[assignment]
            s3_models.FakeBucket.get_permission = _originals.pop("get_permission")  # type: ignore[assignment]
            s3_models.FakeBucket._log_permissions_enabled_policy = _originals.pop("log_permissions")  # type: ignore[assignment]


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    delete_marker: bool
    last_modified: datetime
    obj: Any  # moto's FakeKey / FakeDeleteMarker

    @property
    def replication_status(self) -> Optional[str]:
        return getattr(self.obj, STATUS_ATTRIBUTE, None)


class S3Backend:
    """The versions of a bucket in write order, and their replication status."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID, partition: str = "aws") -> None:
        self.account_id = account_id
        self.partition = partition

    @property
    def _backend(self) -> Any:
        return s3_models.s3_backends[self.account_id][self.partition]

    def _bucket(self, name: str) -> Any:
        try:
            return self._backend.get_bucket(name)
        except s3_exceptions.MissingBucket as exc:
            raise KeyError(name) from exc

    def bucket_names(self) -> list[str]:
        return sorted(self._backend.buckets)

    def replication_rules(self, bucket: str) -> list[dict[str, Any]]:
        """The bucket's replication rules exactly as stored by PutBucketReplication (what
        GetBucketReplication returns with :func:`install`'s fix), Priority as an int; KeyError if
        the bucket is gone."""
        config = getattr(self._bucket(bucket), "replication", None)
        if not config:
            return []
        rules = config.get("Rule") or []
        if isinstance(rules, dict):
            rules = [rules]
        out = []
        for rule in rules:
            stored = _stored_rule(rule)
            stored["Priority"] = int(stored.get("Priority") or 0)
            out.append(stored)
        return out

    def replication_role(self, bucket: str) -> Optional[str]:
        """The role ARN the bucket's replication configuration names (None without one)."""
        config = getattr(self._bucket(bucket), "replication", None)
        return (config or {}).get("Role") or None

    def bucket_region(self, bucket: str) -> str:
        return str(self._bucket(bucket).region_name)

    def versions(self, bucket: str) -> list[Version]:
        """Every version and delete marker of ``bucket``, oldest first (write order); KeyError if it is gone."""
        store = self._bucket(bucket).keys
        for _ in range(10):  # moto's server thread may add keys while we read
            try:
                names = list(store.keys())
                break
            except RuntimeError:
                continue
        else:
            names = []
        out: list[Version] = []
        for name in names:
            for position, obj in enumerate(list(store.getlist(name, []))):
                delete_marker = isinstance(obj, s3_models.FakeDeleteMarker)
                out.append(Version(name, str(obj.version_id), delete_marker, obj.last_modified, obj))
        out.sort(key=lambda v: v.last_modified)  # stable: equal times keep per-key write order
        return out

    def set_status(self, version: Version, status: str) -> None:
        if status not in REPLICATION_STATUSES:
            raise ValueError(f"unknown replication status {status!r}; use one of {REPLICATION_STATUSES}")
        setattr(version.obj, STATUS_ATTRIBUTE, status)

    def find(self, bucket: str, key: str, version_id: str) -> Optional[Version]:
        try:
            store = self._bucket(bucket).keys
        except KeyError:
            return None
        for obj in list(store.getlist(key, [])):
            if str(obj.version_id) == version_id:
                return Version(key, version_id, isinstance(obj, s3_models.FakeDeleteMarker), obj.last_modified, obj)
        return None


def issue_certificate(arn: str, region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
    """Mark a pending ACM certificate ISSUED, as ACM does once its DNS validation record resolves.

    moto flips a pending certificate to ISSUED after ``MOTO_ACM_VALIDATION_WAIT`` seconds
    (60 by default, read once at import) whatever DNS says; the sandbox's CertificateValidation
    handler checks the validation record itself and then issues the certificate here.
    """
    from moto.acm.models import acm_backends

    certificate = acm_backends[account_id][region].get_certificate(arn)
    if certificate.status == "PENDING_VALIDATION":
        certificate.status = "ISSUED"
    return certificate.status
