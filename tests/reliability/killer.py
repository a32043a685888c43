"""Run a ``store_child`` and SIGKILL it at an exact point of its protocol: when a request
matching a predicate has taken effect in S3, before the child learns it (the kill is issued
from :class:`~tests.reliability.http_fault_proxy.HttpFaultProxy`'s ``on_response`` hook)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]


class Killer:
    """``hook`` goes to the proxy; ``run(...)`` starts the child and waits for it."""

    def __init__(self, predicate: Callable[[str, str, int], bool]) -> None:
        self.predicate = predicate
        self.proc: subprocess.Popen[str] | None = None
        self.killed = threading.Event()
        self.seen: list[tuple[str, str, int]] = []

    def hook(self, method: str, path: str, status: int) -> None:
        self.seen.append((method, path, status))
        if (self.proc is not None and not self.killed.is_set()
                and self.predicate(method, path, status)):
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()  # dead before the response could reach it
            self.killed.set()

    def run(self, descriptor: dict[str, Any], *args: str) -> int:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.store_child", json.dumps(descriptor), "0",
             *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, err = self.proc.communicate(timeout=120)
        assert self.killed.is_set(), f"the child was never killed; it said: {err[-2000:]}"
        return self.proc.returncode


def head_put(name: str) -> Callable[[str, str, int], bool]:
    """A successful PUT of the head record of ``name``: the commit point."""
    suffix = f"/heads/{name}.json"
    return lambda method, path, status: (method == "PUT" and status == 200
                                         and path.split("?")[0].endswith(suffix))
