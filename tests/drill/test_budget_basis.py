"""The drill judges its phases against the worst-case failover figure of the descriptor."""

from __future__ import annotations

from recovery_lib.budget import worst_case_failover
from recovery_lib.drill.measure import Observations, drill_budget, measurements

DNS = {"request_interval": 10, "failure_threshold": 3, "ttl": 30, "estimated_failover_seconds": 60}


def test_worst_case_parts_split_into_detection_and_dns():
    """Mutation: ``_budget`` back on ``failover_budget`` (the best case, 30 + 30 s) fails this."""
    worst = worst_case_failover(request_interval=10, failure_threshold=3, ttl=30,
                                target_group_interval=10, target_group_unhealthy_threshold=2)
    dns = {**DNS, "worst_case_failover_seconds": worst.total_seconds, "worst_case_failover_parts": worst.as_dict()}
    budget, basis = drill_budget(dns, scale_up_seconds=120)
    assert basis == "worst case"
    # target group 20 + detection 30 + probe timeouts 6 = 56; TTL 30 + one stale TTL 30 = 60
    assert (budget.detection_seconds, budget.dns_seconds, budget.compute_seconds) == (56, 60, 120)
    assert budget.dns_failover_seconds == worst.total_seconds == 116


def test_worst_case_total_without_parts_keeps_the_best_case_dns_share():
    budget, basis = drill_budget({**DNS, "worst_case_failover_seconds": 100}, scale_up_seconds=0)
    assert basis == "worst case" and (budget.detection_seconds, budget.dns_seconds) == (70, 30)


def test_best_case_when_the_descriptor_has_no_worst_case():
    budget, basis = drill_budget(dict(DNS), scale_up_seconds=5)
    assert basis == "best case" and (budget.detection_seconds, budget.dns_seconds, budget.compute_seconds) == (30, 30, 5)


def test_a_phase_within_the_worst_case_but_over_the_best_case_is_within_budget():
    """Detection measured 50 s: over the best case (30 s), within the worst case (56 s)."""
    worst = worst_case_failover(request_interval=10, failure_threshold=3, ttl=30,
                                target_group_interval=10, target_group_unhealthy_threshold=2)
    dns = {**DNS, "worst_case_failover_seconds": worst.total_seconds, "worst_case_failover_parts": worst.as_dict()}
    budget, basis = drill_budget(dns, scale_up_seconds=120)
    obs = Observations(fault_at=0, detected_at=50, dns_switched_at=90, standby_ready_at=200,
                       data_restored_at=220, rpo_seconds=5)
    m = measurements(obs, budget=budget, budget_basis=basis, rto_target=300, rpo_target=900, failures=[], time_scale=10)
    assert m["phases"]["detection"]["budget_seconds"] == 56 and m["phases"]["detection"]["within_budget"] is True
    assert m["phases"]["data"]["budget_seconds"] == 300 - 236
    assert m["budget"]["basis"] == "worst case" and m["verdict"] == "pass"
