"""Benchmark 1: ``save_file``/``load_file`` of 256 MiB against boto3 ``upload_file`` /
``download_file`` with the same client and transfer settings (SHA-256 verification on)."""
from __future__ import annotations

import os
import tempfile
from typing import Any

from recovery_lib import CheckpointStore, S3Options
from recovery_lib.backends.s3 import client_config, transfer_config

from ._common import MiB, Result, alternate, median, write_random_file
from ._server import PRIMARY_REGION, moto_server

TARGET = 1.05


def run(*, runs: int, quick: bool) -> list[Result]:
    size = (64 if quick else 256) * MiB
    options = S3Options()
    with moto_server() as server, tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        lib_bucket, raw_bucket = server.bucket("bench-lib"), server.bucket("bench-raw")
        secondary = server.bucket("bench-lib-secondary", "us-west-2")
        store = CheckpointStore.from_platform(server.descriptor(lib_bucket, secondary),
                                              options=options, session=server.session)
        raw = server.session.client("s3", endpoint_url=server.url, region_name=PRIMARY_REGION,
                                    config=client_config(options, read_timeout=options.read_timeout,
                                                         path_style=True))
        config = transfer_config(options)  # the exact TransferConfig the library uses
        source = os.path.join(tmp, "source.bin")
        write_random_file(source, size)
        counter = iter(range(1_000_000))
        state: dict[str, Any] = {}

        def fresh() -> None:
            # New content each time so the library cannot skip the upload (same blob) and
            # both sides move the same bytes; a few bytes rewritten in place, outside timing.
            with open(source, "r+b") as fh:
                fh.write(next(counter).to_bytes(8, "big") + os.urandom(8))

        def lib_save() -> None:
            state["lib"] = store.save_file("model", source)

        def raw_save() -> None:
            state["raw_key"] = f"model-{next(counter)}"
            raw.upload_file(source, raw_bucket, state["raw_key"], Config=config)

        save_lib, save_raw = alternate(runs, lib_save, raw_save, before=fresh)
        dest = os.path.join(tmp, "dest.bin")

        def lib_load() -> None:
            store.load_file("model", dest)

        def raw_load() -> None:
            raw.download_file(raw_bucket, state["raw_key"], dest, Config=config)

        load_lib, load_raw = alternate(runs, lib_load, raw_load)
    out = []
    for op, lib, base in (("save_file vs upload_file", save_lib, save_raw),
                          ("load_file vs download_file", load_lib, load_raw)):
        ratio = median(lib) / median(base)
        out.append(Result(1, f"{size // MiB} MiB {op}", median(lib), median(base), "s",
                          f"ratio <= {TARGET}", ratio <= TARGET, ratio,
                          note=f"runs lib {[round(t, 2) for t in lib]} raw {[round(t, 2) for t in base]}"))
    return out
