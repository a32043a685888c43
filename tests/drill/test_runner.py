"""The drill runner on a simulated platform: phases, measurements, verdicts, rollbacks."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from recovery_lib.drill.plan import parse_plan
from recovery_lib.drill.runner import Drill, revert_journal

from .fake_world import FakeAdapter, World

FAST = {"timeouts": {"detection_seconds": 200, "dns_seconds": 200, "compute_seconds": 200,
                     "data_seconds": 100, "drain_seconds": 60}}


def run_drill(world: World, tmp_path: Path, plan: dict | None = None, **kwargs):
    adapter = FakeAdapter(world)
    drill = Drill(world.descriptor, parse_plan({**FAST, **(plan or {})}), adapter,
                  store_factory=world.store, report_dir=tmp_path / "report", poll_seconds=1.0, **kwargs)
    return drill.run(), adapter


def assert_everything_reverted(world: World, journal: dict) -> None:
    assert world.app_up["primary"] and not world.primary.down and not world.replication_paused
    assert all(r["status"] == "reverted" for r in journal["injections"])


def test_healthy_platform_passes_with_measured_rto_and_rpo(tmp_path):
    world = World()
    journal, adapter = run_drill(world, tmp_path)
    m = journal["measurements"]
    assert journal["status"] == "completed" and journal["deviated"] is False
    assert m["verdict"] == "pass", m["reasons"]
    phases = m["phases"]
    # detection = interval x threshold; DNS = TTL; compute = the group's scale-up delay
    assert 30 <= phases["detection"]["seconds"] <= 32
    assert 30 <= phases["dns"]["seconds"] <= 32
    assert 39 <= phases["compute"]["seconds"] <= 42
    assert m["rto_seconds"] == pytest.approx(sum(p["seconds"] for p in phases.values()), abs=0.01)
    assert m["rto_seconds"] <= 300
    assert m["rpo_seconds"] is not None and 0 <= m["rpo_seconds"] <= 900
    assert m["canary"]["restored_sequence"] >= 3
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    assert [s["status"] for s in journal["run"]] == ["succeeded"] * len(journal["run"])
    names = [s["activity"]["name"] for s in journal["run"]]
    assert names[0] == "readiness preflight" and names[-1] == "failback"
    assert "scale 2" in adapter.calls and world.standby_desired == 1  # scaled back afterwards
    assert_everything_reverted(world, journal)
    pipeline = next(s for s in journal["run"] if s["activity"]["name"] == "data recovery from the secondary")
    assert pipeline["output"]["pipeline"]["skipped"] == ["features", "model"]


def test_reports_are_written_and_agree_with_the_journal(tmp_path):
    journal, _ = run_drill(World(), tmp_path)
    report = tmp_path / "report"
    on_disk = json.loads((report / "journal.json").read_text())
    assert on_disk["measurements"]["rto_seconds"] == journal["measurements"]["rto_seconds"]
    for key in ("experiment", "status", "start", "end", "duration", "deviated", "steady_states", "run", "rollbacks"):
        assert key in on_disk
    html = (report / "report.html").read_text()
    assert "<svg" in html and 'data-phase="detection"' in html and "PASS" in html
    assert "RTO" in (report / "report.md").read_text()
    suite = ET.parse(report / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= len(journal["run"])


@pytest.mark.parametrize(
    "breakage,cause",
    [
        (lambda w: setattr(w, "replication_rule", False), "no replication configuration"),
        (lambda w: w.versioning.update({"secondary-bucket": "Suspended"}), "versioning of secondary bucket"),
        (lambda w: setattr(w, "standby_desired", 0), "desired capacity 0"),
        (lambda w: setattr(w, "health_check_exists", False), "health check hc-1 is missing"),
    ],
    ids=["replication-removed", "versioning-suspended", "standby-at-zero", "health-check-deleted"],
)
def test_broken_platform_fails_preflight_naming_the_cause_and_injects_nothing(tmp_path, breakage, cause):
    world = World()
    breakage(world)
    journal, adapter = run_drill(world, tmp_path)
    m = journal["measurements"]
    assert m["verdict"] == "fail" and journal["status"] == "failed"
    assert any(cause in reason for reason in m["reasons"]), m["reasons"]
    assert not any(c.startswith("inject") for c in adapter.calls)
    assert journal["injections"] == []


def test_replication_stalled_past_the_rpo_fails(tmp_path):
    world = World(replication_paused=True)
    journal, adapter = run_drill(world, tmp_path)
    reasons = journal["measurements"]["reasons"]
    assert journal["measurements"]["verdict"] == "fail"
    assert any("replicat" in r for r in reasons), reasons
    assert not any(c.startswith("inject") for c in adapter.calls)


def test_a_fault_that_is_not_in_effect_fails_the_drill_and_the_rest_is_reverted(tmp_path):
    world = World(ignore_s3_fault=True)
    journal, adapter = run_drill(world, tmp_path)
    assert journal["measurements"]["verdict"] == "fail"
    assert any("not in effect" in r for r in journal["measurements"]["reasons"])
    assert world.app_up["primary"] is True  # the app-down injected before it was reverted
    assert "revert app-down:primary" in adapter.calls


def test_a_failed_revert_fails_the_drill(tmp_path):
    world = World(fail_revert=True)
    journal, _ = run_drill(world, tmp_path)
    assert journal["measurements"]["verdict"] == "fail"
    assert any("revert of s3:primary:blackhole failed" in r for r in journal["measurements"]["reasons"])
    statuses = {r["fault"]["type"]: r["status"] for r in journal["injections"]}
    assert statuses["s3"] == "revert-failed" and statuses["app-down"] == "reverted"


def test_rto_over_target_fails(tmp_path):
    journal, _ = run_drill(World(scale_delay=400), tmp_path, {"timeouts": {**FAST["timeouts"], "compute_seconds": 600}})
    m = journal["measurements"]
    assert m["verdict"] == "fail" and any("exceeds the target of 300 s" in r for r in m["reasons"])


def test_a_crash_mid_drill_still_reverts_every_fault(tmp_path):
    world = World()
    adapter = FakeAdapter(world)

    def broken_dns():
        raise RuntimeError("resolver exploded")

    adapter.dns_answer = broken_dns
    drill = Drill(world.descriptor, parse_plan({**FAST, "steady_state": [{"probe": "health-check", "expect": "healthy"}]}),
                  adapter, store_factory=world.store, report_dir=tmp_path / "r")
    with pytest.raises(RuntimeError, match="resolver exploded"):
        drill.run()
    journal = json.loads((tmp_path / "r" / "journal.json").read_text())
    assert journal["status"] == "failed" and journal["measurements"]["verdict"] == "fail"
    assert_everything_reverted(world, journal)


def test_sigterm_during_a_drill_reverts_and_reports_interrupted(tmp_path):
    """SIGTERM arrives while the drill waits for detection, i.e. after every fault was
    injected and confirmed in effect (the first health-check poll after the injections
    sets an event; a thread waiting on it sends the signal). A timer could fire before injection and make the
    revert assertions vacuous."""
    world = World()
    adapter = FakeAdapter(world)
    detecting = threading.Event()

    def never_unhealthy() -> bool:  # detection never happens: the drill waits
        # the steady-state probe asks too, before any fault: only a poll after the
        # injections counts
        if sum(c.startswith("inject") for c in adapter.calls) == 3:
            detecting.set()
        return True

    adapter.health_check_healthy = never_unhealthy
    sent = threading.Event()

    def terminate_once_detecting() -> None:
        if detecting.wait(timeout=120):
            os.kill(os.getpid(), signal.SIGTERM)
            sent.set()

    killer = threading.Thread(target=terminate_once_detecting, daemon=True)
    killer.start()
    try:
        drill = Drill(world.descriptor, parse_plan({"timeouts": {**FAST["timeouts"], "detection_seconds": 10**6}}),
                      adapter, store_factory=world.store, report_dir=tmp_path / "r")
        journal = drill.run()
    finally:
        detecting.set()
        killer.join(timeout=10)
    assert sent.is_set()
    assert journal["status"] == "interrupted"
    assert journal["measurements"]["verdict"] == "fail"
    assert [r["fault"]["type"] for r in journal["injections"]] == ["app-down", "s3", "replication-pause"]
    assert [s["status"] for s in journal["run"]][-1] == "interrupted"
    assert journal["run"][-1]["activity"]["name"] == "detection"
    assert_everything_reverted(world, journal)
    assert [c for c in adapter.calls if c.startswith("revert")] == [
        "revert replication-pause", "revert s3:primary:blackhole", "revert app-down:primary"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_dry_run_makes_no_call_and_writes_nothing(tmp_path):
    world = World()
    before = dict(world.primary._objects)
    journal, adapter = run_drill(world, tmp_path, dry_run=True)
    assert journal["status"] == "dry-run"
    assert adapter.calls == []
    assert world.primary._objects == before
    assert not (tmp_path / "report").exists()
    calls = journal["calls"]
    assert any("inject app-down:primary" in c for c in calls)
    assert any("revert replication-pause" in c for c in calls)


def test_refused_confirmation_injects_nothing(tmp_path):
    world = World()
    journal, adapter = run_drill(world, tmp_path, confirm=lambda question: False)
    assert journal["status"] == "aborted"
    assert not any(c.startswith("inject") for c in adapter.calls)
    assert journal["measurements"]["verdict"] == "fail"


def test_revert_journal_undoes_a_killed_drill(tmp_path):
    world = World()
    adapter = FakeAdapter(world)
    faults = [{"type": "app-down", "region": "primary"}, {"type": "s3", "region": "primary", "mode": "blackhole"},
              {"type": "replication-pause"}]
    for fault in faults:
        from recovery_lib.drill.plan import Fault

        adapter.inject(Fault(**fault))
    journal = {"journal_version": 1, "status": "running", "rollbacks": [],
               "injections": [{"fault": f, "status": "injected", "info": {}} for f in faults[:2]]
               + [{"fault": faults[2], "status": "injecting", "info": {}}]}
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(journal))
    result = revert_journal(path, adapter)
    assert result["revert_failures"] == []
    assert world.app_up["primary"] and not world.primary.down and not world.replication_paused
    saved = json.loads(path.read_text())
    assert [r["status"] for r in saved["injections"]] == ["reverted"] * 3
    assert saved["status"] == "interrupted"


def test_the_journal_records_that_a_lagging_pause_flatters_the_rpo(tmp_path):
    """An adapter whose replication pause lags (AWS FIS: up to an hour) says so in the journal."""
    world = World()

    class LaggingAdapter(FakeAdapter):
        replication_pause_lag_seconds = 3600

    drill = Drill(world.descriptor, parse_plan(FAST), LaggingAdapter(world), store_factory=world.store,
                  report_dir=tmp_path / "report", poll_seconds=1.0)
    journal = drill.run()
    (expected,) = journal["expectations"]
    assert expected["fault"] == "replication-pause" and expected["lag_seconds"] == 3600
    saved = json.loads(next((tmp_path / "report").glob("*.json")).read_text())
    assert saved["expectations"] == journal["expectations"]
    plain, _ = run_drill(World(), tmp_path / "plain")
    assert plain["expectations"] == []


def test_phase_budgets_come_from_the_descriptors_worst_case_failover(tmp_path):
    """Mutation: the runner's ``_budget`` back on the best case (``failover_budget``: 30 s
    detection, 30 s DNS, basis "best case") fails this test."""
    from recovery_lib.budget import worst_case_failover

    world = World()
    worst = worst_case_failover(request_interval=10, failure_threshold=3, ttl=30,
                                target_group_interval=10, target_group_unhealthy_threshold=2)
    world.descriptor["dns"].update(worst_case_failover_seconds=worst.total_seconds,
                                   worst_case_failover_parts=worst.as_dict())
    journal, _ = run_drill(world, tmp_path)
    m = journal["measurements"]
    assert m["budget"]["basis"] == "worst case"
    assert m["phases"]["detection"]["budget_seconds"] == 56 and m["phases"]["dns"]["budget_seconds"] == 60
    assert m["budget"]["detection"] + m["budget"]["dns"] == worst.total_seconds
    assert m["verdict"] == "pass", m["reasons"]
    assert "Phase budgets: the worst case failover." in (tmp_path / "report" / "report.md").read_text()
