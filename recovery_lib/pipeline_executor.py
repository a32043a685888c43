"""Running a :class:`~recovery_lib.pipeline.Pipeline` on any ``concurrent.futures.Executor``.

``Pipeline.run(executor=...)`` (this module's :func:`run_with_executor`) keeps the
sequential run's store layout and skip rules, and changes only *where* and *when* stage
functions run:

- a stage is submitted to the executor as soon as every stage it depends on is complete,
  so independent stages run in parallel (a ``ThreadPoolExecutor``, a
  ``ProcessPoolExecutor``, or a cluster: ``dask.distributed.Client.get_executor()``);
- the driver (the process calling ``run``) stays the only writer: it loads the outputs of
  skipped stages, sends each stage its inputs, and checkpoints each result the moment it
  comes back, so the store is the shared state and a run killed at any point (driver or
  worker) resumes at the first incomplete stages;
- a stage that fails (an exception, or its worker died, e.g. Dask's ``KilledWorker``)
  stops only the stages that depend on it, directly or not; independent stages still run
  and commit. When the executor has nothing left to run, :class:`StagesFailed` is raised
  naming the failed and the blocked stages (``__cause__``: the first failure), with every
  output that was produced.

Stage functions and their inputs/outputs must be picklable for process executors (Dask
uses cloudpickle, so closures and lambdas work there; ``ProcessPoolExecutor`` needs
module-level functions).
"""
from __future__ import annotations

import concurrent.futures
import logging
import secrets
import time
from typing import Any, Callable, Mapping

from .errors import CheckpointNotFound, IntegrityError, InvalidData, StagesFailed
from .scale_protocols import PipelineStage, RunnablePipeline

__all__ = ["run_with_executor", "StagesFailed"]

logger = logging.getLogger(__name__)


def call_stage(func: Callable[..., Any], kwargs: Mapping[str, Any], attempt: str = ""
               ) -> tuple[Any, float]:
    """Run one stage function (in an executor's worker): ``(result, seconds)``.

    ``attempt`` is unused by the call; it makes every submission distinct. Dask's
    ``Client.submit`` (which its executor calls) treats functions as pure by default
    ("pure : bool (defaults to True)", distributed.Client.submit,
    https://distributed.dask.org/en/stable/api.html#distributed.Client.submit) and keys a
    task by its function and arguments: a stage run again with the same inputs (after its
    worker died) would get the failed task back instead of running."""
    started = time.monotonic()
    result = func(**kwargs)
    return result, time.monotonic() - started


def run_with_executor(pipeline: RunnablePipeline, executor: concurrent.futures.Executor
                      ) -> dict[str, Any]:
    """Run ``pipeline`` with its stage functions on ``executor``; see the module docstring."""
    order = pipeline._order()
    listing = pipeline._listing()
    outputs: dict[str, Any] = {}
    versions: dict[str, str] = {}
    waiting: dict[str, PipelineStage] = {stage.name: stage for stage in order}
    running: dict[concurrent.futures.Future[Any], tuple[PipelineStage, str, Mapping[str, Any]]] = {}
    failed: dict[str, BaseException] = {}
    blocked: list[str] = []
    tag = f"pipeline {pipeline.name}/{pipeline.run_id}"
    try:
        while True:
            _schedule(pipeline, executor, order, listing, waiting, running, outputs, versions,
                      failed, blocked)
            if not running:
                break
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                stage, digest, existing = running.pop(future)
                try:
                    result, duration = future.result()
                except BaseException as exc:  # the stage's own error, or its worker died
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    failed[stage.name] = exc
                    logger.error("%s: stage %s failed (%s: %s); no checkpoint written, its "
                                 "dependants will not run", tag, stage.name,
                                 type(exc).__name__, exc)
                    continue
                versions[stage.name] = _commit(pipeline, stage, digest, result, duration,
                                               versions, existing)
                outputs[stage.name] = result
    except BaseException:
        for future in running:
            future.cancel()
        raise
    if failed:
        first = next(iter(failed.values()))
        raise StagesFailed(
            f"{tag}: stage(s) {sorted(failed)} failed"
            + (f"; not run because they depend on a failed stage: {blocked}" if blocked else "")
            + f"; completed stages are checkpointed and the next run resumes "
            f"(first failure: {type(first).__name__}: {first})",
            failed, blocked, outputs) from first
    return outputs


