"""Creators of the compute tier on the emulator: security groups and rules, launch templates,
Auto Scaling groups, load balancers, target groups and listeners."""
from __future__ import annotations

import json
from typing import Any

import botocore.exceptions

from infra.sandbox.aws_creators.shapes import (
    EmulatorApi,
    Handler,
    UnsupportedResource,
    api_shape,
    auto_name,
    int_or_none,
    tag_list,
)

__all__ = ["HANDLERS"]


def _security_group(aws: EmulatorApi, args, region, inputs):
    ec2 = aws.client("ec2", region)
    name = inputs.get("name") or auto_name(args.name, max_length=255)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    params: dict[str, Any] = {"GroupName": name, "Description": inputs.get("description") or "Managed by Pulumi"}
    if inputs.get("vpcId"):
        params["VpcId"] = inputs["vpcId"]
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": tag_list(tags)}]
    group_id = ec2.create_security_group(**params)["GroupId"]
    # The provider removes the allow-all egress rule AWS adds to every new VPC group.
    ec2.revoke_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return group_id, {"name": name, "arn": f"arn:aws:ec2:{region}:{group['OwnerId']}:security-group/{group_id}",
                      "ownerId": group["OwnerId"], "vpcId": group.get("VpcId")}


def _sg_rule(direction: str) -> Handler:
    def handler(aws: EmulatorApi, args, region, inputs):
        ec2 = aws.client("ec2", region)
        permission: dict[str, Any] = {"IpProtocol": inputs["ipProtocol"]}
        if inputs.get("fromPort") is not None:
            permission.update(FromPort=int_or_none(inputs["fromPort"]), ToPort=int_or_none(inputs["toPort"]))
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


def _launch_template(aws: EmulatorApi, args, region, inputs):
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
        data["TagSpecifications"] = [{"ResourceType": spec["resourceType"], "Tags": tag_list(spec.get("tags"))}
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


def _asg(aws: EmulatorApi, args, region, inputs):
    autoscaling = aws.client("autoscaling", region)
    name = inputs.get("name") or auto_name(args.name, max_length=255)
    params: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "MinSize": int_or_none(inputs["minSize"]),
        "MaxSize": int_or_none(inputs["maxSize"]),
        "VPCZoneIdentifier": ",".join(inputs.get("vpcZoneIdentifiers") or []),
    }
    if inputs.get("desiredCapacity") is not None:
        params["DesiredCapacity"] = int_or_none(inputs["desiredCapacity"])
    template = inputs.get("launchTemplate")
    if template:
        params["LaunchTemplate"] = {"LaunchTemplateId": template["id"], "Version": template.get("version", "$Default")}
    if inputs.get("targetGroupArns"):
        params["TargetGroupARNs"] = list(inputs["targetGroupArns"])
    if inputs.get("healthCheckType"):
        params["HealthCheckType"] = inputs["healthCheckType"]
    if inputs.get("healthCheckGracePeriod") is not None:
        params["HealthCheckGracePeriod"] = int_or_none(inputs["healthCheckGracePeriod"])
    # Provider default_tags do not reach Auto Scaling groups (pulumi-aws autoscaling.Group
    # docs): only the group's own tag blocks are applied, each with its propagate_at_launch.
    tags = inputs.get("tags") or []
    if tags:
        params["Tags"] = [{"Key": t["key"], "Value": t["value"], "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
                           "ResourceId": name, "ResourceType": "auto-scaling-group"} for t in tags]
    autoscaling.create_auto_scaling_group(**params)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return name, {"name": name, "arn": group["AutoScalingGroupARN"]}


def _load_balancer(aws: EmulatorApi, args, region, inputs):
    elb = aws.client("elbv2", region)
    name = inputs.get("name") or auto_name(args.name, max_length=32)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    params: dict[str, Any] = {"Name": name, "Subnets": list(inputs.get("subnets") or []),
                              "Scheme": "internal" if inputs.get("internal") else "internet-facing",
                              "Type": inputs.get("loadBalancerType", "application")}
    if inputs.get("securityGroups"):
        params["SecurityGroups"] = list(inputs["securityGroups"])
    if tags:
        params["Tags"] = tag_list(tags)
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


def _target_group(aws: EmulatorApi, args, region, inputs):
    elb = aws.client("elbv2", region)
    name = inputs.get("name") or auto_name(args.name, max_length=32)
    params: dict[str, Any] = {"Name": name, "Port": int_or_none(inputs.get("port")), "Protocol": inputs.get("protocol", "HTTP"),
                              "VpcId": inputs.get("vpcId"), "TargetType": inputs.get("targetType", "instance")}
    check = inputs.get("healthCheck") or {}
    if check:
        params.update({k: v for k, v in {
            "HealthCheckEnabled": check.get("enabled"),
            "HealthCheckPath": check.get("path"),
            "HealthCheckIntervalSeconds": int_or_none(check.get("interval")),
            "HealthyThresholdCount": int_or_none(check.get("healthyThreshold")),
            "UnhealthyThresholdCount": int_or_none(check.get("unhealthyThreshold")),
            "Matcher": {"HttpCode": check["matcher"]} if check.get("matcher") else None,
        }.items() if v is not None})
    group = elb.create_target_group(**params)["TargetGroups"][0]
    arn = group["TargetGroupArn"]
    if inputs.get("deregistrationDelay") is not None:
        elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(int_or_none(inputs["deregistrationDelay"]))}])
    return arn, {"name": name, "arn": arn, "arnSuffix": arn.split(":", 5)[-1]}


def _listener(aws: EmulatorApi, args, region, inputs):
    elb = aws.client("elbv2", region)
    actions = [{k: v for k, v in api_shape(action).items()} for action in inputs.get("defaultActions") or []]
    for action in actions:
        if "Redirect" in action:  # the provider's `redirect` block is the API's RedirectConfig
            action["RedirectConfig"] = action.pop("Redirect")
    params: dict[str, Any] = {"LoadBalancerArn": inputs["loadBalancerArn"], "Port": int_or_none(inputs["port"]),
                              "Protocol": inputs.get("protocol", "HTTP"), "DefaultActions": actions}
    if inputs.get("certificateArn"):
        params["Certificates"] = [{"CertificateArn": inputs["certificateArn"]}]
    if inputs.get("sslPolicy"):
        params["SslPolicy"] = inputs["sslPolicy"]
    listener = elb.create_listener(**params)["Listeners"][0]
    return listener["ListenerArn"], {"arn": listener["ListenerArn"]}


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


def _check_elb_can_log(aws: EmulatorApi, region: str, bucket: str, prefix: str) -> None:
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


HANDLERS: dict[str, Handler] = {
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _sg_rule("ingress"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _sg_rule("egress"),
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:autoscaling/group:Group": _asg,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _listener,
}
