"""Two in-memory regions with an emulated clock and hand-driven replication."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from recovery_lib import CheckpointStore
from recovery_lib.backends.memory import MemoryBackend

DAY = 86400.0


class Clock:
    """Emulated wall clock (seconds); objects are stamped with it when written."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclasses.dataclass
class Regions:
    store: CheckpointStore
    primary: MemoryBackend
    secondary: MemoryBackend
    clock: Clock

    def replicate(self, only: Callable[[str], bool] = lambda key: True, *,
                  delete_markers: bool = True) -> None:
        """Copy primary -> secondary what the secondary lacks (as S3 replication would);
        with ``delete_markers`` also delete there what was deleted in the primary since it
        was copied (DeleteMarkerReplication enabled, as in our program)."""
        for key, _ in list(self.primary.list("")):
            if only(key) and self.secondary.head(key) is None:
                self.secondary.put(key, self.primary.get(key))
                self._copied.add(key)
        if delete_markers:
            for key in list(self._copied):
                if self.primary.head(key) is None:
                    self.secondary.delete(key)
                    self._copied.discard(key)

    def secondary_store(self) -> CheckpointStore:
        """What a restore in the secondary region sees (the primary gone)."""
        return CheckpointStore(self.secondary, inline_limit=self.store.inline_limit)

    def __post_init__(self) -> None:
        self._copied: set[str] = set()


def regions(inline_limit: int = 64) -> Regions:
    clock = Clock()
    primary = MemoryBackend(region="primary", clock=clock)
    secondary = MemoryBackend(region="secondary", clock=clock)
    return Regions(CheckpointStore(primary, secondary, inline_limit=inline_limit),
                   primary, secondary, clock)


def payload(i: int) -> bytes:
    """Over the inline limit: content lives in a blob."""
    return (b"%06d" % i) * 32
