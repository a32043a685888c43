"""Run checkov (from its own virtualenv, ``.venv-scan``) on plan files, offline.

checkov pins its own boto3/botocore and a dozen other packages, so it lives in a virtualenv
of its own that the Makefile builds; it is run as a subprocess with the ``terraform_plan``
framework, ``--skip-download`` (no policy or guideline download from the Prisma Cloud API),
``BC_SKIP_MAPPING`` (no guideline mapping download) and ``CKV_SKIP_PACKAGE_UPDATE_CHECK``
(no PyPI version check), and JSON output. Several plans run as parallel processes.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from infra.scan.errors import CheckovError

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "ANSI_COLORS_DISABLED": "1",
    "LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class Result:
    check: str
    address: str
    name: str
    guideline: str
    passed: bool


@dataclass(frozen=True)
class Report:
    version: str
    results: list[Result]

    @property
    def passed(self) -> list[Result]:
        return [r for r in self.results if r.passed]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.passed]


def checkov_executable(path: Optional[Path] = None) -> Path:
    """The checkov to run: ``path``, else ``$CHECKOV``, else ``.venv-scan/bin/checkov``."""
    candidate = path or Path(os.environ.get("CHECKOV") or DEFAULT_CHECKOV)
    if not candidate.is_file():
        raise CheckovError(f"checkov not found at {candidate}; `make scan-env` builds .venv-scan with the pinned checkov")
    return candidate


def _command(executable: Path, plan: Path, checks: Optional[Sequence[str]]) -> list[str]:
    command = [
        str(executable), "-f", str(plan), "--framework", "terraform_plan",
        "--skip-download", "--soft-fail", "-o", "json", "--compact",
    ]
    if checks:
        command += ["--check", ",".join(checks)]
    return command


def parse_report(text: str, source: str = "checkov") -> Report:
    """checkov's JSON report for one plan (``-o json``)."""
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckovError(f"{source}: output is not JSON ({exc}): {text[:300]!r}") from exc
    if isinstance(document, list):  # one report per framework; we run only terraform_plan
        document = next((d for d in document if d.get("check_type") == "terraform_plan"), {})
    if not isinstance(document, Mapping):
        raise CheckovError(f"{source}: unexpected report shape {type(document).__name__}")
    if "results" not in document:
        # checkov prints a bare summary when nothing was scanned (an empty plan)
        version = str(document.get("checkov_version", ""))
        return Report(version=version, results=[])
    results = []
    for key, passed in (("passed_checks", True), ("failed_checks", False)):
        for item in document["results"].get(key, []):
            results.append(
                Result(
                    check=item["check_id"],
                    address=item["resource"],
                    name=item.get("check_name", ""),
                    guideline=item.get("guideline") or "",
                    passed=passed,
                )
            )
    return Report(version=str(document.get("summary", {}).get("checkov_version", "")), results=results)


def run_checkov(
    plans: Mapping[str, Path], *, executable: Optional[Path] = None, checks: Optional[Sequence[str]] = None
) -> dict[str, Report]:
    """checkov's report per plan (``plans``: label -> plan file), the processes run side by side."""
    exe = checkov_executable(executable)
    env = {**os.environ, **OFFLINE_ENV}
    processes = {}
    for label, plan in plans.items():
        logger.info("checkov %s (%s)", label, plan)
        processes[label] = subprocess.Popen(
            _command(exe, plan, checks), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    reports: dict[str, Report] = {}
    failures: list[str] = []
    for label, process in processes.items():
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            failures.append(f"{label}: checkov exited {process.returncode}: {stderr.strip()[-800:]}")
            continue
        reports[label] = parse_report(stdout, source=f"checkov on {plans[label]}")
    if failures:
        raise CheckovError("; ".join(failures))
    return reports
