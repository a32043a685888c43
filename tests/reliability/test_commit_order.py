"""Issue 10, black-box over a moto server: commit order, outages, poisoned addresses, rollback.

Writers with different clocks run as separate processes (``store_child``); outages are a
fault proxy in front of the primary endpoint in ``blackhole`` mode.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recovery_lib import CheckpointNotFound, IntegrityError, S3Options
from recovery_lib import manifest as mf
from tests.reliability.conftest import Buckets
from tests.support.fault_proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
BIG = bytes(range(256)) * 2000  # 512 KB: above the inline limit, so a blob
OPTIONS = S3Options(connect_timeout=0.5, metadata_timeout=0.5, read_timeout=2.0, max_attempts=2,
                    breaker_cooldown=600)


def child(descriptor: dict[str, Any], skew: float, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.store_child", json.dumps(descriptor),
         str(skew), *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_writer_ten_minutes_fast_does_not_pin_current(buckets: Buckets):
    """The fast host saves first; then a host with a correct clock saves, rolls back and
    deletes. Each later commit is current (issue 10, point 1)."""
    fast = child(buckets.descriptor, 600, "save", "job/state", '{"from": "fast"}')["version"]
    store = buckets.store(OPTIONS)
    mine = store.save("job/state", {"from": "correct"})
    assert mf.version_time(fast) > mf.version_time(mine.version)  # the clocks disagree
    assert store.load("job/state") == {"from": "correct"}
    assert child(buckets.descriptor, 0, "load", "job/state")["data"] == {"from": "correct"}
    assert [c.version for c in store.versions("job/state")] == [mine.version, fast]
    rolled = store.rollback("job/state", fast)
    assert store.load("job/state") == {"from": "fast"} and rolled.parent_version == fast
    again = store.save("job/state", {"from": "correct", "n": 2})
    assert child(buckets.descriptor, 600, "load", "job/state")["version"] == again.version
    store.delete("job/state")
    assert not store.exists("job/state")
    assert not buckets.store(OPTIONS).exists("job/state")


def test_an_outage_write_is_loaded_by_a_fresh_process_after_failback(moto_server):
    """One-way replication (the descriptor's ``two_way`` is false): the save made in the
    secondary while the primary was black-holed is current for a fresh process after
    failback, and the primary holds it again (issue 10, point 2)."""
    with FaultProxy(moto_server.address) as proxy:
        buckets = Buckets(moto_server.url, primary_endpoint=proxy.url)
        assert buckets.descriptor["replication"]["two_way"] is False
        store = buckets.store(OPTIONS)
        store.save("job/state", {"step": 1})
        store.save("job/big", BIG)
        buckets.replicate()
        proxy.set_mode("blackhole")
        outage = store.save("job/state", {"step": 2})
        outage_big = store.save("job/big", BIG[::-1])
        assert outage.region == "secondary" and outage_big.region == "secondary"
        proxy.set_mode("pass")
        del store
        fresh = child(buckets.descriptor, 0, "load", "job/state")
        assert fresh == {"data": {"step": 2}, "version": outage.version, "region": "primary"}
        blob = mf.blob_key("checkpoints/", outage_big.sha256)
        assert buckets.get("primary", blob) == BIG[::-1]  # content copied back, verified
        report = {s.name: s for s in buckets.store(OPTIONS).replication_report()}
        assert report["job/state"].secondary_only == ()


def test_verify_reports_versions_only_in_the_secondary(moto_server):
    with FaultProxy(moto_server.address) as proxy:
        buckets = Buckets(moto_server.url, primary_endpoint=proxy.url)
        store = buckets.store(OPTIONS)
        store.save("job/state", {"step": 1})
        buckets.replicate()
        proxy.set_mode("blackhole")
        outage = store.save("job/state", {"step": 2})
        proxy.set_mode("pass")
        checker = buckets.store(OPTIONS)
        checker._reconcile_due = False  # look before reconciling
        status = checker.replication_status("job/state")
        assert status.secondary_only == (outage.version,) and not status.dr_safe
        assert any("reconcile" in m for m in status.missing)
        actions = checker.reconcile()
        assert any(outage.version in a for a in actions)
        assert checker.replication_status("job/state").secondary_only == ()


def test_a_poisoned_content_address_is_never_reused(buckets: Buckets, tmp_path):
    """Wrong bytes at the blob key of BIG (issue 10, point 3): a save of BIG does not trust
    them; it writes the content again, and the checkpoint loads."""
    import hashlib

    key = mf.blob_key("checkpoints/", hashlib.sha256(BIG).hexdigest())
    poison = bytes(len(BIG))  # right size, wrong bytes
    buckets.put("primary", key, poison)
    store = buckets.store(OPTIONS)
    saved = store.save("m", BIG)
    assert store.load("m", version=saved.version) == BIG
    assert buckets.get("primary", key) == BIG
    buckets.put("primary", key, poison)
    source = tmp_path / "w.bin"
    source.write_bytes(BIG)
    store.save_file("f", source)
    assert store.load("f") == BIG and buckets.get("primary", key) == BIG
    buckets.put("primary", key, poison)
    with pytest.raises(CheckpointNotFound, match="does not verify"):
        store.rollback("m", saved.version)  # a rollback reuses the blob: refused unverified


def test_rollback_then_bit_rot_never_serves_the_undone_version(buckets: Buckets):
    """Roll back from v2 to v1, then v1's blob rots: the unpinned load raises IntegrityError
    instead of serving v2, which the rollback moved away from (issue 10, point 4)."""
    import hashlib

    store = buckets.store(OPTIONS)
    v1 = store.save("m", BIG)
    store.save("m", BIG[::-1])
    store.rollback("m", v1.version)
    buckets.put("primary", mf.blob_key("checkpoints/", hashlib.sha256(BIG).hexdigest()),
                bytes(len(BIG)))
    with pytest.raises(IntegrityError):
        store.load("m")
    with pytest.raises(IntegrityError):
        buckets.store(OPTIONS).load("m")
