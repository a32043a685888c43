"""Child processes for the scale tests (run as ``python -m tests.scale.children MODE ...``).

Each child blocks at a chosen point on an *event file* the parent creates, or writes a
marker file the parent waits for, so the tests are driven by events, never by sleeps.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from recovery_lib import CheckpointStore
from recovery_lib.backends.local import LocalBackend

PATIENCE = 120.0  # seconds a child waits for an event before giving up (a broken test)


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + PATIENCE
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.02)


def mark(path: Path) -> None:
    path.write_text(str(os.getpid()))


def block_forever(marker: Path) -> None:
    mark(marker)
    while True:
        time.sleep(60)


def async_flush(store_dir: str, events: str) -> None:
    """An async save still blocked in its commit when the main program returns."""
    import logging

    logging.basicConfig(level=logging.WARNING)  # a job's usual set-up: the flush is logged
    events_dir = Path(events)
    original = LocalBackend.put_if_match

    def gated(self, key, data, tag):  # the commit waits for the parent's release
        wait_for(events_dir / "release")
        return original(self, key, data, tag)

    LocalBackend.put_if_match = gated  # type: ignore[method-assign]
    store = CheckpointStore.local(store_dir)
    store.save_async("async/flushed", {"saved": True})
    mark(events_dir / "returned")


def async_fail(store_dir: str, events: str) -> None:
    """An async save that fails after the main program returned: must not vanish."""
    from recovery_lib.errors import RegionUnavailable

    def refuse(self, key, data, tag):
        raise RegionUnavailable("the test refuses every commit")

    LocalBackend.put_if_match = refuse  # type: ignore[method-assign]
    CheckpointStore.local(store_dir).save_async("async/lost", {"saved": False})


def items_crash(store_dir: str, events: str) -> None:
    """save_items that stops for good after its first blob is written (killed there)."""
    events_dir = Path(events)
    original = LocalBackend.put

    def put(self, key, data):
        original(self, key, data)
        if "/blobs/" in f"/{key}":
            block_forever(events_dir / "mid-save")

    LocalBackend.put = put  # type: ignore[method-assign]
    store = CheckpointStore.local(store_dir)
    store.save_items("job/state", {name: bytes([2]) * 10_000 for name in ("model", "optimizer", "loader")},
                     step=2)
    mark(events_dir / "committed")  # never reached


def shard(store_dir: str, events: str, rank: str, step: str, mode: str) -> None:
    """One rank: write its shard, wait for the commit, load its own shard back."""
    events_dir, r, s = Path(events), int(rank), int(step)
    if mode == "hang":  # crashes before its shard lands
        block_forever(events_dir / f"ready-{r}")
    store = CheckpointStore.local(store_dir)
    data = shard_bytes(r, s)
    store.save_shard("job/model", s, r, data)
    mark(events_dir / f"saved-{r}")
    while not (events_dir / "committed").exists():
        if (events_dir / "abort").exists():
            return
        time.sleep(0.02)
    loaded = store.load_shard("job/model", r)
    sys.exit(0 if loaded == data else 3)


def shard_bytes(rank: int, step: int) -> bytes:
    return f"rank {rank} step {step};".encode() * 1000


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
