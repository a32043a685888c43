"""The sandbox under IAM enforcement, in process: who may call what, and replication as its role.

moto's IAM enforcement is switched on for this module only (IamEnforcement restores it);
the fixtures' own clients sign as the sandbox's administrator session.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import boto3
import botocore.exceptions
import pytest

from infra import policies
from infra.sandbox.clock import ManualClock
from infra.sandbox.iam_enforcement import IamEnforcement, TrustRefused
from infra.sandbox.instance_metadata import InstanceMetadata
from infra.sandbox.moto_iam import resolve_resource, s3_action
from infra.sandbox.replication import ReplicationEmulator
from infra.sandbox.replication_access import ReplicationAccess
from recovery_lib.drill.credentials import instance_profile_session

from .conftest import unique

ACCOUNT = "123456789012"
PREFIX = "checkpoints/"


@pytest.fixture(scope="module")
def enforcement(emulator_url) -> Iterator[IamEnforcement]:
    enforced = IamEnforcement().start()
    try:
        yield enforced
    finally:
        enforced.stop()


def code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response["Error"].get("Code") or str(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def make_role(iam, name: str, trust: dict, policy: dict) -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def test_unknown_keys_are_refused_and_the_administrators_are_not(enforcement, emulator_url, client):
    stranger = boto3.client("s3", region_name="us-east-1", endpoint_url=emulator_url,
                            aws_access_key_id="nobody", aws_secret_access_key="nothing")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stranger.list_buckets()
    assert code(refused.value) == "InvalidAccessKeyId"
    operator = boto3.client("iam", region_name="us-east-1", endpoint_url=emulator_url,
                            aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    assert "dr-platform-sandbox-admin" in [u["UserName"] for u in operator.list_users()["Users"]]
    client("s3").list_buckets()  # the sandbox's own session
    client("route53").list_health_checks()  # a REST GET: moto's signature check is fixed for it


def test_account_trust_delegates_to_iam_and_a_service_trust_refuses_users(enforcement, emulator_url, client):
    iam = client("iam")
    account_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}
    operator = make_role(iam, unique("operator"), account_trust, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "route53:GetHealthCheck", "Resource": "arn:aws:route53:::healthcheck/x"}]})
    ec2_role = make_role(iam, unique("job"), policies.assume_role_policy("ec2.amazonaws.com"),
                         {"Version": "2012-10-17", "Statement": [
                             {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::none"}]})
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=emulator_url,
                       aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    assumed = sts.assume_role(RoleArn=operator, RoleSessionName="drill")["AssumedRoleUser"]["Arn"]
    assert assumed.endswith(f":assumed-role/{operator.rsplit('/', 1)[1]}/drill")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sts.assume_role(RoleArn=ec2_role, RoleSessionName="not-ec2")
    assert code(refused.value) == "AccessDenied"  # IAM: only EC2 may; moto crashed with HTTP 500
    assert enforcement.assume_as_service(ec2_role, "ec2.amazonaws.com", "i-1").arn.endswith("/i-1")
    with pytest.raises(TrustRefused, match="does not name s3.amazonaws.com"):
        enforcement.assume_as_service(ec2_role, "s3.amazonaws.com", "s3")


@pytest.fixture(scope="module")
def job(enforcement, client) -> Iterator[tuple[Any, str, str]]:
    """A bucket, and a session of a role with the program's own job policy from instance metadata."""
    s3 = client("s3")
    bucket = unique("ckpt")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    policy = policies.job_role_policy(bucket_arns=[f"arn:aws:s3:::{bucket}"], prefix=PREFIX)
    name = unique("jobs")
    arn = make_role(client("iam"), name, policies.assume_role_policy("ec2.amazonaws.com"), policy)
    metadata = InstanceMetadata(name, lambda: enforcement.assume_as_service(arn, "ec2.amazonaws.com", "i-job")).start()
    try:
        yield instance_profile_session(metadata.url, region_name="us-east-1"), bucket, name
    finally:
        metadata.stop()


