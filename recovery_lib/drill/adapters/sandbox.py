"""The ``sandbox`` fault adapter: drills against the offline sandbox (``python -m infra.sandbox up``).

Faults go through the sandbox's control endpoint (``sandbox.control_url`` in the
descriptor); control-plane reads go to the emulator itself (``sandbox.emulator_url``),
behind no fault proxy. Whether an S3 fault is in effect is not taken on the control
endpoint's word: the adapter connects to the region's S3 endpoint and checks that it
refuses, resets or swallows the connection as the mode says.

Under IAM enforcement (``sandbox.iam`` in the descriptor) the adapter acts as the drill
operator role (``drill.operator_role_arn``, assumed with the sandbox operator's keys): its
control-plane reads, the standby scaling and the health-check inversion are AWS calls made
with that role's credentials, before the control endpoint updates the sandbox's own view;
every recovery_lib call of the drill uses the job role from the sandbox's instance metadata
endpoint (:meth:`data_session`).

Only the standard library and boto3: recovery_lib does not import the sandbox.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping, Optional

import boto3
import botocore.exceptions
from botocore.config import Config

from recovery_lib.drill.adapters.base import FaultAdapter
from recovery_lib.drill.credentials import (
    access_denied,
    instance_profile_session,
    operator_role_arn,
    operator_session,
)
from recovery_lib.drill.plan import Fault
from recovery_lib.errors import ConfigError, RecoveryError

CONTROL_TIMEOUT = 10.0
SANDBOX_KEYS = ("sandbox", "sandbox")  # the sandbox operator's own keys (the account's administrator)
EMULATOR_CONFIG = Config(connect_timeout=2, read_timeout=15, retries={"mode": "standard", "total_max_attempts": 3})


class SandboxUnavailable(RecoveryError):
    """The sandbox's control endpoint did not answer (is the sandbox up?)."""


