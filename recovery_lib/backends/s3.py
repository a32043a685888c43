"""The S3 backend: the only module that imports boto3/botocore.

Two clients per region, both created lazily on first use (never at import): a *metadata*
client with a short read timeout for small requests (manifests, LIST, HEAD, DELETE) and a
*transfer* client with ``read_timeout`` for content, driven through s3transfer for
multipart uploads/downloads. Both use bounded connect timeouts and botocore's standard or
adaptive retries from :class:`~recovery_lib.config.S3Options`.

botocore errors are translated here, at the boundary:

- connection refused/reset, timeouts, truncated responses, HTTP 5xx and throttling after
  retries -> RegionUnavailable
- NoSuchKey / 404 -> CheckpointNotFound; a failed If-None-Match / If-Match (412
  PreconditionFailed, 409 ConditionalRequestConflict) -> ConflictError. S3 User Guide,
  "How to prevent object overwrites with conditional writes"
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html): a
  mismatch fails with 412; a conflicting concurrent write gets 409, after which the caller
  should fetch the ETag again and retry (S3 API reference, PutObject ``IfMatch``). The
  store does exactly that for both codes.
- NoSuchBucket, an unversioned bucket, missing credentials, access denied -> ConfigError
- a response checksum mismatch -> IntegrityError
- anything else propagates unchanged.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import threading
from typing import Any, BinaryIO, Iterator, Protocol, Sequence

import boto3
import boto3.s3.transfer
import botocore.config
import botocore.exceptions
import s3transfer.exceptions

from ..config import S3Options
from ..errors import (
    CheckpointNotFound,
    ConfigError,
    ConflictError,
    IntegrityError,
    RecoveryError,
    RegionUnavailable,
)
from .base import DELETE_BATCH, Backend, Progress, read_source
from .ranged_download import ranged_download

__all__ = ["S3Backend", "ClientFactory", "client_config", "transfer_config"]

logger = logging.getLogger(__name__)

_STREAM_CHUNK = 1024 * 1024
UPLOAD_BUFFER_BYTES = 64 * 1024 * 1024
SINGLE_PUT_MAX = 64 * 1024 * 1024  # an upload read into memory and sent as one PUT
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
              "ServiceUnavailable", "InternalError", "RequestLimitExceeded"}
_ACCESS = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "ExpiredToken", "InvalidToken", "KMS.AccessDeniedException"}
_TRANSIENT = (
    botocore.exceptions.ConnectionError,  # refused, connect timeout, proxy, DNS
    botocore.exceptions.HTTPClientError,  # read timeout, connection closed/reset, streaming
    botocore.exceptions.IncompleteReadError,
    s3transfer.exceptions.RetriesExceededError,
)


class ClientFactory(Protocol):
    def __call__(self, *, region_name: str, endpoint_url: str | None,
                 config: botocore.config.Config) -> Any: ...


def client_config(options: S3Options, *, read_timeout: float,
                  path_style: bool = False) -> botocore.config.Config:
    """The botocore Config for one of a region's clients."""
    return botocore.config.Config(
        connect_timeout=options.connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
        max_pool_connections=options.max_pool_connections,
        s3={"addressing_style": "path"} if path_style else None,
        user_agent_extra="dr-platform-recovery_lib",
    )


