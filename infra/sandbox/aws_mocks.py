"""Pulumi mocks that create every registered resource for real, through the AWS API of an emulator.

``EmulatorAws`` is a :class:`pulumi.runtime.Mocks`: for each resource the program registers
it makes the AWS call(s) ``pulumi up`` would have the provider make (in the region of the
resource's provider), on a moto server, and returns the real ids, ARNs and names as the
resource's state, so every value that flows between resources is the emulator's own.

Inputs arrive in the engine's camelCase; :func:`api_shape` turns nested input objects into
the API's PascalCase shapes. Names the program leaves out are auto-named as Pulumi does
(logical name + ``-`` + 7 random hex characters; lowercase for buckets).

A resource the emulator lacks or rejects is recorded in :attr:`EmulatorAws.unsupported`
(type, name, error) and gets the id ``unsupported:<name>``: never a plausible fake id.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

import boto3
import botocore.config
import botocore.exceptions
import pulumi

logger = logging.getLogger(__name__)

FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}
DEFAULT_REGION = "us-east-1"

# engine camelCase key -> API key, where the PascalCase of the key is not the API's spelling
_API_KEYS = {
    "id": "ID",
    "cloudwatchMetricsEnabled": "CloudWatchMetricsEnabled",
    "kmsMasterKeyId": "KMSMasterKeyID",
    "replicaKmsKeyId": "ReplicaKmsKeyID",
    "sseAlgorithm": "SSEAlgorithm",
}


def api_shape(value: Any) -> Any:
    """camelCase engine inputs -> PascalCase API shapes; whole floats (the wire's numbers) -> int."""
    if isinstance(value, dict):
        return {_API_KEYS.get(k, k[:1].upper() + k[1:]): api_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_shape(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def auto_name(name: str, *, lower: bool = False, max_length: Optional[int] = None) -> str:
    """Pulumi's auto-naming: ``<logical name>-<7 hex>`` (trimmed to ``max_length``)."""
    suffix = secrets.token_hex(4)[:7]
    base = name.lower() if lower else name
    if max_length is not None:
        base = base[: max_length - len(suffix) - 1].rstrip("-")
    return f"{base}-{suffix}"


def _tag_list(tags: Optional[dict[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": str(v)} for k, v in (tags or {}).items()]


@dataclass(frozen=True)
class Unsupported:
    type: str
    name: str
    region: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "region": self.region, "error": self.error}


class UnsupportedResource(Exception):
    """The emulator does not implement (or rejects) what this resource needs."""


Handler = Callable[["EmulatorAws", pulumi.runtime.MockResourceArgs, str, dict[str, Any]], tuple[str, dict[str, Any]]]


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
            handler = _HANDLERS.get(args.typ)
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


# -- handlers: one per resource type ----------------------------------------------------------

def _kms_key(aws: EmulatorAws, args, region: str, inputs: dict[str, Any]):
    kms = aws.client("kms", region)
    params: dict[str, Any] = {"Description": inputs.get("description", ""),
                              "Tags": [{"TagKey": k, "TagValue": v} for k, v in
                                       {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}.items()]}
    if inputs.get("policy"):
        params["Policy"] = inputs["policy"]
    meta = kms.create_key(**params)["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["KeyId"], {"keyId": meta["KeyId"], "arn": meta["Arn"]}


def _kms_alias(aws: EmulatorAws, args, region, inputs):
    name = inputs.get("name") or auto_name("alias/" + args.name)
    aws.client("kms", region).create_alias(AliasName=name, TargetKeyId=inputs["targetKeyId"])
    account = aws.client("sts", region).get_caller_identity()["Account"]
    return name, {"name": name, "arn": f"arn:aws:kms:{region}:{account}:{name}"}


def _bucket(aws: EmulatorAws, args, region, inputs):
    name = inputs.get("bucket") or auto_name(args.name, lower=True, max_length=63)
    s3 = aws.client("s3", region)
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**params)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(tags)})
    return name, {"bucket": name, "arn": f"arn:aws:s3:::{name}", "region": region,
                  "bucketDomainName": f"{name}.s3.amazonaws.com",
                  "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com", "tagsAll": tags}


def _versioning(aws, args, region, inputs):
    config = api_shape(inputs["versioningConfiguration"])
    aws.client("s3", region).put_bucket_versioning(Bucket=inputs["bucket"], VersioningConfiguration=config)
    return inputs["bucket"], {}


def _encryption(aws, args, region, inputs):
    rules = api_shape(inputs["rules"])
    aws.client("s3", region).put_bucket_encryption(
        Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    return inputs["bucket"], {}


def _public_access_block(aws, args, region, inputs):
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    config = {"BlockPublicAcls": bool(inputs.get(keys[0])), "BlockPublicPolicy": bool(inputs.get(keys[1])),
              "IgnorePublicAcls": bool(inputs.get(keys[2])), "RestrictPublicBuckets": bool(inputs.get(keys[3]))}
    aws.client("s3", region).put_public_access_block(Bucket=inputs["bucket"], PublicAccessBlockConfiguration=config)
    return inputs["bucket"], {}


def _ownership(aws, args, region, inputs):
    rule = api_shape(inputs["rule"])
    aws.client("s3", region).put_bucket_ownership_controls(Bucket=inputs["bucket"], OwnershipControls={"Rules": [rule]})
    return inputs["bucket"], {}


def _bucket_policy(aws, args, region, inputs):
    aws.client("s3", region).put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
    return inputs["bucket"], {}


def _lifecycle(aws, args, region, inputs):
    rules = api_shape(inputs["rules"])
    aws.client("s3", region).put_bucket_lifecycle_configuration(
        Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules})
    return inputs["bucket"], {}


def _replication(aws, args, region, inputs):
    rules = api_shape(inputs["rules"])
    aws.client("s3", region).put_bucket_replication(
        Bucket=inputs["bucket"], ReplicationConfiguration={"Role": inputs["role"], "Rules": rules})
    return inputs["bucket"], {}


def _role(aws: EmulatorAws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=64)
    params: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": inputs["assumeRolePolicy"],
                              "Path": inputs.get("path", "/")}
    if inputs.get("description"):
        params["Description"] = inputs["description"]
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        params["Tags"] = _tag_list(tags)
    role = aws.client("iam", region).create_role(**params)["Role"]
    return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}


def _role_policy(aws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    aws.client("iam", region).put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=inputs["policy"])
    return f"{inputs['role']}:{name}", {"name": name}


def _instance_profile(aws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    iam = aws.client("iam", region)
    profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    if inputs.get("role"):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=inputs["role"])
    return name, {"name": name, "arn": profile["Arn"], "uniqueId": profile["InstanceProfileId"]}


def _security_group(aws: EmulatorAws, args, region, inputs):
    ec2 = aws.client("ec2", region)
    name = inputs.get("name") or auto_name(args.name, max_length=255)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    params: dict[str, Any] = {"GroupName": name, "Description": inputs.get("description") or "Managed by Pulumi"}
    if inputs.get("vpcId"):
        params["VpcId"] = inputs["vpcId"]
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": _tag_list(tags)}]
    group_id = ec2.create_security_group(**params)["GroupId"]
    # The provider removes the allow-all egress rule AWS adds to every new VPC group.
    ec2.revoke_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return group_id, {"name": name, "arn": f"arn:aws:ec2:{region}:{group['OwnerId']}:security-group/{group_id}",
                      "ownerId": group["OwnerId"], "vpcId": group.get("VpcId")}


def _sg_rule(direction: str) -> Handler:
    def handler(aws: EmulatorAws, args, region, inputs):
        ec2 = aws.client("ec2", region)
        permission: dict[str, Any] = {"IpProtocol": inputs["ipProtocol"]}
        if inputs.get("fromPort") is not None:
            permission.update(FromPort=_int(inputs["fromPort"]), ToPort=_int(inputs["toPort"]))
        description = {"Description": inputs["description"]} if inputs.get("description") else {}
        if inputs.get("cidrIpv4"):
            permission["IpRanges"] = [{"CidrIp": inputs["cidrIpv4"], **description}]
        elif inputs.get("referencedSecurityGroupId"):
            permission["UserIdGroupPairs"] = [{"GroupId": inputs["referencedSecurityGroupId"], **description}]
        else:
            raise UnsupportedResource(f"security group rule {args.name}: only cidrIpv4 and "
                                      f"referencedSecurityGroupId are mapped, got {sorted(inputs)}")
        call = ec2.authorize_security_group_ingress if direction == "ingress" else ec2.authorize_security_group_egress
        response = call(GroupId=inputs["securityGroupId"], IpPermissions=[permission])
        rules = response.get("SecurityGroupRules") or []
        if not rules:
            raise UnsupportedResource(f"the emulator returned no rule id for {args.name}")
        rule_id = rules[0]["SecurityGroupRuleId"]
        owner = rules[0].get("GroupOwnerId") or aws.client("sts", region).get_caller_identity()["Account"]
        return rule_id, {"securityGroupRuleId": rule_id,
                         "arn": f"arn:aws:ec2:{region}:{owner}:security-group-rule/{rule_id}"}
    return handler


def _launch_template(aws: EmulatorAws, args, region, inputs):
    ec2 = aws.client("ec2", region)
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    data: dict[str, Any] = {}
    for key in ("imageId", "instanceType", "userData", "keyName"):
        if inputs.get(key) is not None:
            data[key[:1].upper() + key[1:]] = inputs[key]
    if inputs.get("iamInstanceProfile"):
        data["IamInstanceProfile"] = api_shape(inputs["iamInstanceProfile"])
    if inputs.get("vpcSecurityGroupIds"):
        data["SecurityGroupIds"] = list(inputs["vpcSecurityGroupIds"])
    if inputs.get("metadataOptions"):
        data["MetadataOptions"] = api_shape(inputs["metadataOptions"])
    if inputs.get("blockDeviceMappings"):
        mappings = api_shape(inputs["blockDeviceMappings"])
        for mapping in mappings:
            ebs = mapping.get("Ebs") or {}
            if isinstance(ebs.get("Encrypted"), str):  # the provider types it as a string
                ebs["Encrypted"] = ebs["Encrypted"].lower() == "true"
        data["BlockDeviceMappings"] = mappings
    if inputs.get("tagSpecifications"):
        data["TagSpecifications"] = [{"ResourceType": spec["resourceType"], "Tags": _tag_list(spec.get("tags"))}
                                     for spec in inputs["tagSpecifications"]]
    params: dict[str, Any] = {"LaunchTemplateName": name, "LaunchTemplateData": data}
    if inputs.get("description"):
        params["VersionDescription"] = inputs["description"]
    template = ec2.create_launch_template(**params)["LaunchTemplate"]
    template_id = template["LaunchTemplateId"]
    account = aws.client("sts", region).get_caller_identity()["Account"]
    return template_id, {"name": name, "arn": f"arn:aws:ec2:{region}:{account}:launch-template/{template_id}",
                         "latestVersion": template["LatestVersionNumber"],
                         "defaultVersion": template["DefaultVersionNumber"]}


def _asg(aws: EmulatorAws, args, region, inputs):
    autoscaling = aws.client("autoscaling", region)
    name = inputs.get("name") or auto_name(args.name, max_length=255)
    params: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "MinSize": _int(inputs["minSize"]),
        "MaxSize": _int(inputs["maxSize"]),
        "VPCZoneIdentifier": ",".join(inputs.get("vpcZoneIdentifiers") or []),
    }
    if inputs.get("desiredCapacity") is not None:
        params["DesiredCapacity"] = _int(inputs["desiredCapacity"])
    template = inputs.get("launchTemplate")
    if template:
        params["LaunchTemplate"] = {"LaunchTemplateId": template["id"], "Version": template.get("version", "$Default")}
    if inputs.get("targetGroupArns"):
        params["TargetGroupARNs"] = list(inputs["targetGroupArns"])
    if inputs.get("healthCheckType"):
        params["HealthCheckType"] = inputs["healthCheckType"]
    if inputs.get("healthCheckGracePeriod") is not None:
        params["HealthCheckGracePeriod"] = _int(inputs["healthCheckGracePeriod"])
    # Provider default_tags do not reach Auto Scaling groups (pulumi-aws autoscaling.Group
    # docs): only the group's own tag blocks are applied, each with its propagate_at_launch.
    tags = inputs.get("tags") or []
    if tags:
        params["Tags"] = [{"Key": t["key"], "Value": t["value"], "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
                           "ResourceId": name, "ResourceType": "auto-scaling-group"} for t in tags]
    autoscaling.create_auto_scaling_group(**params)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return name, {"name": name, "arn": group["AutoScalingGroupARN"]}


