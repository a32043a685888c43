"""A separate writer/reader process for the commit-order tests (its own clock, its own store).

``python -m tests.reliability.store_child DESCRIPTOR_JSON SKEW_SECONDS ACTION NAME [VALUE]``
prints one JSON line: ``{"version": ...}`` for ``save`` and ``delete``, ``{"data": ..., "version": ...,
"region": ...}`` for ``load``. ``SKEW_SECONDS`` shifts this process's wall clock (the store's
``wall_clock`` seam), as on a host whose clock runs fast.
"""
from __future__ import annotations

import json
import os
import sys
import time

from recovery_lib import CheckpointStore, S3Options


def main() -> None:
    descriptor, skew, action, name = (json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3],
                                      sys.argv[4])
    # STORE_CHILD_METADATA_TIMEOUT: a test that holds a request longer than 0.5 s
    metadata_timeout = float(os.environ.get("STORE_CHILD_METADATA_TIMEOUT", "0.5"))
    store = CheckpointStore.from_platform(
        descriptor, options=S3Options(connect_timeout=0.5, metadata_timeout=metadata_timeout,
                                      max_attempts=2),
        wall_clock=lambda: time.time_ns() + int(skew * 1e9))
    if action == "save":
        print(json.dumps({"version": store.save(name, json.loads(sys.argv[5])).version}), flush=True)
    elif action == "delete":
        print(json.dumps({"version": store.delete(name).version}))
    elif action == "load":
        data, info = store.load_with_info(name)
        print(json.dumps({"data": data, "version": info.version, "region": info.region}))
    else:
        raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    main()
