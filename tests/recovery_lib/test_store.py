"""CheckpointStore behaviour, identical over the memory, local and S3 (moto) backends."""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import logging
import math
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from recovery_lib import (
    Checkpoint,
    CheckpointNotFound,
    CheckpointStore,
    ConflictError,
    IntegrityError,
    InvalidData,
    InvalidName,
    RecoveryError,
)
from recovery_lib import manifest as mf
from recovery_lib.store import INLINE_LIMIT

BIG = bytes(range(256)) * (INLINE_LIMIT // 256 + 100)  # over the inline limit: stored as a blob


def overwrite(store: CheckpointStore, region: str, key: str, data: bytes) -> None:
    """Change a stored object behind the library's back."""
    backend = store.backend(region)
    if hasattr(backend, "metadata_client"):  # S3: a raw boto3 call
        backend.metadata_client.put_object(Bucket=backend.bucket, Key=key, Body=data)
    elif hasattr(backend, "root"):  # local: write the file directly
        Path(backend.root, *key.split("/")).write_bytes(data)
    else:
        backend._objects[key] = data


def stored(store: CheckpointStore, region: str, key: str) -> bytes:
    return store.backend(region).get(key)


def manifest_key(store: CheckpointStore, checkpoint: Checkpoint) -> str:
    return mf.manifest_key(store.prefix, checkpoint.name, checkpoint.version)


def blob_key(store: CheckpointStore, checkpoint: Checkpoint) -> str:
    return mf.blob_key(store.prefix, checkpoint.sha256)


# -- round trips -------------------------------------------------------------------------------

ROUND_TRIPS = [
    ({"a": [1, 2.5, None, True, "x"], "nested": {"k": {}}}, dict),
    ([], list),
    ("text with ü and 🙂", str),
    (0, int),
    (-(2**70), int),
    (1.5, float),
    (-0.0, float),
    (True, bool),
    (False, bool),
    (None, type(None)),
    (b"\x00\xffraw bytes", bytes),
    (bytearray(b"bytearray"), bytes),
    (memoryview(b"memoryview"), bytes),
    (BIG, bytes),
    ({"big": "x" * (INLINE_LIMIT + 10)}, dict),
]


@pytest.mark.parametrize("value,loaded_type", ROUND_TRIPS,
                         ids=[f"{type(v).__name__}-{i}" for i, (v, _) in enumerate(ROUND_TRIPS)])
def test_save_load_round_trip_keeps_value_and_type(store, value, loaded_type):
    checkpoint = store.save("rt/value", value)
    loaded = store.load("rt/value")
    expected = bytes(value) if isinstance(value, (bytearray, memoryview)) else value
    assert type(loaded) is loaded_type
    assert loaded == expected
    if isinstance(value, float):
        assert math.copysign(1, loaded) == math.copysign(1, value)
    assert store.load("rt/value", version=checkpoint.version) == expected


def test_save_returns_a_complete_checkpoint(store):
    before = dt.datetime.now(dt.timezone.utc)
    checkpoint = store.save("jobs/a", {"epoch": 3}, metadata={"step": 7, "tags": ["x"]})
    payload = json.dumps({"epoch": 3}, separators=(",", ":")).encode()
    assert checkpoint.name == "jobs/a"
    assert isinstance(checkpoint.version, str) and mf.validate_version(checkpoint.version)
    assert checkpoint.sha256 == hashlib.sha256(payload).hexdigest()
    assert checkpoint.size == len(payload)
    assert checkpoint.created_at.tzinfo is dt.timezone.utc
    assert before - dt.timedelta(seconds=1) <= checkpoint.created_at <= dt.datetime.now(dt.timezone.utc)
    assert checkpoint.metadata == {"step": 7, "tags": ["x"]}
    assert checkpoint.region in {"memory", "local", "primary"}
    assert checkpoint.region == store.regions[0]
    assert checkpoint.serializer == "json" and checkpoint.inline and checkpoint.detailed
    assert store.info("jobs/a") == checkpoint


def test_large_payload_goes_to_one_content_addressed_blob(store):
    checkpoint = store.save("big", BIG)
    assert not checkpoint.inline
    assert checkpoint.blobs[0].sha256 == hashlib.sha256(BIG).hexdigest()
    assert stored(store, store.regions[0], blob_key(store, checkpoint)) == BIG
    again = store.save("big-copy", BIG)
    assert again.blobs == checkpoint.blobs  # same content, same blob


def test_metadata_is_copied_and_must_be_json(store):
    meta = {"a": [1]}
    checkpoint = store.save("m", 1, metadata=meta)
    meta["a"].append(2)
    assert store.info("m").metadata == {"a": [1]} == checkpoint.metadata
    with pytest.raises(InvalidData, match="metadata"):
        store.save("m", 1, metadata={"when": dt.datetime.now()})
    with pytest.raises(InvalidData, match="metadata must be a dict"):
        store.save("m", 1, metadata=[("a", 1)])


# -- versions, rollback, delete ------------------------------------------------------------------

def test_versions_newest_first_and_loadable_by_version(store):
    saved = [store.save("v", {"i": i}) for i in range(4)]
    versions = store.versions("v")
    assert [c.version for c in versions] == [c.version for c in reversed(saved)]
    assert all(not c.detailed for c in versions)  # one LIST, no manifest reads
    assert [c.created_at for c in versions] == sorted((c.created_at for c in saved), reverse=True)
    detailed = store.versions("v", detail=True)
    assert [c.sha256 for c in detailed] == [c.sha256 for c in reversed(saved)]
    for i, checkpoint in enumerate(saved):
        assert store.load("v", version=checkpoint.version) == {"i": i}
        assert store.info("v", version=checkpoint.version).sha256 == checkpoint.sha256
    assert store.load("v") == {"i": 3}
    with pytest.raises(CheckpointNotFound, match="was ever saved"):
        store.versions("never")


def test_rollback_writes_a_new_version_and_deletes_nothing(store):
    v1 = store.save("model", {"w": 1}, metadata={"epoch": 1})
    v2 = store.save("model", {"w": 2}, metadata={"epoch": 2})
    big1 = store.save("bigmodel", BIG)
    store.save("bigmodel", b"small now")

    v3 = store.rollback("model", v1.version)
    assert v3.version > v2.version and v3.parent_version == v1.version
    assert (v3.sha256, v3.size, v3.metadata) == (v1.sha256, v1.size, {"epoch": 1})
    assert store.load("model") == {"w": 1}
    assert store.load("model", version=v2.version) == {"w": 2}
    assert [c.version for c in store.versions("model")] == [v3.version, v2.version, v1.version]

    big3 = store.rollback("bigmodel", big1.version)
    assert big3.blobs == big1.blobs and store.load("bigmodel") == BIG


def test_rollback_to_unknown_or_malformed_version_is_refused(store):
    store.save("model", 1)
    with pytest.raises(CheckpointNotFound):
        store.rollback("model", mf.new_version())
    with pytest.raises(InvalidName, match="not a version id"):
        store.rollback("model", "latest")
    with pytest.raises(InvalidName):
        store.load("model", version="../../etc")


def test_delete_is_logical_and_history_stays(store):
    v1 = store.save("gone", {"x": 1})
    tombstone = store.delete("gone")
    assert tombstone.deleted and mf.is_tombstone(tombstone.version)
    assert not store.exists("gone")
    with pytest.raises(CheckpointNotFound) as info:
        store.load("gone")
    assert isinstance(info.value, KeyError) and "'gone'" in str(info.value)
    assert not str(info.value).startswith('"')  # a sentence, not a repr-quoted KeyError
    with pytest.raises(CheckpointNotFound):
        store.info("gone")
    assert [c.version for c in store.versions("gone")] == [v1.version]
    assert [c.deleted for c in store.versions("gone", include_deleted=True)] == [True, False]
    assert store.load("gone", version=v1.version) == {"x": 1}  # history stays
    with pytest.raises(CheckpointNotFound, match="deletion marker"):
        store.load("gone", version=tombstone.version)
    with pytest.raises(CheckpointNotFound):
        store.delete("gone")
    store.rollback("gone", v1.version)  # undelete
    assert store.exists("gone") and store.load("gone") == {"x": 1}


def test_save_after_delete_starts_fresh_and_older_history_is_not_served(store):
    store.save("n", 1)
    store.delete("n")
    store.save("n", 2)
    assert store.load("n") == 2
    assert [c.deleted for c in store.versions("n", include_deleted=True)] == [False, True, False]


def test_clear_prefix_only_touches_that_prefix(store):
    for name in ("tmp/a", "tmp/b", "tmpx", "keep/c"):
        store.save(name, name)
    assert store.clear("tmp/") == 2
    assert [c.name for c in store.list()] == ["keep/c", "tmpx"]
    assert store.versions("tmp/a")  # history stays
    assert store.clear() == 2
    assert store.list() == [] and store.latest() is None
    assert store.clear() == 0


# -- listing -------------------------------------------------------------------------------------

def test_list_latest_heads_and_exists(store):
    store.save("runs/1/model", {"w": 1})
    current = store.save("runs/1/model", {"w": 2})
    other = store.save("runs/2/model", b"weights")
    store.save("runsX", 1)
    newest = store.save("other/thing", [1])

    listed = store.list("runs/")
    assert [(c.name, c.version) for c in listed] == [("runs/1/model", current.version),
                                                    ("runs/2/model", other.version)]
    assert [c.name for c in store.list("runs")] == ["runs/1/model", "runs/2/model", "runsX"]
    assert [c.name for c in store.list()] == ["other/thing", "runs/1/model", "runs/2/model", "runsX"]
    assert store.heads("runs/") == {"runs/1/model": current.version, "runs/2/model": other.version}
    assert [c.size for c in store.list("runs/", detail=True)] == [current.size, other.size]
    assert store.latest() == newest
    assert store.latest("runs/") == other
    assert store.latest("nothing/") is None
    assert store.exists("runs/1/model") and not store.exists("runs/1")
    assert not store.exists("runs/1/model/x") and not store.exists("runs")


def test_info_of_missing_name_raises(store):
    with pytest.raises(CheckpointNotFound, match="no checkpoint named 'nope'"):
        store.info("nope")
    with pytest.raises(CheckpointNotFound):
        store.load("nope")
    with pytest.raises(KeyError):
        store.load("nope")


# -- names and data refused before any I/O ------------------------------------------------------

BAD_NAMES = [
    ("", "empty"),
    ("/abs", "starts with '/'"),
    ("a//b", "empty segment"),
    ("a/", "ends with '/'"),
    ("a/../b", "'..' segment"),
    ("..", "'..' segment"),
    ("./a", "'.' segment"),
    ("a\\b", "backslash"),
    ("a\nb", "control character"),
    ("a\x00b", "control character"),
    ("tab\there", "control character"),
    ("a\x7f", "control character"),
    ("v@1", "reserved"),
    ("x" * 1000, "too long"),
    ("é" * 490, "too long"),  # 980 bytes in UTF-8: the full key passes 1,024
    ("\ud800", "UTF-8"),
    (42, "must be a str"),
    (None, "must be a str"),
]


@pytest.mark.parametrize("name,rule", BAD_NAMES, ids=[r for _, r in BAD_NAMES])
def test_bad_names_are_refused_naming_the_rule(store, name, rule):
    for call in (lambda: store.save(name, 1), lambda: store.load(name),
                 lambda: store.exists(name), lambda: store.info(name),
                 lambda: store.versions(name), lambda: store.delete(name)):
        with pytest.raises(InvalidName, match=rule) as info:
            call()
        assert isinstance(info.value, ValueError)
    assert store.list() == []


def test_longest_allowed_name_works(store):
    limit = 1024 - len(mf.longest_manifest_key(store.prefix, ""))
    name = "/".join(["n" * 199] * (limit // 200 + 1))[:limit]  # segments fit file systems too
    assert len(name) == limit and not name.endswith("/")
    store.save(name, 1)
    assert store.load(name) == 1
    with pytest.raises(InvalidName, match="too long"):
        store.save(name + "n", 1)


class Color(enum.IntEnum):
    RED = 1


class Thing:
    pass


cycle: list[Any] = []
cycle.append(cycle)

REFUSED = [
    ({1, 2}, "set"),
    ((1, 2), "tuple"),
    (Thing(), "Thing"),
    (float("nan"), "NaN"),
    ({"x": [float("inf")]}, "infinity"),
    ({1: "a"}, "key 1"),
    (Color.RED, "Color"),
    (cycle, "cycle"),
    (dt.date(2024, 1, 1), "date"),
]


@pytest.mark.parametrize("value,why", REFUSED, ids=[w for _, w in REFUSED])
def test_data_that_does_not_round_trip_is_refused_unless_pickled(store, value, why):
    with pytest.raises(InvalidData, match=why) as info:
        store.save("refused", value)
    assert isinstance(info.value, TypeError) and "pickle" in str(info.value)
    assert not store.exists("refused")
    store.save("refused", value, serializer="pickle")
    loaded = store.load("refused", allow_pickle=True)
    if why == "Thing":
        assert type(loaded) is Thing and loaded is not value
    elif why == "NaN":
        assert math.isnan(loaded)
    elif why == "cycle":
        assert loaded[0] is loaded
    else:
        assert loaded == value and type(loaded) is type(value)


def test_pickle_needs_opt_in_on_load(store):
    store.save("p", {"s": {1, 2}}, serializer="pickle")
    with pytest.raises(InvalidData, match="allow_pickle=True"):
        store.load("p")
    assert store.load("p", allow_pickle=True) == {"s": {1, 2}}
    assert store.info("p").serializer == "pickle"


def test_unknown_or_mismatched_serializer_is_refused(store):
    with pytest.raises(InvalidData, match="unknown serializer 'yaml'"):
        store.save("s", 1, serializer="yaml")
    with pytest.raises(InvalidData, match="raw"):
        store.save("s", {"a": 1}, serializer="raw")
    with pytest.raises(InvalidData):
        store.save("s", b"bytes", serializer="json")
    store.save("s", {"a": 1}, serializer="json")
    assert store.load("s") == {"a": 1}


# -- integrity -------------------------------------------------------------------------------------

def test_changed_blob_falls_back_to_older_verified_version(store, caplog):
    good = store.save("ckpt", BIG[:-1] + b"A")
    bad = store.save("ckpt", BIG[:-1] + b"B")
    overwrite(store, store.regions[0], blob_key(store, bad), BIG[:-1] + b"X")
    caplog.set_level(logging.WARNING, logger="recovery_lib")

    data, served = store.load_with_info("ckpt")

    assert data == BIG[:-1] + b"A"
    assert served.version == good.version and served.region == store.regions[0]
    assert "does not verify" in caplog.text and good.version in caplog.text
    with pytest.raises(IntegrityError, match="does not verify"):
        store.load("ckpt", version=bad.version)  # pinned: never the wrong bytes


def test_changed_manifest_is_detected(store, caplog):
    good = store.save("cfg", {"lr": 0.1})
    bad = store.save("cfg", {"lr": 0.2})
    key = manifest_key(store, bad)
    head = mf.head_key(store.prefix, "cfg")  # the head holds the current version's manifest
    body = json.loads(stored(store, store.regions[0], key))
    body["metadata"] = {"tampered": True}  # still valid JSON, checksum no longer matches
    overwrite(store, store.regions[0], key, json.dumps(body).encode())
    overwrite(store, store.regions[0], head, json.dumps(body).encode())

    # The current version's record does not verify; its id says it was a plain save, so
    # the version committed before it is an acceptable fallback.
    data, served = store.load_with_info("cfg")
    assert data == {"lr": 0.1} and served.version == good.version
    with pytest.raises(IntegrityError, match="checksum"):
        store.load("cfg", version=bad.version)
    with pytest.raises(IntegrityError):
        store.info("cfg", version=bad.version)
    overwrite(store, store.regions[0], key, b"\x00garbage")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        store.load("cfg", version=bad.version)
    assert [c.version for c in store.versions("cfg", detail=True)] == [good.version]


def test_inline_content_changed_consistently_with_checksum_still_fails_sha256(store):
    checkpoint = store.save("inline", {"a": 1})
    key = manifest_key(store, checkpoint)
    forged = mf.Manifest(name="inline", version=checkpoint.version,
                         created_at=checkpoint.created_at, origin_region="x", serializer="json",
                         sha256=checkpoint.sha256, size=checkpoint.size, inline=b'{"a":2}')
    overwrite(store, store.regions[0], key, mf.encode(forged))
    overwrite(store, store.regions[0], mf.head_key(store.prefix, "inline"), mf.encode(forged))
    with pytest.raises(IntegrityError, match="does not verify"):
        store.load("inline")


def test_every_copy_bad_raises_integrity_error(store):
    checkpoint = store.save("only", BIG)
    for region in store.regions:
        overwrite(store, region, blob_key(store, checkpoint), b"not it")
    with pytest.raises(IntegrityError, match="no verified copy"):
        store.load("only")


def test_missing_blob_is_not_served(store):
    checkpoint = store.save("blobless", BIG)
    store.backend(store.regions[0]).delete(blob_key(store, checkpoint))
    with pytest.raises(CheckpointNotFound):
        store.load("blobless")


# -- files -----------------------------------------------------------------------------------

def test_save_file_and_load_file_stream_and_verify(store, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(BIG * 3)
    moved: list[int] = []
    checkpoint = store.save_file("files/w", source, metadata={"kind": "weights"},
                                 progress=moved.append)
    assert checkpoint.size == len(BIG) * 3 and sum(moved) == checkpoint.size
    assert checkpoint.sha256 == hashlib.sha256(BIG * 3).hexdigest()
    assert checkpoint.serializer == "raw" and checkpoint.metadata == {"kind": "weights"}

    dest = tmp_path / "out" / "w.bin"
    dest.parent.mkdir()
    loaded = store.load_file("files/w", dest)
    assert dest.read_bytes() == BIG * 3 and loaded.version == checkpoint.version
    assert store.load("files/w") == BIG * 3
    assert sorted(p.name for p in dest.parent.iterdir()) == ["w.bin"]

    small = tmp_path / "small.txt"
    small.write_bytes(b"tiny")
    tiny = store.save_file("files/small", small)
    assert tiny.inline
    store.load_file("files/small", dest, version=tiny.version)
    assert dest.read_bytes() == b"tiny"


def test_load_file_never_leaves_unverified_dest(store, tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(BIG)
    checkpoint = store.save_file("files/x", source)
    overwrite(store, store.regions[0], blob_key(store, checkpoint), BIG[:-1] + b"!")
    for region in store.regions[1:]:
        overwrite(store, region, blob_key(store, checkpoint), b"also wrong")
    dest = tmp_path / "out" / "dest.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous content")
    with pytest.raises(IntegrityError):
        store.load_file("files/x", dest)
    assert dest.read_bytes() == b"previous content"
    assert [p.name for p in dest.parent.iterdir()] == ["dest.bin"]  # no temp file left


def test_file_changed_while_saving_commits_nothing(store, tmp_path, monkeypatch):
    import recovery_lib.store.commits as store_module

    source = tmp_path / "moving.bin"
    source.write_bytes(BIG)
    real_hash = store_module._hash_file

    def hash_then_change(path):
        digest = real_hash(path)
        path.write_bytes(BIG[:-1] + b"?")  # same size, other bytes
        return digest

    monkeypatch.setattr(store_module, "_hash_file", hash_then_change)
    with pytest.raises(IntegrityError, match="changed while it was being saved"):
        store.save_file("files/moving", source)
    assert not store.exists("files/moving")
    key = mf.blob_key(store.prefix, hashlib.sha256(BIG).hexdigest())
    assert store.backend(store.regions[0]).head(key) is None  # the bad blob was removed


@pytest.mark.parametrize("size", [4, len(BIG)], ids=["inline", "blob"])
def test_load_file_gives_the_mode_of_a_newly_created_file(store, tmp_path, umask, size):
    """Issue 10 point 6: the restored file gets 0666 & ~umask (what ``open(..., "w")``,
    ``cp`` or boto3's ``download_file`` give a new file), not tempfile's 0600; replacing an
    existing file still goes through a temporary file and a rename."""
    source = tmp_path / "src.bin"
    source.write_bytes(BIG[:size])
    store.save_file("files/mode", source)
    out = tmp_path / "out"
    out.mkdir()
    reference = out / "reference"
    reference.write_bytes(b"")  # a file created normally under the same umask
    dest = out / "restored.bin"
    store.load_file("files/mode", dest)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(dest.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)

    dest.chmod(0o600)  # an existing file is replaced, not written in place
    inode = dest.stat().st_ino
    store.load_file("files/mode", dest)
    assert dest.read_bytes() == BIG[:size] and dest.stat().st_ino != inode
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in out.iterdir()) == ["reference", "restored.bin"]


def test_load_file_into_missing_directory_is_refused(store, tmp_path):
    store.save("f", b"x")
    with pytest.raises(FileNotFoundError):
        store.load_file("f", tmp_path / "no" / "such" / "dir" / "f")


# -- concurrency ---------------------------------------------------------------------------------

def test_concurrent_saves_of_one_name_lose_nothing(store):
    errors: list[BaseException] = []
    saved: list[Checkpoint] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            for i in range(8):
                checkpoint = store.save("shared", {"worker": n, "i": i})
                with lock:
                    saved.append(checkpoint)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = [c.version for c in store.versions("shared")]
    assert len(versions) == len(set(versions)) == 48
    assert set(versions) == {c.version for c in saved}
    for checkpoint in saved[::7]:
        assert store.load("shared", version=checkpoint.version)["worker"] in range(6)


def test_version_collision_retries_with_a_new_version(store, monkeypatch):
    first = store.save("race", 1)
    fresh = iter([first.version])
    real = mf.new_version
    monkeypatch.setattr(mf, "new_version",
                        lambda **kw: next(fresh, None) or real(**kw))
    second = store.save("race", 2)
    assert second.version != first.version
    assert store.load("race", version=first.version) == 1 and store.load("race") == 2


def test_conflicts_every_time_give_up_with_conflict_error(store, monkeypatch):
    taken = store.save("race", 1).version
    monkeypatch.setattr(mf, "new_version", lambda **kw: taken)
    with pytest.raises(ConflictError, match="already taken"):
        store.save("race", 2)
    assert store.load("race") == 1


def test_errors_share_one_base(store):
    with pytest.raises(RecoveryError):
        store.load("missing")
    with pytest.raises(RecoveryError):
        store.save("", 1)
    with pytest.raises(RecoveryError):
        store.save("x", {1, 2})
