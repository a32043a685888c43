"""The drill's canary: sequence-numbered checkpoints saved through recovery_lib while the
drill runs, standing for the job in the failing region; the RPO is measured on them."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from recovery_lib.errors import RecoveryError

__all__ = ["CanaryRecord", "CanaryWriter", "rpo_seconds"]

logger = logging.getLogger(__name__)


@dataclass
class CanaryRecord:
    sequence: int
    version: str
    created_at: dt.datetime
    region: str
    at: Optional[float] = None  # (emulated) seconds since the drill started, just before the save


@dataclass
class CanaryWriter:
    """Saves sequence-numbered checkpoints through recovery_lib while the drill runs."""

    store: Any
    name: str
    interval_seconds: float  # real seconds
    now: Callable[[], float] = lambda: 0.0  # the drill's (emulated) clock, for the RPO
    records: list[CanaryRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write_one(self) -> CanaryRecord:
        sequence = len(self.records) + 1
        at = self.now()
        checkpoint = self.store.save(self.name, {"sequence": sequence}, metadata={"sequence": sequence, "drill": "canary"})
        record = CanaryRecord(sequence, checkpoint.version, checkpoint.created_at, checkpoint.region, at)
        with self._lock:
            self.records.append(record)
        return record

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.write_one()
            except RecoveryError as exc:  # a dead region: keep trying, the failover is the point
                self.errors.append(f"{type(exc).__name__}: {exc}")
                logger.info("canary save failed: %s", exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="drill-canary", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def snapshot(self) -> list[CanaryRecord]:
        with self._lock:
            return list(self.records)


def rpo_seconds(restorable: Any, written: list[CanaryRecord], *, fault_at: float,
                fault_wall: dt.datetime, time_scale: float) -> float:
    """Fault time minus the time the restored checkpoint was saved, on the drill's clock.

    Both ends are read from the adapter's (emulated) clock, so the RPO does not depend on
    how fast the machine ran. A checkpoint this drill did not write falls back to its
    creation time on the wall clock, scaled."""
    record = next((r for r in written if r.version == restorable.version and r.at is not None), None)
    if record is not None:
        return max(0.0, fault_at - record.at)
    rpo_real = max(0.0, (fault_wall - restorable.created_at).total_seconds())
    return rpo_real * time_scale
