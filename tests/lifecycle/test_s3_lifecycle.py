"""Prune and garbage collection on S3 (a moto server in its own process), both regions, with
S3 replication emulated: objects copied primary -> secondary once per write, with lag, and
delete markers replicated (our program's rule enables DeleteMarkerReplication; S3 User Guide,
"Replicating delete markers between buckets",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html).
moto stores a replication configuration but never replicates, hence the emulator.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from recovery_lib import CheckpointStore, S3Options, history_writer
from recovery_lib import manifest as mf
from recovery_lib.backends.s3 import S3Backend
from tests.lifecycle.step_writer import payload
from tests.recovery_lib.moto_helpers import (
    PRIMARY_REGION,
    SECONDARY_REGION,
    create_bucket,
    descriptor,
    unique,
)
from tests.support.moto_process import MotoProcess, moto_process

GRACE = 1.0  # seconds: small, so that collection happens while the writers run


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoProcess]:
    with moto_process() as server:
        yield server


class Pair:
    """Two versioned buckets on the moto server and a replication emulator between them."""

    def __init__(self, url: str) -> None:
        import boto3

        self.url = url
        self.session = boto3.session.Session(region_name=PRIMARY_REGION)
        self.raw = self.session.client("s3", endpoint_url=url, region_name=PRIMARY_REGION)
        self.buckets = {"primary": unique("lc-prim"), "secondary": unique("lc-seco")}
        create_bucket(self.raw, self.buckets["primary"], PRIMARY_REGION)
        create_bucket(self.raw, self.buckets["secondary"], SECONDARY_REGION)
        self.descriptor = descriptor(self.buckets["primary"], self.buckets["secondary"],
                                     primary_endpoint=url, secondary_endpoint=url)
        self._seen: set[tuple[str, str]] = set()  # (key, ETag) already replicated
        self._copied: set[str] = set()

    def store(self) -> CheckpointStore:
        return CheckpointStore.from_platform(self.descriptor, session=self.session)

    def secondary_store(self) -> CheckpointStore:
        """What a restore in the secondary region sees (the primary gone)."""
        backend = S3Backend(self.buckets["secondary"], region="secondary",
                            region_name=SECONDARY_REGION, endpoint_url=self.url,
                            session=self.session)
        return CheckpointStore(backend, prefix=self.descriptor["checkpoint_prefix"])

    def listing(self, region: str) -> dict[str, str]:
        out = {}
        for page in self.raw.get_paginator("list_objects_v2").paginate(Bucket=self.buckets[region]):
            out.update({item["Key"]: item["ETag"] for item in page.get("Contents", ())})
        return out

    def replicate(self, *, budget: int | None = None, only=lambda key: True) -> int:
        """One replication pass: each new write copied once (at most ``budget`` of them, in
        random order: lag), then delete markers for copied keys gone from the primary."""
        history_writer.flush_all()  # this process's stores: their background history writes
        primary, moved = self.listing("primary"), 0
        todo = [(k, e) for k, e in primary.items() if (k, e) not in self._seen and only(k)]
        random.shuffle(todo)
        for key, etag in todo[:budget]:
            try:
                body = self.raw.get_object(Bucket=self.buckets["primary"], Key=key)["Body"].read()
            except self.raw.exceptions.NoSuchKey:
                continue  # deleted meanwhile: its delete marker follows
            self.raw.put_object(Bucket=self.buckets["secondary"], Key=key, Body=body)
            self._seen.add((key, etag))
            self._copied.add(key)
            moved += 1
        primary = self.listing("primary")
        for key in sorted(self._copied - set(primary)):
            self.raw.delete_object(Bucket=self.buckets["secondary"], Key=key)
            self._copied.discard(key)
        return moved


@pytest.fixture
def pair(moto_server: MotoProcess) -> Pair:
    return Pair(moto_server.url)


def _writer(pair: Pair, name: str, first: int, count: int, stop_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lifecycle.step_writer", json.dumps(pair.descriptor), name,
         str(first), str(count), str(stop_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def test_writers_prune_and_gc_concurrently_in_both_regions(pair: Pair, tmp_path: Path):
    """Two writer processes save steps; meanwhile this process prunes (keep the last 2),
    collects garbage with a 1 s grace period, and replicates with lag. Afterwards every
    committed, unretired version loads in both regions, and no unreferenced object older
    than the grace period remains in either."""
    names = ("runs/a/model", "runs/b/model")
    # the writers go on saving until GC has collected twice and removed something (an event,
    # not a race between ten saves and a 1 s grace period on a busy machine)
    stop_file = tmp_path / "stop"
    writers = [_writer(pair, name, 0, 10, stop_file) for name in names]
    store = pair.store()
    retired: set[tuple[str, str]] = set()
    stop = threading.Event()
    errors: list[BaseException] = []

    def replicator() -> None:
        try:
            while not stop.is_set():
                pair.replicate(budget=8)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=replicator)
    thread.start()
    collections = removed = 0
    try:
        while any(w.poll() is None for w in writers):
            retired.update(store.prune({"keep_last": 2}, dry_run=False).retired)
            gc_report = store.gc(grace_seconds=GRACE)
            removed += sum(out.keys for out in gc_report.regions.values())
            collections += 1
            if collections >= 2 and removed > 0:
                stop_file.touch()
    finally:
        stop_file.touch()
        stop.set()
        thread.join()
    outputs = [w.communicate() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in outputs]
    assert not errors, errors
    assert collections >= 2 and removed > 0  # GC really removed things while writers saved
    committed = {(name, json.loads(line)["version"]): (name, json.loads(line)["step"])
                 for name, (out, _) in zip(names, outputs) for line in out.splitlines()}
    # every printed commit has its own version id; each writer saved its ten steps at least
    assert len(committed) == sum(len(out.splitlines()) for out, _ in outputs)
    assert all(sum(1 for n, _ in committed if n == name) >= 10 for name in names)
    while pair.replicate():  # replication catches up
        pass
    retired.update(store.prune({"keep_last": 2}, dry_run=False).retired)
    pair.replicate()
    report = store.gc(grace_seconds=GRACE, clock=lambda: time.time() + 2 * GRACE)
    pair.replicate()
    assert not [e for out in report.regions.values() for e in out.errors]
    secondary = pair.secondary_store()
    kept = {pv: step for pv, step in committed.items() if pv not in retired}
    assert len(kept) >= 4  # at least the last two steps of each name
    for (name, version), (_, step) in kept.items():
        for region_store in (store, secondary):
            assert region_store.load(name, version=version) == payload(name, step), (name, version)
    for region in ("primary", "secondary"):
        _assert_no_garbage(pair, store, region, retired)


def _assert_no_garbage(pair: Pair, store: CheckpointStore, region: str,
                       retired: set[tuple[str, str]]) -> None:
    prefix = store.prefix
    keys = set(pair.listing(region))
    manifests = {p for k in keys if (p := mf.parse_manifest_key(prefix, k)) is not None}
    assert not manifests & retired, f"retired manifests left in the {region} region"
    referenced = set()
    for name, version in manifests:
        raw = pair.raw.get_object(Bucket=pair.buckets[region],
                                  Key=mf.manifest_key(prefix, name, version))["Body"].read()
        referenced |= {mf.blob_key(prefix, b["sha256"]) for b in json.loads(raw)["blobs"]}
    blobs = {k for k in keys if k.startswith(mf.blob_key(prefix, ""))}
    assert blobs <= referenced, f"unreferenced blobs left in the {region} region: {blobs - referenced}"


def test_gc_during_replication_lag_keeps_the_newest_dr_safe_version_restorable(pair: Pair):
    """The secondary holds steps 0-1 completely, step 2's manifest without its blob, and not
    step 3. Prune (keep the last 1) and GC run in both regions; the primary's deletes
    replicate as delete markers. The secondary still restores step 1."""
    store, name = pair.store(), "runs/lag/model"
    for step in range(2):
        store.save(name, payload(name, step + 1), step=step)
    pair.replicate()
    third = store.save(name, payload(name, 5), step=2)
    store.save(name, payload(name, 7), step=3)
    pair.replicate(only=lambda key: key == mf.manifest_key(store.prefix, name, third.version))
    assert store.restorable(name).step == 1
    report = store.prune({"keep_last": 1}, dry_run=False)
    assert len(report.retired) == 2  # steps 0 and 2; step 1 is protected
    report = store.gc(grace_seconds=0, clock=lambda: time.time() + 1)
    assert all(len(report.regions[r].manifests) == n for r, n in (("primary", 2), ("secondary", 2)))
    pair.replicate(only=lambda key: False)  # only delete markers
    assert store.restorable(name).step == 1
    assert pair.secondary_store().load(name, step=1) == payload(name, 2)
    pair.replicate()
    assert store.replication_status(name).dr_safe


def test_delete_objects_takes_1000_keys_per_request_and_restore_undoes_one(pair: Pair):
    backend = pair.store().backend("primary")
    keys = [f"checkpoints/blobs/sha256/{i:064x}" for i in range(2500)]
    calls: list[str] = []
    client: Any = backend.metadata_client
    client.meta.events.register("before-call.s3.DeleteObjects",
                                lambda **kwargs: calls.append("DeleteObjects"))
    for key in keys[:3]:
        backend.put(key, b"x")
    assert backend.delete_many(keys) == []
    assert calls == ["DeleteObjects"] * 3
    assert backend.head(keys[0]) is None
    assert backend.restore(keys[0]) and backend.get(keys[0]) == b"x"
    assert not backend.restore(keys[0])  # current already
    assert not backend.restore(keys[2000])  # never written


def test_gc_deletes_leave_delete_markers_and_noncurrent_versions(pair: Pair):
    """S3 User Guide, "Deleting object versions from a versioning-enabled bucket": a DELETE
    without a version id inserts a delete marker and keeps the data as a noncurrent version
    (which the lifecycle's NoncurrentVersionExpiration removes later: the undo window). GC's
    DeleteObjects carries no version ids, so a collection is undoable until then."""
    backend = pair.store().backend("primary")
    key = "checkpoints/blobs/sha256/" + "ab" * 32
    backend.put(key, b"content")
    assert backend.delete_many([key]) == []
    listed = pair.raw.list_object_versions(Bucket=pair.buckets["primary"], Prefix=key)
    assert [m["IsLatest"] for m in listed.get("DeleteMarkers", [])] == [True]
    assert [v["IsLatest"] for v in listed["Versions"]] == [False]