def transfer_config(options: S3Options) -> boto3.s3.transfer.TransferConfig:
    """s3transfer settings from the options.

    Uploads from a file object (``upload_fileobj``, which lets the store hash the bytes in
    flight, in order) buffer each part in memory until it is sent; at most
    ``UPLOAD_BUFFER_BYTES`` of parts are buffered (with the default 8 MiB parts: 8 parts in
    flight), which bounds memory whatever the file size."""
    config = boto3.s3.transfer.TransferConfig(
        multipart_threshold=options.multipart_threshold,
        multipart_chunksize=options.multipart_chunksize,
        max_concurrency=options.max_concurrency,
        use_threads=True,
        preferred_transfer_client="classic",
    )
    config.max_in_memory_upload_chunks = max(
        2, min(options.max_concurrency, UPLOAD_BUFFER_BYTES // options.multipart_chunksize))
    return config


def session_client_factory(session: Any = None) -> ClientFactory:
    """Clients from ``session`` (default: a new boto3 Session on first use, so credentials
    come from the standard AWS chain)."""
    lock = threading.Lock()
    holder: list[Any] = [session]

    def factory(*, region_name: str, endpoint_url: str | None,
                config: botocore.config.Config) -> Any:
        with lock:
            if holder[0] is None:
                holder[0] = boto3.session.Session()
            current = holder[0]
        return current.client("s3", region_name=region_name, endpoint_url=endpoint_url,
                              config=config)

    return factory


class S3Backend(Backend):
    concurrent_reads = True

    def __init__(self, bucket: str, *, region: str = "primary", region_name: str | None = None,
                 endpoint_url: str | None = None, kms_key_arn: str | None = None,
                 options: S3Options | None = None, session: Any = None,
                 client_factory: ClientFactory | None = None) -> None:
        if not isinstance(bucket, str) or not bucket:
            raise ConfigError(f"S3 bucket must be a non-empty string, got {bucket!r}")
        self.region = region
        self.bucket = bucket
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.options = options or S3Options()
        #: a head GET not answered within the metadata read timeout is hedged to the
        #: secondary (the timeout past which a region counts as unable to answer quickly)
        self.hedge_after: float | None = self.options.metadata_timeout
        self._sse: dict[str, str] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn} if kms_key_arn else {}
        )
        self._factory = client_factory or session_client_factory(session)
        self._transfer_config = transfer_config(self.options)
        # uploads from a stream go in parts from SINGLE_PUT_MAX on, whatever the threshold
        # (see upload): s3transfer buffers a part once; a single PUT would be read again
        self._upload_config = transfer_config(self.options)
        self._upload_config.multipart_threshold = min(self.options.multipart_threshold,
                                                      SINGLE_PUT_MAX)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = f" via {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Backend(s3://{self.bucket}, {self.region}={self.region_name}{where})"

    # -- clients ------------------------------------------------------------------------
    def _client(self, kind: str) -> Any:
        client = self._clients.get(kind)
        if client is not None:
            return client
        with self._lock:
            if kind not in self._clients:
                timeout = (self.options.metadata_timeout if kind == "metadata"
                           else self.options.read_timeout)
                config = client_config(self.options, read_timeout=timeout,
                                       path_style=self.endpoint_url is not None)
                self._clients[kind] = self._factory(region_name=self.region_name,
                                                    endpoint_url=self.endpoint_url, config=config)
            return self._clients[kind]

    @property
    def metadata_client(self) -> Any:
        return self._client("metadata")

    @property
    def transfer_client(self) -> Any:
        return self._client("transfer")

    # -- error translation ----------------------------------------------------------------
    @contextlib.contextmanager
    def _translate(self, action: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except RecoveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below, unknown ones re-raised
            translated = self._classify(exc, action, key)
            if translated is None:
                raise
            raise translated from exc

    def _classify(self, exc: BaseException, action: str, key: str | None) -> RecoveryError | None:
        where = f"s3://{self.bucket}/{key}" if key is not None else f"s3://{self.bucket}"
        region = f"{self.region} region ({self.region_name or 'default'})"
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in _NOT_FOUND:
                return CheckpointNotFound(f"{where} does not exist in the {region}")
            if code in _CONFLICT:
                return ConflictError(f"{where} already exists in the {region} ({code})")
            if code == "NoSuchBucket":
                return ConfigError(f"bucket {self.bucket!r} does not exist in the {region}")
            if code in _ACCESS:
                return ConfigError(
                    f"{action} {where} was refused in the {region} ({code}): check the AWS "
                    "credentials in use and the role's S3/KMS permissions"
                )
            if status >= 500 or code in _THROTTLED:
                return RegionUnavailable(
                    f"{action} {where} failed in the {region} after "
                    f"{self.options.max_attempts} attempts: HTTP {status} {code}"
                )
            return None
        if isinstance(exc, (botocore.exceptions.NoCredentialsError,
                            botocore.exceptions.PartialCredentialsError)):
            return ConfigError(f"no usable AWS credentials for the {region}: {exc}")
        if isinstance(exc, (botocore.exceptions.ChecksumError,
                            botocore.exceptions.FlexibleChecksumError)):
            return IntegrityError(f"{action} {where} in the {region}: {exc}")
        if isinstance(exc, _TRANSIENT):
            return RegionUnavailable(f"{action} {where} failed in the {region}: {exc}")
        if isinstance(exc, s3transfer.exceptions.S3UploadFailedError):
            cause = exc.__cause__ or exc.__context__
            return self._classify(cause, action, key) if cause is not None else None
        return None

    # -- Backend -------------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        with self._translate("GET", key):
            response = self.metadata_client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()

    def get_tagged(self, key: str, *, max_bytes: int) -> tuple[bytes, str]:
        """GET, comparing ContentLength with ``max_bytes`` before reading the body."""
        with self._translate("GET", key):
            response = self.metadata_client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            length = int(response.get("ContentLength", 0))
            if length > max_bytes:
                body.close()
                raise IntegrityError(f"s3://{self.bucket}/{key} has {length} bytes, more than "
                                     f"the {max_bytes} a record may have; not read")
            return body.read(), str(response["ETag"])

    def put_if_match(self, key: str, data: bytes, tag: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if tag is None else {"IfMatch": tag}
        try:
            with self._translate("PUT (conditional)", key):
                response = self.metadata_client.put_object(Bucket=self.bucket, Key=key,
                                                           Body=data, **condition, **self._sse)
        except CheckpointNotFound as exc:  # If-Match on a key that no longer exists
            raise ConflictError(f"s3://{self.bucket}/{key} no longer exists in the "
                                f"{self.region} region") from exc
        return str(response["ETag"])

    def holds(self, key: str, sha256: str, size: int) -> bool:
        """From the SHA-256 checksum S3 verified when the object was written (HEAD with
        ``ChecksumMode=ENABLED``); objects without a full-object SHA-256 checksum (older
        blobs, multipart uploads with composite checksums) are read and hashed instead."""
        try:
            with self._translate("HEAD", key):
                response = self.metadata_client.head_object(Bucket=self.bucket, Key=key,
                                                            ChecksumMode="ENABLED")
        except CheckpointNotFound:
            return False
        if int(response["ContentLength"]) != size:
            return False
        stored = response.get("ChecksumSHA256")
        if stored and "-" not in stored and response.get("ChecksumType", "FULL_OBJECT") != "COMPOSITE":
            try:
                return base64.b64decode(stored).hex() == sha256
            except (binascii.Error, ValueError):
                return False
        return super().holds(key, sha256, size)

    def put(self, key: str, data: bytes) -> None:
        if len(data) >= self.options.multipart_threshold:
            self.upload(key, io.BytesIO(data), len(data))
            return
        with self._translate("PUT", key):
            # botocore computes SHA-256 over the bytes it sends; S3 recomputes it and
            # rejects the PUT (BadDigest) on a mismatch, and keeps it for later HEADs
            # (S3 User Guide, "Checking object integrity in Amazon S3").
            self.transfer_client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                            ChecksumAlgorithm="SHA256", **self._sse)

    def put_if_absent(self, key: str, data: bytes) -> None:
        with self._translate("PUT (If-None-Match)", key):
            self.metadata_client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                            IfNoneMatch="*", **self._sse)

    def head(self, key: str) -> int | None:
        try:
            with self._translate("HEAD", key):
                response = self.metadata_client.head_object(Bucket=self.bucket, Key=key)
        except CheckpointNotFound:
            return None
        return int(response["ContentLength"])

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        with self._translate("LIST", prefix + "*"):
            paginator = self.metadata_client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend((item["Key"], int(item["Size"])) for item in page.get("Contents", ()))
        return iter(found)

    def list_tagged(self, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        """With the ETag the LIST returns: the MD5 of a single-PUT object's bytes, so equal
        tags mean equal bytes. With SSE-KMS the ETag is not an MD5 (S3 API reference,
        ``Object``, ``ETag``): tags of equal bytes then differ, and callers read instead."""
        found: list[tuple[str, int, str | None]] = []
        with self._translate("LIST", prefix + "*"):
            paginator = self.metadata_client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend((item["Key"], int(item["Size"]), item.get("ETag"))
                             for item in page.get("Contents", ()))
        return iter(found)

    def delete(self, key: str) -> None:
        with self._translate("DELETE", key):
            self.metadata_client.delete_object(Bucket=self.bucket, Key=key)

    def list_modified(self, prefix: str) -> Iterator[tuple[str, int, float | None]]:
        found: list[tuple[str, int, float | None]] = []
        with self._translate("LIST", prefix + "*"):
            paginator = self.metadata_client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend((item["Key"], int(item["Size"]), item["LastModified"].timestamp())
                             for item in page.get("Contents", ()))
        return iter(found)

    def delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        """One DeleteObjects per 1,000 keys, without version ids: in a versioned bucket each
        key gets a delete marker and its data becomes a noncurrent version, which the
        bucket's lifecycle rule expires later (the undo window)."""
        failed: list[tuple[str, str]] = []
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start:start + DELETE_BATCH]]
            with self._translate("DeleteObjects", batch[0]["Key"]):
                response = self.metadata_client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            failed.extend((e.get("Key", "?"), f"{e.get('Code')}: {e.get('Message')}")
                          for e in response.get("Errors", ()))
        return failed

    def restore(self, key: str) -> bool:
        """Copy the newest noncurrent version of ``key`` over its delete marker (a managed
        copy: multipart for large objects). Needs s3:ListBucketVersions, s3:GetObjectVersion
        and s3:PutObject, no delete permission."""
        with self._translate("ListObjectVersions", key):
            response = self.metadata_client.list_object_versions(Bucket=self.bucket, Prefix=key)
        versions = [v for v in response.get("Versions", ()) if v["Key"] == key]
        if not versions or any(v.get("IsLatest") for v in versions):
            return False  # nothing deleted to bring back, or the key is current already
        newest = max(versions, key=lambda v: v["LastModified"])
        with self._translate("CopyObject", key):
            self.transfer_client.copy(
                {"Bucket": self.bucket, "Key": key, "VersionId": newest["VersionId"]}, self.bucket,
                key, ExtraArgs=dict(self._sse) or None, Config=self._transfer_config)
        return True

    def upload(self, key: str, source: BinaryIO, size: int, *,
               progress: Progress | None = None) -> None:
        """Below the multipart threshold (at most ``SINGLE_PUT_MAX``) the source is read
        once into memory and sent as one PUT: s3transfer would hand ``source`` itself to
        PutObject, and botocore reads a body more than once (its checksum, then the send;
        again on a retry), so a caller hashing the bytes as they are read could record
        bytes other than those stored. Above it (and from ``SINGLE_PUT_MAX`` on, however
        high the threshold is set) s3transfer's ``upload_fileobj`` uploads in parts, reading
        each once into memory, in order, and resending that buffer on a retry."""
        if size < min(self.options.multipart_threshold, SINGLE_PUT_MAX):
            self.put(key, b"".join(read_source(key, source, size, chunk=max(size, 1))))
            if progress:
                progress(size)
            return
        with self._translate("upload", key):
            self.transfer_client.upload_fileobj(
                source, self.bucket, key, ExtraArgs=dict(self._sse) or None,
                Config=self._upload_config, Callback=progress,
            )

    def download(self, key: str, sink: BinaryIO, *, progress: Progress | None = None,
                 expected_size: int | None = None) -> None:
        with self._translate("download", key):
            if sink.seekable():
                found = self.metadata_client.head_object(Bucket=self.bucket, Key=key)
                size = int(found["ContentLength"])
                if expected_size is not None and size != expected_size:
                    raise IntegrityError(f"s3://{self.bucket}/{key} has {size} bytes, "
                                         f"expected {expected_size}; not downloaded")
                ranged_download(self.transfer_client, self.bucket, key, sink, size=size,
                                etag=str(found["ETag"]),
                                part_size=self.options.multipart_chunksize,
                                workers=self.options.max_concurrency, progress=progress)
                return
            response = self.transfer_client.get_object(Bucket=self.bucket, Key=key)
            length = int(response.get("ContentLength", 0))
            if expected_size is not None and length != expected_size:
                response["Body"].close()
                raise IntegrityError(f"s3://{self.bucket}/{key} has {length} bytes, expected "
                                     f"{expected_size}; not read")
            for chunk in response["Body"].iter_chunks(_STREAM_CHUNK):
                sink.write(chunk)
                if progress:
                    progress(len(chunk))

    # -- set-up checks -------------------------------------------------------------------
    def check(self) -> None:
        """ConfigError unless the bucket exists and has versioning enabled (replication
        requires versioning on both buckets)."""
        with self._translate("GetBucketVersioning"):
            status = self.metadata_client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        if status != "Enabled":
            raise ConfigError(
                f"bucket {self.bucket!r} in the {self.region} region has versioning "
                f"{status or 'never enabled'}; cross-region replication needs it 'Enabled' "
                "on both buckets"
            )
        logger.debug("bucket %s (%s) exists and is versioned", self.bucket, self.region)

