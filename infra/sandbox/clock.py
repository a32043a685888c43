"""The sandbox's clock: emulated seconds, ``time_scale`` of them per real second.

Every time the sandbox reports (health-check transitions, DNS answers, replication lag) is
in emulated seconds since the sandbox started, so a drill run at ``--time-scale 10`` measures
the same RTO as one at scale 1, ten times faster.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class Clock:
    def __init__(self, time_scale: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._monotonic = monotonic
        self._start = monotonic()

    def now(self) -> float:
        """Emulated seconds since the clock started."""
        return (self._monotonic() - self._start) * self.time_scale

    def real(self, emulated_seconds: float) -> float:
        """How many real seconds ``emulated_seconds`` take."""
        return max(0.0, emulated_seconds) / self.time_scale


class ManualClock(Clock):
    """A clock that moves only when told (tests)."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__(1.0)
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
