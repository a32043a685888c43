"""Prune and garbage collection over two in-memory regions (emulated clock, replication by
hand): what a restore in either region needs is never removed."""
from __future__ import annotations

import hashlib

import pytest

from recovery_lib import CheckpointNotFound, ConfigError, RegionUnavailable
from recovery_lib import gc, lifecycle
from recovery_lib import manifest as mf
from recovery_lib.retention import RetentionPolicy

from tests.lifecycle.support import DAY, payload, regions

NAME = "run/model"


def _saves(r, count, name=NAME, start=0):
    return [r.store.save(name, payload(i)).version for i in range(start, start + count)]


def _blob_keys(backend):
    return {k for k, _ in backend.list("blobs/")}


def test_prune_retires_logically_and_gc_removes_in_both_regions():
    r = regions()
    versions = _saves(r, 5)
    r.replicate()
    dry = lifecycle.prune(r.store, RetentionPolicy(keep_last=2))
    assert dry.dry_run and [v for _, v in dry.retired] == versions[:3]
    assert not list(r.primary.list("retired/"))  # a dry run writes nothing
    lifecycle.prune(r.store, {"keep_last": 2}, dry_run=False)
    assert r.store.load(NAME, version=versions[0]) == payload(0)  # logical: still loads
    r.replicate()
    young = gc.collect(r.store, clock=r.clock)  # everything is younger than the grace period
    assert young.regions["primary"].keys == 0 and young.regions["primary"].young > 0
    r.clock.advance(2 * DAY)
    report = gc.collect(r.store, clock=r.clock)
    for region, backend in (("primary", r.primary), ("secondary", r.secondary)):
        out = report.regions[region]
        assert len(out.manifests) == 3 and len(out.blobs) == 3 and len(out.markers) == 3
        assert out.delete_requests == 2 and not out.errors
        assert _blob_keys(backend) == {mf.blob_key("", hashlib.sha256(payload(i)).hexdigest())
                                       for i in (3, 4)}
    for store in (r.store, r.secondary_store()):
        assert store.load(NAME) == payload(4)
        assert store.load(NAME, version=versions[3]) == payload(3)
        with pytest.raises(CheckpointNotFound):
            store.load(NAME, version=versions[0])


def test_pin_undoes_a_retirement_until_gc():
    r = regions()
    versions = _saves(r, 3)
    r.replicate()
    lifecycle.prune(r.store, {"keep_last": 1}, dry_run=False)
    lifecycle.pin(r.store, NAME, versions[0])
    again = lifecycle.prune(r.store, {"keep_last": 1}, dry_run=True)
    assert versions[0] not in again.plans[NAME].retire
    r.clock.advance(2 * DAY)
    gc.collect(r.store, clock=r.clock)
    assert r.store.load(NAME, version=versions[0]) == payload(0)
    with pytest.raises(CheckpointNotFound):
        r.store.load(NAME, version=versions[1])


def test_gc_during_replication_lag_keeps_the_newest_dr_safe_version_in_the_secondary():
    """v0..v2 fully replicated; v3's manifest arrived without its blob; v4 not at all. The
    newest DR-safe version is v2: prune and GC must keep it, in BOTH regions (a delete in
    the primary replicates as a delete marker and would hide it in the secondary too)."""
    r = regions()
    versions = _saves(r, 3)
    r.replicate()
    versions += _saves(r, 2, start=3)
    v3_manifest = mf.manifest_key("", NAME, versions[3])
    r.replicate(only=lambda key: key == v3_manifest)
    assert r.store.restorable(NAME).version == versions[2]
    report = lifecycle.prune(r.store, {"keep_last": 1}, dry_run=False)
    assert report.plans[NAME].retire == (versions[0], versions[1], versions[3])
    assert "protected" in report.plans[NAME].reasons[versions[2]]
    r.clock.advance(2 * DAY)
    gc.collect(r.store, clock=r.clock)
    r.replicate(only=lambda key: key.startswith("retired/"))  # delete markers replicate
    assert r.store.restorable(NAME).version == versions[2]
    assert r.secondary_store().load(NAME, version=versions[2]) == payload(2)
    # GC protects it by itself too, even when a marker (an older prune) retired it
    r.primary.put(lifecycle.retired_key("", NAME, versions[2]), b"")
    r.replicate(only=lambda key: key.startswith("retired/"))
    r.clock.advance(2 * DAY)
    report = gc.collect(r.store, clock=r.clock)
    assert (NAME, versions[2]) in report.protected
    r.replicate(only=lambda key: key.startswith("retired/"))
    assert r.store.restorable(NAME).version == versions[2]
    r.replicate()  # replication catches up: the current version is DR-safe
    assert r.store.replication_status(NAME).dr_safe


