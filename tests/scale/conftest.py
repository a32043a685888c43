"""Fixtures for the scale tests: the same store API over memory, local and S3 (moto)."""
from __future__ import annotations

import pathlib

import pytest

from recovery_lib import CheckpointStore
from tests.recovery_lib.conftest import aws_mock  # noqa: F401  (module-scoped moto)
from tests.recovery_lib.moto_helpers import S3Pair


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> CheckpointStore:
    if request.param == "memory":
        return CheckpointStore.memory()
    if request.param == "local":
        return CheckpointStore.local(tmp_path / "store")
    return S3Pair(request.getfixturevalue("aws_mock")).store


@pytest.fixture
def s3_pair(aws_mock) -> S3Pair:  # noqa: F811
    return S3Pair(aws_mock)
