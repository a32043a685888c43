"""``python -m infra.sandbox up|down|status``: the offline sandbox as a background process.

    up     [--stack dev|dr] [--state DIR] [--time-scale N] [--replication-lag S] [--launch-delay S] [--timeout S]
           [--iam enforce|off]
           start a detached sandbox process, wait until it is ready, print where it is; with
           --iam enforce (the default) moto authorizes every call and jobs, replication and
           drills run as the program's roles (docs/sandbox-iam.md)
    down   [--state DIR] [--timeout S]
           stop it (SIGTERM, then SIGKILL) and check that its ports are closed
    status [--state DIR]
           print the sandbox's state (exit 1 when none is running)

Exit codes: 0 done, 1 failed (or, for status, not running), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

from infra.mockrun import ROOT, load_stack_config
from recovery_lib.errors import ConfigError

DEFAULT_STATE = ".sandbox"
STATE_FILE = "sandbox.json"
PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
IAM_MODES = ("enforce", "off")  # infra.sandbox.least_privilege.MODES, without importing moto here


class UsageError(Exception):
    pass


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value!r}")
    return number


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value!r}")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.sandbox", description="The offline dr-platform sandbox.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="deploy the stack into a background sandbox and wait until it is ready")
    up.add_argument("--stack", default="dr", help="stack whose Pulumi.<stack>.yaml is deployed (default dr)")
    up.add_argument("--state", default=DEFAULT_STATE, help=f"state directory (default {DEFAULT_STATE})")
    up.add_argument("--time-scale", type=_positive, default=1.0, help="emulated seconds per real second (default 1)")
    up.add_argument("--replication-lag", type=_non_negative, default=0.0,
                    help="emulated seconds before a new object version replicates (default 0)")
    up.add_argument("--launch-delay", type=_non_negative, default=None, metavar="S",
                    help="emulated seconds from EC2 launch to InService (default: the group's health check grace period)")
    up.add_argument("--timeout", type=_positive, default=120.0, help="seconds to wait for readiness (default 120)")
    up.add_argument("--iam", choices=IAM_MODES, default="enforce",
                    help="enforce: moto authorizes every call and the program's roles are used (default); "
                         "off: every call is allowed")
    down = sub.add_parser("down", help="stop the sandbox and everything it started")
    down.add_argument("--state", default=DEFAULT_STATE)
    down.add_argument("--timeout", type=_positive, default=30.0)
    status = sub.add_parser("status", help="print the running sandbox's state")
    status.add_argument("--state", default=DEFAULT_STATE)
    serve = sub.add_parser("_serve", help=argparse.SUPPRESS)
    serve.add_argument("--stack", required=True)
    serve.add_argument("--state", required=True)
    serve.add_argument("--time-scale", type=_positive, required=True)
    serve.add_argument("--replication-lag", type=_non_negative, default=0.0)
    serve.add_argument("--launch-delay", type=_non_negative, default=None)
    serve.add_argument("--iam", choices=IAM_MODES, default="off")
    return p


# -- helpers ---------------------------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _pid(state: Path) -> Optional[int]:
    try:
        return int((state / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _port_open(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- commands --------------------------------------------------------------------------------

def cmd_up(args: argparse.Namespace) -> int:
    try:
        load_stack_config(args.stack)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    pid = _pid(state)
    if pid is not None and _alive(pid):
        print(f"a sandbox is already running in {state} (pid {pid}); run `python -m infra.sandbox down "
              f"--state {args.state}` first", file=sys.stderr)
        return 1
    for name in (STATE_FILE, PID_FILE, "platform.json"):
        (state / name).unlink(missing_ok=True)
    log = open(state / LOG_FILE, "ab")
    cmd = [sys.executable, "-m", "infra.sandbox", "_serve", "--stack", args.stack, "--state", str(state),
           "--time-scale", str(args.time_scale), "--replication-lag", str(args.replication_lag), "--iam", args.iam]
    if args.launch_delay is not None:
        cmd += ["--launch-delay", str(args.launch_delay)]
    proc = subprocess.Popen(cmd, cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, close_fds=True)
    log.close()
    (state / PID_FILE).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        info = _read_json(state / STATE_FILE)
        platform = state / "platform.json"
        if info is not None and info.get("pid") == proc.pid and _iam_ready(platform, args.iam):
            iam = "IAM enforced" if args.iam == "enforce" else "IAM off"
            print(f"sandbox up: stack {args.stack}, pid {proc.pid}, time scale {args.time_scale:g}, {iam}")
            print(f"  platform:  {platform}")
            print(f"  control:   {info['control_url']}")
            print(f"  emulator:  {info['emulator_url']}")
            unsupported = _read_json(state / "unsupported.json") or []
            print(f"  unsupported resource types: {len(unsupported)}")
            for item in unsupported:
                print(f"    {item['type']} {item['name']}: {item['error']}")
            return 0
        if proc.poll() is not None:
            (state / PID_FILE).unlink(missing_ok=True)
            print(f"the sandbox process exited with {proc.returncode} while starting; see {state / LOG_FILE}:",
                  file=sys.stderr)
            print(_tail(state / LOG_FILE), file=sys.stderr)
            return 1
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (state / PID_FILE).unlink(missing_ok=True)
    print(f"the sandbox was not ready within {args.timeout:g} s (killed); see {state / LOG_FILE}", file=sys.stderr)
    return 1


def _iam_ready(platform: Path, mode: str) -> bool:
    """With --iam enforce the sandbox is ready once platform.json carries its sandbox.iam section."""
    if mode != "enforce":
        return True
    data = _read_json(platform) or {}
    return bool(((data.get("sandbox") or {}).get("iam") or {}).get("enforced"))


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def cmd_down(args: argparse.Namespace) -> int:
    state = Path(args.state).resolve()
    pid = _pid(state)
    info = _read_json(state / STATE_FILE) or {}
    ports = [int(p) for p in info.get("ports", [])]
    if pid is None or not _alive(pid):
        for name in (PID_FILE, STATE_FILE):
            (state / name).unlink(missing_ok=True)
        print(f"no sandbox running in {state}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = False
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        killed = True
        while _alive(pid):
            time.sleep(0.05)
    for name in (PID_FILE, STATE_FILE):
        (state / name).unlink(missing_ok=True)
    still_open = [p for p in ports if _port_open(p)]
    if still_open:
        print(f"sandbox pid {pid} stopped but ports {still_open} are still open", file=sys.stderr)
        return 1
    print(f"sandbox down (pid {pid}{', killed after the timeout' if killed else ''}); ports {ports} closed")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = Path(args.state).resolve()
    pid = _pid(state)
    info = _read_json(state / STATE_FILE)
    if pid is None or info is None or not _alive(pid):
        print(f"no sandbox running in {state}")
        return 1
    try:
        with urllib.request.urlopen(info["control_url"] + "/state", timeout=10) as response:
            current = json.load(response)
    except (urllib.error.URLError, OSError) as exc:
        print(f"sandbox pid {pid} does not answer on {info['control_url']}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"pid": pid, **info, "state": current}, indent=2, default=str))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The background process: run a Sandbox until SIGTERM/SIGINT."""
    from infra.sandbox.sandbox import Sandbox

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sandbox = Sandbox(args.stack, args.state, args.time_scale, replication_lag_seconds=args.replication_lag,
                      launch_delay_seconds=args.launch_delay)
    sandbox.start()
    iam = None
    try:
        if args.iam == "enforce":
            from infra.sandbox.least_privilege import enforce

            iam = enforce(sandbox)
        while not stop.wait(0.5):
            pass
    finally:
        if iam is not None:
            iam.stop()
        sandbox.stop()
        logging.getLogger(__name__).info("sandbox stopped")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    commands = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "_serve": cmd_serve}
    try:
        return commands[args.command](args)
    except UsageError as exc:
        print(f"UsageError: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
