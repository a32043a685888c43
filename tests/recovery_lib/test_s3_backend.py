"""The S3 backend against moto (in process): requests made, error translation, set-up checks."""
from __future__ import annotations

import collections
import subprocess
import sys
from typing import Any

import botocore.exceptions
import pytest

from recovery_lib import (
    CheckpointNotFound,
    CheckpointStore,
    ConfigError,
    ConflictError,
    IntegrityError,
    RegionUnavailable,
    S3Options,
)
from recovery_lib.backends.s3 import S3Backend
from tests.recovery_lib.moto_helpers import PRIMARY_REGION, S3Pair, create_bucket, descriptor, unique


@pytest.fixture
def api_calls(monkeypatch) -> collections.Counter:
    """Every AWS API call made by any botocore client, by operation name."""
    from botocore.client import BaseClient

    calls: collections.Counter = collections.Counter()
    original = BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        calls[operation_name] += 1
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return calls


def test_small_save_is_one_put_and_load_by_version_one_get(s3_pair: S3Pair, api_calls):
    store = s3_pair.store
    store.save("warm", 0)  # clients created, nothing cached that matters
    api_calls.clear()
    checkpoint = store.save("bench/item", {"step": 1, "loss": 0.25})
    store.flush()  # the history record is written in the background, after the commit
    # the head record (conditional create: the commit) and the manifest in history
    assert dict(api_calls) == {"PutObject": 2}
    api_calls.clear()
    assert store.load("bench/item", version=checkpoint.version) == {"step": 1, "loss": 0.25}
    assert dict(api_calls) == {"GetObject": 1}
    api_calls.clear()
    assert store.load("bench/item") == {"step": 1, "loss": 0.25}  # current: one GET of the head
    assert dict(api_calls) == {"GetObject": 1}
    api_calls.clear()
    assert store.exists("bench/item") and dict(api_calls) == {"GetObject": 1}
    api_calls.clear()
    # listings follow the heads: manifests and heads listed; no head read while each head's
    # ETag matches its newest manifest's (docs/consistency.md, "Listings follow the heads")
    assert len(store.list()) == 2 and dict(api_calls) == {"ListObjectsV2": 2}


def test_manifest_commit_is_a_conditional_create(s3_pair: S3Pair):
    backend = s3_pair.store.backend("primary")
    backend.put_if_absent("checkpoints/k", b"first")
    with pytest.raises(ConflictError, match="already exists"):
        backend.put_if_absent("checkpoints/k", b"second")
    assert backend.get("checkpoints/k") == b"first"
    assert backend.head("checkpoints/k") == 5 and backend.head("checkpoints/none") is None
    with pytest.raises(CheckpointNotFound):
        backend.get("checkpoints/none")


def test_missing_and_unversioned_buckets_are_config_errors(aws_mock):
    store = CheckpointStore.from_platform(descriptor(unique("nob"), unique("nob2")), session=aws_mock)
    with pytest.raises(ConfigError, match="does not exist"):
        store.save("x", 1)
    with pytest.raises(ConfigError):
        store.check()
    client = aws_mock.client("s3", region_name=PRIMARY_REGION)
    plain = unique("plain")
    create_bucket(client, plain, PRIMARY_REGION, versioned=False)
    with pytest.raises(ConfigError, match="versioning never enabled"):
        S3Backend(plain, region_name=PRIMARY_REGION, session=aws_mock).check()


def test_check_passes_on_a_versioned_pair(s3_pair: S3Pair):
    s3_pair.store.check()
    assert s3_pair.store.regions == ("primary", "secondary")


