"""For every rule, a deliberately wrong resource fails it with a message naming it and the fix."""

from __future__ import annotations

import json

import pytest

from pulumi_policy import EnforcementLevel

from infra.mockrun import ProgramRun

from .conftest import mutated, remove, set_policy, set_prop, violations_of

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RECORD = "aws:route53/record:Record"

PRIMARY_BUCKET = "aws:s3/bucket:Bucket 'primary-checkpoints-bucket'"
SECONDARY_BUCKET = "aws:s3/bucket:Bucket 'secondary-checkpoints-bucket'"


def one(run: ProgramRun, policy: str, config=None):
    found = violations_of(run, policy, config)
    assert len(found) == 1, [v.message for v in found]
    assert found[0].enforcement_level is EnforcementLevel.MANDATORY
    return found[0]


def urn_of(run: ProgramRun, type_: str, name: str) -> str:
    return run.one(type_, name).urn


# -- S3 ------------------------------------------------------------------------------------

def test_versioning_suspended_fails(dr):
    run = mutated(dr, lambda r: set_prop(r.one(VERSIONING, "primary-checkpoints-versioning"),
                                         "versioningConfiguration", {"status": "Suspended"}))
    v = one(run, "s3-bucket-versioning")
    assert PRIMARY_BUCKET in v.message and "'Suspended'" in v.message and "'Enabled'" in v.message
    assert v.urn == urn_of(run, BUCKET, "primary-checkpoints-bucket")


def test_versioning_missing_fails(dev):
    run = mutated(dev, lambda r: remove(r, VERSIONING, "secondary-checkpoints-versioning"))
    v = one(run, "s3-bucket-versioning")
    assert SECONDARY_BUCKET in v.message and "add one" in v.message


def test_encryption_removed_fails(dev):
    run = mutated(dev, lambda r: remove(r, ENCRYPTION, "primary-checkpoints-encryption"))
    v = one(run, "s3-bucket-encryption")
    assert PRIMARY_BUCKET in v.message and "BucketServerSideEncryptionConfiguration" in v.message


def test_sse_s3_bucket_in_a_kms_stack_fails(dr):
    def downgrade(r):
        set_prop(r.one(ENCRYPTION, "primary-checkpoints-encryption"), "rules",
                 [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}])

    v = one(mutated(dr, downgrade), "s3-bucket-encryption")
    assert PRIMARY_BUCKET in v.message
    assert "secondary-checkpoints-bucket" in v.message  # why KMS is required: the other bucket uses it
    assert "kms_master_key_id" in v.message


def test_require_kms_config_fails_an_sse_s3_stack(dev):
    found = violations_of(dev, "s3-bucket-encryption", {"s3-bucket-encryption": {"requireKms": True}})
    # dev's log buckets only receive S3 server access logs, which a KMS bucket can take too:
    # requireKms applies to them (only ALB log targets are SSE-S3 by necessity).
    assert sorted(v.urn for v in found) == sorted(
        urn_of(dev, BUCKET, n) for n in ("primary-checkpoints-bucket", "secondary-checkpoints-bucket",
                                         "primary-logs-bucket", "secondary-logs-bucket")
    )
    assert all("requireKms" in v.message for v in found)


def test_public_access_flag_off_fails(dr):
    run = mutated(dr, lambda r: set_prop(r.one(PAB, "secondary-checkpoints-public-access"), "restrictPublicBuckets", False))
    v = one(run, "s3-public-access-block")
    assert SECONDARY_BUCKET in v.message and "restrictPublicBuckets" in v.message and "true" in v.message


def test_exempt_bucket_is_skipped(dr):
    run = mutated(dr, lambda r: set_prop(r.one(PAB, "secondary-checkpoints-public-access"), "restrictPublicBuckets", False))
    config = {"s3-public-access-block": {"exemptBuckets": ["secondary-checkpoints-bucket"]}}
    assert violations_of(run, "s3-public-access-block", config) == []


def test_object_writer_ownership_fails(dev):
    run = mutated(dev, lambda r: set_prop(r.one(OWNERSHIP, "primary-checkpoints-ownership"), "rule",
                                          {"objectOwnership": "ObjectWriter"}))
    v = one(run, "s3-acls-disabled")
    assert PRIMARY_BUCKET in v.message and "ObjectWriter" in v.message and "BucketOwnerEnforced" in v.message


