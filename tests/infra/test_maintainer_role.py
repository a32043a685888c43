"""The maintainer role (issue 11): the only principal allowed to delete checkpoint objects."""

from __future__ import annotations

import json

import pytest

from infra import policies
from infra.mockrun import ProgramRun
from infra.policies import allowed_actions

from .conftest import policy_of

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SRC, DST = "arn:aws:s3:::src", "arn:aws:s3:::dst"


def test_maintainer_policy_is_the_job_policy_plus_delete_object_only():
    job = policies.job_role_policy(bucket_arns=[SRC, DST], prefix="checkpoints/")
    maintainer = policies.maintainer_role_policy(bucket_arns=[SRC, DST], prefix="checkpoints/")
    assert set(allowed_actions(maintainer)) - set(allowed_actions(job)) == {"s3:DeleteObject"}
    deleting = [s for s in maintainer["Statement"] if "s3:DeleteObject" in s["Action"]]
    assert [s["Resource"] for s in deleting] == [[f"{SRC}/checkpoints/*", f"{DST}/checkpoints/*"]]
    # never permanent deletes: those would skip the noncurrent-version undo window
    assert "s3:DeleteObjectVersion" not in allowed_actions(maintainer)


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_program_exports_the_maintainer_and_only_it_may_delete(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    role = run.one(ROLE, "maintainer-role")
    assert run.outputs["maintainerRoleArn"] == role.state["arn"]
    lifecycle = run.outputs["platform"]["lifecycle"]
    assert lifecycle["maintainer_role_arn"] == role.state["arn"]
    assert lifecycle["noncurrent_version_days"] >= 1
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert run.outputs["maintainerInstanceProfileName"]
    deleters = {r.name for r in run.of_type(ROLE_POLICY)
                if "s3:DeleteObject" in allowed_actions(policy_of(r))}
    assert deleters == {"maintainer-checkpoints"}
    assert "s3:DeleteObject" not in allowed_actions(policy_of(run.one(ROLE_POLICY, "jobs-checkpoints")))


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_gc_undo_window_is_the_noncurrent_version_expiry_and_delete_markers_replicate(stack, request):
    """S3 User Guide, "Replicating delete markers between buckets"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html):
    delete markers replicate only when the rule enables DeleteMarkerReplication. Our rule
    enables it, so a GC delete in the primary also hides the object in the secondary: GC must
    keep in every region what either region's restore needs (recovery_lib/gc.py). The undo
    window after GC is the bucket lifecycle's NoncurrentVersionExpiration (S3 User Guide,
    "How S3 Lifecycle interacts with other bucket configurations"), exported in the descriptor."""
    run: ProgramRun = request.getfixturevalue(stack)
    days = run.outputs["platform"]["lifecycle"]["noncurrent_version_days"]
    for role in ("primary", "secondary"):
        lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                            f"{role}-checkpoints-lifecycle")
        rules = lifecycle.inputs["rules"]
        expiry = [r["noncurrentVersionExpiration"]["noncurrentDays"] for r in rules
                  if r.get("noncurrentVersionExpiration")]
        assert expiry == [days]
    for config in run.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        for rule in config.inputs["rules"]:
            assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
