"""The drill journal: the record a drill writes after every step (what it injected, what
it observed), how to read one back, and how to revert what a killed drill left injected.
Also the two outcomes a step can journal besides success: ``DrillAborted`` and ``StepFailed``."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from recovery_lib.drill import report
from recovery_lib.drill.adapters.base import FaultAdapter
from recovery_lib.drill.plan import DrillPlan, Fault
from recovery_lib.errors import ConfigError, RecoveryError

__all__ = ["JOURNAL_VERSION", "DrillAborted", "StepFailed", "load_journal", "new_journal",
           "revert_journal", "utc_now"]

JOURNAL_VERSION = 1


class DrillAborted(RecoveryError):
    """The drill was stopped (refused confirmation, a signal) before it finished."""


class StepFailed(RecoveryError):
    """A drill step did not reach its goal; the message says what was observed."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_journal(descriptor: dict[str, Any], plan: DrillPlan, adapter: FaultAdapter, *,
                dry_run: bool) -> dict[str, Any]:
    """The journal of a drill that is starting: status "running", nothing injected yet."""
    return {
        "journal_version": JOURNAL_VERSION,
        "id": uuid.uuid4().hex,
        "experiment": plan.as_dict(),
        "platform": {k: descriptor.get(k) for k in ("project", "stack", "strategy")},
        "descriptor": descriptor,
        "adapter": adapter.name,
        "dry_run": dry_run,
        "status": "running",
        "deviated": False,
        "start": utc_now().isoformat(),
        "end": None,
        "duration": 0.0,
        "steady_states": {"before": None, "after": None, "during": []},
        "preflight": [],
        "run": [],
        "rollbacks": [],
        "injections": [],
        "measurements": None,
        "timeline": [],
        "expectations": plan.expectations(
            replication_pause_lag_seconds=adapter.replication_pause_lag_seconds),
    }


def load_journal(path: Path) -> dict[str, Any]:
    try:
        journal = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"journal {str(path)!r} does not exist") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"journal {str(path)!r} is not a readable drill journal: {exc}") from None
    if not isinstance(journal, dict) or journal.get("journal_version") != JOURNAL_VERSION or "injections" not in journal:
        raise ConfigError(f"{str(path)!r} is not a drill journal (journal_version {JOURNAL_VERSION} with injections)")
    return journal


def revert_journal(path: Path, adapter: FaultAdapter) -> dict[str, Any]:
    """Revert what a killed drill left injected; the journal is updated in place."""
    path = Path(path)
    journal = load_journal(path)
    failures = []
    for record in reversed(journal["injections"]):
        if record.get("status") == "reverted":
            continue
        fault = Fault(**record["fault"])
        entry: dict[str, Any] = {"activity": {"type": "action", "name": f"revert {fault.label()} (--revert)"},
                                 "start": utc_now().isoformat()}
        journal["rollbacks"].append(entry)
        try:
            adapter.revert(fault, record.get("info") or {})
            if adapter.is_injected(fault):
                raise StepFailed(f"{fault.label()} is still in effect after the revert")
            record["status"] = "reverted"
            entry["status"] = "succeeded"
        except Exception as exc:  # noqa: BLE001 - journaled; the caller exits non-zero
            record["status"] = "revert-failed"
            entry.update(status="failed", exception=f"{type(exc).__name__}: {exc}")
            failures.append(f"{fault.label()}: {exc}")
        entry["end"] = utc_now().isoformat()
        report.write_atomic(path, json.dumps(journal, indent=2, default=str))
    scaled = journal.get("scaled")
    if scaled and not scaled.get("restored"):
        adapter.scale_standby(scaled["from"])
        scaled["restored"] = True
        report.write_atomic(path, json.dumps(journal, indent=2, default=str))
    if journal.get("status") == "running":
        journal["status"] = "interrupted"
        journal["deviated"] = True
        report.write_atomic(path, json.dumps(journal, indent=2, default=str))
    journal["revert_failures"] = failures
    return journal
