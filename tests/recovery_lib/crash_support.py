"""Run :mod:`tests.recovery_lib.crash_child` and SIGKILL it at a marker line."""
from __future__ import annotations

import json
import os
import pathlib
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKERS = {"upload": "MIDWAY", "before-commit": "COMMITTING", "during-commit": "LINKING"}


def kill_mid_save(spec: dict[str, Any], stage: str, v1_file: pathlib.Path,
                  v2_file: pathlib.Path, *, timeout: float = 30.0) -> str:
    """Start the child, wait for its marker, SIGKILL it; returns version 1's id."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.recovery_lib.crash_child", json.dumps(spec), stage,
         str(v1_file), str(v2_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines: list[str] = []
    v1 = ""
    try:
        selector = selectors.DefaultSelector()
        selector.register(child.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = child.stdout.readline().strip()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.startswith("V1 "):
                v1 = line.split()[1]
            if line == MARKERS[stage]:
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
                assert child.returncode == -signal.SIGKILL
                return v1
        raise AssertionError(f"child never reached {MARKERS[stage]}: stdout={lines}, "
                             f"stderr={child.stderr.read() if child.poll() is not None else ''}")  # type: ignore[union-attr]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream:
                stream.close()
