"""Child process for the SIGKILL tests: commits version 1, then starts saving version 2 and
stops at a chosen point (printing a marker) so the parent can kill it there.

    python -m tests.recovery_lib.crash_child STORE_JSON STAGE V1_FILE V2_FILE

STORE_JSON: {"local": PATH} or {"platform": DESCRIPTOR, "options": {...S3Options...}}.
STAGE: "upload" (mid-way through streaming the content), "before-commit" (content
written, manifest not), "during-commit" (local: manifest temp file written, not linked).
"""
from __future__ import annotations

import json
import sys
import time

from recovery_lib import CheckpointStore, S3Options
from recovery_lib import _streams
from recovery_lib.backends import local

HANG = 120


def _hang(marker: str) -> None:
    print(marker, flush=True)
    time.sleep(HANG)
    raise SystemExit("the parent should have killed this process")


def main() -> None:
    spec, stage, v1_file, v2_file = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    if "local" in spec:
        store = CheckpointStore.local(spec["local"])
    else:
        store = CheckpointStore.from_platform(spec["platform"], options=S3Options(**spec["options"]))
    v1 = store.save_file("model", v1_file, metadata={"v": 1})
    print("V1", v1.version, flush=True)

    if stage == "upload":
        real_read = _streams.HashingReader.read

        def read(self: _streams.HashingReader, size: int | None = -1) -> bytes:
            if self.bytes_hashed >= 6 * 1024 * 1024:
                _hang("MIDWAY")
            return real_read(self, size)

        _streams.HashingReader.read = read  # type: ignore[method-assign]
    elif stage == "before-commit":
        for backend in (store.backend(r) for r in store.regions):
            # the commit point is the compare-and-swap of the head record
            type(backend).put_if_match = lambda self, key, data, tag: _hang("COMMITTING")  # type: ignore[method-assign]
    elif stage == "during-commit":
        real_replace = local.os.replace

        def replace(src: str, dst: str) -> None:  # the head's temp file is written, not moved
            if "/heads/" in str(dst):
                _hang("LINKING")
            real_replace(src, dst)

        local.os.replace = replace  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown stage {stage!r}")
    store.save_file("model", v2_file, metadata={"v": 2})
    raise SystemExit("the save should have been interrupted")


if __name__ == "__main__":
    main()
