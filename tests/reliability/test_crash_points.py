"""Issue 10, adversarial review: crashes at exact protocol points, and replication lag at
the start of an outage. Black-box over a moto server: writers are separate processes,
SIGKILLed by the HTTP proxy in front of a region the moment a request took effect
(``tests/reliability/killer.py``); outages are the TCP fault proxy in ``blackhole`` mode.

- A writer killed right after its commit in the secondary (head CAS done, nothing after)
  must not lose that commit after failback.
- A save and a delete made during an outage whose secondary lagged behind the primary (a
  newer primary commit not replicated yet) are current after failback, and the split is
  logged naming both versions (docs/consistency.md, "Reconciliation").
- A writer killed between its head CAS and its history write: ``list``, ``heads`` and
  ``latest`` agree with ``load`` and ``exists``.
"""
from __future__ import annotations

import logging
import signal

import pytest

from recovery_lib import S3Options
from recovery_lib import manifest as mf
from tests.reliability.conftest import Buckets
from tests.reliability.http_fault_proxy import HttpFaultProxy
from tests.reliability.killer import Killer, head_put
from tests.reliability.test_commit_order import child
from tests.support.fault_proxy import FaultProxy

OPTIONS = S3Options(connect_timeout=0.5, metadata_timeout=0.5, read_timeout=2.0, max_attempts=2,
                    breaker_cooldown=600)
PREFIX = "checkpoints/"


def _head_version(buckets: Buckets, region: str, name: str) -> str:
    raw = buckets.get(region, mf.head_key(PREFIX, name))
    return mf.peek_version(raw, key=name)


def test_a_writer_killed_right_after_its_outage_commit_loses_nothing(moto_server):
    """The outage commit's head CAS took effect in the secondary; the writer died before
    doing anything else. After failback a fresh process loads that commit."""
    killer = Killer(head_put("job/state"))
    with FaultProxy(moto_server.address) as primary, \
            HttpFaultProxy(moto_server.address, rate=0.0, on_response=killer.hook) as secondary:
        buckets = Buckets(moto_server.url, primary_endpoint=primary.url,
                          secondary_endpoint=secondary.url)
        buckets.store(OPTIONS).save("job/state", {"step": 1})
        buckets.replicate()
        primary.set_mode("blackhole")
        assert killer.run(buckets.descriptor, "save", "job/state", '{"step": 2}') == -signal.SIGKILL
        committed = _head_version(buckets, "secondary", "job/state")
        assert mf.version_seq(committed) == 2  # the commit took effect in the secondary
        primary.set_mode("pass")
        fresh = child(buckets.descriptor, 0, "load", "job/state")
        assert fresh["data"] == {"step": 2}
        assert fresh["region"] == "primary"


def test_outage_commits_after_replication_lag_are_current_after_failback(moto_server, caplog):
    """The primary committed v2 of both names; the secondary had only v1 when the outage
    began. The outage save (of one) and delete (of the other) are what happened last as far
    as the store can tell: after failback they are current, not the primary's v2, and the
    split is logged with both versions."""
    with FaultProxy(moto_server.address) as primary:
        buckets = Buckets(moto_server.url, primary_endpoint=primary.url)
        store = buckets.store(OPTIONS)
        store.save("job/state", {"step": 1})
        store.save("job/gone", {"keep": 1})
        buckets.replicate()
        for _ in range(2):  # never replicated: the primary's heads reach seq 3
            lagging = {"state": store.save("job/state", {"step": 2}).version,
                       "gone": store.save("job/gone", {"keep": 2}).version}
        primary.set_mode("blackhole")
        outage = store.save("job/state", {"step": 3})
        deleted = store.delete("job/gone")
        assert outage.region == "secondary" and deleted.region == "secondary"
        assert mf.version_seq(outage.version) == 2  # based on the stale secondary head
        primary.set_mode("pass")
        del store
        with caplog.at_level(logging.WARNING, logger="recovery_lib"):
            actions = buckets.store(OPTIONS).reconcile()
        assert actions
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any(lagging["state"] in m and outage.version in m for m in warned), warned
        fresh = child(buckets.descriptor, 0, "load", "job/state")
        assert fresh["data"] == {"step": 3} and fresh["region"] == "primary"
        assert mf.version_seq(fresh["version"]) == 4  # replayed on top of the primary's head
        checker = buckets.store(OPTIONS)
        assert not checker.exists("job/gone")
        assert "job/gone" not in checker.heads()
        # both histories are kept: the lagging versions stay loadable by version
        assert checker.load("job/state", version=lagging["state"]) == {"step": 2}
        assert checker.load("job/gone", version=lagging["gone"]) == {"keep": 2}


@pytest.mark.parametrize("action", ["save", "delete"])
def test_listings_agree_with_load_after_a_crash_before_the_history_write(moto_server, action):
    """The writer is killed when its head CAS took effect in the primary, before the history
    manifest is written. ``heads``/``list``/``latest`` say what ``load``/``exists`` say."""
    killer = Killer(head_put("job/a"))
    with HttpFaultProxy(moto_server.address, rate=0.0, on_response=killer.hook) as primary:
        buckets = Buckets(moto_server.url, primary_endpoint=primary.url)
        store = buckets.store(OPTIONS)
        store.save("job/a", {"n": 1})
        store.save("job/b", {"n": 1})
        args = ("save", "job/a", '{"n": 2}') if action == "save" else ("delete", "job/a")
        assert killer.run(buckets.descriptor, *args) == -signal.SIGKILL
        head = _head_version(buckets, "primary", "job/a")
        assert mf.version_seq(head) == 2
        history = mf.manifest_key(PREFIX, "job/a", head)
        assert history not in buckets.keys("primary")  # the crash point: no history record
        fresh = buckets.store(OPTIONS)
        fresh._reconcile_due = False
        heads = fresh.heads()
        listed = {c.name: c.version for c in fresh.list()}
        latest = fresh.latest()
        if action == "save":
            assert fresh.load("job/a") == {"n": 2} and fresh.exists("job/a")
            assert heads["job/a"] == head and listed["job/a"] == head
            assert latest is not None and latest.name == "job/a" and latest.version == head
        else:
            assert not fresh.exists("job/a")
            assert "job/a" not in heads and "job/a" not in listed
            assert latest is not None and latest.name == "job/b"
        assert set(heads) == set(listed)
