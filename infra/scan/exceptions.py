"""The exceptions file: checkov findings kept on purpose, each with its reason.

Format (YAML)::

    exceptions:            # permanent: the check does not apply, and the reason says why
      - check: CKV2_AWS_62
        resource: aws_s3_bucket.*_checkpoints_bucket   # Terraform address, fnmatch pattern
        stacks: [dev, dr]
        reason: ...
    temporary:             # findings another branch is fixing; the section is deleted then
      - ...

``match`` sorts findings into excepted and new, and reports every entry that matched no
finding in a stack it names as stale: the file must keep describing the program as it is.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from infra.scan.errors import ExceptionsFileError

logger = logging.getLogger(__name__)

SECTIONS = ("exceptions", "temporary")
KEYS = ("check", "resource", "stacks", "reason")
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")


@dataclass(frozen=True)
class Exemption:
    check: str
    resource: str
    stacks: tuple[str, ...]
    reason: str
    temporary: bool = False

    def matches(self, stack: str, check: str, address: str) -> bool:
        return stack in self.stacks and check == self.check and fnmatch.fnmatchcase(address, self.resource)

    def describe(self) -> str:
        section = "temporary" if self.temporary else "exceptions"
        return f"{section}: {self.check} {self.resource} [{', '.join(self.stacks)}]"


@dataclass(frozen=True)
class Finding:
    stack: str
    check: str
    address: str
    name: str  # checkov's check name
    guideline: str
    pulumi: str  # "<Pulumi type> <name>" the address stands for


@dataclass(frozen=True)
class Verdict:
    new: list[Finding]
    excepted: list[tuple[Finding, Exemption]]
    stale: list[tuple[Exemption, str]]  # (entry, stack where it matched nothing)

    @property
    def ok(self) -> bool:
        return not self.new and not self.stale


def parse_exceptions(document: Any, *, stacks: Sequence[str], source: str = "exceptions file") -> list[Exemption]:
    """Validate a loaded exceptions document; every problem names the entry and what is allowed."""
    if document is None:
        return []
    if not isinstance(document, dict):
        raise ExceptionsFileError(f"{source}: expected a mapping with {' and/or '.join(SECTIONS)}, got {type(document).__name__}")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise ExceptionsFileError(f"{source}: unknown section(s) {unknown}; allowed: {list(SECTIONS)}")
    entries: list[Exemption] = []
    for section in SECTIONS:
        items = document.get(section) or []
        if not isinstance(items, list):
            raise ExceptionsFileError(f"{source}: {section} must be a list of entries, got {type(items).__name__}")
        for index, item in enumerate(items):
            where = f"{source}: {section}[{index}]"
            entries.append(_entry(item, where, stacks, temporary=section == "temporary"))
    return entries


def _entry(item: Any, where: str, stacks: Sequence[str], *, temporary: bool) -> Exemption:
    if not isinstance(item, dict):
        raise ExceptionsFileError(f"{where}: expected a mapping with {list(KEYS)}, got {item!r}")
    extra = sorted(set(item) - set(KEYS))
    if extra:
        raise ExceptionsFileError(f"{where}: unknown key(s) {extra}; allowed: {list(KEYS)}")
    reason = item.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ExceptionsFileError(f"{where} ({item.get('check')!r} on {item.get('resource')!r}): reason is missing or empty; "
                                  "every exception says why the finding is kept")
    check = item.get("check")
    if not isinstance(check, str) or not CHECK_ID.match(check):
        raise ExceptionsFileError(f"{where}: check must be a checkov id such as CKV_AWS_18 or CKV2_AWS_6, got {check!r}")
    resource = item.get("resource")
    if not isinstance(resource, str) or not resource.strip():
        raise ExceptionsFileError(f"{where}: resource must be a Terraform address or fnmatch pattern, got {resource!r}")
    listed = item.get("stacks")
    if not isinstance(listed, list) or not listed or any(s not in stacks for s in listed):
        raise ExceptionsFileError(f"{where}: stacks must be a non-empty list of {list(stacks)}, got {listed!r}")
    return Exemption(check=check, resource=resource, stacks=tuple(listed), reason=reason.strip(), temporary=temporary)


def load_exceptions(path: Path, *, stacks: Sequence[str]) -> list[Exemption]:
    if not path.is_file():
        raise ExceptionsFileError(f"no exceptions file at {path}")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ExceptionsFileError(f"{path}: not valid YAML: {exc}") from exc
    return parse_exceptions(document, stacks=stacks, source=str(path))


def match(findings: Iterable[Finding], entries: Sequence[Exemption], scanned: Sequence[str]) -> Verdict:
    """Excepted and new findings, and the entries that matched nothing in a scanned stack."""
    new: list[Finding] = []
    excepted: list[tuple[Finding, Exemption]] = []
    used: set[tuple[Exemption, str]] = set()
    for finding in findings:
        entry = next((e for e in entries if e.matches(finding.stack, finding.check, finding.address)), None)
        if entry is None:
            new.append(finding)
        else:
            excepted.append((finding, entry))
            used.add((entry, finding.stack))
    stale = [(e, s) for e in entries for s in e.stacks if s in scanned and (e, s) not in used]
    logger.info("%d new findings, %d excepted, %d stale exceptions", len(new), len(excepted), len(stale))
    return Verdict(new=new, excepted=excepted, stale=stale)
