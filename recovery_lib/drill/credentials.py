"""Whose credentials a drill uses: the drill operator role for control-plane calls, the job
role (an instance profile) for every recovery_lib call.

- :func:`operator_session`: ``sts:AssumeRole`` of the descriptor's ``drill.operator_role_arn``
  with the caller's own credentials (the standard chain, or ``base``), refreshed before they
  expire. Without that field the caller's own credentials are used, as before.
- :func:`instance_profile_session`: credentials from an instance metadata endpoint, as an
  instance with the job role's profile gets them (the sandbox serves one under IAM
  enforcement and names it in ``sandbox.iam.instance_metadata_url``).
- :func:`access_denied`: a ``ConfigError`` naming the principal, the action and the
  resource when AWS refused a call, so a drill's verdict says what permission is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Optional

import boto3
import botocore.credentials
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.exceptions import ClientError

from recovery_lib.errors import ConfigError

SESSION_NAME = "dr-platform-drill"
STS_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403")


def operator_role_arn(descriptor: Mapping[str, Any]) -> Optional[str]:
    drill = descriptor.get("drill")
    arn = drill.get("operator_role_arn") if isinstance(drill, Mapping) else None
    if arn is not None and (not isinstance(arn, str) or ":role/" not in arn):
        raise ConfigError(f"drill.operator_role_arn must be an IAM role ARN, got {arn!r}")
    return arn


def operator_session(descriptor: Mapping[str, Any], *, base: Optional[boto3.session.Session] = None,
                     endpoint_url: Optional[str] = None, region_name: str = "us-east-1") -> boto3.session.Session:
    """A session of the drill operator role (or ``base`` itself when the descriptor names none)."""
    base = base or boto3.session.Session()
    role_arn = operator_role_arn(descriptor)
    if role_arn is None:
        return base
    sts = base.client("sts", region_name=region_name, endpoint_url=endpoint_url, config=STS_CONFIG)

    def fetch() -> dict[str, str]:
        try:
            got = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
        except ClientError as exc:
            raise access_denied(exc, "the caller", "sts:AssumeRole", role_arn) or exc
        expiry = got["Expiration"]
        expiry = expiry if isinstance(expiry, dt.datetime) else dt.datetime.fromisoformat(str(expiry))
        return {"access_key": got["AccessKeyId"], "secret_key": got["SecretAccessKey"],
                "token": got["SessionToken"], "expiry_time": expiry.isoformat()}

    credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="assume-role")
    return _session_with(credentials, region_name)


def instance_profile_session(url: str, *, region_name: Optional[str] = None) -> boto3.session.Session:
    """A session whose credentials come from the instance metadata service at ``url``."""
    if not url.startswith(("http://127.0.0.1:", "http://169.254.169.254", "http://[fd00:ec2::254]")):
        raise ConfigError(f"an instance metadata URL must be IMDS or a loopback sandbox URL, got {url!r}")
    # env={}: AWS_EC2_METADATA_DISABLED guards against probing 169.254.169.254; this URL is explicit
    fetcher = botocore.utils.InstanceMetadataFetcher(timeout=5, num_attempts=3, base_url=url, env={})
    provider = botocore.credentials.InstanceMetadataProvider(iam_role_fetcher=fetcher)
    credentials = provider.load()
    if credentials is None:
        raise ConfigError(f"the instance metadata service at {url} gave no role credentials")
    return _session_with(credentials, region_name)


class _Given(botocore.credentials.CredentialProvider):
    METHOD = "dr-platform-drill"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _session_with(credentials: Any, region_name: Optional[str]) -> boto3.session.Session:
    """A boto3 session whose only credential source is ``credentials`` (refreshable or not)."""
    core = botocore.session.get_session()
    core.register_component("credential_provider", botocore.credentials.CredentialResolver([_Given(credentials)]))
    return boto3.session.Session(botocore_session=core, region_name=region_name)


def access_denied(exc: Exception, principal: str, action: str, resource: str) -> Optional[ConfigError]:
    """A ConfigError naming what was refused, or None when ``exc`` is not a refusal."""
    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = error.get("Code") or str(status or "")
    if code not in DENIED_CODES and status != 403:
        return None
    return ConfigError(f"AccessDenied: {principal} may not {action} on {resource} "
                       f"({code or status}: {error.get('Message') or 'no message'}); grant it in the role's policy")
