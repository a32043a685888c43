"""Drills against the real sandbox: one healthy run, the safety features, and each broken
platform of the issue failing with its cause named.

One sandbox (dr stack) serves the whole module; each test that breaks something repairs it
(or runs last). Every drill runs as `recovery drill` in a subprocess, as users run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from tests.support import chromium

ROOT = Path(__file__).resolve().parents[2]
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
       "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_DEFAULT_REGION": "us-east-1"}
QUICK_PLAN = {"timeouts": {"detection_seconds": 180, "dns_seconds": 180, "compute_seconds": 300,
                           "data_seconds": 300, "drain_seconds": 60}}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    state = tmp_path_factory.mktemp("sandbox")
    up = subprocess.run([sys.executable, "-m", "infra.sandbox", "up", "--stack", "dr", "--state", str(state),
                         "--time-scale", "10"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    platform = json.loads((state / "platform.json").read_text())
    try:
        yield state, platform
    finally:
        down = subprocess.run([sys.executable, "-m", "infra.sandbox", "down", "--state", str(state)],
                              cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr


def control(platform, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(platform["sandbox"]["control_url"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def emulator(platform, service, role="primary"):
    return boto3.client(service, region_name=platform["regions"][role]["name"],
                        endpoint_url=platform["sandbox"]["emulator_url"],
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def drill(state, *args, plan=None, timeout=300):
    cmd = [sys.executable, "-m", "recovery_lib", "drill", "--platform", str(state / "platform.json"), *args]
    if plan is not None:
        plan_file = state / f"plan-{time.monotonic_ns()}.json"
        plan_file.write_text(json.dumps(plan))
        cmd += ["--plan", str(plan_file)]
    return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


def emulator_state(platform):
    """Everything a drill could change: objects in both buckets, faults, groups, health checks."""
    snapshot = {}
    for role in ("primary", "secondary"):
        s3 = emulator(platform, "s3", role)
        versions = s3.list_object_versions(Bucket=platform["regions"][role]["bucket"])
        snapshot[f"objects:{role}"] = sorted(v["Key"] + "@" + v["VersionId"] for v in versions.get("Versions", []))
    state = control(platform, "GET", "/state")
    snapshot["faults"] = state["faults"]
    snapshot["asg"] = {role: (g["desired"], g["in_service"]) for role, g in state["asg"].items()}
    snapshot["health"] = [(c["id"], c["inverted"], c["disabled"]) for c in state["health_checks"]]
    return snapshot


def assert_steady(platform):
    faults = control(platform, "GET", "/state")["faults"]
    assert faults["s3"] == {"primary": "pass", "secondary": "pass"}
    assert faults["apps"] == {"primary": "up", "secondary": "up"}
    assert not faults["replication_paused"]


def test_dry_run_changes_nothing(sandbox):
    state, platform = sandbox
    before = emulator_state(platform)
    result = drill(state, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "no call was made" in result.stdout
    assert "POST" in result.stdout and "/faults/s3/primary" in result.stdout
    assert emulator_state(platform) == before


def test_without_yes_and_without_a_terminal_nothing_is_injected(sandbox):
    state, platform = sandbox
    before = emulator_state(platform)
    result = drill(state)
    assert result.returncode == 2
    assert "ConfigError" in result.stderr and "--yes" in result.stderr
    assert emulator_state(platform) == before


def test_a_healthy_platform_passes_and_the_report_shows_the_timeline(sandbox, tmp_path):
    state, platform = sandbox
    report = tmp_path / "report"
    result = drill(state, "--yes", "--report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drill PASS" in result.stdout
    journal = json.loads((report / "journal.json").read_text())
    m = journal["measurements"]
    assert m["verdict"] == "pass" and journal["status"] == "completed"
    assert m["rto_seconds"] <= 300 and 0 <= m["rpo_seconds"] <= 900
    # detection cannot beat interval x threshold minus one interval (10 s x 3 in the dr stack)
    assert 20 <= m["phases"]["detection"]["seconds"] <= 60
    assert {i["fault"]["type"] for i in journal["injections"]} == {"app-down", "s3", "replication-pause"}
    assert all(i["status"] == "reverted" for i in journal["injections"])
    data = next(s for s in journal["run"] if s["activity"]["name"] == "data recovery from the secondary")
    assert data["output"]["write_failover"]["region"] == "secondary"
    assert data["output"]["pipeline"]["skipped"] == ["features", "model"]
    assert_steady(platform)
    assert control(platform, "GET", "/asg/secondary")["desired"] == 1  # scaled back
    render_html(report / "report.html", tmp_path)


def render_html(page: Path, tmp_path: Path) -> None:
    """The report renders in headless Chromium and shows the timeline, the verdict and its
    tables as HTML tables (not Markdown in a <pre>)."""
    dom = chromium.dump_dom(page, tmp_path / "chromium")
    assert 'id="timeline"' in dom and 'data-phase="detection"' in dom
    assert 'id="verdict">PASS<' in dom
    assert '<table id="phases">' in dom and "<pre>" not in dom
    shot = chromium.screenshot(page, tmp_path / "report.png", tmp_path / "chromium2")
    assert shot.stat().st_size > 5_000


def test_revert_restores_steady_state_after_a_drill_killed_with_sigkill(sandbox, tmp_path):
    state, platform = sandbox
    report = tmp_path / "killed"
    cmd = [sys.executable, "-m", "recovery_lib", "drill", "--platform", str(state / "platform.json"),
           "--yes", "--report", str(report)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal_path = report / "journal.json"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if journal_path.is_file():
                journal = json.loads(journal_path.read_text())
                if len(journal["injections"]) == 3 and all(i["status"] == "injected" for i in journal["injections"]):
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the drill never journaled its injections")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    faults = control(platform, "GET", "/state")["faults"]
    assert faults["s3"]["primary"] == "blackhole" and faults["apps"]["primary"] != "up"  # left behind
    result = subprocess.run([sys.executable, "-m", "recovery_lib", "drill", "--revert", str(journal_path)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_steady(platform)
    journal = json.loads(journal_path.read_text())
    assert [i["status"] for i in journal["injections"]] == ["reverted"] * 3


def test_standby_at_zero_under_warm_standby_fails(sandbox):
    state, platform = sandbox
    control(platform, "POST", "/asg/secondary", {"desired": 0})
    try:
        result = drill(state, "--yes", plan=QUICK_PLAN)
    finally:
        control(platform, "POST", "/asg/secondary", {"desired": 1})
    assert result.returncode == 1
    assert "drill FAIL" in result.stdout and "warm-standby needs the standby running" in result.stdout
    assert_steady(platform)


def test_replication_paused_past_the_rpo_fails(sandbox, tmp_path):
    state, platform = sandbox
    control(platform, "POST", "/faults/replication", {"action": "pause"})
    try:
        result = drill(state, "--yes", "--report", str(tmp_path), plan=QUICK_PLAN)
    finally:
        control(platform, "POST", "/faults/replication", {"action": "resume"})
    assert result.returncode == 1
    assert "drill FAIL" in result.stdout and "stalled or paused" in result.stdout
    assert json.loads((tmp_path / "journal.json").read_text())["injections"] == []  # failed before any fault


def test_replication_removed_after_deploy_fails(sandbox):
    state, platform = sandbox
    s3 = emulator(platform, "s3", "primary")
    bucket = platform["regions"]["primary"]["bucket"]
    saved = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    s3.delete_bucket_replication(Bucket=bucket)
    try:
        result = drill(state, "--yes", plan=QUICK_PLAN)
    finally:
        s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=saved)
    assert result.returncode == 1
    assert "drill FAIL" in result.stdout and f"no replication configuration on {bucket}" in result.stdout


# -- least privilege: the sandbox enforces IAM, and each actor is the program's role --------------

@contextlib.contextmanager
def without_action(platform, role_arn: str, action: str):
    """The role's inline policies without ``action``, for the block; restored afterwards."""
    iam = emulator(platform, "iam")
    name = role_arn.rsplit("/", 1)[1]
    saved = {p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
             for p in iam.list_role_policies(RoleName=name)["PolicyNames"]}
    assert any(action in json.dumps(doc) for doc in saved.values()), f"{name} never had {action}"
    for policy, document in saved.items():
        narrowed = json.loads(json.dumps(document))
        for statement in narrowed["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a != action]
        narrowed["Statement"] = [st for st in narrowed["Statement"] if st["Action"]]
        iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(narrowed))
    try:
        yield
    finally:
        for policy, document in saved.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(document))


