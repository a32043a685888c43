"""cProfile of the library side of the benchmarks that miss their targets, to see where
the time goes (client side; the moto server is another process, so time spent waiting on it
shows up as socket reads).

    python -m benchmarks.profile_misses [2] [3] [1]
"""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import tempfile
import time

from recovery_lib import CheckpointStore, Pipeline, S3Options

from ._common import MiB, write_random_file
from ._server import moto_server


def _report(label: str, profile: cProfile.Profile, wall: float, limit: int = 14) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
    stats.print_stats(limit)
    print(f"=== {label}: wall {wall:.3f} s ===")
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    print("\n".join(lines[:limit + 8]))


def _profiled(label: str, fn) -> None:  # type: ignore[no-untyped-def]
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.runcall(fn)
    _report(label, profile, time.perf_counter() - started)


def small(server) -> None:  # type: ignore[no-untyped-def]
    primary, secondary = server.bucket("p2-primary"), server.bucket("p2-secondary", "us-west-2")
    store = CheckpointStore.from_platform(server.descriptor(primary, secondary), session=server.session)
    names = [f"runs/0/step-{i}" for i in range(300)]
    for i, name in enumerate(names):
        store.save(name, {"step": i})
    client = store.backend("primary").metadata_client
    timings = {"list": 0.0, "get": 0.0}

    def split() -> None:  # the two requests a load of the current version makes, timed apart
        for name in names:
            t0 = time.perf_counter()
            page = client.list_objects_v2(Bucket=primary, Prefix=f"checkpoints/manifests/{name}@")
            t1 = time.perf_counter()
            client.get_object(Bucket=primary, Key=page["Contents"][0]["Key"])["Body"].read()
            timings["list"] += t1 - t0
            timings["get"] += time.perf_counter() - t1

    split()
    print(f"=== 2: 300 loads as raw requests: LIST {timings['list']:.3f} s, "
          f"GET {timings['get']:.3f} s ===")
    _profiled("2: 300 x store.load(name) (current version)", lambda: [store.load(n) for n in names])
    versions = [store.info(n).version for n in names]
    _profiled("2: 300 x store.load(name, version=...) (pinned: no LIST)",
              lambda: [store.load(n, version=v) for n, v in zip(names, versions)])


def _constant(n: int):  # type: ignore[no-untyped-def]
    """A stage function returning ``n`` (no parameters: stages are ordered with ``after``)."""
    return lambda: n

def pipeline(server) -> None:  # type: ignore[no-untyped-def]
    primary, secondary = server.bucket("p3-primary"), server.bucket("p3-secondary", "us-west-2")
    store = CheckpointStore.from_platform(server.descriptor(primary, secondary), session=server.session)
    pipe = Pipeline("bench", store, run_id="r1")
    previous = None
    for n in range(1000):
        pipe.stage(_constant(n), name=f"s{n:04d}", after=[previous] if previous else [])
        previous = f"s{n:04d}"
    pipe.run()
    client = store.backend("primary").metadata_client
    started = time.perf_counter()
    client.list_objects_v2(Bucket=primary, Prefix="checkpoints/manifests/pipelines/bench/r1/")
    print(f"=== 3: one raw LIST of the 1,000 manifests: {time.perf_counter() - started:.3f} s ===")
    _profiled("3: Pipeline.status() of 1,000 stages", pipe.status)


def transfer(server) -> None:  # type: ignore[no-untyped-def]
    primary, secondary = server.bucket("p1-primary"), server.bucket("p1-secondary", "us-west-2")
    store = CheckpointStore.from_platform(server.descriptor(primary, secondary),
                                          options=S3Options(), session=server.session)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "s.bin")
        write_random_file(source, 256 * MiB)
        _profiled("1: save_file 256 MiB", lambda: store.save_file("m", source))
        _profiled("1: load_file 256 MiB", lambda: store.load_file("m", os.path.join(tmp, "d.bin")))


def main() -> None:
    which = sys.argv[1:] or ["2", "3", "1"]
    with moto_server() as server:
        for key in which:
            {"1": transfer, "2": small, "3": pipeline}[key](server)


if __name__ == "__main__":
    main()
