"""Two-region behaviour: failover, circuit breaker, replication status, per-region corruption.

Most tests use a primary/secondary pair of in-memory backends, the primary wrapped in a
fake that can be switched "down" (raising RegionUnavailable like the S3 backend does after
its retries); the S3 tests use moto buckets, replicating by copying objects by hand.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, BinaryIO, Iterator

import pytest

from recovery_lib import (
    CheckpointNotFound,
    CheckpointStore,
    ConfigError,
    IntegrityError,
    RegionUnavailable,
    S3Options,
)
from recovery_lib import manifest as mf
from recovery_lib.backends.base import Backend, Progress
from recovery_lib.backends.memory import MemoryBackend
from recovery_lib.failover import FailoverPolicy

from tests.recovery_lib.moto_helpers import S3Pair

BIG = b"0123456789abcdef" * 20_000  # 320 KB: over the inline limit, so it lives in a blob


class Switchable(Backend):
    """Wraps a backend; while ``down`` every call raises RegionUnavailable. Counts calls."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.region = inner.region
        self.down = False
        self.calls = 0

    def _gate(self) -> None:
        self.calls += 1
        if self.down:
            raise RegionUnavailable(f"{self.region} is down (test)")

    def get(self, key: str) -> bytes:
        self._gate()
        return self.inner.get(key)

    def put(self, key: str, data: bytes) -> None:
        self._gate()
        self.inner.put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> None:
        self._gate()
        self.inner.put_if_absent(key, data)

    def head(self, key: str) -> int | None:
        self._gate()
        return self.inner.head(key)

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        self._gate()
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self._gate()
        self.inner.delete(key)

    def upload(self, key: str, source: BinaryIO, size: int, *, progress: Progress | None = None) -> None:
        self._gate()
        self.inner.upload(key, source, size, progress=progress)

    def download(self, key: str, sink: BinaryIO, *, progress: Progress | None = None) -> None:
        self._gate()
        self.inner.download(key, sink, progress=progress)

    # compare-and-swap of head records (issue 10); deliberately not wrapping ``holds``, so
    # the base class's read-and-hash default runs through the gated calls
    def get_tagged(self, key: str, *, max_bytes: int) -> tuple[bytes, str]:
        self._gate()
        return self.inner.get_tagged(key, max_bytes=max_bytes)

    def put_if_match(self, key: str, data: bytes, tag: str | None) -> str:
        self._gate()
        return self.inner.put_if_match(key, data, tag)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pair:
    def __init__(self, *, write_failover: bool = True, threshold: int = 1) -> None:
        self.primary_mem = MemoryBackend(region="primary")
        self.secondary_mem = MemoryBackend(region="secondary")
        self.primary = Switchable(self.primary_mem)
        self.secondary = Switchable(self.secondary_mem)
        self.clock = Clock()
        policy = FailoverPolicy(["primary", "secondary"], threshold=threshold, cooldown=30.0,
                                write_failover=write_failover, clock=self.clock)
        self.store = CheckpointStore(self.primary, self.secondary, prefix="checkpoints/",
                                     policy=policy)

    def replicate(self, only=lambda key: True) -> None:
        for key, _ in self.primary_mem.list(""):
            if only(key):
                self.secondary_mem.put(key, self.primary_mem.get(key))


@pytest.fixture
def pair() -> Pair:
    return Pair()


def keys_of(store: CheckpointStore, checkpoint) -> tuple[str, str]:
    return (mf.manifest_key(store.prefix, checkpoint.name, checkpoint.version),
            mf.blob_key(store.prefix, checkpoint.sha256))


# -- failover --------------------------------------------------------------------------------

def test_reads_fail_over_to_the_secondary_and_the_breaker_skips_the_dead_region(pair, caplog):
    saved = pair.store.save("job/state", {"epoch": 4})
    pair.replicate()
    pair.primary.down = True
    caplog.set_level(logging.WARNING, logger="recovery_lib")

    data, served = pair.store.load_with_info("job/state")
    assert data == {"epoch": 4} and served.region == "secondary"
    assert served.version == saved.version
    assert "circuit open" in caplog.text and "trying secondary" in caplog.text
    assert pair.store.policy.breakers["primary"].state == "open"

    calls = pair.primary.calls
    assert pair.store.load("job/state") == {"epoch": 4}
    assert pair.store.exists("job/state")
    assert [c.region for c in pair.store.list()] == ["secondary"]
    assert pair.primary.calls == calls  # the open breaker kept calls away from the primary


