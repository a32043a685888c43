"""Naming replication FAILED objects: S3 User Guide, "Getting replication status information"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html): "If object
replication fails after you upload an object, you can't retry replication"; objects go FAILED
"for issues such as missing replication role permissions, AWS KMS permissions, or bucket
permissions", while temporary failures stay PENDING."""

from __future__ import annotations

from botocore.exceptions import ClientError

from recovery_lib.drill.replication_failures import describe, failed_replications


class FakeClient:
    def __init__(self, statuses):
        self.statuses, self.heads = statuses, []

    def head_object(self, Bucket, Key):  # noqa: N803 - boto3's spelling
        self.heads.append((Bucket, Key))
        status = self.statuses[Key]
        if isinstance(status, Exception):
            raise status
        return {} if status is None else {"ReplicationStatus": status}


class FakeBackend:
    bucket = "primary-bucket"

    def __init__(self, client):
        self.client = client

    @property
    def metadata_client(self):
        return self.client


class FakeStore:
    def __init__(self, client):
        self.primary = FakeBackend(client)

    def backend(self, region):
        return {"primary": self.primary}[region]


def test_only_failed_objects_are_named_and_heads_are_bounded():
    denied = ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "HeadObject")
    client = FakeClient({"a": "FAILED", "b": "PENDING", "c": None, "d": denied, "e": "FAILED"})
    store = FakeStore(client)
    assert failed_replications(store, ["a", "b (does not verify)", "c", "d", "e"], limit=4) == ["a"]
    assert [k for _, k in client.heads] == ["a", "b", "c", "d"]  # the suffix stripped, at most 4 HEADs
    sentence = describe(["a", "e"])
    assert "S3 marked 2 of them FAILED in the primary (a, e)" in sentence and "never retries" in sentence
    assert describe([]) == ""


def test_a_store_without_s3_backends_answers_nothing():
    class NoS3:
        def backend(self, region):
            return object()

    assert failed_replications(NoS3(), ["a"]) == []
