"""Benchmark 8 (issue 12), against a moto server on loopback:

- ``save_file_async`` of a 256 MiB file: how long the CALLER is blocked (the snapshot:
  a copy to a temporary file), against the time of a plain ``save_file`` of the same
  file (hash + upload + commit). Target: blocked <= 0.1x.
- Sharded save of 8 ranks x 32 MiB (8 threads, each ``save_shard`` of its shard, then one
  ``commit_shards``) against 8 concurrent boto3 ``upload_file``s of the same bytes with
  the library's client and transfer settings. Target: <= 1.1x. Measured three times:
  shards saved from memory (``bytes``) and from files (``Path``) with a commit that reads
  the records from the bucket, and from files with the records gathered (DCP's way).

Each run writes new content (a few bytes changed in place, outside timing) so the library
cannot skip an upload whose blob already exists.
"""
from __future__ import annotations

import concurrent.futures
import os
import tempfile
from typing import Any

from recovery_lib import CheckpointStore, S3Options
from recovery_lib.backends.s3 import client_config, transfer_config

from ._common import MiB, Result, alternate, median, timed, write_random_file
from ._server import PRIMARY_REGION, moto_server

ASYNC_TARGET = 0.1
SHARD_TARGET = 1.1
RANKS = 8


def run(*, runs: int, quick: bool) -> list[Result]:
    options = S3Options()
    with moto_server() as server, tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        lib_bucket, raw_bucket = server.bucket("bench-scale"), server.bucket("bench-scale-raw")
        secondary = server.bucket("bench-scale-secondary", "us-west-2")
        store = CheckpointStore.from_platform(server.descriptor(lib_bucket, secondary),
                                              options=options, session=server.session)
        raw = server.session.client("s3", endpoint_url=server.url, region_name=PRIMARY_REGION,
                                    config=client_config(options, read_timeout=options.read_timeout,
                                                         path_style=True))
        config = transfer_config(options)
        return [_async(store, tmp, runs, quick),
                _sharded(store, raw, raw_bucket, config, tmp, runs, quick, in_memory=True),
                _sharded(store, raw, raw_bucket, config, tmp, runs, quick, in_memory=False),
                _sharded(store, raw, raw_bucket, config, tmp, runs, quick, in_memory=False,
                         gathered=True)]


def _refresh(path: str, counter: Any) -> None:
    with open(path, "r+b") as fh:
        fh.write(next(counter).to_bytes(8, "big") + os.urandom(8))


def _async(store: CheckpointStore, tmp: str, runs: int, quick: bool) -> Result:
    size = (64 if quick else 256) * MiB
    source = os.path.join(tmp, "model.bin")
    write_random_file(source, size)
    counter = iter(range(1_000_000))
    background: list[float] = []

    def blocked() -> None:
        future = store.save_file_async("bench/async", source)
        blocked.future = future  # type: ignore[attr-defined]

    def plain() -> None:
        store.save_file("bench/sync", source)

    def fresh() -> None:
        future = getattr(blocked, "future", None)
        if future is not None:  # the previous async save finishes outside the timing
            background.append(timed(future.result))
            blocked.future = None  # type: ignore[attr-defined]
        _refresh(source, counter)

    lib, base = alternate(runs, blocked, plain, before=fresh)
    fresh()
    store.wait()
    ratio = median(lib) / median(base)
    return Result(8, f"{size // MiB} MiB save_file_async caller blocked vs save_file",
                  median(lib), median(base), "s", f"ratio <= {ASYNC_TARGET}",
                  ratio <= ASYNC_TARGET, ratio,
                  note=f"blocked {[round(t, 3) for t in lib]} save_file {[round(t, 2) for t in base]}")


def _sharded(store: CheckpointStore, raw: Any, raw_bucket: str, config: Any, tmp: str,
             runs: int, quick: bool, *, in_memory: bool, gathered: bool = False) -> Result:
    """Each rank saves its shard from memory (``bytes``, as a training job's ranks hold
    their tensors: hashed, uploaded from memory) or from its file (``Path``: read once,
    hashed as it uploads). The commit lists and reads the step's shard records from the
    bucket, or (``gathered``) is handed the records the ranks' ``save_shard`` calls
    returned, as a DCP job gathers its ranks' metadata. The baseline uploads the same
    bytes from the same files."""
    size = (8 if quick else 32) * MiB
    files = [os.path.join(tmp, f"shard-{rank}.bin") for rank in range(RANKS)]
    for path in files:
        write_random_file(path, size)
    counter = iter(range(1_000_000))
    step = iter(range(1, 1_000_000))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=RANKS)

    def sharded() -> None:
        s = next(step)
        data = memory if in_memory else [_Path(f) for f in files]
        records = list(pool.map(lambda rank: store.save_shard(name, s, rank, data[rank]),
                                range(RANKS)))
        store.commit_shards(name, s, RANKS, records=records if gathered else None)

    def uploads() -> None:
        n = next(counter)
        list(pool.map(lambda rank: raw.upload_file(files[rank], raw_bucket, f"shard-{n}-{rank}",
                                                   Config=config), range(RANKS)))

    memory: list[bytes] = []
    name = f"bench/sharded-{'memory' if in_memory else 'files'}{'-gathered' if gathered else ''}"

    def fresh() -> None:
        for path in files:
            _refresh(path, counter)
        if in_memory:  # the ranks' state, in memory before the timed save (outside timing)
            memory[:] = [open(path, "rb").read() for path in files]

    try:
        lib, base = alternate(runs, sharded, uploads, before=fresh)
    finally:
        pool.shutdown()
    ratio = median(lib) / median(base)
    source = ("from memory" if in_memory else "from files") + (
        ", records gathered" if gathered else ", records read")
    return Result(8, f"sharded save {RANKS} ranks x {size // MiB} MiB {source} vs {RANKS} upload_file",
                  median(lib), median(base), "s", f"ratio <= {SHARD_TARGET}",
                  ratio <= SHARD_TARGET, ratio,
                  note=f"ranks are threads; lib {[round(t, 2) for t in lib]} raw {[round(t, 2) for t in base]}")


def _Path(path: str) -> Any:
    from pathlib import Path

    return Path(path)
