"""Fixtures for the sandbox's tests: an in-process moto server with the sandbox's moto fixes.

moto's state is per process: every test names its own buckets, zones and health checks, and
emulators under test are driven by hand (``cycle()``/``tick()`` on a :class:`ManualClock`), so
nothing runs in the background unless a test starts it (and its fixture stops it).
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infra.sandbox import moto_backend
from infra.sandbox.apps import AppStandIn
from infra.sandbox.aws_mocks import FAKE_CREDENTIALS


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    moto_backend.install()
    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        moto_backend.uninstall()


@pytest.fixture(scope="module")
def client(emulator_url: str) -> Iterator[Callable[..., Any]]:
    """boto3 clients on the test emulator, made once per module (making one takes ~0.3 s)."""
    made: dict[tuple[str, str], Any] = {}
    session = boto3.session.Session(**FAKE_CREDENTIALS)

    def make(service: str, region: str = "us-east-1") -> Any:
        if (service, region) not in made:
            made[(service, region)] = session.client(service, region_name=region, endpoint_url=emulator_url)
        return made[(service, region)]

    yield make
    for c in made.values():
        c.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app() -> Iterator[AppStandIn]:
    stand_in = AppStandIn("primary", "us-east-1").start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
