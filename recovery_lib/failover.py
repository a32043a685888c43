"""Which region serves a call: per-region circuit breakers and the failover policy (pure).

A breaker is *closed* while its region answers. After ``threshold`` consecutive failures
(each one already retried by botocore) it *opens*: calls skip the region without paying a
timeout. After ``cooldown`` seconds it is *half-open*: calls may try the region again; the
first success closes it, a failure opens it for another cool-down.

The policy orders regions for reads (primary first while its breaker lets calls through)
and picks the region for writes (primary, or the secondary when the primary's breaker is
open and write failover is on).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Sequence

from .errors import RegionUnavailable

__all__ = ["CircuitBreaker", "FailoverPolicy"]

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    """A per-region circuit breaker with an injectable monotonic clock."""

    def __init__(self, region: str, *, threshold: int = 1, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError(f"threshold must be >= 1 and cooldown > 0, got {threshold}, {cooldown}")
        self.region = region
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return HALF_OPEN if self._clock() - self._opened_at >= self.cooldown else OPEN

    def allow(self) -> bool:
        """May a call go to this region now? (closed or half-open)"""
        with self._lock:
            return self._state() != OPEN

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a call through (0 when it already does)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        with self._lock:
            was_open = self._opened_at is not None
            self._failures = 0
            self._opened_at = None
        if was_open:
            logger.info("region %s answered again; circuit closed", self.region)

    def record_failure(self, reason: object = None) -> None:
        with self._lock:
            state = self._state()
            self._failures += 1
            opening = state == HALF_OPEN or (state == CLOSED and self._failures >= self.threshold)
            if opening:
                self._opened_at = self._clock()
        if opening:
            logger.warning("region %s unavailable (%s); circuit open for %.1fs",
                           self.region, reason, self.cooldown)


class FailoverPolicy:
    """Orders regions for reads and picks the region for writes.

    ``regions`` lists region labels in preference order (primary first). With a single
    region there is nothing to fail over to: an open breaker then fails calls fast.
    """

    def __init__(self, regions: Sequence[str], *, threshold: int = 1, cooldown: float = 30.0,
                 write_failover: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        if not regions:
            raise ValueError("at least one region is required")
        self.regions = tuple(regions)
        self.write_failover = write_failover
        self.breakers = {r: CircuitBreaker(r, threshold=threshold, cooldown=cooldown, clock=clock)
                         for r in self.regions}

    def read_order(self) -> list[str]:
        """Regions to try for a read, best first; RegionUnavailable if every breaker is open."""
        order = [r for r in self.regions if self.breakers[r].allow()]
        if not order:
            raise self._all_open()
        return order

    def write_order(self) -> list[str]:
        """Regions a write may go to, best first (the primary only, unless write failover)."""
        if self.write_failover:
            return self.read_order()
        if not self.breakers[self.regions[0]].allow():
            raise RegionUnavailable(f"{self._all_open()} and write failover is off")
        return list(self.regions[:1])

    def record_success(self, region: str) -> None:
        self.breakers[region].record_success()

    def record_failure(self, region: str, reason: object = None) -> None:
        self.breakers[region].record_failure(reason)

    def _all_open(self) -> RegionUnavailable:
        waits = ", ".join(f"{r} retried in {self.breakers[r].retry_in():.1f}s" for r in self.regions
                          if not self.breakers[r].allow())
        return RegionUnavailable(f"no region available (circuit open: {waits})")
