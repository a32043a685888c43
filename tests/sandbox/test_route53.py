"""Health-check evaluation and failover DNS answers, tick by tick on a manual clock."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any, Iterator, Optional

import pytest

from infra.sandbox.apps import AppStandIn
from infra.sandbox.clock import ManualClock
from infra.sandbox.route53 import DnsResolver, HealthCheckEvaluator

from .conftest import unique


class World:
    """A zone, a primary and a secondary app, a health check per app, PRIMARY/SECONDARY records."""

    def __init__(self, route53, primary: AppStandIn, secondary: AppStandIn, *, checkers: Optional[int] = 1) -> None:
        self.route53 = route53
        self.clock = ManualClock()
        self.apps = {"primary": primary, "secondary": secondary}
        self.names = {role: f"{unique(role)}.elb.test" for role in self.apps}
        # One checker unless a test is about the fleet: each probe then decides the status,
        # which keeps the threshold arithmetic of these tests exact.
        self.evaluator = HealthCheckEvaluator(route53, self.resolve, clock=self.clock, checkers=checkers)
        self.dns = DnsResolver(route53, self.evaluator, clock=self.clock)
        self.zone_name = f"{unique('zone')}.test"
        self.zone_id = route53.create_hosted_zone(Name=self.zone_name, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"]
        self.record = f"api.{self.zone_name}"

    def resolve(self, fqdn: str) -> Optional[tuple[str, int]]:
        for role, name in self.names.items():
            if name == fqdn:
                return ("127.0.0.1", self.apps[role].port)
        return None

    def health_check(self, role: str, *, interval: int = 10, threshold: int = 3, **extra: Any) -> str:
        config = {"Type": "HTTP", "FullyQualifiedDomainName": self.names[role], "Port": 80,
                  "ResourcePath": "/healthz", "RequestInterval": interval, "FailureThreshold": threshold, **extra}
        return self.route53.create_health_check(CallerReference=str(uuid.uuid4()),
                                                HealthCheckConfig=config)["HealthCheck"]["Id"]

    def records(self, primary_check: str, secondary_check: Optional[str] = None, ttl: int = 30) -> None:
        changes = []
        for role, check in (("PRIMARY", primary_check), ("SECONDARY", secondary_check)):
            record = {"Name": self.record, "Type": "CNAME", "SetIdentifier": role.lower(), "Failover": role,
                      "TTL": ttl, "ResourceRecords": [{"Value": self.names[role.lower()]}]}
            if check:
                record["HealthCheckId"] = check
            changes.append({"Action": "CREATE", "ResourceRecordSet": record})
        self.route53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes})

    def step(self, seconds: float = 10) -> None:
        self.clock.advance(seconds)
        self.evaluator.tick()

    def healthy(self, check_id: str) -> Optional[bool]:
        return self.evaluator.healthy(check_id)


@pytest.fixture
def world(client) -> Iterator[World]:
    primary = AppStandIn("primary", "us-east-1").start()
    secondary = AppStandIn("secondary", "us-west-2").start()
    try:
        yield World(client("route53"), primary, secondary)
    finally:
        primary.stop()
        secondary.stop()


def test_a_new_check_is_healthy_until_it_has_data(world):
    world.apps["primary"].set_up(False)
    check = world.health_check("primary")
    world.evaluator.refresh()
    state = world.evaluator.get(check)
    assert state is not None and state.status() is True and state.has_data is False
    world.evaluator.tick()  # first result: failure 1 of 3
    assert world.healthy(check) is True and world.evaluator.get(check).has_data is True


def test_status_changes_after_threshold_consecutive_results(world):
    check = world.health_check("primary", threshold=3)
    world.evaluator.tick()
    world.apps["primary"].set_up(False)
    world.step(10)
    world.step(10)
    assert world.healthy(check) is True
    world.apps["primary"].set_up(True)  # a success resets the count
    world.step(10)
    world.apps["primary"].set_up(False)
    world.step(10)
    world.step(10)
    assert world.healthy(check) is True
    world.step(10)
    assert world.healthy(check) is False
    state = world.evaluator.get(check)
    assert state.since == 60 and state.transitions[-1] == {"at": 60, "healthy": False, "detail": "HTTP 503",
                                                          "healthy_checkers": 0, "checkers": 1}
    world.apps["primary"].set_up(True)
    world.step(10)
    world.step(10)
    assert world.healthy(check) is False
    world.step(10)
    assert world.healthy(check) is True and world.evaluator.get(check).since == 90


def test_probes_follow_the_request_interval(world):
    check = world.health_check("primary", interval=30, threshold=1)
    world.evaluator.tick()
    world.apps["primary"].set_mode("closed")
    world.step(29)
    assert world.healthy(check) is True and world.evaluator.get(check).last_probe_at == 0
    world.step(1)
    assert world.healthy(check) is False and "connect" in world.evaluator.get(check).last_detail


def test_inverted_check_is_unhealthy_while_the_endpoint_is_up(world):
    check = world.health_check("primary", threshold=2)
    world.evaluator.tick()
    world.route53.update_health_check(HealthCheckId=check, Inverted=True)
    world.step()
    assert world.healthy(check) is True
    world.step()
    assert world.healthy(check) is False
    world.route53.update_health_check(HealthCheckId=check, Inverted=False)
    world.step()
    world.step()
    assert world.healthy(check) is True


def test_disabled_check_is_always_healthy(world):
    check = world.health_check("primary", threshold=1, Disabled=True)
    world.apps["primary"].set_mode("closed")
    for _ in range(3):
        world.step()
    assert world.healthy(check) is True
    assert world.evaluator.get(check).has_data is False  # not probed at all


def test_unknown_name_is_unhealthy(world):
    check = world.route53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig={
        "Type": "HTTP", "FullyQualifiedDomainName": "nowhere.invalid", "Port": 80, "ResourcePath": "/",
        "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]
    world.evaluator.tick()
    assert world.healthy(check) is False and "does not resolve" in world.evaluator.get(check).last_detail


def test_failover_answers_follow_route53(world):
    primary_check = world.health_check("primary", threshold=1)
    secondary_check = world.health_check("secondary", threshold=1)
    world.records(primary_check, secondary_check)
    world.evaluator.tick()
    assert world.dns.authoritative(world.record)["answer"] == "PRIMARY"
    world.apps["primary"].set_up(False)
    world.step()
    answer = world.dns.authoritative(world.record)
    assert answer["answer"] == "SECONDARY" and answer["values"] == [world.names["secondary"]]
    assert answer["since"] == 10
    world.apps["secondary"].set_up(False)
    world.step()
    both = world.dns.authoritative(world.record)
    assert both["answer"] == "PRIMARY" and "both unhealthy" in both["reason"]
    world.apps["primary"].set_up(True)
    world.step()
    assert world.dns.authoritative(world.record)["answer"] == "PRIMARY"


def test_resolver_keeps_an_answer_for_its_ttl(world):
    primary_check = world.health_check("primary", threshold=1)
    world.records(primary_check, ttl=30)
    world.evaluator.tick()
    first = world.dns.resolve(world.record)
    assert first["answer"] == "PRIMARY" and first["cached"] is False
    world.apps["primary"].set_up(False)
    world.step(10)  # t=10: the next probe fails, the primary is unhealthy
    assert world.dns.authoritative(world.record)["answer"] == "SECONDARY"
    cached = world.dns.resolve(world.record)
    assert cached["answer"] == "PRIMARY" and cached["cached"] is True and cached["expires_in"] == pytest.approx(20)
    world.clock.advance(20)  # t=30: the cached answer expires
    fresh = world.dns.resolve(world.record)
    assert fresh["answer"] == "SECONDARY" and fresh["cached"] is False and fresh["resolved_since"] == 30


def test_evaluator_thread_starts_and_stops(world):
    check = world.health_check("primary", threshold=1, interval=10)
    world.evaluator.tick_seconds = 0.01
    world.evaluator.start()
    try:
        world.apps["primary"].set_up(False)
        world.clock.advance(10)
        deadline = time.monotonic() + 5
        while world.healthy(check) is not False and time.monotonic() < deadline:
            time.sleep(0.01)
        assert world.healthy(check) is False
    finally:
        world.evaluator.stop()
    assert not [t for t in threading.enumerate() if t.name == "sandbox-health-checks" and t.is_alive()]


@pytest.fixture
def tls_world(client) -> Iterator[World]:
    """Stand-ins that terminate TLS like the dr stack's HTTPS listeners, with a self-signed certificate."""
    from infra.sandbox.tls import server_context

    primary = AppStandIn("primary", "us-east-1", tls=server_context(["api.example.test"])).start()
    secondary = AppStandIn("secondary", "us-west-2", tls=server_context(["api.example.test"])).start()
    try:
        yield World(client("route53"), primary, secondary)
    finally:
        primary.stop()
        secondary.stop()


