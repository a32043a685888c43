"""The sandbox deploys the real program for each stack; what the emulator holds matches the registrations."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import boto3
import botocore.config
import botocore.exceptions
import pytest

from infra.mockrun import ProgramRun, Registration
from infra.sandbox import Sandbox
from infra.sandbox.aws_mocks import FAKE_CREDENTIALS
from recovery_lib.budget import PROBE_CONNECT_TIMEOUT_SECONDS, PROBE_RESPONSE_TIMEOUT_SECONDS
from recovery_lib.platform import load_platform

BUCKET = "aws:s3/bucket:Bucket"
ASG = "aws:autoscaling/group:Group"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
TIME_SCALE = 50.0


pytestmark = pytest.mark.slow  # starts sandboxes (servers, a subprocess)

@pytest.fixture(scope="module", params=["dev", "dr"])
def sandbox(request, tmp_path_factory) -> Iterator[Sandbox]:
    before = set(threading.enumerate())  # other tests' event loops may leave asyncio_ workers
    with Sandbox(request.param, tmp_path_factory.mktemp(f"sandbox-{request.param}"), TIME_SCALE) as running:
        ports = running.ports()
        yield running
    # Everything the sandbox started has stopped (Pulumi's executor threads included).
    ours = ("sandbox-", "app-", "fault-proxy", "asyncio_")

    def leftovers() -> list[str]:
        return [t.name for t in threading.enumerate() if t not in before and t.name.startswith(ours)]

    assert wait_for(lambda: not leftovers(), timeout=3), leftovers()
    assert len(ports) == 6 and not any(port_open(port) for port in ports)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def region_of(run: ProgramRun, registration: Registration) -> str:
    return run.by_urn(registration.provider_urn).inputs["region"]


def control(sandbox: Sandbox, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(sandbox.control_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def test_every_registered_resource_exists_and_nothing_is_unsupported(sandbox):
    run = sandbox.run
    assert sandbox.mocks.unsupported == []
    resources = list(run.resources())
    assert len(resources) >= 25
    for r in resources:
        assert r.id and not r.id.startswith("unsupported:"), f"{r.type} {r.name}"
    assert {c["name"] for c in sandbox.mocks.created} == {r.name for r in resources}
    assert json.loads((sandbox.state_dir / "unsupported.json").read_text()) == []


def test_buckets_match_their_registrations(sandbox):
    run = sandbox.run
    s3 = sandbox.client("s3")
    for role in ("primary", "secondary"):
        bucket = run.one(BUCKET, f"{role}-checkpoints-bucket")
        name = bucket.state["bucket"]
        region = region_of(run, bucket)
        location = s3.get_bucket_location(Bucket=name)["LocationConstraint"] or "us-east-1"
        assert location == region
        assert name == sandbox.platform["regions"][role]["bucket"]
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        sse = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = sse["ApplyServerSideEncryptionByDefault"]
        if run.config["dr-platform:kms"]:
            key = run.one("aws:kms/key:Key", f"{role}-checkpoints-key")
            assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key.state["arn"]}
            assert sandbox.client("kms", region).describe_key(KeyId=key.id)["KeyMetadata"]["Arn"] == key.state["arn"]
        else:
            assert default["SSEAlgorithm"] == "AES256"
        pab = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert all(pab.values()) and len(pab) == 4
        ownership = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
        assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        registered = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{role}-checkpoints-lifecycle")
        assert sorted(r["ID"] for r in lifecycle) == sorted(r["id"] for r in registered.inputs["rules"])
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        assert policy["Statement"][0]["Sid"] == "DenyInsecureTransport"
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        assert tags["dr-platform:bucket-role"] == role and tags["stack"] == sandbox.stack


def test_replication_rules_match_their_registrations(sandbox):
    run = sandbox.run
    s3 = sandbox.client("s3")
    configs = run.of_type(REPLICATION)
    assert len(configs) == (2 if run.config["dr-platform:failback"] else 1)
    for config in configs:
        stored = s3.get_bucket_replication(Bucket=config.inputs["bucket"])["ReplicationConfiguration"]
        assert stored["Role"] == config.inputs["role"]
        (rule,), (registered,) = stored["Rules"], config.inputs["rules"]
        assert rule["ID"] == registered["id"]
        assert rule["Filter"] == {"Prefix": registered["filter"]["prefix"]}
        assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
        assert rule["Destination"]["Bucket"] == registered["destination"]["bucket"]
        if run.config["dr-platform:replicationTimeControl"]:
            assert rule["Destination"]["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}
            assert rule["Destination"]["Metrics"]["Status"] == "Enabled"
        if run.config["dr-platform:kms"]:
            assert rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"] == \
                registered["destination"]["encryptionConfiguration"]["replicaKmsKeyId"]
            assert rule["SourceSelectionCriteria"]["SseKmsEncryptedObjects"] == {"Status": "Enabled"}


def test_auto_scaling_groups_have_the_registered_capacity(sandbox):
    run = sandbox.run
    for group in run.of_type(ASG):
        region = region_of(run, group)
        found = sandbox.client("autoscaling", region).describe_auto_scaling_groups(
            AutoScalingGroupNames=[group.id])["AutoScalingGroups"]
        assert len(found) == 1, group.name
        g = found[0]
        assert (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]) == (
            group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"])
        assert g["LaunchTemplate"]["LaunchTemplateId"] == group.inputs["launchTemplate"]["id"]
        template = sandbox.client("ec2", region).describe_launch_template_versions(
            LaunchTemplateId=g["LaunchTemplate"]["LaunchTemplateId"])["LaunchTemplateVersions"][0]
        assert template["LaunchTemplateData"]["ImageId"].startswith("resolve:ssm:")  # kept verbatim by moto
        assert len([i for i in g["Instances"] if i["LifecycleState"] == "InService"]) == g["DesiredCapacity"]
    capacity = sandbox.platform["capacity"]
    assert control(sandbox, "GET", "/asg/secondary")[1]["desired"] == capacity["standby"]


def test_groups_avoid_zones_without_the_instance_type(sandbox):
    """moto, like AWS, offers no t3 in us-east-1e; the deploy-time offerings lookup keeps it out."""
    run = sandbox.run
    group = run.one(ASG, "primary-compute-asg")
    subnets = sandbox.client("ec2", "us-east-1").describe_subnets(SubnetIds=list(group.inputs["vpcZoneIdentifiers"]))
    zones = {s["AvailabilityZone"] for s in subnets["Subnets"]}
    assert zones and "us-east-1e" not in zones


def test_alarms_live_in_the_region_of_their_metric(sandbox):
    run = sandbox.run
    alarms = {a.name: a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    if sandbox.stack == "dev":
        assert "alerts-replication-latency" not in alarms  # no replication metrics without RTC
        return
    expected = {"alerts-replication-latency": "us-west-2", "alerts-replication-failed": "us-east-1",
                "drills-stop": "us-east-1"}
    for name, region in expected.items():
        found = sandbox.client("cloudwatch", region).describe_alarms(AlarmNames=[alarms[name].id])["MetricAlarms"]
        assert len(found) == 1, name
        for action in found[0].get("AlarmActions", []):
            assert action.startswith(f"arn:aws:sns:{region}:"), (name, action)
    template_id = sandbox.platform["fis"]["templates"]["replication-pause"]
    template = sandbox.client("fis", "us-east-1").get_experiment_template(id=template_id)["experimentTemplate"]
    (target,) = template["targets"].values()
    assert target["resourceTags"] == {"dr-platform:fis-replication-source": "dr-platform/dr"}
    bucket = sandbox.platform["regions"]["primary"]["bucket"]
    tags = sandbox.client("s3", "us-east-1").get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {"Key": "dr-platform:fis-replication-source", "Value": "dr-platform/dr"} in tags


def test_dns_failover_resources_match_their_registrations(sandbox):
    run = sandbox.run
    checks = run.of_type("aws:route53/healthCheck:HealthCheck")
    records = [r for r in run.of_type("aws:route53/record:Record") if r.inputs.get("failoverRoutingPolicies")]
    if sandbox.platform["dns"] is None:
        assert checks == [] and records == [] and sandbox.lb_names == {}
        return
    (check,) = checks
    config = sandbox.client("route53").get_health_check(HealthCheckId=check.id)["HealthCheck"]["HealthCheckConfig"]
    assert config["FullyQualifiedDomainName"] == sandbox.lb_names["primary"] == check.inputs["fqdn"]
    assert (config["Type"], config["RequestInterval"], config["FailureThreshold"], config["ResourcePath"]) == \
        ("HTTPS", 10, 3, "/healthz")
    assert config["Port"] == 443 and config["EnableSNI"] is True
    dns = sandbox.platform["dns"]
    assert dns["primary_health_check_id"] == check.id
    listed = sandbox.client("route53").list_resource_record_sets(HostedZoneId=dns["zone_id"])["ResourceRecordSets"]
    failover = {r["Failover"]: r for r in listed if r.get("Failover")}
    assert set(failover) == {"PRIMARY", "SECONDARY"} and len(records) == 2
    assert failover["PRIMARY"]["HealthCheckId"] == check.id and failover["PRIMARY"]["TTL"] == dns["ttl"]
    assert failover["SECONDARY"]["ResourceRecords"] == [{"Value": sandbox.lb_names["secondary"]}]


def test_logs_audit_trail_tls_and_waf_exist_in_the_emulator(sandbox):
    """What checkov asked for (issue 9, point 7) is created through the AWS APIs, not only registered."""
    run = sandbox.run
    for role in ("primary", "secondary"):
        region = sandbox.region(role)
        s3 = sandbox.client("s3", region)
        bucket = sandbox.platform["regions"][role]["bucket"]
        log_bucket = run.outputs[f"{role}LogBucketName"]
        logging_status = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
        assert logging_status == {"TargetBucket": log_bucket, "TargetPrefix": f"s3-access/{bucket}/"}
        assert s3.get_bucket_versioning(Bucket=log_bucket)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=log_bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        group = sandbox.client("autoscaling", region).describe_auto_scaling_groups(
            AutoScalingGroupNames=[sandbox.platform["regions"][role]["asg_name"]])["AutoScalingGroups"][0]
        tags = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in group["Tags"]}
        assert tags["stack"] == (sandbox.stack, True) and tags["dr-platform:role"] == (role, True)
    topic = sandbox.platform["alerts_topic_arn"]
    attributes = sandbox.client("sns", topic.split(":")[3]).get_topic_attributes(TopicArn=topic)["Attributes"]
    key = run.one("aws:kms/key:Key", "alerts-topic-key")
    assert attributes["KmsMasterKeyId"] == key.state["arn"]
    if sandbox.stack != "dr":
        assert run.of_type("aws:cloudtrail/trail:Trail") == [] and run.of_type("aws:acm/certificate:Certificate") == []
        return
    trail_arn = run.outputs["auditTrailArn"]
    cloudtrail = sandbox.client("cloudtrail", "us-east-1")
    (trail,) = cloudtrail.describe_trails(trailNameList=[trail_arn])["trailList"]
    assert trail["S3BucketName"] == run.outputs["primaryLogBucketName"] and trail["IsMultiRegionTrail"] is True
    assert trail["LogFileValidationEnabled"] is True and trail["KmsKeyId"] == run.one("aws:kms/key:Key", "audit-key").state["arn"]
    assert cloudtrail.get_trail_status(Name=trail_arn)["IsLogging"] is True
    selectors = cloudtrail.get_event_selectors(TrailName=trail_arn)["AdvancedEventSelectors"]
    data = next(s for s in selectors if {"Field": "eventCategory", "Equals": ["Data"]} in s["FieldSelectors"])
    arns = next(f["StartsWith"] for f in data["FieldSelectors"] if f["Field"] == "resources.ARN")
    assert sorted(arns) == sorted(f"arn:aws:s3:::{sandbox.platform['regions'][r]['bucket']}/checkpoints/"
                                  for r in ("primary", "secondary"))
    for role in ("primary", "secondary"):
        region = sandbox.region(role)
        elb = sandbox.client("elbv2", region)
        lb_arn = run.one("aws:lb/loadBalancer:LoadBalancer", f"{role}-compute-alb").id
        attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]}
        assert attributes["access_logs.s3.enabled"] == "true"
        assert attributes["access_logs.s3.bucket"] == run.outputs[f"{role}LogBucketName"]
        assert attributes["deletion_protection.enabled"] == "true"
        (listener,) = elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
        assert (listener["Protocol"], listener["Port"], listener["SslPolicy"]) == ("HTTPS", 443, "ELBSecurityPolicy-TLS13-1-2-2021-06")
        (cert,) = listener["Certificates"]
        described = sandbox.client("acm", region).describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]
        assert described["Status"] == "ISSUED" and described["DomainName"] == sandbox.platform["dns"]["record_name"]
        acl = sandbox.client("wafv2", region).get_web_acl_for_resource(ResourceArn=lb_arn)["WebACL"]
        assert {r["Name"] for r in acl["Rules"]} >= {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
        logging = sandbox.client("wafv2", region).get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
        (group,) = sandbox.client("logs", region).describe_log_groups(
            logGroupNamePrefix=f"aws-waf-logs-dr-platform-dr-{role}")["logGroups"]
        assert logging["LogDestinationConfigs"] == [group["arn"].removesuffix(":*")]
        assert group["retentionInDays"] == 365 and group["kmsKeyId"]


def test_platform_json_points_each_region_at_its_fault_proxy(sandbox):
    written = json.loads((sandbox.state_dir / "platform.json").read_text())
    platform = load_platform(sandbox.state_dir / "platform.json")
    assert platform.stack == sandbox.stack
    for role in ("primary", "secondary"):
        assert written["regions"][role]["endpoint_url"] == sandbox.proxies[role].url
    section = written["sandbox"]
    assert section["emulator_url"] == sandbox.emulator_url and section["control_url"] == sandbox.control_url
    assert section["time_scale"] == TIME_SCALE
    assert set(section["apps"]) == {"primary", "secondary"}


def proxied(sandbox: Sandbox, role: str):
    return boto3.session.Session(**FAKE_CREDENTIALS).client(
        "s3", region_name=sandbox.region(role), endpoint_url=sandbox.platform["regions"][role]["endpoint_url"],
        config=botocore.config.Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1}))


def test_checkpoints_written_through_the_proxy_replicate_to_the_secondary(sandbox):
    primary, secondary = proxied(sandbox, "primary"), proxied(sandbox, "secondary")
    p_bucket = sandbox.platform["regions"]["primary"]["bucket"]
    s_bucket = sandbox.platform["regions"]["secondary"]["bucket"]
    key = f"checkpoints/manifests/deploy-test@{sandbox.stack}.json"
    primary.put_object(Bucket=p_bucket, Key=key, Body=b"{}")
    assert wait_for(lambda: primary.head_object(Bucket=p_bucket, Key=key).get("ReplicationStatus") == "COMPLETED")
    replica = secondary.head_object(Bucket=s_bucket, Key=key)
    assert replica["ReplicationStatus"] == "REPLICA"
    if sandbox.platform["regions"]["secondary"]["kms_key_arn"]:
        assert replica["SSEKMSKeyId"] == sandbox.platform["regions"]["secondary"]["kms_key_arn"]
    primary.close()
    secondary.close()


def test_control_api_s3_faults_and_errors(sandbox):
    primary = proxied(sandbox, "primary")
    bucket = sandbox.platform["regions"]["primary"]["bucket"]
    try:
        assert control(sandbox, "POST", "/faults/s3/primary", {"mode": "refuse"})[0] == 200
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            primary.list_objects_v2(Bucket=bucket)
        assert control(sandbox, "GET", "/state")[1]["faults"]["s3"]["primary"] == "refuse"
        status, body = control(sandbox, "POST", "/faults/s3/primary", {"mode": "sideways"})
        assert status == 400 and "sideways" in body["error"]
        status, body = control(sandbox, "POST", "/faults/s3/tertiary", {"mode": "pass"})
        assert status == 400 and "tertiary" in body["error"]
        assert control(sandbox, "GET", "/nope")[0] == 404
    finally:
        assert control(sandbox, "POST", "/faults/reset", {})[0] == 200
    assert primary.list_objects_v2(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    primary.close()


def test_control_api_pauses_and_resumes_replication(sandbox):
    p_bucket = sandbox.platform["regions"]["primary"]["bucket"]
    s3 = sandbox.client("s3")
    assert control(sandbox, "POST", "/faults/replication", {"action": "pause"})[1]["paused"] == ["*"]
    try:
        s3.put_object(Bucket=p_bucket, Key="checkpoints/paused", Body=b"p")
        assert wait_for(lambda: control(sandbox, "GET", "/replication")[1]["backlog"] == 1)
        assert s3.head_object(Bucket=p_bucket, Key="checkpoints/paused")["ReplicationStatus"] == "PENDING"
    finally:
        control(sandbox, "POST", "/faults/replication", {"action": "resume"})
    assert wait_for(lambda: s3.head_object(Bucket=p_bucket, Key="checkpoints/paused")["ReplicationStatus"] == "COMPLETED")
    assert control(sandbox, "POST", "/faults/replication", {"action": "explode"})[0] == 400


def test_control_api_scales_the_standby_and_the_app_follows(sandbox):
    """Scale-in empties the group at once; a new instance is InService only after the launch
    delay (the group's HealthCheckGracePeriod, set by the program), measured on the emulated
    clock (EC2 Auto Scaling User Guide, "Set the health check grace period for an Auto
    Scaling group", https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html)."""
    standby = sandbox.platform["capacity"]["standby"]
    grace = sandbox.client("autoscaling", sandbox.region("secondary")).describe_auto_scaling_groups(
        AutoScalingGroupNames=[sandbox.platform["regions"]["secondary"]["asg_name"]])["AutoScalingGroups"][0][
        "HealthCheckGracePeriod"]
    try:
        assert control(sandbox, "POST", "/asg/secondary", {"desired": 0})[1]["desired"] == 0
        assert wait_for(lambda: control(sandbox, "GET", "/apps")[1]["secondary"]["healthy"] is False)
        assert control(sandbox, "POST", "/asg/secondary", {"desired": -1})[0] == 400
    finally:
        # read before the scale call: the launch cannot be earlier, so ready - asked >= grace
        # holds however long the request takes on a busy machine (emulated time runs on)
        asked_at = control(sandbox, "GET", "/time")[1]["now"]
        scaled = control(sandbox, "POST", "/asg/secondary", {"desired": standby})[1]
    if standby > 0:
        assert grace > 0 and scaled["launch_delay_seconds"] == grace
        assert scaled["in_service"] + scaled["launching"] == standby
        assert wait_for(lambda: control(sandbox, "GET", "/asg/secondary")[1]["in_service"] == standby, timeout=60)
        ready_at = control(sandbox, "GET", "/time")[1]["now"]
        assert wait_for(lambda: control(sandbox, "GET", "/apps")[1]["secondary"]["healthy"] is True, timeout=60)
        # launched by this call (moto made it InService at once): not in service before the
        # grace period, counted from a moment no later than the launch
        assert scaled["launching"] == standby and scaled["in_service"] == 0
        assert ready_at - asked_at >= grace


def test_app_down_fails_dns_over_through_the_target_group_and_the_checker_fleet_and_back(sandbox):
    """Detection and the DNS switch, checked against the sandbox's own events in emulated
    seconds, not against wall-clock windows (at time scale 50 a 0.2 s stall of a busy
    machine is 10 emulated seconds, so "budget ± one interval" windows flaked under load).

    The app on the instances dies; the ALB stays. What cannot move with load is asserted:
    the target group marks its target unhealthy on a check, never before
    ``(unhealthy threshold - 1) x interval`` after the fault (Elastic Load Balancing, "Health
    checks for Application Load Balancer target groups",
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html);
    only then do Route 53's checkers see failures, and each needs ``threshold`` failed probes
    ``interval`` apart, so the health check flips no earlier than ``(threshold - 1) x interval``
    after the target group, on the probe that leaves 18 % or fewer of the 8 checkers healthy;
    every checker keeps its own schedule (probes never closer than the interval); the caching
    resolver answers SECONDARY no earlier than the flip and the expiry of the PRIMARY answer
    it held, and no later than the first resolve after both (Route 53 Developer Guide, "How
    Amazon Route 53 determines whether a health check is healthy":
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
    """
    from infra.failover_budget import TARGET_GROUP_INTERVAL_SECONDS, TARGET_GROUP_UNHEALTHY_THRESHOLD
    from infra.sandbox.route53 import DEFAULT_CHECKERS

    dns = sandbox.platform["dns"]
    if dns is None:
        status, body = control(sandbox, "POST", "/faults/health-check", {"inverted": True})
        assert status == 400 and "no health check" in body["error"]
        return
    record = dns["record_name"]
    interval, threshold = dns["request_interval"], dns["failure_threshold"]
    check_id = dns["primary_health_check_id"]

    def check() -> dict[str, Any]:
        return next(c for c in control(sandbox, "GET", "/health-checks")[1]["health_checks"] if c["id"] == check_id)

    assert control(sandbox, "GET", f"/dns/{record}")[1]["answer"] == "PRIMARY"
    # A fresh sandbox's first probes can fail while the app stand-in starts; failures right
    # before the fault count toward the threshold (as on Route 53), so start once every
    # checker's last probe passed.
    assert wait_for(lambda: (c := check())["healthy"] and c["consecutive"] == 0
                    and all(k["last_result"] is True for k in c["checkers"]), timeout=120)
    assert len(check()["checkers"]) == DEFAULT_CHECKERS
    started = control(sandbox, "POST", "/faults/app/primary", {"up": False})[1]["at"]
    probes: dict[tuple[str, float], bool] = {}  # (checker, probe time) -> result, when first seen
    answers: list[dict[str, Any]] = []

    def switched() -> bool:
        for k in check()["checkers"]:
            if k["last_probe_at"] is not None and k["last_probe_at"] >= started:
                probes.setdefault((k["region"], k["last_probe_at"]), k["last_result"])
        answers.append(control(sandbox, "GET", f"/dns/{record}")[1])
        return answers[-1]["answer"] == "SECONDARY"

    try:
        assert wait_for(switched, timeout=120), "DNS never answered SECONDARY"
        state = check()
        flips = [t for t in state["transitions"] if t["at"] >= started]
        assert [t["healthy"] for t in flips] == [False], flips
        detected = flips[0]["at"]
        # the 18 % rule: 18 % or fewer of the checkers still said healthy at the flip
        assert flips[0]["checkers"] == DEFAULT_CHECKERS
        assert flips[0]["healthy_checkers"] * 100 <= 18 * flips[0]["checkers"], flips[0]
        # the target group first: its flip, then Route 53's, each not early
        group = control(sandbox, "GET", "/apps")[1]["primary"]["target_group"]
        group_flips = [t for t in group["transitions"] if t["at"] >= started]
        assert [t["healthy"] for t in group_flips] == [False], group_flips
        group_down = group_flips[0]["at"]
        assert group_down - started >= (TARGET_GROUP_UNHEALTHY_THRESHOLD - 1) * TARGET_GROUP_INTERVAL_SECONDS
        assert detected - group_down >= (threshold - 1) * interval
        # no probe failed before the target group flipped (the ALB still served the instances).
        # A probe is stamped when it starts and may take up to its connect + response timeouts,
        # so one that started within that window before the flip may already see it.
        in_flight = PROBE_CONNECT_TIMEOUT_SECONDS + PROBE_RESPONSE_TIMEOUT_SECONDS
        assert all(result is True for (_, at), result in probes.items() if at < group_down - in_flight), probes
        # each checker on its own schedule: its probes never closer than the interval
        for region in {r for r, _ in probes}:
            times = sorted(at for r, at in probes if r == region)
            assert all(b - a >= interval - 1e-6 for a, b in zip(times, times[1:])), (region, times)
        switch, held = answers[-1], answers[-2]
        assert held["answer"] == "PRIMARY"
        # not early: after the flip, and after the PRIMARY answer the resolver held expired
        assert switch["resolved_since"] >= detected
        assert switch["resolved_since"] >= held["at"] + held["ttl"] - 1e-6
        # not late: the PRIMARY answer before the switch was either still cached, or fetched
        # before the flip took effect (the flip is stamped when its probe started; a probe
        # lasts at most a 4 s connect plus a 2 s response)
        assert held["cached"] or held["at"] <= detected + 6, (held, detected)
    finally:
        control(sandbox, "POST", "/faults/app/primary", {"up": True})
    assert wait_for(lambda: control(sandbox, "GET", f"/dns/{record}")[1]["answer"] == "PRIMARY", timeout=120)


def test_health_check_inversion_through_the_control_api(sandbox):
    dns = sandbox.platform["dns"]
    if dns is None:
        status, body = control(sandbox, "POST", "/faults/health-check", {"disabled": True})
        assert status == 400 and "no health check" in body["error"]
        return
    check_id = dns["primary_health_check_id"]
    try:
        state = control(sandbox, "POST", "/faults/health-check", {"inverted": True})[1]
        assert state["inverted"] is True
        assert sandbox.client("route53").get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Inverted"]
        assert wait_for(lambda: sandbox.health.healthy(check_id) is False)
    finally:
        control(sandbox, "POST", "/faults/health-check", {"inverted": False})
    assert wait_for(lambda: sandbox.health.healthy(check_id) is True)


def test_http_redirect_listener_is_created_as_a_301_to_https(tmp_path):
    """The optional port-80 listener reaches the ELB API as a RedirectConfig (the provider's
    ``redirect`` block), next to the HTTPS listener. In a process of its own: moto's backends
    are per process, and the module's dr sandbox already holds this stack's named resources."""
    script = textwrap.dedent("""
        import json, sys
        from infra.sandbox.sandbox import Sandbox
        dns = {"zoneName": "example.com", "recordName": "ml-api.example.com", "protocol": "HTTPS",
               "ttl": 30, "httpRedirect": True}
        with Sandbox("dr", sys.argv[1], 10.0, config_overrides={"dr-platform:dns": dns}) as running:
            lb_arn = running.run.one("aws:lb/loadBalancer:LoadBalancer", "primary-compute-alb").id
            listeners = running.client("elbv2").describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
            print(json.dumps({"unsupported": [u.as_dict() for u in running.mocks.unsupported],
                              "listeners": {str(l["Port"]): l["DefaultActions"] for l in listeners}}))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=180, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["unsupported"] == []
    assert set(result["listeners"]) == {"80", "443"}
    (action,) = result["listeners"]["80"]
    assert action["Type"] == "redirect"
    assert {k: action["RedirectConfig"][k] for k in ("Protocol", "Port", "StatusCode")} == {
        "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
