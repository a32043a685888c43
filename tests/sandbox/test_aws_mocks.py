"""EmulatorAws's contract: real resources in the provider's region, unsupported types reported."""

from __future__ import annotations

import re

import pulumi
import pytest

from infra.sandbox.aws_mocks import EmulatorAws, api_shape, auto_name

from .conftest import unique

PROVIDER_URN = "urn:pulumi:test::p::pulumi:providers:aws::west"


@pytest.fixture
def mocks(emulator_url) -> EmulatorAws:
    aws = EmulatorAws(emulator_url)
    provider_id, _ = aws.new_resource(pulumi.runtime.MockResourceArgs(
        "pulumi:providers:aws", "west", {"region": "us-west-2", "defaultTags": '{"tags": {"stack": "t"}}'},
        custom=True))
    aws.provider_ref = f"{PROVIDER_URN}::{provider_id}"  # type: ignore[attr-defined]
    return aws


def test_a_bucket_is_created_in_its_providers_region_with_default_tags(mocks, client):
    name = unique("bucket")
    resource_id, state = mocks.new_resource(pulumi.runtime.MockResourceArgs(
        "aws:s3/bucket:Bucket", "data", {"bucket": name, "tags": {"role": "x"}}, provider=mocks.provider_ref,
        custom=True))
    s3 = client("s3")
    assert resource_id == name and state["arn"] == f"arn:aws:s3:::{name}" and state["region"] == "us-west-2"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "us-west-2"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags == {"role": "x", "stack": "t"}


def test_a_type_without_a_mapping_is_reported_not_faked(mocks):
    resource_id, _ = mocks.new_resource(pulumi.runtime.MockResourceArgs(
        "aws:dynamodb/table:Table", "locks", {"hashKey": "id"}, provider=mocks.provider_ref, custom=True))
    assert resource_id == "unsupported:locks"
    (record,) = mocks.unsupported
    assert (record.type, record.name, record.region) == ("aws:dynamodb/table:Table", "locks", "us-west-2")
    assert "no mapping" in record.error


def test_a_request_the_emulator_rejects_is_reported(mocks):
    resource_id, _ = mocks.new_resource(pulumi.runtime.MockResourceArgs(
        "aws:s3/bucketVersioning:BucketVersioning", "v",
        {"bucket": unique("missing"), "versioningConfiguration": {"status": "Enabled"}},
        provider=mocks.provider_ref, custom=True))
    assert resource_id == "unsupported:v"
    assert "NoSuchBucket" in mocks.unsupported[0].error


def test_invokes_are_answered_from_the_emulator(mocks):
    vpc, _ = mocks.call(pulumi.runtime.MockCallArgs("aws:ec2/getVpc:getVpc", {"default": True}, mocks.provider_ref))
    assert vpc["id"].startswith("vpc-") and vpc["default"] is True
    subnets, _ = mocks.call(pulumi.runtime.MockCallArgs("aws:ec2/getSubnets:getSubnets", {
        "filters": [{"name": "vpc-id", "values": [vpc["id"]]}]}, mocks.provider_ref))
    assert subnets["ids"] and all(s.startswith("subnet-") for s in subnets["ids"])
    with pytest.raises(LookupError, match="no public hosted zone 'absent.invalid.'"):
        mocks.call(pulumi.runtime.MockCallArgs("aws:route53/getZone:getZone", {"name": "absent.invalid"},
                                               mocks.provider_ref))


def test_auto_names_and_api_shapes():
    assert re.fullmatch(r"primary-checkpoints-bucket-[0-9a-f]{7}", auto_name("Primary-Checkpoints-Bucket", lower=True))
    assert len(auto_name("a-very-long-load-balancer-name-indeed", max_length=32)) <= 32
    assert api_shape({"id": "r", "filter": {"prefix": "p/"}, "noncurrentDays": 30.0,
                      "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}}) == {
        "ID": "r", "Filter": {"Prefix": "p/"}, "NoncurrentDays": 30,
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}}
