"""moto set-up shared by the recovery_lib tests: fake credentials, descriptors, bucket pairs."""
from __future__ import annotations

import itertools
import os
from typing import Any, Callable

from recovery_lib import CheckpointStore, S3Options

PRIMARY_REGION, SECONDARY_REGION = "us-east-1", "us-west-2"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": PRIMARY_REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_counter = itertools.count()


def unique(stem: str) -> str:
    return f"{stem}-{os.getpid()}-{next(_counter)}"


def descriptor(primary_bucket: str, secondary_bucket: str, *, primary_endpoint: str | None = None,
               secondary_endpoint: str | None = None, prefix: str = "checkpoints/") -> dict[str, Any]:
    """A valid platform descriptor (the contract with the Pulumi program)."""
    def region(name: str, bucket: str, endpoint: str | None) -> dict[str, Any]:
        return {"name": name, "bucket": bucket, "kms_key_arn": None,
                "asg_name": f"{bucket}-asg", "endpoint_url": endpoint}

    return {
        "version": 1, "project": "dr-platform", "stack": "test", "strategy": "warm-standby",
        "checkpoint_prefix": prefix,
        "regions": {"primary": region(PRIMARY_REGION, primary_bucket, primary_endpoint),
                    "secondary": region(SECONDARY_REGION, secondary_bucket, secondary_endpoint)},
        "replication": {"role_arn": "arn:aws:iam::123456789012:role/replication", "rtc": True,
                        "two_way": False},
        "dns": None,
        "alerts_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
        "targets": {"rto_seconds": 900, "rpo_seconds": 60},
        "sandbox": {"kept": True},
    }


def create_bucket(client: Any, bucket: str, region: str, *, versioned: bool = True) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    client.create_bucket(**kwargs)
    if versioned:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


class S3Pair:
    """Two versioned buckets (primary, secondary) in moto and a store over them."""

    def __init__(self, session: Any, *, options: S3Options | None = None) -> None:
        self.session = session
        self.primary_bucket, self.secondary_bucket = unique("primary"), unique("secondary")
        self.primary_client = session.client("s3", region_name=PRIMARY_REGION)
        self.secondary_client = session.client("s3", region_name=SECONDARY_REGION)
        create_bucket(self.primary_client, self.primary_bucket, PRIMARY_REGION)
        create_bucket(self.secondary_client, self.secondary_bucket, SECONDARY_REGION)
        self.descriptor = descriptor(self.primary_bucket, self.secondary_bucket)
        self.store = CheckpointStore.from_platform(self.descriptor, options=options, session=session)

    def client(self, region: str) -> Any:
        return self.primary_client if region == "primary" else self.secondary_client

    def bucket(self, region: str) -> str:
        return self.primary_bucket if region == "primary" else self.secondary_bucket

    def replicate(self, *, only: Callable[[str], bool] = lambda key: True) -> list[str]:
        """Copy every object primary -> secondary, as S3 replication would (moto does not)."""
        copied = []
        paginator = self.primary_client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.primary_bucket):
            for item in page.get("Contents", ()):
                if only(item["Key"]):
                    body = self.primary_client.get_object(Bucket=self.primary_bucket,
                                                          Key=item["Key"])["Body"].read()
                    self.secondary_client.put_object(Bucket=self.secondary_bucket,
                                                     Key=item["Key"], Body=body)
                    copied.append(item["Key"])
        return copied
