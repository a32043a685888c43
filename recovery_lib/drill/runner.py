"""Run a failover drill: phases, journal, measurements, and rollbacks that always happen.

Safety rules this module keeps, whatever goes wrong:

- The journal is written (atomically) after every step, so a killed drill leaves a record
  of what it injected; ``revert_journal`` undoes it.
- An injection is journaled *before* it is made ("injecting"), then marked "injected";
  rollbacks revert every fault that is not "reverted", in reverse order, when the drill
  passes, fails, raises, or receives SIGINT/SIGTERM.
- A fault that is not observably in effect after injection fails the drill; so does a
  revert that fails. A drill never passes on a fault it did not inject.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any, Callable, Optional

from recovery_lib.drill import measure, readiness, replication_failures, report
from recovery_lib.drill.adapters.base import FaultAdapter
from recovery_lib.drill.plan import DrillPlan, Fault
from recovery_lib.drill.canary import CanaryWriter, rpo_seconds
from recovery_lib.drill.journal import (
    DrillAborted,
    StepFailed,
    load_journal,
    new_journal,
    revert_journal,
    utc_now,
)
from recovery_lib.drill.resume_check import ResumeCheck
from recovery_lib.drill.signals import install_interrupt_handlers, restore_signal_handlers
from recovery_lib.errors import RecoveryError

__all__ = ["Drill", "DrillAborted", "StepFailed", "load_journal", "revert_journal"]

logger = logging.getLogger(__name__)


class Drill:
    """One drill run. ``run()`` returns the journal (also written to ``report_dir``)."""

    def __init__(
        self,
        descriptor: dict[str, Any],
        plan: DrillPlan,
        adapter: FaultAdapter,
        *,
        store_factory: Callable[[], Any],
        report_dir: Path,
        dry_run: bool = False,
        confirm: Optional[Callable[[str], bool]] = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self.descriptor = descriptor
        self.plan = plan
        self.adapter = adapter
        self.store_factory = store_factory
        self.report_dir = Path(report_dir)
        self.dry_run = dry_run
        self.confirm = confirm
        self.resume_check: Optional[ResumeCheck] = None
        self.poll_seconds = poll_seconds
        targets = descriptor.get("targets") or {}
        self.rto_target = plan.rto_seconds if plan.rto_seconds is not None else int(targets["rto_seconds"])
        self.rpo_target = plan.rpo_seconds if plan.rpo_seconds is not None else int(targets["rpo_seconds"])
        self.obs = measure.Observations()
        self.failures: list[str] = []
        self._t0 = 0.0
        self._fault_wall: Optional[dt.datetime] = None
        self.journal: dict[str, Any] = {}
        self.canary: Optional[CanaryWriter] = None
        self.store: Any = None

    # -- journal -----------------------------------------------------------------------------
    def _save(self) -> None:
        if not self.dry_run:
            report.write_journal(self.report_dir, self.journal)

    def elapsed(self) -> float:
        return round(self.adapter.now() - self._t0, 3)

    def event(self, text: str) -> None:
        self.journal["timeline"].append({"t": self.elapsed(), "event": text})
        logger.info("drill t=%.1f %s", self.elapsed(), text)

    def _step(self, name: str, kind: str, fn: Callable[[], Any]) -> Any:
        started, t_start = utc_now(), time.monotonic()
        entry: dict[str, Any] = {"activity": {"type": kind, "name": name}, "start": started.isoformat()}
        self.journal["run"].append(entry)
        try:
            output = fn()
            entry.update(status="succeeded", output=output)
            return output
        except DrillAborted as exc:
            entry.update(status="aborted", exception=str(exc))
            raise
        except StepFailed as exc:
            entry.update(status="failed", exception=str(exc))
            self.failures.append(f"{name}: {exc}")
            raise
        except RecoveryError as exc:
            entry.update(status="failed", exception=f"{type(exc).__name__}: {exc}")
            self.failures.append(f"{name} failed: {type(exc).__name__}: {exc}")
            raise StepFailed(str(exc)) from exc
        finally:
            entry.setdefault("status", "interrupted")
            entry.update(end=utc_now().isoformat(), duration=round(time.monotonic() - t_start, 3))
            self._save()

    def _wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> float:
        """Poll until ``predicate()``; return the (emulated) time it became true."""
        deadline = self.adapter.now() + timeout
        while True:
            if predicate():
                return self.elapsed()
            if self.adapter.now() >= deadline:
                raise StepFailed(f"{what} did not happen within {timeout:.0f} s")
            self.adapter.sleep(self.poll_seconds)

    # -- phases ------------------------------------------------------------------------------
    def _preflight(self) -> dict[str, Any]:
        checks = readiness.preflight(self.adapter.client, self.descriptor)
        self.journal["preflight"] = [c.as_dict() for c in checks]
        bad = [c for c in checks if not c.ok]
        if bad:
            raise StepFailed("platform not ready: " + "; ".join(c.detail for c in bad))
        return {"checks": len(checks)}

    def _probe(self, probe: Any) -> dict[str, Any]:
        if probe.probe == "dns-answer":
            value = self.adapter.dns_answer()
            return {"probe": probe.probe, "value": value, "ok": value == probe.expect}
        if probe.probe == "health-check":
            healthy = self.adapter.health_check_healthy()
            value = None if healthy is None else ("healthy" if healthy else "unhealthy")
            return {"probe": probe.probe, "value": value, "ok": value == probe.expect}
        if probe.probe == "app":
            value = "healthy" if self.adapter.app_healthy(probe.region) else "unhealthy"
            return {"probe": probe.probe, "region": probe.region, "value": value, "ok": value == probe.expect}
        if probe.probe == "store-roundtrip":
            checkpoint = self.store.save("drill/steady-state", {"at": utc_now().isoformat()})
            data = self.store.load("drill/steady-state", version=checkpoint.version)
            ok = checkpoint.region == probe.region and isinstance(data, dict)
            return {"probe": probe.probe, "region": checkpoint.region, "ok": ok}
        raise StepFailed(f"unknown probe {probe.probe!r}")

    def _steady_state(self, when: str) -> dict[str, Any]:
        probes = [self._probe(p) for p in self.plan.steady_state]
        met = all(p["ok"] for p in probes)
        result = {"steady_state_met": met, "probes": probes}
        self.journal["steady_states"][when] = result
        if not met:
            self.journal["deviated"] = True
            bad = [f"{p['probe']}{'@' + p['region'] if p.get('region') else ''} was {p.get('value')}" for p in probes if not p["ok"]]
            raise StepFailed(f"steady state {when} the fault not met: " + ", ".join(bad))
        return result

    def _warm_up_canary(self) -> dict[str, Any]:
        interval_real = self.plan.canary.interval_seconds / self.adapter.time_scale
        self.canary = CanaryWriter(self.store, self.plan.canary.name, interval_real, now=self.elapsed)
        for _ in range(self.plan.canary.warmup_checkpoints):
            self.canary.write_one()
        last = self.canary.snapshot()[-1]
        must_replicate = [self.plan.canary.name]
        result: dict[str, Any] = {"warmup_sequence": last.sequence}
        if "pipeline-resume" in self.plan.verifications:
            self.resume_check = ResumeCheck(run_id=self.journal["id"][:12])
            must_replicate += self.resume_check.prepare(self.store)
            result["pipeline_committed"] = must_replicate[1:]
        try:
            self._wait_for(
                "the warm-up checkpoints replicating to the secondary",
                lambda: all(self.store.replication_status(name).dr_safe for name in must_replicate),
                self.plan.timeout("drain_seconds"),
            )
        except StepFailed as exc:
            status = self.store.replication_status(self.plan.canary.name)
            failed = replication_failures.describe(replication_failures.failed_replications(self.store, status.missing))
            raise StepFailed(
                f"{exc}: replication to the secondary is stalled or paused (missing there: "
                f"{', '.join(status.missing) or 'nothing'}){failed}, so no failover could meet the RPO target of "
                f"{self.rpo_target} s"
            ) from exc
        self.canary.start()
        result["dr_safe"] = True
        return result

    def _inject(self) -> dict[str, Any]:
        faults = self.plan.injected_faults()
        if self.confirm is not None and not self.confirm(
            f"Inject {', '.join(f.label() for f in faults)} on {self.descriptor.get('stack')}?"
        ):
            raise DrillAborted("destructive steps were not confirmed (pass --yes to run unattended)")
        # The canary stands for the job in the failing region: it stops when the region
        # does, so the RPO is measured on what was committed before the fault.
        if self.canary is not None:
            self.canary.stop()
        self._fault_wall = utc_now()
        self.obs.fault_at = self.elapsed()
        records = []
        for fault in faults:
            record = {"fault": fault.as_dict(), "status": "injecting", "info": {}, "at": utc_now().isoformat()}
            self.journal["injections"].append(record)
            self._save()
            record["info"] = self.adapter.inject(fault) or {}
            record["status"] = "injected"
            self._save()
            records.append((fault, record))
        for fault, record in records:
            if not self.adapter.is_injected(fault):
                record["status"] = "not-in-effect"
                self._save()
                raise StepFailed(f"fault {fault.label()} was requested but is not in effect")
        labels = [fault.label() for fault, _ in records]
        self.event(f"fault injected: {', '.join(labels)}")
        return {"faults": labels}

    def _detect(self) -> dict[str, Any]:
        if self.adapter.health_check_healthy() is None:
            raise StepFailed("there is no health check to detect the failure")
        def detected() -> bool:
            # Resolve the name meanwhile, as the job's clients do: their cached answer is
            # what the DNS phase has to wait out.
            if self.descriptor.get("dns"):
                self.adapter.dns_answer()
            return self.adapter.health_check_healthy() is False

        self.obs.detected_at = self._wait_for(
            "the primary health check turning unhealthy", detected, self.plan.timeout("detection_seconds"))
        self.event("health check unhealthy")
        return {"detected_at": self.obs.detected_at}

    def _dns(self) -> dict[str, Any]:
        self.obs.dns_switched_at = self._wait_for(
            "the DNS answer switching to SECONDARY",
            lambda: self.adapter.dns_answer() == "SECONDARY",
            self.plan.timeout("dns_seconds"),
        )
        self.event("DNS answers SECONDARY")
        return {"dns_switched_at": self.obs.dns_switched_at}

    def _standby(self) -> dict[str, Any]:
        capacity = (self.descriptor.get("capacity") or {}).get("primary", 1)
        desired, _ = self.adapter.standby()
        if desired < capacity:
            self.journal.setdefault("scaled", {"from": desired, "to": capacity})
            self._save()
            self.adapter.scale_standby(capacity)
            self.event(f"standby scaling {desired} -> {capacity}")
        self.obs.standby_ready_at = self._wait_for(
            "the standby reaching its capacity and serving",
            lambda: self.adapter.standby()[1] >= capacity and self.adapter.app_healthy("secondary"),
            self.plan.timeout("compute_seconds"),
        )
        self.event("standby serving")
        return {"capacity": capacity, "ready_at": self.obs.standby_ready_at}

    def _data(self) -> dict[str, Any]:
        assert self.canary is not None and self._fault_wall is not None
        name = self.plan.canary.name
        status = self.store.replication_status(name)
        restorable = status.restorable
        if restorable is None:
            raise StepFailed(f"no checkpoint of {name} is restorable in the secondary")
        data = self.store.load(name, version=restorable.version)
        sequence = data.get("sequence") if isinstance(data, dict) else None
        if sequence is None:
            raise StepFailed(f"the restored checkpoint {name}@{restorable.version} does not verify as a canary")
        self.obs.data_restored_at = self.elapsed()
        written = self.canary.snapshot()
        before_fault = [r for r in written if r.region == "primary"]
        self.obs.canary_committed_before_fault = len(before_fault)
        self.obs.canary_lost = sum(1 for r in before_fault if r.sequence > sequence)
        self.obs.restored_sequence = sequence
        assert self.obs.fault_at is not None
        self.obs.rpo_seconds = rpo_seconds(restorable, written, fault_at=self.obs.fault_at,
                                           fault_wall=self._fault_wall,
                                           time_scale=self.adapter.time_scale)
        self.obs.newer_not_replicated = list(status.pending)
        self.event(f"restored {name} #{sequence} from the secondary")
        result = {"restored_version": restorable.version, "sequence": sequence, "lost": self.obs.canary_lost}
        # Writes fail over too: the job carries on in the secondary.
        after = self.store.save(f"{name}-after-failover", {"after_sequence": sequence})
        if after.region != "secondary":
            raise StepFailed(f"a save after the failover was committed in the {after.region} region, not the secondary")
        result["write_failover"] = {"version": after.version, "region": after.region}
        if self.resume_check is not None:
            try:
                result["pipeline"] = self.resume_check.resume(self.store, data)
            except RecoveryError as exc:
                raise StepFailed(f"the pipeline did not resume from the secondary: {exc}") from exc
            self.obs.data_restored_at = self.elapsed()
            self.event("pipeline resumed from the restored checkpoint")
        return result

    def _rollback(self) -> None:
        """Revert every fault not yet reverted, newest first, and the standby scaling."""
        for record in reversed(self.journal["injections"]):
            if record["status"] == "reverted":
                continue
            fault = Fault(**record["fault"])
            entry: dict[str, Any] = {"activity": {"type": "action", "name": f"revert {fault.label()}"},
                                     "start": utc_now().isoformat()}
            self.journal["rollbacks"].append(entry)
            try:
                self.adapter.revert(fault, record.get("info") or {})
                if self.adapter.is_injected(fault):
                    raise StepFailed(f"{fault.label()} is still in effect after the revert")
                record["status"] = "reverted"
                entry["status"] = "succeeded"
            except Exception as exc:  # noqa: BLE001 - every fault gets its revert attempt; the error is journaled and fails the drill
                record["status"] = "revert-failed"
                entry.update(status="failed", exception=f"{type(exc).__name__}: {exc}")
                self.failures.append(f"revert of {fault.label()} failed: {exc}")
            entry["end"] = utc_now().isoformat()
            self._save()
        scaled = self.journal.get("scaled")
        if scaled and not scaled.get("restored"):
            entry = {"activity": {"type": "action", "name": f"scale standby back to {scaled['from']}"},
                     "start": utc_now().isoformat()}
            self.journal["rollbacks"].append(entry)
            try:
                self.adapter.scale_standby(scaled["from"])
                scaled["restored"] = True
                entry["status"] = "succeeded"
            except Exception as exc:  # noqa: BLE001 - journaled, fails the drill
                entry.update(status="failed", exception=f"{type(exc).__name__}: {exc}")
                self.failures.append(f"scaling the standby back failed: {exc}")
            self._save()

    def _failback(self) -> dict[str, Any]:
        self._rollback()
        if any(r["status"] != "reverted" for r in self.journal["injections"]):
            raise StepFailed("some faults could not be reverted")
        self.event("faults reverted")
        if self.canary is not None:
            self.canary.stop()
        # A fresh store: this one may still hold the primary's circuit breaker open.
        self.store = self.store_factory()
        self._wait_for(
            "the replication backlog draining",
            lambda: self.store.replication_status(self.plan.canary.name).dr_safe,
            self.plan.timeout("drain_seconds"),
        )
        self.event("replication backlog drained")
        self._wait_for(
            "DNS answering PRIMARY again",
            lambda: self.adapter.dns_answer() == "PRIMARY" if self.descriptor.get("dns") else True,
            self.plan.timeout("detection_seconds") + self.plan.timeout("dns_seconds"),
        )
        self._steady_state("after")
        return {"steady_state_after": True}

    # -- entry points ------------------------------------------------------------------------
    def dry_run_calls(self) -> list[str]:
        calls = ["preflight: read versioning, replication, health check, records and groups (read-only)"]
        for fault in self.plan.injected_faults():
            calls += [f"inject {fault.label()}: {c}" for c in self.adapter.describe_inject(fault)]
        capacity = (self.descriptor.get("capacity") or {}).get("primary", 1)
        calls += [f"standby: {c}" for c in self.adapter.describe_scale(capacity)]
        for fault in reversed(self.plan.injected_faults()):
            calls += [f"revert {fault.label()}: {c}" for c in self.adapter.describe_revert(fault)]
        return calls

    def run(self) -> dict[str, Any]:
        self.journal = new_journal(self.descriptor, self.plan, self.adapter, dry_run=self.dry_run)
        self._t0 = self.adapter.now()
        wall_start = time.monotonic()
        if self.dry_run:
            self.journal.update(status="dry-run", calls=self.dry_run_calls())
            return self.journal

        previous = install_interrupt_handlers()
        try:
            self.store = self.store_factory()
            self._save()
            phases: list[tuple[str, str, Callable[[], Any]]] = [
                ("readiness preflight", "probe", self._preflight),
                ("steady state before", "probe", lambda: self._steady_state("before")),
                ("canary warm-up", "action", self._warm_up_canary),
                ("inject faults", "action", self._inject),
            ]
            verifications = set(self.plan.verifications)
            if verifications & {"detection", "dns-failover"}:
                phases.append(("detection", "probe", self._detect))
            if "dns-failover" in verifications:
                phases.append(("DNS switches to SECONDARY", "probe", self._dns))
            if "standby-serving" in verifications:
                phases.append(("standby serving", "probe", self._standby))
            if "data-recovery" in verifications:
                phases.append(("data recovery from the secondary", "probe", self._data))
            phases.append(("failback", "action", self._failback))
            for name, kind, fn in phases:
                self._step(name, kind, fn)
            self.journal["status"] = "completed"
        except StepFailed:
            self.journal["status"] = "failed"
            self.journal["deviated"] = True
        except (DrillAborted, KeyboardInterrupt) as exc:
            self.journal["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "aborted"
            self.failures.append(f"drill {self.journal['status']}: {exc or 'signal'}")
        except Exception as exc:  # noqa: BLE001 - the journal records the crash; rollbacks run below; re-raised
            self.journal["status"] = "failed"
            self.failures.append(f"drill crashed: {type(exc).__name__}: {exc}")
            raise
        finally:
            try:
                if self.canary is not None:
                    self.canary.stop()
                self._rollback()
            finally:
                self._finish(wall_start)
                restore_signal_handlers(previous)
        return self.journal

    def _finish(self, wall_start: float) -> None:
        if any(r["status"] != "reverted" for r in self.journal["injections"]):
            self.journal["deviated"] = True
        budget, basis = self._budget()
        self.journal["measurements"] = measure.measurements(
            self.obs,
            budget=budget,
            budget_basis=basis,
            rto_target=self.rto_target,
            rpo_target=self.rpo_target,
            failures=self.failures,
            time_scale=self.adapter.time_scale,
        )
        if self.journal["measurements"]["verdict"] != "pass":
            self.journal["deviated"] = True
        self.journal["end"] = utc_now().isoformat()
        self.journal["duration"] = round(time.monotonic() - wall_start, 3)
        self.journal["adapter_state"] = self.adapter.state()
        report.write_reports(self.report_dir, self.journal)

    def _budget(self):
        """The worst-case failover figure when the descriptor has it (see :func:`measure.drill_budget`)."""
        return measure.drill_budget(self.descriptor.get("dns"), scale_up_seconds=self.plan.scale_up_seconds)
