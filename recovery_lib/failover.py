"""Which region serves a call: per-region circuit breakers and the failover policy (pure).

A breaker is *closed* while its region answers. After ``threshold`` consecutive failures
(each one already retried by botocore) it *opens*: calls skip the region without paying a
timeout. After ``cooldown`` seconds it is *half-open*: exactly ONE call at a time (the
trial) may try the region again; its success closes the breaker, its failure opens it for
another cool-down. While the trial is in flight every other caller is refused at once
(:meth:`CircuitBreaker.allow` says no, and a call that raced past it gets
``RegionUnavailable`` without touching the region), so it goes to the other region or
fails fast instead of paying the same timeout as the trial.

The policy orders regions for reads (primary first while its breaker lets calls through)
and picks the region for writes (primary, or the secondary when the primary's breaker is
open and write failover is on).
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Callable, Sequence, TypeVar

from .errors import RecoveryError, RegionUnavailable

__all__ = ["CircuitBreaker", "FailoverPolicy"]

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
T = TypeVar("T")


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
        self._trial: int | None = None  # token of the half-open trial call in flight
        self._tokens = itertools.count(1)

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return HALF_OPEN if self._clock() - self._opened_at >= self.cooldown else OPEN

    @property
    def trial_in_flight(self) -> bool:
        """True while the one half-open trial call is running."""
        with self._lock:
            return self._trial is not None

    def allow(self) -> bool:
        """May a call go to this region now? (closed, or half-open with no trial call in
        flight). Only asks: :meth:`call` claims the trial."""
        with self._lock:
            state = self._state()
            return state == CLOSED or (state == HALF_OPEN and self._trial is None)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` against this region, feeding the breaker with its outcome.

        ``RegionUnavailable`` counts as a failure; any other ``RecoveryError`` (the region
        answered, e.g. "not found") and a normal return count as success. When the breaker
        is half-open the first caller becomes the trial and every other caller gets
        ``RegionUnavailable`` at once, until the trial's outcome is recorded. (An open
        breaker does not refuse: callers consult :meth:`allow` or the policy's orders first,
        and a call made anyway is an explicit probe.)
        """
        token = self._claim()
        try:
            result = fn(*args, **kwargs)
        except RegionUnavailable as exc:
            self.record_failure(exc)
            raise
        except RecoveryError:
            self.record_success()
            raise
        except BaseException:
            self._release(token)  # no verdict on the region: let another caller try
            raise
        self.record_success()
        return result

    def _claim(self) -> int | None:
        """The trial token when this call is the half-open trial, None when not gated."""
        with self._lock:
            if self._state() != HALF_OPEN:
                return None
            busy = self._trial is not None
            if not busy:
                self._trial = next(self._tokens)
            token = self._trial
        if busy:
            raise RegionUnavailable(
                f"region {self.region}: circuit half-open and its one trial call is still in "
                "flight; not calling it again until that call ends"
            )
        logger.info("region %s: circuit half-open, sending one trial call", self.region)
        return token

    def _release(self, token: int | None) -> None:
        with self._lock:
            if token is not None and self._trial == token:
                self._trial = None

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
            self._trial = None
        if was_open:
            logger.info("region %s answered again; circuit closed", self.region)

    def record_failure(self, reason: object = None) -> None:
        with self._lock:
            state = self._state()
            self._failures += 1
            opening = state == HALF_OPEN or (state == CLOSED and self._failures >= self.threshold)
            if opening:
                self._opened_at = self._clock()
                self._trial = None
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

    def call(self, region: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one call against ``region`` through its breaker (:meth:`CircuitBreaker.call`)."""
        return self.breakers[region].call(fn, *args, **kwargs)

    def record_success(self, region: str) -> None:
        self.breakers[region].record_success()

    def record_failure(self, region: str, reason: object = None) -> None:
        self.breakers[region].record_failure(reason)

    def _all_open(self) -> RegionUnavailable:
        waits = ", ".join(
            f"{r} has a trial call in flight" if self.breakers[r].trial_in_flight
            else f"{r} retried in {self.breakers[r].retry_in():.1f}s"
            for r in self.regions if not self.breakers[r].allow())
        return RegionUnavailable(f"no region available (circuit open: {waits})")
