"""The translator from Pulumi registrations to a Terraform plan, on small registrations.

Type tokens follow pulumi-aws's own map, ``renames.resources`` in
provider/cmd/pulumi-resource-aws/bridge-metadata.json
(https://github.com/pulumi/pulumi-aws/blob/master/provider/cmd/pulumi-resource-aws/bridge-metadata.json),
and ``"aws_s3_bucket_replication_configuration": {Tok: awsResource(s3Mod, "BucketReplicationConfig")}``
in provider/resources.go. The plan shape is Terraform's JSON output format
(https://developer.hashicorp.com/terraform/internals/json-format) as checkov reads it
(checkov/terraform/plan_parser.py: planned_values, resource_changes, configuration; references
only from ``configuration.root_module.resources[].expressions``).
"""

from __future__ import annotations

import json

import pytest

from infra.mockrun import run_program
from infra.scan.errors import TranslationError
from infra.scan.mocks import ScanAws
from infra.scan.plan import plan_of, taggable
from infra.scan.translate import build_plan, singular, snake, terraform_name, terraform_type

from .conftest import bucket, resource


@pytest.mark.parametrize(
    "token, tf_type",
    [
        ("aws:s3/bucket:Bucket", "aws_s3_bucket"),
        ("aws:s3/bucketV2:BucketV2", "aws_s3_bucket"),
        ("aws:s3/bucketVersioning:BucketVersioning", "aws_s3_bucket_versioning"),
        ("aws:s3/bucketVersioningV2:BucketVersioningV2", "aws_s3_bucket_versioning"),
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws_s3_bucket_public_access_block"),
        ("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "aws_s3_bucket_replication_configuration"),
        ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
         "aws_s3_bucket_server_side_encryption_configuration"),
        ("aws:lb/loadBalancer:LoadBalancer", "aws_lb"),
        ("aws:alb/loadBalancer:LoadBalancer", "aws_alb"),
        ("aws:lb/listener:Listener", "aws_lb_listener"),
        ("aws:lb/targetGroup:TargetGroup", "aws_lb_target_group"),
        ("aws:ec2/securityGroup:SecurityGroup", "aws_security_group"),
        ("aws:ec2/launchTemplate:LaunchTemplate", "aws_launch_template"),
        ("aws:ec2/flowLog:FlowLog", "aws_flow_log"),
        ("aws:ec2/managedPrefixList:ManagedPrefixList", "aws_ec2_managed_prefix_list"),
        ("aws:ec2/dedicatedHost:DedicatedHost", "aws_ec2_host"),
        ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws_vpc_security_group_ingress_rule"),
        ("aws:autoscaling/group:Group", "aws_autoscaling_group"),
        ("aws:autoscaling/tag:Tag", "aws_autoscaling_group_tag"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws_cloudwatch_metric_alarm"),
        ("aws:cloudtrail/trail:Trail", "aws_cloudtrail"),
        ("aws:route53/healthCheck:HealthCheck", "aws_route53_health_check"),
        ("aws:fis/experimentTemplate:ExperimentTemplate", "aws_fis_experiment_template"),
        ("aws:iam/instanceProfile:InstanceProfile", "aws_iam_instance_profile"),
        ("aws:acm/certificateValidation:CertificateValidation", "aws_acm_certificate_validation"),
        ("aws:kms/alias:Alias", "aws_kms_alias"),
        ("aws:wafv2/webAclAssociation:WebAclAssociation", "aws_wafv2_web_acl_association"),
    ],
)
def test_type_tokens_map_to_terraform_types(token, tf_type):
    assert terraform_type(token) == tf_type


@pytest.mark.parametrize("token", ["dr-platform:index:CheckpointBucket", "pulumi:providers:aws", "aws:s3"])
def test_a_token_that_is_not_a_pulumi_aws_resource_is_refused(token):
    with pytest.raises(TranslationError, match="not a pulumi-aws resource type token"):
        terraform_type(token)


def test_names_and_words():
    assert snake("versioningConfiguration") == "versioning_configuration"
    assert snake("cidrIpv4") == "cidr_ipv4"
    assert snake("sseKmsEncryptedObjects") == "sse_kms_encrypted_objects"
    assert [singular(w) for w in ("rules", "failover_routing_policies", "aliases", "ingress", "tags", "default_actions")] == [
        "rule", "failover_routing_policy", "alias", "ingress", "tag", "default_action",
    ]
    assert terraform_name("primary-checkpoints-bucket") == "primary_checkpoints_bucket"
    assert terraform_name("9lives") == "_9lives"


def _one(plan, address):
    (values,) = [r["values"] for r in plan.document["planned_values"]["root_module"]["resources"] if r["address"] == address]
    (config,) = [r for r in plan.document["configuration"]["root_module"]["resources"] if r["address"] == address]
    return values, config


def test_properties_blocks_lists_and_maps(providers):
    lifecycle = resource(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "lc",
        {
            "bucket": "literal-bucket",
            "rules": [{"id": "expire", "status": "Enabled", "filter": {"prefix": ""},
                       "noncurrentVersionExpiration": {"noncurrentDays": 30.0}}],
        },
    )
    asg = resource(
        "aws:autoscaling/group:Group",
        "asg",
        {"vpcZoneIdentifiers": ["subnet-a", "subnet-b"], "minSize": 1.0,
         "tags": [{"key": "Name", "value": "x", "propagateAtLaunch": True}]},
    )
    template = resource(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "lt",
        {"metadataOptions": {"httpTokens": "required"},
         "tagSpecifications": [{"resourceType": "instance", "tags": {"dr-platform:role": "primary"}}]},
    )
    alarm = resource("aws:cloudwatch/metricAlarm:MetricAlarm", "alarm", {"dimensions": {"SourceBucket": "b", "RuleId": "r"}})
    plan = build_plan([lifecycle, asg, template, alarm], providers)

    values, _ = _one(plan, "aws_s3_bucket_lifecycle_configuration.lc")
    assert values == {
        "bucket": "literal-bucket",
        "rule": [{"id": "expire", "status": "Enabled", "filter": [{"prefix": ""}],
                  "noncurrent_version_expiration": [{"noncurrent_days": 30}]}],
    }
    values, _ = _one(plan, "aws_autoscaling_group.asg")
    assert values["vpc_zone_identifier"] == ["subnet-a", "subnet-b"]
    assert values["tag"] == [{"key": "Name", "value": "x", "propagate_at_launch": True}]
    assert values["min_size"] == 1 and isinstance(values["min_size"], int)
    values, _ = _one(plan, "aws_launch_template.lt")
    assert values["metadata_options"] == [{"http_tokens": "required"}]
    # Terraform's own name is plural here; map keys are kept verbatim
    assert values["tag_specifications"] == [{"resource_type": "instance", "tags": {"dr-platform:role": "primary"}}]
    values, _ = _one(plan, "aws_cloudwatch_metric_alarm.alarm")
    assert values["dimensions"] == {"SourceBucket": "b", "RuleId": "r"}


def test_an_input_from_a_dependency_becomes_a_reference(providers):
    key = resource("aws:kms/key:Key", "key", {}, id_="k-1", state={"arn": "arn:aws:kms:us-east-1:1:key/k-1"})
    b = bucket("data-bucket")
    sse = resource(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "sse",
        {"bucket": "data-bucket",
         "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms",
                                                            "kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/k-1"}}]},
        deps=[b, key],
    )
    lb_sg = resource("aws:ec2/securityGroup:SecurityGroup", "lb", {}, id_="sg-1")
    alb = resource("aws:lb/loadBalancer:LoadBalancer", "alb", {"securityGroups": ["sg-1", "sg-elsewhere"]}, deps=[lb_sg])
    plan = build_plan([key, b, sse, lb_sg, alb], providers)

    values, config = _one(plan, "aws_s3_bucket_server_side_encryption_configuration.sse")
    # unknown until apply: left out of the planned values, referenced in the configuration
    assert values == {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]}
    assert config["expressions"]["bucket"] == {
        "references": ["aws_s3_bucket.data_bucket.bucket", "aws_s3_bucket.data_bucket"]
    }
    assert config["expressions"]["rule"] == [
        {"apply_server_side_encryption_by_default": [
            {"kms_master_key_id": {"references": ["aws_kms_key.key.arn", "aws_kms_key.key"]}}
        ]}
    ]
    values, config = _one(plan, "aws_lb.alb")
    assert values["security_groups"] == [None, "sg-elsewhere"]
    assert config["expressions"]["security_groups"] == {
        "references": ["aws_security_group.lb.id", "aws_security_group.lb"]
    }
    (change,) = [c for c in plan.document["resource_changes"] if c["address"] == "aws_lb.alb"]
    assert change["change"]["after_unknown"]["security_groups"] == [True, False]


