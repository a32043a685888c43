"""Pulumi mocks for the scan: every resource gets a unique id, ARN and name, like AWS would.

The translator joins resources through these values (an input equal to another resource's
id/ARN/name becomes a Terraform reference), so they only have to be unique and shaped like
AWS's; no per-type table is needed, and a resource type added to the program scans as it is.
The few attributes the program reads from other resources (a load balancer's DNS name and
zone, a KMS key id, a launch template's version) are filled in where the type needs them.

Invokes (data sources) are answered from the table in ``_invokes``; one the program starts to use and that
is missing here stops the scan with a ``TranslationError`` naming its token.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import pulumi

from infra.scan.errors import TranslationError
from infra.scan.translate import snake

ACCOUNT = "123456789012"
PARTITION = "aws"


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def _service(token: str) -> str:
    module = token.split(":", 2)[1].split("/", 1)[0]
    return {"lb": "elasticloadbalancing", "alb": "elasticloadbalancing", "vpc": "ec2", "cloudwatch": "cloudwatch"}.get(
        module, module
    )


def _invokes(region_of: Callable[[str], str]) -> dict[str, Callable[[pulumi.runtime.MockCallArgs], dict[str, Any]]]:
    def region(args: pulumi.runtime.MockCallArgs) -> str:
        return region_of(args.provider)

    return {
        "aws:index/getCallerIdentity:getCallerIdentity": lambda a: {
            "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/scan", "userId": "AIDSCAN", "id": ACCOUNT,
        },
        "aws:index/getPartition:getPartition": lambda a: {
            "partition": PARTITION, "dnsSuffix": "amazonaws.com", "id": PARTITION, "reverseDnsPrefix": "com.amazonaws",
        },
        "aws:index/getRegion:getRegion": lambda a: {"name": region(a), "region": region(a), "id": region(a)},
        "aws:ec2/getVpc:getVpc": lambda a: {
            "id": f"vpc-{_suffix(region(a))}", "default": True, "cidrBlock": "172.31.0.0/16",
        },
        "aws:ec2/getSubnets:getSubnets": lambda a: {
            "ids": [f"subnet-{_suffix(region(a) + str(i))}" for i in range(3)], "id": region(a),
        },
        "aws:route53/getZone:getZone": lambda a: {
            "zoneId": "Z0SCAN0EXAMPLE", "name": a.args.get("name"), "id": "Z0SCAN0EXAMPLE",
        },
        "aws:elb/getServiceAccount:getServiceAccount": lambda a: {
            "arn": "arn:aws:iam::127311923021:root", "id": "127311923021",
        },
        "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": lambda a: {
            "instanceTypes": [v for f in a.args.get("filters") or [] if f.get("name") == "instance-type"
                              for v in f.get("values", [])],
            "locations": [f"{region(a)}{z}" for z in "abc"],
            "locationTypes": ["availability-zone"] * 3,
            "id": region(a),
        },
        "aws:kms/getAlias:getAlias": lambda a: {
            "name": a.args.get("name"), "arn": f"arn:aws:kms:{region(a)}:{ACCOUNT}:{a.args.get('name')}",
            "targetKeyId": _suffix(str(a.args.get("name"))), "id": a.args.get("name"),
            "targetKeyArn": f"arn:aws:kms:{region(a)}:{ACCOUNT}:key/{_suffix(str(a.args.get('name')))}",
        },
        "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a: {
            "names": [f"{region(a)}{z}" for z in "abc"], "zoneIds": [f"az{i}" for i in range(3)], "id": region(a),
        },
    }


class ScanAws(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.provider_regions: dict[str, str] = {}
        self.invokes = _invokes(self._region)

    def _region(self, provider_ref: str) -> str:
        provider_id = provider_ref.rsplit("::", 1)[-1] if provider_ref else ""
        return self.provider_regions.get(provider_id, "us-east-1")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state: dict[str, Any] = dict(args.inputs)
        typ, name = args.typ, args.name
        if typ.startswith("pulumi:providers:"):
            resource_id = f"provider-{name}"
            self.provider_regions[resource_id] = args.inputs.get("region", "us-east-1")
            return resource_id, state
        region = self._region(args.provider)
        unique = f"{name}-{_suffix(typ + name)}"
        kind = snake(typ.rsplit(":", 1)[-1]).replace("_", "-")
        resource_id = unique
        if typ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            bucket = state.get("bucket") or unique
            state.update(bucket=bucket, arn=f"arn:{PARTITION}:s3:::{bucket}", region=region)
            resource_id = bucket
        elif typ == "aws:kms/key:Key":
            resource_id = f"{_suffix(unique)}-0000-4000-8000-{_suffix(unique + 'k')}0000"
            state.update(keyId=resource_id, arn=f"arn:{PARTITION}:kms:{region}:{ACCOUNT}:key/{resource_id}")
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            lb_name = unique[:32]
            state.update(
                name=lb_name,
                arn=f"arn:{PARTITION}:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/app/{lb_name}/{_suffix(unique)}",
                dnsName=f"{lb_name}.{region}.elb.amazonaws.com",
                zoneId=f"Z{_suffix(region).upper()}LB",
            )
            resource_id = state["arn"]
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            resource_id = f"lt-{_suffix(unique)}"
            state.update(latestVersion=1, defaultVersion=1)
        elif typ == "aws:route53/record:Record":
            state.update(fqdn=state.get("name"))
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{_suffix(unique)}"
        elif typ == "aws:acm/certificate:Certificate":
            resource_id = f"{_suffix(unique)}-2222-4222-8222-{_suffix(unique + 'c')}0000"
            state["arn"] = f"arn:{PARTITION}:acm:{region}:{ACCOUNT}:certificate/{resource_id}"
            domains = [state.get("domainName")] + list(state.get("subjectAlternativeNames") or [])
            state["domainValidationOptions"] = [
                {"domainName": d, "resourceRecordName": f"_{_suffix(str(d))}.{d}.", "resourceRecordType": "CNAME",
                 "resourceRecordValue": f"_{_suffix(str(d) + 'v')}.acm-validations.aws."}
                for d in domains if d
            ]
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            resource_id = state.get("certificateArn") or unique
        if "arn" not in state:
            state["arn"] = f"arn:{PARTITION}:{_service(typ)}:{region}:{ACCOUNT}:{kind}/{resource_id}"
        if not state.get("name") and typ != "aws:route53/record:Record":
            state["name"] = unique
        state.setdefault("arnSuffix", state["arn"].split(":", 5)[-1])
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list]:
        answer = self.invokes.get(args.token)
        if answer is None:
            raise TranslationError(
                f"the program calls {args.token}, which infra/scan/mocks.py cannot answer; "
                f"add it to _invokes (known: {', '.join(sorted(self.invokes))})"
            )
        return answer(args), []
