"""The platform descriptor: the one contract between the Pulumi program and recovery_lib.

The program exports it as the ``platform`` stack output; the offline sandbox writes the
same shape (plus its own ``sandbox`` section, kept in :attr:`Platform.extra`)::

    {"version": 1, "project": str, "stack": str, "strategy": "pilot-light" | "warm-standby",
     "checkpoint_prefix": "checkpoints/",
     "regions": {"primary":   {"name": str, "bucket": str, "kms_key_arn": str | null,
                               "asg_name": str, "endpoint_url": null | str},
                 "secondary": {same keys}},
     "replication": {"role_arn": str, "rtc": bool, "two_way": bool},
     "dns": null | {"zone_id": str, "record_name": str, "ttl": int,
                    "primary_health_check_id": str, "request_interval": int,
                    "failure_threshold": int, "estimated_failover_seconds": int,
                    "worst_case_failover_seconds": int (optional),
                    "worst_case_failover_parts": {part: int} (optional)},
     "alerts_topic_arn": str,
     "targets": {"rto_seconds": int, "rpo_seconds": int}}

``endpoint_url`` is null on AWS and a loopback URL in the sandbox; when set, it is the
endpoint of that region's S3 clients. :func:`load_platform` accepts the dict, a path to a
JSON file, or nothing (then the file named by the ``DR_PLATFORM`` environment variable).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import types
import urllib.parse
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, InvalidName
from .names import validate_prefix

__all__ = [
    "Platform", "RegionSpec", "ReplicationSpec", "DnsSpec", "Targets",
    "load_platform", "ENV_VAR", "STRATEGIES",
]

ENV_VAR = "DR_PLATFORM"
STRATEGIES = ("pilot-light", "warm-standby")
SCHEMA_VERSION = 1
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KNOWN = {"version", "project", "stack", "strategy", "checkpoint_prefix", "regions",
          "replication", "dns", "alerts_topic_arn", "targets"}


@dataclasses.dataclass(frozen=True)
class RegionSpec:
    name: str
    bucket: str
    kms_key_arn: str | None
    asg_name: str
    endpoint_url: str | None


@dataclasses.dataclass(frozen=True)
class ReplicationSpec:
    role_arn: str | None
    rtc: bool
    two_way: bool
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class DnsSpec:
    zone_id: str
    record_name: str
    ttl: int
    primary_health_check_id: str
    request_interval: int
    failure_threshold: int
    estimated_failover_seconds: int  # best case
    worst_case_failover_seconds: int | None = None  # upper bound (optional field)


@dataclasses.dataclass(frozen=True)
class Targets:
    rto_seconds: int
    rpo_seconds: int


@dataclasses.dataclass(frozen=True)
class Platform:
    """A validated platform descriptor. ``extra`` keeps unknown top-level sections (such as
    the sandbox's ``sandbox``); ``raw`` is a copy of the whole input."""

    version: int
    project: str
    stack: str
    strategy: str
    checkpoint_prefix: str
    regions: Mapping[str, RegionSpec]
    replication: ReplicationSpec
    dns: DnsSpec | None
    alerts_topic_arn: str
    targets: Targets
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False,
                                               repr=False)
    source: str | None = dataclasses.field(default=None, compare=False)

    @property
    def primary(self) -> RegionSpec:
        return self.regions["primary"]

    @property
    def secondary(self) -> RegionSpec:
        return self.regions["secondary"]

    def to_dict(self) -> dict[str, Any]:
        """The descriptor as JSON-ready data (unknown sections included)."""
        return copy.deepcopy(dict(self.raw))


def load_platform(source: str | os.PathLike[str] | Mapping[str, Any] | Platform | None = None
                  ) -> Platform:
    """Parse and validate a descriptor; ConfigError naming the first bad field."""
    if isinstance(source, Platform):
        return source
    if source is None:
        path = os.environ.get(ENV_VAR)
        if not path:
            raise ConfigError(
                f"no platform descriptor given and ${ENV_VAR} is not set; pass a descriptor "
                f"or set {ENV_VAR} to the path of the JSON file (the 'platform' stack output)"
            )
        source = path
    if isinstance(source, Mapping):
        return _parse(source, where="platform descriptor")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read platform descriptor {str(path)!r}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"platform descriptor {str(path)!r} is not valid JSON: {exc}") from exc
        return _parse(data, where=f"platform descriptor {str(path)!r}", source=str(path))
    raise ConfigError(
        f"platform descriptor must be a dict or a path to a JSON file, got {type(source).__name__}"
    )


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, expected: str, value: Any = dataclasses.MISSING) -> ConfigError:
        got = "it is missing" if value is dataclasses.MISSING else f"got {value!r}"
        return ConfigError(f"{self.where}: {path} must be {expected}; {got}")

    def obj(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key, dataclasses.MISSING)
        if not isinstance(value, Mapping):
            raise self.fail(path, "an object", value)
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str, *, nullable: bool = False) -> Any:
        value = data.get(key, dataclasses.MISSING)
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(path, "a non-empty string" + (" or null" if nullable else ""), value)
        return value

    def integer(self, data: Mapping[str, Any], key: str, path: str, *, low: int = 0,
                high: int | None = None, allowed: tuple[int, ...] = ()) -> int:
        value = data.get(key, dataclasses.MISSING)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, "an integer", value)
        if allowed and value not in allowed:
            raise self.fail(path, f"one of {list(allowed)}", value)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise self.fail(path, f"an integer {bound}", value)
        return value

    def boolean(self, data: Mapping[str, Any], key: str, path: str) -> bool:
        value = data.get(key, dataclasses.MISSING)
        if not isinstance(value, bool):
            raise self.fail(path, "true or false", value)
        return value