def test_kms_key_from_the_descriptor_is_used_for_writes(aws_mock):
    pair = S3Pair(aws_mock)
    key_arn = aws_mock.client("kms", region_name=PRIMARY_REGION).create_key()["KeyMetadata"]["Arn"]
    data = pair.descriptor
    data["regions"]["primary"]["kms_key_arn"] = key_arn
    store = CheckpointStore.from_platform(data, session=aws_mock)
    checkpoint = store.save("secret", b"x" * 300_000)
    store.flush()  # the history record is written after the commit, in the background
    for key in (f"checkpoints/manifests/secret@{checkpoint.version}.json",
                f"checkpoints/blobs/sha256/{checkpoint.sha256}"):
        head = pair.primary_client.head_object(Bucket=pair.primary_bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    assert store.load("secret") == b"x" * 300_000


def test_from_url_s3_is_a_single_region_store_under_the_prefix(aws_mock):
    client = aws_mock.client("s3", region_name=PRIMARY_REGION)
    bucket = unique("url")
    create_bucket(client, bucket, PRIMARY_REGION)
    store = CheckpointStore.from_url(f"s3://{bucket}/team/a", session=aws_mock)
    assert store.prefix == "team/a/" and store.regions == ("primary",)
    store.save("m", [1])
    store.flush()  # the history record is written in the background, after the commit
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys)[0] == "team/a/heads/m.json"  # the head record: the commit
    assert len(keys) == 2 and sorted(keys)[1].startswith("team/a/manifests/m@")
    assert CheckpointStore.from_url(f"s3://{bucket}/team/a/", session=aws_mock).load("m") == [1]


@pytest.mark.parametrize("url,message", [
    ("ftp://x", "unsupported store URL"),
    ("s3:///prefix", "no bucket"),
    ("s3://b/a//b", "empty segment"),
    ("file://", "no path"),
    ("gs://bucket", "unsupported"),
])
def test_bad_store_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        CheckpointStore.from_url(url)


def test_memory_and_file_urls(tmp_path):
    assert CheckpointStore.from_url("memory://") is not CheckpointStore.from_url("memory://")
    shared = CheckpointStore.from_url("memory://shared-test")
    shared.save("a", 1)
    assert CheckpointStore.from_url("memory://shared-test").load("a") == 1
    local = CheckpointStore.from_url(f"file://{tmp_path}/store")
    local.save("a", 2)
    assert CheckpointStore.local(tmp_path / "store").load("a") == 2


# -- error translation ----------------------------------------------------------------------

def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject")


@pytest.mark.parametrize("raised,expected", [
    (_client_error("NoSuchKey", 404), CheckpointNotFound),
    (_client_error("404", 404), CheckpointNotFound),
    (_client_error("PreconditionFailed", 412), ConflictError),
    (_client_error("ConditionalRequestConflict", 409), ConflictError),
    (_client_error("NoSuchBucket", 404), ConfigError),
    (_client_error("AccessDenied", 403), ConfigError),
    (_client_error("InternalError", 500), RegionUnavailable),
    (_client_error("503", 503), RegionUnavailable),
    (_client_error("SlowDown", 503), RegionUnavailable),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), RegionUnavailable),
    (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), RegionUnavailable),
    (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), RegionUnavailable),
    (botocore.exceptions.ConnectionClosedError(endpoint_url="http://x"), RegionUnavailable),
    (botocore.exceptions.ResponseStreamingError(error="reset"), RegionUnavailable),
    (botocore.exceptions.NoCredentialsError(), ConfigError),
    (botocore.exceptions.FlexibleChecksumError(error_msg="crc mismatch"), IntegrityError),
])
def test_botocore_errors_are_translated_at_the_boundary(raised, expected):
    backend = S3Backend("bucket-x", client_factory=lambda **kw: _Raising(raised))
    with pytest.raises(expected) as info:
        backend.get("k")
    assert info.value.__cause__ is raised
    assert "bucket-x" in str(info.value) or expected is ConfigError


