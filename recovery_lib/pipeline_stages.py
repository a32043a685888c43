"""The parts of a pipeline: its stages, their statuses, and the rules that tie them
together (names, dependency order, the inputs digest a stage's checkpoint is saved under)."""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from recovery_lib.errors import InvalidName, RecoveryError

__all__ = ["COMPLETE", "PENDING", "STALE", "PipelineError", "Stage", "StageStatus",
           "check_segment", "dependency_order", "stage_digest"]

COMPLETE = "complete"
PENDING = "pending"
STALE = "stale"

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_SEGMENT_RULE = (
    "1-128 characters from A-Z a-z 0-9 _ . -, not starting with '.' or '-' "
    "(one path segment: no '/')"
)
_DIGEST_CHARS = 16


class PipelineError(RecoveryError, ValueError):
    """A pipeline declared or used wrongly: duplicate stage, unknown dependency, dependency
    cycle, a stage signature that cannot receive outputs, or an unknown stage name."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """A declared stage: ``params`` receive upstream outputs, ``after`` only orders."""

    name: str
    func: Callable[..., Any]
    params: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every direct upstream stage, parameters first, without duplicates."""
        return tuple(dict.fromkeys(self.params + self.after))


@dataclasses.dataclass(frozen=True)
class StageStatus:
    """Where a stage stands in the store: ``state`` is complete, pending or stale."""

    stage: str
    state: str
    version: str | None = None
    created_at: datetime.datetime | None = None
    checkpoint: str | None = None

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE


def check_segment(what: str, value: object) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise InvalidName(f"invalid {what} {value!r}: use {_SEGMENT_RULE}")
    return value



def dependency_order(stages: Mapping[str, Stage], pipeline: str) -> list[Stage]:
    """Stages in dependency order; validates unknown dependencies and cycles."""
    for stage in stages.values():
        for dep in stage.inputs:
            if dep not in stages:
                kind = "parameter" if dep in stage.params else "'after' entry"
                raise PipelineError(
                    f"stage {stage.name!r} depends on {dep!r} ({kind}), which is not a stage "
                    f"of pipeline {pipeline!r}; declared stages: {', '.join(stages)}"
                )
    remaining = {name: set(stage.inputs) for name, stage in stages.items()}
    order: list[Stage] = []
    while remaining:
        ready = [name for name, deps in remaining.items() if not deps]
        if not ready:
            raise PipelineError(
                f"dependency cycle in pipeline {pipeline!r}: {' -> '.join(_cycle(remaining))}"
            )
        for name in ready:  # declaration order, since dicts keep insertion order
            order.append(stages[name])
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def _cycle(remaining: Mapping[str, set[str]]) -> list[str]:
    """One cycle among stages that never became ready, as a path a -> b -> a."""
    path: list[str] = []
    node = next(iter(remaining))
    while node not in path:
        path.append(node)
        node = next(dep for dep in sorted(remaining[node]) if dep in remaining)
    return path[path.index(node):] + [node]


def stage_digest(stage: Stage, versions: Mapping[str, str], *,
                 serializer: str | None = None) -> str:
    """The inputs digest; with ``serializer`` (pickle pipelines) it is hashed too."""
    pairs: list[list[str]] = [[dep, versions[dep]] for dep in sorted(stage.inputs)]
    if serializer is not None:
        pairs.append(["serializer", serializer])
    payload = json.dumps(pairs, separators=(",", ":")).encode()
    return hashlib.sha256(payload).hexdigest()[:_DIGEST_CHARS]
