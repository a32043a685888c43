"""Region outage in the middle of a Pipeline run.

A 10-stage pipeline checkpoints into the primary region (behind a fault proxy). While
stage 6 runs, replication has copied the checkpoints of stages 1-4 (stage 5's is still
in flight) and the primary region goes dark (black-holed: connections hang).

1. The run in flight completes: its remaining checkpoints fail over to the secondary.
2. A new job started in the DR region (fresh store, primary still dark) resumes from the
   newest DR-safe checkpoint: stages 1-4 are not run again, their checkpoints load with
   the versions replicated; stages 5-10 run again; the outputs are the same.
"""
from __future__ import annotations

import inspect
from collections import Counter

import pytest

from recovery_lib import CheckpointStore, Pipeline, S3Options
from tests.reliability.conftest import Buckets
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.slow

STAGES = 10
OUTAGE_DURING = 6
REPLICATED = 4
# Short timeouts keep the test quick; behaviour does not depend on them.
OPTIONS = S3Options(connect_timeout=0.5, metadata_timeout=0.5, read_timeout=2.0, max_attempts=2,
                    breaker_cooldown=600)


def build(store: CheckpointStore, calls: Counter, on_stage: dict) -> Pipeline:
    pipeline = Pipeline("train", store, run_id="outage")
    previous = None
    for n in range(1, STAGES + 1):
        def stage(n: int = n, **inputs: object) -> dict:
            calls[n] += 1
            if n in on_stage:
                on_stage.pop(n)()
            upstream = next(iter(inputs.values()), {"total": 0})
            return {"stage": n, "total": upstream["total"] + n}

        # Stage n receives stage n-1's output under its name (the pipeline reads signatures).
        stage.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(previous, inspect.Parameter.KEYWORD_ONLY)] if previous else [])
        pipeline.stage(stage, name=f"s{n}")
        previous = f"s{n}"
    return pipeline


def test_outage_mid_run_completes_and_a_dr_job_resumes_from_newest_dr_safe(moto_server):
    with FaultProxy(moto_server.address) as proxy:
        buckets = Buckets(moto_server.url, primary_endpoint=proxy.url)
        store = buckets.store(OPTIONS)
        replicated_versions: dict[str, str] = {}

        def outage() -> None:
            for n in range(1, REPLICATED + 1):
                prefix = f"{store.prefix}manifests/pipelines/train/outage/s{n}/"
                copied = buckets.replicate(only=lambda k, p=prefix: k.startswith(p))
                assert len(copied) == 1, copied
                replicated_versions[f"s{n}"] = copied[0].rsplit("@", 1)[1].removesuffix(".json")
            proxy.set_mode("blackhole")

        calls: Counter = Counter()
        outputs = build(store, calls, {OUTAGE_DURING: outage}).run()
        expected = {f"s{n}": {"stage": n, "total": n * (n + 1) // 2} for n in range(1, STAGES + 1)}
        assert outputs == expected
        assert calls == Counter({n: 1 for n in range(1, STAGES + 1)})
        regions = {c.name.split("/")[3]: c.region for c in store.list("pipelines/train/outage/")}
        assert all(regions[f"s{n}"] == "secondary" for n in range(OUTAGE_DURING, STAGES + 1)), regions

        # A new job in the DR region: fresh store, the primary still dark.
        dr_store = buckets.store(OPTIONS)
        dr_calls: Counter = Counter()
        dr_pipeline = build(dr_store, dr_calls, {})
        status = dr_pipeline.status()
        assert [s for s in dr_pipeline.stages if status[s].complete] == [
            f"s{n}" for n in range(1, REPLICATED + 1)]
        assert dr_pipeline.run() == expected
        assert dr_calls == Counter({n: 1 for n in range(REPLICATED + 1, STAGES + 1)})
        for n in range(1, REPLICATED + 1):  # committed and replicated: kept, not redone
            assert status[f"s{n}"].version == replicated_versions[f"s{n}"]
        assert all(s.complete for s in dr_pipeline.status().values())
        proxy.set_mode("pass")