def test_bucket_policy_without_secure_transport_fails(dr):
    def weaken(r):
        registration = r.one(BUCKET_POLICY, "primary-checkpoints-tls-only")
        document = json.loads(registration.inputs["policy"])
        del document["Statement"][0]["Condition"]
        document["Statement"][0]["Effect"] = "Allow"
        set_policy(registration, "policy", document)

    v = one(mutated(dr, weaken), "s3-tls-only-policy")
    assert PRIMARY_BUCKET in v.message and "aws:SecureTransport" in v.message


def test_bucket_without_any_policy_fails_tls_only(dev):
    v = one(mutated(dev, lambda r: remove(r, BUCKET_POLICY, "secondary-checkpoints-tls-only")), "s3-tls-only-policy")
    assert SECONDARY_BUCKET in v.message and "no aws:s3/bucketPolicy" in v.message


def test_no_abort_multipart_rule_fails(dr):
    def drop(r):
        registration = r.one(LIFECYCLE, "primary-checkpoints-lifecycle")
        set_prop(registration, "rules", [x for x in registration.inputs["rules"] if "abortIncompleteMultipartUpload" not in x])

    v = one(mutated(dr, drop), "s3-abort-incomplete-multipart")
    assert PRIMARY_BUCKET in v.message and "abort_incomplete_multipart_upload" in v.message


def test_abort_multipart_rule_limited_to_a_prefix_fails(dev):
    def narrow(r):
        registration = r.one(LIFECYCLE, "primary-checkpoints-lifecycle")
        rules = [dict(x) for x in registration.inputs["rules"]]
        for x in rules:
            x["filter"] = {"prefix": "tmp/"}
        set_prop(registration, "rules", rules)

    assert PRIMARY_BUCKET in one(mutated(dev, narrow), "s3-abort-incomplete-multipart").message


def test_replication_removed_fails(dev):
    run = mutated(dev, lambda r: remove(r, REPLICATION))
    found = violations_of(run, "s3-cross-region-replication")
    assert {v.urn for v in found} == {
        urn_of(run, BUCKET, "primary-checkpoints-bucket"), urn_of(run, BUCKET, "secondary-checkpoints-bucket")
    }
    assert all("BucketReplicationConfig" in v.message and "another region" in v.message for v in found)


def test_replication_to_the_same_region_fails(dev):
    run = mutated(dev, lambda r: set_prop(r.one(BUCKET, "secondary-checkpoints-bucket"), "region", "us-east-1"))
    v = one(run, "s3-cross-region-replication")
    assert "replication-forward" in v.message and SECONDARY_BUCKET in v.message
    assert "'us-east-1'" in v.message and "another region" in v.message
    assert v.urn == urn_of(run, REPLICATION, "replication-forward")


def test_replication_to_an_unversioned_destination_fails(dr):
    run = mutated(dr, lambda r: set_prop(r.one(VERSIONING, "secondary-checkpoints-versioning"),
                                         "versioningConfiguration", {"status": "Suspended"}))
    found = violations_of(run, "s3-cross-region-replication")
    messages = " | ".join(v.message for v in found)
    # forward: destination unversioned; reverse (failback): source unversioned
    assert f"destination {SECONDARY_BUCKET} is not versioned" in messages
    assert f"source {SECONDARY_BUCKET} is not versioned" in messages
    assert "BucketVersioning 'Enabled'" in messages


def test_replication_to_a_bucket_outside_the_stack_fails_unless_allowed(dev):
    def external(r):
        registration = r.one(REPLICATION, "replication-forward")
        rules = json.loads(json.dumps(registration.inputs["rules"]))
        rules[0]["destination"]["bucket"] = "arn:aws:s3:::somebody-elses-bucket"
        set_prop(registration, "rules", rules)

    run = mutated(dev, external)
    messages = [v.message for v in violations_of(run, "s3-cross-region-replication")]
    assert any("somebody-elses-bucket" in m and "allowExternalDestinations" in m for m in messages)
    allowed = violations_of(run, "s3-cross-region-replication",
                            {"s3-cross-region-replication": {"allowExternalDestinations": True}})
    # the secondary is now nobody's destination: it is a primary without replication
    assert [v.urn for v in allowed] == [urn_of(run, BUCKET, "secondary-checkpoints-bucket")]


