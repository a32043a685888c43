"""The real program (infra/__main__.py) under Pulumi mocks, with each stack file's config."""

from __future__ import annotations

import json

import pytest

from infra.mockrun import ProgramRun, Registration
from infra.policies import allowed_actions
from recovery_lib.errors import ConfigError

from .conftest import policy_of
from .fake_aws import FakeAws

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ASG = "aws:autoscaling/group:Group"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def region_of(run: ProgramRun, r: Registration) -> str:
    provider = run.by_urn(r.provider_urn)
    return provider.inputs["region"]


def bucket_resource(run: ProgramRun, role: str, suffix: str, type_: str) -> Registration:
    return run.one(type_, f"{role}-checkpoints-{suffix}")


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_two_explicit_providers_with_default_tags(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    providers = {p.name: p for p in run.of_type("pulumi:providers:aws")}
    assert set(providers) >= {"primary", "secondary"}
    assert providers["primary"].inputs["region"] == "us-east-1"
    assert providers["secondary"].inputs["region"] == "us-west-2"
    for role in ("primary", "secondary"):
        tags = json.loads(providers[role].inputs["defaultTags"])["tags"]
        assert tags == {"project": "dr-platform", "stack": stack, "dr-role": role}
    # No resource falls back to the default provider (whose region would be implicit).
    for r in run.resources():
        assert r.provider_urn, f"{r.type} {r.name} uses the default provider"


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_each_region_gets_a_complete_bucket_on_its_own_provider(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    expected_region = {"primary": "us-east-1", "secondary": "us-west-2"}
    for role, region in expected_region.items():
        bucket = bucket_resource(run, role, "bucket", BUCKET)
        assert region_of(run, bucket) == region
        versioning = bucket_resource(run, role, "versioning", VERSIONING)
        assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
        assert region_of(run, versioning) == region
        pab = bucket_resource(run, role, "public-access", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
            assert pab.inputs[flag] is True, f"{role} public access block {flag}"
        ownership = bucket_resource(run, role, "ownership", "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        policy = policy_of(bucket_resource(run, role, "tls-only", "aws:s3/bucketPolicy:BucketPolicy"))
        (statement,) = policy["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert statement["Resource"] == [bucket.state["arn"], bucket.state["arn"] + "/*"]
        lifecycle = bucket_resource(run, role, "lifecycle", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
        days = run.config["dr-platform:noncurrentVersionDays"]
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": days}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
        assert versioning.urn in lifecycle.dependencies


def test_dev_uses_sse_s3_and_relaxed_protection(dev):
    # dev's only key encrypts the alerts topic; checkpoints use SSE-S3.
    assert [k.name for k in dev.of_type("aws:kms/key:Key")] == ["alerts-topic-key"]
    for role in ("primary", "secondary"):
        sse = bucket_resource(dev, role, "encryption", "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        assert sse.inputs["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        bucket = bucket_resource(dev, role, "bucket", BUCKET)
        assert bucket.protect is False and bucket.inputs["forceDestroy"] is True


def test_dr_uses_a_rotating_kms_key_per_region_and_protects_data(dr):
    keys = {k.name: k for k in dr.of_type("aws:kms/key:Key")}
    assert set(keys) == {"primary-checkpoints-key", "secondary-checkpoints-key", "alerts-topic-key",
                         "alerts-topic-us-west-2-key", "audit-key", "primary-waf-logs-key", "secondary-waf-logs-key"}
    for role, region in (("primary", "us-east-1"), ("secondary", "us-west-2")):
        key = keys[f"{role}-checkpoints-key"]
        assert region_of(dr, key) == region
        assert key.inputs["enableKeyRotation"] is True
        assert key.protect is True
        key_policy = policy_of(key)
        assert all(a not in ("*", "kms:*") for a in allowed_actions(key_policy))
        sse = bucket_resource(dr, role, "encryption", "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        (rule,) = sse.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.state["arn"]}
        assert rule["bucketKeyEnabled"] is True
        bucket = bucket_resource(dr, role, "bucket", BUCKET)
        assert bucket.protect is True and bucket.retain_on_delete is True
        assert bucket.inputs["forceDestroy"] is False


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_replication_waits_for_versioning_on_both_buckets(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    forward = run.one(REPLICATION, "replication-forward")
    for role in ("primary", "secondary"):
        assert bucket_resource(run, role, "versioning", VERSIONING).urn in forward.dependencies, role
    assert run.one(ROLE_POLICY, "replication-role-policy").urn in forward.dependencies
    assert region_of(run, forward) == "us-east-1"
    assert forward.inputs["bucket"] == bucket_resource(run, "primary", "bucket", BUCKET).state["bucket"]
    (rule,) = forward.inputs["rules"]
    assert rule["filter"] == {"prefix": "checkpoints/"}
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    assert rule["destination"]["bucket"] == bucket_resource(run, "secondary", "bucket", BUCKET).state["arn"]
    assert forward.inputs["role"] == run.one("aws:iam/role:Role", "replication-role").state["arn"]


def test_dev_replication_is_one_way_without_rtc(dev):
    (rule,) = dev.one(REPLICATION, "replication-forward").inputs["rules"]
    assert "replicationTime" not in rule["destination"]
    assert "metrics" not in rule["destination"]
    assert "sourceSelectionCriteria" not in rule
    assert [r.name for r in dev.of_type(REPLICATION)] == ["replication-forward"]


def test_dr_replication_has_kms_rtc_metrics_and_a_reverse_rule(dr):
    secondary_key = dr.one("aws:kms/key:Key", "secondary-checkpoints-key").state["arn"]
    primary_key = dr.one("aws:kms/key:Key", "primary-checkpoints-key").state["arn"]
    (forward,) = dr.one(REPLICATION, "replication-forward").inputs["rules"]
    assert forward["destination"]["encryptionConfiguration"] == {"replicaKmsKeyId": secondary_key}
    assert forward["sourceSelectionCriteria"]["sseKmsEncryptedObjects"] == {"status": "Enabled"}
    assert forward["destination"]["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
    assert forward["destination"]["metrics"] == {"status": "Enabled", "eventThreshold": {"minutes": 15}}

    reverse = dr.one(REPLICATION, "replication-reverse")
    assert region_of(dr, reverse) == "us-west-2"
    assert reverse.inputs["bucket"] == bucket_resource(dr, "secondary", "bucket", BUCKET).state["bucket"]
    (rule,) = reverse.inputs["rules"]
    assert rule["destination"]["bucket"] == bucket_resource(dr, "primary", "bucket", BUCKET).state["arn"]
    assert rule["destination"]["encryptionConfiguration"] == {"replicaKmsKeyId": primary_key}
    assert rule["sourceSelectionCriteria"]["replicaModifications"] == {"status": "Enabled"}
    for role in ("primary", "secondary"):
        assert bucket_resource(dr, role, "versioning", VERSIONING).urn in reverse.dependencies


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_replication_role_is_least_privilege(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    role = run.one("aws:iam/role:Role", "replication-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "s3.amazonaws.com"}]
    policy = policy_of(run.one(ROLE_POLICY, "replication-role-policy"))
    actions = allowed_actions(policy)
    assert all("*" not in a for a in actions if a.startswith("s3:")), actions
    assert "*" not in actions and "s3:*" not in actions
    buckets = {bucket_resource(run, r, "bucket", BUCKET).state["arn"] for r in ("primary", "secondary")}
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            assert resource != "*"
            if resource.startswith("arn:aws:s3"):
                assert any(resource == b or resource == f"{b}/checkpoints/*" for b in buckets), resource
    kms = [s for s in policy["Statement"] if any(a.startswith("kms:") for a in s["Action"])]
    if stack == "dev":
        assert kms == []
    else:
        keys = {k.name: k.state["arn"] for k in run.of_type("aws:kms/key:Key")}
        grants = {(s["Resource"], tuple(s["Action"])) for s in kms}
        assert (keys["primary-checkpoints-key"], ("kms:Decrypt",)) in grants
        assert (keys["secondary-checkpoints-key"], ("kms:Encrypt", "kms:GenerateDataKey")) in grants
        # two-way: the reverse direction decrypts with the secondary key, encrypts with the primary's
        assert (keys["secondary-checkpoints-key"], ("kms:Decrypt",)) in grants
        assert (keys["primary-checkpoints-key"], ("kms:Encrypt", "kms:GenerateDataKey")) in grants


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_job_role_reads_and_writes_the_checkpoint_prefix_only(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    trust = json.loads(run.one("aws:iam/role:Role", "jobs-role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    policy = policy_of(run.one(ROLE_POLICY, "jobs-checkpoints"))
    actions = set(allowed_actions(policy))
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions
    assert "s3:DeleteObject" not in actions and "*" not in actions
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    buckets = [bucket_resource(run, r, "bucket", BUCKET).state["arn"] for r in ("primary", "secondary")]
    assert by_sid["ReadWriteCheckpoints"]["Resource"] == [f"{b}/checkpoints/*" for b in buckets]
    # HEAD of a missing key is 404 only with an unconditioned s3:ListBucket (test_aws_facts)
    assert by_sid["ListCheckpointBuckets"]["Action"] == ["s3:ListBucket"]
    assert by_sid["ListCheckpointBuckets"]["Resource"] == buckets and "Condition" not in by_sid["ListCheckpointBuckets"]
    assert by_sid["ListCheckpointVersions"]["Condition"]["StringLike"]["s3:prefix"] == ["checkpoints/", "checkpoints/*"]
    assert ("UseCheckpointKeys" in by_sid) == (stack == "dr")
    profile = run.one("aws:iam/instanceProfile:InstanceProfile", "jobs-profile")
    assert profile.inputs["role"] == run.one("aws:iam/role:Role", "jobs-role").state["name"]


@pytest.mark.parametrize(
    "stack,primary,standby", [("dev", 1, 0), ("dr", 2, 1)]
)
def test_capacity_follows_the_strategy(stack, primary, standby, request):
    run: ProgramRun = request.getfixturevalue(stack)
    groups = {g.name: g for g in run.of_type(ASG)}
    p, s = groups["primary-compute-asg"], groups["secondary-compute-asg"]
    assert region_of(run, p) == "us-east-1" and region_of(run, s) == "us-west-2"
    assert p.inputs["desiredCapacity"] == primary
    assert s.inputs["desiredCapacity"] == standby
    # the standby can always grow to the primary's size
    assert s.inputs["maxSize"] == p.inputs["desiredCapacity"]
    assert s.inputs["minSize"] == (0 if standby == 0 else 1)
    assert "desiredCapacity" in s.ignore_changes
    for role in ("primary", "secondary"):
        template = run.one("aws:ec2/launchTemplate:LaunchTemplate", f"{role}-compute-template")
        assert template.inputs["imageId"] == f"resolve:ssm:{run.config['dr-platform:amiParameter']}"
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
        assert template.inputs["iamInstanceProfile"]["arn"] == run.one(
            "aws:iam/instanceProfile:InstanceProfile", "jobs-profile").state["arn"]
        assert groups[f"{role}-compute-asg"].inputs["launchTemplate"]["id"] == template.id


def test_dev_has_no_dns_and_no_alarms(dev):
    assert dev.of_type(HEALTH_CHECK) == [] and dev.of_type(RECORD) == []
    assert dev.of_type("aws:lb/loadBalancer:LoadBalancer") == []
    assert dev.of_type(ALARM) == []
    assert "estimatedFailoverSeconds" not in dev.outputs
    assert dev.outputs["platform"]["dns"] is None


def test_dr_failover_records_and_health_check(dr):
    albs = {lb.name: lb for lb in dr.of_type("aws:lb/loadBalancer:LoadBalancer")}
    primary_alb, secondary_alb = albs["primary-compute-alb"], albs["secondary-compute-alb"]
    (check,) = dr.of_type(HEALTH_CHECK)
    assert check.inputs["fqdn"] == primary_alb.state["dns_name"]
    assert check.inputs["type"] == "HTTPS" and check.inputs["port"] == 443 and check.inputs["resourcePath"] == "/healthz"
    assert check.inputs["enableSni"] is True
    assert check.inputs["requestInterval"] == 10 and check.inputs["failureThreshold"] == 3
    records = {r.name: r for r in dr.of_type(RECORD)}
    p, s = records["failover-primary"], records["failover-secondary"]
    assert p.inputs["failoverRoutingPolicies"] == [{"type": "PRIMARY"}]
    assert s.inputs["failoverRoutingPolicies"] == [{"type": "SECONDARY"}]
    assert p.inputs["healthCheckId"] == check.id and "healthCheckId" not in s.inputs
    assert p.inputs["setIdentifier"] != s.inputs["setIdentifier"]
    for record, alb in ((p, primary_alb), (s, secondary_alb)):
        assert record.inputs["type"] == "CNAME" and record.inputs["ttl"] == 30
        assert record.inputs["records"] == [alb.state["dns_name"]]
        assert record.inputs["name"] == "ml-api.example.com"
        assert record.inputs["zoneId"] == "Z0123456789EXAMPLE"
    assert dr.outputs["estimatedFailoverSeconds"] == 10 * 3 + 30 <= 60
    for role in ("primary", "secondary"):
        asg = dr.one(ASG, f"{role}-compute-asg")
        assert asg.inputs["targetGroupArns"] == [dr.one("aws:lb/targetGroup:TargetGroup", f"{role}-compute-tg").state["arn"]]
        assert asg.inputs["healthCheckType"] == "ELB"


def test_dr_alarms_watch_replication_and_the_primary(dr):
    alarms = {a.name: a for a in dr.of_type(ALARM) if a.name.startswith("alerts-")}
    assert set(alarms) == {"alerts-replication-latency", "alerts-replication-failed", "alerts-primary-unhealthy"}
    topic = dr.one("aws:sns/topic:Topic", "alerts-topic").state["arn"]
    latency = alarms["alerts-replication-latency"]
    assert latency.inputs["metricName"] == "ReplicationLatency" and latency.inputs["threshold"] == 900
    assert latency.inputs["dimensions"]["RuleId"] == "checkpoints-to-secondary"
    assert alarms["alerts-replication-failed"].inputs["metricName"] == "OperationsFailedReplication"
    health = alarms["alerts-primary-unhealthy"]
    assert health.inputs["dimensions"] == {"HealthCheckId": dr.one(HEALTH_CHECK, "failover-primary-health").id}
    assert region_of(dr, health) == "us-east-1"
    # each alarm in the Region of its metric, notifying a topic of its own Region
    assert region_of(dr, latency) == "us-west-2"
    assert region_of(dr, alarms["alerts-replication-failed"]) == "us-east-1"
    west = dr.one("aws:sns/topic:Topic", "alerts-topic-us-west-2")
    assert region_of(dr, west) == "us-west-2"
    assert latency.inputs["alarmActions"] == latency.inputs["okActions"] == [west.state["arn"]]
    for name in ("alerts-replication-failed", "alerts-primary-unhealthy"):
        assert alarms[name].inputs["alarmActions"] == [topic]
    assert dr.outputs["alertsTopicArns"] == {"us-east-1": topic, "us-west-2": west.state["arn"]}


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_platform_descriptor_matches_the_contract(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    platform = run.outputs["platform"]
    assert platform["version"] == 1 and platform["project"] == "dr-platform" and platform["stack"] == stack
    assert platform["strategy"] == run.config["dr-platform:strategy"]
    assert platform["checkpoint_prefix"] == "checkpoints/"
    for role, region in (("primary", "us-east-1"), ("secondary", "us-west-2")):
        entry = platform["regions"][role]
        assert set(entry) == {"name", "bucket", "kms_key_arn", "asg_name", "endpoint_url"}
        assert entry["name"] == region
        assert entry["bucket"] == run.outputs[f"{role}BucketName"]
        assert entry["asg_name"] == run.outputs[f"{role}AsgName"]
        assert entry["endpoint_url"] is None
        assert entry["kms_key_arn"] == run.outputs.get(f"{role}KmsKeyArn")
        assert (entry["kms_key_arn"] is None) == (stack == "dev")
    assert platform["replication"]["role_arn"] == run.outputs["replicationRoleArn"]
    assert platform["replication"]["rtc"] is (stack == "dr")
    assert platform["replication"]["two_way"] is (stack == "dr")
    assert platform["alerts_topic_arn"] == run.outputs["alertsTopicArn"]
    targets = {"dev": (14400, 3600), "dr": (300, 900)}[stack]
    assert (platform["targets"]["rto_seconds"], platform["targets"]["rpo_seconds"]) == targets
    if stack == "dr":
        dns = platform["dns"]
        assert dns == {
            "zone_id": "Z0123456789EXAMPLE",
            "record_name": "ml-api.example.com",
            "ttl": 30,
            "alias": False,
            "protocol": "HTTPS",
            "port": 443,
            "path": "/healthz",
            "primary_health_check_id": run.outputs["primaryHealthCheckId"],
            "request_interval": 10,
            "failure_threshold": 3,
            "estimated_failover_seconds": 60,
            # 20 s target group (10 s x 2) + 30 s (10 s x 3) + 6 s probe timeout + 30 s TTL + 30 s stale caches
            "worst_case_failover_seconds": 116,
            "worst_case_failover_parts": {"target_group": 20, "detection": 30, "probe_timeout": 6, "ttl": 30,
                                          "stale_cache": 30, "total": 116},
        }
        assert run.outputs["estimatedFailoverSeconds"] == 60
        assert run.outputs["worstCaseFailoverSeconds"] == 116
        assert run.outputs["worstCaseFailoverParts"] == dns["worst_case_failover_parts"]
    # JSON all the way down: this is what `pulumi stack output platform --json` hands to jobs.
    assert json.loads(json.dumps(platform)) == platform


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_no_deprecated_resources_or_arguments(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    assert [w for w in run.warnings if "deprecated" in w.lower()] == []
    deprecated_types = [r.type for r in run.registrations if r.type.split(":")[-1].endswith("V2")]
    assert deprecated_types == []


def test_alias_records_use_the_load_balancer_ttl(run_stack):
    dns = {"zoneName": "example.com", "recordName": "ml-api.example.com", "requestInterval": 10,
           "failureThreshold": 3, "alias": True}
    run = run_stack("dr", {"dr-platform:dns": dns})
    for record in run.of_type(RECORD):
        assert record.inputs["type"] == "A" and "ttl" not in record.inputs
        (alias,) = record.inputs["aliases"]
        assert alias["evaluateTargetHealth"] is True
        role = record.name.split("-")[-1]
        alb = run.one("aws:lb/loadBalancer:LoadBalancer", f"{role}-compute-alb")
        assert alias["name"] == alb.state["dns_name"] and alias["zoneId"] == alb.state["zone_id"]
    assert run.outputs["estimatedFailoverSeconds"] == 10 * 3 + 60
    assert run.outputs["platform"]["dns"]["ttl"] == 60


def test_https_health_checks_terminate_tls_on_the_load_balancer(run_stack):
    certs = {r: f"arn:aws:acm:{reg}:123456789012:certificate/abcd-{r}" for r, reg in
             (("primary", "us-east-1"), ("secondary", "us-west-2"))}
    dns = {"zoneId": "Z0ABCDEF12345", "recordName": "api.example.org", "protocol": "HTTPS", "ttl": 20,
           "certificateArns": certs}
    run = run_stack("dr", {"dr-platform:dns": dns})
    (check,) = run.of_type(HEALTH_CHECK)
    assert check.inputs["type"] == "HTTPS" and check.inputs["port"] == 443
    for role in ("primary", "secondary"):
        listener = run.one("aws:lb/listener:Listener", f"{role}-compute-listener")
        assert listener.inputs["protocol"] == "HTTPS" and listener.inputs["certificateArn"] == certs[role]
        assert listener.inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert {r.inputs["zoneId"] for r in run.of_type(RECORD)} == {"Z0ABCDEF12345"}


def test_configured_networking_skips_the_default_vpc_lookup(run_stack):
    networking = {
        "primary": {"vpcId": "vpc-0aaaaaaaaaaaaaaaa", "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]},
        "secondary": {"vpcId": "vpc-0bbbbbbbbbbbbbbbb", "subnetIds": ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]},
    }
    mocks = FakeAws()
    from infra.mockrun import run_program

    run = run_program("dev", mocks, config_overrides={"dr-platform:networking": networking})
    assert [c.token for c in mocks.calls if c.token.startswith("aws:ec2/")] == []
    for role in ("primary", "secondary"):
        assert run.one(ASG, f"{role}-compute-asg").inputs["vpcZoneIdentifiers"] == networking[role]["subnetIds"]
        sg = run.one("aws:ec2/securityGroup:SecurityGroup", f"{role}-compute-instances")
        assert sg.inputs["vpcId"] == networking[role]["vpcId"]


def test_health_alarm_moves_to_us_east_1_when_the_primary_is_elsewhere(run_stack):
    run = run_stack("dr", {"aws:region": "eu-west-1", "dr-platform:secondaryRegion": "eu-central-1"})
    health = run.one(ALARM, "alerts-primary-unhealthy")
    assert region_of(run, health) == "us-east-1"
    topic = run.one("aws:sns/topic:Topic", "alerts-topic-us-east-1")
    assert region_of(run, topic) == "us-east-1"
    assert health.inputs["alarmActions"] == [topic.state["arn"]]
    assert region_of(run, run.one(ALARM, "alerts-replication-latency")) == "eu-central-1"
    assert region_of(run, run.one(ALARM, "alerts-replication-failed")) == "eu-west-1"


def test_replication_can_be_switched_off_for_throwaway_stacks(run_stack):
    run = run_stack("dev", {"dr-platform:replication": False})
    assert run.of_type(REPLICATION) == []
    assert run.outputs["platform"]["replication"] == {"enabled": False, "role_arn": None, "rtc": False, "two_way": False}


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"dr-platform:strategy": "hot"}, "dr-platform:strategy"),
        ({"dr-platform:secondaryRegion": "us-east-1"}, "must differ"),
        ({"dr-platform:replication": False}, "replicationTimeControl"),
        ({"dr-platform:dnsTypo": "x"}, "unknown config key"),
    ],
)
def test_bad_config_stops_before_any_resource(overrides, message):
    from infra.mockrun import run_program

    mocks = CountingAws()
    with pytest.raises(ConfigError, match=message):
        run_program("dr", mocks, config_overrides=overrides)
    assert mocks.created == []


class CountingAws(FakeAws):
    def __init__(self) -> None:
        super().__init__()
        self.created: list[str] = []

    def new_resource(self, args):
        self.created.append(args.typ)
        return super().new_resource(args)


@pytest.mark.parametrize("stack,overrides", [("dev", None), ("dr", None), ("dev", {"dr-platform:replication": False})])
def test_recovery_lib_reads_the_descriptor_the_program_exports(run_stack, stack, overrides):
    """The contract: what `pulumi stack output platform --json` gives jobs, recovery_lib parses."""
    from recovery_lib.platform import load_platform

    run = run_stack(stack, overrides)
    platform = load_platform(json.loads(json.dumps(run.outputs["platform"])))
    assert platform.primary.bucket == run.outputs["primaryBucketName"]
    assert platform.secondary.name == "us-west-2"
    assert platform.replication.enabled is (overrides is None)
    assert (platform.dns is None) == (stack == "dev")
    assert platform.extra["capacity"]["primary"] == run.outputs["platform"]["capacity"]["primary"]


def test_dr_provisions_fis_experiments_with_a_stop_condition(dr):
    templates = {t.name: t for t in dr.of_type("aws:fis/experimentTemplate:ExperimentTemplate")}
    # dr runs in the default VPC: no subnet of its own, so no network experiment (it would cut
    # every workload in the default subnets off S3)
    assert set(templates) == {"drills-replication-pause"}
    stop = dr.one(ALARM, "drills-stop")
    assert stop.inputs["metricName"] == "OperationsFailedReplication" and region_of(dr, stop) == "us-east-1"
    role = dr.one("aws:iam/role:Role", "drills-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "fis.amazonaws.com"}
    bucket = bucket_resource(dr, "primary", "bucket", BUCKET)
    pause = templates["drills-replication-pause"].inputs
    assert pause["actions"][0]["actionId"] == "aws:s3:bucket-pause-replication"
    params = {p["key"]: p["value"] for p in pause["actions"][0]["parameters"]}
    assert params == {"duration": "PT2H", "region": "us-west-2", "prefixes": "checkpoints/",
                      "destinationBuckets": bucket_resource(dr, "secondary", "bucket", BUCKET).state["bucket"]}
    (target,) = pause["targets"]
    assert "resourceArns" not in target and target["selectionMode"] == "ALL"
    assert target["resourceTags"] == [{"key": "dr-platform:fis-replication-source", "value": "dr-platform/dr"}]
    assert bucket.inputs["tags"]["dr-platform:fis-replication-source"] == "dr-platform/dr"
    secondary = bucket_resource(dr, "secondary", "bucket", BUCKET)
    assert "dr-platform:fis-replication-source" not in secondary.inputs["tags"]
    for template in templates.values():
        assert template.inputs["stopConditions"] == [{"source": "aws:cloudwatch:alarm", "value": stop.state["arn"]}]
        assert template.inputs["roleArn"] == role.state["arn"]
        assert region_of(dr, template) == "us-east-1"
    policy = policy_of(dr.one(ROLE_POLICY, "drills-role-policy"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReplicationConfigurationForPause"]["Condition"] == {"Bool": {"s3:IsReplicationPauseRequest": "true"}}
    assert "DisruptS3FromPlatformSubnets" not in by_sid
    for statement in policy["Statement"]:
        if statement["Resource"] == "*":
            assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in statement["Action"]), statement
    assert dr.outputs["platform"]["fis"] == {"templates": {"replication-pause": templates["drills-replication-pause"].id}}
    assert dr.outputs["fisExperimentTemplates"] == dr.outputs["platform"]["fis"]["templates"]


def test_the_s3_experiment_cuts_only_the_platforms_own_instance_subnets(run_stack):
    networking = {
        "primary": {"vpcId": "vpc-0aaaaaaaaaaaaaaaa", "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
                    "publicSubnetIds": ["subnet-0aaaaaaaaaaaaaaa3", "subnet-0aaaaaaaaaaaaaaa4"]},
        "secondary": {"vpcId": "vpc-0bbbbbbbbbbbbbbbb", "subnetIds": ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"],
                      "publicSubnetIds": ["subnet-0bbbbbbbbbbbbbbb3", "subnet-0bbbbbbbbbbbbbbb4"]},
    }
    run = run_stack("dr", {"dr-platform:networking": networking})
    outage = run.one("aws:fis/experimentTemplate:ExperimentTemplate", "drills-s3-primary").inputs
    assert outage["actions"][0]["actionId"] == "aws:network:disrupt-connectivity"
    assert {"key": "scope", "value": "s3"} in outage["actions"][0]["parameters"]
    assert outage["targets"][0]["resourceArns"] == [
        f"arn:aws:ec2:us-east-1:123456789012:subnet/{s}" for s in networking["primary"]["subnetIds"]]
    assert "not an S3 outage" in outage["description"]
    by_sid = {s["Sid"]: s for s in policy_of(run.one(ROLE_POLICY, "drills-role-policy"))["Statement"]}
    assert by_sid["DisruptS3FromPlatformSubnets"]["Resource"] == [
        "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0aaaaaaaaaaaaaaaa",
        "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0aaaaaaaaaaaaaaa1",
        "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0aaaaaaaaaaaaaaa2",
        "arn:aws:ec2:us-east-1:123456789012:network-acl/*",
    ]
    assert set(run.outputs["fisExperimentTemplates"]) == {"replication-pause", "s3-primary"}
    for role in ("primary", "secondary"):
        alb = run.one("aws:lb/loadBalancer:LoadBalancer", f"{role}-compute-alb")
        assert alb.inputs["subnets"] == networking[role]["publicSubnetIds"]
        assert run.one(ASG, f"{role}-compute-asg").inputs["vpcZoneIdentifiers"] == networking[role]["subnetIds"]


def test_default_vpc_subnets_are_limited_to_zones_that_offer_the_instance_type():
    """us-east-1 has a zone (us-east-1e) without t3 instances: the program asks EC2 at deploy time."""
    from infra.mockrun import run_program

    mocks = FakeAws()
    run_program("dr", mocks)
    offerings = [c for c in mocks.calls if c.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"]
    assert len(offerings) == 2
    for call in offerings:
        assert call.args["locationType"] == "availability-zone"
        assert call.args["filters"] == [{"name": "instance-type", "values": ["t3.small"]}]
    subnet_queries = [{f["name"]: f["values"] for f in c.args["filters"]}
                      for c in mocks.calls if c.token == "aws:ec2/getSubnets:getSubnets"]
    (east,) = [q for q in subnet_queries if any(z.startswith("us-east-1") for z in q["availability-zone"])]
    assert "us-east-1e" not in east["availability-zone"] and "us-east-1a" in east["availability-zone"]
    assert all(q["default-for-az"] == ["true"] for q in subnet_queries) and len(subnet_queries) == 2


def test_dev_has_no_fis(dev):
    assert dev.of_type("aws:fis/experimentTemplate:ExperimentTemplate") == []
    assert dev.outputs["platform"]["fis"] is None
