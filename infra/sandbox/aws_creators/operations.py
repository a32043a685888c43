"""Creators of failover and operations resources on the emulator: Route 53 health checks
and records, SNS, CloudWatch alarms and log groups, FIS templates, ACM certificates,
WAF web ACLs and CloudTrail trails."""
from __future__ import annotations

import uuid
from typing import Any, Optional

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


def _health_check(aws: EmulatorApi, args, region, inputs):
    route53 = aws.client("route53", region)
    config: dict[str, Any] = {"Type": inputs["type"]}
    for key, api in (("fqdn", "FullyQualifiedDomainName"), ("ipAddress", "IPAddress"), ("resourcePath", "ResourcePath"),
                     ("searchString", "SearchString")):
        if inputs.get(key):
            config[api] = inputs[key]
    for key, api in (("port", "Port"), ("requestInterval", "RequestInterval"), ("failureThreshold", "FailureThreshold")):
        if inputs.get(key) is not None:
            config[api] = int_or_none(inputs[key])
    for key, api in (("measureLatency", "MeasureLatency"), ("invertHealthcheck", "Inverted"), ("disabled", "Disabled"),
                     ("enableSni", "EnableSNI")):
        if inputs.get(key) is not None:
            config[api] = bool(inputs[key])
    check = route53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig=config)["HealthCheck"]
    check_id = check["Id"]
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id, AddTags=tag_list(tags))
    return check_id, {"arn": f"arn:aws:route53:::healthcheck/{check_id}"}


def _record(aws: EmulatorApi, args, region, inputs):
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
        record["TTL"] = int_or_none(inputs.get("ttl"))
        record["ResourceRecords"] = [{"Value": value} for value in inputs.get("records") or []]
    action = "UPSERT" if inputs.get("allowOverwrite") else "CREATE"
    route53.change_resource_record_sets(HostedZoneId=inputs["zoneId"], ChangeBatch={
        "Changes": [{"Action": action, "ResourceRecordSet": record}]})
    record_id = "_".join(str(part) for part in (inputs["zoneId"], inputs["name"], inputs["type"], inputs.get("setIdentifier")) if part)
    return record_id, {"fqdn": inputs["name"]}


def _topic(aws: EmulatorApi, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=256)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    attributes = {"KmsMasterKeyId": inputs["kmsMasterKeyId"]} if inputs.get("kmsMasterKeyId") else {}
    arn = aws.client("sns", region).create_topic(Name=name, Tags=tag_list(tags), Attributes=attributes)["TopicArn"]
    return arn, {"name": name, "arn": arn}


def _subscription(aws: EmulatorApi, args, region, inputs):
    sub = aws.client("sns", region).subscribe(TopicArn=inputs["topic"], Protocol=inputs["protocol"],
                                              Endpoint=inputs["endpoint"], ReturnSubscriptionArn=True)
    return sub["SubscriptionArn"], {"arn": sub["SubscriptionArn"]}


def _metric_alarm(aws: EmulatorApi, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=255)
    params: dict[str, Any] = {
        "AlarmName": name,
        "ComparisonOperator": inputs["comparisonOperator"],
        "EvaluationPeriods": int_or_none(inputs["evaluationPeriods"]),
        "Threshold": float(inputs["threshold"]),
    }
    for key, api in (("alarmDescription", "AlarmDescription"), ("namespace", "Namespace"), ("metricName", "MetricName"),
                     ("statistic", "Statistic"), ("treatMissingData", "TreatMissingData")):
        if inputs.get(key) is not None:
            params[api] = inputs[key]
    if inputs.get("period") is not None:
        params["Period"] = int_or_none(inputs["period"])
    for key, api in (("alarmActions", "AlarmActions"), ("okActions", "OKActions"),
                     ("insufficientDataActions", "InsufficientDataActions")):
        if inputs.get(key):
            params[api] = list(inputs[key])
    if inputs.get("dimensions"):
        params["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in inputs["dimensions"].items()]
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        params["Tags"] = tag_list(tags)
    cloudwatch = aws.client("cloudwatch", region)
    cloudwatch.put_metric_alarm(**params)
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return name, {"name": name, "arn": alarm["AlarmArn"]}


def _experiment_template(aws: EmulatorApi, args, region, inputs):
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


def _certificate(aws: EmulatorApi, args, region, inputs):
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
        params["Tags"] = tag_list(tags)
    arn = acm.request_certificate(**params)["CertificateArn"]
    described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    options_out = [{"domainName": o["DomainName"], "resourceRecordName": o["ResourceRecord"]["Name"],
                    "resourceRecordType": o["ResourceRecord"]["Type"], "resourceRecordValue": o["ResourceRecord"]["Value"]}
                   for o in described.get("DomainValidationOptions") or [] if o.get("ResourceRecord")]
    return arn, {"arn": arn, "domainValidationOptions": options_out, "status": described["Status"]}


def _record_exists(aws: EmulatorApi, region: str, name: str, type_: str, value: Optional[str] = None) -> bool:
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


def _certificate_validation(aws: EmulatorApi, args, region, inputs):
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


def _web_acl(aws: EmulatorApi, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    params: dict[str, Any] = {"Name": name, "Scope": inputs["scope"], "DefaultAction": api_shape(inputs["defaultAction"]),
                              "VisibilityConfig": api_shape(inputs["visibilityConfig"]),
                              "Rules": api_shape(inputs.get("rules") or [])}
    if inputs.get("description"):
        params["Description"] = inputs["description"]
    if tags:
        params["Tags"] = tag_list(tags)
    summary = aws.client("wafv2", region).create_web_acl(**params)["Summary"]
    return summary["Id"], {"arn": summary["ARN"], "name": name, "lockToken": summary.get("LockToken")}


def _web_acl_association(aws: EmulatorApi, args, region, inputs):
    aws.client("wafv2", region).associate_web_acl(WebACLArn=inputs["webAclArn"], ResourceArn=inputs["resourceArn"])
    return f"{inputs['webAclArn']},{inputs['resourceArn']}", {}


def _trail(aws: EmulatorApi, args, region, inputs):
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
        params["TagsList"] = tag_list(tags)
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


def _log_group(aws: EmulatorApi, args, region, inputs):
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
        logs.put_retention_policy(logGroupName=name, retentionInDays=int_or_none(inputs["retentionInDays"]))
    account = aws.client("sts", region).get_caller_identity()["Account"]
    return name, {"name": name, "arn": f"arn:aws:logs:{region}:{account}:log-group:{name}"}


def _web_acl_logging(aws: EmulatorApi, args, region, inputs):
    config: dict[str, Any] = {"ResourceArn": inputs["resourceArn"],
                              "LogDestinationConfigs": list(inputs["logDestinationConfigs"])}
    if inputs.get("redactedFields"):
        config["RedactedFields"] = api_shape(inputs["redactedFields"])
    aws.client("wafv2", region).put_logging_configuration(LoggingConfiguration=config)
    return inputs["resourceArn"], {}


HANDLERS: dict[str, Handler] = {
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
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": _web_acl_logging,
}