class SandboxAdapter(FaultAdapter):
    name = "sandbox"

    def __init__(self, descriptor: Mapping[str, Any]) -> None:
        sandbox = descriptor.get("sandbox") or {}
        for key in ("control_url", "emulator_url"):
            if not isinstance(sandbox.get(key), str) or not sandbox[key].startswith("http://127.0.0.1:"):
                raise ConfigError(f"sandbox.{key} must be an http://127.0.0.1:PORT URL, got {sandbox.get(key)!r}")
        self.descriptor = descriptor
        self.control_url = sandbox["control_url"].rstrip("/")
        self.emulator_url = sandbox["emulator_url"]
        self.dns = descriptor.get("dns")
        self._clients: dict[tuple[str, str], Any] = {}
        self.operator_arn = operator_role_arn(descriptor)
        self._session: Optional[boto3.session.Session] = None  # the operator's, on first use
        self.principal = f"the drill operator role {self.operator_arn}" if self.operator_arn else "the sandbox operator"
        clock = self._request("GET", "/time")
        self.time_scale = float(clock.get("time_scale") or 1.0)

    # -- the control endpoint --------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.control_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT) as response:  # noqa: S310 - loopback control endpoint
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SandboxUnavailable(f"{method} {path} failed with HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SandboxUnavailable(
                f"the sandbox control endpoint {self.control_url} did not answer {method} {path}: {exc}; "
                "is the sandbox up (python -m infra.sandbox up)?"
            ) from exc

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            base = boto3.session.Session(aws_access_key_id=SANDBOX_KEYS[0], aws_secret_access_key=SANDBOX_KEYS[1])
            self._session = operator_session(self.descriptor, base=base, endpoint_url=self.emulator_url,
                                             region_name=self.descriptor["regions"]["primary"]["name"])
        return self._session

    def client(self, service: str, region_role: str) -> Any:
        key = (service, region_role)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service,
                region_name=self.descriptor["regions"][region_role]["name"],
                endpoint_url=self.emulator_url,
                config=EMULATOR_CONFIG,
            )
        return self._clients[key]

    def data_session(self) -> Optional[boto3.session.Session]:
        """The job role's credentials from the sandbox's instance metadata endpoint (None: IAM is off)."""
        iam = (self.descriptor.get("sandbox") or {}).get("iam") or {}
        url = iam.get("instance_metadata_url") if iam.get("enforced") else None
        return instance_profile_session(url, region_name=self.descriptor["regions"]["primary"]["name"]) if url else None

    def _as_operator(self, action: str, resource: str, call: Any) -> None:
        """Make the AWS call a drill makes on AWS, as the operator; a refusal names what is missing."""
        if self.operator_arn is None:
            return
        try:
            call()
        except botocore.exceptions.ClientError as exc:
            raise access_denied(exc, self.principal, action, resource) or exc

    def now(self) -> float:
        return float(self._request("GET", "/time")["now"])

    # -- faults ----------------------------------------------------------------------------------
    def _fault_call(self, fault: Fault, *, revert: bool) -> tuple[str, str, dict[str, Any]]:
        if fault.type == "app-down":
            return "POST", f"/faults/app/{fault.region}", {"up": revert}
        if fault.type == "s3":
            return "POST", f"/faults/s3/{fault.region}", {"mode": "pass" if revert else fault.mode}
        if fault.type == "replication-pause":
            return "POST", "/faults/replication", {"action": "resume" if revert else "pause"}
        if fault.type == "health-check-invert":
            return "POST", "/faults/health-check", {"inverted": not revert}
        raise ConfigError(f"the sandbox adapter cannot inject {fault.label()}")

    def describe_inject(self, fault: Fault) -> list[str]:
        method, path, body = self._fault_call(fault, revert=False)
        return [f"{method} {self.control_url}{path} {json.dumps(body)}"]

    def describe_revert(self, fault: Fault) -> list[str]:
        method, path, body = self._fault_call(fault, revert=True)
        return [f"{method} {self.control_url}{path} {json.dumps(body)}"]

    def _invert(self, fault: Fault, inverted: bool) -> None:
        if fault.type == "health-check-invert" and self.dns:
            check = self.dns["primary_health_check_id"]
            self._as_operator("route53:UpdateHealthCheck", f"health check {check}",
                              lambda: self.client("route53", "primary").update_health_check(
                                  HealthCheckId=check, Inverted=inverted))

    def inject(self, fault: Fault) -> dict[str, Any]:
        self._invert(fault, True)
        method, path, body = self._fault_call(fault, revert=False)
        return {"response": self._request(method, path, body)}

    def revert(self, fault: Fault, info: dict[str, Any]) -> None:
        self._invert(fault, False)
        method, path, body = self._fault_call(fault, revert=True)
        self._request(method, path, body)

    def is_injected(self, fault: Fault) -> bool:
        state = self._request("GET", "/state")
        faults = state["faults"]
        if fault.type == "app-down":
            return faults["apps"].get(fault.region) != "up"
        if fault.type == "s3":
            return faults["s3"].get(fault.region) == fault.mode and self._s3_endpoint_broken(fault)
        if fault.type == "replication-pause":
            return bool(faults.get("replication_paused"))
        if fault.type == "health-check-invert":
            check = self._health_check(state.get("health_checks") or [])
            return bool(check and check.get("inverted"))
        return False

    def _s3_endpoint_broken(self, fault: Fault) -> bool:
        """Connect to the region's S3 endpoint and see the fault for ourselves."""
        url = self.descriptor["regions"][fault.region].get("endpoint_url")
        if not url:
            return False
        parsed = urllib.parse.urlsplit(url)
        request = f"HEAD / HTTP/1.1\r\nHost: {parsed.netloc}\r\nConnection: close\r\n\r\n".encode()
        try:
            with socket.create_connection((parsed.hostname, parsed.port), timeout=0.5) as sock:
                sock.settimeout(0.5)
                sock.sendall(request)
                answer = sock.recv(64)
        except ConnectionRefusedError:
            return fault.mode == "refuse"
        except ConnectionResetError:
            return fault.mode in ("reset", "refuse")
        except (socket.timeout, TimeoutError):
            return fault.mode == "blackhole"
        except OSError:
            return fault.mode in ("refuse", "reset")
        if not answer:  # closed without a byte
            return fault.mode in ("reset", "refuse")
        return False  # S3 answered: the fault is not in effect

    # -- observations ----------------------------------------------------------------------------
    def _health_check(self, checks: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if not self.dns:
            return None
        wanted = self.dns["primary_health_check_id"]
        return next((c for c in checks if c.get("id") == wanted), None)

    def health_check_healthy(self) -> Optional[bool]:
        if not self.dns:
            return None
        check = self._health_check(self._request("GET", "/health-checks")["health_checks"])
        if check is None:
            return None
        return bool(check["healthy"])

    def dns_answer(self) -> str:
        if not self.dns:
            return "PRIMARY"
        answer = self._request("GET", f"/dns/{urllib.parse.quote(self.dns['record_name'])}")
        return answer.get("answer") or "PRIMARY"

    def app_healthy(self, region: str) -> bool:
        return bool(self._request("GET", "/apps").get(region, {}).get("healthy"))

    def standby(self) -> tuple[int, int]:
        group = self._request("GET", "/asg/secondary")
        if not group.get("exists", True):
            raise ConfigError(f"the standby Auto Scaling group {group.get('name')} does not exist in the sandbox")
        return int(group["desired"]), int(group["in_service"])

    def describe_scale(self, desired: int) -> list[str]:
        return [f"POST {self.control_url}/asg/secondary {json.dumps({'desired': desired})}"]

    def scale_standby(self, desired: int) -> None:
        name = self.descriptor["regions"]["secondary"]["asg_name"]
        self._as_operator("autoscaling:SetDesiredCapacity", f"Auto Scaling group {name}",
                          lambda: self.client("autoscaling", "secondary").set_desired_capacity(
                              AutoScalingGroupName=name, DesiredCapacity=desired, HonorCooldown=False))
        self._request("POST", "/asg/secondary", {"desired": desired})

    def state(self) -> dict[str, Any]:
        try:
            state = self._request("GET", "/state")
        except SandboxUnavailable as exc:
            return {"error": str(exc)}
        return {k: state.get(k) for k in ("now", "time_scale", "faults", "replication", "dns")}

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.time_scale)
