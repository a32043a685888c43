"""Benchmark 2: 10,000 small JSON checkpoints saved and loaded, against raw
``put_object``/``get_object`` of the same JSON bytes.

Both sides run sequentially in one thread, alternating in blocks (each block is one run;
medians are over blocks). The library's save is the conditional PUT of the name's head
(the commit; the payload is inlined in the manifest), then the history record's PUT in
the background: the save's time is what its caller is blocked; the wait for the
background writes (``store.flush()`` after each block, outside that time, so it never
spills into the baseline's) is reported in an extra row. Its load of the current version
is one GET of the head (verified).
"""
from __future__ import annotations

import json

from recovery_lib import CheckpointStore, S3Options
from recovery_lib.backends.s3 import client_config

from ._common import Result, median, timed
from ._server import PRIMARY_REGION, moto_server

TARGET = 1.3


def run(*, runs: int, quick: bool) -> list[Result]:
    total = 1_000 if quick else 10_000
    blocks = max(runs, 10)
    per_block = total // blocks
    options = S3Options()
    with moto_server() as server:
        lib_bucket, raw_bucket = server.bucket("small-lib"), server.bucket("small-raw")
        secondary = server.bucket("small-lib-secondary", "us-west-2")
        store = CheckpointStore.from_platform(server.descriptor(lib_bucket, secondary),
                                              options=options, session=server.session)
        raw = server.session.client("s3", endpoint_url=server.url, region_name=PRIMARY_REGION,
                                    config=client_config(options, read_timeout=options.metadata_timeout,
                                                         path_style=True))
        store.save("warmup", {"x": 0})
        raw.put_object(Bucket=raw_bucket, Key="warmup", Body=b"{}")
        times: dict[str, list[float]] = {"lib save": [], "raw save": [], "lib load": [], "raw load": [],
                                         "lib pinned": [], "lib history": []}

        def data(i: int) -> dict:
            return {"step": i, "loss": 1.0 / (i + 1), "lr": 3e-4, "epoch": i // 100}

        for block in range(blocks):
            names = [f"runs/{block}/step-{i}" for i in range(per_block)]

            versions: list[str] = []

            def lib_save() -> None:
                for i, name in enumerate(names):
                    versions.append(store.save(name, data(i)).version)

            def raw_save() -> None:
                for i, name in enumerate(names):
                    raw.put_object(Bucket=raw_bucket, Key=name,
                                   Body=json.dumps(data(i)).encode())

            def lib_load() -> None:
                for i, name in enumerate(names):
                    assert store.load(name) == data(i)

            def lib_pinned() -> None:  # the version is known (e.g. from save): no LIST
                for i, (name, version) in enumerate(zip(names, versions)):
                    assert store.load(name, version=version) == data(i)

            def raw_load() -> None:
                for i, name in enumerate(names):
                    body = raw.get_object(Bucket=raw_bucket, Key=name)["Body"].read()
                    assert json.loads(body) == data(i)

            pairs = [("lib save", lib_save), ("raw save", raw_save)]
            loads = [("lib load", lib_load), ("raw load", raw_load), ("lib pinned", lib_pinned)]
            if block % 2:
                pairs.reverse()
                loads.reverse()
            for label, fn in pairs + loads:
                times[label].append(timed(fn))
                if label == "lib save":  # history records still being written in the
                    # background: the caller is not blocked by them, but they must not
                    # spill into the next measurement; their wait is reported on its own
                    times["lib history"].append(timed(store.flush))
    out = []
    for op in ("save", "load"):
        lib, base = median(times[f"lib {op}"]), median(times[f"raw {op}"])
        out.append(Result(2, f"{total:,} small JSON: {op} ({per_block}/block, {blocks} blocks)",
                          lib, base, "s/block", f"ratio <= {TARGET}", lib / base <= TARGET, lib / base))
    pinned, base = median(times["lib pinned"]), median(times["raw load"])
    out.append(Result(2, f"{total:,} small JSON: load of a known version (no LIST)", pinned, base,
                      "s/block", f"ratio <= {TARGET}", pinned / base <= TARGET, pinned / base))
    lib = median([a + b for a, b in zip(times["lib save"], times["lib load"])])
    base = median([a + b for a, b in zip(times["raw save"], times["raw load"])])
    out.append(Result(2, f"{total:,} small JSON: save + load", lib, base, "s/block",
                      f"ratio <= {TARGET}", lib / base <= TARGET, lib / base))
    lib = median([a + b + c for a, b, c in zip(times["lib save"], times["lib history"],
                                                times["lib load"])])
    out.append(Result(2, f"{total:,} small JSON: save + load, incl. waiting for the background "
                      "history writes", lib, base, "s/block", "(report)", None, lib / base))
    return out
