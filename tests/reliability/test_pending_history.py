"""A save to an S3 primary returns after its head commit; the history record is written in
the background (``recovery_lib/history_writer.py``). A writer process that exits, or is
SIGKILLed, with that write still pending:

- a normal interpreter exit waits for the pending write (the record lands, exit code 0);
- a SIGKILL leaves a committed version without its history record, which ``load``,
  ``list``/``heads``/``versions``, pinned loads and ``reconcile`` handle, and which the next
  save repairs (docs/consistency.md, "The commit").

The history PUT is held in the HTTP proxy in front of the primary (``on_request``), so the
write is provably pending while the child has already reported its save. Driven by events:
the child's output line and the proxy's hook.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from recovery_lib import S3Options
from recovery_lib import manifest as mf
from tests.reliability.conftest import Buckets
from tests.reliability.http_fault_proxy import HttpFaultProxy

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = S3Options(connect_timeout=0.5, metadata_timeout=0.5, read_timeout=2.0, max_attempts=2)
PREFIX = "checkpoints/"


class HoldHistory:
    """Holds the first history-record PUT of ``name`` until ``release(forward)``."""

    def __init__(self, name: str) -> None:
        self.marker = f"/manifests/{name}@"
        self.held = threading.Event()
        self.released = threading.Event()
        self.forward = True
        self.child: subprocess.Popen[str] | None = None
        self.alive_at_release: bool | None = None
        self.known: set[str] = set()  # versions already in history (repairs of those pass)

    def hook(self, method: str, path: str) -> bool:
        if method != "PUT" or self.marker not in path.replace("%40", "@") or self.held.is_set():
            return True
        if self.child is None or any(v in path for v in self.known):
            return True  # the parent's own set-up, and the child's repair of a known record
        self.held.set()
        assert self.released.wait(timeout=120), "the test never released the history write"
        return self.forward

    def release(self, *, forward: bool) -> None:
        assert self.child is not None
        self.alive_at_release = self.child.poll() is None
        self.forward = forward
        self.released.set()


def start_child(descriptor: dict[str, Any], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.store_child", json.dumps(descriptor), "0",
         *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "STORE_CHILD_METADATA_TIMEOUT": "60"})


def history_keys(buckets: Buckets, name: str) -> set[str]:
    root = mf.versions_prefix(PREFIX, name)
    return {k for k in buckets.keys("primary") if k.startswith(root)}


def test_interpreter_exit_waits_for_a_pending_history_write(moto_server):
    hold = HoldHistory("job/a")
    with HttpFaultProxy(moto_server.address, rate=0.0, on_request=hold.hook) as primary:
        buckets = Buckets(moto_server.url, primary_endpoint=primary.url)
        hold.child = child = start_child(buckets.descriptor, "save", "job/a", '{"n": 1}')
        version = json.loads(child.stdout.readline())["version"]  # save() has returned
        assert hold.held.wait(timeout=60)
        assert history_keys(buckets, "job/a") == set()  # the write is pending, held
        try:  # the child finished its work; it must not exit while the write is pending
            child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        hold.release(forward=True)
        _, err = child.communicate(timeout=120)
        assert hold.alive_at_release, f"the child exited before its history write: {err[-2000:]}"
        assert child.returncode == 0, err[-2000:]
        assert history_keys(buckets, "job/a") == {mf.manifest_key(PREFIX, "job/a", version)}


def test_a_writer_killed_with_a_pending_history_write_leaves_a_usable_store(moto_server):
    hold = HoldHistory("job/a")
    with HttpFaultProxy(moto_server.address, rate=0.0, on_request=hold.hook) as primary:
        buckets = Buckets(moto_server.url, primary_endpoint=primary.url)
        first = buckets.store(OPTIONS).save("job/a", {"n": 1})
        hold.known.add(first.version)
        hold.child = child = start_child(buckets.descriptor, "save", "job/a", '{"n": 2}')
        version = json.loads(child.stdout.readline())["version"]  # reported as committed
        assert hold.held.wait(timeout=60)
        child.kill()
        child.wait(timeout=60)
        hold.release(forward=False)  # the connection died with the process: never written
        assert child.returncode == -signal.SIGKILL
        assert history_keys(buckets, "job/a") == {mf.manifest_key(PREFIX, "job/a", first.version)}

        fresh = buckets.store(OPTIONS)
        assert fresh.load("job/a") == {"n": 2}
        assert fresh.heads()["job/a"] == version
        assert {c.name: c.version for c in fresh.list()}["job/a"] == version
        assert fresh.latest().version == version
        assert [c.version for c in fresh.versions("job/a")] == [version, first.version]
        assert fresh.load("job/a", version=version) == {"n": 2}
        fresh.reconcile()  # nothing to bring back; must not trip over the missing record
        assert fresh.load("job/a") == {"n": 2}

        third = fresh.save("job/a", {"n": 3})  # the next writer repairs the record
        fresh.flush()
        assert history_keys(buckets, "job/a") == {
            mf.manifest_key(PREFIX, "job/a", v) for v in (first.version, version, third.version)}
        assert mf.version_seq(third.version) == mf.version_seq(version) + 1
