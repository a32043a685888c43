"""A small simulated platform for testing the drill runner without any emulator.

Two in-memory regions, a replicator that copies new objects primary → secondary (unless
paused), a Route 53 that turns the primary unhealthy ``interval × threshold`` emulated
seconds after the app goes down and answers SECONDARY ``ttl`` later, and a standby group
that reaches its desired capacity ``scale_delay`` seconds after being scaled. Time is
virtual: ``sleep`` advances it instantly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from botocore.exceptions import ClientError

from recovery_lib.backends.memory import MemoryBackend
from recovery_lib.drill.adapters.base import FaultAdapter
from recovery_lib.drill.plan import Fault
from recovery_lib.errors import RegionUnavailable
from recovery_lib.store import CheckpointStore

PREFIX = "checkpoints/"


def descriptor(strategy: str = "warm-standby") -> dict[str, Any]:
    return {
        "version": 1, "project": "dr-platform", "stack": "test", "strategy": strategy,
        "checkpoint_prefix": PREFIX,
        "regions": {
            "primary": {"name": "us-east-1", "bucket": "primary-bucket", "kms_key_arn": None,
                        "asg_name": "primary-asg", "endpoint_url": None},
            "secondary": {"name": "us-west-2", "bucket": "secondary-bucket", "kms_key_arn": None,
                          "asg_name": "secondary-asg", "endpoint_url": None},
        },
        "replication": {"enabled": True, "role_arn": "arn:aws:iam::123456789012:role/r", "rtc": False, "two_way": False},
        "dns": {"zone_id": "Z1", "record_name": "app.example.com", "ttl": 30, "alias": False,
                "primary_health_check_id": "hc-1", "request_interval": 10, "failure_threshold": 3,
                "estimated_failover_seconds": 60},
        "alerts_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
        "targets": {"rto_seconds": 300, "rpo_seconds": 900},
        "capacity": {"primary": 2, "standby": 1, "max": 2},
    }


class FaultyBackend(MemoryBackend):
    def __init__(self, region: str) -> None:
        super().__init__(region=region)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise RegionUnavailable(f"{self.region} S3 endpoint is black-holed")

    def get(self, key):
        self._check()
        return super().get(key)

    def put(self, key, data):
        self._check()
        super().put(key, data)

    def put_if_absent(self, key, data):
        self._check()
        super().put_if_absent(key, data)

    def head(self, key):
        self._check()
        return super().head(key)

    def list(self, prefix):
        self._check()
        return super().list(prefix)

    def upload(self, key, source, size, *, progress=None):
        self._check()
        super().upload(key, source, size, progress=progress)

    def download(self, key, sink, *, progress=None):
        self._check()
        super().download(key, sink, progress=progress)


@dataclass
class World:
    descriptor: dict[str, Any] = field(default_factory=descriptor)
    clock: float = 0.0
    primary: FaultyBackend = field(default_factory=lambda: FaultyBackend("primary"))
    secondary: FaultyBackend = field(default_factory=lambda: FaultyBackend("secondary"))
    replication_paused: bool = False
    replication_rule: bool = True
    versioning: dict[str, str] = field(default_factory=lambda: {"primary-bucket": "Enabled", "secondary-bucket": "Enabled"})
    health_check_exists: bool = True
    app_up: dict[str, bool] = field(default_factory=lambda: {"primary": True, "secondary": True})
    app_down_since: Optional[float] = None
    unhealthy_since: Optional[float] = None
    inverted: bool = False
    standby_desired: int = 1
    standby_in_service: int = 1
    scaled_at: Optional[float] = None
    scale_delay: float = 40.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    ignore_s3_fault: bool = False  # simulate an adapter whose fault never takes effect
    fail_revert: bool = False
    silent_revert: Optional[str] = None  # a fault type whose revert returns without undoing it
    replication_lag: float = 0.0  # emulated seconds an object waits before it replicates
    first_seen: dict[str, float] = field(default_factory=dict)
    # what the control plane reports (the readiness preflight reads these)
    locations: dict[str, str] = field(default_factory=lambda: {"primary-bucket": "us-east-1", "secondary-bucket": "us-west-2"})
    encryption_keys: dict[str, Optional[str]] = field(default_factory=dict)
    rule_rtc: bool = False  # the primary's rule has Replication Time Control and metrics
    reverse_rule: bool = False  # the secondary replicates back to the primary
    standby_max: int = 2

    def store(self) -> CheckpointStore:
        return CheckpointStore(self.primary, self.secondary)

    def replicate(self) -> None:
        if self.replication_paused or not self.replication_rule or self.primary.down:
            return
        for key, data in list(self.primary._objects.items()):
            if key in self.secondary._objects:
                continue
            seen = self.first_seen.setdefault(key, self.clock)
            if self.clock - seen >= self.replication_lag:
                self.secondary._objects[key] = data

    def tick(self, seconds: float) -> None:
        self.clock += seconds
        self.replicate()
        interval, threshold = 10, 3
        primary_failing = not self.app_up["primary"] or self.inverted
        if primary_failing and self.app_down_since is None:
            self.app_down_since = self.clock
        if not primary_failing:
            self.app_down_since = None
            self.unhealthy_since = None
        if self.app_down_since is not None and self.clock - self.app_down_since >= interval * threshold:
            self.unhealthy_since = self.unhealthy_since or self.clock
        if self.scaled_at is not None and self.clock - self.scaled_at >= self.scale_delay:
            self.standby_in_service = self.standby_desired


class _Error(ClientError):
    def __init__(self, code: str, op: str) -> None:
        super().__init__({"Error": {"Code": code, "Message": code}}, op)


class FakeClients:
    """Answers the read-only control-plane calls of the readiness preflight."""

    def __init__(self, world: World, service: str, role: str) -> None:
        self.world, self.service, self.role = world, service, role

    def get_bucket_location(self, Bucket):
        location = self.world.locations[Bucket]
        return {"LocationConstraint": None if location == "us-east-1" else location}

    def get_bucket_encryption(self, Bucket):
        key = self.world.encryption_keys.get(Bucket)
        if key is None:
            raise _Error("ServerSideEncryptionConfigurationNotFoundError", "GetBucketEncryption")
        return {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]}}

    def get_bucket_versioning(self, Bucket):
        status = self.world.versioning.get(Bucket)
        return {"Status": status} if status else {}

    def get_bucket_replication(self, Bucket):
        if self.role == "secondary":
            if not self.world.reverse_rule:
                raise _Error("ReplicationConfigurationNotFoundError", "GetBucketReplication")
            return {"ReplicationConfiguration": {"Role": "r", "Rules": [
                {"ID": "checkpoints-to-primary", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": PREFIX},
                 "Destination": {"Bucket": "arn:aws:s3:::primary-bucket"}}]}}
        if not self.world.replication_rule:
            raise _Error("ReplicationConfigurationNotFoundError", "GetBucketReplication")
        destination: dict[str, Any] = {"Bucket": "arn:aws:s3:::secondary-bucket"}
        if self.world.rule_rtc:
            destination.update(ReplicationTime={"Status": "Enabled", "Time": {"Minutes": 15}},
                               Metrics={"Status": "Enabled", "EventThreshold": {"Minutes": 15}})
        return {"ReplicationConfiguration": {"Role": "r", "Rules": [
            {"ID": "checkpoints-to-secondary", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": PREFIX},
             "Destination": destination}]}}

    def get_health_check(self, HealthCheckId):
        if not self.world.health_check_exists:
            raise _Error("NoSuchHealthCheck", "GetHealthCheck")
        return {"HealthCheck": {"Id": HealthCheckId, "HealthCheckConfig": {"Inverted": self.world.inverted}}}

    def list_resource_record_sets(self, HostedZoneId, StartRecordName):
        return {"ResourceRecordSets": [
            {"Name": "app.example.com.", "Type": "CNAME", "Failover": "PRIMARY", "SetIdentifier": "primary",
             "HealthCheckId": "hc-1", "ResourceRecords": [{"Value": "primary-alb"}]},
            {"Name": "app.example.com.", "Type": "CNAME", "Failover": "SECONDARY", "SetIdentifier": "secondary",
             "ResourceRecords": [{"Value": "secondary-alb"}]},
        ]}

    def describe_auto_scaling_groups(self, AutoScalingGroupNames):
        (name,) = AutoScalingGroupNames
        desired = 2 if name == "primary-asg" else self.world.standby_desired
        maximum = 2 if name == "primary-asg" else self.world.standby_max
        return {"AutoScalingGroups": [{"AutoScalingGroupName": name, "DesiredCapacity": desired, "MaxSize": maximum}]}


class FakeAdapter(FaultAdapter):
    name = "fake"
    time_scale = 1000.0  # the canary thread's 5 s interval is 5 ms of real time

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[str] = []

    def client(self, service, region_role):
        return FakeClients(self.world, service, region_role)

    def now(self) -> float:
        return self.world.clock

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(0.001)
        self.world.tick(seconds)

    def describe_inject(self, fault: Fault) -> list[str]:
        return [f"fake.inject({fault.label()})"]

    def describe_revert(self, fault: Fault) -> list[str]:
        return [f"fake.revert({fault.label()})"]

    def inject(self, fault: Fault) -> dict[str, Any]:
        self.calls.append(f"inject {fault.label()}")
        if fault.type == "app-down":
            self.world.app_up[fault.region] = False
        elif fault.type == "s3":
            if not self.world.ignore_s3_fault:
                getattr(self.world, fault.region).down = True
        elif fault.type == "replication-pause":
            self.world.replication_paused = True
        elif fault.type == "health-check-invert":
            self.world.inverted = True
        self.world.tick(0)
        return {"token": fault.label()}

    def is_injected(self, fault: Fault) -> bool:
        if fault.type == "app-down":
            return not self.world.app_up[fault.region]
        if fault.type == "s3":
            return getattr(self.world, fault.region).down
        if fault.type == "replication-pause":
            return self.world.replication_paused
        return self.world.inverted

    def revert(self, fault: Fault, info: dict[str, Any]) -> None:
        self.calls.append(f"revert {fault.label()}")
        if self.world.fail_revert and fault.type == "s3":
            raise RuntimeError("the control plane refused the revert")
        if self.world.silent_revert == fault.type:
            return  # the call "succeeded" and changed nothing
        if fault.type == "app-down":
            self.world.app_up[fault.region] = True
        elif fault.type == "s3":
            getattr(self.world, fault.region).down = False
        elif fault.type == "replication-pause":
            self.world.replication_paused = False
        else:
            self.world.inverted = False
        self.world.tick(0)

    def health_check_healthy(self):
        if not self.world.health_check_exists:
            return None
        return self.world.unhealthy_since is None

    def dns_answer(self) -> str:
        w = self.world
        if w.unhealthy_since is not None and w.clock - w.unhealthy_since >= 30:
            return "SECONDARY" if w.app_up["secondary"] else "PRIMARY"
        return "PRIMARY"

    def app_healthy(self, region: str) -> bool:
        return self.world.app_up[region]

    def standby(self):
        return self.world.standby_desired, self.world.standby_in_service

    def describe_scale(self, desired):
        return [f"fake.scale({desired})"]

    def scale_standby(self, desired: int) -> None:
        self.calls.append(f"scale {desired}")
        if desired > self.world.standby_max:  # as Auto Scaling's SetDesiredCapacity refuses it
            raise _Error("ValidationError", "SetDesiredCapacity")
        self.world.standby_desired = desired
        self.world.scaled_at = self.world.clock
        if desired <= self.world.standby_in_service:
            self.world.standby_in_service = desired

    def state(self):
        return {"clock": self.world.clock}