def test_breaker_half_opens_after_the_cooldown_and_closes_on_success(pair):
    pair.store.save("s", 1)
    pair.replicate()
    pair.primary.down = True
    assert pair.store.load_with_info("s")[1].region == "secondary"
    pair.clock.now += 29
    assert pair.store.load_with_info("s")[1].region == "secondary"
    pair.primary.down = False
    pair.clock.now += 2  # cool-down over: half-open, one call goes to the primary
    assert pair.store.policy.breakers["primary"].state == "half-open"
    assert pair.store.load_with_info("s")[1].region == "primary"
    assert pair.store.policy.breakers["primary"].state == "closed"


class Gated(Switchable):
    """A Switchable whose calls, while ``gate`` is set, block until ``release`` is set."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.gate = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def _gate(self) -> None:
        if self.gate:
            self.calls += 1
            self.entered.set()
            assert self.release.wait(60), "test never released the primary"
            if self.down:
                raise RegionUnavailable(f"{self.region} is down (test)")
            return
        super()._gate()


@pytest.mark.parametrize("primary_back", [True, False])
def test_half_open_primary_gets_one_trial_while_15_loads_are_served_by_the_secondary(primary_back):
    """Issue 10 point 5: 16 threads load while the primary's breaker is half-open and its
    trial call hangs; exactly one reaches the primary, the others are answered by the
    secondary without waiting for it. The trial's outcome closes or re-opens the breaker."""
    pair = Pair()
    pair.primary = Gated(pair.primary_mem)
    pair.store = CheckpointStore(pair.primary, pair.secondary, prefix="checkpoints/",
                                 policy=pair.store.policy)
    pair.store.save("s", {"n": 1})
    pair.replicate()
    pair.primary.down = True
    assert pair.store.load_with_info("s")[1].region == "secondary"
    assert pair.store.policy.breakers["primary"].state == "open"
    pair.primary.down = not primary_back
    pair.primary.gate, pair.primary.calls = True, 0
    pair.clock.now += 31
    breaker = pair.store.policy.breakers["primary"]
    assert breaker.state == "half-open"

    start = threading.Barrier(16)
    served: list[str] = []
    done = threading.Condition()

    def load() -> None:
        start.wait()
        data, checkpoint = pair.store.load_with_info("s")
        assert data == {"n": 1}
        with done:
            served.append(checkpoint.region)
            done.notify_all()

    threads = [threading.Thread(target=load) for _ in range(16)]
    for thread in threads:
        thread.start()
    assert pair.primary.entered.wait(60)
    with done:
        assert done.wait_for(lambda: len(served) == 15, timeout=60), served
    assert served == ["secondary"] * 15
    assert pair.primary.calls == 1 and breaker.trial_in_flight

    pair.primary.release.set()
    for thread in threads:
        thread.join(60)
    assert len(served) == 16
    if primary_back:
        assert breaker.state == "closed"
        assert sorted(served) == ["primary"] + ["secondary"] * 15
        assert pair.store.load_with_info("s")[1].region == "primary"
    else:
        assert breaker.state == "open" and served == ["secondary"] * 16
        assert pair.primary.calls == 1


def test_saves_fail_over_to_the_secondary_and_reads_see_them_after_recovery(pair, caplog):
    pair.store.save("w", 1)
    pair.replicate()
    pair.primary.down = True
    caplog.set_level(logging.WARNING, logger="recovery_lib")
    written = pair.store.save("w", 2)
    assert written.region == "secondary" and written.origin_region == "secondary"
    assert "failover" in caplog.text
    big = pair.store.save("w-big", BIG)
    assert big.region == "secondary" and pair.secondary_mem.head(keys_of(pair.store, big)[1])
    assert pair.store.load("w") == 2

    pair.primary.down = False
    pair.clock.now += 31
    # The primary is back but never saw version 2 (no two-way replication here): the store
    # reconciles on its next use (issue 10), copying the outage commits back to the primary.
    data, served = pair.store.load_with_info("w")
    assert data == 2 and served.region == "primary" and served.version == written.version
    assert pair.primary_mem.head(mf.manifest_key(pair.store.prefix, "w", written.version))
    assert pair.store.heads() == {"w": written.version, "w-big": big.version}


