"""Pulumi mocks that answer like AWS: realistic ids, names and ARNs per region.

The region of each resource comes from the provider it was registered with, so tests can
see which region a resource would land in.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi

ACCOUNT = "123456789012"


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:7]


class FakeAws(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.provider_regions: dict[str, str] = {}
        self.calls: list[pulumi.runtime.MockCallArgs] = []

    def _region(self, provider_ref: str) -> str:
        provider_id = provider_ref.rsplit("::", 1)[-1] if provider_ref else ""
        return self.provider_regions.get(provider_id, "us-east-1")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state: dict[str, Any] = dict(args.inputs)
        name, typ = args.name, args.typ
        resource_id = f"{name}-{_suffix(name)}"
        if typ == "pulumi:providers:aws":
            resource_id = f"provider-{name}"
            self.provider_regions[resource_id] = args.inputs.get("region", "us-east-1")
            return resource_id, state
        region = self._region(args.provider)
        if typ == "aws:s3/bucket:Bucket":
            bucket = state.get("bucket") or f"{name}-{_suffix(name)}"
            state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", region=region)
            resource_id = bucket
        elif typ == "aws:kms/key:Key":
            key_id = f"{_suffix(name)}-0000-4000-8000-{_suffix(name + 'k')}00000"
            state.update(key_id=key_id, arn=f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}")
            resource_id = key_id
        elif typ in ("aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile"):
            kind = "role" if typ.endswith("Role") else "instance-profile"
            role_name = state.get("name") or f"{name}-{_suffix(name)}"
            state.update(name=role_name, arn=f"arn:aws:iam::{ACCOUNT}:{kind}/{role_name}")
            resource_id = role_name
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            lb_name = f"{name}-{_suffix(name)}"[:32]
            state.update(
                name=lb_name,
                arn=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/app/{lb_name}/{_suffix(name)}",
                dns_name=f"{lb_name}-1234567890.{region}.elb.amazonaws.com",
                zone_id="Z35SXDOTRQ7X7K" if region == "us-east-1" else "Z1H1FL5HABSF5",
            )
            resource_id = state["arn"]
        elif typ == "aws:lb/targetGroup:TargetGroup":
            state.update(arn=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:targetgroup/{name}/{_suffix(name)}")
            resource_id = state["arn"]
        elif typ == "aws:lb/listener:Listener":
            state.update(arn=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:listener/app/{name}/{_suffix(name)}")
        elif typ == "aws:autoscaling/group:Group":
            group = f"{name}-{_suffix(name)}"
            state.update(name=group, arn=f"arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:x:autoScalingGroupName/{group}")
            resource_id = group
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            resource_id = f"lt-{_suffix(name)}0000000000"
            state.update(arn=f"arn:aws:ec2:{region}:{ACCOUNT}:launch-template/{resource_id}", latest_version=1)
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{_suffix(name)}0000000000"
            state.update(arn=f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{resource_id}")
        elif typ == "aws:route53/healthCheck:HealthCheck":
            resource_id = f"{_suffix(name)}-1111-4111-8111-{_suffix(name + 'h')}00000"
            state.update(arn=f"arn:aws:route53:::healthcheck/{resource_id}")
        elif typ == "aws:route53/record:Record":
            state.update(fqdn=state.get("name"))
            resource_id = f"{state.get('zoneId')}_{state.get('name')}_{state.get('type')}_{state.get('setIdentifier')}"
        elif typ == "aws:sns/topic:Topic":
            topic = f"{name}-{_suffix(name)}"
            state.update(name=topic, arn=f"arn:aws:sns:{region}:{ACCOUNT}:{topic}")
            resource_id = state["arn"]
        elif typ == "aws:fis/experimentTemplate:ExperimentTemplate":
            resource_id = f"EXT{_suffix(name).upper()}abcdef"
            state.update(arn=f"arn:aws:fis:{region}:{ACCOUNT}:experiment-template/{resource_id}")
        elif typ == "aws:acm/certificate:Certificate":
            resource_id = f"{_suffix(name)}-2222-4222-8222-{_suffix(name + 'c')}00000"
            domain = state["domainName"]
            state.update(arn=f"arn:aws:acm:{region}:{ACCOUNT}:certificate/{resource_id}", domainValidationOptions=[{
                "domainName": domain, "resourceRecordName": f"_{_suffix(domain)}.{domain}.",
                "resourceRecordType": "CNAME", "resourceRecordValue": f"_{_suffix(domain + 'v')}.acm-validations.aws.",
            }])
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            resource_id = state["certificateArn"]
        elif typ == "aws:wafv2/webAcl:WebAcl":
            resource_id = f"{_suffix(name)}-3333-4333-8333-{_suffix(name + 'w')}00000"
            state.update(arn=f"arn:aws:wafv2:{region}:{ACCOUNT}:regional/webacl/{name}/{resource_id}")
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            resource_id = state["name"]
            state.update(arn=f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{resource_id}")
        elif typ == "aws:cloudtrail/trail:Trail":
            state.update(arn=f"arn:aws:cloudtrail:{region}:{ACCOUNT}:trail/{state['name']}")
            resource_id = state["arn"]
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            alarm = f"{name}-{_suffix(name)}"
            state.update(name=alarm, arn=f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{alarm}")
            resource_id = alarm
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args)
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "AIDTEST", "id": ACCOUNT}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}, []
        if token == "aws:ec2/getVpc:getVpc":
            region = self._region(args.provider)
            return {"id": f"vpc-{_suffix(region)}0000000000", "default": True, "cidrBlock": "172.31.0.0/16"}, []
        if token == "aws:ec2/getSubnets:getSubnets":
            region = self._region(args.provider)
            return {"ids": [f"subnet-{_suffix(region + str(i))}000000000{i}" for i in range(3)], "id": region}, []
        if token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            region = self._region(args.provider)
            # like us-east-1, one zone (the "e" one) offers no t3
            types = [v for f in args.args.get("filters") or [] if f["name"] == "instance-type" for v in f["values"]]
            zones = [f"{region}{z}" for z in "abcdef" if not (z == "e" and any(t.startswith("t3.") for t in types))]
            return {"locations": zones, "locationTypes": ["availability-zone"] * len(zones),
                    "instanceTypes": [], "id": region}, []
        if token == "aws:route53/getZone:getZone":
            return {"zoneId": "Z0123456789EXAMPLE", "name": args.args.get("name"), "id": "Z0123456789EXAMPLE"}, []
        raise NotImplementedError(f"FakeAws has no answer for invoke {token}")
