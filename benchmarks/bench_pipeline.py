"""Benchmark 3: which stages of a 1,000-stage pipeline are complete. The library's
``Pipeline.status()`` (one LIST of the run's namespace) against a HEAD per stage; S3
requests counted with a botocore event hook on every client the store uses."""
from __future__ import annotations

from recovery_lib import CheckpointStore, Pipeline, S3Options
from recovery_lib import manifest as mf

from ._common import RequestCounter, Result, alternate, median
from ._server import moto_server

TARGET_RATIO = 0.05
TARGET_REQUESTS = 3


def _constant(n: int):  # type: ignore[no-untyped-def]
    """A stage function returning ``n`` (no parameters: stages are ordered with ``after``)."""
    return lambda: n

def run(*, runs: int, quick: bool) -> list[Result]:
    stages = 1_000
    with moto_server() as server:
        primary, secondary = server.bucket("pipe-primary"), server.bucket("pipe-secondary", "us-west-2")
        store = CheckpointStore.from_platform(server.descriptor(primary, secondary),
                                              options=S3Options(), session=server.session)
        pipeline = Pipeline("bench", store, run_id="r1")
        previous = None
        for n in range(stages):
            pipeline.stage(_constant(n), name=f"s{n:04d}", after=[previous] if previous else [])
            previous = f"s{n:04d}"
        pipeline.run()  # every stage complete (1,000 checkpoints)
        keys = [mf.manifest_key(store.prefix, c.name, c.version) for c in store.list(pipeline.prefix)]
        assert len(keys) == stages
        counter = RequestCounter()
        for region in store.regions:
            backend = store.backend(region)
            counter.attach(backend.metadata_client)
            counter.attach(backend.transfer_client)
        client = store.backend("primary").metadata_client
        results: dict[str, int] = {}

        def library() -> None:
            status = pipeline.status()
            results["complete"] = sum(s.complete for s in status.values())

        def baseline() -> None:
            results["heads"] = sum(1 for key in keys
                                   if client.head_object(Bucket=primary, Key=key)["ContentLength"])

        counter.count = 0
        library()
        requests = counter.count
        lib, base = alternate(runs, library, baseline)
    assert results["complete"] == results["heads"] == stages
    ratio = median(lib) / median(base)
    return [
        Result(3, f"{stages:,}-stage status(): S3 requests", requests, stages, "requests",
               f"<= {TARGET_REQUESTS}", requests <= TARGET_REQUESTS, requests / stages),
        Result(3, f"{stages:,}-stage status() vs HEAD per stage", median(lib), median(base), "s",
               f"ratio <= {TARGET_RATIO}", ratio <= TARGET_RATIO, ratio),
    ]