def test_replication_role_without_kms_rights_fails(dr):
    def strip_kms(r):
        registration = r.one(ROLE_POLICY, "replication-role-policy")
        document = json.loads(registration.inputs["policy"])
        document["Statement"] = [s for s in document["Statement"] if not s["Sid"].startswith("DecryptSource")]
        set_policy(registration, "policy", document)

    run = mutated(dr, strip_kms)
    found = violations_of(run, "s3-replication-kms-rights")
    assert len(found) == 2  # forward and reverse rules each lose kms:Decrypt on their source key
    role_urn = urn_of(run, ROLE, "replication-role")
    assert {v.urn for v in found} == {role_urn}
    for v in found:
        assert "aws:iam/role:Role 'replication-role'" in v.message
        assert "kms:Decrypt" in v.message and "Grant kms:Decrypt" in v.message


def test_replication_rule_not_selecting_kms_objects_fails(dr):
    def unselect(r):
        registration = r.one(REPLICATION, "replication-forward")
        rules = json.loads(json.dumps(registration.inputs["rules"]))
        del rules[0]["sourceSelectionCriteria"]["sseKmsEncryptedObjects"]
        del rules[0]["destination"]["encryptionConfiguration"]
        set_prop(registration, "rules", rules)

    found = violations_of(mutated(dr, unselect), "s3-replication-kms-rights")
    messages = " | ".join(v.message for v in found)
    assert "aws:s3/bucketReplicationConfig:BucketReplicationConfig 'replication-forward'" in messages
    assert "sse_kms_encrypted_objects" in messages and "replica_kms_key_id" in messages


# -- KMS -----------------------------------------------------------------------------------

def test_kms_key_without_rotation_fails(dr):
    run = mutated(dr, lambda r: set_prop(r.one(KEY, "primary-checkpoints-key"), "enableKeyRotation", False))
    v = one(run, "kms-key-rotation")
    assert "aws:kms/key:Key 'primary-checkpoints-key'" in v.message and "enable_key_rotation=True" in v.message
    assert v.urn == urn_of(run, KEY, "primary-checkpoints-key")


def test_kms_key_without_policy_fails(dr):
    run = mutated(dr, lambda r: set_prop(r.one(KEY, "secondary-checkpoints-key"), "policy", None))
    v = one(run, "kms-key-policy")
    assert "aws:kms/key:Key 'secondary-checkpoints-key'" in v.message and "set policy=" in v.message


# -- IAM -----------------------------------------------------------------------------------

def _add_statement(run: ProgramRun, name: str, statement: dict) -> None:
    registration = run.one(ROLE_POLICY, name)
    document = json.loads(registration.inputs["policy"])
    document["Statement"].append(statement)
    set_policy(registration, "policy", document)


