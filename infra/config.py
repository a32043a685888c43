"""Stack configuration: parsed and validated before any resource exists.

``parse_config`` is a pure function from the raw ``dr-platform:*`` values (as the Pulumi
CLI hands them over, after applying the defaults declared in ``Pulumi.yaml``) to a frozen
``PlatformConfig``. Every problem raises :class:`recovery_lib.errors.ConfigError` naming
the key, the bad value and what is allowed, so ``pulumi up`` stops before it creates
anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from infra.failover_budget import worst_case
from recovery_lib.errors import ConfigError

NAMESPACE = "dr-platform"

STRATEGIES = ("pilot-light", "warm-standby")
REQUEST_INTERVALS = (10, 30)
PROTOCOLS = ("HTTP", "HTTPS")
# Route 53 accepts 0..2147483647 for a TTL; we bound it to something a failover record
# can live with: a day at most, and AWS suggests 60 s for failover records.
TTL_RANGE = (0, 86_400)
# Route 53 reports an alias record to an ALB with the load balancer's own 60 s TTL.
ALIAS_EFFECTIVE_TTL = 60

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
_SSM_PARAM_RE = re.compile(r"^/[A-Za-z0-9_.\-/]+$")
_DNS_NAME_RE = re.compile(r"^(?=.{1,253}\.?$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?$")
_ZONE_ID_RE = re.compile(r"^Z[A-Z0-9]{1,31}$")
_VPC_ID_RE = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*/$")
# Pulumi.yaml's default for standbyCapacity: "the strategy's default" (a declared key without
# a default would be required in every stack, pulumi/pulumi#21797).
STANDBY_DEFAULT = -1
_ACM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class RegionNetwork:
    """Where a region's compute runs. ``None`` fields mean the region's default VPC."""

    vpc_id: str
    subnet_ids: tuple[str, ...]  # the instances' (private) subnets
    # The internet-facing load balancer's public subnets (required with dns; () without).
    public_subnet_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DnsConfig:
    record_name: str
    zone_name: Optional[str] = None
    zone_id: Optional[str] = None
    protocol: str = "HTTP"
    port: int = 80
    path: str = "/healthz"
    request_interval: int = 10
    failure_threshold: int = 3
    ttl: int = 60
    alias: bool = False
    # Bring-your-own ACM certificates per role; without them an HTTPS stack requests its own,
    # DNS-validated in the stack's hosted zone (infra/certificates.py).
    certificate_arns: Optional[Mapping[str, str]] = None
    # HTTPS only: also listen on port 80 and redirect to HTTPS (opens port 80 to the internet).
    http_redirect: bool = False

    @property
    def effective_ttl(self) -> int:
        """What clients cache: the record's TTL, or the ALB's 60 s for alias records."""
        return ALIAS_EFFECTIVE_TTL if self.alias else self.ttl


@dataclass(frozen=True)
class PlatformConfig:
    project: str
    stack: str
    primary_region: str
    secondary_region: str
    strategy: str
    replication: bool
    kms: bool
    replication_time_control: bool
    failback: bool
    fis: bool
    noncurrent_version_days: int
    protect_data: bool
    waf: bool
    audit_trail: bool
    checkpoint_prefix: str
    instance_type: str
    ami_parameter: str
    app_port: int
    primary_capacity: int
    standby_capacity: int
    replication_latency_alarm_seconds: int
    rto_seconds: int
    rpo_seconds: int
    alert_email: Optional[str] = None
    networks: Mapping[str, RegionNetwork] = field(default_factory=dict)
    dns: Optional[DnsConfig] = None

    @property
    def max_capacity(self) -> int:
        """Both groups can grow to the primary's size: a pilot light must be able to take over."""
        return self.primary_capacity


# -- the keys, their types, and how each is read -------------------------------------------

_BOOL_KEYS = {
    "replication": "replication",
    "kms": "kms",
    "replicationTimeControl": "replication_time_control",
    "failback": "failback",
    "protectData": "protect_data",
    "fis": "fis",
    "waf": "waf",
    "auditTrail": "audit_trail",
}
_INT_KEYS = {
    "noncurrentVersionDays": ("noncurrent_version_days", 1, 3650),
    "appPort": ("app_port", 1, 65535),
    "primaryCapacity": ("primary_capacity", 1, 1000),
    "replicationLatencyAlarmSeconds": ("replication_latency_alarm_seconds", 60, 86_400),
    "rtoSeconds": ("rto_seconds", 1, 7 * 86_400),
    "rpoSeconds": ("rpo_seconds", 1, 7 * 86_400),
}
_STR_KEYS = {
    "secondaryRegion": "secondary_region",
    "strategy": "strategy",
    "checkpointPrefix": "checkpoint_prefix",
    "instanceType": "instance_type",
    "amiParameter": "ami_parameter",
    "alertEmail": "alert_email",
}
_OBJECT_KEYS = ("dns", "networking")
_OPTIONAL_KEYS = {"alertEmail", "standbyCapacity", "dns", "networking"}
KNOWN_KEYS = frozenset(
    set(_BOOL_KEYS) | set(_INT_KEYS) | set(_STR_KEYS) | set(_OBJECT_KEYS) | {"standbyCapacity"}
)


