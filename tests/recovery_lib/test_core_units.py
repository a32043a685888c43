"""Pure pieces, tested without any backend: names, manifests, serialization, the circuit
breaker, options, hashing streams."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import multiprocessing
import os
import threading

import pytest

from recovery_lib import (
    CheckpointNotFound,
    ConfigError,
    IntegrityError,
    InvalidData,
    InvalidName,
    RegionUnavailable,
)
from recovery_lib import manifest as mf
from recovery_lib import serialization
from recovery_lib._streams import DigestSink, HashingReader, HashingWriter
from recovery_lib.checkpoint import BlobRef
from recovery_lib.config import S3Options
from recovery_lib.failover import CircuitBreaker, FailoverPolicy
from recovery_lib.names import validate_name, validate_prefix

# -- names ----------------------------------------------------------------------------------


def test_valid_names_and_prefixes_pass_unchanged():
    for name in ("a", "runs/42/model", "ünïcode/名前", "dots.in.name/x.y", "-_~!$&'()*+,;=:"):
        assert validate_name(name) == name
    for prefix in ("", "runs/", "runs/4", "a/b/"):
        assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/a", "a//", "../", "a\\", "a@", "x\x01"])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(InvalidName):
        validate_prefix(prefix)


def test_key_length_counts_the_store_prefix_in_utf8_bytes():
    name = "a" * 900
    validate_name(name)
    with pytest.raises(InvalidName, match="1024"):
        validate_name(name, prefix="p" * 100 + "/")


def test_checkpoint_not_found_reads_as_a_sentence():
    error = CheckpointNotFound("no checkpoint named 'x'")
    assert str(error) == "no checkpoint named 'x'" and isinstance(error, KeyError)


# -- manifests and versions -----------------------------------------------------------------

def _manifest(**overrides):
    version = mf.new_version()
    fields = dict(name="a/b", version=version, created_at=mf.version_time(version),
                  origin_region="primary", serializer="json", sha256=hashlib.sha256(b"1").hexdigest(),
                  size=1, metadata={"k": [1, 2.5]}, inline=b"1")
    fields.update(overrides)
    return mf.Manifest(**fields)


def test_manifest_round_trip_and_checkpoint_view():
    m = _manifest(parent_version=mf.new_version())
    raw = mf.encode(m)
    decoded = mf.decode(raw, key="k", name=m.name, version=m.version)
    assert decoded == m
    checkpoint = decoded.to_checkpoint("secondary")
    assert checkpoint.region == "secondary" and checkpoint.origin_region == "primary"
    assert checkpoint.created_at.tzinfo is dt.timezone.utc and checkpoint.inline
    blob = _manifest(inline=None, blobs=(BlobRef("ab" * 32, 9),), sha256="ab" * 32, size=9)
    assert mf.decode(mf.encode(blob), key="k", name="a/b", version=blob.version).blobs == blob.blobs


@pytest.mark.parametrize("mutate,why", [
    (lambda b: b.update(schema=4), "schema 4"),  # schema 2 added signatures, 3 steps
    (lambda b: b.pop("size"), "missing"),
    (lambda b: b.update(extra=1), "unexpected"),
    (lambda b: b.update(name="other"), "checksum"),
])
def test_malformed_manifests_raise_integrity_error(mutate, why):
    m = _manifest()
    body = json.loads(mf.encode(m))
    mutate(body)
    with pytest.raises(IntegrityError, match=why):
        mf.decode(json.dumps(body).encode(), key="k", name=m.name, version=m.version)


def test_manifest_fields_are_validated_even_with_a_matching_checksum():
    def forged(**changes):
        body = json.loads(mf.encode(_manifest()))
        body.pop("checksum")
        body.update(changes)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        body["checksum"] = hashlib.sha256(canonical.encode()).hexdigest()
        return json.dumps(body).encode(), body

    for changes, why in [({"size": -1}, "negative"), ({"size": True}, "type bool"),
                         ({"serializer": "yaml"}, "serializer"), ({"sha256": "XYZ"}, "hex"),
                         ({"created_at": "yesterday"}, "ISO"), ({"inline": "!!"}, "base64"),
                         ({"inline": None}, "either inline"), ({"deleted": True}, "deleted"),
                         ({"created_at": "2024-01-01T00:00:00"}, "time zone")]:
        raw, body = forged(**changes)
        with pytest.raises(IntegrityError, match=why):
            mf.decode(raw, key="k", name=body["name"], version=body["version"])
    raw, body = forged()
    with pytest.raises(IntegrityError, match="its key says"):
        mf.decode(raw, key="k", name="a/c", version=body["version"])


def test_manifest_inline_is_base64_and_written_canonically():
    m = _manifest(inline=b"\x00\xff", size=2, sha256=hashlib.sha256(b"\x00\xff").hexdigest())
    body = json.loads(mf.encode(m))
    assert base64.b64decode(body["inline"]) == b"\x00\xff" and body["deleted"] is False


def test_versions_sort_by_time_and_are_unique():
    versions = [mf.new_version() for _ in range(1000)]
    assert versions == sorted(versions) and len(set(versions)) == 1000
    assert all(len(v) == 28 for v in versions)
    stone = mf.new_version(deleted=True)
    assert mf.is_tombstone(stone) and stone > versions[-1]
    assert mf.validate_version(stone) == stone
    assert abs(mf.version_time(versions[0]) - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=5)
    frozen = [mf.new_version(clock=lambda: 5) for _ in range(3)]  # a clock that stands still
    assert frozen == sorted(frozen) and len(set(frozen)) == 3


def _versions_in_child(_: int) -> list[str]:
    return [mf.new_version() for _ in range(200)]


def test_versions_are_unique_across_processes():
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_versions_in_child, range(4))
    everything = [v for chunk in results for v in chunk]
    assert len(set(everything)) == len(everything) == 800


def test_key_layout_round_trips_and_rejects_foreign_keys():
    key = mf.manifest_key("checkpoints/", "runs/1/m", "0000000000000000001-0000000a")
    assert key == "checkpoints/manifests/runs/1/m@0000000000000000001-0000000a.json"
    assert mf.parse_manifest_key("checkpoints/", key) == ("runs/1/m", "0000000000000000001-0000000a")
    for foreign in ("checkpoints/manifests/x.json", "checkpoints/manifests/x@latest.json",
                    "other/manifests/x@0000000000000000001-0000000a.json",
                    "checkpoints/blobs/sha256/ab", "checkpoints/manifests/@0000000000000000001-0000000a.json"):
        assert mf.parse_manifest_key("checkpoints/", foreign) is None
    assert mf.blob_key("p/", "ab") == "p/blobs/sha256/ab"
    assert mf.versions_prefix("p/", "a") == "p/manifests/a@"


# -- serialization ------------------------------------------------------------------------------

def test_default_serializer_choice_and_bytes():
    assert serialization.dumps({"a": 1}) == (b'{"a":1}', "json")
    assert serialization.dumps(bytearray(b"x")) == (b"x", "raw")
    assert serialization.dumps("é")[0] == "\"é\"".encode()
    payload, used = serialization.dumps({1, 2}, "pickle")
    assert used == "pickle" and serialization.loads(payload, used, allow_pickle=True) == {1, 2}


def test_shared_references_are_fine_cycles_are_not():
    shared = [1]
    assert serialization.dumps([shared, shared])[0] == b"[[1],[1]]"
    loop: dict = {}
    loop["self"] = {"again": loop}
    with pytest.raises(InvalidData, match="cycle"):
        serialization.dumps(loop)


def test_json_limits_become_invalid_data():
    with pytest.raises(InvalidData, match="JSON"):
        serialization.dumps(10 ** 5000)  # over Python's int -> str digit limit
    deep: list = []
    for _ in range(5_000):
        deep = [deep]
    with pytest.raises(InvalidData):
        serialization.dumps(deep)
    with pytest.raises(InvalidData, match="lone|surrogate|JSON"):
        serialization.dumps("\ud800")


def test_unpicklable_data_is_invalid_data():
    with pytest.raises(InvalidData, match="cannot be pickled"):
        serialization.dumps(lambda: 1, "pickle")


# -- circuit breaker and policy -------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown():
    clock = Clock()
    breaker = CircuitBreaker("primary", threshold=2, cooldown=10, clock=clock)
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_success()  # resets the count
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.retry_in() == 10
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10
    assert breaker.state == "half-open" and breaker.allow()
    breaker.record_failure()  # a failed trial re-opens at once
    assert breaker.state == "open" and breaker.retry_in() == 10
    clock.now = 20
    breaker.record_success()
    assert breaker.state == "closed" and breaker.retry_in() == 0


def test_policy_orders_reads_and_picks_write_region():
    clock = Clock()
    policy = FailoverPolicy(["primary", "secondary"], threshold=1, cooldown=5, clock=clock)
    assert policy.read_order() == ["primary", "secondary"] == policy.write_order()
    policy.record_failure("primary", "test")
    assert policy.read_order() == ["secondary"] == policy.write_order()
    strict = FailoverPolicy(["primary", "secondary"], write_failover=False, clock=clock)
    strict.record_failure("primary")
    assert strict.read_order() == ["secondary"]
    with pytest.raises(Exception, match="circuit open"):
        strict.write_order()
    policy.record_failure("secondary")
    with pytest.raises(Exception, match="primary retried in 5.0s"):
        policy.read_order()
    clock.now = 5
    assert policy.read_order() == ["primary", "secondary"]


class _Trial:
    """A region call that blocks until released: counts callers, then answers or fails."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = False
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self.calls += 1
        self.entered.set()
        assert self.release.wait(60), "test never released the trial call"
        if self.fail:
            raise RegionUnavailable("primary still down (test)")
        return "answer"


