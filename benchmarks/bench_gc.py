"""Benchmark 7: garbage collection of a store with 10,000 versions, in both regions.

The store: 10 names x 1,000 versions (1,000 x 100 with ``--quick``), steps 0..N-1, small
payloads inlined in their manifests except every 10th version, whose content is a blob. A
prune (keep the last 10 steps of each name) has retired the rest: a retired marker per
version. Both regions hold the same objects (replication caught up). The set-up writes the
objects directly (PUTs from 8 threads), as saves and a prune would have left them.

Measured: one ``store.gc(grace_seconds=0)`` (every object old enough), its requests by
operation (botocore events on the store's clients: LIST pages, GETs of heads and live
manifests, ``DeleteObjects`` calls of at most 1,000 keys) and its time. Baseline, in the
same run and before the collection: the LIST of both buckets alone (what any collector must
read), with raw boto3. One run: a collection changes the store.
"""
from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import time
from typing import Any

from recovery_lib import CheckpointStore, S3Options
from recovery_lib import manifest as mf
from recovery_lib.checkpoint import BlobRef
from recovery_lib.lifecycle import retired_key

from ._common import Result
from ._server import moto_server

NAMES = 10
KEEP = 10
BLOB_EVERY = 10
TARGET = "ratio <= 3 (GC / LIST alone)"
GC_OPTIONS = S3Options(metadata_timeout=60.0, read_timeout=60.0)


def _objects(prefix: str, per_name: int) -> dict[str, bytes]:
    """Every object of the store: heads, history manifests, blobs, retired markers."""
    objects: dict[str, bytes] = {}
    base = time.time_ns() - per_name * 1_000_000_000
    for n in range(NAMES):
        name = f"runs/{n}/model"
        for step in range(per_name):
            version = mf.new_version(seq=step + 1, clock=lambda: base + step * 1_000_000_000)
            body = b'{"name": "%s", "step": %d}' % (name.encode(), step)
            if step % BLOB_EVERY == 0:
                content = body + b" " * 2048
                sha = hashlib.sha256(content).hexdigest()
                objects[mf.blob_key(prefix, sha)] = content
                blobs, inline = (BlobRef(sha, len(content)),), None
            else:
                sha, blobs, inline = hashlib.sha256(body).hexdigest(), (), body
                content = body
            m = mf.Manifest(name=name, version=version, created_at=mf.version_time(version),
                            origin_region="primary", serializer="json", sha256=sha,
                            size=len(content), blobs=blobs, inline=inline, step=step)
            encoded = mf.encode(m)
            objects[mf.manifest_key(prefix, name, version)] = encoded
            if step >= per_name - KEEP:
                objects[mf.head_key(prefix, name)] = encoded  # the last one wins
            else:
                objects[retired_key(prefix, name, version)] = b"{}"
    return objects


def _populate(raw: Any, bucket: str, objects: dict[str, bytes]) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: raw.put_object(Bucket=bucket, Key=item[0], Body=item[1]),
                      objects.items()))


def run(*, runs: int, quick: bool) -> list[Result]:
    per_name = 100 if quick else 1_000
    versions = NAMES * per_name
    with moto_server() as server:
        primary, secondary = server.bucket("gc-primary"), server.bucket("gc-secondary", "us-west-2")
        descriptor = server.descriptor(primary, secondary)
        objects = _objects(descriptor["checkpoint_prefix"], per_name)
        for bucket in (primary, secondary):
            _populate(server.raw, bucket, objects)
        started = time.perf_counter()
        pages = 0
        for bucket in (primary, secondary):
            for _ in server.raw.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                pages += 1
        list_seconds = time.perf_counter() - started
        # moto answers a LIST page of a large versioned bucket in seconds (S3: ~0.1 s), over
        # the 0.5 s metadata timeout jobs use; a maintenance job can afford to wait longer
        store = CheckpointStore.from_platform(descriptor, options=GC_OPTIONS,
                                              session=server.session)
        operations: collections.Counter[str] = collections.Counter()
        for region in store.regions:
            backend: Any = store.backend(region)
            for client in (backend.metadata_client, backend.transfer_client):
                client.meta.events.register(
                    "before-call.s3", lambda model, **_: operations.update([model.name]))
        started = time.perf_counter()
        report = store.gc(grace_seconds=0)
        gc_seconds = time.perf_counter() - started
    deleted = sum(out.keys for out in report.regions.values())
    expected = 2 * (len(objects) - NAMES * (KEEP + 1) - NAMES * KEEP // BLOB_EVERY)
    if deleted != expected:
        raise RuntimeError(f"GC deleted {deleted} keys, expected {expected}")
    requests = sum(operations.values())
    detail = ", ".join(f"{op} {count}" for op, count in sorted(operations.items()))
    note = (f"{len(objects):,} objects per region; deleted {deleted:,} keys in both regions; "
            f"requests: {detail}; one DeleteObject per key would be {deleted:,} requests")
    return [
        Result(7, f"GC of {versions:,} versions, both regions: time", gc_seconds, list_seconds, "s",
               TARGET, gc_seconds / list_seconds <= 3, gc_seconds / list_seconds,
               f"baseline: LIST of both buckets ({pages} pages); {note}"),
        Result(7, f"GC of {versions:,} versions, both regions: requests", requests, deleted,
               "requests", "-", None, requests / deleted,
               f"baseline: one DeleteObject per deleted key; DeleteObjects calls "
               f"{operations['DeleteObjects']}"),
    ]
