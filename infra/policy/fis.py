"""AWS FIS replication-pause experiments select their buckets by tag.

FIS User Guide, actions reference, ``aws:s3:bucket-pause-replication``: "This action only
supports targeting by tags." A template that names the bucket by ARN is rejected; one whose
tags match no bucket pauses nothing. The same page: "Existing objects may continue to be
replicated for up to one hour after action begins", so a shorter pause may show nothing.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from pulumi_policy import ReportViolation, StackValidationArgs

from infra.policy.stack import FIS_TEMPLATE, StackView, describe, seq

PAUSE_ACTION = "aws:s3:bucket-pause-replication"
PAUSE_LAG_SECONDS = 3600
_ISO_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def duration_seconds(value: Any) -> int | None:
    match = _ISO_DURATION.match(str(value or ""))
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _tags(target: Mapping[str, Any]) -> dict[str, Any]:
    return {t.get("key"): t.get("value") for t in seq(target.get("resourceTags"))}


def validate_pause_replication_by_tags(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args.resources)
    for template in view.of_type(FIS_TEMPLATE):
        targets = {t.get("name"): t for t in seq(template.props.get("targets"))}
        for action in seq(template.props.get("actions")):
            if action.get("actionId") != PAUSE_ACTION:
                continue
            target = targets.get((action.get("target") or {}).get("value"), {})
            tags = _tags(target)
            if target.get("resourceArns") or not tags:
                report_violation(
                    f"{describe(template)} action {action.get('name')!r} ({PAUSE_ACTION}) selects its buckets "
                    f"{'by ARN' if target.get('resourceArns') else 'without tags'}, but the action only supports "
                    "targeting by tags (FIS actions reference); tag the source bucket and set resource_tags.",
                    template.urn,
                )
            elif not any(all((b.props.get("tags") or {}).get(k) == v for k, v in tags.items())
                         for b in view.buckets()):
                report_violation(
                    f"{describe(template)} action {action.get('name')!r} selects buckets tagged {tags}, and no "
                    "bucket in this stack carries those tags, so the experiment pauses nothing; tag the "
                    "replication source bucket.",
                    template.urn,
                )
            params = {p.get("key"): p.get("value") for p in seq(action.get("parameters"))}
            seconds = duration_seconds(params.get("duration"))
            if seconds is not None and seconds <= PAUSE_LAG_SECONDS:
                report_violation(
                    f"{describe(template)} action {action.get('name')!r} pauses replication for {params['duration']}, "
                    f"but objects that exist when it starts may keep replicating for up to an hour (FIS actions "
                    f"reference): make the duration longer than PT1H.",
                    template.urn,
                )
