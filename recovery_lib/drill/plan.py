"""Drill plans: what a failover drill probes, breaks, verifies and rolls back.

A plan is YAML or JSON (or the built-in default). ``load_plan`` validates it before the
drill touches anything: every problem raises :class:`~recovery_lib.errors.ConfigError`
naming the field, the bad value and what is allowed.

Phases are fixed (preflight → steady state → canary → fault → detection → DNS → standby
→ data → failback → report); the plan chooses the faults, the probes, the targets and the
time limits of each phase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import yaml

from recovery_lib.errors import ConfigError

REGIONS = ("primary", "secondary")
S3_MODES = ("refuse", "reset", "blackhole")
FAULT_TYPES = ("region-outage", "app-down", "s3", "replication-pause", "health-check-invert")
PROBES = ("dns-answer", "health-check", "app", "store-roundtrip")
VERIFICATIONS = ("detection", "dns-failover", "standby-serving", "data-recovery", "pipeline-resume")
TIMEOUT_KEYS = ("detection_seconds", "dns_seconds", "compute_seconds", "data_seconds", "drain_seconds")
# AWS FIS actions reference, aws:s3:bucket-pause-replication: "Existing objects may continue
# to be replicated for up to one hour after action begins." The aws adapter declares it.
REPLICATION_PAUSE_LAG_SECONDS = 3600


@dataclass(frozen=True)
class Fault:
    type: str
    region: Optional[str] = None
    mode: Optional[str] = None

    def expand(self) -> tuple["Fault", ...]:
        """A regional outage is its parts: the app, S3 and outgoing replication all stop."""
        if self.type == "region-outage":
            return (
                Fault("app-down", region=self.region),
                Fault("s3", region=self.region, mode="blackhole"),
                Fault("replication-pause"),
            )
        return (self,)

    def label(self) -> str:
        parts = [self.type] + [p for p in (self.region, self.mode) if p]
        return ":".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("type", self.type), ("region", self.region), ("mode", self.mode)) if v is not None}


@dataclass(frozen=True)
class Probe:
    probe: str
    expect: Optional[str] = None
    region: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("probe", self.probe), ("expect", self.expect), ("region", self.region)) if v is not None}


@dataclass(frozen=True)
class Canary:
    name: str = "drill/canary"
    interval_seconds: float = 5.0
    warmup_checkpoints: int = 3


@dataclass(frozen=True)
class DrillPlan:
    title: str
    faults: tuple[Fault, ...]
    steady_state: tuple[Probe, ...]
    verifications: tuple[str, ...]
    canary: Canary = field(default_factory=Canary)
    rto_seconds: Optional[int] = None  # None: the descriptor's target
    rpo_seconds: Optional[int] = None
    timeouts: Mapping[str, float] = field(default_factory=dict)
    scale_up_seconds: int = 0  # the compute part of the budget
    source: str = "built-in default"

    def timeout(self, key: str) -> float:
        return float(self.timeouts[key])

    def injected_faults(self) -> tuple[Fault, ...]:
        expanded: list[Fault] = []
        for fault in self.faults:
            for part in fault.expand():
                if part not in expanded:
                    expanded.append(part)
        return tuple(expanded)

    def expectations(self, *, replication_pause_lag_seconds: float = 0.0) -> list[dict[str, Any]]:
        """What the drill may see that a real regional outage would not, given how the adapter
        pauses replication (``replication_pause_lag_seconds``: how long objects that existed at
        the pause may still replicate; 3600 s with AWS FIS, 0 in the sandbox)."""
        expected: list[dict[str, Any]] = []
        if replication_pause_lag_seconds > 0 and Fault("replication-pause") in self.injected_faults():
            expected.append({
                "fault": "replication-pause",
                "lag_seconds": replication_pause_lag_seconds,
                "expect": (
                    f"checkpoints written before the fault may still reach the secondary for up to "
                    f"{replication_pause_lag_seconds:g} s after the pause begins, so the measured RPO can be "
                    "better than a real regional outage would give; only writes after the pause are sure to stay behind"
                ),
            })
        return expected

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "source": self.source,
            "faults": [f.as_dict() for f in self.faults],
            "steady_state": [p.as_dict() for p in self.steady_state],
            "verifications": list(self.verifications),
            "canary": {
                "name": self.canary.name,
                "interval_seconds": self.canary.interval_seconds,
                "warmup_checkpoints": self.canary.warmup_checkpoints,
            },
            "targets": {"rto_seconds": self.rto_seconds, "rpo_seconds": self.rpo_seconds},
            "timeouts": dict(self.timeouts),
            "scale_up_seconds": self.scale_up_seconds,
        }


DEFAULT_PLAN: dict[str, Any] = {
    "title": "Regional outage of the primary",
    "faults": [{"type": "region-outage", "region": "primary"}],
    "steady_state": [
        {"probe": "health-check", "expect": "healthy"},
        {"probe": "dns-answer", "expect": "PRIMARY"},
        {"probe": "app", "region": "primary", "expect": "healthy"},
        {"probe": "store-roundtrip", "region": "primary"},
    ],
    "verifications": list(VERIFICATIONS),
    "canary": {"name": "drill/canary", "interval_seconds": 5, "warmup_checkpoints": 3},
    "timeouts": {
        "detection_seconds": 180,
        "dns_seconds": 180,
        "compute_seconds": 600,
        "data_seconds": 300,
        "drain_seconds": 900,
    },
    "scale_up_seconds": 120,
}

_TOP_KEYS = {"title", "faults", "steady_state", "verifications", "canary", "targets", "timeouts", "scale_up_seconds"}


def _fail(where: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"drill plan: {where} is {value!r}; allowed: {allowed}")


def _number(where: str, value: Any, *, low: float, integer: bool = False) -> Union[int, float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise _fail(where, value, f"{'an integer' if integer else 'a number'} ≥ {low}")
    if value < low or value != value:  # NaN
        raise _fail(where, value, f"{'an integer' if integer else 'a number'} ≥ {low}")
    return value


def _region(where: str, value: Any, required: bool) -> Optional[str]:
    if value is None and not required:
        return None
    if value not in REGIONS:
        raise _fail(where, value, " or ".join(REGIONS))
    return value


def _keys(where: str, obj: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise _fail(where, obj, f"an object with keys {', '.join(sorted(allowed))}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _fail(f"{where} key {unknown[0]!r}", obj[unknown[0]], f"keys {', '.join(sorted(allowed))}")
    return obj


def _fault(where: str, raw: Any) -> Fault:
    obj = _keys(where, raw, {"type", "region", "mode"})
    kind = obj.get("type")
    if kind not in FAULT_TYPES:
        raise _fail(f"{where}.type", kind, ", ".join(FAULT_TYPES))
    if kind in ("region-outage", "app-down", "s3"):
        region = _region(f"{where}.region", obj.get("region"), required=True)
    else:
        if "region" in obj:
            raise _fail(f"{where}.region", obj["region"], f"no region for a {kind} fault")
        region = None
    mode = obj.get("mode")
    if kind == "s3":
        if mode not in S3_MODES:
            raise _fail(f"{where}.mode", mode, ", ".join(S3_MODES))
    elif mode is not None:
        raise _fail(f"{where}.mode", mode, "mode only on an s3 fault")
    return Fault(kind, region=region, mode=mode)


_PROBE_EXPECT = {
    "dns-answer": ("PRIMARY", "SECONDARY"),
    "health-check": ("healthy", "unhealthy"),
    "app": ("healthy", "unhealthy"),
    "store-roundtrip": (None,),
}


def _probe(where: str, raw: Any) -> Probe:
    obj = _keys(where, raw, {"probe", "expect", "region"})
    kind = obj.get("probe")
    if kind not in PROBES:
        raise _fail(f"{where}.probe", kind, ", ".join(PROBES))
    expect = obj.get("expect")
    allowed = _PROBE_EXPECT[kind]
    if expect not in allowed:
        shown = ", ".join(a for a in allowed if a) or "nothing (omit expect)"
        raise _fail(f"{where}.expect", expect, shown)
    needs_region = kind in ("app", "store-roundtrip")
    region = _region(f"{where}.region", obj.get("region"), required=needs_region)
    if not needs_region and region is not None:
        raise _fail(f"{where}.region", region, f"no region for a {kind} probe")
    return Probe(kind, expect=expect, region=region)


def _list(where: str, value: Any, *, allow_empty: bool = False) -> list:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise _fail(where, value, "a non-empty list" if not allow_empty else "a list")
    return value


def parse_plan(raw: Any, *, source: str = "inline") -> DrillPlan:
    """Validate a plan given as a dict (missing sections take the default plan's)."""
    obj = _keys("plan", raw, _TOP_KEYS)
    merged = {**DEFAULT_PLAN, **obj}
    title = merged["title"]
    if not isinstance(title, str) or not title.strip():
        raise _fail("title", title, "a non-empty string")
    faults = tuple(_fault(f"faults[{i}]", f) for i, f in enumerate(_list("faults", merged["faults"])))
    probes = tuple(_probe(f"steady_state[{i}]", p) for i, p in enumerate(_list("steady_state", merged["steady_state"])))
    verifications = tuple(_list("verifications", merged["verifications"], allow_empty=True))
    for i, name in enumerate(verifications):
        if name not in VERIFICATIONS:
            raise _fail(f"verifications[{i}]", name, ", ".join(VERIFICATIONS))
    if "pipeline-resume" in verifications and "data-recovery" not in verifications:
        raise _fail("verifications", list(verifications), "pipeline-resume only together with data-recovery")

    canary_raw = _keys("canary", merged["canary"], {"name", "interval_seconds", "warmup_checkpoints"})
    canary_defaults = DEFAULT_PLAN["canary"]
    canary_name = canary_raw.get("name", canary_defaults["name"])
    if not isinstance(canary_name, str) or not canary_name or canary_name.startswith("/") or "@" in canary_name:
        raise _fail("canary.name", canary_name, "a checkpoint name such as drill/canary")
    canary = Canary(
        name=canary_name,
        interval_seconds=float(_number("canary.interval_seconds", canary_raw.get("interval_seconds", canary_defaults["interval_seconds"]), low=0.1)),
        warmup_checkpoints=int(_number("canary.warmup_checkpoints", canary_raw.get("warmup_checkpoints", canary_defaults["warmup_checkpoints"]), low=1, integer=True)),
    )

    targets = _keys("targets", obj.get("targets", {}), {"rto_seconds", "rpo_seconds"})
    rto = targets.get("rto_seconds")
    rpo = targets.get("rpo_seconds")
    if rto is not None:
        rto = int(_number("targets.rto_seconds", rto, low=1, integer=True))
    if rpo is not None:
        rpo = int(_number("targets.rpo_seconds", rpo, low=0, integer=True))

    timeouts_raw = _keys("timeouts", merged["timeouts"], set(TIMEOUT_KEYS))
    timeouts = {**DEFAULT_PLAN["timeouts"], **timeouts_raw}
    for key in TIMEOUT_KEYS:
        timeouts[key] = float(_number(f"timeouts.{key}", timeouts[key], low=1))
    scale_up = int(_number("scale_up_seconds", merged["scale_up_seconds"], low=0, integer=True))

    return DrillPlan(
        title=title.strip(),
        faults=faults,
        steady_state=probes,
        verifications=verifications,
        canary=canary,
        rto_seconds=rto,
        rpo_seconds=rpo,
        timeouts=timeouts,
        scale_up_seconds=scale_up,
        source=source,
    )


def load_plan(path: Union[str, Path, None] = None) -> DrillPlan:
    """The plan in ``path`` (``.yaml``/``.yml``/``.json``), or the built-in default."""
    if path is None:
        return parse_plan(DEFAULT_PLAN, source="built-in default")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"drill plan file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"drill plan file {str(path)!r} cannot be read: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raise ConfigError(f"drill plan file {str(path)!r} must end in .yaml, .yml or .json")
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"drill plan file {str(path)!r} is not valid {path.suffix[1:].upper()}: {exc}") from None
    return parse_plan(raw, source=str(path))
