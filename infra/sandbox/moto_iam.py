"""The sandbox's fixes to moto 5.2's IAM enforcement (``INITIAL_NO_AUTH_ACTION_COUNT``).

With enforcement on, moto checks every request's SigV4 signature against the IAM user's
access key or the STS session it names, then evaluates that principal's identity policies
(inline and attached; for a session, its role's) for ``<service>:<Action>`` on a resource.
What it gets wrong, and what :func:`install` fixes (reference-counted like
:mod:`infra.sandbox.moto_backend`):

- Signatures of REST requests without a body (Route 53, FIS ``GET``): moto recomputes the
  signature over the request's parsed parameters (for Route 53, its headers) instead of the
  empty body, so every such call is refused with ``SignatureDoesNotMatch``. Fixed: an empty
  body is signed as empty.
- Trust policies: moto compares the caller's ARN with ``Principal.AWS`` only, so a trust
  naming the account (``arn:aws:iam::<account>:root``, which delegates to the account's IAM
  policies; IAM User Guide, "AWS JSON policy elements: Principal") never matches, and a
  trust naming only a ``Service`` crashes the request (HTTP 500). Fixed: the account root
  matches every principal of that account; a service-only trust matches no IAM principal.
- S3 action names: moto authorizes HeadBucket as ``s3:HeadBucket``, GET/PUT ``?replication``
  and ``?encryption`` as ``s3:ListBucket``/``s3:CreateBucket`` and a GET of a version as
  ``s3:GetObject``. Fixed to the IAM actions S3 checks (Service Authorization Reference,
  Amazon S3): ``s3:ListBucket``, ``s3:Get/PutReplicationConfiguration``,
  ``s3:Get/PutEncryptionConfiguration``, ``s3:GetObjectVersion``.
- Resources outside S3: moto authorizes Route 53 and Auto Scaling calls against
  ``Resource: "*"``, so a statement scoped to a health check or a group never matches.
  Fixed for the calls drills make: Route 53 health checks and hosted zones (from the path)
  and Auto Scaling groups (from ``AutoScalingGroupName``). Other services keep ``*``.

- Conditions: moto evaluates only ``StringEquals`` and only against ``sts:ExternalId``; any
  other condition counts as met, so the job role's ``s3:prefix``-limited ListBucketVersions
  allowed every prefix. Fixed: identity and trust policy conditions are evaluated by
  :func:`infra.sandbox.moto_backend.conditions_match` with the request context the sandbox
  knows: ``aws:SecureTransport`` (true: loopback stands in for TLS), ``aws:RequestedRegion``,
  ``s3:prefix`` (a List request's ``prefix``), ``sts:ExternalId``. A condition on any other
  key does not match, as IAM treats a key absent from the request; an operator it does not
  know (Numeric*, Date*, IpAddress) never matches either, so such a Deny is not enforced.
  And an Allow statement whose condition or principal does not match no longer counts as an
  explicit Deny (moto's answer), but as not applying.

Not fixed (docs/sandbox-iam.md says how each is covered):
resource-based policies on the caller's side (bucket policies are evaluated by
:mod:`infra.sandbox.moto_backend`; KMS key policies never), the S3 403-instead-of-404 rule,
KMS calls S3 makes on the caller's behalf (SSE-KMS is not authorized at all), session
policies, permission boundaries and SCPs.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from moto.iam import access_control

_lock = threading.Lock()
_installed = 0
_originals: dict[str, Any] = {}

_ROUTE53_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/(healthcheck|hostedzone)/([^/?]+)")


def _principal_matches(expected: Any, principal: str) -> bool:
    if expected in ("*", {"AWS": "*"}):
        return True
    if not isinstance(expected, dict):
        return False
    aws = expected.get("AWS")
    names = [aws] if isinstance(aws, str) else list(aws or [])
    account = principal.split(":")[4] if principal.count(":") >= 5 else None
    for name in names:
        if name == "*" or name == principal:
            return True
        if name == account or (account and name.endswith(f":iam::{account}:root")):
            return True  # the account: its IAM policies decide (moto checks them beside the trust)
        if ":role/" in name and principal.startswith(name.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/"):
            return True
    return False


def _check_principal(self: Any, principal: str) -> bool:
    expected = self._statement.get("Principal")
    if not expected:
        return True
    return _principal_matches(expected, principal)


def s3_action(method: str, path: str, moto_action: str) -> str:
    """The IAM action S3 checks for a request that moto names ``moto_action``."""
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    if "replication" in query:
        return "s3:GetReplicationConfiguration" if method == "GET" else "s3:PutReplicationConfiguration"
    if "encryption" in query:
        return "s3:GetEncryptionConfiguration" if method == "GET" else "s3:PutEncryptionConfiguration"
    if moto_action == "s3:HeadBucket":
        return "s3:ListBucket"
    if moto_action == "s3:GetObject" and "versionId" in query:
        return "s3:GetObjectVersion"
    return moto_action


def _param(data: Any, name: str) -> Optional[str]:
    value = (data or {}).get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def resolve_resource(service: str, region: str, path: str, data: Any, account_id: str) -> str:
    """The ARN a Route 53 or Auto Scaling request acts on ("*" when the sandbox does not know)."""
    if service == "route53":
        match = _ROUTE53_PATH.match(urlsplit(path).path)
        if match:
            return f"arn:aws:route53:::{match.group(1)}/{match.group(2)}"
    if service == "autoscaling":
        name = _param(data, "AutoScalingGroupName")
        if name:
            from moto.autoscaling.models import autoscaling_backends

            group = autoscaling_backends[account_id][region].autoscaling_groups.get(name)
            if group is not None:
                return group.arn
    return "*"


_context = threading.local()


def request_context(service: str, region: str, path: str) -> dict[str, str]:
    """The condition keys the sandbox can give a request (see the module docstring)."""
    context = {"aws:SecureTransport": "true", "aws:RequestedRegion": region}
    if service == "s3":
        prefix = parse_qs(urlsplit(path).query, keep_blank_values=True).get("prefix")
        if prefix is not None:
            context["s3:prefix"] = prefix[0]
    return context


def _check_conditions(self: Any, incoming: Optional[dict[str, str]]) -> bool:
    from infra.sandbox.moto_backend import conditions_match

    conditions = self._statement.get("Condition")
    if not conditions:
        return True
    return conditions_match(conditions, {**getattr(_context, "value", {}), **(incoming or {})})


def _statement_permits(self: Any, *args: Any, **kwargs: Any) -> Any:
    """moto answers DENIED for an Allow statement whose condition or principal does not match;
    IAM: such a statement does not apply (an implicit deny, which another Allow may lift)."""
    result = _originals["is_action_permitted"](self, *args, **kwargs)
    if result == access_control.PermissionResult.DENIED and self._statement.get("Effect") == "Allow":
        return access_control.PermissionResult.NEUTRAL
    return result


def _check_action_permitted(self: Any, resource: str) -> None:
    if self._service == "s3":
        self._action = s3_action(self._method, self._path, self._action)
    elif resource == "*":
        resource = resolve_resource(self._service, self._region, self._path, self._data, self.account_id)
    _context.value = request_context(self._service, self._region, self._path)
    try:
        _originals["check_action_permitted"](self, resource)
    finally:
        _context.value = {}


def _create_aws_request(self: Any) -> Any:
    if not self._body and self._method in ("GET", "HEAD", "DELETE"):
        saved = self._data
        self._data = b""
        try:
            return _originals["_create_aws_request"](self)
        finally:
            self._data = saved
    return _originals["_create_aws_request"](self)


def install() -> None:
    global _installed
    with _lock:
        if _installed == 0:
            statement, request = access_control.IAMPolicyStatement, access_control.IAMRequestBase
            missing = [n for n, ok in (("IAMPolicyStatement._check_principal", hasattr(statement, "_check_principal")),
                                       ("IAMRequestBase.check_action_permitted",
                                        hasattr(request, "check_action_permitted")),
                                       ("IAMRequestBase._create_aws_request",
                                        hasattr(request, "_create_aws_request"))) if not ok]
            if missing:
                raise RuntimeError(f"the sandbox's IAM fixes do not fit this moto (missing {missing}); "
                                   "they are written against moto 5.2")
            _originals["_check_principal"] = statement._check_principal
            _originals["_check_conditions"] = statement._check_conditions
            _originals["is_action_permitted"] = statement.is_action_permitted
            statement.is_action_permitted = _statement_permits  # type: ignore[method-assign]
            statement._check_conditions = _check_conditions  # type: ignore[method-assign]
            _originals["check_action_permitted"] = request.check_action_permitted
            _originals["_create_aws_request"] = request._create_aws_request
            request._create_aws_request = _create_aws_request  # type: ignore[method-assign]
            statement._check_principal = _check_principal  # type: ignore[method-assign]
            request.check_action_permitted = _check_action_permitted  # type: ignore[method-assign]
        _installed += 1


def uninstall() -> None:
    global _installed
    with _lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed == 0:
            access_control.IAMPolicyStatement._check_principal = _originals.pop("_check_principal")  # type: ignore[method-assign]
            access_control.IAMPolicyStatement._check_conditions = _originals.pop("_check_conditions")  # type: ignore[method-assign]
            access_control.IAMPolicyStatement.is_action_permitted = _originals.pop("is_action_permitted")  # type: ignore[method-assign]
            access_control.IAMRequestBase.check_action_permitted = _originals.pop("check_action_permitted")  # type: ignore[method-assign]
            access_control.IAMRequestBase._create_aws_request = _originals.pop("_create_aws_request")  # type: ignore[method-assign]