def _half_open_breaker() -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    breaker = CircuitBreaker("primary", threshold=1, cooldown=10, clock=clock)
    breaker.record_failure("test")
    clock.now = 10  # cool-down over: half-open
    assert breaker.state == "half-open" and breaker.allow()
    return breaker, clock


@pytest.mark.parametrize("trial_fails", [False, True])
def test_half_open_breaker_admits_exactly_one_trial_call(trial_fails):
    """16 concurrent callers of a half-open breaker: one trial reaches the region, the 15
    others are refused at once (they do not wait for the trial); the trial's outcome closes
    or re-opens the breaker."""
    breaker, _ = _half_open_breaker()
    trial = _Trial()
    start = threading.Barrier(16)
    outcomes: list[str] = []
    done = threading.Condition()

    def caller() -> None:
        start.wait()
        try:
            result = breaker.call(trial)
        except RegionUnavailable as exc:
            result = "refused" if "trial call is still in flight" in str(exc) else "failed"
        with done:
            outcomes.append(result)
            done.notify_all()

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    assert trial.entered.wait(60)
    with done:  # the 15 others finish while the trial is still blocked
        assert done.wait_for(lambda: len(outcomes) == 15, timeout=60), outcomes
    assert outcomes == ["refused"] * 15 and trial.calls == 1
    assert breaker.trial_in_flight and not breaker.allow() and breaker.state == "half-open"

    trial.fail = trial_fails
    trial.release.set()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == sorted(["refused"] * 15 + ["failed" if trial_fails else "answer"])
    assert trial.calls == 1
    assert not breaker.trial_in_flight
    if trial_fails:
        assert breaker.state == "open" and not breaker.allow() and breaker.retry_in() == 10
    else:
        assert breaker.state == "closed" and breaker.allow()
        assert breaker.call(lambda: "next") == "next"


