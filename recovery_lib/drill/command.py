"""``recovery drill``: rehearse a regional failover against a platform descriptor.

    recovery drill --platform FILE [--plan FILE] [--dry-run] [--report DIR] [--yes]
                   [--adapter auto|aws|sandbox]
    recovery drill --revert JOURNAL
    recovery drill history DIR      # DIR/history.html and DIR/history.md of every drill under DIR

Exit codes: 0 the drill passed; 1 it failed or deviated (or a revert failed); 2 bad usage
or input (a malformed descriptor or plan, a missing journal, no confirmation possible).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from recovery_lib.errors import ConfigError
from recovery_lib.platform import ENV_VAR as ENV_PLATFORM

if TYPE_CHECKING:
    from recovery_lib.drill.adapters.base import FaultAdapter

# The drill machinery is imported when a drill runs, so every other `recovery` command
# starts fast and keeps working even if a drill module cannot be imported.

ADAPTERS = ("auto", "aws", "sandbox")


def make_adapter(name: str, descriptor: Mapping[str, Any]) -> "FaultAdapter":
    if name == "auto":
        name = "sandbox" if descriptor.get("sandbox") else "aws"
    if name == "sandbox":
        from recovery_lib.drill.adapters.sandbox import SandboxAdapter

        if not descriptor.get("sandbox"):
            raise ConfigError("--adapter sandbox needs a sandbox descriptor (one with a 'sandbox' section, "
                              "written by `python -m infra.sandbox up`)")
        return SandboxAdapter(descriptor)
    if name == "aws":
        from recovery_lib.drill.adapters.aws import AwsAdapter

        return AwsAdapter(descriptor)
    raise ConfigError(f"--adapter {name!r} is not one of {', '.join(ADAPTERS)}")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("history",),
                        help="history: write DIR/history.html and DIR/history.md of every drill report under DIR")
    parser.add_argument("directory", nargs="?", metavar="DIR", help="with history: the folder of drill reports")
    parser.add_argument("--plan", metavar="FILE", help="drill plan (YAML or JSON); default: a regional outage of the primary")
    parser.add_argument("--dry-run", action="store_true", help="print every call the drill would make; make none")
    parser.add_argument("--report", metavar="DIR", help="where journal.json, report.md, report.html and junit.xml go "
                        "(default: drill-reports/<UTC time>)")
    parser.add_argument("--yes", action="store_true", help="inject faults without asking")
    parser.add_argument("--adapter", choices=ADAPTERS, default="auto",
                        help="how faults are injected: aws, sandbox, or auto (sandbox when the descriptor has a sandbox section)")
    parser.add_argument("--revert", metavar="JOURNAL", help="revert what a killed drill left injected, then exit")
    parser.add_argument("--poll", type=float, default=None, metavar="SECONDS",
                        help="seconds between observations (default 1 on the sandbox's clock, 5 on AWS)")


def _confirm_interactively(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _history(ctx: Any) -> int:
    from recovery_lib.drill.history import write_history

    if not ctx.args.directory:
        raise ConfigError("recovery drill history needs a directory: recovery drill history DIR")
    result = write_history(Path(ctx.args.directory))
    drills = result["drills"]

    def text():
        passed = sum(1 for d in drills if d.verdict == "pass")
        yield f"{len(drills)} drills ({passed} passed, {len(drills) - passed} failed); {len(result['skipped'])} skipped"
        yield f"  {result['html']}"
        yield f"  {result['markdown']}"

    ctx.emit({"html": str(result["html"]), "markdown": str(result["markdown"]),
              "drills": [{"path": d.path, "start": d.start, "verdict": d.verdict, "rto_seconds": d.rto,
                          "rpo_seconds": d.rpo} for d in drills],
              "skipped": [{"path": s.path, "reason": s.reason} for s in result["skipped"]]}, text)
    return 0


def run(ctx: Any) -> int:
    from recovery_lib.drill.plan import load_plan
    from recovery_lib.drill.runner import Drill, load_journal, revert_journal
    from recovery_lib.platform import load_platform
    from recovery_lib.store import CheckpointStore

    args = ctx.args
    if args.action == "history":
        return _history(ctx)
    if args.directory is not None:
        raise ConfigError(f"unexpected argument {args.directory!r}: only `recovery drill history DIR` takes a directory")
    if args.revert:
        journal = load_journal(Path(args.revert))
        descriptor = journal.get("descriptor")
        if not isinstance(descriptor, dict):
            raise ConfigError(f"journal {args.revert!r} carries no platform descriptor to revert against")
        adapter = make_adapter(journal.get("adapter") or args.adapter, descriptor)
        try:
            result = revert_journal(Path(args.revert), adapter)
        finally:
            adapter.close()
        failures = result["revert_failures"]
        for line in failures:
            ctx.stderr.write(f"revert failed: {line}\n")
        ctx.emit({"reverted": [r["fault"] for r in result["injections"] if r["status"] == "reverted"],
                  "failures": failures},
                 lambda: iter([f"reverted {len(result['injections']) - len(failures)} fault(s) of {args.revert}"]))
        return 1 if failures else 0

    source = args.platform or ctx.environ.get(ENV_PLATFORM)
    if not source:
        raise ConfigError(f"a drill needs a platform descriptor: pass --platform FILE or set {ENV_PLATFORM}")
    platform = load_platform(source)
    descriptor = platform.to_dict()
    plan = load_plan(args.plan)
    if args.poll is not None and not 0 < args.poll <= 60:
        raise ConfigError(f"--poll must be between 0 and 60 seconds, got {args.poll}")
    adapter = make_adapter(args.adapter, descriptor)
    try:
        checker = getattr(adapter, "check_supported", None)
        if checker is not None:
            checker(list(plan.injected_faults()))
        confirm = None
        if not args.yes and not args.dry_run:
            if not sys.stdin.isatty():
                raise ConfigError("a drill injects faults: pass --yes to confirm when there is no terminal to ask on")
            confirm = _confirm_interactively
        report_dir = Path(args.report or Path("drill-reports") / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
        drill = Drill(
            descriptor, plan, adapter,
            store_factory=lambda: CheckpointStore.from_platform(platform, session=adapter.data_session()),
            report_dir=report_dir, dry_run=args.dry_run, confirm=confirm,
            poll_seconds=args.poll if args.poll is not None else (1.0 if adapter.time_scale != 1 else 5.0),
        )
        journal = drill.run()
    finally:
        adapter.close()

    if args.dry_run:
        ctx.emit({"dry_run": True, "calls": journal["calls"]},
                 lambda: iter(["dry run: no call was made; a real run would:"] + [f"  {c}" for c in journal["calls"]]))
        return 0
    m = journal["measurements"]

    def text():
        yield f"drill {m['verdict'].upper()}: {journal['experiment']['title']} ({journal['status']})"
        rto = "—" if m["rto_seconds"] is None else f"{m['rto_seconds']:.1f} s"
        rpo = "—" if m["rpo_seconds"] is None else f"{m['rpo_seconds']:.1f} s"
        yield f"  RTO {rto} (target {m['targets']['rto_seconds']} s), RPO {rpo} (target {m['targets']['rpo_seconds']} s), {m['time_unit']}"
        budget = m.get("budget") or {}
        if budget.get("basis"):
            yield f"  budget ({budget['basis']} failover): detection {budget['detection']} s + dns {budget['dns']} s"
        for phase, data in m["phases"].items():
            seconds = "—" if data["seconds"] is None else f"{data['seconds']:.1f} s"
            yield f"  {phase:<10} {seconds:>9}  budget {data['budget_seconds']:.0f} s"
        for reason in m["reasons"]:
            yield f"  why: {reason}"
        yield f"  report: {report_dir / 'report.html'} (journal {report_dir / 'journal.json'}, {report_dir / 'junit.xml'})"

    ctx.emit({"verdict": m["verdict"], "status": journal["status"], "measurements": m,
              "report_dir": str(report_dir)}, text)
    return 0 if m["verdict"] == "pass" and not journal["deviated"] else 1
