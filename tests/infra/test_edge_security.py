"""TLS, access logs, the audit trail, WAF, encrypted alerts and ASG tags (issue 9, point 7).

Each test reads the real program's registrations under Pulumi mocks (both stacks and
variants) and checks the property checkov asked for, and the AWS rule behind it.
"""

from __future__ import annotations

import json

import pytest

from infra import log_delivery
from infra.audit_trail import event_selectors
from infra.mockrun import ProgramRun, Registration
from infra.policies import allowed_actions
from infra.regional_compute import TLS_POLICY
from infra.web_acl import MANAGED_RULE_GROUPS

from .conftest import policy_of

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
CERT = "aws:acm/certificate:Certificate"
CERT_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
TRAIL = "aws:cloudtrail/trail:Trail"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
ASG = "aws:autoscaling/group:Group"
ROLES = ("primary", "secondary")
REGIONS = {"primary": "us-east-1", "secondary": "us-west-2"}
DNS = {"zoneName": "example.com", "recordName": "ml-api.example.com", "protocol": "HTTPS", "ttl": 30}


def region_of(run: ProgramRun, r: Registration) -> str:
    return run.by_urn(r.provider_urn).inputs["region"]


def statements(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in document["Statement"]}


# -- TLS ------------------------------------------------------------------------------------------

def test_dr_serves_https_with_a_dns_validated_certificate_per_region(dr):
    """ACM User Guide, "DNS validation": one CNAME per domain name in the zone, then ISSUED;
    an ALB uses a certificate of its own Region."""
    zone = dr.outputs["platform"]["dns"]["zone_id"]
    for role in ROLES:
        cert = dr.one(CERT, f"{role}-tls-cert")
        assert region_of(dr, cert) == REGIONS[role]
        assert cert.inputs["domainName"] == "ml-api.example.com" and cert.inputs["validationMethod"] == "DNS"
        assert cert.inputs["options"] == {"certificateTransparencyLoggingPreference": "ENABLED"}
        record = dr.one(RECORD, f"{role}-tls-validation")
        option = cert.state["domainValidationOptions"][0]
        assert record.inputs["zoneId"] == zone and record.inputs["allowOverwrite"] is True
        assert (record.inputs["name"], record.inputs["type"], record.inputs["records"]) == (
            option["resourceRecordName"], option["resourceRecordType"], [option["resourceRecordValue"]])
        validation = dr.one(CERT_VALIDATION, f"{role}-tls-validation-wait")
        assert validation.inputs["certificateArn"] == cert.state["arn"]
        assert validation.inputs["validationRecordFqdns"] == [record.state["fqdn"]]
        (listener,) = [r for r in dr.of_type(LISTENER) if r.name.startswith(f"{role}-compute-")]
        assert (listener.inputs["protocol"], listener.inputs["port"]) == ("HTTPS", 443)
        assert listener.inputs["sslPolicy"] == TLS_POLICY and TLS_POLICY.startswith("ELBSecurityPolicy-TLS13")
        # The listener takes the ARN from the validation: it waits until ACM issued the certificate.
        assert listener.inputs["certificateArn"] == validation.state["certificateArn"]
        assert validation.urn in listener.dependencies
        # HTTPS only: nothing listens on, or is open to the internet on, port 80.
        ports = {r.inputs["fromPort"] for r in dr.of_type(INGRESS) if r.name.startswith(f"{role}-compute-lb-in")}
        assert ports == {443}
    check = dr.one("aws:route53/healthCheck:HealthCheck", "failover-primary-health")
    assert (check.inputs["type"], check.inputs["port"], check.inputs["enableSni"]) == ("HTTPS", 443, True)