def test_a_trial_without_a_verdict_frees_the_slot_and_closed_breakers_do_not_gate():
    breaker, _ = _half_open_breaker()

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    assert breaker.state == "half-open" and not breaker.trial_in_flight and breaker.allow()
    with pytest.raises(CheckpointNotFound):  # the region answered: that closes it
        breaker.call(lambda: (_ for _ in ()).throw(CheckpointNotFound("absent (test)")))
    assert breaker.state == "closed"
    # Closed: concurrent calls are never refused (nested call stands in for concurrency).
    assert breaker.call(lambda: breaker.call(lambda: "inner")) == "inner"


def test_single_region_policy_fails_fast_while_the_trial_is_in_flight():
    clock = Clock()
    policy = FailoverPolicy(["primary"], threshold=1, cooldown=5, clock=clock)
    policy.record_failure("primary", "test")
    clock.now = 5
    assert policy.read_order() == ["primary"]
    inside: list[str] = []

    def trial() -> str:  # while the trial runs, another caller asks for a region
        with pytest.raises(RegionUnavailable, match="primary has a trial call in flight"):
            policy.read_order()
        with pytest.raises(RegionUnavailable, match="trial call is still in flight"):
            policy.call("primary", lambda: inside.append("second caller"))
        return "ok"

    assert policy.call("primary", trial) == "ok"
    assert inside == [] and policy.read_order() == ["primary"]


