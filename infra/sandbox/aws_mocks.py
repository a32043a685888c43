"""Pulumi mocks that create every registered resource for real, through the AWS API of an emulator.

``EmulatorAws`` is a :class:`pulumi.runtime.Mocks`: for each resource the program registers
it makes the AWS call(s) ``pulumi up`` would have the provider make (in the region of the
resource's provider), on a moto server, and returns the real ids, ARNs and names as the
resource's state, so every value that flows between resources is the emulator's own.

Inputs arrive in the engine's camelCase; :func:`api_shape` turns nested input objects into
the API's PascalCase shapes. Names the program leaves out are auto-named as Pulumi does
(logical name + ``-`` + 7 random hex characters; lowercase for buckets). The creators, one
per resource type, live in :mod:`infra.sandbox.aws_creators`; the shape translation in
:mod:`infra.sandbox.aws_creators.shapes`.

A resource the emulator lacks or rejects is recorded in :attr:`EmulatorAws.unsupported`
(type, name, error) and gets the id ``unsupported:<name>``: never a plausible fake id.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Optional

import boto3
import botocore.config
import botocore.exceptions
import pulumi

from infra.sandbox.aws_creators import HANDLERS
from infra.sandbox.aws_creators.shapes import UnsupportedResource, api_shape, auto_name

__all__ = ["DEFAULT_REGION", "FAKE_CREDENTIALS", "SUPPORTED_TYPES", "EmulatorAws", "Unsupported",
           "UnsupportedResource", "api_shape", "auto_name"]

logger = logging.getLogger(__name__)

FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Unsupported:
    type: str
    name: str
    region: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "region": self.region, "error": self.error}


class EmulatorAws(pulumi.runtime.Mocks):
    """Create each registered resource on the emulator at ``endpoint_url``; answer invokes from it."""

    def __init__(self, endpoint_url: str, *, account_id: Optional[str] = None) -> None:
        self.endpoint_url = endpoint_url
        self.provider_regions: dict[str, str] = {}
        self.provider_tags: dict[str, dict[str, str]] = {}
        self.unsupported: list[Unsupported] = []
        self.created: list[dict[str, Any]] = []  # type, name, region, id: what exists in the emulator
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()
        self._session = boto3.session.Session(**FAKE_CREDENTIALS)

    # -- plumbing --------------------------------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
                )
            return self._clients[key]

    def _provider_id(self, ref: str) -> str:
        return ref.rsplit("::", 1)[-1] if ref else ""

    def region_of(self, provider_ref: str) -> str:
        return self.provider_regions.get(self._provider_id(provider_ref), DEFAULT_REGION)

    def default_tags(self, provider_ref: str) -> dict[str, str]:
        return dict(self.provider_tags.get(self._provider_id(provider_ref), {}))

    # -- Mocks ------------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        with self._lock:
            if args.typ == "pulumi:providers:aws":
                return self._provider(args)
            if args.custom is False:  # a component: nothing to create
                return f"{args.name}", dict(args.inputs)
            region = self.region_of(args.provider)
            handler = HANDLERS.get(args.typ)
            state = dict(args.inputs)
            try:
                if handler is None:
                    raise UnsupportedResource(f"the sandbox has no mapping of {args.typ} to the AWS API")
                resource_id, extra = handler(self, args, region, state)
            except (UnsupportedResource, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                record = Unsupported(args.typ, args.name, region, f"{type(exc).__name__}: {exc}")
                self.unsupported.append(record)
                logger.warning("unsupported in the emulator: %s %s (%s)", args.typ, args.name, record.error)
                return f"unsupported:{args.name}", state
            state.update(extra)
            self.created.append({"type": args.typ, "name": args.name, "region": region, "id": resource_id})
            logger.info("created %s %s in %s: %s", args.typ, args.name, region, resource_id)
            return resource_id, state

    def _provider(self, args: pulumi.runtime.MockResourceArgs):
        provider_id = f"provider-{args.name}-{uuid.uuid4().hex[:8]}"
        self.provider_regions[provider_id] = args.inputs.get("region", DEFAULT_REGION)
        tags = args.inputs.get("defaultTags")
        if isinstance(tags, str):
            tags = json.loads(tags)
        self.provider_tags[provider_id] = dict((tags or {}).get("tags") or {})
        return provider_id, dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        with self._lock:
            region = self.region_of(args.provider)
            token = args.token
            if token == "aws:index/getCallerIdentity:getCallerIdentity":
                who = self.client("sts", region).get_caller_identity()
                return {"accountId": who["Account"], "arn": who["Arn"], "userId": who["UserId"], "id": who["Account"]}, []
            if token == "aws:index/getPartition:getPartition":
                # Not an API call anywhere: the partition follows from the region.
                partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
                suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
                return {"partition": partition, "dnsSuffix": suffix, "id": partition, "reverseDnsPrefix": "com.amazonaws"}, []
            if token == "aws:ec2/getVpc:getVpc":
                return self._get_vpc(region, args.args), []
            if token == "aws:ec2/getSubnets:getSubnets":
                filters = [{"Name": f["name"], "Values": list(f["values"])} for f in args.args.get("filters") or []]
                subnets = self.client("ec2", region).describe_subnets(Filters=filters)["Subnets"]
                return {"ids": sorted(s["SubnetId"] for s in subnets), "id": region}, []
            if token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
                return self._instance_type_offerings(region, args.args), []
            if token == "aws:route53/getZone:getZone":
                return self._get_zone(region, args.args), []
            raise NotImplementedError(f"the sandbox cannot answer invoke {token}")

    def _get_vpc(self, region: str, query: dict[str, Any]) -> dict[str, Any]:
        filters = []
        if query.get("default"):
            filters.append({"Name": "isDefault", "Values": ["true"]})
        if query.get("id"):
            filters.append({"Name": "vpc-id", "Values": [query["id"]]})
        vpcs = self.client("ec2", region).describe_vpcs(Filters=filters)["Vpcs"]
        if len(vpcs) != 1:
            raise LookupError(f"getVpc {query} matched {len(vpcs)} VPCs in {region}, expected 1")
        vpc = vpcs[0]
        return {"id": vpc["VpcId"], "cidrBlock": vpc["CidrBlock"], "default": vpc.get("IsDefault", False),
                "ownerId": vpc.get("OwnerId"), "state": vpc.get("State")}

    def _instance_type_offerings(self, region: str, query: dict[str, Any]) -> dict[str, Any]:
        filters = [{"Name": f["name"], "Values": list(f["values"])} for f in query.get("filters") or []]
        location_type = query.get("locationType") or "region"
        ec2 = self.client("ec2", region)
        offerings = ec2.describe_instance_type_offerings(LocationType=location_type, Filters=filters)["InstanceTypeOfferings"]
        return {"locations": [o["Location"] for o in offerings], "instanceTypes": [o["InstanceType"] for o in offerings],
                "locationTypes": [o["LocationType"] for o in offerings], "id": region}

    def _get_zone(self, region: str, query: dict[str, Any]) -> dict[str, Any]:
        name = (query.get("name") or "").rstrip(".") + "."
        private = bool(query.get("privateZone"))
        zones = self.client("route53", region).list_hosted_zones_by_name(DNSName=name)["HostedZones"]
        for zone in zones:
            if zone["Name"] == name and zone.get("Config", {}).get("PrivateZone", False) == private:
                zone_id = zone["Id"].rsplit("/", 1)[-1]
                return {"zoneId": zone_id, "id": zone_id, "name": name.rstrip("."),
                        "resourceRecordSetCount": zone.get("ResourceRecordSetCount")}
        raise LookupError(f"no {'private' if private else 'public'} hosted zone {name!r} in the emulator")


SUPPORTED_TYPES = frozenset(HANDLERS)