def _parse(data: Any, *, where: str, source: str | None = None) -> Platform:
    r = _Reader(where)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
    version = data.get("version", dataclasses.MISSING)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise r.fail("version", f"{SCHEMA_VERSION} (the descriptor schema this library reads)", version)
    strategy = data.get("strategy", dataclasses.MISSING)
    if strategy not in STRATEGIES:
        raise r.fail("strategy", f"one of {list(STRATEGIES)}", strategy)
    prefix = data.get("checkpoint_prefix", dataclasses.MISSING)
    if not isinstance(prefix, str) or (prefix and not prefix.endswith("/")):
        raise r.fail("checkpoint_prefix", "a key prefix ending with '/' (e.g. 'checkpoints/')", prefix)
    try:
        validate_prefix(prefix, what="checkpoint_prefix")
    except InvalidName as exc:
        raise ConfigError(f"{where}: {exc}") from exc

    regions_data = r.obj(data, "regions", "regions")
    regions = {role: _region(r, r.obj(regions_data, role, f"regions.{role}"), f"regions.{role}")
               for role in ("primary", "secondary")}
    if regions["primary"].bucket == regions["secondary"].bucket:
        raise r.fail("regions.secondary.bucket", "a different bucket from the primary's",
                     regions["secondary"].bucket)

    rep = r.obj(data, "replication", "replication")
    # "enabled" arrived with stacks that may switch replication off; older descriptors lack it.
    enabled = r.boolean(rep, "enabled", "replication.enabled") if "enabled" in rep else True
    replication = ReplicationSpec(
        role_arn=r.string(rep, "role_arn", "replication.role_arn", nullable=not enabled),
        rtc=r.boolean(rep, "rtc", "replication.rtc"),
        two_way=r.boolean(rep, "two_way", "replication.two_way"),
        enabled=enabled,
    )
    dns: DnsSpec | None = None
    if data.get("dns", dataclasses.MISSING) is not None:
        d = r.obj(data, "dns", "dns")
        dns = DnsSpec(
            zone_id=r.string(d, "zone_id", "dns.zone_id"),
            record_name=r.string(d, "record_name", "dns.record_name"),
            ttl=r.integer(d, "ttl", "dns.ttl", low=0),
            primary_health_check_id=r.string(d, "primary_health_check_id",
                                              "dns.primary_health_check_id"),
            request_interval=r.integer(d, "request_interval", "dns.request_interval",
                                       allowed=(10, 30)),
            failure_threshold=r.integer(d, "failure_threshold", "dns.failure_threshold",
                                        low=1, high=10),
            estimated_failover_seconds=r.integer(d, "estimated_failover_seconds",
                                                 "dns.estimated_failover_seconds", low=0),
            # optional: descriptors written before the worst case was exported lack it
            worst_case_failover_seconds=(
                r.integer(d, "worst_case_failover_seconds", "dns.worst_case_failover_seconds", low=0)
                if d.get("worst_case_failover_seconds") is not None else None),
        )
    t = r.obj(data, "targets", "targets")
    targets = Targets(rto_seconds=r.integer(t, "rto_seconds", "targets.rto_seconds", low=1),
                      rpo_seconds=r.integer(t, "rpo_seconds", "targets.rpo_seconds", low=0))
    raw = copy.deepcopy(dict(data))
    return Platform(
        version=SCHEMA_VERSION,
        project=r.string(data, "project", "project"),
        stack=r.string(data, "stack", "stack"),
        strategy=strategy,
        checkpoint_prefix=prefix,
        regions=types.MappingProxyType(regions),
        replication=replication,
        dns=dns,
        alerts_topic_arn=r.string(data, "alerts_topic_arn", "alerts_topic_arn"),
        targets=targets,
        extra=types.MappingProxyType({k: v for k, v in raw.items() if k not in _KNOWN}),
        raw=types.MappingProxyType(raw),
        source=source,
    )


def _region(r: _Reader, data: Mapping[str, Any], path: str) -> RegionSpec:
    bucket = r.string(data, "bucket", f"{path}.bucket")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise r.fail(f"{path}.bucket", "an S3 bucket name (3-63 of a-z 0-9 . -)", bucket)
    kms = r.string(data, "kms_key_arn", f"{path}.kms_key_arn", nullable=True)
    if kms is not None and not kms.startswith("arn:"):
        raise r.fail(f"{path}.kms_key_arn", "a KMS key ARN ('arn:...') or null", kms)
    endpoint = (r.string(data, "endpoint_url", f"{path}.endpoint_url", nullable=True)
                if "endpoint_url" in data else None)  # optional: absent means AWS
    if endpoint is not None:
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise r.fail(f"{path}.endpoint_url", "null or an http(s) URL such as "
                         "'http://127.0.0.1:5000'", endpoint)
    return RegionSpec(
        name=r.string(data, "name", f"{path}.name"),
        bucket=bucket,
        kms_key_arn=kms,
        asg_name=r.string(data, "asg_name", f"{path}.asg_name"),
        endpoint_url=endpoint,
    )
