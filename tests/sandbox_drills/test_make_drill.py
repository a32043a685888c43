"""`make drill`'s job (``python -m infra.drill_job``) and the training job it runs, as
processes: a broken platform fails the job with exit 1 and leaves no sandbox behind; a
training job killed mid-training resumes from its last checkpoint.

Every wait is on an event (a file appearing, a checkpoint committed, a process exiting),
with generous limits that only matter when something is broken.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recovery_lib import CheckpointStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
       "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_DEFAULT_REGION": "us-east-1",
       "PYTHONUNBUFFERED": "1"}


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            value = predicate()
            if value:
                return value
            pytest.fail(f"the process exited ({proc.returncode}) before {what}")
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {timeout:.0f} s")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_drill_on_a_broken_platform_exits_1_and_closes_the_sandbox(tmp_path):
    """The platform replicates nothing (every object would wait 10^5 emulated seconds), so the
    drill fails in canary warm-up; the job must exit 1, print the steps and the verdict, keep
    the training job's epochs out of the console, and take the sandbox down: every port the
    sandbox listened on is closed afterwards and its process is gone."""
    state, report = tmp_path / "state", tmp_path / "report"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"timeouts": {"drain_seconds": 30}}))
    cmd = [sys.executable, "-m", "infra.drill_job", "--state", str(state), "--report", str(report),
           "--time-scale", "50", "--plan", str(plan), "--replication-lag", "100000", "--epochs", "3"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        info = wait_until(lambda: _read(state / "sandbox.json"), 180, "the sandbox writing its ports", proc)
        pid = int((state / "sandbox.pid").read_text())
        output, _ = proc.communicate(timeout=240)
        ports = [int(p) for p in info["ports"]]
        open_after = [p for p in ports if port_open(p)]
        alive_after, pid_file_after = _alive(pid), (state / "sandbox.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # ours to clean up whatever the job did (a no-op when it took the sandbox down)
        subprocess.run([sys.executable, "-m", "infra.sandbox", "down", "--state", str(state)], cwd=ROOT,
                       env=ENV, capture_output=True, timeout=60)
    assert proc.returncode == 1, output
    assert len(ports) >= 4
    assert open_after == []
    assert not alive_after and not pid_file_after
    # the steps, the verdict and why; no per-epoch lines on the console
    for number in (1, 2, 3, 4):
        assert f"== step {number}/4" in output
    assert "VERDICT: FAIL" in output and "stalled or paused" in output
    # under IAM enforcement (the default): the job trained as the job role, from instance metadata
    assert "IAM enforced: the job runs as arn:aws:iam::123456789012:role/jobs-role" in output
    assert not re.search(r"epoch \d+ loss", output)
    train_log = (report / "train.log").read_text()
    assert len(re.findall(r"INFO examples\.train: epoch \d+ loss", train_log)) == 3
    journal = json.loads((report / "journal.json").read_text())
    assert journal["measurements"]["verdict"] == "fail" and journal["injections"] == []


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie of a process we did not start (the sandbox is a grandchild) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_training_killed_mid_training_resumes_from_its_last_checkpoint(tmp_path):
    """examples/train.py on a file:// store, SIGKILLed once a few epochs are committed; the
    rerun (same run id) resumes at the last committed epoch and trains only the rest. A job
    that ignored its checkpoints would log epoch 1 again."""
    url = f"file://{tmp_path / 'ckpt'}"
    epoch_name = "models/sample-train/kill/epoch"
    store = CheckpointStore.from_url(url)
    train = [sys.executable, "examples/train.py", "--store", url, "--run-id", "kill"]

    first = subprocess.Popen([*train, "--epochs", "1000000", "--log-file", str(tmp_path / "first.log")],
                             cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: store.exists(epoch_name) and store.load(epoch_name)["epoch"] >= 3, 120,
                   "three epochs committed", first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    last = store.load(epoch_name)["epoch"]
    assert 3 <= last < 1000000

    second_log = tmp_path / "second.log"
    second = subprocess.run([*train, "--epochs", str(last + 5), "--log-file", str(second_log)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert f"trained {last + 5} epochs" in second.stdout
    log = second_log.read_text()
    assert f"resuming training at epoch {last}" in log
    trained = [int(n) for n in re.findall(r"examples\.train: epoch (\d+) loss", log)]
    assert trained == list(range(last + 1, last + 6))
    assert store.load(epoch_name)["epoch"] == last + 5
