"""MaintainerRole: the only principal allowed to delete checkpoint objects.

Jobs write and read checkpoints but cannot delete them (no ``s3:DeleteObject``): retention
retires versions logically. Garbage collection (``recovery gc``) runs as this role, which adds
``s3:DeleteObject`` on the checkpoint prefix of both buckets. Its deletes carry no version id,
so in the versioned buckets they leave delete markers and the data becomes noncurrent; the
bucket lifecycle's noncurrent-version expiry (``noncurrentVersionDays``) is the undo window.
The policy pack's ``checkpoint-delete-only-maintainer`` rule checks no other principal may
delete.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from infra import policies
from infra.job_role import CheckpointRole, JobRoleArgs

COMPONENT_TYPE = "dr-platform:index:MaintainerRole"

#: the same inputs as the job role's: both checkpoint buckets, their keys, the prefix
MaintainerRoleArgs = JobRoleArgs


class MaintainerRole(CheckpointRole):
    """A job's rights plus DeleteObject on the checkpoint prefix, and an instance profile.

    Assumed by the instance that runs the scheduled ``recovery gc`` (like the job role).
    """

    def __init__(self, name: str, args: MaintainerRoleArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(COMPONENT_TYPE, name, args,
                         description="dr-platform maintainer: garbage collection of checkpoints (the only deleter)",
                         build_policy=policies.maintainer_role_policy, opts=opts)