def _load_balancer(aws: EmulatorAws, args, region, inputs):
    elb = aws.client("elbv2", region)
    name = inputs.get("name") or auto_name(args.name, max_length=32)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    params: dict[str, Any] = {"Name": name, "Subnets": list(inputs.get("subnets") or []),
                              "Scheme": "internal" if inputs.get("internal") else "internet-facing",
                              "Type": inputs.get("loadBalancerType", "application")}
    if inputs.get("securityGroups"):
        params["SecurityGroups"] = list(inputs["securityGroups"])
    if tags:
        params["Tags"] = _tag_list(tags)
    lb = elb.create_load_balancer(**params)["LoadBalancers"][0]
    attributes = []
    if inputs.get("dropInvalidHeaderFields") is not None:
        attributes.append({"Key": "routing.http.drop_invalid_header_fields.enabled",
                           "Value": str(bool(inputs["dropInvalidHeaderFields"])).lower()})
    if inputs.get("enableDeletionProtection") is not None:
        attributes.append({"Key": "deletion_protection.enabled",
                           "Value": str(bool(inputs["enableDeletionProtection"])).lower()})
    logs = inputs.get("accessLogs") or {}
    if logs.get("enabled"):
        _check_elb_can_log(aws, region, logs["bucket"], logs.get("prefix") or "")
        attributes += [{"Key": "access_logs.s3.enabled", "Value": "true"},
                       {"Key": "access_logs.s3.bucket", "Value": logs["bucket"]},
                       {"Key": "access_logs.s3.prefix", "Value": logs.get("prefix") or ""}]
    if attributes:
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=attributes)
    return lb["LoadBalancerArn"], {"name": name, "arn": lb["LoadBalancerArn"], "dnsName": lb["DNSName"],
                                   "zoneId": lb["CanonicalHostedZoneId"],
                                   "arnSuffix": lb["LoadBalancerArn"].split(":loadbalancer/", 1)[-1]}


