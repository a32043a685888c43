"""Fixtures for the reliability suite: fake credentials, one moto server process per
module, bucket pairs on it, and an in-process moto for the cheap cases."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from recovery_lib import CheckpointStore, S3Options, history_writer
from tests.recovery_lib.moto_helpers import (
    PRIMARY_REGION,
    SECONDARY_REGION,
    create_bucket,
    descriptor,
    unique,
)
from tests.support.moto_process import MotoProcess, moto_process


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoProcess]:
    with moto_process() as server:
        yield server


class Buckets:
    """A primary/secondary bucket pair on a moto server, raw clients to tamper with them."""

    def __init__(self, server_url: str, *, primary_endpoint: str | None = None,
                 secondary_endpoint: str | None = None) -> None:
        import boto3

        # One session: clients made from it share loaded service models (much faster).
        self.session = boto3.session.Session(region_name=PRIMARY_REGION)
        self.raw = self.session.client("s3", endpoint_url=server_url, region_name=PRIMARY_REGION)
        self.primary, self.secondary = unique("rel-prim"), unique("rel-seco")
        create_bucket(self.raw, self.primary, PRIMARY_REGION)
        create_bucket(self.raw, self.secondary, SECONDARY_REGION)
        self.descriptor = descriptor(self.primary, self.secondary,
                                     primary_endpoint=primary_endpoint or server_url,
                                     secondary_endpoint=secondary_endpoint or server_url)

    def store(self, options: S3Options | None = None) -> CheckpointStore:
        return CheckpointStore.from_platform(self.descriptor, options=options, session=self.session)

    def bucket(self, region: str) -> str:
        return self.primary if region == "primary" else self.secondary

    def keys(self, region: str) -> dict[str, bytes]:
        history_writer.flush_all()  # this process's stores: their background history writes
        out = {}
        for page in self.raw.get_paginator("list_objects_v2").paginate(Bucket=self.bucket(region)):
            for item in page.get("Contents", ()):
                out[item["Key"]] = self.get(region, item["Key"])
        return out

    def get(self, region: str, key: str) -> bytes:
        return self.raw.get_object(Bucket=self.bucket(region), Key=key)["Body"].read()

    def put(self, region: str, key: str, body: bytes) -> None:
        self.raw.put_object(Bucket=self.bucket(region), Key=key, Body=body)

    def replicate(self, only: Any = lambda key: True) -> list[str]:
        """Copy objects primary -> secondary, as S3 replication would (moto does not)."""
        copied = []
        for key, body in self.keys("primary").items():
            if only(key):
                self.put("secondary", key, body)
                copied.append(key)
        return copied


@pytest.fixture
def buckets(moto_server: MotoProcess) -> Buckets:
    return Buckets(moto_server.url)
