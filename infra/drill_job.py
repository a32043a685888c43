"""``make drill``: the main job, offline. Sandbox up → a checkpointed training job → the
drill → sandbox down → the verdict.

Each step runs as its own process, the way a user would run it (``python -m infra.sandbox
up``, ``python examples/train.py``, ``recovery drill``), against the descriptor the
sandbox writes. The console shows the steps, the commands and the verdict; the training
job's per-epoch log goes to ``train.log`` in the report folder. The sandbox is taken down
whatever happens. Exit code: the drill's (0 passed, 1 failed, 2 bad usage), or 1 when a
step before it failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from infra.mockrun import ROOT

SANDBOX_CREDENTIALS = {
    # The sandbox operator's keys: the account's administrator under IAM enforcement (any keys
    # with --iam off). They keep boto3 from looking for real ones (and from ever signing a
    # request with them). The training job gets none: it runs as the job role (instance_env).
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_SESSION_TOKEN": "",
    "AWS_PROFILE": "",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _env(platform: Optional[Path] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v for k, v in SANDBOX_CREDENTIALS.items() if v})
    env["PYTHONUNBUFFERED"] = "1"
    if platform is not None:
        env["DR_PLATFORM"] = str(platform)
    return env


def instance_env(platform: Path) -> dict[str, str]:
    """The training job's environment: on an instance with the job role's profile.

    Under IAM enforcement (``sandbox.iam`` in platform.json) the job has no keys of its own;
    boto3's credential chain ends at the instance metadata endpoint the sandbox serves, which
    hands out the job role's credentials. Without enforcement: the sandbox's keys, as before.
    """
    env = _env(platform)
    iam = ((json.loads(platform.read_text()).get("sandbox") or {}).get("iam") or {})
    if not iam.get("enforced"):
        return env
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(key, None)
    env.update({
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": iam["instance_metadata_url"],
        "AWS_METADATA_SERVICE_TIMEOUT": "5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "3",
        # nothing from the user's ~/.aws may stand in for the instance profile
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
    })
    return env


STEPS = (
    "sandbox up",
    "a checkpointed training job (examples/train.py) against the sandbox",
    "the drill: {plan}",
    "sandbox down",
)


def _step(number: int, title: str) -> None:
    print(f"\n== step {number}/{len(STEPS)}: {title}", flush=True)


def _run(cmd: list[str], env: dict[str, str]) -> int:
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def _write_history(reports: Path) -> None:
    """Every drill in the reports folder on one page; a history that cannot be written
    (a journal someone edited) never changes the job's verdict."""
    from recovery_lib.drill.history import write_history
    from recovery_lib.errors import RecoveryError

    try:
        result = write_history(reports)
    except (RecoveryError, OSError) as exc:
        print(f"  history: not written ({type(exc).__name__}: {exc})")
        return
    count = len(result["drills"])
    print(f"  history: {result['html']} ({count} drill{'' if count == 1 else 's'})")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="make drill", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dr", choices=("dev", "dr"))
    parser.add_argument("--state", default=".sandbox", help="sandbox state directory (default .sandbox)")
    parser.add_argument("--time-scale", default="10", help="emulated seconds per real second (default 10)")
    parser.add_argument("--report", default=None, help="report directory (default reports/drill-<UTC time>)")
    parser.add_argument("--plan", default=None, help="drill plan file (default: the built-in regional outage)")
    parser.add_argument("--replication-lag", default=None, metavar="SECONDS",
                        help="emulated seconds objects wait before they replicate (default: the sandbox's, 0)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the training job (default 20)")
    parser.add_argument("--iam", default="enforce", choices=("enforce", "off"),
                        help="enforce (default): moto authorizes every call; the job runs as the job role, "
                             "replication as the replication role, the drill as the drill operator role")
    args = parser.parse_args(argv)

    state = (ROOT / args.state).resolve()
    platform = state / "platform.json"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = Path(args.report).resolve() if args.report else ROOT / "reports" / f"drill-{stamp}"
    py = sys.executable
    started = time.monotonic()
    plan = args.plan or "the built-in regional outage of the primary"
    print(f"make drill: {len(STEPS)} steps, report in {report}")
    for number, title in enumerate(STEPS, 1):
        print(f"  {number}. {title.format(plan=plan)}")

    _step(1, f"sandbox up ({args.stack} stack, time scale {args.time_scale})")
    up = [py, "-m", "infra.sandbox", "up", "--stack", args.stack, "--state", str(state), "--time-scale", args.time_scale,
          "--iam", args.iam]
    if args.replication_lag is not None:
        up += ["--replication-lag", args.replication_lag]
    if _run(up, _env()) != 0:
        print("make drill: the sandbox did not start", file=sys.stderr)
        return 1
    code = 1
    try:
        env = _env(platform)
        iam = ((json.loads(platform.read_text()).get("sandbox") or {}).get("iam") or {})
        if iam.get("enforced"):
            operator = (json.loads(platform.read_text()).get("drill") or {}).get("operator_role_arn")
            print(f"IAM enforced: the job runs as {iam['job_role_arn']} (instance profile), "
                  f"the drill as {operator}, replication as the replication role")
        _step(2, STEPS[1])
        report.mkdir(parents=True, exist_ok=True)
        train_log = report / "train.log"
        if _run([py, "examples/train.py", "--platform", str(platform), "--run-id", f"drill-{stamp}",
                 "--epochs", str(args.epochs), "--log-file", str(train_log)], instance_env(platform)) != 0:
            print(f"make drill: the training job failed; its log: {train_log}", file=sys.stderr)
            return 1
        print(f"training log: {train_log}")
        _step(3, STEPS[2].format(plan=plan))
        cmd = [py, "-m", "recovery_lib", "drill", "--platform", str(platform), "--yes", "--report", str(report)]
        if args.plan:
            cmd += ["--plan", args.plan]
        code = _run(cmd, env)
    finally:
        _step(4, STEPS[3])
        if _run([py, "-m", "infra.sandbox", "down", "--state", str(state)], _env()) != 0:
            print("make drill: the sandbox did not stop cleanly", file=sys.stderr)
            code = code or 1

    journal_path = report / "journal.json"
    if journal_path.is_file():
        journal = json.loads(journal_path.read_text())
        m = journal["measurements"]
        rto = "—" if m["rto_seconds"] is None else f"{m['rto_seconds']:.1f} s"
        rpo = "—" if m["rpo_seconds"] is None else f"{m['rpo_seconds']:.1f} s"
        print(f"\nVERDICT: {m['verdict'].upper()}  RTO {rto} (target {m['targets']['rto_seconds']} s)  "
              f"RPO {rpo} (target {m['targets']['rpo_seconds']} s, {m['canary']['lost']} canary checkpoint(s) lost)  "
              f"[{m['time_unit']}]")
        for reason in m["reasons"]:
            print(f"  why: {reason}")
        print(f"  report: {report / 'report.html'}\n  journal: {journal_path}\n  junit: {report / 'junit.xml'}")
        if not args.report:  # the default reports/ folder: its history page, updated
            _write_history(report.parent)
    else:
        print(f"\nVERDICT: FAIL (no journal was written in {report})")
    print(f"  wall time: {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
