"""One 1 GiB transfer in a fresh process, reporting its time and peak RSS growth.

    python -m benchmarks._rss_child OP SPEC_JSON

OP: lib-save, raw-save, lib-load, raw-load. Prints one JSON line: seconds, rss_before_kib
(after imports, clients and a warm-up request), peak_kib (VmHWM after the transfer; the
peak is reset after the warm-up where the kernel allows it) and growth_kib.
"""
from __future__ import annotations

import json
import sys
import time

from recovery_lib import CheckpointStore, S3Options
from recovery_lib.backends.s3 import client_config, transfer_config

from ._common import rss_kib
from ._server import PRIMARY_REGION, use_fake_credentials


def main() -> None:
    op, spec = sys.argv[1], json.loads(sys.argv[2])
    use_fake_credentials()
    import boto3

    options = S3Options(**spec["options"])
    # Optional: cap s3transfer's queue of downloaded chunks waiting to be written (its
    # default, 1,000 chunks of 256 KiB, allows ~250 MiB); applied to both sides.
    download_chunks = spec.get("max_in_memory_download_chunks")
    session = boto3.session.Session(region_name=PRIMARY_REGION)
    if op.startswith("lib"):
        store = CheckpointStore.from_platform(spec["descriptor"], options=options, session=session)
        store.exists("warmup")  # clients built, one request made
        if download_chunks:
            for region in store.regions:
                store.backend(region)._transfer_config.max_in_memory_download_chunks = download_chunks
        action = (lambda: store.save_file("big", spec["file"])) if op == "lib-save" else (
            lambda: store.load_file("big", spec["dest"]))
    else:
        client = session.client("s3", endpoint_url=spec["url"], region_name=PRIMARY_REGION,
                                config=client_config(options, read_timeout=options.read_timeout,
                                                     path_style=True))
        client.list_objects_v2(Bucket=spec["bucket"], MaxKeys=1)
        config = transfer_config(options)
        if download_chunks:
            config.max_in_memory_download_chunks = download_chunks
        action = (lambda: client.upload_file(spec["file"], spec["bucket"], "big", Config=config)) \
            if op == "raw-save" else (
            lambda: client.download_file(spec["bucket"], "big", spec["dest"], Config=config))
    before = rss_kib("VmRSS")
    reset = True
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    except OSError:
        reset = False
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    peak = rss_kib("VmHWM")
    print(json.dumps({"seconds": seconds, "rss_before_kib": before, "peak_kib": peak,
                      "growth_kib": peak - before, "hwm_reset": reset}))


if __name__ == "__main__":
    main()