def test_https_check_does_a_tls_handshake_and_ignores_the_self_signed_certificate(tls_world):
    """Route 53 Developer Guide, "How Amazon Route 53 determines whether a health check is
    healthy": HTTPS checks need a TLS endpoint but do not validate its certificate."""
    check = tls_world.health_check("primary", threshold=1, Type="HTTPS", Port=443, EnableSNI=True)
    tls_world.evaluator.tick()
    state = tls_world.evaluator.get(check)
    assert state.has_data and state.last_result is True and state.last_detail == "HTTP 200"
    # The same endpoint probed without TLS fails: the HTTPS check really spoke TLS.
    plain = tls_world.health_check("primary", threshold=1, Type="HTTP")
    tls_world.evaluator.tick()
    assert tls_world.evaluator.get(plain).last_result is False


def test_https_check_goes_unhealthy_when_the_endpoint_stops_answering_tls(tls_world):
    check = tls_world.health_check("primary", threshold=3, Type="HTTPS", Port=443, EnableSNI=True)
    tls_world.records(check)
    tls_world.evaluator.tick()
    assert tls_world.healthy(check) is True
    tls_world.apps["primary"].set_mode("plain")  # still listening and serving, but without TLS
    tls_world.step(10)
    tls_world.step(10)
    assert tls_world.healthy(check) is True
    tls_world.step(10)
    state = tls_world.evaluator.get(check)
    assert tls_world.healthy(check) is False and "TLS handshake" in state.last_detail
    assert tls_world.dns.authoritative(tls_world.record)["answer"] == "SECONDARY"
    tls_world.apps["primary"].set_mode("up")
    for _ in range(3):
        tls_world.step(10)
    assert tls_world.healthy(check) is True