def _schedule(pipeline: RunnablePipeline, executor: concurrent.futures.Executor, order: list[PipelineStage],
              listing: Mapping[str, Mapping[str, Any]], waiting: dict[str, PipelineStage],
              running: dict[Any, Any], outputs: dict[str, Any], versions: dict[str, str],
              failed: Mapping[str, BaseException], blocked: list[str]) -> None:
    """Skip (load) or submit every waiting stage whose inputs are all complete; block the
    stages downstream of a failure. Loops until nothing changes (a skipped stage may
    unlock the next)."""
    changed = True
    while changed:
        changed = False
        for stage in order:
            if stage.name not in waiting:
                continue
            if any(dep in failed or dep in blocked for dep in stage.inputs):
                del waiting[stage.name]
                blocked.append(stage.name)
                changed = True
                continue
            if not all(dep in versions for dep in stage.inputs):
                continue
            del waiting[stage.name]
            changed = True
            existing = listing.get(stage.name, {})
            digest, checkpoint = pipeline._match(stage, versions, existing)
            if checkpoint is not None and _load(pipeline, stage, checkpoint, outputs):
                versions[stage.name] = checkpoint.version
                continue
            kwargs = {param: outputs[param] for param in stage.params}
            future = executor.submit(call_stage, stage.func, kwargs, secrets.token_hex(8))
            running[future] = (stage, digest, existing)
            logger.debug("pipeline %s/%s: stage %s submitted", pipeline.name, pipeline.run_id,
                         stage.name)


def _load(pipeline: RunnablePipeline, stage: PipelineStage, checkpoint: Any, outputs: dict[str, Any]) -> bool:
    try:
        outputs[stage.name] = pipeline.store.load(
            checkpoint.name, version=checkpoint.version,
            allow_pickle=pipeline.serializer == "pickle")
    except (CheckpointNotFound, IntegrityError, InvalidData) as exc:
        logger.warning("pipeline %s/%s: checkpoint of stage %s (version %s) cannot be loaded "
                       "(%s: %s); running the stage again", pipeline.name, pipeline.run_id,
                       stage.name, checkpoint.version, type(exc).__name__, exc)
        return False
    logger.info("pipeline %s/%s: stage %s skipped, checkpoint version %s", pipeline.name,
                pipeline.run_id, stage.name, checkpoint.version)
    return True


def _commit(pipeline: RunnablePipeline, stage: PipelineStage, digest: str, result: Any, duration: float,
            versions: Mapping[str, str], existing: Mapping[str, Any]) -> str:
    """Checkpoint a stage's result exactly as a sequential run does."""
    metadata = {
        "pipeline": pipeline.name,
        "run_id": pipeline.run_id,
        "stage": stage.name,
        "inputs": {dep: versions[dep] for dep in stage.inputs},
        "inputs_digest": digest,
        "duration_seconds": round(duration, 6),
    }
    checkpoint = pipeline.store.save(pipeline.checkpoint_name(stage.name, digest), result,
                                     metadata=metadata, serializer=pipeline.serializer)
    for old in existing.values():  # the new checkpoint is committed: superseded ones go
        if old.name != checkpoint.name:
            pipeline._delete(old.name)
    logger.info("pipeline %s/%s: stage %s ran in %.3f s, checkpoint version %s", pipeline.name,
                pipeline.run_id, stage.name, duration, checkpoint.version)
    return checkpoint.version