def test_write_failover_can_be_turned_off():
    pair = Pair(write_failover=False)
    pair.primary.down = True
    with pytest.raises(RegionUnavailable, match="write failover is off"):
        pair.store.save("w", 1)
    assert pair.secondary_mem.list("") is not None and list(pair.secondary_mem.list("")) == []


def test_both_regions_down_fails_fast_with_region_unavailable(pair):
    pair.store.save("x", 1)
    pair.primary.down = pair.secondary.down = True
    with pytest.raises(RegionUnavailable):
        pair.store.load("x")
    calls = (pair.primary.calls, pair.secondary.calls)
    with pytest.raises(RegionUnavailable, match="circuit open"):
        pair.store.load("x")
    with pytest.raises(RegionUnavailable, match="circuit open"):
        pair.store.save("x", 2)
    assert (pair.primary.calls, pair.secondary.calls) == calls


def test_threshold_counts_consecutive_failures():
    pair = Pair(threshold=3)
    pair.store.save("x", 1)
    pair.replicate()
    pair.primary.down = True
    for _ in range(2):
        assert pair.store.load_with_info("x")[1].region == "secondary"
        assert pair.store.policy.breakers["primary"].state == "closed"
    pair.store.load("x")
    assert pair.store.policy.breakers["primary"].state == "open"


def test_secondary_serves_newest_version_whose_content_has_arrived(pair, caplog):
    old = pair.store.save("model", BIG + b"old")
    new = pair.store.save("model", BIG + b"new")
    new_blob = keys_of(pair.store, new)[1]
    pair.replicate(only=lambda key: key != new_blob)  # the manifest arrived before its blob
    pair.primary.down = True
    caplog.set_level(logging.WARNING, logger="recovery_lib")

    data, served = pair.store.load_with_info("model")

    assert data == BIG + b"old" and served.version == old.version and served.region == "secondary"
    assert f"serving version {old.version}" in caplog.text
    with pytest.raises(CheckpointNotFound):
        pair.store.load("model", version=new.version)


def test_secondary_without_the_name_answers_not_found_during_an_outage(pair):
    pair.store.save("only-primary", 1)
    pair.primary.down = True
    with pytest.raises(CheckpointNotFound):
        pair.store.load("only-primary")
    assert not pair.store.exists("only-primary")


# -- corruption in each region ------------------------------------------------------------------

def test_corrupt_primary_copy_is_served_from_the_secondary(pair, caplog):
    saved = pair.store.save("c", BIG)
    pair.replicate()
    pair.primary_mem.put(keys_of(pair.store, saved)[1], b"bit rot")
    caplog.set_level(logging.WARNING, logger="recovery_lib")
    data, served = pair.store.load_with_info("c")
    assert data == BIG and served.region == "secondary" and served.version == saved.version
    assert "does not verify" in caplog.text


def test_corrupt_secondary_copy_during_an_outage_falls_back_or_raises(pair):
    first = pair.store.save("c", BIG + b"1")
    second = pair.store.save("c", BIG + b"2")
    pair.replicate()
    pair.secondary_mem.put(mf.manifest_key(pair.store.prefix, "c", second.version), b"{}")
    pair.primary.down = True
    data, served = pair.store.load_with_info("c")  # the head holds an intact copy
    assert data == BIG + b"2" and served.version == second.version
    with pytest.raises(IntegrityError):
        pair.store.load("c", version=second.version)
    # with the head corrupt too, the id of the current version says it was a plain save:
    # the version committed before it is served
    pair.secondary_mem.put(mf.head_key(pair.store.prefix, "c"), b"{}")
    data, served = pair.store.load_with_info("c")
    assert data == BIG + b"1" and served.version == first.version


# -- replication status ---------------------------------------------------------------------------

def test_replication_status_tracks_what_the_secondary_can_restore(pair):
    first = pair.store.save("job", BIG + b"1")
    status = pair.store.replication_status("job")
    assert not status.dr_safe and status.restorable is None
    assert set(status.missing) == set(keys_of(pair.store, first))
    assert status.pending == (first.version,) and status.lag_seconds is None

    pair.replicate()
    status = pair.store.replication_status("job")
    assert status.dr_safe and status.missing == () and status.pending == ()
    assert status.restorable.version == first.version == status.secondary_version
    assert status.version == first.version and status.lag_seconds == 0.0

    second = pair.store.save("job", BIG + b"2")
    pair.replicate(only=lambda key: key != keys_of(pair.store, second)[1])
    status = pair.store.replication_status("job")
    assert not status.dr_safe and status.primary_version == second.version
    assert status.missing == (keys_of(pair.store, second)[1],)
    assert status.restorable.version == first.version and status.pending == (second.version,)
    expected_lag = (mf.version_time(second.version) - mf.version_time(first.version)).total_seconds()
    assert status.lag_seconds == pytest.approx(expected_lag)
    assert pair.store.restorable("job").version == first.version


