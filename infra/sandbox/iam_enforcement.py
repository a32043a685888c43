"""IAM enforcement in the sandbox: every request is signed by a principal and authorized by moto.

:meth:`IamEnforcement.start` (after the program is deployed):

1. creates the account's administrators, the stand-ins for the person who deployed the
   stack: the IAM user ``dr-platform-sandbox-admin`` whose access key is the sandbox's
   well-known ``sandbox``/``sandbox`` (what ``make drill`` and the tests put in the
   environment), and a session of the role of the same name whose keys are
   :data:`~infra.sandbox.aws_mocks.FAKE_CREDENTIALS` (what the sandbox's own emulators sign
   with). Both may do everything: they are the account, not part of the program;
2. installs :mod:`infra.sandbox.moto_iam` and switches moto's enforcement on
   (``settings.INITIAL_NO_AUTH_ACTION_COUNT = 0``, what the environment variable of the same
   name sets in server mode). From then on an unknown key, a bad signature or a call the
   principal's policies do not allow is refused (``InvalidAccessKeyId``,
   ``SignatureDoesNotMatch``, ``AccessDenied``).

Roles trusted by an AWS service (the job role by EC2, the replication role by S3) are
assumed by that service, never by a user: :meth:`IamEnforcement.assume_as_service` checks
the role's trust names the service and calls the emulator's STS ``AssumeRole``.

moto's settings are per process: the sandbox runs in a process of its own
(``python -m infra.sandbox up``); in a shared process, enforcement is reference-counted and
restored on :meth:`stop`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional

from moto import settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from infra.sandbox import moto_iam
from infra.sandbox.aws_mocks import FAKE_CREDENTIALS

logger = logging.getLogger(__name__)

ADMIN = "dr-platform-sandbox-admin"
#: the operator's keys (environment of `make drill` and the tests): the admin user's access key
OPERATOR_KEYS = ("sandbox", "sandbox")
ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "TheAccountItself", "Effect": "Allow", "Action": "*", "Resource": "*"}]})
SESSION_SECONDS = 3600

_lock = threading.Lock()
_enforcing = 0
_saved: dict[str, Any] = {}


class TrustRefused(Exception):
    """A service tried to assume a role whose trust policy does not name it."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: dt.datetime
    arn: str

    def as_session_kwargs(self) -> dict[str, str]:
        return {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key,
                "aws_session_token": self.session_token}


def trusted_services(trust: Any) -> set[str]:
    document = json.loads(trust) if isinstance(trust, str) else (trust or {})
    statements = document.get("Statement") or []
    services: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        if statement.get("Effect") != "Allow" or "sts:AssumeRole" not in actions:
            continue
        value = (statement.get("Principal") or {}).get("Service") if isinstance(statement.get("Principal"), dict) else None
        services.update([value] if isinstance(value, str) else value or [])
    return services


class IamEnforcement:
    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID, partition: str = "aws") -> None:
        self.account_id = account_id
        self.partition = partition
        self.started = False

    @property
    def _iam(self) -> Any:
        return iam_backends[self.account_id][self.partition]

    @property
    def _sts(self) -> Any:
        return sts_backends[self.account_id][self.partition]

    def admin_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:user/{ADMIN}"

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "IamEnforcement":
        global _enforcing
        self._create_admins()
        moto_iam.install()
        with _lock:
            if _enforcing == 0:
                _saved["count"] = settings.INITIAL_NO_AUTH_ACTION_COUNT
                _saved["requests"] = ActionAuthenticatorMixin.request_count
                settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
            _enforcing += 1
        self.started = True
        logger.info("IAM enforcement on: every request is authorized by its principal's policies")
        return self

    def stop(self) -> None:
        global _enforcing
        if not self.started:
            return
        self.started = False
        with _lock:
            _enforcing -= 1
            if _enforcing == 0:
                settings.INITIAL_NO_AUTH_ACTION_COUNT = _saved.pop("count")
                ActionAuthenticatorMixin.request_count = _saved.pop("requests")
        moto_iam.uninstall()

    def _create_admins(self) -> None:
        iam = self._iam
        if ADMIN not in iam.users:
            iam.create_user(region_name="us-east-1", user_name=ADMIN, path="/", tags=[])
            iam.put_user_policy(ADMIN, "the-account", ADMIN_POLICY)
            key = iam.create_access_key(ADMIN)
            iam.access_keys.pop(key.access_key_id, None)
            key.access_key_id, key.secret_access_key = OPERATOR_KEYS
            iam.access_keys[key.access_key_id] = key
        try:
            role = iam.get_role(ADMIN)
        except Exception:  # moto's NoSuchEntity
            trust = json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:{self.partition}:iam::{self.account_id}:root"},
                "Action": "sts:AssumeRole"}]})
            role = iam.create_role(role_name=ADMIN, assume_role_policy_document=trust, path="/",
                                   permissions_boundary=None, description="the sandbox itself",
                                   tags=[], max_session_duration="3600", linked_service=None)
            iam.put_role_policy(ADMIN, "the-account", ADMIN_POLICY)
        if not any(s.access_key_id == FAKE_CREDENTIALS["aws_access_key_id"] for s in self._sts.assumed_roles):
            session = self._sts.assume_role(region_name="us-east-1", role_session_name="sandbox", role_arn=role.arn,
                                            policy=None, duration=12 * 3600, external_id=None)
            session.access_key_id = FAKE_CREDENTIALS["aws_access_key_id"]
            session.secret_access_key = FAKE_CREDENTIALS["aws_secret_access_key"]
            session.session_token = FAKE_CREDENTIALS["aws_session_token"]

    # -- sessions -------------------------------------------------------------------------------
    def assume_as_service(self, role_arn: str, service: str, session_name: str,
                          seconds: int = SESSION_SECONDS) -> Credentials:
        """``sts:AssumeRole`` by an AWS service (EC2 for an instance profile, S3 for replication).

        Refused (:class:`TrustRefused`) unless the role exists and its trust names ``service``,
        as AWS refuses it."""
        try:
            role = self._iam.get_role_by_arn(role_arn)
        except Exception as exc:  # moto's NotFoundException
            raise TrustRefused(f"{service} cannot assume {role_arn}: no such role") from exc
        if service not in trusted_services(role.assume_role_policy_document):
            raise TrustRefused(f"{service} cannot assume {role_arn}: its trust policy does not name {service}")
        session = self._sts.assume_role(region_name="us-east-1", role_session_name=session_name, role_arn=role_arn,
                                        policy=None, duration=seconds, external_id=None)
        return Credentials(session.access_key_id, session.secret_access_key, session.session_token,
                           session.expiration, session.arn)

    def role_policies(self, role_arn: str) -> list[dict[str, Any]]:
        """The role's identity policy documents (inline and attached), parsed."""
        iam = self._iam
        name = role_arn.rsplit("/", 1)[-1]
        documents = [json.loads(doc) if isinstance(doc, str) else doc
                     for doc in (iam.get_role_policy(name, p)[1] for p in iam.list_role_policies(name))]
        attached, _ = iam.list_attached_role_policies(name)
        for policy in attached:
            version = next(v for v in policy.versions if v.is_default)
            documents.append(json.loads(version.document) if isinstance(version.document, str) else version.document)
        return documents

    def role_arn_named(self, name: str) -> Optional[str]:
        try:
            return self._iam.get_role(name).arn
        except Exception:
            return None
