"""The replication emulator, driven cycle by cycle on a manual clock."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, Optional

import pytest

from infra.sandbox.clock import ManualClock
from infra.sandbox.replication import ReplicationEmulator

from .conftest import unique

PREFIX = "checkpoints/"


def rule(rule_id: str, destination: str, *, prefix: str = PREFIX, delete_markers: bool = True,
         priority: int = 1) -> dict[str, Any]:
    return {"ID": rule_id, "Status": "Enabled", "Priority": priority, "Filter": {"Prefix": prefix},
            "DeleteMarkerReplication": {"Status": "Enabled" if delete_markers else "Disabled"},
            "Destination": {"Bucket": f"arn:aws:s3:::{destination}", "StorageClass": "STANDARD"}}


class World:
    def __init__(self, s3, emulator: ReplicationEmulator, clock: ManualClock) -> None:
        self.s3, self.emulator, self.clock = s3, emulator, clock
        self.source, self.destination = unique("src"), unique("dst")
        for bucket, region in ((self.source, "us-east-1"), (self.destination, "us-west-2")):
            params: dict[str, Any] = {"Bucket": bucket}
            if region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**params)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        emulator.buckets = frozenset({self.source, self.destination})

    def put_rules(self, bucket: str, *rules: dict[str, Any]) -> None:
        self.s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/replication", "Rules": list(rules)})
        self.emulator.cycle()  # the emulator sees the rule: what exists now is pre-existing

    def status(self, bucket: str, key: str, version_id: Optional[str] = None) -> Optional[str]:
        extra = {"VersionId": version_id} if version_id else {}
        return self.s3.head_object(Bucket=bucket, Key=key, **extra).get("ReplicationStatus")

    def keys(self, bucket: str) -> list[str]:
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    def versions(self, bucket: str) -> tuple[list[dict], list[dict]]:
        listing = self.s3.list_object_versions(Bucket=bucket)
        return listing.get("Versions", []), listing.get("DeleteMarkers", [])


@pytest.fixture
def world(client, emulator_url) -> Iterator[World]:
    clock = ManualClock()
    emulator = ReplicationEmulator(emulator_url, clock=clock, s3_client=client("s3"))
    yield World(client("s3"), emulator, clock)
    emulator.stop()


def test_only_keys_matching_the_rule_filter_replicate_with_status_headers(world):
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/a", Body=b"a", Metadata={"step": "7"},
                        ContentType="application/json")
    world.s3.put_object(Bucket=world.source, Key="scratch/b", Body=b"b")
    world.emulator.cycle()
    assert world.keys(world.destination) == ["checkpoints/a"]
    assert world.status(world.source, "checkpoints/a") == "COMPLETED"
    assert world.status(world.destination, "checkpoints/a") == "REPLICA"
    assert world.status(world.source, "scratch/b") is None  # not in scope of any rule
    copy = world.s3.get_object(Bucket=world.destination, Key="checkpoints/a")
    assert copy["Body"].read() == b"a"
    assert copy["Metadata"] == {"step": "7"} and copy["ContentType"] == "application/json"


def test_objects_written_before_the_rule_do_not_replicate(world):
    world.s3.put_object(Bucket=world.source, Key="checkpoints/old", Body=b"old")
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/new", Body=b"new")
    world.emulator.cycle()
    assert world.keys(world.destination) == ["checkpoints/new"]
    assert world.status(world.source, "checkpoints/old") is None


def test_pending_until_the_lag_has_passed(world):
    world.emulator.set_lag(30)
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/a", Body=b"a")
    world.emulator.cycle()
    assert world.status(world.source, "checkpoints/a") == "PENDING"
    assert world.keys(world.destination) == []
    world.clock.advance(29)
    world.emulator.cycle()
    assert world.keys(world.destination) == []
    status = world.emulator.status()
    assert status["backlog"] == 1 and status["oldest_pending_age_seconds"] == pytest.approx(29)
    world.clock.advance(2)
    world.emulator.cycle()
    assert world.status(world.source, "checkpoints/a") == "COMPLETED"
    assert world.status(world.destination, "checkpoints/a") == "REPLICA"
    assert world.emulator.status()["last_latency_seconds"] == pytest.approx(31)


@pytest.mark.parametrize("enabled", [True, False])
def test_delete_markers_replicate_only_when_the_rule_enables_them(world, enabled):
    world.put_rules(world.source, rule("to-dst", world.destination, delete_markers=enabled))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/a", Body=b"a")
    world.emulator.cycle()
    world.s3.delete_object(Bucket=world.source, Key="checkpoints/a")
    world.emulator.cycle()
    versions, markers = world.versions(world.destination)
    assert len(versions) == 1
    assert len(markers) == (1 if enabled else 0)
    assert world.keys(world.destination) == ([] if enabled else ["checkpoints/a"])


def test_pause_queues_and_resume_continues_from_the_pause_point_in_order(world):
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/m", Body=b"v0")
    world.emulator.cycle()
    world.emulator.pause(world.source)
    ids = [world.s3.put_object(Bucket=world.source, Key="checkpoints/m", Body=f"v{i}".encode())["VersionId"]
           for i in (1, 2, 3)]
    world.clock.advance(100)
    world.emulator.cycle()
    assert [world.status(world.source, "checkpoints/m", v) for v in ids] == ["PENDING"] * 3
    assert world.emulator.status()["backlog"] == 3 and world.emulator.status()["paused"] == [world.source]
    assert len(world.versions(world.destination)[0]) == 1
    world.emulator.resume(world.source)
    world.emulator.cycle()
    assert [world.status(world.source, "checkpoints/m", v) for v in ids] == ["COMPLETED"] * 3
    versions, _ = world.versions(world.destination)
    assert len(versions) == 4  # nothing skipped
    latest = world.s3.get_object(Bucket=world.destination, Key="checkpoints/m")["Body"].read()
    assert latest == b"v3"  # replayed in write order
    assert world.emulator.status()["backlog"] == 0


def test_two_way_rules_do_not_ping_pong(world):
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.put_rules(world.destination, rule("to-src", world.source))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/a", Body=b"from source")
    world.s3.put_object(Bucket=world.destination, Key="checkpoints/b", Body=b"from destination")
    for _ in range(4):
        world.emulator.cycle()
    world.s3.delete_object(Bucket=world.source, Key="checkpoints/a")
    for _ in range(4):
        world.emulator.cycle()
    for bucket in (world.source, world.destination):
        versions, markers = world.versions(bucket)
        assert sorted(v["Key"] for v in versions) == ["checkpoints/a", "checkpoints/b"], bucket
        assert [m["Key"] for m in markers] == ["checkpoints/a"], bucket
    assert world.status(world.destination, "checkpoints/b") == "COMPLETED"
    assert world.status(world.source, "checkpoints/b") == "REPLICA"
    assert world.emulator.replicated == 3


def test_a_rule_removed_through_the_api_stops_replication(world):
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/before", Body=b"1")
    world.emulator.cycle()
    world.s3.delete_bucket_replication(Bucket=world.source)
    world.s3.put_object(Bucket=world.source, Key="checkpoints/after", Body=b"2")
    world.emulator.cycle()
    assert world.keys(world.destination) == ["checkpoints/before"]
    assert world.status(world.source, "checkpoints/after") is None
    # Put back: only what is written from then on replicates (no batch replication).
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/again", Body=b"3")
    world.emulator.cycle()
    assert world.keys(world.destination) == ["checkpoints/again", "checkpoints/before"]


def test_a_rule_changed_through_the_api_takes_effect(world):
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_bucket_replication(Bucket=world.source, ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/replication", "Rules": [rule("to-dst", world.destination, prefix="other/")]})
    world.s3.put_object(Bucket=world.source, Key="checkpoints/x", Body=b"x")
    world.s3.put_object(Bucket=world.source, Key="other/y", Body=b"y")
    world.emulator.cycle()
    assert world.keys(world.destination) == ["other/y"]


def test_unversioned_destination_leaves_the_source_failed(world):
    world.s3.put_bucket_versioning(Bucket=world.destination, VersioningConfiguration={"Status": "Suspended"})
    world.put_rules(world.source, rule("to-dst", world.destination))
    world.s3.put_object(Bucket=world.source, Key="checkpoints/a", Body=b"a")
    world.emulator.cycle()
    world.emulator.cycle()
    assert world.status(world.source, "checkpoints/a") == "FAILED"
    assert world.keys(world.destination) == []
    assert "versioning" in world.emulator.status()["failed"][0]["error"]


def test_the_api_returns_the_rule_as_stored(world):
    """moto 5.2 answers every rule with Prefix "" and delete markers Disabled; the sandbox fixes that."""
    world.put_rules(world.source, rule("to-dst", world.destination, delete_markers=True))
    stored = world.s3.get_bucket_replication(Bucket=world.source)["ReplicationConfiguration"]["Rules"][0]
    assert stored["Filter"] == {"Prefix": PREFIX}
    assert stored["DeleteMarkerReplication"] == {"Status": "Enabled"}


def test_the_background_thread_replicates_and_stops(world, emulator_url):
    world.put_rules(world.source, rule("to-dst", world.destination))
    runner = ReplicationEmulator(emulator_url, poll_seconds=0.02, buckets={world.source}, s3_client=world.s3)
    runner.start()
    try:
        runner_ready = runner.cycles
        deadline = time.monotonic() + 5
        while runner.cycles < runner_ready + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        world.s3.put_object(Bucket=world.source, Key="checkpoints/t", Body=b"t")
        while world.keys(world.destination) != ["checkpoints/t"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert world.keys(world.destination) == ["checkpoints/t"]
    finally:
        runner.stop()
    assert not [t for t in threading.enumerate() if t.name == "sandbox-replication" and t.is_alive()]


def test_sse_kms_objects_replicate_only_when_the_rule_selects_them(world, client):
    kms = client("kms")
    source_key = kms.create_key(Description="source")["KeyMetadata"]["Arn"]
    replica_key = client("kms", "us-west-2").create_key(Description="replica")["KeyMetadata"]["Arn"]
    plain = rule("plain", world.destination, prefix="plain/")
    selecting = rule("kms", world.destination, prefix="kms/", priority=2)
    selecting["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    selecting["Destination"]["EncryptionConfiguration"] = {"ReplicaKmsKeyID": replica_key}
    world.put_rules(world.source, plain, selecting)
    for key in ("plain/a", "kms/b"):
        world.s3.put_object(Bucket=world.source, Key=key, Body=b"secret", ServerSideEncryption="aws:kms",
                            SSEKMSKeyId=source_key)
    world.emulator.cycle()
    assert world.keys(world.destination) == ["kms/b"]
    assert world.status(world.source, "plain/a") is None  # S3 skips SSE-KMS objects the rule does not select
    replica = world.s3.head_object(Bucket=world.destination, Key="kms/b")
    assert replica["ReplicationStatus"] == "REPLICA"
    assert replica["ServerSideEncryption"] == "aws:kms" and replica["SSEKMSKeyId"] == replica_key
