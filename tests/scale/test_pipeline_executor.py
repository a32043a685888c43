"""Pipelines on an Executor: independent stages in parallel, a failure stops only its
dependants; on a dask.distributed LocalCluster of worker processes, two independent stages
run at the same time and a run resumes after a worker is killed."""
from __future__ import annotations

import concurrent.futures
import logging
import os
import pathlib
import signal
import sys
import threading
import time
from typing import Any, Iterator

import pytest

from recovery_lib import CheckpointStore, Pipeline
from recovery_lib.pipeline_executor import StagesFailed

PATIENCE = 120.0  # generous; every wait ends on an event long before


def _await(path: pathlib.Path) -> None:
    """Runs inside the stage (a Dask worker process): until ``path`` exists."""
    deadline = time.monotonic() + PATIENCE
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def _run(pipeline: Pipeline, executor: concurrent.futures.Executor) -> dict[str, Any]:
    return pipeline.run(executor=executor)


def test_a_failing_stage_stops_only_its_dependants(tmp_path: pathlib.Path) -> None:
    store = CheckpointStore.local(tmp_path / "store")
    broken = {"on": True}
    ran: list[str] = []
    pipeline = Pipeline("p", store)

    @pipeline.stage
    def ok1() -> int:
        ran.append("ok1")
        return 1

    @pipeline.stage
    def bad() -> int:
        ran.append("bad")
        if broken["on"]:
            raise ValueError("bad input")
        return 2

    @pipeline.stage
    def after_bad(bad: int) -> int:
        ran.append("after_bad")
        return bad * 10

    @pipeline.stage
    def ok2(ok1: int) -> int:
        ran.append("ok2")
        return ok1 + 1

    @pipeline.stage
    def last(ok2: int, after_bad: int) -> int:
        ran.append("last")
        return ok2 + after_bad

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        with pytest.raises(StagesFailed) as info:
            _run(pipeline, pool)
        assert set(info.value.failed) == {"bad"} and info.value.blocked == ["after_bad", "last"]
        assert isinstance(info.value.__cause__, ValueError)
        assert info.value.outputs == {"ok1": 1, "ok2": 2}
        assert sorted(ran) == ["bad", "ok1", "ok2"]
        status = pipeline.status()
        assert [status[s].state for s in ("ok1", "ok2", "bad")] == ["complete", "complete", "pending"]
        broken["on"] = False
        ran.clear()
        assert _run(pipeline, pool) == {"ok1": 1, "ok2": 2, "bad": 2, "after_bad": 20, "last": 22}
    assert sorted(ran) == ["after_bad", "bad", "last"]  # completed stages were skipped


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """One LocalCluster of two single-thread worker PROCESSES for the module. A task whose
    worker dies fails at once (allowed-failures 0) so the resume is the pipeline's, not a
    Dask retry."""
    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # stage helpers by value
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
            cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
def test_dask_runs_independent_stages_at_the_same_time(dask_client: Any,
                                                       tmp_path: pathlib.Path) -> None:
    """Each stage waits for a file the other writes: run one after the other, the first
    would time out. Two worker pids prove two processes."""
    events = tmp_path / "events"
    events.mkdir()
    pipeline = Pipeline("dask", CheckpointStore.local(tmp_path / "store"), run_id="concurrent")

    @pipeline.stage
    def left() -> dict[str, Any]:
        (events / "left").touch()
        _await(events / "right")
        return {"side": "left", "pid": os.getpid()}

    @pipeline.stage
    def right() -> dict[str, Any]:
        (events / "right").touch()
        _await(events / "left")
        return {"side": "right", "pid": os.getpid()}

    @pipeline.stage
    def both(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
        return [left["side"], right["side"]]

    outputs = _run(pipeline, dask_client.get_executor())
    assert outputs["both"] == ["left", "right"]
    assert outputs["left"]["pid"] != outputs["right"]["pid"] != os.getpid()
    assert all(s.complete for s in pipeline.status().values())


@pytest.mark.slow
def test_dask_run_resumes_after_a_worker_is_killed(dask_client: Any,
                                                   tmp_path: pathlib.Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    pipeline = Pipeline("dask", CheckpointStore.local(tmp_path / "store"), run_id="killed")

    @pipeline.stage
    def first() -> int:
        with open(events / "first-runs", "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return 1

    @pipeline.stage
    def victim(first: int) -> int:
        attempt = len(list(events.glob("victim-*")))
        (events / f"victim-{attempt}").write_text(str(os.getpid()))
        if attempt == 0:
            _await(events / "never")  # killed here
        return first + 1

    outcome: dict[str, BaseException] = {}

    def drive() -> None:
        try:
            _run(pipeline, dask_client.get_executor())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.monotonic() + PATIENCE
    while not (events / "victim-0").exists() and driver.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(int((events / "victim-0").read_text()), signal.SIGKILL)
    driver.join(PATIENCE)
    error = outcome.get("error")
    assert isinstance(error, StagesFailed), error
    assert set(error.failed) == {"victim"} and type(error.__cause__).__name__ == "KilledWorker"
    assert pipeline.status()["first"].complete and not pipeline.status()["victim"].complete
    assert _run(pipeline, dask_client.get_executor()) == {"first": 1, "victim": 2}
    assert len((events / "first-runs").read_text().splitlines()) == 1  # resumed, not redone
    assert sorted(p.name for p in events.glob("victim-*")) == ["victim-0", "victim-1"]
