"""Pipeline: ordering, skipping, crash resume, invalidation, status, namespaces, cost."""
from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from recovery_lib.errors import (
    CheckpointNotFound,
    IntegrityError,
    InvalidData,
    InvalidName,
    RecoveryError,
)
from recovery_lib.pipeline import COMPLETE, PENDING, STALE, Pipeline, PipelineError
from recovery_lib.store import CheckpointStore
from tests.recovery_lib.moto_helpers import S3Pair

ROOT = pathlib.Path(__file__).resolve().parents[2]


class CountingStore:
    """A store proxy that records every public call by method name (a recording fake)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = collections.Counter()
        self.fail_load = None  # an exception to raise from load(), to simulate a bad blob

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def recorded(*args, **kwargs):
            self.calls[name] += 1
            if name == "load" and self.fail_load is not None:
                raise self.fail_load
            return attr(*args, **kwargs)

        return recorded

    def reset_counts(self):
        self.calls.clear()


class Calls:
    """Counts how often each stage function really ran."""

    def __init__(self):
        self.counts = collections.Counter()
        self.order = []

    def __call__(self, name):
        self.counts[name] += 1
        self.order.append(name)


def diamond(store, calls, *, name="diamond", run_id=None):
    """source -> (left, right) -> join; plus `report` ordered after join without its output."""
    pipeline = Pipeline(name, store, run_id=run_id)

    # Declared consumer-first on purpose: order must come from dependencies.
    @pipeline.stage
    def join(left, right):
        calls("join")
        return {"sum": left + right}

    @pipeline.stage(after=["join"])
    def report():
        calls("report")
        return "reported"

    @pipeline.stage
    def left(source):
        calls("left")
        return source * 2

    @pipeline.stage
    def right(source):
        calls("right")
        return source * 3

    @pipeline.stage
    def source():
        calls("source")
        return 7

    return pipeline


EXPECTED = {"source": 7, "left": 14, "right": 21, "join": {"sum": 35}, "report": "reported"}


@pytest.fixture
def store():
    return CheckpointStore.memory()


# -- ordering and outputs ------------------------------------------------------------------


def test_run_orders_by_dependencies_and_returns_every_output(store):
    calls = Calls()
    pipeline = diamond(store, calls)

    outputs = pipeline.run()

    assert outputs == EXPECTED
    order = calls.order
    assert order.index("source") < order.index("left") < order.index("join")
    assert order.index("right") < order.index("join") < order.index("report")
    assert sorted(order) == sorted(EXPECTED)
    assert list(pipeline.stages)[0] == "source" and list(pipeline.stages)[-1] == "report"


def test_explicit_after_orders_without_passing_output_and_accepts_functions(store):
    seen = []
    pipeline = Pipeline("after", store)

    @pipeline.stage(after=["first"])  # a string referring to a later declaration
    def second():
        seen.append("second")
        return 2

    @pipeline.stage(name="first")
    def _first_impl():
        seen.append("first")
        return 1

    @pipeline.stage(after=[second])  # a declared function works too
    def third():
        seen.append("third")
        return 3

    assert pipeline.run() == {"first": 1, "second": 2, "third": 3}
    assert seen == ["first", "second", "third"]


def test_stage_outputs_of_each_supported_type_round_trip(store):
    produced = {"blob": b"\x00\xff raw bytes", "obj": {"k": [1, 2.5, None, "s", True]}}
    pipeline = Pipeline("types", store)

    @pipeline.stage
    def blob():
        return produced["blob"]

    @pipeline.stage
    def obj(blob):
        assert blob == produced["blob"]
        return produced["obj"]

    first = pipeline.run()
    # A fresh Pipeline object (a new process would build one) loads them back.
    again = Pipeline("types", store)
    again.stage(blob, name="blob")
    again.stage(obj, name="obj")
    assert again.run() == first == produced


# -- skipping and resuming -----------------------------------------------------------------


def test_rerun_skips_every_committed_stage_and_loads_outputs(store):
    calls = Calls()
    assert diamond(store, calls).run() == EXPECTED
    assert all(count == 1 for count in calls.counts.values())

    # A new Pipeline object over the same store, as a restarted job would build.
    calls2 = Calls()
    assert diamond(store, calls2).run() == EXPECTED
    assert calls2.counts == {}


def test_failing_stage_leaves_no_checkpoint_and_resume_starts_there(store):
    state = {"fail": True}
    calls = Calls()
    pipeline = Pipeline("crashy", store)

    @pipeline.stage
    def a():
        calls("a")
        return 1

    @pipeline.stage
    def b(a):
        calls("b")
        if state["fail"]:
            raise RuntimeError("disk full in stage b")
        return a + 1

    @pipeline.stage
    def c(b):
        calls("c")
        return b * 10

    with pytest.raises(RuntimeError, match="disk full in stage b"):
        pipeline.run()
    status = pipeline.status()
    assert [status[s].state for s in ("a", "b", "c")] == [COMPLETE, PENDING, PENDING]
    assert [cp.name.split("/")[3] for cp in store.list(pipeline.prefix)] == ["a"]

    state["fail"] = False
    assert pipeline.run() == {"a": 1, "b": 2, "c": 20}
    assert calls.order == ["a", "b", "b", "c"]


KILL_SCRIPT = textwrap.dedent(
    """
    import json, pathlib, sys, time
    from recovery_lib.pipeline import Pipeline
    from recovery_lib.store import CheckpointStore

    root = pathlib.Path(sys.argv[1])
    mode = sys.argv[2]
    pipeline = Pipeline("killed", CheckpointStore.local(root / "store"))

    def mark(name):
        with open(root / "calls.log", "a") as log:
            log.write(name + "\\n")

    @pipeline.stage
    def a():
        mark("a")
        return {"rows": [1, 2, 3]}

    @pipeline.stage
    def b(a):
        mark("b")
        if mode == "hang":
            (root / "in_b").touch()
            time.sleep(60)
        return sum(a["rows"])

    @pipeline.stage
    def c(b):
        mark("c")
        return b * 10

    print(json.dumps(pipeline.run()))
    """
)


@pytest.mark.slow
def test_sigkill_during_a_stage_resumes_at_that_stage(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "hang"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "in_b").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "stage b never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    pipeline = Pipeline("killed", CheckpointStore.local(tmp_path / "store"))
    pipeline.stage(lambda: None, name="a")
    pipeline.stage(lambda a: None, name="b")
    pipeline.stage(lambda b: None, name="c")
    states = {name: s.state for name, s in pipeline.status().items()}
    assert states == {"a": COMPLETE, "b": PENDING, "c": PENDING}

    done = subprocess.run([sys.executable, str(script), str(tmp_path), "ok"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": {"rows": [1, 2, 3]}, "b": 6, "c": 60}
    assert (tmp_path / "calls.log").read_text().split() == ["a", "b", "b", "c"]


@pytest.mark.parametrize("error", [IntegrityError("sha256 mismatch in every region"),
                                   CheckpointNotFound("deleted between the list and the load")],
                         ids=["integrity", "not-found"])
def test_a_checkpoint_that_cannot_be_loaded_is_run_again(store, error):
    counting = CountingStore(store)
    diamond(counting, Calls()).run()
    counting.fail_load = error
    calls = Calls()
    assert diamond(counting, calls).run() == EXPECTED
    assert sorted(calls.order) == sorted(EXPECTED)


# -- invalidation ----------------------------------------------------------------------------


def test_reset_invalidates_the_stage_and_everything_downstream(store):
    calls = Calls()
    pipeline = diamond(store, calls)
    pipeline.run()

    assert pipeline.reset("left") == ["left", "join", "report"]

    states = {name: s.state for name, s in pipeline.status().items()}
    assert states == {"source": COMPLETE, "right": COMPLETE, "left": PENDING,
                      "join": PENDING, "report": PENDING}
    calls2 = Calls()
    assert diamond(store, calls2).run() == EXPECTED
    assert sorted(calls2.order) == ["join", "left", "report"]


def test_reset_accepts_the_stage_function_and_keeps_history(store):
    pipeline = Pipeline("hist", store)

    @pipeline.stage
    def only():
        return "x"

    pipeline.run()
    name = store.list(pipeline.prefix)[0].name
    pipeline.reset(only)
    assert not store.exists(name)
    assert store.versions(name), "a logical delete keeps the committed history"


def test_new_upstream_version_makes_downstream_stale_and_rerun(store):
    calls = Calls()
    pipeline = diamond(store, calls)
    pipeline.run()
    before = pipeline.status()

    # Someone writes a new version of the `source` checkpoint (e.g. a rollback).
    source_cp = store.list(pipeline.prefix + "source/")[0]
    new = store.save(source_cp.name, 7, metadata=source_cp.metadata)
    assert new.version != source_cp.version

    status = pipeline.status()
    assert status["source"].state == COMPLETE and status["source"].version == new.version
    assert {s: status[s].state for s in ("left", "right", "join", "report")} == {
        "left": STALE, "right": STALE, "join": STALE, "report": STALE}
    assert status["left"].version == before["left"].version

    calls2 = Calls()
    assert diamond(store, calls2).run() == EXPECTED
    assert sorted(calls2.order) == ["join", "left", "report", "right"]
    after = pipeline.status()
    assert all(s.state == COMPLETE for s in after.values())
    # Superseded checkpoints were logically deleted once the new ones were committed.
    names = [cp.name for cp in store.list(pipeline.prefix)]
    assert len(names) == len(EXPECTED)
    assert before["left"].checkpoint not in names


def test_checkpoint_records_input_versions(store):
    pipeline = diamond(store, Calls())
    pipeline.run()
    status = pipeline.status()
    join = store.info(status["join"].checkpoint)
    assert join.metadata["inputs"] == {"left": status["left"].version,
                                       "right": status["right"].version}
    report = store.info(status["report"].checkpoint)
    assert report.metadata["inputs"] == {"join": status["join"].version}
    assert report.metadata["pipeline"] == "diamond" and report.metadata["run_id"] == "default"


# -- status ----------------------------------------------------------------------------------


def test_status_reports_every_stage_with_version_and_time(store):
    pipeline = diamond(store, Calls())
    assert {s: st.state for s, st in pipeline.status().items()} == dict.fromkeys(EXPECTED, PENDING)
    assert all(st.version is None and st.created_at is None for st in pipeline.status().values())

    pipeline.run()
    status = pipeline.status()
    assert list(status) == list(pipeline.stages)
    for name, st in status.items():
        assert st.state == COMPLETE and st.complete
        assert st.stage == name
        assert st.checkpoint.startswith(f"pipelines/diamond/default/{name}/")
        assert st.version == store.info(st.checkpoint).version
        assert st.created_at.tzinfo is not None
        assert st.created_at.utcoffset() == dt.timedelta(0)


# -- namespaces ------------------------------------------------------------------------------


def constant(value, calls):
    def stage():
        calls("value")
        return value

    return stage


def test_pipelines_with_other_names_or_run_ids_never_collide(store):
    outputs = {}
    counts = {}
    for name, run_id, factor in [("p", None, 1), ("p", "run-2", 2), ("q", None, 3), ("p-x", None, 4)]:
        calls = Calls()
        pipeline = Pipeline(name, store, run_id=run_id)
        pipeline.stage(constant(factor, calls), name="value")
        outputs[(name, run_id)] = pipeline.run()
        counts[(name, run_id)] = calls.counts["value"]

    assert outputs == {("p", None): {"value": 1}, ("p", "run-2"): {"value": 2},
                       ("q", None): {"value": 3}, ("p-x", None): {"value": 4}}
    assert set(counts.values()) == {1}
    prefixes = {cp.name.rsplit("/", 2)[0] for cp in store.list("pipelines/")}
    assert prefixes == {"pipelines/p/default", "pipelines/p/run-2", "pipelines/q/default",
                        "pipelines/p-x/default"}


# -- cost of the completeness check ----------------------------------------------------------


def chain(store, n, *, name="long"):
    pipeline = Pipeline(name, store)
    previous = None
    for i in range(n):
        stage_name = f"s{i:04d}"
        if previous is None:
            pipeline.stage(lambda: 0, name=stage_name)
        else:
            pipeline.stage(lambda: 1, name=stage_name, after=[previous])
        previous = stage_name
    return pipeline


def test_completeness_of_1000_stages_costs_one_list_call(store):
    counting = CountingStore(store)
    pipeline = chain(counting, 1000)
    pipeline.run()
    counting.reset_counts()

    status = pipeline.status()

    assert all(s.state == COMPLETE for s in status.values()) and len(status) == 1000
    assert counting.calls == {"list": 1}

    counting.reset_counts()
    pipeline.run()  # all skipped: one list, then only the loads of the outputs it returns
    assert counting.calls == {"list": 1, "load": 1000}


@pytest.fixture
def s3_requests(monkeypatch):
    """Count every AWS API call any botocore client makes, by operation name."""
    from botocore.client import BaseClient

    counts = collections.Counter()
    original = BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        counts[operation_name] += 1
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return counts


@pytest.fixture
def s3_store(aws_mock):
    """A platform store over a moto bucket pair (see moto_helpers.S3Pair)."""
    return S3Pair(aws_mock).store


@pytest.mark.slow
def test_completeness_on_s3_costs_at_most_three_requests(s3_store, s3_requests):
    pipeline = chain(s3_store, 1000, name="s3long")
    pipeline.run()
    other = Pipeline("neighbour", s3_store)  # another pipeline's checkpoints in the bucket
    other.stage(lambda: 1, name="x")
    other.run()
    s3_store.flush()  # history writes still in flight belong to the runs, not to status()
    s3_requests.clear()

    status = pipeline.status()

    assert all(s.state == COMPLETE for s in status.values()) and len(status) == 1000
    assert sum(s3_requests.values()) <= 3, dict(s3_requests)
    assert set(s3_requests) <= {"ListObjectsV2", "ListObjects"}, dict(s3_requests)

    s3_requests.clear()
    assert pipeline.reset("s0999") == ["s0999"]
    listing = [op for op in s3_requests.elements() if op.startswith("List")]
    assert len(listing) <= 3, dict(s3_requests)
    assert pipeline.status()["s0999"].state == PENDING


# -- declaration errors ----------------------------------------------------------------------


def test_duplicate_stage_is_refused(store):
    pipeline = Pipeline("dup", store)
    pipeline.stage(lambda: 1, name="a")
    with pytest.raises(PipelineError, match="duplicate stage 'a'"):
        pipeline.stage(lambda: 2, name="a")


def test_unknown_dependency_is_refused_before_anything_runs(store):
    ran = []
    pipeline = Pipeline("unknown", store)

    @pipeline.stage
    def a():
        ran.append("a")
        return 1

    @pipeline.stage
    def b(a, mystery):
        return a

    with pytest.raises(PipelineError, match=r"stage 'b' depends on 'mystery' \(parameter\)"):
        pipeline.run()
    assert ran == [] and store.list(pipeline.prefix) == []

    other = Pipeline("unknown-after", store)
    other.stage(lambda: 1, name="x", after=["nowhere"])
    with pytest.raises(PipelineError, match="'nowhere'"):
        other.status()


def test_cycle_is_refused_with_its_path(store):
    pipeline = Pipeline("cycle", store)
    pipeline.stage(lambda c: 1, name="a")
    pipeline.stage(lambda a: 1, name="b")
    pipeline.stage(lambda b: 1, name="c")
    pipeline.stage(lambda: 1, name="free")
    with pytest.raises(PipelineError, match="dependency cycle") as info:
        pipeline.run()
    path = str(info.value).split(": ", 1)[1].split(" -> ")
    assert path[0] == path[-1] and set(path) == {"a", "b", "c"}
    assert store.list(pipeline.prefix) == []

    with pytest.raises(PipelineError, match="depends on itself"):
        pipeline.stage(lambda: 1, name="selfish", after=["selfish"])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": "bad/name"}, InvalidName),
        ({"name": ""}, InvalidName),
        ({"name": "."}, InvalidName),
        ({"name": "ok", "run_id": "a/b"}, InvalidName),
        ({"name": "ok", "run_id": "x@1"}, InvalidName),
        ({"name": "ok", "serializer": "yaml"}, PipelineError),
    ],
)
def test_bad_pipeline_arguments_are_typed_errors(store, kwargs, error):
    name = kwargs.pop("name")
    with pytest.raises(error) as info:
        Pipeline(name, store, **kwargs)
    assert isinstance(info.value, RecoveryError) and isinstance(info.value, ValueError)


def test_bad_stage_declarations_are_typed_errors(store):
    pipeline = Pipeline("decl", store)
    with pytest.raises(InvalidName, match="stage name"):
        pipeline.stage(lambda: 1, name="has/slash")
    with pytest.raises(PipelineError, match=r"\*args"):
        pipeline.stage(lambda *args: 1, name="varargs")
    with pytest.raises(PipelineError, match="neither a stage name nor a declared stage"):
        pipeline.stage(lambda: 1, name="x", after=[object()])
    with pytest.raises(PipelineError, match="no stage 'ghost'"):
        pipeline.reset("ghost")
    assert pipeline.stages == ()


# -- serializers and logging -----------------------------------------------------------------


def test_non_json_output_is_refused_unless_pickle_is_chosen(store):
    strict = Pipeline("strict", store)
    strict.stage(lambda: {1, 2, 3}, name="numbers")
    with pytest.raises(InvalidData):
        strict.run()
    assert store.list(strict.prefix) == []

    pickled = Pipeline("pickled", store, serializer="pickle")
    pickled.stage(lambda: {1, 2, 3}, name="numbers")
    pickled.stage(lambda numbers: sorted(numbers), name="listed")
    assert pickled.run() == {"numbers": {1, 2, 3}, "listed": [1, 2, 3]}
    again = Pipeline("pickled", store, serializer="pickle")
    again.stage(lambda: pytest.fail("must be skipped"), name="numbers")
    again.stage(lambda numbers: pytest.fail("must be skipped"), name="listed")
    assert again.run() == {"numbers": {1, 2, 3}, "listed": [1, 2, 3]}


def switchable(store, calls, *, serializer=None):
    """source -> doubled, JSON-compatible outputs (so any serializer can store them)."""
    pipeline = Pipeline("switch", store, serializer=serializer)

    @pipeline.stage
    def source():
        calls("source")
        return [1, 2, 3]

    @pipeline.stage
    def doubled(source):
        calls("doubled")
        return [2 * x for x in source]

    return pipeline


OUTPUTS = {"source": [1, 2, 3], "doubled": [2, 4, 6]}


def test_switching_away_from_pickle_reruns_and_status_says_so_beforehand(store, caplog):
    """Issue 10 point 10: a pipeline switched from pickle to the default serializer cannot
    load its pickled outputs; status() must not call those stages complete, and run() runs
    them again instead of crashing."""
    calls = Calls()
    assert switchable(store, calls, serializer="pickle").run() == OUTPUTS
    assert {s: st.state for s, st in switchable(store, calls, serializer="pickle").status().items()} \
        == {"source": COMPLETE, "doubled": COMPLETE}

    switched = switchable(store, calls)
    assert {s: st.state for s, st in switched.status().items()} \
        == {"source": STALE, "doubled": STALE}
    assert switched.run() == OUTPUTS
    assert calls.counts == {"source": 2, "doubled": 2}
    assert all(st.state == COMPLETE for st in switched.status().values())
    assert switched.run() == OUTPUTS and calls.counts == {"source": 2, "doubled": 2}
    # One current checkpoint per stage: the pickled ones were superseded.
    assert len(store.list(switched.prefix)) == 2
    assert all(store.info(c.name).serializer == "json" for c in store.list(switched.prefix))


def test_switching_to_pickle_reruns_nothing(store):
    calls = Calls()
    switchable(store, calls).run()
    pickled = switchable(store, calls, serializer="pickle")
    assert all(st.state == COMPLETE for st in pickled.status().values())
    assert pickled.run() == OUTPUTS and calls.counts == {"source": 1, "doubled": 1}


def test_pickled_output_under_a_default_digest_is_rerun_not_a_crash(store, caplog):
    """A pickle pipeline older than serializer-aware digests stored pickled outputs under
    the default digests: a default pipeline's run() gets InvalidData loading them and must
    run the stage again (then status() agrees: complete)."""
    calls = Calls()
    pipeline = switchable(store, calls)
    pipeline.run()
    for checkpoint in store.list(pipeline.prefix):  # rewrite as that older pipeline did
        store.save(checkpoint.name, store.load(checkpoint.name), serializer="pickle")
    with caplog.at_level(logging.WARNING, logger="recovery_lib.pipeline"):
        assert switchable(store, calls).run() == OUTPUTS
    assert calls.counts == {"source": 2, "doubled": 2}
    assert "InvalidData" in caplog.text and "running the stage again" in caplog.text
    assert all(st.state == COMPLETE for st in switchable(store, calls).status().values())
    assert switchable(store, calls).run() == OUTPUTS and calls.counts == {"source": 2, "doubled": 2}


def test_one_info_line_per_stage_run_or_skip(store, caplog):
    pipeline = diamond(store, Calls())
    with caplog.at_level(logging.INFO, logger="recovery_lib.pipeline"):
        pipeline.run()
        pipeline.run()
    lines = [r.getMessage() for r in caplog.records
             if r.name == "recovery_lib.pipeline" and r.levelno == logging.INFO]
    assert len(lines) == 2 * len(EXPECTED)
    assert sum(" ran in " in line for line in lines) == len(EXPECTED)
    assert sum(" skipped" in line for line in lines) == len(EXPECTED)
    assert all(line.startswith("pipeline diamond/default: stage ") for line in lines)
