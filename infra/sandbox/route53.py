"""Route 53 health checks and failover DNS, emulated on top of moto (which reports every check healthy).

:class:`HealthCheckEvaluator` reads the health checks **from the emulator's Route 53 API**
every tick (so a check created, updated — ``Inverted``/``Disabled`` through
``UpdateHealthCheck`` — or deleted by anyone takes effect) and probes each one every
``RequestInterval`` emulated seconds, the way Route 53 documents it:

- HTTP / HTTP_STR_MATCH: TCP connect within 4 s and a 2xx/3xx status within 2 s (emulated
  seconds, scaled); HTTP_STR_MATCH also needs ``SearchString`` in the first 5,120 bytes.
- HTTPS / HTTPS_STR_MATCH: the same over TLS: a real handshake (with the name in SNI when
  ``EnableSNI``), without validating the certificate, as Route 53 does not (Route 53
  Developer Guide, "How Amazon Route 53 determines whether a health check is healthy",
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html:
  "Route 53 doesn't validate the SSL/TLS certificate, so checks don't fail if the
  certificate is invalid or expired"). A failed handshake is a failed check.
  TCP: connect within 10 s. The target is ``FullyQualifiedDomainName`` resolved through the
  sandbox's map (each load balancer's DNS name -> the region's app stand-in), on 127.0.0.1.
- A new check is healthy until it has data; the status flips only after
  ``FailureThreshold`` consecutive results that disagree with it.
- ``Inverted`` inverts each result; a ``Disabled`` check is always healthy (the
  UpdateHealthCheck reference: "Route 53 considers the status of the health check to always
  be healthy").
- A fleet of ``checkers`` health checkers per check (default :data:`DEFAULT_CHECKERS`, one
  per default Route 53 health-checking Region, or one per Region in the check's
  ``Regions``), each with its own phase inside ``RequestInterval`` (checkers "don't
  coordinate with one another") and its own ``FailureThreshold`` count. The check is healthy
  while **more than 18 %** of the checkers report healthy (same page: "If more than 18% of
  health checkers report that an endpoint is healthy, Route 53 considers it healthy. If 18%
  of health checkers or fewer report that an endpoint is healthy, Route 53 considers it
  unhealthy."). CALCULATED and CLOUDWATCH_METRIC checks are listed as ``unevaluated`` and
  count as healthy.

:class:`DnsResolver` answers a failover record name the way Route 53 does: the PRIMARY
record when its health check is healthy (or it has none), the SECONDARY when the primary is
unhealthy and the secondary is not, the PRIMARY again when both are unhealthy. Records are
read from the emulator on every authoritative answer. :meth:`DnsResolver.resolve` is a
caching resolver in front of it that keeps an answer for its TTL (60 s for alias records,
the load balancer's), as a client would.

Every time is in emulated seconds (see :mod:`infra.sandbox.clock`).
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


from infra.sandbox import tls
from recovery_lib.budget import HEALTHY_FRACTION, PROBE_CONNECT_TIMEOUT_SECONDS, PROBE_RESPONSE_TIMEOUT_SECONDS
from infra.sandbox.clock import Clock
from infra.sandbox.periodic import Periodic

logger = logging.getLogger(__name__)

STRING_MATCH_BYTES = 5120
ALIAS_TTL = 60  # an alias to a load balancer takes the ELB record's TTL
EVALUATED_TYPES = ("HTTP", "HTTP_STR_MATCH", "HTTPS", "HTTPS_STR_MATCH", "TCP")
TLS_TYPES = ("HTTPS", "HTTPS_STR_MATCH")
# Route 53's default health-checking Regions (HealthCheckConfig.Regions, Route 53 API
# Reference, https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html:
# "If you don't specify any Regions, Route 53 health checkers in all of the default
# Regions"); the sandbox runs one checker per Region.
DEFAULT_REGIONS = ("us-east-1", "us-west-1", "us-west-2", "eu-west-1",
                   "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1")
DEFAULT_CHECKERS = len(DEFAULT_REGIONS)
TCP_CONNECT_TIMEOUT_SECONDS = 10  # a TCP check: connection within 10 s (same page)

# fqdn -> (host, port) on loopback, or None when the name does not resolve
Resolver = Callable[[str], Optional[tuple[str, int]]]


@dataclass
class Checker:
    """One Route 53 health checker: its own schedule and its own failure-threshold count."""

    region: str
    next_probe_at: float
    healthy: bool = True
    consecutive: int = 0  # results in a row that disagree with ``healthy``
    last_result: Optional[bool] = None
    last_probe_at: Optional[float] = None
    last_detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "healthy": self.healthy, "consecutive": self.consecutive,
                "last_result": self.last_result, "last_probe_at": self.last_probe_at,
                "last_detail": self.last_detail, "next_probe_at": self.next_probe_at}


@dataclass
class CheckState:
    id: str
    config: dict[str, Any]
    healthy: bool = True
    has_data: bool = False
    consecutive: int = 0  # the most disagreeing results in a row among the checkers
    next_probe_at: float = 0.0  # the earliest next probe of any checker
    since: float = 0.0  # when ``healthy`` last changed (or the check was first seen)
    last_result: Optional[bool] = None  # the latest probe of any checker
    last_detail: str = ""
    last_probe_at: Optional[float] = None
    transitions: list[dict[str, Any]] = field(default_factory=list)
    checkers: list[Checker] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "id": self.id,
            "type": cfg.get("Type"),
            "fqdn": cfg.get("FullyQualifiedDomainName"),
            "port": cfg.get("Port"),
            "resource_path": cfg.get("ResourcePath"),
            "request_interval": cfg.get("RequestInterval", 30),
            "failure_threshold": cfg.get("FailureThreshold", 3),
            "inverted": bool(cfg.get("Inverted")),
            "disabled": bool(cfg.get("Disabled")),
            "evaluated": cfg.get("Type") in EVALUATED_TYPES,
            "healthy": self.status(),
            "has_data": self.has_data,
            "since": self.since,
            "consecutive": self.consecutive,
            "last_result": self.last_result,
            "last_detail": self.last_detail,
            "last_probe_at": self.last_probe_at,
            "transitions": list(self.transitions),
            "checkers": [c.as_dict() for c in self.checkers],
            "healthy_checkers": sum(1 for c in self.checkers if c.healthy),
        }

    def status(self) -> bool:
        if self.config.get("Disabled"):
            return True
        return self.healthy


class HealthCheckEvaluator:
    def __init__(self, route53: Any, resolver: Resolver, *, clock: Optional[Clock] = None,
                 tick_seconds: float = 0.05, refresh_seconds: float = 0.0,
                 checkers: Optional[int] = None) -> None:
        if checkers is not None and checkers < 1:
            raise ValueError(f"checkers must be 1 or more, got {checkers!r}")
        # None: one checker per Region of the check (its ``Regions``, else Route 53's defaults)
        self.checkers = checkers
        self.route53 = route53
        self.resolver = resolver
        self.clock = clock or Clock()
        self.tick_seconds = tick_seconds
        # Real seconds between reads of the checks from the emulator (0: every tick). The
        # background thread uses at least 0.5 s so an idle sandbox stays cheap.
        self.refresh_seconds = refresh_seconds
        self._refreshed_at: Optional[float] = None
        self._checks: dict[str, CheckState] = {}
        self._lock = threading.RLock()
        self._loop = Periodic("sandbox-health-checks", self.tick, lambda: self.tick_seconds)
        self.listeners: list[Callable[[], None]] = []  # called after every tick (the DNS resolver)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "HealthCheckEvaluator":
        # In the background the checks are re-read at most every 0.5 s: an idle sandbox stays cheap.
        self.refresh_seconds = max(self.refresh_seconds, 0.5)
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

    # -- evaluation -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read every health check from the emulator (new ones start healthy, without data)."""
        now = self.clock.now()
        listed: dict[str, dict[str, Any]] = {}
        paginator = self.route53.get_paginator("list_health_checks")
        for page in paginator.paginate():
            for check in page.get("HealthChecks", []):
                listed[check["Id"]] = check["HealthCheckConfig"]
        with self._lock:
            for check_id in list(self._checks):
                if check_id not in listed:
                    del self._checks[check_id]
            for check_id, config in listed.items():
                state = self._checks.get(check_id)
                if state is None:
                    state = self._checks[check_id] = CheckState(check_id, config, next_probe_at=now, since=now)
                    state.checkers = self._fleet(config, now)
                else:
                    state.config = config

    def _fleet(self, config: dict[str, Any], now: float) -> list[Checker]:
        """The checkers of a new check, their first probes spread evenly over one interval
        (they do not coordinate: each keeps its own phase from then on)."""
        regions = list(config.get("Regions") or DEFAULT_REGIONS)
        count = self.checkers or len(regions)
        names = [regions[k % len(regions)] + (f"#{k // len(regions) + 1}" if k >= len(regions) else "")
                 for k in range(count)]
        interval = config.get("RequestInterval", 30)
        return [Checker(name, next_probe_at=now + k * interval / count) for k, name in enumerate(names)]

    def tick(self) -> None:
        """Re-read the checks (every ``refresh_seconds``), probe the ones due, tell the listeners."""
        real_now = time.monotonic()
        refreshed = self._refreshed_at is None or real_now - self._refreshed_at >= self.refresh_seconds
        if refreshed:
            self.refresh()
            self._refreshed_at = real_now
        now = self.clock.now()
        with self._lock:
            due = [(s, c) for s in self._checks.values() for c in s.checkers if now >= c.next_probe_at]
        transitions = sum(len(s.transitions) for s in self._checks.values())
        for state, checker in due:
            interval = state.config.get("RequestInterval", 30)
            if state.config.get("Disabled") or state.config.get("Type") not in EVALUATED_TYPES:
                checker.next_probe_at = _next_slot(checker.next_probe_at, interval, now)
                continue
            started = self.clock.now()  # each probe stamped when it starts, not when the tick did
            ok, detail = self.probe(state.config)
            self.record(state, ok, detail, started, checker)
        if refreshed or sum(len(s.transitions) for s in self._checks.values()) != transitions:
            for listener in list(self.listeners):
                listener()

    def record(self, state: CheckState, raw_ok: bool, detail: str, now: float,
               checker: Optional[Checker] = None) -> None:
        """Count one checker's probe result against the failure threshold, then apply the 18 % rule."""
        with self._lock:
            if checker is None:  # the earliest-due checker (tests that feed results by hand)
                checker = min(state.checkers, key=lambda c: c.next_probe_at)
            interval = state.config.get("RequestInterval", 30)
            result = (not raw_ok) if state.config.get("Inverted") else raw_ok
            checker.last_result, checker.last_detail, checker.last_probe_at = result, detail, now
            checker.next_probe_at = _next_slot(checker.next_probe_at, interval, now)
            state.last_result, state.last_detail, state.last_probe_at = result, detail, now
            state.has_data = True
            if result == checker.healthy:
                checker.consecutive = 0
            else:
                checker.consecutive += 1
                if checker.consecutive >= state.config.get("FailureThreshold", 3):
                    checker.healthy = result
                    checker.consecutive = 0
            state.next_probe_at = min(c.next_probe_at for c in state.checkers)
            state.consecutive = max(c.consecutive for c in state.checkers)
            healthy_count = sum(1 for c in state.checkers if c.healthy)
            healthy = fleet_healthy(healthy_count, len(state.checkers))
            if healthy != state.healthy:
                state.healthy = healthy
                state.since = now
                state.transitions.append({"at": now, "healthy": healthy, "detail": detail,
                                          "healthy_checkers": healthy_count, "checkers": len(state.checkers)})
                logger.info("health check %s is now %s at %.1f s: %d of %d checkers healthy (%s)", state.id,
                            "healthy" if healthy else "UNHEALTHY", now, healthy_count, len(state.checkers), detail)

    def probe(self, config: dict[str, Any]) -> tuple[bool, str]:
        fqdn = config.get("FullyQualifiedDomainName") or config.get("IPAddress") or ""
        target = self.resolver(fqdn)
        if target is None:
            return False, f"{fqdn} does not resolve in the sandbox"
        host, port = target
        kind = config["Type"]
        connect_timeout = self.clock.real(TCP_CONNECT_TIMEOUT_SECONDS if kind == "TCP" else PROBE_CONNECT_TIMEOUT_SECONDS)
        try:
            sock = socket.create_connection((host, port), timeout=max(connect_timeout, 0.05))
        except OSError as exc:
            return False, f"connect to {fqdn}: {exc}"
        if kind == "TCP":
            sock.close()
            return True, "TCP connect ok"
        answer_timeout = max(self.clock.real(PROBE_RESPONSE_TIMEOUT_SECONDS), 0.05)
        if kind in TLS_TYPES:
            sock.settimeout(answer_timeout)
            sni = fqdn if config.get("EnableSNI") else None
            try:
                sock = tls.client_context().wrap_socket(sock, server_hostname=sni)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                return False, f"TLS handshake with {fqdn}: {type(exc).__name__}: {exc}"
        conn = http.client.HTTPConnection(host, port, timeout=answer_timeout)
        conn.sock = sock
        try:
            conn.request("GET", config.get("ResourcePath") or "/", headers={"Host": fqdn,
                                                                              "User-Agent": "Amazon-Route53-Health-Check-Service"})
            response = conn.getresponse()
            body = response.read(STRING_MATCH_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            return False, f"GET {fqdn}: {type(exc).__name__}: {exc}"
        finally:
            conn.close()
        if not 200 <= response.status < 400:
            return False, f"HTTP {response.status}"
        if kind.endswith("_STR_MATCH") and config.get("SearchString", "").encode() not in body:
            return False, f"HTTP {response.status} without {config.get('SearchString')!r}"
        return True, f"HTTP {response.status}"

    # -- observations ---------------------------------------------------------------------------
    def healthy(self, check_id: str) -> Optional[bool]:
        """The check's status, or None when no such check exists."""
        with self._lock:
            state = self._checks.get(check_id)
            return None if state is None else state.status()

    def get(self, check_id: str) -> Optional[CheckState]:
        with self._lock:
            return self._checks.get(check_id)

    def status(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.as_dict() for s in self._checks.values()]


def fleet_healthy(healthy_checkers: int, checkers: int) -> bool:
    """Route 53's 18 % rule: healthy while MORE than 18 % of the checkers report healthy
    (integer percent, so 9 of 50 (exactly 18 %) is unhealthy)."""
    return healthy_checkers * 100 > round(HEALTHY_FRACTION * 100) * checkers


def _next_slot(scheduled: float, interval: float, now: float) -> float:
    """The checker's next probe: one interval after this one. A probe that ran late (a busy
    machine at a high time scale) shifts the checker's phase rather than probing again
    sooner than ``interval``, so probes are never closer than the interval."""
    return max(scheduled, now) + interval


@dataclass
class _Cached:
    answer: dict[str, Any]
    cached_at: float
    ttl: float


class DnsResolver:
    def __init__(self, route53: Any, evaluator: HealthCheckEvaluator, *, clock: Optional[Clock] = None,
                 target_healthy: Optional[Callable[[str], bool]] = None) -> None:
        self.route53 = route53
        self.evaluator = evaluator
        self.clock = clock or evaluator.clock
        self.target_healthy = target_healthy  # alias EvaluateTargetHealth: is this DNS name's target healthy?
        self._cache: dict[str, _Cached] = {}
        self._authoritative: dict[str, tuple[Optional[str], float]] = {}  # name -> (role, since)
        self._resolved_since: dict[str, tuple[Optional[str], float]] = {}
        self.watched: set[str] = set()
        self._lock = threading.RLock()

    @staticmethod
    def _fqdn(name: str) -> str:
        return name.rstrip(".") + "."

    def _records(self, name: str) -> list[dict[str, Any]]:
        fqdn = self._fqdn(name)
        records: list[dict[str, Any]] = []
        for zone in self.route53.list_hosted_zones().get("HostedZones", []):
            zone_name = zone["Name"]
            if fqdn != zone_name and not fqdn.endswith("." + zone_name):
                continue
            paginator = self.route53.get_paginator("list_resource_record_sets")
            for page in paginator.paginate(HostedZoneId=zone["Id"]):
                records += [r for r in page["ResourceRecordSets"] if r["Name"] == fqdn]
        return records

    def _record_healthy(self, record: dict[str, Any]) -> tuple[bool, str]:
        check_id = record.get("HealthCheckId")
        if check_id:
            status = self.evaluator.healthy(check_id)
            if status is None:
                return True, f"health check {check_id} does not exist (treated as healthy)"
            if not status:
                return False, f"health check {check_id} unhealthy"
        alias = record.get("AliasTarget")
        if alias and alias.get("EvaluateTargetHealth") and self.target_healthy is not None:
            if not self.target_healthy(alias["DNSName"]):
                return False, f"alias target {alias['DNSName']} unhealthy"
        return True, "healthy"

    def authoritative(self, name: str) -> dict[str, Any]:
        """What Route 53 answers for ``name`` right now."""
        now = self.clock.now()
        records = self._records(name)
        failover = {r.get("Failover"): r for r in records if r.get("Failover")}
        chosen: Optional[dict[str, Any]] = None
        reason = ""
        if failover:
            primary, secondary = failover.get("PRIMARY"), failover.get("SECONDARY")
            p_ok, p_why = self._record_healthy(primary) if primary else (False, "no PRIMARY record")
            s_ok, s_why = self._record_healthy(secondary) if secondary else (False, "no SECONDARY record")
            if primary is not None and p_ok:
                chosen, reason = primary, "primary healthy"
            elif secondary is not None and s_ok:
                chosen, reason = secondary, f"primary unhealthy ({p_why})"
            else:
                chosen = primary or secondary
                reason = f"both unhealthy ({p_why}; {s_why}): Route 53 answers the primary"
        elif records:
            chosen, reason = records[0], "simple record"
        role = chosen.get("Failover") if chosen else None
        with self._lock:
            previous = self._authoritative.get(name)
            if previous is None or previous[0] != role:
                self._authoritative[name] = (role, now)
            since = self._authoritative[name][1]
        return self._answer(name, chosen, role, reason, now, since)

    def _answer(self, name: str, record: Optional[dict[str, Any]], role: Optional[str], reason: str,
                now: float, since: float) -> dict[str, Any]:
        if record is None:
            return {"name": name, "answer": None, "reason": "NXDOMAIN: no record", "at": now, "since": since,
                    "ttl": 0, "values": [], "set_identifier": None, "health_check_id": None}
        alias = record.get("AliasTarget")
        values = [alias["DNSName"]] if alias else [v["Value"] for v in record.get("ResourceRecords", [])]
        return {"name": name, "answer": role, "set_identifier": record.get("SetIdentifier"),
                "type": record.get("Type"), "values": values, "ttl": ALIAS_TTL if alias else record.get("TTL", 0),
                "health_check_id": record.get("HealthCheckId"), "reason": reason, "at": now, "since": since}

    def resolve(self, name: str) -> dict[str, Any]:
        """What a caching client sees: the authoritative answer, kept for its TTL."""
        now = self.clock.now()
        with self._lock:
            self.watched.add(name)
            cached = self._cache.get(name)
            if cached is not None and now < cached.cached_at + cached.ttl:
                answer = dict(cached.answer)
                answer.update(cached=True, expires_in=cached.cached_at + cached.ttl - now)
            else:
                fresh = self.authoritative(name)
                self._cache[name] = _Cached(fresh, now, float(fresh["ttl"]))
                answer = dict(fresh)
                answer.update(cached=False, expires_in=float(fresh["ttl"]))
            previous = self._resolved_since.get(name)
            if previous is None or previous[0] != answer["answer"]:
                self._resolved_since[name] = (answer["answer"], now)
            answer["resolved_since"] = self._resolved_since[name][1]
            return answer

    def observe(self) -> None:
        """Refresh the authoritative answer of every watched name (records when it changes)."""
        for name in list(self.watched):
            self.authoritative(name)