def test_the_sandbox_enforces_iam_with_the_programs_roles(sandbox):
    state, platform = sandbox
    iam = platform["sandbox"]["iam"]
    assert iam["enforced"] is True and platform["drill"]["operator_role_arn"].startswith("arn:aws:iam::")
    from recovery_lib.drill.credentials import instance_profile_session

    job = instance_profile_session(iam["instance_metadata_url"], region_name="us-east-1")
    sts = job.client("sts", endpoint_url=platform["sandbox"]["emulator_url"])
    role = iam["job_role_arn"].rsplit("/", 1)[1]
    assert f":assumed-role/{role}/" in sts.get_caller_identity()["Arn"]
    stranger = boto3.client("s3", region_name="us-east-1", endpoint_url=platform["sandbox"]["emulator_url"],
                            aws_access_key_id="nobody", aws_secret_access_key="nothing")
    with pytest.raises(botocore.exceptions.ClientError):
        stranger.list_buckets()


def test_a_job_role_without_put_object_fails_the_drill_with_access_denied(sandbox, tmp_path):
    state, platform = sandbox
    with without_action(platform, platform["sandbox"]["iam"]["job_role_arn"], "s3:PutObject"):
        result = drill(state, "--yes", "--report", str(tmp_path), plan=QUICK_PLAN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drill FAIL" in result.stdout
    assert "PUT (conditional) s3://" in result.stdout and "refused in the primary" in result.stdout
    assert "(AccessDenied)" in result.stdout
    assert json.loads((tmp_path / "journal.json").read_text())["injections"] == []
    assert_steady(platform)


def test_an_operator_without_get_replication_configuration_fails_readiness(sandbox):
    state, platform = sandbox
    with without_action(platform, platform["drill"]["operator_role_arn"], "s3:GetReplicationConfiguration"):
        result = drill(state, "--yes", plan=QUICK_PLAN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drill FAIL" in result.stdout and "AccessDenied" in result.stdout


def test_an_operator_without_set_desired_capacity_cannot_scale_the_standby(sandbox):
    from recovery_lib.drill.adapters.sandbox import SandboxAdapter
    from recovery_lib.errors import ConfigError

    state, platform = sandbox
    before = control(platform, "GET", "/asg/secondary")["desired"]
    with without_action(platform, platform["drill"]["operator_role_arn"], "autoscaling:SetDesiredCapacity"):
        adapter = SandboxAdapter(platform)
        with pytest.raises(ConfigError, match="AccessDenied: the drill operator role .* may not "
                                              "autoscaling:SetDesiredCapacity"):
            adapter.scale_standby(before + 1)
    assert control(platform, "GET", "/asg/secondary")["desired"] == before  # nothing changed


def test_a_replication_role_without_replicate_object_leaves_checkpoints_failed(sandbox, tmp_path):
    """S3 User Guide, "Getting replication status information": FAILED is final (never
    retried); a role without its rights fails objects silently (cloudposse/terraform-aws-s3-bucket#279)."""
    state, platform = sandbox
    earlier = len(control(platform, "GET", "/replication")["failed"])  # other tests' failures
    with without_action(platform, platform["replication"]["role_arn"], "s3:ReplicateObject"):
        result = drill(state, "--yes", "--report", str(tmp_path), plan=QUICK_PLAN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drill FAIL" in result.stdout and "stalled or paused" in result.stdout
    assert "FAILED in the primary" in result.stdout and "which S3 never retries" in result.stdout
    failed = control(platform, "GET", "/replication")["failed"][earlier:]
    assert failed and all("s3:ReplicateObject" in f["error"] for f in failed)
    s3 = emulator(platform, "s3")
    assert s3.head_object(Bucket=failed[-1]["bucket"], Key=failed[-1]["key"],
                          VersionId=failed[-1]["version_id"])["ReplicationStatus"] == "FAILED"


def test_health_check_deleted_fails(sandbox):
    """Runs last in the module: the health check cannot be put back under the same id."""
    state, platform = sandbox
    route53 = emulator(platform, "route53")
    check_id = platform["dns"]["primary_health_check_id"]
    route53.delete_health_check(HealthCheckId=check_id)
    result = drill(state, "--yes", plan=QUICK_PLAN)
    assert result.returncode == 1
    assert "drill FAIL" in result.stdout and f"health check {check_id} is missing" in result.stdout