def test_http_redirect_listens_on_80_and_answers_301_to_https(run_stack):
    run = run_stack("dr", {"dr-platform:dns": {**DNS, "httpRedirect": True}})
    for role in ROLES:
        redirect = run.one(LISTENER, f"{role}-compute-listener-http")
        assert (redirect.inputs["protocol"], redirect.inputs["port"]) == ("HTTP", 80)
        (action,) = redirect.inputs["defaultActions"]
        assert action == {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
        ingress = run.one(INGRESS, f"{role}-compute-lb-in-http")
        assert (ingress.inputs["fromPort"], ingress.inputs["toPort"], ingress.inputs["cidrIpv4"]) == (80, 80, "0.0.0.0/0")


def test_bring_your_own_certificates_skip_acm(run_stack):
    certs = {r: f"arn:aws:acm:{reg}:123456789012:certificate/abcd-{r}" for r, reg in REGIONS.items()}
    run = run_stack("dr", {"dr-platform:dns": {**DNS, "certificateArns": certs}})
    assert run.of_type(CERT) == [] and run.of_type(CERT_VALIDATION) == []
    for role in ROLES:
        assert run.one(LISTENER, f"{role}-compute-listener").inputs["certificateArn"] == certs[role]


# -- load balancer access logs and deletion protection ---------------------------------------------

def test_dr_load_balancers_log_to_their_regions_log_bucket_and_resist_deletion(dr):
    for role in ROLES:
        alb = dr.one(LB, f"{role}-compute-alb")
        log_bucket = dr.one(BUCKET, f"{role}-logs-bucket")
        assert region_of(dr, log_bucket) == region_of(dr, alb) == REGIONS[role]
        assert alb.inputs["accessLogs"] == {"bucket": log_bucket.state["bucket"], "prefix": "alb", "enabled": True}
        assert alb.inputs["enableDeletionProtection"] is True
        # ELB test-writes to the bucket when logging is turned on: the policy must exist first.
        assert dr.one(BUCKET_POLICY, f"{role}-logs-policy").urn in alb.dependencies


def test_deletion_protection_follows_protect_data(run_stack):
    run = run_stack("dr", {"dr-platform:protectData": False})
    assert {r.inputs["enableDeletionProtection"] for r in run.of_type(LB)} == {False}


@pytest.mark.parametrize("region,principal", [
    ("us-east-1", {"AWS": "arn:aws:iam::127311923021:root"}),
    ("us-west-2", {"AWS": "arn:aws:iam::797873946194:root"}),
    ("eu-central-1", {"AWS": "arn:aws:iam::054676820928:root"}),
    ("ap-southeast-5", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ("mx-central-1", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
])
def test_elb_log_delivery_principal_per_region(region, principal):
    """ELB User Guide, "Enable access logs for your Application Load Balancer": Regions
    available before August 2022 grant the Region's ELB account; newer ones the
    logdelivery.elasticloadbalancing.amazonaws.com service principal."""
    assert log_delivery.elb_log_principal(region) == principal


# -- log buckets and S3 server access logs -----------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_checkpoint_buckets_log_requests_to_a_private_tls_only_log_bucket(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    protect = stack == "dr"
    for role in ROLES:
        checkpoints = run.one(BUCKET, f"{role}-checkpoints-bucket")
        log_bucket = run.one(BUCKET, f"{role}-logs-bucket")
        assert region_of(run, log_bucket) == REGIONS[role]
        assert log_bucket.protect is protect and log_bucket.inputs["forceDestroy"] is (not protect)
        logging = run.one(BUCKET_LOGGING, f"{role}-logs-access-logging")
        assert logging.inputs["bucket"] == checkpoints.state["bucket"]
        assert logging.inputs["targetBucket"] == log_bucket.state["bucket"]
        assert logging.inputs["targetPrefix"] == f"s3-access/{checkpoints.state['bucket']}/"
        policy_resource = run.one(BUCKET_POLICY, f"{role}-logs-policy")
        assert policy_resource.urn in logging.dependencies
        sse = run.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                      f"{role}-logs-encryption")
        assert sse.inputs["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        pab = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{role}-logs-public-access")
        assert all(pab.inputs[f] is True for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                   "restrictPublicBuckets"))
        assert run.one("aws:s3/bucketVersioning:BucketVersioning", f"{role}-logs-versioning").inputs[
            "versioningConfiguration"] == {"status": "Enabled"}
        arn = log_bucket.state["arn"]
        found = statements(policy_of(policy_resource))
        assert found["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        s3_logs = found["S3ServerAccessLogs"]
        assert s3_logs["Principal"] == {"Service": "logging.s3.amazonaws.com"} and s3_logs["Action"] == "s3:PutObject"
        assert s3_logs["Condition"]["ArnLike"] == {"aws:SourceArn": [checkpoints.state["arn"]]}
        assert s3_logs["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
        assert ("DenyLogDeletion" in found) is protect
        if protect:
            assert found["DenyLogDeletion"]["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
        # ALB logs only where there is an ALB; the trail only writes to the primary's bucket.
        assert ("ElbAccessLogs" in found) is (stack == "dr")
        if stack == "dr":
            assert found["ElbAccessLogs"]["Resource"] == f"{arn}/alb/AWSLogs/123456789012/*"
            assert found["ElbAccessLogs"]["Principal"] == log_delivery.elb_log_principal(REGIONS[role])
        assert ("CloudTrailWrite" in found) is (stack == "dr" and role == "primary")


# -- the audit trail ---------------------------------------------------------------------------------

def test_dr_audit_trail_records_checkpoint_data_events_and_management_events(dr):
    (trail,) = dr.of_type(TRAIL)
    assert region_of(dr, trail) == "us-east-1"
    assert trail.inputs["name"] == "dr-platform-dr-checkpoint-audit"
    assert trail.inputs["isMultiRegionTrail"] is True and trail.inputs["includeGlobalServiceEvents"] is True
    assert trail.inputs["enableLogFileValidation"] is True and trail.inputs["enableLogging"] is True
    assert trail.inputs["s3BucketName"] == dr.one(BUCKET, "primary-logs-bucket").state["bucket"]
    assert trail.inputs["s3KeyPrefix"] == "cloudtrail"
    key = dr.one(KEY, "audit-key")
    assert trail.inputs["kmsKeyId"] == key.state["arn"] and key.protect is True
    assert dr.one(BUCKET_POLICY, "primary-logs-policy").urn in trail.dependencies
    prefixes = [f"{dr.one(BUCKET, f'{r}-checkpoints-bucket').state['arn']}/checkpoints/" for r in ROLES]
    assert trail.inputs["advancedEventSelectors"] == [
        {"name": s["name"], "fieldSelectors": [
            {{"starts_withs": "startsWiths"}.get(k, k): v for k, v in f.items()} for f in s["field_selectors"]]}
        for s in event_selectors(prefixes)]
    data = trail.inputs["advancedEventSelectors"][1]["fieldSelectors"]
    assert {"field": "resources.type", "equals": ["AWS::S3::Object"]} in data
    assert trail.state["arn"] == dr.outputs["auditTrailArn"]
    # The key lets CloudTrail encrypt for this trail only, and the bucket lets this trail write.
    key_statements = statements(policy_of(key))
    assert key_statements["CloudTrailEncryptsLogs"]["Condition"]["StringEquals"] == {"aws:SourceArn": trail.state["arn"]}
    assert "kms:*" not in allowed_actions(policy_of(key))
    bucket_statements = statements(policy_of(dr.one(BUCKET_POLICY, "primary-logs-policy")))
    assert bucket_statements["CloudTrailWrite"]["Condition"]["StringEquals"]["aws:SourceArn"] == trail.state["arn"]


def test_dev_has_no_trail(dev):
    assert dev.of_type(TRAIL) == [] and "auditTrailArn" not in dev.outputs


# -- WAF -----------------------------------------------------------------------------------------------

def test_dr_attaches_a_regional_web_acl_of_aws_managed_rules_to_each_load_balancer(dr):
    for role in ROLES:
        acl = dr.one(WEB_ACL, f"{role}-waf-acl")
        assert region_of(dr, acl) == REGIONS[role]
        assert acl.inputs["scope"] == "REGIONAL" and acl.inputs["defaultAction"] == {"allow": {}}
        rules = {r["name"]: r for r in acl.inputs["rules"]}
        assert set(rules) == {name for _, name, _ in MANAGED_RULE_GROUPS}
        assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
        for rule in rules.values():
            assert rule["overrideAction"] == {"none": {}}
            assert rule["statement"]["managedRuleGroupStatement"]["vendorName"] == "AWS"
            assert rule["visibilityConfig"]["cloudwatchMetricsEnabled"] is True
        # Jobs call the API from EC2: the hosting-provider rule only counts.
        anonymous = rules["AWSManagedRulesAnonymousIpList"]["statement"]["managedRuleGroupStatement"]
        assert anonymous["ruleActionOverrides"] == [{"name": "HostingProviderIPList", "actionToUse": {"count": {}}}]
        # Every inspected request is logged, credentials redacted, to an encrypted log group
        # whose name starts with aws-waf-logs- (AWS WAF Developer Guide: the prefix is required).
        group = dr.one("aws:cloudwatch/logGroup:LogGroup", f"{role}-waf-logs")
        assert group.inputs["name"] == f"aws-waf-logs-dr-platform-dr-{role}" and region_of(dr, group) == REGIONS[role]
        assert group.inputs["retentionInDays"] >= 365
        key = dr.one(KEY, f"{role}-waf-logs-key")
        assert group.inputs["kmsKeyId"] == key.state["arn"]
        logs_statement = statements(policy_of(key))["CloudWatchLogsUsesKey"]
        assert logs_statement["Principal"] == {"Service": f"logs.{REGIONS[role]}.amazonaws.com"}
        assert logs_statement["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] == group.state["arn"]
        logging = dr.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", f"{role}-waf-logging")
        assert logging.inputs["resourceArn"] == acl.state["arn"]
        assert logging.inputs["logDestinationConfigs"] == [group.state["arn"]]
        assert logging.inputs["redactedFields"] == [{"singleHeader": {"name": "authorization"}},
                                                    {"singleHeader": {"name": "cookie"}}]
        association = dr.one(WEB_ACL_ASSOCIATION, f"{role}-compute-waf")
        assert association.inputs["resourceArn"] == dr.one(LB, f"{role}-compute-alb").state["arn"]
        assert association.inputs["webAclArn"] == acl.state["arn"]


def test_waf_is_off_unless_asked_for(run_stack, dev):
    run = run_stack("dr", {"dr-platform:waf": False})
    assert run.of_type(WEB_ACL) == [] and run.of_type(WEB_ACL_ASSOCIATION) == []
    assert dev.of_type(WEB_ACL) == []


# -- alerts topic encryption -------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_alerts_topic_is_encrypted_with_a_key_cloudwatch_may_use(stack, request):
    """SNS Developer Guide, "Enable compatibility between event sources from AWS services and
    encrypted topics": CloudWatch needs kms:Decrypt and kms:GenerateDataKey* on the topic's
    key, which only a customer-managed key's policy can grant."""
    run: ProgramRun = request.getfixturevalue(stack)
    topic = run.one(TOPIC, "alerts-topic")
    key = run.one(KEY, "alerts-topic-key")
    assert topic.inputs["kmsMasterKeyId"] == key.state["arn"] != "alias/aws/sns"
    assert key.inputs["enableKeyRotation"] is True and region_of(run, key) == region_of(run, topic)
    cloudwatch = statements(policy_of(key))["CloudWatchAlarmsPublish"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_the_us_east_1_health_alarm_topic_has_its_own_key_there(run_stack):
    run = run_stack("dr", {"aws:region": "eu-west-1", "dr-platform:secondaryRegion": "eu-central-1"})
    topic = run.one(TOPIC, "alerts-topic-us-east-1")
    key = run.one(KEY, "alerts-topic-us-east-1-key")
    assert region_of(run, key) == "us-east-1" and topic.inputs["kmsMasterKeyId"] == key.state["arn"]


# -- Auto Scaling group tags and the prefix-list scope ---------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_auto_scaling_groups_carry_tags_to_their_instances(stack, request):
    """Provider default_tags do not reach Auto Scaling groups (pulumi-aws autoscaling.Group
    docs); tag blocks with propagate_at_launch do, and reach the instances."""
    run: ProgramRun = request.getfixturevalue(stack)
    for role in ROLES:
        tags = {t["key"]: t for t in run.one(ASG, f"{role}-compute-asg").inputs["tags"]}
        assert {k: t["value"] for k, t in tags.items()} == {
            "project": "dr-platform", "stack": stack, "dr-role": role, "dr-platform:role": role}
        assert all(t["propagateAtLaunch"] is True for t in tags.values())


def test_fis_reads_prefix_lists_by_arn_not_on_star(dr):
    """CKV_AWS_355: ec2:GetManagedPrefixListEntries takes a prefix-list ARN. Only the network
    experiment (custom networking) needs it; dr on the default VPC has none, so no grant."""
    from infra.policies import fis_role_policy

    document = fis_role_policy(bucket_arn="arn:aws:s3:::b", partition="aws", region="us-east-1",
                               account_id="123456789012", vpc_id="vpc-1", subnet_ids=["subnet-1"])
    (statement,) = [s for s in document["Statement"] if "ec2:GetManagedPrefixListEntries" in s["Action"]]
    assert statement["Resource"] == ["arn:aws:ec2:us-east-1:aws:prefix-list/*"]
    deployed = policy_of(dr.one("aws:iam/rolePolicy:RolePolicy", "drills-role-policy"))
    assert "ec2:GetManagedPrefixListEntries" not in allowed_actions(deployed)


def test_no_new_document_allows_a_star_action(dr):
    for registration in dr.registrations:
        for key in ("policy",):
            value = registration.inputs.get(key) if registration.custom else None
            if isinstance(value, str) and value.startswith("{"):
                actions = allowed_actions(json.loads(value))
                assert not [a for a in actions if a == "*" or a.endswith(":*")], registration.name