@pytest.mark.parametrize("raised", [
    _client_error("InvalidArgument", 400),
    botocore.exceptions.ParamValidationError(report="bad"),
    RuntimeError("a bug"),
])
def test_unclassified_errors_propagate_unchanged(raised):
    backend = S3Backend("bucket-x", client_factory=lambda **kw: _Raising(raised))
    with pytest.raises(type(raised)) as info:
        backend.get("k")
    assert info.value is raised


class _Raising:
    """A fake S3 client whose every call raises the given error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise self.error
        return call


def test_clients_are_created_lazily_with_bounded_timeouts():
    made: list[dict[str, Any]] = []

    def factory(**kwargs: Any) -> Any:
        made.append(kwargs)
        return _Raising(_client_error("NoSuchKey", 404))

    options = S3Options(metadata_timeout=0.8, read_timeout=7)
    backend = S3Backend("bucket-x", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9",
                        options=options, client_factory=factory)
    assert made == []
    assert backend.head("k") is None
    with pytest.raises(CheckpointNotFound):
        backend.get("k")
    assert len(made) == 1
    assert made[0]["region_name"] == "eu-west-1" and made[0]["endpoint_url"] == "http://127.0.0.1:9"
    assert made[0]["config"].read_timeout == 0.8 and made[0]["config"].connect_timeout == 0.5
    with pytest.raises(CheckpointNotFound):
        backend.put("k", b"x")  # content goes through the transfer client
    assert len(made) == 2 and made[1]["config"].read_timeout == 7


def test_importing_recovery_lib_imports_no_boto3():
    code = ("import sys, recovery_lib; s = recovery_lib.CheckpointStore.memory(); s.save('a', 1); "
            "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_upload_below_the_multipart_threshold_is_read_once_and_sent_as_one_put(
        s3_pair: S3Pair, api_calls):
    """S3Backend.upload reads a small source once and PUTs those bytes (with the SHA-256
    S3 verifies and keeps); a source that ends before ``size`` is refused, nothing sent."""
    import hashlib
    import io

    backend = s3_pair.store.backend("primary")
    data = b"y" * 300_000

    class CountingReader(io.BytesIO):
        reads = 0

        def read(self, size=-1):
            CountingReader.reads += 1
            return super().read(size)

    seen: list[int] = []
    backend.upload("checkpoints/blobs/one", CountingReader(data), len(data), progress=seen.append)
    assert dict(api_calls) == {"PutObject": 1} and sum(seen) == len(data)
    assert CountingReader.reads == 1
    assert backend.holds("checkpoints/blobs/one", hashlib.sha256(data).hexdigest(), len(data))
    api_calls.clear()
    with pytest.raises(IntegrityError, match=r"the source gave 300000 bytes, expected 300001"):
        backend.upload("checkpoints/blobs/two", io.BytesIO(data), len(data) + 1)
    assert dict(api_calls) == {} and backend.head("checkpoints/blobs/two") is None


def test_a_stream_upload_goes_in_parts_from_the_single_put_cap_whatever_the_threshold(
        aws_mock, monkeypatch, api_calls):
    """A multipart_threshold raised past SINGLE_PUT_MAX does not make s3transfer hand the
    stream itself to one PutObject (which botocore would read more than once): content
    from the cap on goes in parts, each read once."""
    import io

    from recovery_lib.backends import s3 as s3_module

    monkeypatch.setattr(s3_module, "SINGLE_PUT_MAX", 6 * 1024 * 1024)
    options = S3Options(multipart_threshold=1 << 30, multipart_chunksize=5 * 1024 * 1024)
    pair = S3Pair(aws_mock, options=options)
    backend = pair.store.backend("primary")
    data = bytes(range(256)) * (7 * 4096)  # 7 MiB: over the cap, far under the threshold
    api_calls.clear()
    backend.upload("checkpoints/blobs/big", io.BytesIO(data), len(data))
    assert api_calls["CreateMultipartUpload"] == 1 and api_calls["UploadPart"] == 2
    assert api_calls["PutObject"] == 0
    assert backend.get("checkpoints/blobs/big") == data