def test_deep_check_detects_corrupt_content_in_the_secondary(pair):
    saved = pair.store.save("deep", BIG)
    pair.replicate()
    blob = keys_of(pair.store, saved)[1]
    pair.secondary_mem.put(blob, b"x" * len(BIG))  # same size, wrong bytes
    assert pair.store.replication_status("deep", deep=False).dr_safe
    status = pair.store.replication_status("deep")
    assert not status.dr_safe and status.missing == (f"{blob} (does not verify)",)


def test_replication_report_and_primary_outage(pair):
    pair.store.save("r/a", 1)
    pair.store.save("r/b", 2)
    pair.replicate()
    pending = pair.store.save("r/c", 3)
    report = {s.name: s for s in pair.store.replication_report("r/")}
    assert sorted(report) == ["r/a", "r/b", "r/c"]
    assert [report[n].dr_safe for n in sorted(report)] == [True, True, False]

    pair.primary.down = True
    status = pair.store.replication_status("r/c")
    assert not status.primary_reachable and status.primary_version is None
    assert status.restorable is None and not status.dr_safe
    assert pending.version not in status.pending  # unknown: its manifest never arrived


def test_replication_checks_need_a_secondary():
    with pytest.raises(ConfigError, match="no secondary region"):
        CheckpointStore.memory().replication_status("x")


# -- S3 (moto) -------------------------------------------------------------------------------

def test_s3_pair_replication_status_and_corruption_in_each_region(s3_pair: S3Pair, caplog):
    store = s3_pair.store
    first = store.save("jobs/a", BIG + b"1")
    second = store.save("jobs/a", BIG + b"2")
    assert not store.replication_status("jobs/a").dr_safe
    s3_pair.replicate()
    status = store.replication_status("jobs/a")
    assert status.dr_safe and status.restorable.region == "secondary"

    manifest_key, blob_key = keys_of(store, second)
    bucket = s3_pair.primary_bucket
    s3_pair.primary_client.put_object(Bucket=bucket, Key=blob_key, Body=b"rot")
    caplog.set_level(logging.WARNING, logger="recovery_lib")
    data, served = store.load_with_info("jobs/a")
    assert data == BIG + b"2" and served.region == "secondary"

    s3_pair.secondary_client.put_object(Bucket=s3_pair.secondary_bucket, Key=blob_key, Body=b"rot")
    data, served = store.load_with_info("jobs/a")
    assert data == BIG + b"1" and served.version == first.version and served.region == "primary"
    assert not store.replication_status("jobs/a").dr_safe
    with pytest.raises(IntegrityError):
        store.load("jobs/a", version=second.version)


def test_s3_everything_is_written_under_the_checkpoint_prefix(s3_pair: S3Pair):
    s3_pair.store.save("a", 1)
    s3_pair.store.save("b/c", BIG)
    s3_pair.store.delete("a")
    s3_pair.store.flush()  # history records are written after the commit, in the background
    keys = [item["Key"] for item in s3_pair.primary_client.list_objects_v2(
        Bucket=s3_pair.primary_bucket)["Contents"]]
    assert all(k.startswith("checkpoints/") for k in keys)
    assert len([k for k in keys if "/heads/" not in k]) == 4  # + one head record per name
    manifest = json.loads(s3_pair.primary_client.get_object(
        Bucket=s3_pair.primary_bucket, Key=next(k for k in keys if "/b/c@" in k))["Body"].read())
    assert manifest["origin_region"] == "primary" and manifest["inline"] is None
    assert manifest["blobs"] == [{"sha256": manifest["sha256"], "size": len(BIG)}]


def test_s3_write_failover_option_is_honoured(aws_mock: Any):
    pair = S3Pair(aws_mock, options=S3Options(write_failover=False))
    assert pair.store.policy.write_failover is False
    assert S3Pair(aws_mock).store.policy.write_failover is True