def test_wildcard_service_action_fails(dev):
    run = mutated(dev, lambda r: _add_statement(r, "jobs-checkpoints", {
        "Sid": "Everything", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::some-bucket/*"}))
    v = one(run, "iam-no-wildcard-action")
    assert "aws:iam/rolePolicy:RolePolicy 'jobs-checkpoints'" in v.message and "'s3:*'" in v.message
    assert "Everything" in v.message and "exact actions" in v.message
    assert v.urn == urn_of(run, ROLE_POLICY, "jobs-checkpoints")


def test_write_action_on_any_resource_fails(dev):
    run = mutated(dev, lambda r: _add_statement(r, "jobs-checkpoints", {
        "Sid": "PutAnywhere", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}))
    v = one(run, "iam-no-wildcard-resource-write")
    assert "'jobs-checkpoints'" in v.message and "['s3:PutObject']" in v.message and "scope Resource" in v.message
    config = {"iam-no-wildcard-resource-write": {"allowedActions": ["s3:PutObject"]}}
    assert violations_of(run, "iam-no-wildcard-resource-write", config) == []


def test_passrole_on_any_role_fails(dr):
    run = mutated(dr, lambda r: _add_statement(r, "jobs-checkpoints", {
        "Sid": "PassAnything", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}))
    v = one(run, "iam-no-passrole-wildcard")
    assert "'jobs-checkpoints'" in v.message and "iam:PassRole" in v.message and "role ARNs" in v.message


def test_passrole_on_one_role_passes(dr):
    run = mutated(dr, lambda r: _add_statement(r, "jobs-checkpoints", {
        "Sid": "PassOne", "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": "arn:aws:iam::123456789012:role/jobs-role"}))
    assert violations_of(run, "iam-no-passrole-wildcard") == []


def test_trust_policy_with_wildcard_service_fails(dev):
    def widen(r):
        registration = r.one(ROLE, "replication-role")
        trust = json.loads(registration.inputs["assumeRolePolicy"])
        trust["Statement"][0]["Principal"] = {"Service": "*"}
        set_policy(registration, "assumeRolePolicy", trust)

    run = mutated(dev, widen)
    v = one(run, "iam-trust-exact-service")
    assert "aws:iam/role:Role 'replication-role'" in v.message and "Service '*'" in v.message
    assert "s3.amazonaws.com" in v.message
    assert v.urn == urn_of(run, ROLE, "replication-role")


# -- Route 53 ------------------------------------------------------------------------------

def test_primary_record_without_health_check_fails(dr):
    run = mutated(dr, lambda r: set_prop(r.one(RECORD, "failover-primary"), "healthCheckId", None))
    v = one(run, "route53-primary-health-check")
    assert "aws:route53/record:Record 'failover-primary'" in v.message and "health_check_id" in v.message
    assert v.urn == urn_of(run, RECORD, "failover-primary")


def test_failover_budget_over_the_stacks_rto_fails(dr):
    run = mutated(dr, lambda r: set_prop(r.one(RECORD, "failover-primary"), "ttl", 600))
    v = one(run, "route53-failover-budget")
    assert "aws:route53/record:Record 'failover-primary'" in v.message
    assert "20 s target group" in v.message and "10 s x 3" in v.message and "6 s probe timeout" in v.message
    assert "600 s TTL + 600 s stale caches = 1256 s in the worst case" in v.message
    assert "RTO target of 300 s (stack config dr-platform:rtoSeconds)" in v.message
    assert "lower request_interval" in v.message


def test_failover_budget_over_a_configured_rto_fails(dr):
    v = one(dr, "route53-failover-budget", {"route53-failover-budget": {"rtoSeconds": 45}})
    assert "= 116 s in the worst case" in v.message and "RTO target of 45 s (policy config rtoSeconds)" in v.message


def test_failover_budget_judges_the_worst_case_not_the_best(dr):
    """Best case 10 x 3 + 30 = 60 s fits an RTO of 100 s; the worst case, 116 s, does not."""
    assert violations_of(dr, "route53-failover-budget", {"route53-failover-budget": {"rtoSeconds": 116}}) == []
    v = one(dr, "route53-failover-budget", {"route53-failover-budget": {"rtoSeconds": 100}})
    assert "= 116 s in the worst case" in v.message


def test_failover_budget_counts_the_slowest_target_group(dr):
    def slow(run):
        group = run.one("aws:lb/targetGroup:TargetGroup", "primary-compute-tg")
        set_prop(group, "healthCheck", {**group.inputs["healthCheck"], "interval": 300, "unhealthyThreshold": 10})

    v = one(mutated(dr, slow), "route53-failover-budget")
    assert "3000 s target group (aws:lb/targetGroup:TargetGroup 'primary-compute-tg')" in v.message


# -- stack level ---------------------------------------------------------------------------

def test_unprotected_bucket_in_a_protected_stack_fails(dr):
    def unprotect(r):
        r.one(BUCKET, "primary-checkpoints-bucket").protect = False
        r.one(KEY, "primary-checkpoints-key").protect = False

    run = mutated(dr, unprotect)
    found = violations_of(run, "data-protected-from-deletion")
    assert {v.urn for v in found} == {urn_of(run, BUCKET, "primary-checkpoints-bucket"), urn_of(run, KEY, "primary-checkpoints-key")}
    messages = " | ".join(v.message for v in found)
    assert f"{PRIMARY_BUCKET} in stack 'dr' is not protected" in messages and "protect=True" in messages
    assert "aws:kms/key:Key 'primary-checkpoints-key' encrypts" in messages


def test_dev_is_unprotected_on_purpose_only_while_listed(dev):
    assert violations_of(dev, "data-protected-from-deletion") == []
    found = violations_of(dev, "data-protected-from-deletion", {"data-protected-from-deletion": {"unprotectedStacks": []}})
    assert len(found) == 8  # each bucket (two checkpoint, two log buckets): not protected, and force_destroy
    assert all("in stack 'dev'" in v.message for v in found)
    assert any("force_destroy=False" in v.message for v in found)


def test_checkpoint_bucket_without_replica_fails(dr):
    run = mutated(dr, lambda r: remove(r, REPLICATION))
    found = violations_of(run, "checkpoint-bucket-replica")
    assert {v.urn for v in found} == {
        urn_of(run, BUCKET, "primary-checkpoints-bucket"), urn_of(run, BUCKET, "secondary-checkpoints-bucket")
    }
    assert all("no replica in another region" in v.message and "BucketReplication" in v.message for v in found)


def test_aws_managed_kms_key_fails_encryption(dr):
    def managed(r):
        for role in ("primary", "secondary"):
            set_prop(r.one(ENCRYPTION, f"{role}-checkpoints-encryption"), "rules",
                     [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}])

    found = violations_of(mutated(dr, managed), "s3-bucket-encryption")
    assert len(found) == 2
    assert all("kms_master_key_id" in v.message for v in found)


# -- replication alarms in the metric's Region ---------------------------------------------

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FIS_TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"


def move_to_primary(run: ProgramRun, name: str) -> None:
    """Re-register an alarm with the primary provider (what the first version did)."""
    alarm = run.one(ALARM, name)
    primary = next(r for r in run.registrations if r.type == "pulumi:providers:aws" and r.name == "primary")
    alarm.provider = f"{primary.urn}::{primary.id}"
    set_prop(alarm, "region", "us-east-1")


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_replication_alarm_rule_passes_on_both_stacks(stack, request):
    run = request.getfixturevalue(stack)
    assert violations_of(run, "replication-alarms-in-metric-region") == []


def test_the_rule_sees_the_alarms_it_judges(dr):
    """Guard against a vacuous pass: dr has a latency alarm on a bucket of the stack, in us-west-2."""
    from infra.policy.offline import policy_resources
    from infra.policy.replication_alarms import expected_region
    from infra.policy.stack import StackView

    view = StackView(policy_resources(dr))
    (latency,) = [a for a in view.of_type(ALARM) if a.name == "alerts-replication-latency"]
    assert expected_region(view, latency)[0] == view.region(latency) == "us-west-2"


def test_a_latency_alarm_in_the_source_region_fails(dr):
    run = mutated(dr, lambda r: move_to_primary(r, "alerts-replication-latency"))
    found = violations_of(run, "replication-alarms-in-metric-region")
    messages = " | ".join(v.message for v in found)
    assert "'alerts-replication-latency' watches ReplicationLatency in us-east-1" in messages
    assert "destination bucket" in messages and "us-west-2" in messages
    assert "notifies the SNS topic arn:aws:sns:us-west-2" in messages  # its topic is now in another Region
    assert {v.urn for v in found} == {urn_of(run, ALARM, "alerts-replication-latency")}


def test_an_alarm_notifying_a_topic_of_another_region_fails(dr):
    def cross(run):
        east = run.one("aws:sns/topic:Topic", "alerts-topic").state["arn"]
        set_prop(run.one(ALARM, "alerts-replication-latency"), "alarmActions", [east])

    (v,) = violations_of(mutated(dr, cross), "replication-alarms-in-metric-region")
    assert "in us-west-2 notifies the SNS topic arn:aws:sns:us-east-1" in v.message


# -- FIS pause-replication by tags ---------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_fis_rule_passes_on_both_stacks(stack, request):
    run = request.getfixturevalue(stack)
    assert violations_of(run, "fis-pause-replication-by-tags") == []
    if stack == "dr":
        assert run.of_type(FIS_TEMPLATE)  # not vacuous on dr


def _retarget(run: ProgramRun, **target) -> None:
    template = run.one(FIS_TEMPLATE, "drills-replication-pause")
    (old,) = template.inputs["targets"]
    set_prop(template, "targets", [{"name": old["name"], "resourceType": "aws:s3:bucket", "selectionMode": "ALL",
                                    **target}])


def test_a_pause_targeting_the_bucket_by_arn_fails(dr):
    arn = dr.one(BUCKET, "primary-checkpoints-bucket").state["arn"]
    (v,) = violations_of(mutated(dr, lambda r: _retarget(r, resourceArns=[arn])), "fis-pause-replication-by-tags")
    assert "by ARN" in v.message and "only supports targeting by tags" in v.message
    assert v.urn == urn_of(dr, FIS_TEMPLATE, "drills-replication-pause")


def test_a_pause_whose_tags_match_no_bucket_fails(dr):
    run = mutated(dr, lambda r: _retarget(r, resourceTags=[{"key": "dr-platform:fis-replication-source", "value": "x"}]))
    (v,) = violations_of(run, "fis-pause-replication-by-tags")
    assert "no bucket in this stack carries those tags" in v.message


def test_a_pause_shorter_than_the_hour_existing_objects_may_keep_replicating_fails(dr):
    def shorten(run):
        template = run.one(FIS_TEMPLATE, "drills-replication-pause")
        actions = json.loads(json.dumps(template.inputs["actions"]))
        for p in actions[0]["parameters"]:
            if p["key"] == "duration":
                p["value"] = "PT10M"
        set_prop(template, "actions", actions)

    (v,) = violations_of(mutated(dr, shorten), "fis-pause-replication-by-tags")
    assert "PT10M" in v.message and "up to an hour" in v.message

def test_a_log_bucket_is_only_exempt_while_aws_services_deliver_logs_into_it(dr):
    """ALB access logs need SSE-S3 targets (ELB User Guide, "Enable access logs for your
    Application Load Balancer"), and log buckets keep a Region's logs in that Region: the pack
    lets such buckets skip KMS and replication, and only those."""
    assert violations_of(dr, "s3-bucket-encryption") == [] and violations_of(dr, "s3-cross-region-replication") == []

    def unlog(run):
        remove(run, "aws:s3/bucketLogging:BucketLogging")
        remove(run, "aws:cloudtrail/trail:Trail")
        for lb in run.of_type("aws:lb/loadBalancer:LoadBalancer"):
            set_prop(lb, "accessLogs", None)

    run = mutated(dr, unlog)
    logs = {urn_of(run, "aws:s3/bucket:Bucket", f"{role}-logs-bucket") for role in ("primary", "secondary")}
    assert {v.urn for v in violations_of(run, "s3-bucket-encryption")} == logs
    assert {v.urn for v in violations_of(run, "s3-cross-region-replication")} == logs


# -- the drill operator ----------------------------------------------------------------------

def _operator_policy(run: ProgramRun) -> dict:
    return json.loads(run.one(ROLE_POLICY, "drill-operator-policy").inputs["policy"])


def _set_operator_policy(run: ProgramRun, document: dict) -> None:
    set_policy(run.one(ROLE_POLICY, "drill-operator-policy"), "policy", document)


def test_drill_operator_with_object_access_fails(dr):
    def widen(run):
        document = _operator_policy(run)
        document["Statement"].append({"Sid": "Canary", "Effect": "Allow", "Action": ["s3:PutObject"],
                                      "Resource": ["arn:aws:s3:::any/*"]})
        _set_operator_policy(run, document)

    v = one(mutated(dr, widen), "drill-operator-least-privilege")
    assert "drill-operator-role" in v.message and "['s3:PutObject']" in v.message and "no drill calls" in v.message


def test_drill_operator_scaling_every_group_fails(dr):
    def widen(run):
        document = _operator_policy(run)
        for statement in document["Statement"]:
            if statement["Sid"] == "ScaleStandby":
                statement["Resource"] = "*"
        _set_operator_policy(run, document)

    v = one(mutated(dr, widen), "drill-operator-least-privilege")
    assert "['autoscaling:SetDesiredCapacity'] on every resource" in v.message


def test_drill_operator_condition_the_sandbox_cannot_check_fails(dev):
    def condition(run):
        document = _operator_policy(run)
        document["Statement"][0]["Condition"] = {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
        _set_operator_policy(run, document)

    v = one(mutated(dev, condition), "drill-operator-least-privilege")
    assert "Condition" in v.message and "docs/sandbox-iam.md" in v.message


def test_missing_drill_operator_fails(dev):
    v = one(mutated(dev, lambda r: remove(r, ROLE, "drill-operator-role")), "drill-operator-least-privilege")
    assert "0 drill operator roles" in v.message