def test_a_job_gets_the_job_roles_credentials_and_only_its_prefix(job, emulator_url):
    session, bucket, name = job
    s3 = session.client("s3", endpoint_url=emulator_url)
    assert f":assumed-role/{name}/i-job" in session.client("sts", endpoint_url=emulator_url).get_caller_identity()["Arn"]
    version = s3.put_object(Bucket=bucket, Key=f"{PREFIX}a", Body=b"a")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key=f"{PREFIX}a", VersionId=version)["Body"].read() == b"a"
    s3.list_object_versions(Bucket=bucket, Prefix=PREFIX)
    for call in (lambda: s3.put_object(Bucket=bucket, Key="elsewhere/a", Body=b"a"),
                 lambda: s3.delete_object(Bucket=bucket, Key=f"{PREFIX}a"),  # no DeleteObject: tombstones only
                 lambda: s3.list_object_versions(Bucket=bucket, Prefix="elsewhere/"),  # the s3:prefix condition
                 lambda: s3.list_object_versions(Bucket=bucket)):  # no prefix: the condition's key is absent
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            call()
        assert code(refused.value) == "AccessDenied"


def test_a_role_without_get_object_version_cannot_read_old_versions(job, client, emulator_url):
    session, bucket, name = job
    iam = client("iam")
    saved = iam.get_role_policy(RoleName=name, PolicyName="p")["PolicyDocument"]
    narrowed = json.loads(json.dumps(saved))
    for statement in narrowed["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "s3:GetObjectVersion"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(narrowed))
    try:
        s3 = session.client("s3", endpoint_url=emulator_url)
        version = s3.put_object(Bucket=bucket, Key=f"{PREFIX}b", Body=b"b")["VersionId"]
        s3.get_object(Bucket=bucket, Key=f"{PREFIX}b")
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            s3.get_object(Bucket=bucket, Key=f"{PREFIX}b", VersionId=version)
        assert code(refused.value) == "AccessDenied"
    finally:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(saved))


def test_s3_requests_are_authorized_as_the_iam_actions_s3_checks():
    """Service Authorization Reference, Amazon S3: HeadBucket needs s3:ListBucket, a versioned
    GET s3:GetObjectVersion, GetBucketReplication s3:GetReplicationConfiguration."""
    assert s3_action("HEAD", "/b", "s3:HeadBucket") == "s3:ListBucket"
    assert s3_action("GET", "/b/k?versionId=1", "s3:GetObject") == "s3:GetObjectVersion"
    assert s3_action("GET", "/b?replication", "s3:ListBucket") == "s3:GetReplicationConfiguration"
    assert s3_action("GET", "/b?encryption", "s3:ListBucket") == "s3:GetEncryptionConfiguration"
    assert s3_action("PUT", "/b/k", "s3:PutObject") == "s3:PutObject"
    assert resolve_resource("route53", "us-east-1", "/2013-04-01/healthcheck/abc/status", {}, ACCOUNT) == \
        "arn:aws:route53:::healthcheck/abc"
    assert resolve_resource("route53", "us-east-1", "/2013-04-01/hostedzone/Z1/rrset", {}, ACCOUNT) == \
        "arn:aws:route53:::hostedzone/Z1"


def test_scoped_route53_grants_match_only_their_health_check(enforcement, client, emulator_url):
    route53 = client("route53")
    config = {"Type": "HTTP", "FullyQualifiedDomainName": "app.example.com", "Port": 80, "ResourcePath": "/"}
    mine, other = (route53.create_health_check(CallerReference=unique("hc"), HealthCheckConfig=config)
                   ["HealthCheck"]["Id"] for _ in range(2))
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}
    arn = make_role(client("iam"), unique("op"), trust, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["route53:UpdateHealthCheck"], "Resource": f"arn:aws:route53:::healthcheck/{mine}"}]})
    creds = enforcement.assume_as_service.__self__._sts.assume_role(  # noqa: SLF001 - a session, as the drill gets one
        region_name="us-east-1", role_session_name="op", role_arn=arn, policy=None, duration=900, external_id=None)
    operator = boto3.client("route53", region_name="us-east-1", endpoint_url=emulator_url,
                            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                            aws_session_token=creds.session_token)
    operator.update_health_check(HealthCheckId=mine, Inverted=True)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        operator.update_health_check(HealthCheckId=other, Inverted=True)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# -- replication as the replication role ------------------------------------------------------

