"""Retention policies: which versions of a checkpoint name to keep (pure: no I/O).

A :class:`RetentionPolicy` keeps the union of what its rules keep, like Orbax's
``CheckpointManagerOptions`` (``max_to_keep``, ``keep_period``, ``best_fn``/``best_mode``)::

    keep_last=N      the N newest steps (versions without a step: the N newest commits)
    keep_every=K     every step divisible by K (step 0, K, 2K, ...)
    keep_best=M      the M best steps by ``metric`` in the version's metadata, ``mode``
                     "min" (a loss) or "max" (an accuracy); versions without it do not count
    keep_days=D      every version created less than D days ago

A step saved more than once keeps only its newest version for the rules above; its older
versions are *superseded* and retired unless something below protects them.

:func:`plan` splits a name's versions into kept and retired. Never retired, whatever the
policy says (``protected``, computed by :mod:`recovery_lib.lifecycle`): the current version,
the newest DR-safe version (what a restore in the secondary would get now), the version each
region's head names, the version a kept rollback restored, and commits not yet reconciled.
Tombstones (a deleted name's marker) are never retired either; they are tiny and say the name
is gone. Retiring is logical (a marker, see :mod:`recovery_lib.lifecycle`), undoable until
garbage collection.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any, Iterable, Literal, Mapping

from . import manifest as mf
from .errors import ConfigError

__all__ = ["RetentionPolicy", "VersionInfo", "RetentionPlan", "plan"]

Mode = Literal["min", "max"]


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    """What to keep of each name; at least one rule. See the module docstring."""

    keep_last: int | None = None
    keep_every: int | None = None
    keep_best: int | None = None
    metric: str | None = None
    mode: Mode = "min"
    keep_days: float | None = None

    def __post_init__(self) -> None:
        for field in ("keep_last", "keep_every", "keep_best"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ConfigError(f"retention {field}={value!r}: expected an int >= 1 or None")
        days = self.keep_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))
                                 or not math.isfinite(days) or days <= 0):
            raise ConfigError(f"retention keep_days={days!r}: expected a number of days > 0 "
                              "or None")
        if self.mode not in ("min", "max"):
            raise ConfigError(f"retention mode={self.mode!r}: expected 'min' or 'max'")
        if (self.keep_best is None) != (self.metric is None):
            raise ConfigError(f"retention keep_best={self.keep_best!r} with metric="
                              f"{self.metric!r}: keep_best needs a metadata metric and vice versa")
        if self.metric is not None and (not isinstance(self.metric, str) or not self.metric):
            raise ConfigError(f"retention metric={self.metric!r}: expected a metadata key")
        if all(v is None for v in (self.keep_last, self.keep_every, self.keep_best, days)):
            raise ConfigError("a retention policy needs at least one rule: keep_last, "
                              "keep_every, keep_best (with metric) or keep_days")

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> "RetentionPolicy":
        """A policy from a dict such as ``{"keep_last": 3, "keep_every": 1000}`` (the CLI's
        and a descriptor's form); ConfigError naming unknown keys."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ConfigError(f"retention policy keys {unknown} are unknown; allowed: "
                              f"{sorted(allowed)}")
        return cls(**dict(spec))


@dataclasses.dataclass(frozen=True)
class VersionInfo:
    """What a policy looks at for one version (from its manifest)."""

    version: str
    step: int | None
    created_at: dt.datetime
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RetentionPlan:
    """``keep`` and ``retire``: version ids, oldest first in commit order; ``reasons`` says
    why each kept version stays (rule names, or ``protected``)."""

    keep: tuple[str, ...]
    retire: tuple[str, ...]
    reasons: Mapping[str, tuple[str, ...]]


def plan(policy: RetentionPolicy, versions: Iterable[VersionInfo], *, now: dt.datetime,
         protected: Iterable[str] = ()) -> RetentionPlan:
    """Split ``versions`` of one name into kept and retired under ``policy``."""
    infos = {v.version: v for v in versions}
    reasons: dict[str, list[str]] = {v: [] for v in infos}
    for version in set(protected) & set(infos):
        reasons[version].append("protected")
    for version in infos:
        if mf.is_tombstone(version):
            reasons[version].append("tombstone")
    # one representative per step (its newest version); unstepped versions stand alone
    newest_of_step: dict[int, str] = {}
    for info in infos.values():
        if mf.is_tombstone(info.version) or info.step is None:
            continue
        held = newest_of_step.get(info.step)
        if held is None or mf.order_key(info.version) > mf.order_key(held):
            newest_of_step[info.step] = info.version
    unstepped = sorted((v for v, i in infos.items() if i.step is None and not mf.is_tombstone(v)),
                       key=mf.order_key)
    # ranking for keep_last: steps by number, then (below every step) unstepped by commit
    ranked = [newest_of_step[s] for s in sorted(newest_of_step, reverse=True)]
    ranked += list(reversed(unstepped))
    if policy.keep_last is not None:
        for version in ranked[:policy.keep_last]:
            reasons[version].append(f"keep_last={policy.keep_last}")
    if policy.keep_every is not None:
        for step, version in newest_of_step.items():
            if step % policy.keep_every == 0:
                reasons[version].append(f"keep_every={policy.keep_every}")
    if policy.keep_best is not None and policy.metric is not None:
        scored = [(float(infos[v].metadata[policy.metric]), v) for v in ranked
                  if _is_number(infos[v].metadata.get(policy.metric))]
        scored.sort(key=lambda item: mf.order_key(item[1]), reverse=True)  # ties: newest
        scored.sort(key=lambda item: item[0], reverse=policy.mode == "max")  # stable
        for _, version in scored[:policy.keep_best]:
            reasons[version].append(f"keep_best={policy.keep_best} by {policy.mode} "
                                    f"{policy.metric}")
    if policy.keep_days is not None:
        horizon = now - dt.timedelta(days=policy.keep_days)
        for version, info in infos.items():
            if info.created_at > horizon and not mf.is_tombstone(version):
                reasons[version].append(f"keep_days={policy.keep_days:g}")
    ordered = sorted(infos, key=mf.order_key)
    keep = tuple(v for v in ordered if reasons[v])
    retire = tuple(v for v in ordered if not reasons[v])
    return RetentionPlan(keep=keep, retire=retire,
                         reasons={v: tuple(r) for v, r in reasons.items() if r})


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