def test_an_uncommitted_blob_survives_the_grace_period_then_goes():
    r = regions()
    _saves(r, 1)
    orphan = mf.blob_key("", "ab" * 32)
    r.primary.put(orphan, b"uploaded, never committed (a crash)")
    assert gc.collect(r.store, clock=r.clock, grace_seconds=3600).regions["primary"].blobs == []
    r.clock.advance(3601)
    assert gc.collect(r.store, clock=r.clock, grace_seconds=3600).regions["primary"].blobs == [orphan]
    assert r.primary.head(orphan) is None


def test_a_save_reusing_a_garbage_blob_while_gc_runs_keeps_it(monkeypatch):
    """GC lists again just before deleting: a commit made meanwhile (here a rollback to a
    retired version, which reuses its blob) keeps that blob."""
    r = regions()
    versions = _saves(r, 3)
    lifecycle.prune(r.store, {"keep_last": 1}, dry_run=False)
    r.clock.advance(2 * DAY)
    build = gc.build_view

    def racing_build(store, **kwargs):
        view = build(store, **kwargs)
        store.rollback(NAME, versions[0])  # commits after the view was built
        return view

    monkeypatch.setattr(gc, "build_view", racing_build)
    report = gc.collect(r.store, clock=r.clock)
    assert len(report.regions["primary"].blobs) == 1  # v1's; v0's blob is in use again
    assert r.store.load(NAME) == payload(0)


def test_an_unreadable_live_manifest_stops_blob_collection():
    r = regions()
    versions = _saves(r, 2)
    r.primary.put(mf.blob_key("", "cd" * 32), b"orphan")
    r.primary.put(mf.manifest_key("", NAME, versions[0]), b"{not json")
    r.clock.advance(2 * DAY)
    report = gc.collect(r.store, clock=r.clock)
    assert report.problems and report.regions["primary"].blobs == []


def test_dry_run_deletes_nothing_and_a_dead_region_stops_gc(monkeypatch):
    r = regions()
    _saves(r, 3)
    r.replicate()
    lifecycle.prune(r.store, {"keep_last": 1}, dry_run=False)
    r.clock.advance(2 * DAY)
    before = sorted(r.primary.list(""))
    report = gc.collect(r.store, clock=r.clock, dry_run=True)
    assert report.regions["primary"].keys == 6 and sorted(r.primary.list("")) == before

    def down(prefix):
        raise RegionUnavailable("secondary is down (test)")

    monkeypatch.setattr(r.secondary, "list_modified", down)
    with pytest.raises(RegionUnavailable):
        gc.collect(r.store, clock=r.clock)
    assert sorted(r.primary.list("")) == before


def test_bad_grace_period_is_refused():
    r = regions()
    with pytest.raises(ConfigError, match="-1"):
        gc.collect(r.store, clock=r.clock, grace_seconds=-1)


def test_a_save_committed_between_the_recheck_and_the_deletes_gets_its_blob_back(monkeypatch):
    r = regions()
    versions = _saves(r, 3)
    lifecycle.prune(r.store, {"keep_last": 1}, dry_run=False)
    r.clock.advance(2 * DAY)
    recheck = gc._recheck

    def late_commit(store, view, report, since):
        recheck(store, view, report, since)
        store.rollback(NAME, versions[0])  # reuses v0's blob, which is about to be deleted

    monkeypatch.setattr(gc, "_recheck", late_commit)
    report = gc.collect(r.store, clock=r.clock)
    restored = mf.blob_key("", hashlib.sha256(payload(0)).hexdigest())
    assert report.regions["primary"].restored == [restored]
    assert r.store.load(NAME) == payload(0)


def test_a_save_whose_reused_blob_is_collected_before_its_commit_uploads_it_again(monkeypatch):
    r = regions()
    r.store.save("other", payload(7))  # the blob exists: the next save reuses it
    key = mf.blob_key("", hashlib.sha256(payload(7)).hexdigest())
    advance = r.store._advance_head

    def collected_meanwhile(region, name, build, **kwargs):
        r.primary.delete(key)  # GC removed it after the save found it present
        return advance(region, name, build, **kwargs)

    monkeypatch.setattr(r.store, "_advance_head", collected_meanwhile)
    r.store.save(NAME, payload(7))
    assert r.primary.head(key) is not None and r.store.load(NAME) == payload(7)


def test_prune_never_retires_what_a_head_rollback_restored():
    r = regions()
    versions = _saves(r, 4)
    rolled = r.store.rollback(NAME, versions[0])
    r.replicate()
    report = lifecycle.prune(r.store, {"keep_last": 1}, dry_run=False)
    assert versions[0] in report.plans[NAME].keep and rolled.version in report.plans[NAME].keep
    assert set(report.plans[NAME].retire) == set(versions[1:])
    r.clock.advance(2 * DAY)
    gc.collect(r.store, clock=r.clock)
    assert r.store.load(NAME, version=versions[0]) == payload(0) == r.store.load(NAME)
