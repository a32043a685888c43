"""`python -m infra.sandbox up|status|down` in subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from infra.mockrun import ROOT
from recovery_lib.platform import load_platform


pytestmark = pytest.mark.slow  # starts sandboxes (servers, a subprocess)

def sandbox_cli(*args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.sandbox", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def state(tmp_path: Path):
    directory = tmp_path / "state"
    yield directory
    # Whatever happened in the test, nothing it started keeps running.
    if (directory / "sandbox.pid").exists():
        sandbox_cli("down", "--state", str(directory), timeout=60)


def test_up_status_down(state):
    up = sandbox_cli("up", "--stack", "dr", "--state", str(state), "--time-scale", "10")
    assert up.returncode == 0, up.stderr
    assert "sandbox up: stack dr" in up.stdout and "unsupported resource types: 0" in up.stdout
    info = json.loads((state / "sandbox.json").read_text())
    pid, ports = info["pid"], info["ports"]
    # emulator, 2 fault proxies, 2 app stand-ins, control, and (IAM enforced, the default)
    # the instance metadata endpoint
    assert alive(pid) and len(ports) == 7 and all(port_open(p) for p in ports)
    imds = json.loads((state / "platform.json").read_text())["sandbox"]["iam"]["instance_metadata_url"]
    assert int(imds.rstrip("/").rsplit(":", 1)[1]) in ports

    platform = load_platform(state / "platform.json")
    assert platform.stack == "dr"
    raw = json.loads((state / "platform.json").read_text())
    assert raw["sandbox"]["control_url"] == info["control_url"] and raw["sandbox"]["time_scale"] == 10
    with urllib.request.urlopen(raw["sandbox"]["control_url"] + "/time", timeout=5) as response:
        assert json.load(response)["time_scale"] == 10

    again = sandbox_cli("up", "--stack", "dr", "--state", str(state))
    assert again.returncode == 1 and "already running" in again.stderr

    status = sandbox_cli("status", "--state", str(state))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"]["stack"] == "dr"

    down = sandbox_cli("down", "--state", str(state))
    assert down.returncode == 0, down.stderr
    assert not alive(pid)
    assert not any(port_open(p) for p in ports)
    assert not (state / "sandbox.pid").exists()
    assert sandbox_cli("status", "--state", str(state)).returncode == 1


@pytest.mark.parametrize("args, message", [
    (["up", "--stack", "nope"], "no stack file Pulumi.nope.yaml"),
    (["up", "--time-scale", "0"], "--time-scale: must be > 0"),
    (["up", "--time-scale", "fast"], "--time-scale: must be a number"),
    (["up", "--launch-delay", "-1"], "--launch-delay: must be >= 0, got '-1'"),
    (["sideways"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path):
    result = sandbox_cli(*args, "--state", str(tmp_path)) if args[0] == "up" else sandbox_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "sandbox.pid").exists()


def test_down_without_a_sandbox_is_a_no_op(tmp_path):
    result = sandbox_cli("down", "--state", str(tmp_path))
    assert result.returncode == 0 and "no sandbox running" in result.stdout
