"""Verdicts that a broken drill cannot fake.

Each test names, in its docstring, the mutation of the drill code it exists to catch: the
change was applied by hand and this test failed (the others stayed green, which is why
the test was written). The scenarios run on the simulated platform of ``fake_world`` so
that only the one thing under test is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recovery_lib.drill.plan import Fault, parse_plan
from recovery_lib.drill.runner import Drill, revert_journal

from .fake_world import FakeAdapter, World

TIMEOUTS = {"detection_seconds": 200, "dns_seconds": 200, "compute_seconds": 200,
            "data_seconds": 100, "drain_seconds": 600}


def run_drill(world: World, tmp_path: Path, plan: dict | None = None):
    adapter = FakeAdapter(world)
    drill = Drill(world.descriptor, parse_plan({"timeouts": TIMEOUTS, **(plan or {})}), adapter,
                  store_factory=world.store, report_dir=tmp_path / "report", poll_seconds=1.0)
    return drill.run(), adapter


# -- RPO -------------------------------------------------------------------------------------


def test_replication_lagging_past_the_rpo_fails_on_the_rpo_alone(tmp_path):
    """Mutation: remove the ``obs.rpo_seconds > rpo_target`` comparison from
    ``measure.verdict``. The stalled/paused-replication tests never reach it (they fail in
    canary warm-up), so here replication works, only late: every object waits 120 emulated
    seconds, the RPO target is 60 s. Warm-up drains, the fault lands ~120 s after the last
    replicated checkpoint, and everything else (detection, DNS, standby, RTO, reverts) is
    fine, so the RPO is the only reason the drill can fail."""
    world = World(replication_lag=120)
    journal, _ = run_drill(world, tmp_path, {"targets": {"rpo_seconds": 60}})
    m = journal["measurements"]
    assert m["verdict"] == "fail"
    assert len(m["reasons"]) == 1, m["reasons"]
    assert m["reasons"][0].startswith("RPO ") and "exceeds the target of 60 s" in m["reasons"][0]
    # the RPO is measured on the drill's (emulated) clock: the lag plus at most a poll or two
    assert 120 <= m["rpo_seconds"] <= 125
    assert m["rto_seconds"] is not None and m["rto_seconds"] <= m["targets"]["rto_seconds"]
    assert all(r["status"] == "reverted" for r in journal["injections"])
    assert journal["steady_states"]["after"]["steady_state_met"] is True


def test_the_same_lag_within_the_rpo_passes(tmp_path):
    """The control for the test above: with a target the lag meets, the same world passes,
    so the failure above is the RPO comparison and nothing else."""
    journal, _ = run_drill(World(replication_lag=120), tmp_path, {"targets": {"rpo_seconds": 300}})
    assert journal["measurements"]["verdict"] == "pass", journal["measurements"]["reasons"]


def test_rpo_is_measured_in_emulated_time_not_wall_time(tmp_path):
    """The RPO of a world without lag is the time between the last replicated canary and the
    fault on the world's clock (a poll or two), whatever the wall clock did meanwhile. It used
    to be wall time x time scale (1000 here), which grows with machine load."""
    world = World()
    journal, _ = run_drill(world, tmp_path)
    m = journal["measurements"]
    assert m["verdict"] == "pass", m["reasons"]
    assert 0 <= m["rpo_seconds"] <= 2.0


# -- "still in effect after the revert" ------------------------------------------------------


@pytest.mark.parametrize("fault_type", ["s3", "app-down", "replication-pause"])
def test_a_revert_that_silently_does_nothing_fails_the_drill(tmp_path, fault_type):
    """Mutation: drop the ``if self.adapter.is_injected(fault): raise StepFailed(... still in
    effect after the revert)`` check in ``Drill._rollback``. The adapter's revert returns
    normally and changes nothing; only that check can see it."""
    world = World(silent_revert=fault_type)
    journal, adapter = run_drill(world, tmp_path)
    m = journal["measurements"]
    assert m["verdict"] == "fail"
    label = next(r["fault"] for r in journal["injections"] if r["fault"]["type"] == fault_type)
    label = Fault(**label).label()
    assert any(f"{label} is still in effect after the revert" in r for r in m["reasons"]), m["reasons"]
    statuses = {r["fault"]["type"]: r["status"] for r in journal["injections"]}
    assert statuses[fault_type] == "revert-failed"
    assert journal["deviated"] is True
    assert f"revert {label}" in adapter.calls


def test_revert_journal_does_not_trust_a_revert_that_did_nothing(tmp_path):
    """Mutation: drop the same check in ``revert_journal`` (``recovery drill --revert``)."""
    world = World(silent_revert="s3")
    adapter = FakeAdapter(world)
    fault = Fault("s3", region="primary", mode="blackhole")
    adapter.inject(fault)
    path = tmp_path / "journal.json"
    path.write_text(json.dumps({"journal_version": 1, "status": "running", "rollbacks": [],
                                "injections": [{"fault": fault.as_dict(), "status": "injected", "info": {}}]}))
    result = revert_journal(path, adapter)
    assert result["revert_failures"] == ["s3:primary:blackhole: s3:primary:blackhole is still in effect after the revert"]
    assert json.loads(path.read_text())["injections"][0]["status"] == "revert-failed"


# -- readiness preflight ---------------------------------------------------------------------

KEY_A = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000000"
KEY_B = "arn:aws:kms:us-east-1:123456789012:key/bbbbbbbb-0000-0000-0000-000000000000"


def _rtc_promised(world: World) -> None:
    world.descriptor["replication"]["rtc"] = True


def _two_way_promised(world: World) -> None:
    world.descriptor["replication"]["two_way"] = True


def _kms_key_differs(world: World) -> None:
    world.descriptor["regions"]["primary"]["kms_key_arn"] = KEY_A
    world.encryption_keys["primary-bucket"] = KEY_B


def _bucket_in_another_region(world: World) -> None:
    world.locations["secondary-bucket"] = "eu-west-1"


def _pilot_light_cannot_grow(world: World) -> None:
    world.descriptor["strategy"] = "pilot-light"
    world.standby_desired = world.standby_in_service = 0
    world.standby_max = 1


PREFLIGHT_CASES = [
    # (breakage, its repair, the cause the reason must name, the mutation it catches)
    (_rtc_promised, lambda w: setattr(w, "rule_rtc", True), "lacks RTC/metrics",
     "check_replication: skip the `if replication.get('rtc')` block"),
    (_two_way_promised, lambda w: setattr(w, "reverse_rule", True), "no replication configuration on secondary-bucket",
     "check_replication: never add the (secondary, primary) direction"),
    (_kms_key_differs, lambda w: w.encryption_keys.update({"primary-bucket": KEY_A}), f"encrypts with {KEY_B}",
     "check_buckets: skip the KMS key comparison"),
    (_bucket_in_another_region, lambda w: w.locations.update({"secondary-bucket": "us-west-2"}),
     "is in eu-west-1, the descriptor says us-west-2", "check_buckets: skip the Region comparison"),
    (_pilot_light_cannot_grow, lambda w: setattr(w, "standby_max", 2), "can only grow to 1, below the primary's 2",
     "check_capacity: skip the `maximum < needed` comparison"),
]


@pytest.mark.parametrize("breakage,repair,cause,mutation", PREFLIGHT_CASES,
                         ids=["rtc-metrics", "reverse-rule", "kms-key", "bucket-region", "pilot-light-max-size"])
def test_each_preflight_check_fails_the_drill_before_any_injection(tmp_path, breakage, repair, cause, mutation):
    """Mutation: disable one preflight check (see ``mutation`` in the parameters). The platform
    is broken in exactly the way that check looks for, so with it disabled the drill would
    inject faults (and, on this forgiving fake, pass)."""
    world = World()
    breakage(world)
    journal, adapter = run_drill(world, tmp_path)
    m = journal["measurements"]
    assert m["verdict"] == "fail" and journal["status"] == "failed"
    assert any(cause in reason for reason in m["reasons"]), (mutation, m["reasons"])
    assert not any(c.startswith("inject") for c in adapter.calls), mutation
    assert journal["injections"] == []
    failed = [c for c in journal["preflight"] if not c["ok"]]
    assert len(failed) == 1 and cause in failed[0]["detail"]


@pytest.mark.parametrize("breakage,repair,cause,mutation", PREFLIGHT_CASES,
                         ids=["rtc-metrics", "reverse-rule", "kms-key", "bucket-region", "pilot-light-max-size"])
def test_the_same_platform_repaired_passes(tmp_path, breakage, repair, cause, mutation):
    """The control: what the descriptor promises, present, passes preflight and the drill, so
    each failure above comes from its check and not from the fake."""
    world = World()
    breakage(world)
    repair(world)
    journal, _ = run_drill(world, tmp_path)
    assert all(c["ok"] for c in journal["preflight"]), journal["preflight"]
    assert journal["measurements"]["verdict"] == "pass", journal["measurements"]["reasons"]