# -- the checker fleet and the 18 % rule -----------------------------------------------------------
# Route 53 Developer Guide, "How Amazon Route 53 determines whether a health check is healthy",
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html:
# checkers in different locations "don't coordinate with one another"; "If more than 18% of
# health checkers report that an endpoint is healthy, Route 53 considers it healthy. If 18% of
# health checkers or fewer report that an endpoint is healthy, Route 53 considers it unhealthy."


def test_the_18_percent_rule_at_its_boundary():
    from infra.sandbox.route53 import fleet_healthy

    assert fleet_healthy(10, 50) is True  # 20 %
    assert fleet_healthy(9, 50) is False  # exactly 18 %: "18% ... or fewer" is unhealthy
    assert fleet_healthy(2, 8) is True and fleet_healthy(1, 8) is False
    assert fleet_healthy(1, 1) is True and fleet_healthy(0, 1) is False


@pytest.fixture
def fleet_world(client) -> Iterator[World]:
    primary = AppStandIn("primary", "us-east-1").start()
    secondary = AppStandIn("secondary", "us-west-2").start()
    try:
        yield World(client("route53"), primary, secondary, checkers=None)  # the default fleet
    finally:
        primary.stop()
        secondary.stop()


def test_default_fleet_probes_out_of_phase_and_flips_on_the_18_percent_rule(fleet_world):
    """Eight checkers (Route 53's default Regions), each on its own phase and its own
    failure-threshold count: the check stays healthy while more than 18 % of them (2 of 8)
    still say healthy and turns unhealthy on the probe that leaves 1 of 8."""
    from infra.sandbox.route53 import DEFAULT_CHECKERS

    world = fleet_world
    check = world.health_check("primary", interval=10, threshold=2)
    world.records(check)
    world.evaluator.tick()  # t=0: the first checker probes
    state = world.evaluator.get(check)
    assert len(state.checkers) == DEFAULT_CHECKERS == 8
    phases = sorted(c.next_probe_at for c in state.checkers)
    assert len(set(phases)) == 8 and phases[-1] - phases[0] < 10  # spread over one interval
    for _ in range(7):  # one interval of 1.25 s steps: every checker probes once, healthy
        world.step(1.25)
    assert all(c.last_result is True for c in state.checkers)
    world.apps["primary"].set_up(False)
    fault_at = world.clock.now()
    seen: list[tuple[float, int, bool]] = []
    while world.healthy(check) and world.clock.now() < fault_at + 60:
        world.step(1.25)
        seen.append((world.clock.now(), sum(c.healthy for c in state.checkers), world.healthy(check)))
    flip = state.transitions[-1]
    assert flip["healthy"] is False and flip["healthy_checkers"] == 1 and flip["checkers"] == 8
    # healthy all along while 2 or more checkers still said healthy
    assert all(healthy for _, count, healthy in seen[:-1]) and all(count >= 2 for _, count, _ in seen[:-1])
    # each checker needs `threshold` failed probes `interval` apart: not before one interval after the fault
    assert flip["at"] - fault_at >= 10
    # the 18 % rule, not the slowest checker: one checker still said healthy at the flip
    assert sum(c.healthy for c in state.checkers) == 1
    assert world.dns.authoritative(world.record)["answer"] == "SECONDARY"
    # probes land at distinct times (no coordination), several per interval
    probe_times = {c.last_probe_at for c in state.checkers}
    assert len(probe_times) == 8


