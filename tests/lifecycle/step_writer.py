"""A training job in its own process: saves steps of one name while GC may run.

``python -m tests.lifecycle.step_writer DESCRIPTOR_JSON NAME FIRST COUNT [STOP_FILE]`` saves
steps ``FIRST .. FIRST+COUNT-1`` (payloads over the inline limit; every third one repeats the
content of the first, so content-addressed blobs are reused) and prints one JSON line per
commit: ``{"step": N, "version": ..., "sha256": ...}``. With ``STOP_FILE`` it goes on saving
after those until that file exists (at most ``MAX_EXTRA`` more), so a test can keep it
writing until what it waits for has happened, whatever the machine's speed.
"""
from __future__ import annotations

import itertools
import json
import os
import sys

from recovery_lib import CheckpointStore, S3Options

PAYLOAD_BYTES = 300 * 1024  # over the 256 KiB inline limit: content lives in a blob
MAX_EXTRA = 500  # saves after COUNT while waiting for the stop file: a bound, never reached


def payload(name: str, step: int) -> bytes:
    seed = name if step % 3 == 0 else f"{name}:{step}"
    return (seed.encode() * (PAYLOAD_BYTES // len(seed) + 1))[:PAYLOAD_BYTES]


def main() -> None:
    descriptor, name, first, count = (json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                      int(sys.argv[4]))
    stop_file = sys.argv[5] if len(sys.argv) > 5 else None
    store = CheckpointStore.from_platform(
        descriptor, options=S3Options(connect_timeout=2, metadata_timeout=5, max_attempts=3))
    for step in itertools.count(first):
        if step >= first + count and (stop_file is None or os.path.exists(stop_file)
                                      or step >= first + count + MAX_EXTRA):
            break
        checkpoint = store.save(name, payload(name, step), step=step, metadata={"loss": 1 / (step + 1)})
        print(json.dumps({"step": step, "version": checkpoint.version,
                          "sha256": checkpoint.sha256}), flush=True)


if __name__ == "__main__":
    main()
