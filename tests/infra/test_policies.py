"""The pure policy builders and the failover budget."""

from __future__ import annotations

import pytest

from infra import policies
from recovery_lib.budget import failover_budget

SRC = "arn:aws:s3:::src-bucket"
DST = "arn:aws:s3:::dst-bucket"
SRC_KEY = "arn:aws:kms:us-east-1:123456789012:key/src"
DST_KEY = "arn:aws:kms:us-west-2:123456789012:key/dst"


def statements(policy):
    return {s["Sid"]: s for s in policy["Statement"]}


def test_trust_policy_names_exactly_one_service():
    policy = policies.assume_role_policy("s3.amazonaws.com")
    assert policy["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    for bad in ("*", "s3.*.amazonaws.com", "arn:aws:iam::1:root"):
        with pytest.raises(ValueError, match="one service principal"):
            policies.assume_role_policy(bad)


def test_tls_only_policy_denies_plain_http_on_bucket_and_objects():
    (statement,) = policies.tls_only_bucket_policy(SRC)["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Resource"] == [SRC, SRC + "/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_one_way_replication_policy_without_kms():
    policy = policies.replication_role_policy(source_bucket_arn=SRC, destination_bucket_arn=DST, prefix="checkpoints/")
    by_sid = statements(policy)
    assert by_sid["ReadReplicationConfiguration"]["Resource"] == [SRC]
    assert by_sid["ReadSourceVersions"]["Resource"] == [SRC + "/checkpoints/*"]
    assert by_sid["WriteReplicas"]["Resource"] == [DST + "/checkpoints/*"]
    assert set(by_sid["WriteReplicas"]["Action"]) == {"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"}
    assert not any(a.startswith("kms:") for a in policies.allowed_actions(policy))


def test_replication_policy_with_kms_decrypts_source_and_encrypts_replica():
    policy = policies.replication_role_policy(
        source_bucket_arn=SRC, destination_bucket_arn=DST, prefix="checkpoints/",
        source_key_arn=SRC_KEY, destination_key_arn=DST_KEY,
        source_region="us-east-1", destination_region="us-west-2",
    )
    by_sid = statements(policy)
    assert by_sid["DecryptSource"]["Resource"] == SRC_KEY and by_sid["DecryptSource"]["Action"] == ["kms:Decrypt"]
    assert by_sid["DecryptSource"]["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert by_sid["EncryptReplica"]["Resource"] == DST_KEY
    assert by_sid["EncryptReplica"]["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    assert "DecryptSourceReverse" not in by_sid


def test_two_way_replication_policy_covers_both_directions():
    policy = policies.replication_role_policy(
        source_bucket_arn=SRC, destination_bucket_arn=DST, prefix="p/",
        source_key_arn=SRC_KEY, destination_key_arn=DST_KEY, two_way=True,
    )
    by_sid = statements(policy)
    assert by_sid["ReadReplicationConfiguration"]["Resource"] == [SRC, DST]
    assert by_sid["WriteReplicas"]["Resource"] == [DST + "/p/*", SRC + "/p/*"]
    assert by_sid["DecryptSourceReverse"]["Resource"] == DST_KEY
    assert by_sid["EncryptReplicaReverse"]["Resource"] == SRC_KEY


def test_replication_policy_refuses_half_a_kms_setup():
    with pytest.raises(ValueError, match="both the source and the replica key"):
        policies.replication_role_policy(source_bucket_arn=SRC, destination_bucket_arn=DST, prefix="p/", source_key_arn=SRC_KEY)


def test_job_policy_scopes_to_prefix_and_never_deletes():
    policy = policies.job_role_policy(bucket_arns=[SRC, DST], prefix="checkpoints/", key_arns=[SRC_KEY, DST_KEY])
    actions = policies.allowed_actions(policy)
    assert "s3:DeleteObject" not in actions and "s3:DeleteObjectVersion" not in actions
    by_sid = statements(policy)
    assert by_sid["UseCheckpointKeys"]["Resource"] == [SRC_KEY, DST_KEY]
    assert by_sid["ReadWriteCheckpoints"]["Resource"] == [SRC + "/checkpoints/*", DST + "/checkpoints/*"]
    assert "UseCheckpointKeys" not in statements(policies.job_role_policy(bucket_arns=[SRC], prefix="c/"))
    with pytest.raises(ValueError, match="at least one bucket"):
        policies.job_role_policy(bucket_arns=[], prefix="c/")


@pytest.mark.parametrize(
    "builder",
    [
        lambda: policies.replication_role_policy(source_bucket_arn=SRC, destination_bucket_arn=DST, prefix="c/",
                                                 source_key_arn=SRC_KEY, destination_key_arn=DST_KEY, two_way=True),
        lambda: policies.job_role_policy(bucket_arns=[SRC, DST], prefix="c/", key_arns=[SRC_KEY]),
        lambda: policies.kms_key_policy(account_id="123456789012"),
    ],
)
def test_no_policy_allows_a_wildcard_action(builder):
    for action in policies.allowed_actions(builder()):
        assert action != "*" and not action.endswith(":*"), action


def test_kms_key_policy_delegates_to_the_account():
    (statement,) = policies.kms_key_policy(account_id="123456789012", partition="aws-cn")["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws-cn:iam::123456789012:root"}
    assert {"kms:Decrypt", "kms:PutKeyPolicy"} & set(statement["Action"]) == {"kms:Decrypt"}
    assert "kms:Put*" in statement["Action"]  # key policy stays editable


@pytest.mark.parametrize(
    "interval,threshold,ttl,alias,expected",
    [(10, 3, 30, False, 60), (30, 3, 60, False, 150), (10, 1, 0, False, 10), (10, 3, 5, True, 90)],
)
def test_failover_budget(interval, threshold, ttl, alias, expected):
    budget = failover_budget(request_interval=interval, failure_threshold=threshold, ttl=ttl, alias=alias,
                             scale_up_seconds=120)
    assert budget.dns_failover_seconds == expected
    assert budget.total_seconds == expected + 120
    assert budget.as_dict()["detection"] == interval * threshold


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"request_interval": 15, "failure_threshold": 3, "ttl": 60}, "10 or 30"),
        ({"request_interval": 10, "failure_threshold": 0, "ttl": 60}, "1 to 10"),
        ({"request_interval": 10, "failure_threshold": 3, "ttl": -1}, "ttl"),
        ({"request_interval": 10, "failure_threshold": 3, "ttl": 1, "scale_up_seconds": -5}, "scale_up"),
    ],
)
def test_failover_budget_rejects_impossible_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        failover_budget(**kwargs)
