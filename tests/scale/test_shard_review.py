"""Adversarial review of shards' data keys: a GC that cannot read a record, a single PUT
that botocore reads twice, a retried part, another process writing the file, legacy
records, and the trust boundary of gathered records."""
from __future__ import annotations

import contextlib
import hashlib
import json
import pathlib
import subprocess
import sys
import time
from typing import Callable, Iterator

import pytest

from recovery_lib import CheckpointStore, gc
from recovery_lib import shards as shards_mod
from recovery_lib.backends.memory import MemoryBackend
from recovery_lib.errors import RegionUnavailable
from tests.lifecycle.support import regions

NAME = "run/model"


class FlakyRecordReads(MemoryBackend):
    """GETs of shard records fail (a transient RegionUnavailable) while ``flaky``."""

    flaky = False

    def get(self, key):
        if self.flaky and key.startswith("shards/"):
            raise RegionUnavailable("a record GET timed out")
        return super().get(key)


def test_gc_keeps_pending_data_when_a_record_cannot_be_read() -> None:
    """A shard record GC cannot read (a transient GET failure) keeps every shard-data key of
    its name: the data it names is unknown, and deleting a pending step's data once it is
    past the grace period would make the step impossible to commit."""
    clock = regions().clock
    backend = FlakyRecordReads(clock=clock)
    store = CheckpointStore(backend)
    store.save_shard(NAME, 1, 0, b"zero" * 5000)
    store.commit_shards(NAME, 1, 1)
    pending = store.save_shard(NAME, 2, 0, b"pending" * 5000)  # the slow rank 1 still saving
    clock.advance(7200)
    backend.flaky = True
    report = gc.collect(store, grace_seconds=3600, clock=clock)
    backend.flaky = False
    assert pending["key"] not in report.regions["memory"].blobs
    assert backend.head(pending["key"]) == pending["size"]
    store.save_shard(NAME, 2, 1, b"one" * 5000)
    assert store.commit_shards(NAME, 2, 2).step == 2


MMAP_WRITER = r"""
import mmap, sys
with open(sys.argv[1], "r+b") as fh:
    view = mmap.mmap(fh.fileno(), 0)
    view[0] = view[0]            # dirty the first page (this stamps mtime once)
    print("ready", flush=True)
    sys.stdin.readline()
    view[:16] = b"\xff" * 16     # a write to a page already dirty: no new timestamp
    print("done", flush=True)
    sys.stdin.readline()
"""


