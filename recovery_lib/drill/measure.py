"""RTO, RPO, budget and verdict: pure arithmetic over what a drill observed.

Times are emulated seconds since the drill started (on AWS, real seconds). The phases are
measured back to back from the moment the fault was confirmed:

    fault ─ detection ─▶ health check unhealthy ─ dns ─▶ answer is SECONDARY
          ─ compute ─▶ standby at capacity and serving ─ data ─▶ newest DR-safe checkpoint
            restored and verified (and a pipeline resumed from it)

RTO is fault → the end of the last phase: the service is served from the secondary.
RPO is the fault time minus the time the newest checkpoint restorable in the secondary was
saved, both on the drill's (emulated) clock, and also the number of canary checkpoints committed before the fault that the
secondary could not restore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from recovery_lib.budget import FailoverBudget, failover_budget

PHASES = ("detection", "dns", "compute", "data")


@dataclass
class Observations:
    fault_at: Optional[float] = None
    detected_at: Optional[float] = None
    dns_switched_at: Optional[float] = None
    standby_ready_at: Optional[float] = None
    data_restored_at: Optional[float] = None
    rpo_seconds: Optional[float] = None
    canary_committed_before_fault: int = 0
    canary_lost: Optional[int] = None
    restored_sequence: Optional[int] = None
    newer_not_replicated: list[str] = field(default_factory=list)

    def phase_ends(self) -> dict[str, Optional[float]]:
        return {
            "detection": self.detected_at,
            "dns": self.dns_switched_at,
            "compute": self.standby_ready_at,
            "data": self.data_restored_at,
        }


def phase_durations(obs: Observations) -> dict[str, Optional[float]]:
    """Each phase from the end of the previous one; None where a phase never finished."""
    durations: dict[str, Optional[float]] = {}
    previous = obs.fault_at
    for phase, end in obs.phase_ends().items():
        if previous is None or end is None:
            durations[phase] = None
            previous = None
            continue
        durations[phase] = round(max(0.0, end - previous), 3)
        previous = end
    return durations


def rto_seconds(obs: Observations) -> Optional[float]:
    ends = list(obs.phase_ends().values())
    if obs.fault_at is None or any(end is None for end in ends):
        return None
    return round(max(ends) - obs.fault_at, 3)  # type: ignore[type-var]


def drill_budget(dns: Optional[dict[str, Any]], *, scale_up_seconds: int) -> tuple[FailoverBudget, str]:
    """The budget a drill is judged against, and its basis (``"worst case"``/``"best case"``).

    The descriptor's ``dns.worst_case_failover_seconds`` when it has one (the upper bound
    the platform commits to: target group, uncoordinated checkers, probe timeouts, TTL and
    stale caches; :func:`recovery_lib.budget.worst_case_failover`), split into the detection
    and DNS phases by its ``worst_case_failover_parts`` (``ttl`` + ``stale_cache`` are the DNS
    phase, the rest detection) or, without parts, with the best-case DNS share. Otherwise the
    best case (``estimated_failover_seconds``' arithmetic). Compute is the plan's scale-up.
    """
    if not dns:
        return failover_budget(request_interval=10, failure_threshold=1, ttl=0,
                               scale_up_seconds=scale_up_seconds), "best case"
    best = failover_budget(request_interval=dns["request_interval"], failure_threshold=dns["failure_threshold"],
                           ttl=dns["ttl"], alias=False, scale_up_seconds=scale_up_seconds)
    worst = dns.get("worst_case_failover_seconds")
    if worst is None:
        return best, "best case"
    parts = dns.get("worst_case_failover_parts") or {}
    if "ttl" in parts:
        dns_seconds = int(parts["ttl"]) + int(parts.get("stale_cache", 0))
    else:
        dns_seconds = best.dns_seconds
    dns_seconds = min(dns_seconds, int(worst))
    return FailoverBudget(detection_seconds=int(worst) - dns_seconds, dns_seconds=dns_seconds,
                          compute_seconds=scale_up_seconds), "worst case"


def phase_budgets(budget: FailoverBudget, rto_target: int) -> dict[str, Optional[float]]:
    """Budget per phase: detection and DNS from Route 53's settings, compute from the plan,
    data whatever the RTO target leaves (never negative)."""
    return {
        "detection": float(budget.detection_seconds),
        "dns": float(budget.dns_seconds),
        "compute": float(budget.compute_seconds),
        "data": float(max(0, rto_target - budget.total_seconds)),
    }


def verdict(
    obs: Observations,
    *,
    rto_target: int,
    rpo_target: int,
    failures: list[str],
) -> tuple[str, list[str]]:
    """``("pass", [])`` only when nothing failed and both targets were met."""
    reasons = list(failures)
    rto = rto_seconds(obs)
    if rto is None:
        if not any("did not" in r or "failed" in r for r in reasons):
            reasons.append("the service was never served from the secondary, so no RTO could be measured")
    elif rto > rto_target:
        reasons.append(f"RTO {rto:.1f} s exceeds the target of {rto_target} s")
    if obs.rpo_seconds is None:
        reasons.append("no checkpoint could be restored from the secondary, so no RPO could be measured")
    elif obs.rpo_seconds > rpo_target:
        reasons.append(f"RPO {obs.rpo_seconds:.1f} s exceeds the target of {rpo_target} s")
    return ("pass" if not reasons else "fail"), reasons


def measurements(
    obs: Observations,
    *,
    budget: FailoverBudget,
    rto_target: int,
    rpo_target: int,
    failures: list[str],
    time_scale: float,
    budget_basis: str = "best case",
) -> dict[str, Any]:
    outcome, reasons = verdict(obs, rto_target=rto_target, rpo_target=rpo_target, failures=failures)
    durations = phase_durations(obs)
    budgets = phase_budgets(budget, rto_target)
    return {
        "rto_seconds": rto_seconds(obs),
        "rpo_seconds": None if obs.rpo_seconds is None else round(obs.rpo_seconds, 3),
        "canary": {
            "committed_before_fault": obs.canary_committed_before_fault,
            "lost": obs.canary_lost,
            "restored_sequence": obs.restored_sequence,
            "newer_not_replicated": list(obs.newer_not_replicated),
        },
        "phases": {
            phase: {
                "seconds": durations[phase],
                "budget_seconds": budgets[phase],
                "within_budget": None if durations[phase] is None else durations[phase] <= budgets[phase],
                "ended_at": obs.phase_ends()[phase],
            }
            for phase in PHASES
        },
        "budget": {**budget.as_dict(), "rto_target": rto_target, "basis": budget_basis},
        "targets": {"rto_seconds": rto_target, "rpo_seconds": rpo_target},
        "fault_at": obs.fault_at,
        "time_scale": time_scale,
        "time_unit": "emulated seconds" if time_scale != 1 else "seconds",
        "verdict": outcome,
        "reasons": reasons,
    }
