"""``python -m infra.scan``: exit 2 and nothing written on bad input, 1 with a readable table
on a new finding or a stale exception, 0 when every finding is kept with a reason."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import infra.scan.__main__ as cli
from infra.mockrun import ROOT
from infra.scan.checkov import Report, Result
from infra.scan.exceptions import Finding, match, parse_exceptions
from infra.scan.run import ScanResult


def test_a_malformed_exceptions_file_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "exceptions.yaml"
    bad.write_text("exceptions:\n  - check: CKV_AWS_18\n    resource: aws_s3_bucket.*\n    stacks: [dr]\n")
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "infra.scan", "--exceptions", str(bad), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("ExceptionsFileError: ") and "reason is missing or empty" in proc.stderr
    assert not out.exists()


def test_an_unknown_stack_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--stack", "prod"])
    assert exc.value.code == 2
    assert "invalid choice: 'prod'" in capsys.readouterr().err


def _result(entries_doc, failed):
    stacks = ["dr"]
    entries = parse_exceptions(entries_doc, stacks=["dev", "dr"])
    report = Report(version="3.3.30", results=[Result(c, a, "Ensure x", "", False) for c, a in failed]
                    + [Result("CKV_AWS_21", "aws_s3_bucket.b", "Ensure versioning", "", True)])
    findings = [Finding("dr", c, a, "Ensure x", "", f"aws:x/y:Y {a}") for c, a in failed]
    return ScanResult(stacks=stacks, reports={"dr": report}, verdict=match(findings, entries, stacks))


@pytest.mark.parametrize(
    "doc, failed, code, shown",
    [
        ({"exceptions": [{"check": "CKV_AWS_26", "resource": "aws_sns_topic.*", "stacks": ["dr"], "reason": "r" * 20}]},
         [("CKV_AWS_26", "aws_sns_topic.alerts_topic")], 0, "dr: checkov 1 passed, 1 failed (1 kept by the exceptions file, 0 new)"),
        ({}, [("CKV_AWS_26", "aws_sns_topic.alerts_topic")], 1, "CKV_AWS_26  aws_sns_topic.alerts_topic  dr"),
        ({"exceptions": [{"check": "CKV_AWS_91", "resource": "aws_lb.*", "stacks": ["dr"], "reason": "r" * 20}]},
         [], 1, "Stale exceptions"),
    ],
)
def test_exit_code_and_table(monkeypatch, capsys, tmp_path, doc, failed, code, shown):
    result = _result(doc, failed)
    monkeypatch.setattr(cli, "scan", lambda *a, **k: result)
    out = tmp_path / "summary.json"
    assert cli.main(["--stack", "dr", "--json", str(out)]) == code
    printed = capsys.readouterr().out
    assert shown in printed
    summary = json.loads(out.read_text())
    assert summary["stacks"]["dr"]["failed_checks"] == sorted({c for c, _ in failed})
    assert summary["stacks"]["dr"]["passed"] == 1