def test_an_equal_value_without_a_dependency_stays_a_literal(providers):
    """A hard-coded value that happens to equal an id is not a reference (Terraform would not link it)."""
    b = bucket("data-bucket")
    pab = resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", {"bucket": "data-bucket"})
    plan = build_plan([b, pab], providers)
    values, config = _one(plan, "aws_s3_bucket_public_access_block.pab")
    assert values == {"bucket": "data-bucket"}
    assert config["expressions"] == {}


def test_a_dependency_without_a_value_is_depends_on_and_echoed_values_do_not_steal_references(providers):
    b = bucket("data-bucket")
    versioning = resource("aws:s3/bucketVersioning:BucketVersioning", "v", {"bucket": "data-bucket"}, deps=[b])
    lifecycle = resource("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lc",
                         {"bucket": "data-bucket"}, deps=[versioning, b])
    plan = build_plan([b, versioning, lifecycle], providers)
    _, config = _one(plan, "aws_s3_bucket_lifecycle_configuration.lc")
    # the versioning resource only echoes the bucket name it was given: the reference goes to the bucket
    assert config["expressions"]["bucket"]["references"][1] == "aws_s3_bucket.data_bucket"
    assert config["depends_on"] == ["aws_s3_bucket_versioning.v"]


def test_providers_and_default_tags(providers):
    b = bucket("data-bucket")
    b_tags = resource("aws:s3/bucket:Bucket", "tagged", {"tags": {"owner": "ml"}}, id_="tagged")
    asg = resource("aws:autoscaling/group:Group", "asg", {"minSize": 1})
    plan = build_plan([b, b_tags, asg], providers, taggable=taggable)
    assert plan.document["configuration"]["provider_config"]["aws.primary"]["expressions"]["region"] == {
        "constant_value": "us-east-1"
    }
    assert _one(plan, "aws_s3_bucket.tagged")[0]["tags_all"] == {"project": "dr-platform", "owner": "ml"}
    assert _one(plan, "aws_s3_bucket.data_bucket")[0]["tags_all"] == {"project": "dr-platform"}
    # DESIGN.md: provider default_tags do not reach Auto Scaling groups (no tags_all in pulumi-aws)
    assert "tags_all" not in _one(plan, "aws_autoscaling_group.asg")[0]
    assert {c["provider_config_key"] for c in plan.document["configuration"]["root_module"]["resources"]} == {"aws.primary"}


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_the_program_translates_with_every_reference_resolving(stack):
    plan = plan_of(run_program(stack, ScanAws()))
    document = json.loads(json.dumps(plan.document))  # plain JSON, as written to disk
    addresses = {r["address"] for r in document["planned_values"]["root_module"]["resources"]}
    assert len(addresses) == len(document["planned_values"]["root_module"]["resources"])

    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("references"), list):
                yield from node["references"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    config = document["configuration"]["root_module"]["resources"]
    referenced = {ref for c in config for ref in refs(c["expressions"])}
    assert referenced, "the program's resources refer to each other"
    assert {r.rsplit(".", 1)[0] if r.count(".") == 2 else r for r in referenced} <= addresses
    by_address = {c["address"]: c for c in config}
    # each checkpoint bucket's settings point at their bucket (what CKV2_AWS_6 / CKV_AWS_21 join on)
    for role in ("primary", "secondary"):
        for setting in ("aws_s3_bucket_versioning.{r}_checkpoints_versioning",
                        "aws_s3_bucket_public_access_block.{r}_checkpoints_public_access"):
            assert by_address[setting.format(r=role)]["expressions"]["bucket"]["references"][1] == \
                f"aws_s3_bucket.{role}_checkpoints_bucket"


def test_an_echoed_input_is_referenced_only_when_no_dependency_computes_the_value(providers):
    """A listener given ``validation.certificate_arn`` refers to the validation, as in Terraform."""
    cert_arn = "arn:aws:acm:us-east-1:123456789012:certificate/c-1"
    cert = resource("aws:acm/certificate:Certificate", "cert", {"domainName": "ml.example.com"}, id_=cert_arn,
                    state={"arn": cert_arn})
    validation = resource("aws:acm/certificateValidation:CertificateValidation", "wait",
                          {"certificateArn": cert_arn}, id_=cert_arn, deps=[cert])
    listener = resource("aws:lb/listener:Listener", "https", {"certificateArn": cert_arn, "port": 443.0},
                        deps=[validation])
    plan = build_plan([cert, validation, listener], providers)
    assert _one(plan, "aws_acm_certificate_validation.wait")[1]["expressions"]["certificate_arn"]["references"][0] == \
        "aws_acm_certificate.cert.arn"
    assert _one(plan, "aws_lb_listener.https")[1]["expressions"]["certificate_arn"]["references"][0] == \
        "aws_acm_certificate_validation.wait.certificate_arn"
