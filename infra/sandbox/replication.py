"""S3 cross-region replication, emulated on top of moto (which stores rules but never replicates).

Every cycle (:meth:`ReplicationEmulator.cycle`, run by a thread every ``poll_seconds`` real
seconds) the emulator:

1. reads each bucket's replication configuration as the emulator stores it (moto's backend:
   what PutBucketReplication wrote and GetBucketReplication returns, read without an HTTP
   round trip so a 0.1 s cycle stays cheap), so a rule put, changed or deleted through the
   API takes effect on the next cycle;
2. when a bucket's rules first appear (or reappear), records every version already there
   as pre-existing: only objects written after the rule exists replicate (existing objects
   need S3 Batch Replication, which the sandbox does not emulate);
3. for each new version, picks the enabled rule with the highest priority whose filter
   prefix matches; objects get ``x-amz-replication-status: PENDING``; delete markers are
   queued only when that rule has ``DeleteMarkerReplication: Enabled`` (and no tag filter);
   SSE-KMS objects only when the rule selects ``SseKmsEncryptedObjects``. Versions that are
   themselves replicas (status REPLICA) are never replicated again: two-way rules do not
   ping-pong;
4. copies queued versions in write order once ``lag_seconds`` (emulated) have passed since
   they were seen, unless their source bucket is paused: GET the version from the source and
   PUT it to the destination through the emulator's endpoint (never the fault proxies),
   with its metadata and content type, SSE-KMS with the rule's replica key; delete markers
   become a DELETE on the destination. The source becomes COMPLETED, the copy REPLICA. A
   copy that fails (destination missing or unversioned, rule gone) leaves the source FAILED;
   S3 does not retry FAILED objects and neither does the emulator. Under IAM enforcement
   (``access``, :mod:`infra.sandbox.replication_access`) each copy first asks whether the
   configuration's role may read the source, write the replica and use both keys; a "no"
   leaves the source FAILED too, with the reason in ``failed``, as S3 does
   (cloudposse/terraform-aws-s3-bucket#279).

Pause/resume (the FIS ``aws:s3:bucket-pause-replication`` action) stops copying for one
source bucket or all of them; new writes keep queueing as PENDING, and resume continues from
the pause point, in order, nothing skipped.

Not emulated: tag filters (a rule with a tag filter matches nothing and is reported),
replica modification sync (metadata changes on replicas), RTC metrics/events, existing-object
replication, and replication of multipart part boundaries (the copy is a single PUT).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import boto3
import botocore.config
import botocore.exceptions

from infra.sandbox.aws_mocks import FAKE_CREDENTIALS
from infra.sandbox.clock import Clock
from infra.sandbox.moto_backend import S3Backend, Version
from infra.sandbox.periodic import Periodic

logger = logging.getLogger(__name__)


def bucket_from_arn(arn: str) -> str:
    return arn.split(":::", 1)[-1] if arn.startswith("arn:") else arn


def rule_prefix(rule: dict[str, Any]) -> Optional[str]:
    """The rule's key prefix ("" = every key), or None when its filter is one we do not evaluate (tags)."""
    if "Filter" in rule:
        flt = rule["Filter"] or {}
        if "Tag" in flt:
            return None
        if "And" in flt:
            and_ = flt["And"] or {}
            if and_.get("Tags") or and_.get("Tag"):
                return None
            return and_.get("Prefix") or ""
        return flt.get("Prefix") or ""
    return rule.get("Prefix") or ""  # V1 rule


def is_v2(rule: dict[str, Any]) -> bool:
    return "Filter" in rule


def _enabled(block: Any) -> bool:
    return isinstance(block, dict) and block.get("Status") == "Enabled"


def matching_rule(rules: list[dict[str, Any]], key: str) -> Optional[dict[str, Any]]:
    """The enabled rule with the highest priority (largest number) whose prefix matches ``key``."""
    candidates = []
    for rule in rules:
        if rule.get("Status") != "Enabled":
            continue
        prefix = rule_prefix(rule)
        if prefix is not None and key.startswith(prefix):
            candidates.append(rule)
    if not candidates:
        return None
    return max(candidates, key=lambda r: int(r.get("Priority") or 0))


@dataclass
class Pending:
    source: str
    key: str
    version_id: str
    delete_marker: bool
    destination: str
    rule_id: str
    seen_at: float
    due_at: float


@dataclass
class _Source:
    active: bool = False
    seen: set[str] = field(default_factory=set)
    rules: list[dict[str, Any]] = field(default_factory=list)


