"""Retention policies as pure functions (recovery_lib.retention)."""
from __future__ import annotations

import datetime as dt

import pytest

from recovery_lib import ConfigError
from recovery_lib import manifest as mf
from recovery_lib.retention import RetentionPolicy, VersionInfo, plan

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def _versions(steps, *, metrics=None, age_days=None):
    """One version per entry of ``steps`` (None: no step), committed in that order."""
    out = []
    for i, step in enumerate(steps, start=1):
        days = age_days[i - 1] if age_days else 30 - i * 0.01
        created = NOW - dt.timedelta(days=days)
        version = mf.new_version(seq=i, clock=lambda: int(created.timestamp() * 1e9))
        metadata = {"loss": metrics[i - 1]} if metrics else {}
        out.append(VersionInfo(version, step, created, metadata))
    return out


def _steps(result, versions):
    by_version = {v.version: v.step for v in versions}
    return sorted(by_version[v] for v in result.keep if by_version[v] is not None)


def test_keep_last_keeps_the_highest_steps():
    versions = _versions([100, 200, 300, 400, 500])
    result = plan(RetentionPolicy(keep_last=2), versions, now=NOW)
    assert _steps(result, versions) == [400, 500]
    assert len(result.retire) == 3


def test_keep_every_keeps_multiples_and_unions_with_keep_last():
    versions = _versions([250, 500, 750, 1000, 1250, 1500])
    result = plan(RetentionPolicy(keep_last=1, keep_every=1000), versions, now=NOW)
    assert _steps(result, versions) == [1000, 1500]
    assert "keep_every=1000" in result.reasons[versions[3].version]


@pytest.mark.parametrize("mode,expected", [("min", [200, 400]), ("max", [100, 500])])
def test_keep_best_by_metric(mode, expected):
    versions = _versions([100, 200, 300, 400, 500], metrics=[0.9, 0.1, 0.5, 0.2, 0.95])
    result = plan(RetentionPolicy(keep_best=2, metric="loss", mode=mode), versions, now=NOW)
    assert _steps(result, versions) == expected


def test_keep_best_ignores_versions_without_a_numeric_metric():
    versions = _versions([1, 2, 3], metrics=[float("nan"), True, 0.3])
    result = plan(RetentionPolicy(keep_best=3, metric="loss"), versions, now=NOW)
    assert _steps(result, versions) == [3]


def test_keep_days_keeps_young_versions():
    versions = _versions([1, 2, 3], age_days=[10, 3, 1])
    result = plan(RetentionPolicy(keep_days=7), versions, now=NOW)
    assert _steps(result, versions) == [2, 3]


def test_a_step_saved_twice_keeps_only_its_newest_version():
    versions = _versions([100, 200, 200])
    result = plan(RetentionPolicy(keep_last=5), versions, now=NOW)
    assert result.keep == (versions[0].version, versions[2].version)
    assert result.retire == (versions[1].version,)


def test_unstepped_versions_count_by_commit_order_below_steps():
    versions = _versions([None, None, None])
    result = plan(RetentionPolicy(keep_last=2), versions, now=NOW)
    assert result.keep == (versions[1].version, versions[2].version)
    mixed = _versions([None, 10, None])
    assert plan(RetentionPolicy(keep_last=1), mixed, now=NOW).keep == (mixed[1].version,)


def test_protected_versions_and_tombstones_are_never_retired():
    versions = _versions([1, 2, 3, 4])
    tomb = mf.new_version(seq=5, deleted=True)
    versions.append(VersionInfo(tomb, None, NOW, {}))
    result = plan(RetentionPolicy(keep_last=1), versions, now=NOW,
                  protected={versions[0].version})
    assert set(result.keep) == {versions[0].version, versions[3].version, tomb}
    assert result.reasons[versions[0].version] == ("protected",)


@pytest.mark.parametrize("kwargs,match", [
    ({}, "at least one rule"),
    ({"keep_last": 0}, "keep_last=0"),
    ({"keep_every": True}, "keep_every=True"),
    ({"keep_best": 2}, "metric"),
    ({"keep_last": 1, "metric": "loss"}, "metric"),
    ({"keep_best": 1, "metric": "loss", "mode": "median"}, "median"),
    ({"keep_days": -1}, "keep_days=-1"),
    ({"keep_days": float("inf")}, "keep_days=inf"),
])
def test_bad_policies_are_refused_naming_the_value(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RetentionPolicy(**kwargs)


def test_policy_from_mapping_names_unknown_keys():
    assert RetentionPolicy.from_mapping({"keep_last": 3}).keep_last == 3
    with pytest.raises(ConfigError, match="max_to_keep"):
        RetentionPolicy.from_mapping({"max_to_keep": 3})