def _target_group(aws: EmulatorAws, args, region, inputs):
    elb = aws.client("elbv2", region)
    name = inputs.get("name") or auto_name(args.name, max_length=32)
    params: dict[str, Any] = {"Name": name, "Port": _int(inputs.get("port")), "Protocol": inputs.get("protocol", "HTTP"),
                              "VpcId": inputs.get("vpcId"), "TargetType": inputs.get("targetType", "instance")}
    check = inputs.get("healthCheck") or {}
    if check:
        params.update({k: v for k, v in {
            "HealthCheckEnabled": check.get("enabled"),
            "HealthCheckPath": check.get("path"),
            "HealthCheckIntervalSeconds": _int(check.get("interval")),
            "HealthyThresholdCount": _int(check.get("healthyThreshold")),
            "UnhealthyThresholdCount": _int(check.get("unhealthyThreshold")),
            "Matcher": {"HttpCode": check["matcher"]} if check.get("matcher") else None,
        }.items() if v is not None})
    group = elb.create_target_group(**params)["TargetGroups"][0]
    arn = group["TargetGroupArn"]
    if inputs.get("deregistrationDelay") is not None:
        elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(_int(inputs["deregistrationDelay"]))}])
    return arn, {"name": name, "arn": arn, "arnSuffix": arn.split(":", 5)[-1]}


