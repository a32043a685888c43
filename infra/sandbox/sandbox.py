"""Sandbox: the Pulumi program deployed into an in-process moto server, plus the emulators around it.

``Sandbox(stack, state_dir, time_scale).start()`` (or ``with Sandbox(...) as sandbox:``):

1. starts ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (free port) and installs the
   sandbox's moto fixes (:mod:`infra.sandbox.moto_backend`);
2. creates the stack's public hosted zone (``dns.zoneName``), which the program looks up;
3. runs the real program (:func:`infra.mockrun.run_program`) under :class:`EmulatorAws`,
   which creates every resource through the AWS API of the emulator;
4. starts a fault proxy per region in front of the emulator, an app stand-in per region
   (behind the region's load balancer DNS name), the health-check evaluator, the DNS resolver,
   the replication emulator and the control endpoint;
5. writes ``platform.json`` (the program's ``platform`` output, ``endpoint_url`` = the
   region's fault proxy, plus a ``sandbox`` section), ``sandbox.json`` and ``unsupported.json``
   into ``state_dir``.

``stop()`` stops all of it, in reverse order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import boto3
import botocore.config
from moto.server import ThreadedMotoServer

from infra.mockrun import ProgramRun, load_stack_config, run_program
from infra.sandbox import moto_backend, tls
from infra.sandbox.apps import AppStandIn
from infra.sandbox.aws_mocks import FAKE_CREDENTIALS, EmulatorAws
from infra.sandbox.clock import Clock
from infra.sandbox.control import ControlServer
from infra.sandbox.fault_proxy import FaultProxy
from infra.sandbox.replication import ReplicationEmulator
from infra.sandbox.route53 import DnsResolver, HealthCheckEvaluator
from infra.sandbox.target_group import TargetGroupHealth

logger = logging.getLogger(__name__)

ROLES = ("primary", "secondary")
# EC2 Auto Scaling User Guide, "Set the health check grace period for an Auto Scaling group",
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html: the grace
# period covers a new instance that is "still initializing" after it enters InService; "In the
# console, by default, the health check grace period is 300 seconds". The sandbox's launch
# delay is the group's own grace period (the program sets it), this when the group has none.
CONSOLE_GRACE_PERIOD_SECONDS = 300
NAMESPACE = "dr-platform"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


class Sandbox:
    def __init__(
        self,
        stack: str = "dr",
        state_dir: os.PathLike[str] | str = ".sandbox",
        time_scale: float = 1.0,
        *,
        replication_lag_seconds: float = 0.0,
        config_overrides: Optional[Mapping[str, Any]] = None,
        control_port: int = 0,
        launch_delay_seconds: Optional[float] = None,
        health_checkers: Optional[int] = None,
        target_groups: bool = True,
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        if launch_delay_seconds is not None and not launch_delay_seconds >= 0:
            raise ValueError(f"launch_delay_seconds must be 0 or more emulated seconds, got {launch_delay_seconds!r}")
        if health_checkers is not None and health_checkers < 1:
            raise ValueError(f"health_checkers must be 1 or more, got {health_checkers!r}")
        # Fidelity, all on by default (see docs/sandbox.md, "How each part works"): EC2 launch to
        # InService (None: the group's HealthCheckGracePeriod), Route 53's checker fleet
        # (None: one per default Region) and the ALB target groups' own health checks.
        self.launch_delay_seconds = launch_delay_seconds
        self.health_checkers = health_checkers
        self.target_groups = target_groups
        self._ready_at: dict[str, float] = {}  # instance id -> emulated time it is InService and initialised
        self.stack = stack
        self.state_dir = Path(state_dir)
        self.clock = Clock(time_scale)
        self.time_scale = float(time_scale)
        self.replication_lag_seconds = replication_lag_seconds
        self.config_overrides = dict(config_overrides or {})
        self.control_port = control_port
        self.moto: Optional[ThreadedMotoServer] = None
        self.emulator_url = ""
        self.mocks: Optional[EmulatorAws] = None
        self.run: Optional[ProgramRun] = None
        self.platform: dict[str, Any] = {}
        self.proxies: dict[str, FaultProxy] = {}
        self.apps: dict[str, AppStandIn] = {}
        self.lb_names: dict[str, str] = {}  # role -> load balancer DNS name
        self.health: Optional[HealthCheckEvaluator] = None
        self.dns: Optional[DnsResolver] = None
        self.replication: Optional[ReplicationEmulator] = None
        self.control: Optional[ControlServer] = None
        self._session = boto3.session.Session(**FAKE_CREDENTIALS)
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._installed = False
        self.started_at: Optional[float] = None

    # -- clients ------------------------------------------------------------------------------
    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client on the emulator itself (no fault proxy)."""
        with self._clients_lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.emulator_url,
                    config=botocore.config.Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30))
            return self._clients[key]

    def region(self, role: str) -> str:
        return self.platform["regions"][role]["name"]

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> "Sandbox":
        t0 = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        logger.info("sandbox %s ready in %.1f s: control %s", self.stack, time.monotonic() - t0, self.control_url)
        return self

    def _start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_backend.install()
        self._installed = True
        self.moto = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.emulator_url = f"http://{host}:{port}"

        config = load_stack_config(self.stack)
        config.update({k: v for k, v in self.config_overrides.items() if v is not None})
        dns = config.get(f"{NAMESPACE}:dns")
        if isinstance(dns, str):
            dns = json.loads(dns)
        if isinstance(dns, dict) and dns.get("zoneName") and not dns.get("zoneId"):
            self.client("route53").create_hosted_zone(
                Name=dns["zoneName"], CallerReference=f"dr-platform-sandbox-{time.time_ns()}")

        self.mocks = EmulatorAws(self.emulator_url)
        # The launch templates name their AMI through resolve:ssm (moto keeps the string as
        # is), so moto's catalogue of default AMIs is never used: skip loading it (seconds).
        saved = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
        try:
            self.run = self._deploy(self.mocks)
        finally:
            if saved is None:
                os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
            else:
                os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = saved
        self.platform = json.loads(json.dumps(self.run.outputs["platform"]))

        # An HTTPS stack's load balancers terminate TLS: so do their stand-ins, with a
        # certificate made for this run (the record name and each load balancer's name).
        https = (self.platform.get("dns") or {}).get("protocol") == "HTTPS"
        for role in ROLES:
            self.proxies[role] = FaultProxy(("127.0.0.1", port)).start()
            self.platform["regions"][role]["endpoint_url"] = self.proxies[role].url
            asg_name = self.platform["regions"][role]["asg_name"]
            lb_name = self.run.outputs.get(f"{role}LoadBalancerDnsName")
            if lb_name:
                self.lb_names[role] = lb_name
            context = tls.server_context([self.platform["dns"]["record_name"], lb_name or "localhost"]) if https else None
            self.apps[role] = AppStandIn(role, self.region(role), tls=context,
                                         in_service=self._in_service_counter(role, asg_name)).start()

        self.clock = Clock(self.time_scale)  # emulated time starts when the sandbox is deployed
        for role in ROLES:  # the deployed instances are in service already
            for instance in self._group_instances(role):
                self._ready_at[instance] = float("-inf")
            if self.target_groups and role in self.lb_names:
                self.apps[role].target_group = TargetGroupHealth(self.clock, self.apps[role].target_state,
                                                                 name=f"{role} target group")
        self.health = HealthCheckEvaluator(self.client("route53"), self.resolve_name, clock=self.clock,
                                           checkers=self.health_checkers)
        self.dns = DnsResolver(self.client("route53"), self.health, clock=self.clock,
                               target_healthy=self._target_healthy)
        if self.platform.get("dns"):
            self.dns.watched.add(self.platform["dns"]["record_name"])
        self.health.listeners.append(self.dns.observe)
        self.health.start()
        self.replication = ReplicationEmulator(
            self.emulator_url, clock=self.clock, lag_seconds=self.replication_lag_seconds,
            buckets=[self.platform["regions"][role]["bucket"] for role in ROLES])
        self.replication.start()
        self.control = ControlServer(self, port=self.control_port).start()
        self.started_at = time.time()
        self.platform["sandbox"] = self.sandbox_section()
        self.write_state()

    def _deploy(self, mocks: EmulatorAws) -> ProgramRun:
        """Run the program in a thread of its own, on an event loop of its own, and close both:
        Pulumi's runtime leaves the loop's executor threads behind otherwise."""
        result: dict[str, Any] = {}

        def deploy() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                result["run"] = run_program(self.stack, mocks, config_overrides=self.config_overrides or None)
            except BaseException as exc:  # re-raised in the caller's thread
                result["error"] = exc
            finally:
                loop.run_until_complete(loop.shutdown_default_executor())
                asyncio.set_event_loop(None)
                loop.close()

        thread = threading.Thread(target=deploy, name="sandbox-deploy")
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["run"]

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self.replication is not None:
            self.replication.stop()
            self.replication = None
        if self.health is not None:
            self.health.stop()
            self.health = None
        for app in self.apps.values():
            app.stop()
        self.apps.clear()
        for proxy in self.proxies.values():
            proxy.stop()
        self.proxies.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self._installed:
            moto_backend.uninstall()
            self._installed = False

    # -- wiring -------------------------------------------------------------------------------
    def _in_service_counter(self, role: str, asg_name: str):
        def count() -> int:
            return self._instances(role)[0]
        return count

    def _group(self, role: str) -> Optional[dict[str, Any]]:
        name = self.platform["regions"][role]["asg_name"]
        groups = self.client("autoscaling", self.region(role)).describe_auto_scaling_groups(
            AutoScalingGroupNames=[name])["AutoScalingGroups"]
        return groups[0] if groups else None

    def _group_instances(self, role: str, group: Optional[dict[str, Any]] = None) -> list[str]:
        group = group if group is not None else self._group(role)
        return [i["InstanceId"] for i in (group or {}).get("Instances", []) if i.get("LifecycleState") == "InService"]

    def launch_delay(self, role: str, group: Optional[dict[str, Any]] = None) -> float:
        """Emulated seconds from launch to a usable InService instance (moto's are InService at once)."""
        if self.launch_delay_seconds is not None:
            return float(self.launch_delay_seconds)
        group = group if group is not None else self._group(role)
        grace = (group or {}).get("HealthCheckGracePeriod") or 0
        return float(grace if grace > 0 else CONSOLE_GRACE_PERIOD_SECONDS)

    def _instances(self, role: str) -> tuple[int, int]:
        """(instances in service, instances still launching); a new instance is stamped the
        first time the sandbox sees it (``scale`` looks right after SetDesiredCapacity)."""
        group = self._group(role)
        if group is None:
            return 0, 0
        now, delay = self.clock.now(), self.launch_delay(role, group)
        ready = pending = 0
        for instance in self._group_instances(role, group):
            if self._ready_at.setdefault(instance, now + delay) <= now:
                ready += 1
            else:
                pending += 1
        return ready, pending

    def resolve_name(self, fqdn: str) -> Optional[tuple[str, int]]:
        """A load balancer's DNS name -> its region's app stand-in (what the health checker probes)."""
        name = fqdn.rstrip(".").lower()
        for role, lb_name in self.lb_names.items():
            if lb_name.lower() == name:
                return ("127.0.0.1", self.apps[role].port)  # a "closed" app refuses the connect
        return None

    def _target_healthy(self, dns_name: str) -> bool:
        for role, lb_name in self.lb_names.items():
            if lb_name.lower() == dns_name.rstrip(".").lower():
                return self.apps[role].serving()[0] if self.apps[role].mode != "closed" else False
        return False

    @property
    def control_url(self) -> str:
        return self.control.url if self.control is not None else ""

    def sandbox_section(self) -> dict[str, Any]:
        assert self.mocks is not None
        return {
            "emulator_url": self.emulator_url,
            "control_url": self.control_url,
            "time_scale": self.time_scale,
            "state_dir": str(self.state_dir.resolve()),
            "pid": os.getpid(),
            "proxies": {role: proxy.url for role, proxy in self.proxies.items()},
            "apps": {role: {"url": app.url, "region": app.region, "load_balancer_dns_name": self.lb_names.get(role)}
                     for role, app in self.apps.items()},
            "unsupported": [u.as_dict() for u in self.mocks.unsupported],
        }

    def ports(self) -> list[int]:
        ports = [int(self.emulator_url.rsplit(":", 1)[-1])] if self.emulator_url else []
        ports += [p.port for p in self.proxies.values()] + [a.port for a in self.apps.values()]
        if self.control is not None:
            ports.append(self.control.port)
        return ports

    def write_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        assert self.mocks is not None
        _write_json(self.state_dir / "unsupported.json", [u.as_dict() for u in self.mocks.unsupported])
        _write_json(self.state_dir / "resources.json", self.mocks.created)
        _write_json(self.state_dir / "platform.json", self.platform)
        _write_json(self.state_dir / "sandbox.json", {
            "pid": os.getpid(), "stack": self.stack, "time_scale": self.time_scale,
            "control_url": self.control_url, "emulator_url": self.emulator_url,
            "ports": self.ports(), "started_at": self.started_at,
        })

    # -- faults (the control endpoint calls these) ----------------------------------------------
    def set_s3_fault(self, role: str, mode: str) -> None:
        self._role(role)
        self.proxies[role].set_mode(mode)
        logger.info("S3 %s fault proxy: %s", role, mode)

    def set_app(self, role: str, mode: str) -> None:
        self._role(role)
        self.apps[role].set_mode(mode)

    def set_health_check(self, *, inverted: Optional[bool] = None, disabled: Optional[bool] = None,
                         check_id: Optional[str] = None) -> dict[str, Any]:
        check_id = check_id or (self.platform.get("dns") or {}).get("primary_health_check_id")
        if not check_id:
            raise ValueError("this stack has no health check (dns is off); pass an id")
        params: dict[str, Any] = {"HealthCheckId": check_id}
        if inverted is not None:
            params["Inverted"] = bool(inverted)
        if disabled is not None:
            params["Disabled"] = bool(disabled)
        self.client("route53").update_health_check(**params)
        assert self.health is not None
        self.health.refresh()
        state = self.health.get(check_id)
        return state.as_dict() if state is not None else {"id": check_id, "exists": False}

    def scale(self, role: str, desired: int) -> dict[str, Any]:
        self._role(role)
        name = self.platform["regions"][role]["asg_name"]
        autoscaling = self.client("autoscaling", self.region(role))
        if role in self.apps and self.apps[role].target_group is not None:
            self.apps[role].target_group.advance()  # checks due before the change saw the old group
        autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=int(desired))
        return self.asg(role)  # stamps the launch time of the new instances

    def asg(self, role: str) -> dict[str, Any]:
        self._role(role)
        name = self.platform["regions"][role]["asg_name"]
        group = self._group(role)
        if group is None:
            return {"name": name, "exists": False}
        in_service, launching = self._instances(role)
        return {"name": name, "exists": True, "min": group["MinSize"], "max": group["MaxSize"],
                "desired": group["DesiredCapacity"], "in_service": in_service, "launching": launching,
                "launch_delay_seconds": self.launch_delay(role, group)}

    def reset_faults(self) -> None:
        for role in ROLES:
            if role in self.proxies:
                self.proxies[role].set_mode("pass")
            if role in self.apps:
                self.apps[role].set_mode("up")
        if self.replication is not None:
            self.replication.resume()
        if (self.platform.get("dns") or {}).get("primary_health_check_id"):
            try:
                self.set_health_check(inverted=False, disabled=False)
            except self.client("route53").exceptions.NoSuchHealthCheck:
                logger.warning("reset: the primary health check no longer exists")

    def _role(self, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown region role {role!r}; use one of {ROLES}")

    # -- observations ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        assert self.health is not None and self.dns is not None and self.replication is not None
        record = (self.platform.get("dns") or {}).get("record_name")
        return {
            "now": self.clock.now(),
            "time_scale": self.time_scale,
            "stack": self.stack,
            "faults": {
                "s3": {role: proxy.mode for role, proxy in self.proxies.items()},
                "apps": {role: app.mode for role, app in self.apps.items()},
                "replication_paused": self.replication.status()["paused"],
            },
            "apps": {role: app.status() for role, app in self.apps.items()},
            "asg": {role: self.asg(role) for role in ROLES},
            "health_checks": self.health.status(),
            "dns": self.dns.resolve(record) if record else None,
            "dns_authoritative": self.dns.authoritative(record) if record else None,
            "replication": self.replication.status(),
            "unsupported": [u.as_dict() for u in self.mocks.unsupported] if self.mocks else [],
        }