class Replication:
    def __init__(self, client, emulator_url: str, enforcement: IamEnforcement) -> None:
        self.s3, self.iam, self.kms = client("s3"), client("iam"), client("kms")
        self.kms_west = client("kms", "us-west-2")
        self.clock = ManualClock()
        self.source, self.destination = unique("src"), unique("dst")
        for bucket, region in ((self.source, "us-east-1"), (self.destination, "us-west-2")):
            extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            client("s3", region).create_bucket(Bucket=bucket, **extra)
            self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        key_policy = json.dumps(policies.kms_key_policy(account_id=ACCOUNT))
        self.source_key = self.kms.create_key(Policy=key_policy)["KeyMetadata"]["Arn"]
        self.replica_key = self.kms_west.create_key(Policy=key_policy)["KeyMetadata"]["Arn"]
        self.role_name = unique("replication")
        self.policy = policies.replication_role_policy(
            source_bucket_arn=f"arn:aws:s3:::{self.source}", destination_bucket_arn=f"arn:aws:s3:::{self.destination}",
            prefix=PREFIX, source_key_arn=self.source_key, destination_key_arn=self.replica_key,
            source_region="us-east-1", destination_region="us-west-2")
        role = make_role(self.iam, self.role_name, policies.assume_role_policy("s3.amazonaws.com"), self.policy)
        self.emulator = ReplicationEmulator(emulator_url, clock=self.clock, s3_client=self.s3,
                                            buckets=[self.source, self.destination],
                                            access=ReplicationAccess(enforcement))
        self.s3.put_bucket_replication(Bucket=self.source, ReplicationConfiguration={"Role": role, "Rules": [{
            "ID": "to-dst", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": PREFIX},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
            "Destination": {"Bucket": f"arn:aws:s3:::{self.destination}",
                            "EncryptionConfiguration": {"ReplicaKmsKeyID": self.replica_key}}}]})
        self.emulator.cycle()

    def without(self, action: str) -> None:
        narrowed = json.loads(json.dumps(self.policy))
        for statement in narrowed["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != action]
        narrowed["Statement"] = [s for s in narrowed["Statement"] if s["Action"]]
        self.iam.put_role_policy(RoleName=self.role_name, PolicyName="p", PolicyDocument=json.dumps(narrowed))

    def replicate(self, key: str) -> str:
        self.s3.put_object(Bucket=self.source, Key=key, Body=b"x", ServerSideEncryption="aws:kms",
                           SSEKMSKeyId=self.source_key)
        for _ in range(3):  # FAILED is final: more cycles change nothing
            self.emulator.cycle()
        return self.s3.head_object(Bucket=self.source, Key=key)["ReplicationStatus"]

    def reason(self, key: str) -> str:
        return next(f["error"] for f in self.emulator.failed if f["key"] == key)


@pytest.fixture
def replication(client, emulator_url, enforcement) -> Iterator[Replication]:
    world = Replication(client, emulator_url, enforcement)
    yield world
    world.emulator.stop()


def test_the_programs_replication_policy_replicates_sse_kms_objects(replication):
    assert replication.replicate(f"{PREFIX}ok") == "COMPLETED"
    assert replication.emulator.failed == []


@pytest.mark.parametrize("action", ["s3:ReplicateObject", "s3:GetObjectVersionForReplication",
                                    "kms:Decrypt", "kms:Encrypt"])
def test_a_replication_role_missing_one_action_leaves_objects_failed(replication, action):
    """S3 User Guide, "Getting replication status information": FAILED objects are not
    retried; a role without its KMS rights fails them (cloudposse/terraform-aws-s3-bucket#279)."""
    replication.without(action)
    key = f"{PREFIX}{action.replace(':', '-')}"
    assert replication.replicate(key) == "FAILED"
    assert action in replication.reason(key)
    assert replication.s3.list_objects_v2(Bucket=replication.destination).get("KeyCount") == 0


def test_a_key_policy_that_does_not_delegate_to_the_account_fails_replication(replication):
    """AWS KMS Developer Guide, "Key policies in AWS KMS": an IAM policy grants a key only when
    the key policy allows the account (the root principal) or names the principal itself."""
    only_admin = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/someone"}, "Action": "kms:*", "Resource": "*"}]}
    replication.kms_west.put_key_policy(KeyId=replication.replica_key, PolicyName="default",
                                        Policy=json.dumps(only_admin), BypassPolicyLockoutSafetyCheck=True)
    key = f"{PREFIX}key-policy"
    assert replication.replicate(key) == "FAILED"
    assert "key policy" in replication.reason(key) and "kms:Encrypt" in replication.reason(key)