def test_regions_of_a_check_set_its_fleet(fleet_world):
    check = fleet_world.health_check("primary", Regions=["us-east-1", "eu-west-1", "ap-southeast-1"])
    fleet_world.evaluator.refresh()
    assert [c.region for c in fleet_world.evaluator.get(check).checkers] == ["us-east-1", "eu-west-1", "ap-southeast-1"]
    assert fleet_world.evaluator.get(check).as_dict()["healthy_checkers"] == 3


def test_a_probe_fails_when_the_endpoint_does_not_answer_within_the_response_timeout(world):
    """An HTTP probe needs a 2xx/3xx within 2 s of connecting (same page). A listener that
    accepts (the kernel completes the handshake from its backlog) but never answers fails the
    probe on the response timeout, not by hanging the evaluator."""
    from recovery_lib.budget import PROBE_RESPONSE_TIMEOUT_SECONDS

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        world.apps["primary"].port = silent.getsockname()[1]  # the resolver now points at the silent port
        check = world.health_check("primary", threshold=1)
        started = time.monotonic()
        world.evaluator.tick()
        elapsed = time.monotonic() - started
        state = world.evaluator.get(check)
        assert state.last_result is False and "timed out" in state.last_detail, state.last_detail
        assert world.healthy(check) is False
        # the evaluator gave up on the timeout (a ManualClock runs at scale 1), it did not hang
        assert elapsed >= PROBE_RESPONSE_TIMEOUT_SECONDS * 0.9
    finally:
        silent.close()