class ReplicationEmulator:
    def __init__(
        self,
        endpoint_url: str,
        *,
        clock: Optional[Clock] = None,
        lag_seconds: float = 0.0,
        poll_seconds: float = 0.1,
        backend: Optional[S3Backend] = None,
        buckets: Optional[Iterable[str]] = None,
        s3_client: Any = None,
        access: Any = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        # Source buckets this emulator serves (None: every bucket in the emulator). moto's
        # state is per process, so two sandboxes in one process must not serve each other's.
        self.buckets: Optional[frozenset[str]] = frozenset(buckets) if buckets is not None else None
        self.clock = clock or Clock()
        self.lag_seconds = float(lag_seconds)
        self.poll_seconds = poll_seconds
        self.backend = backend or S3Backend()
        # ReplicationAccess under IAM enforcement: the role's permissions, checked per copy
        self.access = access
        self._s3 = s3_client or boto3.session.Session(**FAKE_CREDENTIALS).client(
            "s3", region_name="us-east-1", endpoint_url=endpoint_url,
            config=botocore.config.Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
        )
        self._sources: dict[str, _Source] = {}
        self._queue: deque[Pending] = deque()
        self._paused: set[str] = set()  # source buckets; "*" = all
        self._replicas: set[tuple[str, str]] = set()  # (bucket, version id) the emulator wrote
        self._lock = threading.RLock()
        self._loop = Periodic("sandbox-replication", self.cycle, lambda: self.poll_seconds)
        self.replicated = 0
        self.failed: list[dict[str, Any]] = []
        self.last_latency: Optional[float] = None
        self.unevaluated_rules: set[tuple[str, str]] = set()  # (bucket, rule id) with tag filters
        self.cycles = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "ReplicationEmulator":
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

    # -- faults -------------------------------------------------------------------------------
    def pause(self, bucket: Optional[str] = None) -> None:
        with self._lock:
            self._paused.add(bucket or "*")
        logger.info("replication paused (%s) at %.1f s", bucket or "all buckets", self.clock.now())

    def resume(self, bucket: Optional[str] = None) -> None:
        with self._lock:
            if bucket is None:
                self._paused.clear()
            else:
                self._paused.discard(bucket)
        logger.info("replication resumed (%s) at %.1f s", bucket or "all buckets", self.clock.now())

    def set_lag(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"lag must be >= 0 emulated seconds, got {seconds}")
        with self._lock:
            self.lag_seconds = float(seconds)

    def is_paused(self, bucket: str) -> bool:
        return "*" in self._paused or bucket in self._paused

    # -- the cycle ------------------------------------------------------------------------------
    def cycle(self) -> None:
        with self._lock:
            self.cycles += 1
            now = self.clock.now()
            buckets = sorted(self.buckets) if self.buckets is not None else self.backend.bucket_names()
            for bucket in buckets:
                self._scan(bucket, now)
            self._copy_due(now)

    def _rules(self, bucket: str) -> list[dict[str, Any]]:
        try:
            rules = self.backend.replication_rules(bucket)
        except KeyError:
            return []
        return [r for r in rules if r.get("Status") == "Enabled"]

    def _scan(self, bucket: str, now: float) -> None:
        state = self._sources.setdefault(bucket, _Source())
        rules = self._rules(bucket)
        state.rules = rules
        try:
            versions = self.backend.versions(bucket)
        except KeyError:  # the bucket is gone
            return
        if not rules:
            state.active = False
            state.seen.update(v.version_id for v in versions)
            return
        if not state.active:
            # The rule(s) appeared since the last cycle: what is there already is pre-existing.
            state.active = True
            state.seen.update(v.version_id for v in versions)
            logger.info("replication rules on %s: %s", bucket, [r.get("ID") for r in rules])
            return
        for rule in rules:
            if rule_prefix(rule) is None:
                self.unevaluated_rules.add((bucket, str(rule.get("ID"))))
        for version in versions:
            if version.version_id in state.seen:
                continue
            state.seen.add(version.version_id)
            self._consider(bucket, version, rules, now)

    def _consider(self, bucket: str, version: Version, rules: list[dict[str, Any]], now: float) -> None:
        if version.replication_status == "REPLICA" or (bucket, version.version_id) in self._replicas:
            return  # never re-replicate a replica (two-way rules)
        rule = matching_rule(rules, version.key)
        if rule is None:
            return
        if version.delete_marker:
            if not (is_v2(rule) and _enabled(rule.get("DeleteMarkerReplication"))):
                return
        else:
            encryption = getattr(version.obj, "encryption", None)
            selection = rule.get("SourceSelectionCriteria") or {}
            if encryption == "aws:kms" and not _enabled(selection.get("SseKmsEncryptedObjects")):
                return  # S3 skips SSE-KMS objects unless the rule selects them
            self.backend.set_status(version, "PENDING")
        destination = bucket_from_arn(rule["Destination"]["Bucket"])
        self._queue.append(Pending(bucket, version.key, version.version_id, version.delete_marker,
                                   destination, str(rule.get("ID")), now, now + self.lag_seconds))

    def _copy_due(self, now: float) -> None:
        waiting: deque[Pending] = deque()
        while self._queue:
            item = self._queue.popleft()
            if self.is_paused(item.source) or item.due_at > now:
                waiting.append(item)
                continue
            self._copy(item, now)
        self._queue = waiting

    def _copy(self, item: Pending, now: float) -> None:
        source_version = self.backend.find(item.source, item.key, item.version_id)
        rule = next((r for r in self._sources[item.source].rules if str(r.get("ID")) == item.rule_id), None)
        try:
            if rule is None:
                raise _CopyFailed(f"rule {item.rule_id} no longer exists on {item.source}")
            versioning = self._s3.get_bucket_versioning(Bucket=item.destination).get("Status")
            if versioning != "Enabled":
                raise _CopyFailed(f"destination {item.destination} does not have versioning enabled")
            if self.access is not None:
                refused = self._refused(item, rule, source_version)
                if refused:
                    raise _CopyFailed(refused)
            if item.delete_marker:
                response = self._s3.delete_object(Bucket=item.destination, Key=item.key)
            else:
                response = self._put_copy(item, rule)
        except (_CopyFailed, botocore.exceptions.ClientError) as exc:
            if source_version is not None and not item.delete_marker:
                self.backend.set_status(source_version, "FAILED")
            self.failed.append({"bucket": item.source, "key": item.key, "version_id": item.version_id,
                                "error": str(exc), "at": now})
            logger.warning("replication of %s/%s (%s) FAILED: %s", item.source, item.key, item.version_id, exc)
            return
        replica_id = response.get("VersionId")
        if replica_id:
            self._replicas.add((item.destination, replica_id))
            replica = self.backend.find(item.destination, item.key, replica_id)
            if replica is not None:
                self.backend.set_status(replica, "REPLICA")
        if source_version is not None and not item.delete_marker:
            self.backend.set_status(source_version, "COMPLETED")
        self.replicated += 1
        self.last_latency = now - item.seen_at
        logger.debug("replicated %s/%s -> %s (%s)", item.source, item.key, item.destination, replica_id)

    def _refused(self, item: Pending, rule: dict[str, Any], version: Optional[Version]) -> Optional[str]:
        """Why the configuration's role may not replicate this version (None: it may)."""
        source_region = self.backend.bucket_region(item.source)
        try:
            destination_region = self.backend.bucket_region(item.destination)
        except KeyError:
            destination_region = source_region
        source_key = None
        if version is not None and getattr(version.obj, "encryption", None) == "aws:kms":
            source_key = getattr(version.obj, "kms_key_id", None) or "(the bucket's default key)"
            if not source_key.startswith("arn:"):
                source_key = f"arn:aws:kms:{source_region}:{self.backend.account_id}:key/{source_key}"
        replica_key = ((rule.get("Destination") or {}).get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID")
        return self.access.check(
            role_arn=self.backend.replication_role(item.source), source=item.source, destination=item.destination,
            key=item.key, delete_marker=item.delete_marker, source_region=source_region,
            destination_region=destination_region, source_key_arn=source_key, replica_key_arn=replica_key)

    def _put_copy(self, item: Pending, rule: dict[str, Any]) -> dict[str, Any]:
        got = self._s3.get_object(Bucket=item.source, Key=item.key, VersionId=item.version_id)
        body = got["Body"].read()
        params: dict[str, Any] = {"Bucket": item.destination, "Key": item.key, "Body": body,
                                  "Metadata": got.get("Metadata") or {}}
        if got.get("ContentType"):
            params["ContentType"] = got["ContentType"]
        replica_key = ((rule.get("Destination") or {}).get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID")
        if got.get("ServerSideEncryption") == "aws:kms" and replica_key:
            params.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=replica_key)
        return self._s3.put_object(**params)

    # -- observations -----------------------------------------------------------------------------
    def backlog(self) -> list[Pending]:
        with self._lock:
            return list(self._queue)

    def status(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock.now()
            by_source: dict[str, int] = {}
            for item in self._queue:
                by_source[item.source] = by_source.get(item.source, 0) + 1
            oldest = min((item.seen_at for item in self._queue), default=None)
            return {
                "now": now,
                "paused": sorted(self._paused),
                "lag_seconds": self.lag_seconds,
                "backlog": len(self._queue),
                "backlog_by_source": by_source,
                "oldest_pending_age_seconds": None if oldest is None else now - oldest,
                "replicated": self.replicated,
                "failed": list(self.failed),
                "last_latency_seconds": self.last_latency,
                "rules": {b: [str(r.get("ID")) for r in s.rules] for b, s in self._sources.items() if s.rules},
                "unevaluated_rules": sorted(f"{b}/{r}" for b, r in self.unevaluated_rules),
            }


class _CopyFailed(Exception):
    pass
