"""The saving process the crash trials SIGKILL (run through a multiprocessing forkserver
that has already imported boto3 and recovery_lib, so a trial costs a fork, not an
interpreter start-up).

It commits version 1 of ``name``, reports it, announces the start of version 2 and saves
it; the parent kills it at a random moment of that second save.
"""
from __future__ import annotations

from typing import Any

from recovery_lib import CheckpointStore, S3Options


def open_store(spec: dict[str, Any]) -> CheckpointStore:
    if "local" in spec:
        return CheckpointStore.local(spec["local"])
    return CheckpointStore.from_platform(spec["platform"], options=S3Options(**spec["options"]))


def save_twice(spec: dict[str, Any], name: str, v1: str, v2: str, conn: Any) -> None:
    """``v1``/``v2``: paths of the files to save; files over the multipart threshold go
    through ``save_file`` (multipart on S3), smaller ones through ``save`` (one PUT)."""
    store = open_store(spec)
    multipart = spec.get("multipart", False)

    def save(path: str) -> str:
        if multipart:
            return store.save_file(name, path).version
        with open(path, "rb") as fh:
            return store.save(name, fh.read()).version

    conn.send(("v1", save(v1)))
    conn.send(("start", None))
    conn.send(("v2", save(v2)))
    conn.close()
