"""The sandbox's IAM mode: jobs, replication and drills run as the program's own roles.

:func:`enforce` (on a started :class:`~infra.sandbox.sandbox.Sandbox`):

- switches moto's IAM enforcement on (:class:`~infra.sandbox.iam_enforcement.IamEnforcement`):
  the sandbox itself and the person at the keyboard sign as the account's administrators,
  everyone else as what the program made them;
- serves the job role's credentials on an instance metadata endpoint
  (:class:`~infra.sandbox.instance_metadata.InstanceMetadata`): a job, and every recovery_lib
  call of a drill, gets them as an instance with the job role's profile would;
- makes the replication emulator check the replication role's permissions before each copy
  (:class:`~infra.sandbox.replication_access.ReplicationAccess`): an object the role may not
  replicate goes FAILED and stays FAILED;
- adds ``sandbox.iam`` to ``platform.json``: ``{"enforced": true, "instance_metadata_url",
  "job_role_arn", "admin_arn"}``. The drill assumes the descriptor's
  ``drill.operator_role_arn`` itself (recovery_lib/drill/credentials.py).

What moto cannot evaluate, and what covers it instead: docs/sandbox-iam.md.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from infra.sandbox.iam_enforcement import IamEnforcement
from infra.sandbox.instance_metadata import InstanceMetadata
from infra.sandbox.replication_access import ReplicationAccess

if TYPE_CHECKING:
    from infra.sandbox.sandbox import Sandbox

logger = logging.getLogger(__name__)

MODES = ("enforce", "off")
INSTANCE_SESSION = "i-sandbox-instance"


@dataclass
class SandboxIam:
    enforcement: IamEnforcement
    metadata: InstanceMetadata
    sandbox: Any

    def section(self) -> dict[str, Any]:
        return {"enforced": True, "instance_metadata_url": self.metadata.url,
                "job_role_arn": self.job_role_arn, "admin_arn": self.enforcement.admin_arn()}

    @property
    def job_role_arn(self) -> str:
        return str(self.sandbox.run.outputs["jobRoleArn"])

    def stop(self) -> None:
        if self.sandbox.replication is not None:
            self.sandbox.replication.access = None
        self.metadata.stop()
        self.enforcement.stop()
        self.sandbox.platform.get("sandbox", {}).pop("iam", None)


def enforce(sandbox: "Sandbox") -> SandboxIam:
    """Turn IAM enforcement on in a started sandbox and rewrite its state files."""
    assert sandbox.run is not None and sandbox.replication is not None, "start the sandbox first"
    enforcement = IamEnforcement().start()
    job_role_arn = str(sandbox.run.outputs["jobRoleArn"])
    region = sandbox.platform["regions"]["primary"]["name"]
    metadata = InstanceMetadata(
        job_role_arn.rsplit("/", 1)[-1],
        lambda: enforcement.assume_as_service(job_role_arn, "ec2.amazonaws.com", INSTANCE_SESSION),
        region=region,
    )
    metadata.credentials()  # refuses now, not in the job, when EC2 may not assume the role
    metadata.start()
    sandbox.replication.access = ReplicationAccess(enforcement)
    iam = SandboxIam(enforcement, metadata, sandbox)
    # sandbox.json first (its ports: `down` checks this one is closed too), platform.json last:
    # `up` reports the sandbox ready once platform.json carries sandbox.iam
    info_path = sandbox.state_dir / "sandbox.json"
    info = json.loads(info_path.read_text())
    info["ports"] = sorted(set(info.get("ports", [])) | {metadata.port})
    _write_json(info_path, info)
    sandbox.platform.setdefault("sandbox", {})["iam"] = iam.section()
    _write_json(sandbox.state_dir / "platform.json", sandbox.platform)
    logger.info("IAM enforcement on; job role credentials at %s", metadata.url)
    return iam


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def iam_section(platform: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The descriptor's ``sandbox.iam`` section (None: the sandbox does not enforce IAM)."""
    section = (platform.get("sandbox") or {}).get("iam")
    return section if isinstance(section, dict) and section.get("enforced") else None
