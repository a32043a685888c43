"""Corruption: flipped bytes, truncation and swapped content, in the primary, the secondary
or both, of a content blob, of a manifest, and of a manifest with inlined content.

A "manifest" corruption hits the version's commit record: its manifest in history and the
name's head record, which holds the same manifest (issue 10: the head is the commit).

Expected: every corruption is detected. A load serves the same version from the other
region when it verifies there, else (no version pinned) the previous verified version;
a pinned load raises IntegrityError. Never bytes that do not verify.
"""
from __future__ import annotations

import itertools
import os

import pytest

from recovery_lib import IntegrityError, S3Options
from recovery_lib import manifest as mf

pytestmark = pytest.mark.slow

SIZE = 400 * 1024  # a blob (above the 256 KiB inline limit)


def flip(body: bytes, other: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]


def truncate(body: bytes, other: bytes) -> bytes:
    return body[: len(body) // 2]


def swap(body: bytes, other: bytes) -> bytes:
    return other


CORRUPTIONS = {"flip": flip, "truncate": truncate, "swap": swap}
TARGETS = ("blob", "manifest", "inline-manifest")
WHERE = ("primary", "secondary", "both")
_cases = itertools.count()


@pytest.fixture(scope="module")
def pair(moto_server):
    from tests.reliability.conftest import Buckets

    return Buckets(moto_server.url)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
@pytest.mark.parametrize("target", TARGETS)
def test_corruption_is_detected_and_never_served(pair, target, corruption, where, tmp_path):
    store = pair.store(S3Options(breaker_cooldown=600))
    name = f"corrupt/{next(_cases)}/{target}"
    # Fresh content per case: blobs are content-addressed and shared between checkpoints.
    if target == "inline-manifest":
        old_data, new_data = {"v": 1, "case": name}, {"v": 2, "case": name}
    else:
        old_data, new_data = os.urandom(SIZE), os.urandom(SIZE)
    old = store.save(name, old_data)
    new = store.save(name, new_data)
    other = store.save(f"{name}-other", os.urandom(SIZE))
    prefix = store.prefix
    for checkpoint in (old, new, other):  # replicate this case's objects (moto does not)
        keys = [mf.manifest_key(prefix, checkpoint.name, checkpoint.version)]
        keys += [mf.blob_key(prefix, checkpoint.sha256)] if target != "inline-manifest" or checkpoint is other else []
        keys.append(mf.head_key(prefix, checkpoint.name))
        for k in keys:
            pair.put("secondary", k, pair.get("primary", k))
    if target == "blob":
        targets = [(mf.blob_key(prefix, new.sha256), mf.blob_key(prefix, other.sha256))]
    else:
        targets = [(mf.manifest_key(prefix, name, new.version),
                    mf.manifest_key(prefix, f"{name}-other", other.version)),
                   (mf.head_key(prefix, name), mf.head_key(prefix, f"{name}-other"))]
    regions = ("primary", "secondary") if where == "both" else (where,)
    for region in regions:
        for key, other_key in targets:
            pair.put(region, key, CORRUPTIONS[corruption](pair.get(region, key),
                                                          pair.get(region, other_key)))

    # Unpinned load: the new version from the intact region, else the old verified one.
    data, info = store.load_with_info(name)
    if where == "primary":
        assert (data, info.version, info.region) == (new_data, new.version, "secondary")
    elif where == "secondary":
        assert (data, info.version, info.region) == (new_data, new.version, "primary")
    else:
        assert (data, info.version) == (old_data, old.version)
    # Pinned to the corrupted version: served only where it verifies.
    if where == "both":
        with pytest.raises(IntegrityError, match=new.version):
            store.load(name, version=new.version)
        dest = tmp_path / "out.bin"
        with pytest.raises(IntegrityError):
            store.load_file(name, dest, version=new.version)
        assert list(tmp_path.iterdir()) == []  # no file, no partial file
    else:
        assert store.load(name, version=new.version) == new_data
    # The secondary alone (primary region down, breaker open): what a restore would get.
    restorable = store.restorable(name)
    store.policy.record_failure("primary", "test: primary region down")
    data, info = store.load_with_info(name)
    if where == "primary":
        assert (data, info.version, info.region) == (new_data, new.version, "secondary")
        assert restorable is not None and restorable.version == new.version
    else:
        assert (data, info.version, info.region) == (old_data, old.version, "secondary")
        assert restorable is not None and restorable.version == old.version  # not DR-safe
        with pytest.raises(IntegrityError):
            store.load(name, version=new.version)