def _key(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(f"{_key(name)} must be true or false, got {value!r}")


def _int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{_key(name)} must be an integer from {low} to {high}, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip(), 10)
        except ValueError:
            raise ConfigError(
                f"{_key(name)} must be an integer from {low} to {high}, got {value!r}"
            ) from None
    if not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{_key(name)} must be an integer from {low} to {high}, got {value!r}")
    return value


def _object(name: str, value: Any) -> Optional[dict]:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{_key(name)} must be an object, got unparsable {value!r}: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{_key(name)} must be an object, got {type(value).__name__} {value!r}")
    return value


def _check_fields(name: str, obj: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ConfigError(
            f"{_key(name)} has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _region(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _REGION_RE.match(value):
        raise ConfigError(f"{name} must be an AWS region name such as us-west-2, got {value!r}")
    return value


def _subnet_list(where: str, subnets: Any) -> tuple[str, ...]:
    if (
        not isinstance(subnets, list)
        or len(subnets) < 2
        or not all(isinstance(s, str) and _SUBNET_ID_RE.match(s) for s in subnets)
        or len(set(subnets)) != len(subnets)
    ):
        raise ConfigError(
            f"{_key(where)} must list at least two distinct subnet ids "
            f"(subnet-0123abcd) in different availability zones, got {subnets!r}"
        )
    return tuple(subnets)


def _parse_networking(value: Any, primary: str, secondary: str, *, load_balancer: bool) -> dict[str, RegionNetwork]:
    """``{primary|secondary: {vpcId, subnetIds, publicSubnetIds}}``.

    ``subnetIds`` are the instances' subnets (private ones, with a NAT or VPC endpoints for
    S3); ``publicSubnetIds`` the internet-facing load balancer's, required when DNS failover
    puts a load balancer in front (and refused without one: nothing would use them).
    """
    obj = _object("networking", value)
    if obj is None:
        return {}
    _check_fields("networking", obj, {"primary", "secondary"})
    networks: dict[str, RegionNetwork] = {}
    for role, entry in obj.items():
        where = f"networking.{role}"
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{_key(where)} must be an object with vpcId, subnetIds (instances) and publicSubnetIds "
                f"(load balancer), got {entry!r}"
            )
        _check_fields(where, entry, {"vpcId", "subnetIds", "publicSubnetIds"})
        vpc_id = entry.get("vpcId")
        if not isinstance(vpc_id, str) or not _VPC_ID_RE.match(vpc_id):
            raise ConfigError(f"{_key(where + '.vpcId')} must look like vpc-0123abcd, got {vpc_id!r}")
        subnets = _subnet_list(where + ".subnetIds", entry.get("subnetIds"))
        public: tuple[str, ...] = ()
        if load_balancer:
            if "publicSubnetIds" not in entry:
                raise ConfigError(
                    f"{_key(where + '.publicSubnetIds')} is missing: with dns set, an internet-facing load balancer "
                    "needs public subnets of its own (subnetIds are the instances'); list at least two"
                )
            public = _subnet_list(where + ".publicSubnetIds", entry.get("publicSubnetIds"))
        elif "publicSubnetIds" in entry:
            raise ConfigError(
                f"{_key(where + '.publicSubnetIds')} is only used with dns (the load balancer's subnets), "
                f"got {entry['publicSubnetIds']!r} without dns"
            )
        networks[role] = RegionNetwork(vpc_id=vpc_id, subnet_ids=subnets, public_subnet_ids=public)
    return networks


_DNS_FIELDS = {
    "recordName", "zoneName", "zoneId", "protocol", "port", "path", "requestInterval",
    "failureThreshold", "ttl", "alias", "certificateArns", "httpRedirect",
}


def _parse_dns(value: Any) -> Optional[DnsConfig]:
    obj = _object("dns", value)
    if obj is None:
        return None
    _check_fields("dns", obj, _DNS_FIELDS)

    record = obj.get("recordName")
    if not isinstance(record, str) or not _DNS_NAME_RE.match(record):
        raise ConfigError(f"{_key('dns.recordName')} must be a DNS name such as app.example.com, got {record!r}")
    zone_name, zone_id = obj.get("zoneName"), obj.get("zoneId")
    if (zone_name is None) == (zone_id is None):
        raise ConfigError(
            f"{_key('dns')} needs exactly one of zoneName or zoneId, got zoneName={zone_name!r} zoneId={zone_id!r}"
        )
    if zone_name is not None:
        if not isinstance(zone_name, str) or not _DNS_NAME_RE.match(zone_name):
            raise ConfigError(f"{_key('dns.zoneName')} must be a DNS zone name such as example.com, got {zone_name!r}")
        bare_zone, bare_record = zone_name.rstrip(".").lower(), record.rstrip(".").lower()
        if not (bare_record == bare_zone or bare_record.endswith("." + bare_zone)):
            raise ConfigError(
                f"{_key('dns.recordName')} {record!r} is not inside the zone {_key('dns.zoneName')}={zone_name!r}"
            )
    if zone_id is not None and (not isinstance(zone_id, str) or not _ZONE_ID_RE.match(zone_id)):
        raise ConfigError(f"{_key('dns.zoneId')} must be a Route 53 hosted zone id such as Z0123456789ABC, got {zone_id!r}")

    protocol = obj.get("protocol", "HTTP")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{_key('dns.protocol')} must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    port = _int("dns.port", obj.get("port", 443 if protocol == "HTTPS" else 80), 1, 65535)
    path = obj.get("path", "/healthz")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 255 or any(c.isspace() for c in path):
        raise ConfigError(f"{_key('dns.path')} must be an absolute URL path such as /healthz (at most 255 characters), got {path!r}")
    interval = obj.get("requestInterval", 10)
    if isinstance(interval, bool) or interval not in REQUEST_INTERVALS:
        raise ConfigError(
            f"{_key('dns.requestInterval')} must be 10 or 30 (seconds; Route 53 allows no other value), got {interval!r}"
        )
    threshold = _int("dns.failureThreshold", obj.get("failureThreshold", 3), 1, 10)
    ttl = _int("dns.ttl", obj.get("ttl", 60), *TTL_RANGE)
    alias = _bool("dns.alias", obj.get("alias", False))
    if not alias and zone_name is not None and record.rstrip(".").lower() == zone_name.rstrip(".").lower():
        raise ConfigError(
            f"{_key('dns.recordName')} {record!r} is the zone apex of {_key('dns.zoneName')}={zone_name!r}, and "
            "Route 53 rejects a CNAME at the zone apex; set dns.alias to true (an alias A record to the "
            "load balancer) or use a name below the apex such as app." + zone_name.rstrip(".")
        )

    certs = obj.get("certificateArns")
    if certs is not None and protocol != "HTTPS":
        raise ConfigError(f"{_key('dns.certificateArns')} is only allowed when dns.protocol is HTTPS, got protocol {protocol!r}")
    if certs is not None:
        if not isinstance(certs, dict) or set(certs) != {"primary", "secondary"}:
            raise ConfigError(
                f"{_key('dns.certificateArns')} must map primary and secondary to ACM certificate ARNs "
                f"(or be left out: the stack then requests DNS-validated certificates), got {certs!r}"
            )
        for role, arn in certs.items():
            if not isinstance(arn, str) or not _ACM_ARN_RE.match(arn):
                raise ConfigError(f"{_key('dns.certificateArns.' + role)} must be an ACM certificate ARN, got {arn!r}")
    http_redirect = _bool("dns.httpRedirect", obj.get("httpRedirect", False))
    if http_redirect and protocol != "HTTPS":
        raise ConfigError(f"{_key('dns.httpRedirect')} redirects HTTP to HTTPS and needs dns.protocol HTTPS, got {protocol!r}")
    if http_redirect and port == 80:
        raise ConfigError(f"{_key('dns.httpRedirect')} listens on port 80 for the redirect; dns.port must not be 80")

    return DnsConfig(
        record_name=record.rstrip("."),
        zone_name=zone_name.rstrip(".") if zone_name else None,
        zone_id=zone_id,
        protocol=protocol,
        port=port,
        path=path,
        request_interval=interval,
        failure_threshold=threshold,
        ttl=ttl,
        alias=alias,
        certificate_arns=dict(certs) if certs else None,
        http_redirect=http_redirect,
    )


def parse_config(
    raw: Mapping[str, Any], *, project: str, stack: str, primary_region: Optional[str]
) -> PlatformConfig:
    """Validate the raw ``dr-platform:*`` values (keys without the namespace)."""
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(_key(k) for k in unknown)}; "
            f"known keys: {', '.join(sorted(KNOWN_KEYS))}"
        )
    missing = sorted(k for k in KNOWN_KEYS - _OPTIONAL_KEYS if raw.get(k) in (None, ""))
    if missing:
        raise ConfigError(f"missing config key(s) {', '.join(_key(k) for k in missing)} (see README: Configuration)")

    primary = _region("aws:region", primary_region)
    secondary = _region(_key("secondaryRegion"), raw["secondaryRegion"])
    if secondary == primary:
        raise ConfigError(
            f"{_key('secondaryRegion')} must differ from aws:region; both are {primary!r}: "
            "a replica in the same region does not survive a regional outage"
        )

    values: dict[str, Any] = {}
    for name, attr in _BOOL_KEYS.items():
        values[attr] = _bool(name, raw[name])
    for name, (attr, low, high) in _INT_KEYS.items():
        values[attr] = _int(name, raw[name], low, high)

    strategy = raw["strategy"]
    if strategy not in STRATEGIES:
        raise ConfigError(f"{_key('strategy')} must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    prefix = raw["checkpointPrefix"]
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise ConfigError(
            f"{_key('checkpointPrefix')} must be a key prefix of letters, digits, '_', '.', '-' "
            f"segments ending in '/', such as checkpoints/, got {prefix!r}"
        )
    instance_type = raw["instanceType"]
    if not isinstance(instance_type, str) or not _INSTANCE_TYPE_RE.match(instance_type):
        raise ConfigError(f"{_key('instanceType')} must be an EC2 instance type such as t3.micro, got {instance_type!r}")
    ami_parameter = raw["amiParameter"]
    if not isinstance(ami_parameter, str) or not _SSM_PARAM_RE.match(ami_parameter):
        raise ConfigError(
            f"{_key('amiParameter')} must be an SSM parameter path such as "
            f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64, got {ami_parameter!r}"
        )
    email = raw.get("alertEmail") or None
    if email is not None and (not isinstance(email, str) or not _EMAIL_RE.match(email)):
        raise ConfigError(f"{_key('alertEmail')} must be an e-mail address, got {email!r}")

    primary_capacity = values["primary_capacity"]
    standby_raw = raw.get("standbyCapacity")
    if standby_raw not in (None, "") and not isinstance(standby_raw, bool):
        try:
            if int(str(standby_raw).strip(), 10) == STANDBY_DEFAULT:
                standby_raw = None  # Pulumi.yaml's default: the strategy decides
        except ValueError:
            pass  # _int below names the bad value
    if strategy == "pilot-light":
        standby = 0 if standby_raw in (None, "") else _int("standbyCapacity", standby_raw, 0, 0)
    else:
        if primary_capacity < 2:
            raise ConfigError(
                f"{_key('primaryCapacity')} must be at least 2 for warm-standby (the standby runs "
                f"at least 1 and below the primary), got {primary_capacity}"
            )
        standby = 1 if standby_raw in (None, "") else _int(
            "standbyCapacity", standby_raw, 1, primary_capacity - 1
        )

    if not values["replication"]:
        for name in ("replicationTimeControl", "failback", "fis"):
            if values[_BOOL_KEYS[name]]:
                raise ConfigError(
                    f"{_key(name)} is true but {_key('replication')} is false; "
                    f"{name} only applies to a replicated bucket pair: enable replication or set {name} to false"
                )

    if values["waf"] and raw.get("dns") in (None, ""):
        raise ConfigError(
            f"{_key('waf')} is true but {_key('dns')} is not set; the web ACL protects the load "
            "balancers, which only exist with DNS failover: set dns or set waf to false"
        )

    if values["fis"] and not values["replication_time_control"]:
        raise ConfigError(
            f"{_key('fis')} is true but {_key('replicationTimeControl')} is false; the FIS experiments stop "
            "on an S3 Replication metric alarm (OperationsFailedReplication), and this program enables replication "
            "metrics only with Replication Time Control"
        )

    if values["replication_time_control"] and values["rpo_seconds"] < 900:
        raise ConfigError(
            f"{_key('rpoSeconds')} is {values['rpo_seconds']} s but Replication Time Control only "
            "promises 15 minutes (900 s); raise the RPO target to at least 900"
        )

    dns = _parse_dns(raw.get("dns"))
    if dns is not None:
        worst = worst_case(dns)
        if worst.total_seconds > values["rto_seconds"]:
            parts = ", ".join(f"{k} {v} s" for k, v in worst.as_dict().items() if k != "total")
            raise ConfigError(
                f"DNS failover can take up to {worst.total_seconds} s in the worst case ({parts}), which "
                f"exceeds {_key('rtoSeconds')}={values['rto_seconds']}; lower dns.requestInterval, "
                "dns.failureThreshold or dns.ttl, or raise the RTO target"
            )

    return PlatformConfig(
        project=project,
        stack=stack,
        primary_region=primary,
        secondary_region=secondary,
        strategy=strategy,
        checkpoint_prefix=prefix,
        instance_type=instance_type,
        ami_parameter=ami_parameter,
        standby_capacity=standby,
        alert_email=email,
        networks=_parse_networking(raw.get("networking"), primary, secondary, load_balancer=dns is not None),
        dns=dns,
        **values,
    )
