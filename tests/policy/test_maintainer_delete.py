"""Rule checkpoint-delete-only-maintainer: only the MaintainerRole may delete checkpoints."""

from __future__ import annotations

import json

import pytest

from .conftest import mutated, set_policy, violations_of

RULE = "checkpoint-delete-only-maintainer"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET = "aws:s3/bucket:Bucket"


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_the_program_passes_and_its_maintainer_does_delete(stack, request):
    run = request.getfixturevalue(stack)
    assert violations_of(run, RULE) == []
    policy = json.loads(run.one(ROLE_POLICY, "maintainer-checkpoints").inputs["policy"])
    assert any("s3:DeleteObject" in s["Action"] for s in policy["Statement"])


@pytest.mark.parametrize("action", ["s3:DeleteObject", "s3:Delete*", "s3:DeleteObjectVersion"])
def test_a_job_role_allowed_to_delete_fails(dr, action):
    def grant(run):
        jobs = run.one(ROLE_POLICY, "jobs-checkpoints")
        document = json.loads(jobs.inputs["policy"])
        document["Statement"][2]["Action"].append(action)
        set_policy(jobs, "policy", document)

    found = violations_of(mutated(dr, grant), RULE)
    assert len(found) == 1, [v.message for v in found]
    assert "jobs-checkpoints" in found[0].message and "MaintainerRole" in found[0].message


def test_a_bucket_policy_allowing_delete_fails(dev):
    def grant(run):
        bucket = run.one(BUCKET, "primary-checkpoints-bucket")
        policy = run.one(BUCKET_POLICY, "primary-checkpoints-tls-only")
        document = json.loads(policy.inputs["policy"])
        document["Statement"].append({
            "Sid": "LetSomeoneDelete", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "s3:DeleteObject", "Resource": f"{bucket.state['arn']}/*"})
        set_policy(policy, "policy", document)

    found = violations_of(mutated(dev, grant), RULE)
    assert len(found) == 1 and "primary-checkpoints-tls-only" in found[0].message


def test_a_delete_on_another_bucket_is_not_a_checkpoint_delete(dr):
    def grant(run):
        jobs = run.one(ROLE_POLICY, "jobs-checkpoints")
        document = json.loads(jobs.inputs["policy"])
        document["Statement"].append({"Effect": "Allow", "Action": "s3:DeleteObject",
                                      "Resource": "arn:aws:s3:::scratch-bucket/*"})
        set_policy(jobs, "policy", document)

    assert violations_of(mutated(dr, grant), RULE) == []