@contextlib.contextmanager
def _mmap_writer(path: pathlib.Path) -> Iterator[Callable[[], bool]]:
    """A child process with ``path`` mapped and its first page dirtied. The function it
    yields makes the child write 16 bytes to that page (no new timestamp) and waits until
    it has; only the first call writes (True), later ones do nothing (False)."""
    child = subprocess.Popen([sys.executable, "-c", MMAP_WRITER, str(path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    wrote: list[bool] = []

    def write() -> bool:
        if wrote:
            return False
        wrote.append(True)
        child.stdin.write("go\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
        assert child.stdout.readline().strip() == "done"  # type: ignore[union-attr]
        return True

    try:
        assert child.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        time.sleep(0.05)  # the first page's timestamp is older than the settle tick
        yield write
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        child.wait(timeout=10)


def _save_shard(store, path):
    record = store.save_shard(NAME, 1, 0, path)
    return store.prefix + record["key"], record["sha256"]


def _save_file(store, path):
    checkpoint = store.save_file(NAME, path)
    return store.prefix + f"blobs/sha256/{checkpoint.sha256}", checkpoint.sha256


def _save_items(store, path):
    checkpoint = store.save_items(NAME, {"model": path, "meta": {"step": 1}})
    (ref,) = checkpoint.blobs
    return store.prefix + f"blobs/sha256/{ref.sha256}", ref.sha256


@pytest.mark.parametrize("save", [_save_shard, _save_file, _save_items],
                         ids=["save_shard", "save_file", "save_items"])
def test_a_single_put_sends_the_bytes_that_were_hashed(tmp_path, save) -> None:
    """Why an upload below the multipart threshold is read once into memory and PUT from
    there (S3Backend.upload): s3transfer would hand the HashingReader itself to PutObject
    (s3transfer/upload.py:367-372). Over http botocore reads the body once for the CRC32
    header and seeks back (botocore/httpchecksum.py:68-71, location "header" at 384), then
    reads it again to send; a retry rewinds and reads the file again (awsrequest.py:543).
    HashingReader hashes only the first read, so a write between the reads that stat cannot
    see (a shared mmap of a dirty page) would leave bytes under a shard record's SHA-256,
    or a content address, that are not those bytes: commit_shards(verify="size") would
    commit a step that cannot be loaded, save_file a version that cannot. Here a child
    process writes through mmap as the PUT is sent: the stored bytes must be the ones the
    record or address names (or the save refuses)."""

    from recovery_lib import IntegrityError
    from tests.reliability.conftest import Buckets
    from tests.support.moto_process import moto_process

    path = tmp_path / "content.bin"
    path.write_bytes(b"\x00" * (1 << 20))  # above the inline limit, below the multipart threshold
    with moto_process() as server, _mmap_writer(path) as write:
        buckets = Buckets(server.url)
        store = buckets.store()
        client = store.backend("primary").transfer_client
        written = []

        def write_now(request, **_):
            if "shard-data/" in request.url or "blobs/sha256/" in request.url:
                written.append(write())

        client.meta.events.register("before-send.s3.PutObject", write_now)
        try:
            key, sha256 = save(store, path)
        except IntegrityError:
            return  # refused: sound
        finally:
            client.meta.events.unregister("before-send.s3.PutObject", write_now)
        assert written == [True], "the content was not sent as one PUT"
        from botocore.exceptions import FlexibleChecksumError
        try:
            stored = buckets.get("primary", key)
        except FlexibleChecksumError:  # moto kept a PUT whose CRC header was of other bytes
            pytest.fail("S3 stored bytes other than those the upload hashed")
        assert hashlib.sha256(stored).hexdigest() == sha256, \
            "the recorded SHA-256 is not that of the bytes S3 stored"


def test_legacy_records_without_a_data_key_commit_load_and_survive_gc() -> None:
    """Sound: a record written before data keys (content-addressed blob, no "key")."""

    r = regions()
    data = b"legacy" * 5000
    sha = hashlib.sha256(data).hexdigest()
    r.primary.put(f"blobs/sha256/{sha}", data)
    record = {"rank": 0, "step": 1, "sha256": sha, "size": len(data), "serializer": "raw"}
    r.primary.put(f"shards/{NAME}@{1:015d}/000000.json", json.dumps(record).encode())
    committed = r.store.commit_shards(NAME, 1, 1)
    assert [b.key for b in committed.blobs] == [None]
    r.clock.advance(7200)
    gc.collect(r.store, grace_seconds=3600, clock=r.clock)
    assert r.store.load_shard(NAME, 0) == data
    again = r.store.commit_shards(NAME, 2, 1, records=[dict(record, step=2)])
    assert again.step == 2 and r.store.load_shard(NAME, 0) == data


def test_gathered_records_are_trusted_for_sha256_under_verify_size() -> None:
    """By design (docstring: size by default): a gathered record whose sha256 is not that
    of its data key's bytes is committed with verify="size" and the step then fails every
    load; verify="sha256" refuses it. Documents the trust boundary of records=."""
    from recovery_lib import IntegrityError

    store = CheckpointStore.memory()
    good = store.save_shard(NAME, 1, 0, b"good" * 5000)
    forged = dict(good, sha256="0" * 64)
    with pytest.raises(shards_mod.ShardsIncomplete):
        store.commit_shards(NAME, 1, 1, records=[forged], verify="sha256")
    store.commit_shards(NAME, 1, 1, records=[forged])
    with pytest.raises(IntegrityError):
        store.load_shard(NAME, 0)


def test_a_retried_multipart_part_resends_the_bytes_that_were_hashed(tmp_path) -> None:
    """Sound (question 4): above the threshold s3transfer reads each part once, in order,
    into a BytesIO (s3transfer/upload.py:352-365, the loop at 278-284) and a retry resends
    that BytesIO; a stat-invisible write (mmap, dirty page) between the attempts does not
    reach S3, so the record's SHA-256 is that of the stored bytes."""

    from botocore.exceptions import ConnectionClosedError

    from recovery_lib import S3Options
    from tests.reliability.conftest import Buckets
    from tests.support.moto_process import moto_process

    mib = 1024 * 1024
    path = tmp_path / "shard.bin"
    path.write_bytes(b"\x00" * (11 * mib))
    with moto_process() as server, _mmap_writer(path) as write:
        buckets = Buckets(server.url)
        store = buckets.store(S3Options(multipart_threshold=5 * mib, multipart_chunksize=5 * mib))
        client = store.backend("primary").transfer_client
        failed = []

        def fail_part_one_once(request, **_):
            if "partNumber=1&" in request.url + "&" and not failed:
                failed.append(request.url)
                write()
                raise ConnectionClosedError(endpoint_url=request.url)

        client.meta.events.register("before-send.s3.UploadPart", fail_part_one_once)
        try:
            record = store.save_shard(NAME, 1, 0, path)
        finally:
            client.meta.events.unregister("before-send.s3.UploadPart", fail_part_one_once)
        assert failed, "part 1 was never retried"
        stored = buckets.get("primary", store.prefix + record["key"])
        assert hashlib.sha256(stored).hexdigest() == record["sha256"]
        assert stored[:16] == b"\x00" * 16  # the bytes as first read, not the mmap write


LOOP_WRITER = r"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
size = os.fstat(fd).st_size
print("ready", flush=True)
version = 1
while not os.path.exists(sys.argv[1] + ".stop"):
    for off in range(0, size, 1 << 20):   # rewrite the file in place, 1 MiB per write(2)
        os.pwrite(fd, bytes([version % 256]) * min(1 << 20, size - off), off)
    version += 1
    time.sleep(0.003)
"""


@pytest.mark.parametrize("mib", [2, 12])
def test_a_file_rewritten_by_another_process_is_never_recorded_torn(tmp_path, mib) -> None:
    """Sound: a separate process rewrites the file in place (same size, write(2) calls)
    while ranks save it to moto, single PUT and multipart: every save is refused or
    records bytes of one whole version whose SHA-256 S3 stored."""

    from recovery_lib import IntegrityError, S3Options
    from tests.reliability.conftest import Buckets
    from tests.support.moto_process import moto_process

    path = tmp_path / "shard.bin"
    path.write_bytes(b"\x00" * (mib << 20))
    outcomes = []
    with moto_process() as server:
        buckets = Buckets(server.url)
        store = buckets.store(S3Options(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
        child = subprocess.Popen([sys.executable, "-c", LOOP_WRITER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            for attempt in range(6):
                try:
                    record = store.save_shard(NAME, 1, attempt, path)
                except IntegrityError:
                    outcomes.append("refused")
                    continue
                stored = buckets.get("primary", store.prefix + record["key"])
                assert hashlib.sha256(stored).hexdigest() == record["sha256"]
                assert len(set(stored)) == 1, f"torn: versions {sorted(set(stored))}"
                outcomes.append("whole")
        finally:
            (tmp_path / "shard.bin.stop").touch()
            child.wait(timeout=10)
    assert outcomes
