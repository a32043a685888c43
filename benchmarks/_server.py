"""A moto server in its own process on 127.0.0.1, and S3 clients/stores pointed at it."""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from tests.support.moto_process import moto_process

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
PRIMARY_REGION, SECONDARY_REGION = "us-east-1", "us-west-2"


def use_fake_credentials() -> None:
    """Nothing a benchmark does can reach real AWS."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "DR_PLATFORM"):
        os.environ.pop(key, None)
    os.environ.update(FAKE_AWS_ENV)


class MotoServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.address = ("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}"
        import boto3

        self.session = boto3.session.Session(region_name=PRIMARY_REGION)
        self.raw = self.session.client("s3", endpoint_url=self.url, region_name=PRIMARY_REGION)

    def bucket(self, name: str, region: str = PRIMARY_REGION) -> str:
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.raw.create_bucket(**kwargs)
        self.raw.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def descriptor(self, primary: str, secondary: str, *, primary_endpoint: str | None = None,
                   secondary_endpoint: str | None = None) -> dict[str, Any]:
        def region(name: str, bucket: str, endpoint: str) -> dict[str, Any]:
            return {"name": name, "bucket": bucket, "kms_key_arn": None,
                    "asg_name": f"{bucket}-asg", "endpoint_url": endpoint}

        return {
            "version": 1, "project": "dr-platform", "stack": "bench", "strategy": "warm-standby",
            "checkpoint_prefix": "checkpoints/",
            "regions": {"primary": region(PRIMARY_REGION, primary, primary_endpoint or self.url),
                        "secondary": region(SECONDARY_REGION, secondary,
                                            secondary_endpoint or self.url)},
            "replication": {"role_arn": "arn:aws:iam::123456789012:role/replication",
                            "rtc": True, "two_way": False},
            "dns": None, "alerts_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
            "targets": {"rto_seconds": 900, "rpo_seconds": 60},
        }


@contextlib.contextmanager
def moto_server(*, startup: float = 30.0) -> Iterator[MotoServer]:
    """``python -m moto.server`` on a free loopback port (the test suite's launcher),
    stopped and waited for on exit."""
    use_fake_credentials()
    with moto_process(startup=startup) as process:
        yield MotoServer(process.port)
