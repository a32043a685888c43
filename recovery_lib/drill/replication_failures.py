"""Why is a checkpoint not in the secondary? Ask S3 for the source objects' replication status.

S3 sets ``x-amz-replication-status`` on each source object: PENDING, COMPLETED or FAILED
(S3 User Guide, "Getting replication status information"). FAILED is final: S3 does not
retry it, and the usual cause is the replication role (a missing ``s3:ReplicateObject``,
``s3:GetObjectVersionForReplication``, or KMS right on either key:
cloudposse/terraform-aws-s3-bucket#279). A drill that finds its checkpoints missing in the
secondary names those objects instead of only "stalled or paused".
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)

MAX_HEADS = 10


def failed_replications(store: Any, keys: Iterable[str], *, limit: int = MAX_HEADS) -> list[str]:
    """The keys among ``keys`` whose primary copy S3 marked FAILED (at most ``limit`` HEADs).

    Best effort: a store without S3 backends, or a HEAD that fails, answers nothing."""
    try:
        backend = store.backend("primary")
        client, bucket = backend.metadata_client, backend.bucket  # the S3 backend's client (a property)
    except (AttributeError, KeyError):
        return []
    failed = []
    for key in [k.split(" (", 1)[0] for k in keys][:limit]:
        try:
            status = client.head_object(Bucket=bucket, Key=key).get("ReplicationStatus")
        except (ClientError, BotoCoreError) as exc:
            logger.info("replication status of %s unknown: %s", key, exc)
            continue
        if status == "FAILED":
            failed.append(key)
    return failed


def describe(failed: list[str]) -> str:
    """The sentence a drill adds to its verdict ("" when nothing FAILED)."""
    if not failed:
        return ""
    return (f"; S3 marked {len(failed)} of them FAILED in the primary ({', '.join(failed[:3])}"
            f"{', ...' if len(failed) > 3 else ''}), which S3 never retries: check the replication role's "
            "s3:GetObjectVersionForReplication / s3:ReplicateObject and KMS rights")