def _listener(aws: EmulatorAws, args, region, inputs):
    elb = aws.client("elbv2", region)
    actions = [{k: v for k, v in api_shape(action).items()} for action in inputs.get("defaultActions") or []]
    for action in actions:
        if "Redirect" in action:  # the provider's `redirect` block is the API's RedirectConfig
            action["RedirectConfig"] = action.pop("Redirect")
    params: dict[str, Any] = {"LoadBalancerArn": inputs["loadBalancerArn"], "Port": _int(inputs["port"]),
                              "Protocol": inputs.get("protocol", "HTTP"), "DefaultActions": actions}
    if inputs.get("certificateArn"):
        params["Certificates"] = [{"CertificateArn": inputs["certificateArn"]}]
    if inputs.get("sslPolicy"):
        params["SslPolicy"] = inputs["sslPolicy"]
    listener = elb.create_listener(**params)["Listeners"][0]
    return listener["ListenerArn"], {"arn": listener["ListenerArn"]}


def _health_check(aws: EmulatorAws, args, region, inputs):
    route53 = aws.client("route53", region)
    config: dict[str, Any] = {"Type": inputs["type"]}
    for key, api in (("fqdn", "FullyQualifiedDomainName"), ("ipAddress", "IPAddress"), ("resourcePath", "ResourcePath"),
                     ("searchString", "SearchString")):
        if inputs.get(key):
            config[api] = inputs[key]
    for key, api in (("port", "Port"), ("requestInterval", "RequestInterval"), ("failureThreshold", "FailureThreshold")):
        if inputs.get(key) is not None:
            config[api] = _int(inputs[key])
    for key, api in (("measureLatency", "MeasureLatency"), ("invertHealthcheck", "Inverted"), ("disabled", "Disabled"),
                     ("enableSni", "EnableSNI")):
        if inputs.get(key) is not None:
            config[api] = bool(inputs[key])
    check = route53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig=config)["HealthCheck"]
    check_id = check["Id"]
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id, AddTags=_tag_list(tags))
    return check_id, {"arn": f"arn:aws:route53:::healthcheck/{check_id}"}


