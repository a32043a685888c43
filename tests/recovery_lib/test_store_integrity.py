"""Issue 10, points 8 and 9, plus commit-order units: bounded reads, signed manifests,
clock skew and rollback lineage over every backend."""
from __future__ import annotations

import hashlib
import logging
import time

import pytest

from recovery_lib import CheckpointStore, ConfigError, IntegrityError
from recovery_lib import manifest as mf
from recovery_lib import signing
from recovery_lib.backends.memory import MemoryBackend

BIG = bytes(range(256)) * 1500  # 384 KB: a blob
KEY = bytes(range(32))


# -- 8: the size is compared before the object is read ---------------------------------------

class CountingBackend(MemoryBackend):
    """Records how many content bytes each download handed to its sink."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered = 0

    def download(self, key, sink, *, progress=None, expected_size=None):  # type: ignore[override]
        class Counting:
            def __init__(self, outer):
                self.outer = outer

            def write(self, data):
                self.outer.delivered += len(data)
                return sink.write(data)

            def seekable(self):
                return False

        super().download(key, Counting(self), progress=progress, expected_size=expected_size)


def test_a_replaced_huge_blob_is_refused_before_any_byte_is_read():
    backend = CountingBackend()
    store = CheckpointStore(backend)
    saved = store.save("m", BIG)
    backend.put(mf.blob_key("", saved.sha256), b"x" * (8 * len(BIG)))
    backend.delivered = 0
    with pytest.raises(IntegrityError, match="expected"):
        store.load("m")
    assert backend.delivered == 0


def test_s3_download_checks_content_length_before_reading(store):
    saved = store.save("m", BIG)
    store.backend(store.regions[0]).put(mf.blob_key(store.prefix, saved.sha256), BIG + b"tail")
    for region in store.regions[1:]:
        store.backend(region).put(mf.blob_key(store.prefix, saved.sha256), BIG + b"tail")
    with pytest.raises(IntegrityError):
        store.load("m", version=saved.version)


def test_an_oversized_manifest_is_not_read():
    backend = MemoryBackend()
    store = CheckpointStore(backend)
    saved = store.save("m", 1)
    backend.put(mf.manifest_key("", "m", saved.version), b" " * (mf.MAX_MANIFEST_BYTES + 1))
    with pytest.raises(IntegrityError, match="more than"):
        store.load("m", version=saved.version)


# -- 9: authenticated manifests -----------------------------------------------------------------

def test_signed_store_refuses_unsigned_and_badly_signed_manifests():
    backend = MemoryBackend()
    unsigned = CheckpointStore(backend)
    unsigned.save("a", {"v": 1})
    signed = CheckpointStore(backend, manifest_key=KEY)
    with pytest.raises(IntegrityError, match="not signed"):
        signed.load("a")
    signed.save("b", {"v": 2})
    assert signed.load("b") == {"v": 2}
    assert unsigned.load("b") == {"v": 2}  # a reader without the key still verifies checksums
    other = CheckpointStore(backend, manifest_key=bytes(32))
    with pytest.raises(IntegrityError, match="signature"):
        other.load("b")
    # a job role that may write the prefix forges a manifest with a valid checksum
    forged = mf.Manifest(name="b", version=mf.new_version(seq=9), created_at=mf.version_time(
        mf.new_version()), origin_region="memory", serializer="json",
        sha256=hashlib.sha256(b'{"v":666}').hexdigest(), size=9, inline=b'{"v":666}')
    backend.put(mf.head_key("", "b"), mf.encode(forged))
    assert unsigned.load("b") == {"v": 666}  # what the checksum alone cannot stop
    with pytest.raises(IntegrityError, match="not signed"):
        signed.load("b")


def test_manifest_key_from_environment(monkeypatch):
    monkeypatch.setenv(signing.ENV_VAR, KEY.hex())
    backend = MemoryBackend()
    CheckpointStore(backend).save("a", 1)
    monkeypatch.delenv(signing.ENV_VAR)
    with pytest.raises(IntegrityError, match="signature"):
        CheckpointStore(backend, manifest_key=bytes(32)).load("a")
    monkeypatch.setenv(signing.ENV_VAR, "abcd")
    with pytest.raises(ConfigError, match="at least 32"):
        CheckpointStore(backend)
    monkeypatch.setenv(signing.ENV_VAR, "not base64 !!")
    with pytest.raises(ConfigError, match="neither hex nor base64"):
        CheckpointStore(backend)


def test_loading_pickle_without_a_key_warns_once(caplog):
    store = CheckpointStore.memory()
    store.save("p", {1, 2}, serializer="pickle")
    caplog.set_level(logging.WARNING, logger="recovery_lib")
    for _ in range(3):
        assert store.load("p", allow_pickle=True) == {1, 2}
    assert caplog.text.count("without a manifest key") == 1
    caplog.clear()
    signed = CheckpointStore(MemoryBackend(), manifest_key=KEY)
    signed.save("p", {1}, serializer="pickle")
    signed.load("p", allow_pickle=True)
    assert "without a manifest key" not in caplog.text


# -- 1 and 4 over every backend: commit order and rollback lineage -------------------------------

def test_a_fast_clock_does_not_pin_current(store, tmp_path):
    fast = CheckpointStore(store.backend(store.regions[0]), prefix=store.prefix,
                           wall_clock=lambda: time.time_ns() + 600 * 10**9)
    early = fast.save("s", "fast")
    late = store.save("s", "correct")
    assert mf.version_time(early.version) > mf.version_time(late.version)
    assert store.load("s") == "correct" == fast.load("s")
    assert store.heads() == {"s": late.version}
    store.delete("s")
    assert not fast.exists("s")


def test_rollback_then_bit_rot_raises_instead_of_serving_the_undone_version(store):
    v1 = store.save("m", BIG)
    store.save("m", BIG[::-1])
    store.rollback("m", v1.version)
    for region in store.regions:
        store.backend(region).put(mf.blob_key(store.prefix, v1.sha256), bytes(len(BIG)))
    with pytest.raises(IntegrityError, match="lineage"):
        store.load("m")


def test_bit_rot_after_a_plain_save_falls_back_to_the_previous_version(store):
    v1 = store.save("m", BIG)
    v2 = store.save("m", BIG[::-1])
    for region in store.regions:
        store.backend(region).put(mf.blob_key(store.prefix, v2.sha256), bytes(len(BIG)))
    data, served = store.load_with_info("m")
    assert data == BIG and served.version == v1.version


def test_fallback_never_crosses_a_deletion(store):
    store.save("m", BIG)
    store.delete("m")
    v3 = store.save("m", BIG[::-1])
    for region in store.regions:
        store.backend(region).put(mf.blob_key(store.prefix, v3.sha256), bytes(len(BIG)))
    with pytest.raises(IntegrityError):
        store.load("m")


def test_a_poisoned_blob_is_rewritten_not_reused(store):
    key = mf.blob_key(store.prefix, hashlib.sha256(BIG).hexdigest())
    store.backend(store.regions[0]).put(key, bytes(len(BIG)))
    saved = store.save("m", BIG)
    assert store.load("m", version=saved.version) == BIG


def test_a_store_written_by_the_old_format_keeps_loading():
    """A legacy store: schema 1 manifests, clock-ordered ids, no head records."""
    import base64
    import json

    backend = MemoryBackend()
    for n, value in enumerate([b'{"v":1}', b'{"v":2}']):
        version = f"{1795592918498034055 + n}-0000000{n}"
        body = {"schema": 1, "name": "old", "version": version,
                "created_at": mf.version_time(version).isoformat(), "origin_region": "memory",
                "serializer": "json", "sha256": hashlib.sha256(value).hexdigest(),
                "size": len(value), "metadata": {}, "blobs": [],
                "inline": base64.b64encode(value).decode(), "parent_version": None,
                "deleted": False}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        body["checksum"] = hashlib.sha256(canonical).hexdigest()
        backend.put(mf.manifest_key("", "old", version), json.dumps(body).encode())
    store = CheckpointStore(backend)
    assert store.load("old") == {"v": 2} and store.exists("old")
    new = store.save("old", {"v": 3})  # the first commit with a head orders after them all
    assert store.load("old") == {"v": 3}
    assert [c.version for c in store.versions("old")][0] == new.version
    store.rollback("old", "1795592918498034055-00000000")
    assert store.load("old") == {"v": 1}
