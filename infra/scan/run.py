"""One scan: each stack's plan through checkov, the findings against the exceptions file."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from infra.mockrun import ROOT
from infra.scan.checkov import Report, run_checkov
from infra.scan.exceptions import Finding, Verdict, load_exceptions, match
from infra.scan.plan import stack_plan

logger = logging.getLogger(__name__)

EXCEPTIONS = Path(__file__).with_name("exceptions.yaml")


def known_stacks(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


@dataclass(frozen=True)
class ScanResult:
    stacks: list[str]
    reports: dict[str, Report]
    verdict: Verdict

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def summary(self) -> dict[str, Any]:
        """Per stack: passed/failed counts and the failed check ids (the JSON report)."""
        out: dict[str, Any] = {}
        for stack in self.stacks:
            report = self.reports[stack]
            out[stack] = {
                "passed": len(report.passed),
                "failed": len(report.failed),
                "failed_checks": sorted({r.check for r in report.failed}),
                "new": [_finding_json(f) for f in self.verdict.new if f.stack == stack],
                "excepted": [
                    {**_finding_json(f), "reason": e.reason, "temporary": e.temporary}
                    for f, e in self.verdict.excepted if f.stack == stack
                ],
                "stale": [e.describe() for e, s in self.verdict.stale if s == stack],
            }
        return {"checkov_version": next((r.version for r in self.reports.values()), ""), "stacks": out}


def _finding_json(f: Finding) -> dict[str, str]:
    return {"check": f.check, "resource": f.address, "pulumi": f.pulumi, "name": f.name, "guideline": f.guideline}


def scan(
    stacks: Sequence[str],
    *,
    exceptions: Path = EXCEPTIONS,
    plan_dir: Optional[Path] = None,
    checkov: Optional[Path] = None,
) -> ScanResult:
    """Translate and scan ``stacks``; the exceptions file is validated before anything runs."""
    entries = load_exceptions(exceptions, stacks=known_stacks())
    with tempfile.TemporaryDirectory(prefix="dr-scan-") as tmp:
        directory = plan_dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        plans, paths = {}, {}
        for stack in stacks:
            paths[stack] = directory / f"plan-{stack}.json"
            plans[stack] = stack_plan(stack, paths[stack])
        reports = run_checkov(paths, executable=checkov)
    findings = [
        Finding(
            stack=stack,
            check=r.check,
            address=r.address,
            name=r.name,
            guideline=r.guideline,
            pulumi=" ".join(plans[stack].sources.get(r.address, ("?", r.address))),
        )
        for stack in stacks
        for r in reports[stack].failed
    ]
    return ScanResult(stacks=list(stacks), reports=reports, verdict=match(findings, entries, stacks))


def format_result(result: ScanResult) -> str:
    """The human report: counts per stack, then new findings and stale exceptions as tables."""
    lines = []
    for stack in result.stacks:
        report = result.reports[stack]
        excepted = sum(1 for f, _ in result.verdict.excepted if f.stack == stack)
        new = sum(1 for f in result.verdict.new if f.stack == stack)
        lines.append(f"{stack}: checkov {len(report.passed)} passed, {len(report.failed)} failed "
                     f"({excepted} kept by the exceptions file, {new} new)")
    if result.verdict.new:
        lines += ["", "New findings (fix them, or add an entry with its reason to infra/scan/exceptions.yaml):"]
        lines += _table(
            ("check", "resource", "stack", "pulumi resource", "what checkov asks (guideline)"),
            [(f.check, f.address, f.stack, f.pulumi, f"{f.name} ({f.guideline})" if f.guideline else f.name)
             for f in result.verdict.new],
        )
    if result.verdict.stale:
        lines += ["", "Stale exceptions (they match no finding any more: delete them):"]
        lines += _table(
            ("check", "resource", "stack", "reason"),
            [(e.check, e.resource, s, e.reason if len(e.reason) <= 70 else e.reason[:67] + "...")
             for e, s in result.verdict.stale],
        )
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    render = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return [render(header), render(["-" * w for w in widths])] + [render(r) for r in rows]


__all__ = ["scan", "format_result", "ScanResult", "EXCEPTIONS", "known_stacks"]
