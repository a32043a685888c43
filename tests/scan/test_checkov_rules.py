"""checkov's rules on translated plans: a bad resource yields its finding, and a CKV2 graph
check joins resources through the references the translator writes.

checkov links resources in a plan only through ``references`` in the plan's configuration for
values unknown at plan time (checkov/terraform/plan_parser.py ``_add_references``; edges from
reference strings in checkov/terraform/graph_builder/local_graph.py ``_build_edges_for_vertex``).
Without them CKV2_AWS_6 reports a bucket without a public access block although it has one.
Runs the pinned checkov from .venv-scan (``make scan-env``), offline.
"""

from __future__ import annotations

import json

import pytest

from infra.scan.checkov import run_checkov
from infra.scan.translate import build_plan

from .conftest import bucket, resource

BLOCK_ALL = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}
CHECKS = ("CKV2_AWS_6", "CKV_AWS_21", "CKV_AWS_24", "CKV_AWS_18", "CKV2_AWS_28", "CKV2_AWS_20", "CKV_AWS_2", "CKV_AWS_153")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    guarded = bucket("guarded-bucket")
    bare = bucket("bare-bucket")
    unlinked = bucket("unlinked-bucket")
    resources = [
        guarded,
        resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "guarded-pab",
                 {"bucket": "guarded-bucket", **BLOCK_ALL}, deps=[guarded]),
        resource("aws:s3/bucketVersioning:BucketVersioning", "guarded-versioning",
                 {"bucket": "guarded-bucket", "versioningConfiguration": {"status": "Enabled"}}, deps=[guarded]),
        bare,
        unlinked,
        # the same block, but registered without a dependency on its bucket: no reference, no join
        resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "unlinked-pab",
                 {"bucket": "unlinked-bucket", **BLOCK_ALL}),
        resource("aws:ec2/securityGroup:SecurityGroup", "open-ssh",
                 {"description": "ssh from anywhere",
                  "ingress": [{"fromPort": 22.0, "toPort": 22.0, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}]}),
    ]
    resources += _load_balancers() + _logging() + [
        resource("aws:autoscaling/group:Group", "tagged-asg",
                 {"minSize": 1.0, "maxSize": 2.0, "tags": [{"key": "project", "value": "dr", "propagateAtLaunch": True}]}),
        resource("aws:autoscaling/group:Group", "untagged-asg", {"minSize": 1.0, "maxSize": 2.0}),
    ]
    plan = build_plan(resources, {})
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    path.write_text(json.dumps(plan.document))
    report = run_checkov({"test": path}, checks=CHECKS)["test"]
    return {(r.check, r.address): r.passed for r in report.results}


def _alb(name):
    arn = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/{name}/1"
    return resource("aws:lb/loadBalancer:LoadBalancer", name, {"loadBalancerType": "application", "internal": False},
                    id_=arn, state={"arn": arn})


def _listener(name, alb, port, protocol, action):
    return resource("aws:lb/listener:Listener", name,
                    {"loadBalancerArn": alb.id, "port": float(port), "protocol": protocol, "defaultActions": [action]},
                    deps=[alb])


def _load_balancers():
    guarded, open_ = _alb("guarded-alb"), _alb("open-alb")
    acl = resource("aws:wafv2/webAcl:WebAcl", "acl", {"scope": "REGIONAL"}, id_="acl-1",
                   state={"arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acl/1"})
    redirect = {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}}
    return [
        guarded, open_, acl,
        resource("aws:wafv2/webAclAssociation:WebAclAssociation", "guarded-waf",
                 {"resourceArn": guarded.id, "webAclArn": acl.state["arn"]}, deps=[guarded, acl]),
        _listener("guarded-http", guarded, 80, "HTTP", redirect),
        _listener("guarded-https", guarded, 443, "HTTPS", {"type": "forward", "targetGroupArn": "tg"}),
        _listener("open-http", open_, 80, "HTTP", {"type": "forward", "targetGroupArn": "tg"}),
    ]


def _logging():
    logged, logs = bucket("logged-bucket"), bucket("log-bucket")
    return [
        logged, logs,
        resource("aws:s3/bucketLogging:BucketLogging", "logged-logging",
                 {"bucket": "logged-bucket", "targetBucket": "log-bucket", "targetPrefix": "s3/"}, deps=[logged, logs]),
    ]


def test_a_security_group_open_to_the_world_on_22_is_found(results):
    assert results[("CKV_AWS_24", "aws_security_group.open_ssh")] is False


def test_a_bucket_without_versioning_is_found_and_one_with_it_passes(results):
    assert results[("CKV_AWS_21", "aws_s3_bucket.bare_bucket")] is False
    assert results[("CKV_AWS_21", "aws_s3_bucket.guarded_bucket")] is True


def test_public_access_block_joins_its_bucket_through_the_reference(results):
    assert results[("CKV2_AWS_6", "aws_s3_bucket.guarded_bucket")] is True
    assert results[("CKV2_AWS_6", "aws_s3_bucket.bare_bucket")] is False
    # the misfire the references prevent: the block exists but nothing links it to the bucket
    assert results[("CKV2_AWS_6", "aws_s3_bucket.unlinked_bucket")] is False


def test_waf_association_and_http_redirect_join_their_load_balancer(results):
    """What infra-tls adds for issue 9: a web ACL association and an HTTP listener that redirects."""
    assert results[("CKV2_AWS_28", "aws_lb.guarded_alb")] is True
    assert results[("CKV2_AWS_28", "aws_lb.open_alb")] is False
    assert results[("CKV2_AWS_20", "aws_lb.guarded_alb")] is True
    assert results[("CKV2_AWS_20", "aws_lb.open_alb")] is False
    assert results[("CKV_AWS_2", "aws_lb_listener.guarded_http")] is True  # a redirect to HTTPS is fine
    assert results[("CKV_AWS_2", "aws_lb_listener.open_http")] is False


def test_access_logging_joins_through_a_bucket_logging_resource(results):
    assert results[("CKV_AWS_18", "aws_s3_bucket.logged_bucket")] is True
    assert results[("CKV_AWS_18", "aws_s3_bucket.bare_bucket")] is False


def test_asg_tag_blocks_come_from_pulumis_tags_list(results):
    """Pulumi's ``tags`` list on an Auto Scaling group is Terraform's repeated ``tag`` block."""
    assert results[("CKV_AWS_153", "aws_autoscaling_group.tagged_asg")] is True
    assert results[("CKV_AWS_153", "aws_autoscaling_group.untagged_asg")] is False
