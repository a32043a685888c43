"""A training job in its own process: saves steps of one name while GC may run.

``python -m tests.lifecycle.step_writer DESCRIPTOR_JSON NAME FIRST COUNT`` saves steps
``FIRST .. FIRST+COUNT-1`` (payloads over the inline limit; every third one repeats the
content of the first, so content-addressed blobs are reused) and prints one JSON line per
commit: ``{"step": N, "version": ..., "sha256": ...}``.
"""
from __future__ import annotations

import json
import sys

from recovery_lib import CheckpointStore, S3Options

PAYLOAD_BYTES = 300 * 1024  # over the 256 KiB inline limit: content lives in a blob


def payload(name: str, step: int) -> bytes:
    seed = name if step % 3 == 0 else f"{name}:{step}"
    return (seed.encode() * (PAYLOAD_BYTES // len(seed) + 1))[:PAYLOAD_BYTES]


def main() -> None:
    descriptor, name, first, count = (json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                      int(sys.argv[4]))
    store = CheckpointStore.from_platform(
        descriptor, options=S3Options(connect_timeout=2, metadata_timeout=5, max_attempts=3))
    for step in range(first, first + count):
        checkpoint = store.save(name, payload(name, step), step=step, metadata={"loss": 1 / (step + 1)})
        print(json.dumps({"step": step, "version": checkpoint.version,
                          "sha256": checkpoint.sha256}), flush=True)


if __name__ == "__main__":
    main()
