"""The instance metadata service of the sandbox's instances: the job role's credentials.

On AWS an instance with the job role's instance profile gets the role's temporary
credentials from IMDS (EC2 User Guide, "Retrieve security credentials from instance
metadata"): ``PUT /latest/api/token`` (IMDSv2), then
``GET /latest/meta-data/iam/security-credentials/`` (the role name) and
``GET /latest/meta-data/iam/security-credentials/<role>`` (``AccessKeyId``,
``SecretAccessKey``, ``Token``, ``Expiration``). boto3 reads them when it finds no other
credentials; ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` points it here.

The credentials come from ``sts:AssumeRole`` of the job role by EC2 on the emulator
(:meth:`~infra.sandbox.iam_enforcement.IamEnforcement.assume_as_service`), renewed five
minutes before they expire, so every S3 call a job makes is authorized against the job
role's own policy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from infra.sandbox.iam_enforcement import Credentials

logger = logging.getLogger(__name__)

CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"
RENEW_BEFORE = dt.timedelta(minutes=5)
TOKEN_HEADER = "X-aws-ec2-metadata-token"


class InstanceMetadata:
    def __init__(self, role_name: str, issue: Callable[[], Credentials], *, region: str = "us-east-1") -> None:
        self.role_name = role_name
        self.region = region
        self._issue = issue
        self._credentials: Optional[Credentials] = None
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.issued = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def credentials(self) -> Credentials:
        with self._lock:
            now = dt.datetime.now(dt.timezone.utc)
            current = self._credentials
            if current is None or _aware(current.expiration) - now < RENEW_BEFORE:
                self._credentials = current = self._issue()
                self.issued += 1
                logger.info("instance profile: new credentials for %s (%s)", self.role_name, current.arn)
            return current

    def answer(self, method: str, path: str, token: Optional[str]) -> tuple[int, str, str]:
        """(status, content type, body) for one request."""
        if method == "PUT" and path == "/latest/api/token":
            new = secrets.token_urlsafe(24)
            with self._lock:
                self._tokens.add(new)
            return 200, "text/plain", new
        if method != "GET":
            return 405, "text/plain", "method not allowed"
        if token is not None and token not in self._tokens:
            return 401, "text/plain", "unauthorized"
        if path == CREDENTIALS_PATH:
            return 200, "text/plain", self.role_name
        if path == CREDENTIALS_PATH + self.role_name:
            c = self.credentials()
            body = {"Code": "Success", "LastUpdated": _iso(dt.datetime.now(dt.timezone.utc)), "Type": "AWS-HMAC",
                    "AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key,
                    "Token": c.session_token, "Expiration": _iso(_aware(c.expiration))}
            return 200, "application/json", json.dumps(body)
        if path == "/latest/meta-data/placement/region":
            return 200, "text/plain", self.region
        return 404, "text/plain", "not found"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "InstanceMetadata":
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002
                logger.debug("imds: " + format, *args)

            def _reply(self) -> None:
                status, content_type, body = service.answer(self.command, self.path.split("?", 1)[0],
                                                            self.headers.get(TOKEN_HEADER))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _reply  # noqa: N815
            do_PUT = _reply  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-imds", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