# -- options ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,field", [
    ({"connect_timeout": 0}, "connect_timeout"),
    ({"read_timeout": -1}, "read_timeout"),
    ({"metadata_timeout": float("inf")}, "metadata_timeout"),
    ({"retry_mode": "legacy"}, "retry_mode"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": True}, "max_attempts"),
    ({"multipart_chunksize": 1024}, "multipart_chunksize"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"write_failover": "yes"}, "write_failover"),
    ({"breaker_threshold": 0}, "breaker_threshold"),
    ({"breaker_cooldown": 0}, "breaker_cooldown"),
])
def test_bad_options_are_refused_when_built(kwargs, field):
    with pytest.raises(ConfigError, match=f"S3Options.{field}"):
        S3Options(**kwargs)


def test_options_become_botocore_and_transfer_configs():
    from recovery_lib.backends.s3 import client_config, transfer_config

    options = S3Options(connect_timeout=0.7, read_timeout=9, retry_mode="adaptive", max_attempts=4,
                        multipart_threshold=6 * 2**20, multipart_chunksize=7 * 2**20, max_concurrency=3)
    config = client_config(options, read_timeout=options.read_timeout, path_style=True)
    assert (config.connect_timeout, config.read_timeout) == (0.7, 9)
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 4}
    assert config.s3 == {"addressing_style": "path"} and config.max_pool_connections == 10
    transfer = transfer_config(options)
    assert (transfer.multipart_threshold, transfer.multipart_chunksize, transfer.max_concurrency) == (
        6 * 2**20, 7 * 2**20, 3)
    assert S3Options().metadata_timeout < S3Options().read_timeout
    with pytest.raises(TypeError):
        S3Options(1.0)  # keyword-only


# -- hashing streams ---------------------------------------------------------------------------

def test_hashing_reader_survives_size_probe_and_rewinds():
    data = os.urandom(100_000)
    reader = HashingReader(io.BytesIO(data))
    reader.seek(0, 2)
    reader.seek(0)
    assert reader.read(30_000) == data[:30_000]
    reader.seek(10_000)  # a retry re-reads
    assert reader.read(50_000) == data[10_000:60_000]
    buf = bytearray(40_000)
    assert reader.readinto(buf) == 40_000
    reader.read()
    assert reader.bytes_hashed == len(data)
    assert reader.hexdigest() == hashlib.sha256(data).hexdigest()
    skipping = HashingReader(io.BytesIO(data))
    skipping.seek(5)
    skipping.read()
    assert skipping.hexdigest() is None and skipping.bytes_hashed == 0


def test_hashing_writer_handles_out_of_order_parts(tmp_path):
    data = os.urandom(3_000_000)
    parts = [(o, data[o:o + 262_144]) for o in range(0, len(data), 262_144)]
    order = parts[4:] + parts[1:4][::-1] + parts[:1] + [parts[2]]  # last: a retry rewrite
    with open(tmp_path / "out", "w+b", buffering=0) as fh:
        writer = HashingWriter(fh)
        for offset, chunk in order:
            writer.seek(offset)
            writer.write(chunk)
        assert writer.size == len(data)
        assert writer.hexdigest() == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "out").read_bytes() == data


def test_hashing_writer_flags_holes_and_changed_rewrites(tmp_path):
    with open(tmp_path / "a", "w+b", buffering=0) as fh:
        writer = HashingWriter(fh)
        writer.seek(10)
        writer.write(b"late")
        assert writer.hexdigest() is None  # bytes 0-9 never arrived
    with open(tmp_path / "b", "w+b", buffering=0) as fh:
        writer = HashingWriter(fh)
        writer.write(b"hello world")
        writer.seek(0)
        writer.write(b"HELLO")
        assert writer.hexdigest() is None  # a rewrite with other bytes


def test_digest_sink_keeps_only_when_asked():
    sink = DigestSink(keep=True)
    sink.write(b"ab")
    sink.write(memoryview(b"c"))
    assert (sink.getvalue(), sink.size, sink.hexdigest()) == (b"abc", 3, hashlib.sha256(b"abc").hexdigest())
    with pytest.raises(ValueError):
        DigestSink().getvalue()
    assert not sink.seekable()
