"""Fixtures for the recovery_lib tests: offline AWS (moto), stores over every backend."""
from __future__ import annotations

import os
import pathlib
from typing import Any, Iterator

import pytest

from recovery_lib import CheckpointStore
from tests.recovery_lib.moto_helpers import FAKE_AWS_ENV, PRIMARY_REGION, S3Pair


@pytest.fixture(scope="module")
def aws_mock() -> Iterator[Any]:
    """moto's in-process mock for a whole module, plus a shared boto3 Session (client
    creation is much faster from one session)."""
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAKE_AWS_ENV.items():
            mp.setenv(key, value)
        with mock_aws():
            yield boto3.session.Session(region_name=PRIMARY_REGION)


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> CheckpointStore:
    """The same store API over each backend (S3: moto, a primary/secondary bucket pair)."""
    if request.param == "memory":
        return CheckpointStore.memory()
    if request.param == "local":
        return CheckpointStore.local(tmp_path / "store")
    session = request.getfixturevalue("aws_mock")
    return S3Pair(session).store


@pytest.fixture
def s3_pair(aws_mock: Any) -> S3Pair:
    return S3Pair(aws_mock)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a set process umask (restored afterwards); yields it."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)
