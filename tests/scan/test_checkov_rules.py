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
CHECKS = ("CKV2_AWS_6", "CKV_AWS_21", "CKV_AWS_24")


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
    plan = build_plan(resources, {})
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    path.write_text(json.dumps(plan.document))
    report = run_checkov({"test": path}, checks=CHECKS)["test"]
    return {(r.check, r.address): r.passed for r in report.results}


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