def _record(aws: EmulatorAws, args, region, inputs):
    route53 = aws.client("route53", region)
    record: dict[str, Any] = {"Name": inputs["name"], "Type": inputs["type"]}
    if inputs.get("setIdentifier"):
        record["SetIdentifier"] = inputs["setIdentifier"]
    policies = inputs.get("failoverRoutingPolicies") or []
    if policies:
        record["Failover"] = policies[0]["type"]
    if inputs.get("healthCheckId"):
        record["HealthCheckId"] = inputs["healthCheckId"]
    if inputs.get("aliases"):
        alias = inputs["aliases"][0]
        record["AliasTarget"] = {"HostedZoneId": alias["zoneId"], "DNSName": alias["name"],
                                 "EvaluateTargetHealth": bool(alias.get("evaluateTargetHealth"))}
    else:
        record["TTL"] = _int(inputs.get("ttl"))
        record["ResourceRecords"] = [{"Value": value} for value in inputs.get("records") or []]
    action = "UPSERT" if inputs.get("allowOverwrite") else "CREATE"
    route53.change_resource_record_sets(HostedZoneId=inputs["zoneId"], ChangeBatch={
        "Changes": [{"Action": action, "ResourceRecordSet": record}]})
    record_id = "_".join(str(part) for part in (inputs["zoneId"], inputs["name"], inputs["type"], inputs.get("setIdentifier")) if part)
    return record_id, {"fqdn": inputs["name"]}


def _topic(aws: EmulatorAws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=256)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    attributes = {"KmsMasterKeyId": inputs["kmsMasterKeyId"]} if inputs.get("kmsMasterKeyId") else {}
    arn = aws.client("sns", region).create_topic(Name=name, Tags=_tag_list(tags), Attributes=attributes)["TopicArn"]
    return arn, {"name": name, "arn": arn}


def _subscription(aws: EmulatorAws, args, region, inputs):
    sub = aws.client("sns", region).subscribe(TopicArn=inputs["topic"], Protocol=inputs["protocol"],
                                              Endpoint=inputs["endpoint"], ReturnSubscriptionArn=True)
    return sub["SubscriptionArn"], {"arn": sub["SubscriptionArn"]}


