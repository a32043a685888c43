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
- One checker, not Route 53's fleet with its 18 % rule; CALCULATED and CLOUDWATCH_METRIC
  checks are listed as ``unevaluated`` and count as healthy.

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
from infra.sandbox.clock import Clock
from infra.sandbox.periodic import Periodic

logger = logging.getLogger(__name__)

STRING_MATCH_BYTES = 5120
ALIAS_TTL = 60  # an alias to a load balancer takes the ELB record's TTL
EVALUATED_TYPES = ("HTTP", "HTTP_STR_MATCH", "HTTPS", "HTTPS_STR_MATCH", "TCP")
TLS_TYPES = ("HTTPS", "HTTPS_STR_MATCH")

# fqdn -> (host, port) on loopback, or None when the name does not resolve
Resolver = Callable[[str], Optional[tuple[str, int]]]


@dataclass
class CheckState:
    id: str
    config: dict[str, Any]
    healthy: bool = True
    has_data: bool = False
    consecutive: int = 0  # results in a row that disagree with ``healthy``
    next_probe_at: float = 0.0
    since: float = 0.0  # when ``healthy`` last changed (or the check was first seen)
    last_result: Optional[bool] = None
    last_detail: str = ""
    last_probe_at: Optional[float] = None
    transitions: list[dict[str, Any]] = field(default_factory=list)

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
        }

    def status(self) -> bool:
        if self.config.get("Disabled"):
            return True
        return self.healthy


class HealthCheckEvaluator:
    def __init__(self, route53: Any, resolver: Resolver, *, clock: Optional[Clock] = None,
                 tick_seconds: float = 0.05, refresh_seconds: float = 0.0) -> None:
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
                    self._checks[check_id] = CheckState(check_id, config, next_probe_at=now, since=now)
                else:
                    state.config = config

    def tick(self) -> None:
        """Re-read the checks (every ``refresh_seconds``), probe the ones due, tell the listeners."""
        real_now = time.monotonic()
        refreshed = self._refreshed_at is None or real_now - self._refreshed_at >= self.refresh_seconds
        if refreshed:
            self.refresh()
            self._refreshed_at = real_now
        now = self.clock.now()
        with self._lock:
            due = [s for s in self._checks.values() if now >= s.next_probe_at]
        transitions = sum(len(s.transitions) for s in due)
        for state in due:
            if state.config.get("Disabled") or state.config.get("Type") not in EVALUATED_TYPES:
                state.next_probe_at = now + state.config.get("RequestInterval", 30)
                continue
            ok, detail = self.probe(state.config)
            self.record(state, ok, detail, now)
        if refreshed or sum(len(s.transitions) for s in due) != transitions:
            for listener in list(self.listeners):
                listener()

    def record(self, state: CheckState, raw_ok: bool, detail: str, now: float) -> None:
        """Count one probe result against the failure threshold."""
        with self._lock:
            result = (not raw_ok) if state.config.get("Inverted") else raw_ok
            state.last_result, state.last_detail, state.last_probe_at = result, detail, now
            state.has_data = True
            state.next_probe_at = now + state.config.get("RequestInterval", 30)
            if result == state.healthy:
                state.consecutive = 0
                return
            state.consecutive += 1
            if state.consecutive >= state.config.get("FailureThreshold", 3):
                state.healthy = result
                state.consecutive = 0
                state.since = now
                state.transitions.append({"at": now, "healthy": result, "detail": detail})
                logger.info("health check %s is now %s at %.1f s (%s)", state.id,
                            "healthy" if result else "UNHEALTHY", now, detail)

    def probe(self, config: dict[str, Any]) -> tuple[bool, str]:
        fqdn = config.get("FullyQualifiedDomainName") or config.get("IPAddress") or ""
        target = self.resolver(fqdn)
        if target is None:
            return False, f"{fqdn} does not resolve in the sandbox"
        host, port = target
        kind = config["Type"]
        connect_timeout = self.clock.real(10 if kind == "TCP" else 4)
        try:
            sock = socket.create_connection((host, port), timeout=max(connect_timeout, 0.05))
        except OSError as exc:
            return False, f"connect to {fqdn}: {exc}"
        if kind == "TCP":
            sock.close()
            return True, "TCP connect ok"
        answer_timeout = max(self.clock.real(2), 0.05)
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
