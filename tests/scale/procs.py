"""Starting and stopping the scale tests' child processes (tests/scale/children.py)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATIENCE = 120.0  # generous: a loaded CI machine; events end every wait far sooner


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.scale.children", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_for(path: Path, *procs: subprocess.Popen[str]) -> None:
    """Until ``path`` exists; fails early (with the child's stderr) if a child died."""
    deadline = time.monotonic() + PATIENCE
    while not path.exists():
        for proc in procs:
            if proc.poll() is not None and not path.exists():
                raise AssertionError(f"child exited {proc.returncode} before {path.name}: "
                                     f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path}")
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=PATIENCE)
    return proc.returncode, err