def _metric_alarm(aws: EmulatorAws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=255)
    params: dict[str, Any] = {
        "AlarmName": name,
        "ComparisonOperator": inputs["comparisonOperator"],
        "EvaluationPeriods": _int(inputs["evaluationPeriods"]),
        "Threshold": float(inputs["threshold"]),
    }
    for key, api in (("alarmDescription", "AlarmDescription"), ("namespace", "Namespace"), ("metricName", "MetricName"),
                     ("statistic", "Statistic"), ("treatMissingData", "TreatMissingData")):
        if inputs.get(key) is not None:
            params[api] = inputs[key]
    if inputs.get("period") is not None:
        params["Period"] = _int(inputs["period"])
    for key, api in (("alarmActions", "AlarmActions"), ("okActions", "OKActions"),
                     ("insufficientDataActions", "InsufficientDataActions")):
        if inputs.get(key):
            params[api] = list(inputs[key])
    if inputs.get("dimensions"):
        params["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in inputs["dimensions"].items()]
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        params["Tags"] = _tag_list(tags)
    cloudwatch = aws.client("cloudwatch", region)
    cloudwatch.put_metric_alarm(**params)
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return name, {"name": name, "arn": alarm["AlarmArn"]}


def _experiment_template(aws: EmulatorAws, args, region, inputs):
    actions = {}
    for action in inputs.get("actions") or []:
        entry: dict[str, Any] = {"actionId": action["actionId"]}
        if action.get("description"):
            entry["description"] = action["description"]
        if action.get("parameters"):
            entry["parameters"] = {p["key"]: p["value"] for p in action["parameters"]}
        if action.get("target"):
            entry["targets"] = {action["target"]["key"]: action["target"]["value"]}
        if action.get("startAfters"):
            entry["startAfter"] = list(action["startAfters"])
        actions[action["name"]] = entry
    targets = {}
    for target in inputs.get("targets") or []:
        entry = {"resourceType": target["resourceType"], "selectionMode": target["selectionMode"]}
        if target.get("resourceArns"):
            entry["resourceArns"] = list(target["resourceArns"])
        if target.get("resourceTags"):
            entry["resourceTags"] = {t["key"]: t["value"] for t in target["resourceTags"]}
        targets[target["name"]] = entry
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    template = aws.client("fis", region).create_experiment_template(
        clientToken=str(uuid.uuid4()), description=inputs.get("description", ""),
        stopConditions=[{k: v for k, v in c.items()} for c in inputs.get("stopConditions") or []],
        targets=targets, actions=actions, roleArn=inputs["roleArn"], tags=tags,
    )["experimentTemplate"]
    account = aws.client("sts", region).get_caller_identity()["Account"]
    return template["id"], {"arn": f"arn:aws:fis:{region}:{account}:experiment-template/{template['id']}"}


def _elb_may_write(statement: dict[str, Any], region: str, resource: str) -> bool:
    import fnmatch

    from infra.log_delivery import elb_log_principal

    if statement.get("Effect") != "Allow":
        return False
    actions = statement.get("Action")
    actions = [actions] if isinstance(actions, str) else actions or []
    if not any(fnmatch.fnmatchcase("s3:PutObject", a) for a in actions):
        return False
    principal = statement.get("Principal") or {}
    wanted = elb_log_principal(region)
    (kind, value), = wanted.items()
    granted = principal.get(kind) if isinstance(principal, dict) else None
    granted = [granted] if isinstance(granted, str) else granted or []
    if value not in granted:
        return False
    resources = statement.get("Resource")
    resources = [resources] if isinstance(resources, str) else resources or []
    return any(fnmatch.fnmatchcase(resource, r) for r in resources)


def _check_elb_can_log(aws: EmulatorAws, region: str, bucket: str, prefix: str) -> None:
    """ELB refuses access logs it cannot write ("Access Denied for bucket ..."): the bucket's
    policy must grant the Region's ELB principal s3:PutObject under <prefix>/AWSLogs/<account>/."""
    s3 = aws.client("s3", region)
    account = aws.client("sts", region).get_caller_identity()["Account"]
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except botocore.exceptions.ClientError as exc:
        raise UnsupportedResource(f"access logs to {bucket}: ELB cannot write there ({exc})") from exc
    key = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{account}/elasticloadbalancing/x"
    statements = policy.get("Statement") or []
    if not any(_elb_may_write(st, region, key) for st in (statements if isinstance(statements, list) else [statements])):
        raise UnsupportedResource(f"access logs to {bucket}: its policy does not let the {region} ELB principal "
                                  f"write {key}")


def _certificate(aws: EmulatorAws, args, region, inputs):
    acm = aws.client("acm", region)
    params: dict[str, Any] = {"DomainName": inputs["domainName"],
                              "ValidationMethod": inputs.get("validationMethod", "DNS")}
    if inputs.get("subjectAlternativeNames"):
        params["SubjectAlternativeNames"] = list(inputs["subjectAlternativeNames"])
    options = inputs.get("options") or {}
    if options.get("certificateTransparencyLoggingPreference"):
        params["Options"] = {"CertificateTransparencyLoggingPreference": options["certificateTransparencyLoggingPreference"]}
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        params["Tags"] = _tag_list(tags)
    arn = acm.request_certificate(**params)["CertificateArn"]
    described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    options_out = [{"domainName": o["DomainName"], "resourceRecordName": o["ResourceRecord"]["Name"],
                    "resourceRecordType": o["ResourceRecord"]["Type"], "resourceRecordValue": o["ResourceRecord"]["Value"]}
                   for o in described.get("DomainValidationOptions") or [] if o.get("ResourceRecord")]
    return arn, {"arn": arn, "domainValidationOptions": options_out, "status": described["Status"]}


def _record_exists(aws: EmulatorAws, region: str, name: str, type_: str, value: Optional[str] = None) -> bool:
    route53 = aws.client("route53", region)
    fqdn = name.rstrip(".") + "."
    for zone in route53.list_hosted_zones()["HostedZones"]:
        if fqdn != zone["Name"] and not fqdn.endswith("." + zone["Name"]):
            continue
        sets = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        for record in sets:
            if record["Name"] == fqdn and record["Type"] == type_ and (
                    value is None or value in [r["Value"] for r in record.get("ResourceRecords", [])]):
                return True
    return False


def _certificate_validation(aws: EmulatorAws, args, region, inputs):
    """ACM issues a DNS-validated certificate once each validation CNAME resolves: check the
    records in the emulator's Route 53, then issue (ACM User Guide, "DNS validation")."""
    from infra.sandbox import moto_backend

    arn = inputs["certificateArn"]
    described = aws.client("acm", region).describe_certificate(CertificateArn=arn)["Certificate"]
    wanted = inputs.get("validationRecordFqdns") or []
    for option in described.get("DomainValidationOptions") or []:
        record = option.get("ResourceRecord") or {}
        if not _record_exists(aws, region, record.get("Name", ""), record.get("Type", "CNAME"), record.get("Value")):
            raise UnsupportedResource(f"certificate {arn}: validation record {record.get('Name')} is not in any "
                                      "hosted zone, so ACM would never issue it")
        if wanted and record.get("Name", "").rstrip(".") not in [w.rstrip(".") for w in wanted]:
            raise UnsupportedResource(f"certificate {arn}: validation_record_fqdns {wanted} do not name "
                                      f"{record.get('Name')}")
    status = moto_backend.issue_certificate(arn, region)
    if status != "ISSUED":
        raise UnsupportedResource(f"certificate {arn} is {status}, not ISSUED")
    return arn, {"certificateArn": arn}


def _web_acl(aws: EmulatorAws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    params: dict[str, Any] = {"Name": name, "Scope": inputs["scope"], "DefaultAction": api_shape(inputs["defaultAction"]),
                              "VisibilityConfig": api_shape(inputs["visibilityConfig"]),
                              "Rules": api_shape(inputs.get("rules") or [])}
    if inputs.get("description"):
        params["Description"] = inputs["description"]
    if tags:
        params["Tags"] = _tag_list(tags)
    summary = aws.client("wafv2", region).create_web_acl(**params)["Summary"]
    return summary["Id"], {"arn": summary["ARN"], "name": name, "lockToken": summary.get("LockToken")}


def _web_acl_association(aws: EmulatorAws, args, region, inputs):
    aws.client("wafv2", region).associate_web_acl(WebACLArn=inputs["webAclArn"], ResourceArn=inputs["resourceArn"])
    return f"{inputs['webAclArn']},{inputs['resourceArn']}", {}


def _trail(aws: EmulatorAws, args, region, inputs):
    cloudtrail = aws.client("cloudtrail", region)
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    params: dict[str, Any] = {"Name": name, "S3BucketName": inputs["s3BucketName"]}
    for key, api in (("s3KeyPrefix", "S3KeyPrefix"), ("kmsKeyId", "KmsKeyId"), ("snsTopicName", "SnsTopicName")):
        if inputs.get(key):
            params[api] = inputs[key]
    for key, api in (("isMultiRegionTrail", "IsMultiRegionTrail"),
                     ("includeGlobalServiceEvents", "IncludeGlobalServiceEvents"),
                     ("enableLogFileValidation", "EnableLogFileValidation")):
        if inputs.get(key) is not None:
            params[api] = bool(inputs[key])
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        params["TagsList"] = _tag_list(tags)
    trail = cloudtrail.create_trail(**params)
    selectors = inputs.get("advancedEventSelectors") or []
    if selectors:
        cloudtrail.put_event_selectors(TrailName=name, AdvancedEventSelectors=[
            {"Name": s.get("name", ""), "FieldSelectors": [
                {k: v for k, v in {"Field": f["field"], "Equals": f.get("equals"), "StartsWith": f.get("startsWiths"),
                                   "EndsWith": f.get("endsWiths"), "NotEquals": f.get("notEquals"),
                                   "NotStartsWith": f.get("notStartsWiths"), "NotEndsWith": f.get("notEndsWiths")}.items()
                 if v is not None}
                for f in s.get("fieldSelectors") or []]}
            for s in selectors])
    if inputs.get("enableLogging", True):
        cloudtrail.start_logging(Name=name)
    return trail["TrailARN"], {"arn": trail["TrailARN"], "name": name, "homeRegion": region}


def _log_group(aws: EmulatorAws, args, region, inputs):
    logs = aws.client("logs", region)
    name = inputs.get("name") or auto_name(args.name, max_length=512)
    params: dict[str, Any] = {"logGroupName": name}
    if inputs.get("kmsKeyId"):
        params["kmsKeyId"] = inputs["kmsKeyId"]
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        params["tags"] = tags
    logs.create_log_group(**params)
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=_int(inputs["retentionInDays"]))
    account = aws.client("sts", region).get_caller_identity()["Account"]
    return name, {"name": name, "arn": f"arn:aws:logs:{region}:{account}:log-group:{name}"}


def _web_acl_logging(aws: EmulatorAws, args, region, inputs):
    config: dict[str, Any] = {"ResourceArn": inputs["resourceArn"],
                              "LogDestinationConfigs": list(inputs["logDestinationConfigs"])}
    if inputs.get("redactedFields"):
        config["RedactedFields"] = api_shape(inputs["redactedFields"])
    aws.client("wafv2", region).put_logging_configuration(LoggingConfiguration=config)
    return inputs["resourceArn"], {}


def _bucket_logging(aws: EmulatorAws, args, region, inputs):
    status = {"LoggingEnabled": {"TargetBucket": inputs["targetBucket"], "TargetPrefix": inputs.get("targetPrefix", "")}}
    aws.client("s3", region).put_bucket_logging(Bucket=inputs["bucket"], BucketLoggingStatus=status)
    return inputs["bucket"], {}


_HANDLERS: dict[str, Handler] = {
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:s3/bucketVersioning:BucketVersioning": _versioning,
    "aws:s3/bucketVersioningV2:BucketVersioningV2": _versioning,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _encryption,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access_block,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _ownership,
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_policy,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": _replication,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/instanceProfile:InstanceProfile": _instance_profile,
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _sg_rule("ingress"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _sg_rule("egress"),
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:autoscaling/group:Group": _asg,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _listener,
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:route53/record:Record": _record,
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:fis/experimentTemplate:ExperimentTemplate": _experiment_template,
    "aws:acm/certificate:Certificate": _certificate,
    "aws:acm/certificateValidation:CertificateValidation": _certificate_validation,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:wafv2/webAclAssociation:WebAclAssociation": _web_acl_association,
    "aws:cloudtrail/trail:Trail": _trail,
    "aws:s3/bucketLogging:BucketLogging": _bucket_logging,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": _web_acl_logging,
}

SUPPORTED_TYPES = frozenset(_HANDLERS)
