"""The ``aws`` fault adapter: drills against a real deployment.

- ``app-down`` / ``health-check-invert`` on the primary: Route 53 health-check inversion
  (``UpdateHealthCheck Inverted=true``). Route 53 then reports the healthy primary as
  unhealthy and fails DNS over exactly as in a real outage, without touching the app.
- ``s3`` and ``replication-pause``: AWS FIS experiments started from the templates the
  program provisions with ``dr-platform:fis: true`` (descriptor section ``fis``:
  ``{"templates": {"s3-primary": ID, "replication-pause": ID}}``; ``s3-primary`` only when
  the stack has its own subnets); stopped on revert. With the FIS pause, objects that existed
  when it began may keep replicating for up to an hour (the journal's ``expectations``).
  Without those templates such a plan is refused before anything is injected.
- compute: the standby Auto Scaling group's desired capacity.

Credentials: the descriptor's ``drill.operator_role_arn`` is assumed with the caller's own
credentials (recovery_lib/drill/credentials.py) and every call below is made as that role;
a refusal fails the drill with the missing permission named.

Observations: Route 53's own view (``GetHealthCheckStatus``: healthy while more than 18 %
of checkers report success; ``TestDNSAnswer`` for the failover record) and the Auto
Scaling group's in-service instances.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from recovery_lib.drill.adapters.base import FaultAdapter
from recovery_lib.drill.credentials import access_denied, operator_role_arn, operator_session
from recovery_lib.drill.plan import REPLICATION_PAUSE_LAG_SECONDS, Fault
from recovery_lib.errors import ConfigError

CONTROL_PLANE_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 4})
HEALTHY_FRACTION = 0.18  # Route 53: healthy when more than 18 % of checkers say so
FIS_TEMPLATE_KEYS = {"s3": "s3-{region}", "replication-pause": "replication-pause"}


class AwsAdapter(FaultAdapter):
    name = "aws"
    time_scale = 1.0
    replication_pause_lag_seconds = REPLICATION_PAUSE_LAG_SECONDS  # FIS pause: up to an hour

    def __init__(self, descriptor: Mapping[str, Any], *, session: Optional[boto3.session.Session] = None) -> None:
        self.descriptor = descriptor
        self._session = session  # None: the operator role's, assumed on the first call (not before a plan is checked)
        arn = operator_role_arn(descriptor)
        self.principal = f"the drill operator role {arn}" if arn else "the caller"
        self._clients: dict[tuple[str, str], Any] = {}
        self.dns = descriptor.get("dns")

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = operator_session(self.descriptor, region_name=self.descriptor["regions"]["primary"]["name"])
        return self._session

    def client(self, service: str, region_role: str) -> Any:
        key = (service, region_role)
        if key not in self._clients:
            region = self.descriptor["regions"][region_role]["name"]
            endpoint = self.descriptor["regions"][region_role].get("endpoint_url") if service == "s3" else None
            self._clients[key] = self.session.client(service, region_name=region, endpoint_url=endpoint,
                                                     config=CONTROL_PLANE_CONFIG)
        return self._clients[key]

    def now(self) -> float:
        return time.monotonic()

    # -- faults --------------------------------------------------------------------------------
    def _health_check_id(self) -> str:
        if not self.dns:
            raise ConfigError("this fault needs DNS failover (a health check) in the descriptor; its dns section is null")
        return self.dns["primary_health_check_id"]

    def _template(self, fault: Fault) -> str:
        key = FIS_TEMPLATE_KEYS[fault.type].format(region=fault.region)
        templates = (self.descriptor.get("fis") or {}).get("templates") or {}
        if key not in templates:
            raise ConfigError(
                f"fault {fault.label()} needs the AWS FIS template {key!r}, which the descriptor does not have; "
                "deploy with dr-platform:fis true or drill with app-down / health-check-invert only"
            )
        return templates[key]

    def check_supported(self, faults: list[Fault]) -> None:
        """Refuse a plan this deployment cannot run, before anything is injected."""
        for fault in faults:
            if fault.type in ("app-down", "health-check-invert"):
                if fault.region not in (None, "primary"):
                    raise ConfigError(f"fault {fault.label()}: on AWS only the primary's health check can be inverted")
                self._health_check_id()
            else:
                self._template(fault)

    def describe_inject(self, fault: Fault) -> list[str]:
        if fault.type in ("app-down", "health-check-invert"):
            return [f"route53.update_health_check(HealthCheckId={self._health_check_id()}, Inverted=True)"]
        return [f"fis.start_experiment(experimentTemplateId={self._template(fault)})"]

    def describe_revert(self, fault: Fault) -> list[str]:
        if fault.type in ("app-down", "health-check-invert"):
            return [f"route53.update_health_check(HealthCheckId={self._health_check_id()}, Inverted=False)"]
        return ["fis.stop_experiment(id=<the experiment started by inject>)"]

    def inject(self, fault: Fault) -> dict[str, Any]:
        try:
            return self._inject(fault)
        except ClientError as exc:
            action = "route53:UpdateHealthCheck" if fault.type in ("app-down", "health-check-invert") else "fis:StartExperiment"
            raise access_denied(exc, self.principal, action, fault.label()) or exc

    def _inject(self, fault: Fault) -> dict[str, Any]:
        if fault.type in ("app-down", "health-check-invert"):
            self.client("route53", "primary").update_health_check(HealthCheckId=self._health_check_id(), Inverted=True)
            return {"health_check_id": self._health_check_id()}
        fis = self.client("fis", "primary")
        experiment = fis.start_experiment(experimentTemplateId=self._template(fault),
                                          tags={"dr-platform": "drill"})["experiment"]
        return {"experiment_id": experiment["id"]}

    def is_injected(self, fault: Fault) -> bool:
        if fault.type in ("app-down", "health-check-invert"):
            config = self.client("route53", "primary").get_health_check(HealthCheckId=self._health_check_id())
            return bool(config["HealthCheck"]["HealthCheckConfig"].get("Inverted"))
        return self._experiment_running(fault)

    def _experiment_running(self, fault: Fault) -> bool:
        fis = self.client("fis", "primary")
        experiments = fis.list_experiments(experimentTemplateId=self._template(fault)).get("experiments", [])
        return any(e.get("state", {}).get("status") in ("initiating", "pending", "running") for e in experiments)

    def revert(self, fault: Fault, info: dict[str, Any]) -> None:
        if fault.type in ("app-down", "health-check-invert"):
            self.client("route53", "primary").update_health_check(HealthCheckId=self._health_check_id(), Inverted=False)
            return
        fis = self.client("fis", "primary")
        experiment_id = info.get("experiment_id")
        ids = [experiment_id] if experiment_id else [
            e["id"] for e in fis.list_experiments(experimentTemplateId=self._template(fault)).get("experiments", [])
            if e.get("state", {}).get("status") in ("initiating", "pending", "running")
        ]
        for one in ids:
            try:
                fis.stop_experiment(id=one)
            except fis.exceptions.ResourceNotFoundException:
                continue

    # -- observations ---------------------------------------------------------------------------
    def health_check_healthy(self) -> Optional[bool]:
        if not self.dns:
            return None
        observations = self.client("route53", "primary").get_health_check_status(
            HealthCheckId=self._health_check_id())["HealthCheckObservations"]
        if not observations:
            return True  # a new health check counts as healthy until it has data
        ok = sum(1 for o in observations if o.get("StatusReport", {}).get("Status", "").startswith("Success"))
        return ok / len(observations) > HEALTHY_FRACTION

    def _records(self) -> dict[str, dict[str, Any]]:
        route53 = self.client("route53", "primary")
        name = self.dns["record_name"].rstrip(".") + "."
        sets = route53.list_resource_record_sets(HostedZoneId=self.dns["zone_id"], StartRecordName=name)["ResourceRecordSets"]
        return {r["Failover"]: r for r in sets if r["Name"] == name and r.get("Failover")}

    def dns_answer(self) -> str:
        if not self.dns:
            return "PRIMARY"
        records = self._records()
        record_type = records["PRIMARY"]["Type"]
        answer = self.client("route53", "primary").test_dns_answer(
            HostedZoneId=self.dns["zone_id"], RecordName=self.dns["record_name"], RecordType=record_type
        ).get("RecordData", [])
        for role in ("SECONDARY", "PRIMARY"):
            record = records.get(role, {})
            values = [r["Value"].rstrip(".") for r in record.get("ResourceRecords", [])]
            if record.get("AliasTarget"):
                values.append(record["AliasTarget"]["DNSName"].rstrip("."))
            if any(a.rstrip(".") in values for a in answer):
                return role
        return "PRIMARY"

    def app_healthy(self, region: str) -> bool:
        if not self.dns:
            return False
        record = self._records().get(region.upper(), {})
        values = [r["Value"] for r in record.get("ResourceRecords", [])] or (
            [record["AliasTarget"]["DNSName"]] if record.get("AliasTarget") else [])
        if not values:
            return False
        scheme = "https" if self.dns.get("protocol") == "HTTPS" else "http"
        url = f"{scheme}://{values[0].rstrip('.')}{self.dns.get('path', '/healthz')}"
        try:
            with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - the platform's own endpoint
                return 200 <= response.status < 400
        except (urllib.error.URLError, OSError):
            return False

    def _standby_group(self) -> dict[str, Any]:
        name = self.descriptor["regions"]["secondary"]["asg_name"]
        groups = self.client("autoscaling", "secondary").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        if not groups["AutoScalingGroups"]:
            raise ConfigError(f"the standby Auto Scaling group {name} does not exist")
        return groups["AutoScalingGroups"][0]

    def standby(self) -> tuple[int, int]:
        group = self._standby_group()
        in_service = sum(1 for i in group.get("Instances", []) if i.get("LifecycleState") == "InService")
        return group["DesiredCapacity"], in_service

    def describe_scale(self, desired: int) -> list[str]:
        name = self.descriptor["regions"]["secondary"]["asg_name"]
        return [f"autoscaling.set_desired_capacity(AutoScalingGroupName={name}, DesiredCapacity={desired})"]

    def scale_standby(self, desired: int) -> None:
        name = self.descriptor["regions"]["secondary"]["asg_name"]
        try:
            self.client("autoscaling", "secondary").set_desired_capacity(
                AutoScalingGroupName=name, DesiredCapacity=desired, HonorCooldown=False)
        except ClientError as exc:
            raise access_denied(exc, self.principal, "autoscaling:SetDesiredCapacity", name) or exc

    def state(self) -> dict[str, Any]:
        return {"adapter": self.name}
