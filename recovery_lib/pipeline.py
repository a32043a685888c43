"""Pipelines of checkpointed stages that resume where a crash left them.

A :class:`Pipeline` is a DAG of stages (plain functions). Each stage's output is saved
through a :class:`~recovery_lib.store.CheckpointStore`; ``run()`` skips every stage that
already has a checkpoint valid for its current inputs and runs the rest in dependency
order, so a run killed at any point resumes at the first incomplete stage.

Layout in the store (one namespace per pipeline and run, so they never collide)::

    pipelines/{pipeline}/{run_id}/{stage}/{inputs_digest}

``inputs_digest`` is the first 16 hex digits of the SHA-256 of the sorted list of
``(upstream stage, upstream checkpoint version)`` pairs of the stage's direct inputs
(parameter dependencies and ``after`` dependencies alike). A root stage has a constant
digest. A ``serializer="pickle"`` pipeline adds its serializer to the hashed list, so its
checkpoints live under other names than a default pipeline's (see "Serializers" below).
The stage's checkpoint also records its inputs' versions in its metadata.

Why the digest is in the name: deciding which stages are complete then needs ONE
``store.list(prefix)`` of the run's namespace, whatever the number of stages. The list
gives, for every checkpoint name, its current version. Walking the stages in dependency
order, a stage is *complete* when a checkpoint exists under the digest computed from the
versions of its (complete) upstream stages; its own version then feeds the digests of
its downstream stages. No per-stage HEAD or GET is needed, so invalidation costs nothing
to detect:

- An upstream stage that runs again writes a new version, which changes the digest
  expected downstream: the old downstream checkpoints no longer match and are *stale*.
  This cascades, because each re-run stage writes a new version in turn.
- ``reset(stage)`` logically deletes (``store.delete``) the checkpoints of that stage and
  of everything downstream; history stays where the backend keeps it.
- After a stage has committed a new checkpoint, its superseded checkpoints (other digests)
  are logically deleted, so ``store.list`` shows one current checkpoint per stage. Nothing
  is deleted before the new checkpoint is committed.

Cost: ``status()`` and the planning part of ``run()`` are one ``store.list`` (one paginated
LIST of the namespace's manifests: a fresh 1,000-stage run fits one S3 page). History is
kept, so every re-run stage adds a manifest and every logical delete a tombstone to that
listing; a run id that is re-run very often grows by one page per ~1,000 such writes. A
fresh ``run_id`` starts an empty namespace. ``run()`` then loads the output of each
skipped stage (one GET each, pinned to the listed version) because it returns them all.

Stage states reported by ``status()``: ``complete`` (a checkpoint matches the current
inputs), ``stale`` (a checkpoint exists but for other inputs, or an upstream stage is not
complete), ``pending`` (no checkpoint).

Serializers: outputs are saved with the store's default serializer (JSON-compatible
values or ``bytes``); ``Pipeline(..., serializer="pickle")`` opts into pickle, and only
then are outputs loaded with ``allow_pickle=True``. Because a pickle pipeline's digests
cover its serializer, a default pipeline never takes a pickled output for one it may
load: after switching a pipeline away from pickle, ``status()`` reports its stages
``stale`` and ``run()`` runs them again. A pickle pipeline can load anything, so it also
accepts a checkpoint under the default digest (one written by a default pipeline, or by a
pickle pipeline before digests covered the serializer): switching *to* pickle re-runs
nothing. A stage that runs passes its return value to its downstream stages as is; a
skipped stage passes the value loaded from its checkpoint, so return JSON-native types
(lists, not tuples) to see identical values either way.

A stage that raises leaves no checkpoint; the exception propagates and earlier stages stay
committed. A skipped stage whose checkpoint cannot be loaded (missing or failing
verification everywhere, or pickled while this pipeline does not allow pickle) is logged
and run again. ``status()`` reads no content, so it cannot foresee the first two (found
only by loading), nor a pickled output stored under a default digest by a pickle pipeline
older than serializer-aware digests; ``run()`` re-runs such a stage and ``status()``
agrees from then on.

Example::

    pipeline = Pipeline("train", CheckpointStore.local("ckpt"))

    @pipeline.stage
    def data():
        return [1, 2, 3]

    @pipeline.stage
    def model(data):              # receives the output of stage "data"
        return {"weights": sum(data)}

    @pipeline.stage(after=["model"])
    def report():
        return "done"

    outputs = pipeline.run()      # {"data": [...], "model": {...}, "report": "done"}
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from recovery_lib.errors import CheckpointNotFound, IntegrityError, InvalidData
from recovery_lib.pipeline_stages import (
    COMPLETE,
    PENDING,
    STALE,
    PipelineError,
    Stage,
    StageStatus,
    check_segment,
    dependency_order,
    stage_digest,
)

__all__ = ["Pipeline", "PipelineError", "StageStatus", "COMPLETE", "PENDING", "STALE"]

logger = logging.getLogger(__name__)

NAMESPACE = "pipelines"
DEFAULT_RUN_ID = "default"
_SERIALIZERS = (None, "pickle")


class Pipeline:
    """A DAG of checkpointed stages stored under ``pipelines/{name}/{run_id}/``.

    ``serializer`` is ``None`` (the store's default: JSON-compatible values or bytes) or
    ``"pickle"`` (explicit opt-in; outputs are then loaded with ``allow_pickle=True``).
    """

    def __init__(
        self,
        name: str,
        store: Any,
        *,
        run_id: str | None = None,
        serializer: str | None = None,
    ) -> None:
        self.name = check_segment("pipeline name", name)
        self.run_id = check_segment("run id", DEFAULT_RUN_ID if run_id is None else run_id)
        if serializer not in _SERIALIZERS:
            raise PipelineError(
                f"unknown serializer {serializer!r} for pipeline {name!r}: "
                "use None (JSON or bytes) or 'pickle'"
            )
        self.store = store
        self.serializer = serializer
        self._stages: dict[str, Stage] = {}
        self._names_by_func: dict[Callable[..., Any], str] = {}
        self._order_cache: list[Stage] | None = None

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, run_id={self.run_id!r}, stages={list(self._stages)})"

    @property
    def prefix(self) -> str:
        """The store prefix holding every checkpoint of this pipeline run."""
        return f"{NAMESPACE}/{self.name}/{self.run_id}/"

    @property
    def stages(self) -> tuple[str, ...]:
        """Stage names in dependency order (declaration order among independent stages)."""
        return tuple(stage.name for stage in self._order())

    # -- declaration ---------------------------------------------------------------------

    def stage(
        self,
        func: Callable[..., Any] | str | None = None,
        *,
        name: str | None = None,
        after: Iterable[str | Callable[..., Any]] | str = (),
    ) -> Any:
        """Declare a stage: ``@pipeline.stage``, ``@pipeline.stage(after=[...])`` or
        ``@pipeline.stage(name="...")``. Returns the function unchanged.

        Each parameter of the function names an upstream stage and receives its output;
        ``after`` names upstream stages that must complete first without passing outputs.
        """
        if isinstance(func, str):
            if name is not None:
                raise PipelineError(f"stage name given twice: {func!r} and name={name!r}")
            func, name = None, func
        if func is not None:
            return self._add(func, name=name, after=after)

        def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
            return self._add(f, name=name, after=after)

        return decorator

    def _add(
        self,
        func: Callable[..., Any],
        *,
        name: str | None,
        after: Iterable[str | Callable[..., Any]] | str,
    ) -> Callable[..., Any]:
        if not callable(func):
            raise PipelineError(f"a stage must be callable, got {func!r}")
        stage_name = check_segment("stage name", name if name is not None else func.__name__)
        if stage_name in self._stages:
            raise PipelineError(
                f"duplicate stage {stage_name!r} in pipeline {self.name!r}: "
                "stage names must be unique (pass name=... to rename one)"
            )
        params = self._params(stage_name, func)
        if isinstance(after, str):
            after = [after]
        after_names = tuple(self._stage_name(dep, what=f"'after' of stage {stage_name!r}")
                            for dep in after)
        if stage_name in params or stage_name in after_names:
            raise PipelineError(f"stage {stage_name!r} depends on itself")
        self._stages[stage_name] = Stage(stage_name, func, params, after_names)
        self._names_by_func.setdefault(func, stage_name)
        self._order_cache = None
        return func

    @staticmethod
    def _params(stage_name: str, func: Callable[..., Any]) -> tuple[str, ...]:
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            raise PipelineError(f"cannot read the signature of stage {stage_name!r}: {exc}") from exc
        params = []
        for param in signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise PipelineError(
                    f"stage {stage_name!r} has parameter {param}: each parameter must be a "
                    "plain named parameter naming the upstream stage whose output it receives"
                )
            params.append(param.name)
        return tuple(params)

    def _stage_name(self, ref: str | Callable[..., Any], *, what: str) -> str:
        if isinstance(ref, str):
            return ref
        if callable(ref) and ref in self._names_by_func:
            return self._names_by_func[ref]
        raise PipelineError(f"{what}: {ref!r} is neither a stage name nor a declared stage")

    # -- graph -----------------------------------------------------------------------------

    def _order(self) -> list[Stage]:
        """Stages in dependency order; validates unknown dependencies and cycles."""
        if self._order_cache is None:
            self._order_cache = dependency_order(self._stages, self.name)
        return self._order_cache


    def _downstream(self, name: str) -> list[str]:
        """``name`` and every stage that depends on it, directly or not, in order."""
        affected = {name}
        result = []
        for stage in self._order():
            if stage.name == name or affected.intersection(stage.inputs):
                affected.add(stage.name)
                result.append(stage.name)
        return result

    # -- store layout ------------------------------------------------------------------------

    def checkpoint_name(self, stage: str, digest: str) -> str:
        return f"{self.prefix}{stage}/{digest}"

    def _match(self, stage: Stage, versions: Mapping[str, str],
               existing: Mapping[str, Any]) -> tuple[str, Any]:
        """``(digest to save under, checkpoint valid for the current inputs or None)``.

        A default pipeline accepts only the plain digest. A pickle pipeline saves under its
        serializer digest and also accepts the plain one: it can load JSON, bytes and
        pickle alike."""
        plain = stage_digest(stage, versions)
        if self.serializer is None:
            return plain, existing.get(plain)
        own = stage_digest(stage, versions, serializer=self.serializer)
        found = existing.get(own)
        return own, found if found is not None else existing.get(plain)

    def _listing(self) -> dict[str, dict[str, Any]]:
        """``{stage: {digest: Checkpoint}}`` from ONE ``store.list`` of the namespace."""
        listing: dict[str, dict[str, Any]] = {}
        for checkpoint in self.store.list(self.prefix):
            parts = checkpoint.name[len(self.prefix):].split("/")
            if len(parts) == 2 and parts[0] in self._stages:
                listing.setdefault(parts[0], {})[parts[1]] = checkpoint
        return listing

    # -- operations --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run the pipeline; returns every stage's output by stage name.

        Stages with a checkpoint valid for their current inputs are skipped and their
        output loaded; the others run in dependency order and are checkpointed one by one.
        """
        order = self._order()
        listing = self._listing()
        outputs: dict[str, Any] = {}
        versions: dict[str, str] = {}
        for stage in order:
            existing = listing.get(stage.name, {})
            digest, checkpoint = self._match(stage, versions, existing)
            if checkpoint is not None:
                try:
                    outputs[stage.name] = self.store.load(
                        checkpoint.name,
                        version=checkpoint.version,
                        allow_pickle=self.serializer == "pickle",
                    )
                except (CheckpointNotFound, IntegrityError, InvalidData) as exc:
                    logger.warning(
                        "pipeline %s/%s: checkpoint of stage %s (version %s) cannot be loaded "
                        "(%s: %s); running the stage again",
                        self.name, self.run_id, stage.name, checkpoint.version,
                        type(exc).__name__, exc,
                    )
                else:
                    versions[stage.name] = checkpoint.version
                    logger.info(
                        "pipeline %s/%s: stage %s skipped, checkpoint version %s",
                        self.name, self.run_id, stage.name, checkpoint.version,
                    )
                    continue
            outputs[stage.name], versions[stage.name] = self._execute(
                stage, digest, outputs, versions, existing
            )
        return outputs

    def _execute(
        self,
        stage: Stage,
        digest: str,
        outputs: Mapping[str, Any],
        versions: Mapping[str, str],
        existing: Mapping[str, Any],
    ) -> tuple[Any, str]:
        logger.debug("pipeline %s/%s: stage %s starting", self.name, self.run_id, stage.name)
        started = time.monotonic()
        try:
            result = stage.func(**{param: outputs[param] for param in stage.params})
        except BaseException as exc:
            logger.error(
                "pipeline %s/%s: stage %s failed after %.3f s (%s); no checkpoint written",
                self.name, self.run_id, stage.name, time.monotonic() - started,
                type(exc).__name__,
            )
            raise
        duration = time.monotonic() - started
        metadata = {
            "pipeline": self.name,
            "run_id": self.run_id,
            "stage": stage.name,
            "inputs": {dep: versions[dep] for dep in stage.inputs},
            "inputs_digest": digest,
            "duration_seconds": round(duration, 6),
        }
        checkpoint = self.store.save(
            self.checkpoint_name(stage.name, digest),
            result,
            metadata=metadata,
            serializer=self.serializer,
        )
        # The new checkpoint is committed: superseded ones (other inputs) can go.
        for old in existing.values():
            if old.name != checkpoint.name:
                self._delete(old.name)
        logger.info(
            "pipeline %s/%s: stage %s ran in %.3f s, checkpoint version %s",
            self.name, self.run_id, stage.name, duration, checkpoint.version,
        )
        return result, checkpoint.version

    def status(self) -> dict[str, StageStatus]:
        """Every stage's state, in dependency order, from ONE ``store.list``."""
        listing = self._listing()
        versions: dict[str, str] = {}
        report: dict[str, StageStatus] = {}
        for stage in self._order():
            existing = listing.get(stage.name, {})
            checkpoint = None
            if all(dep in versions for dep in stage.inputs):
                checkpoint = self._match(stage, versions, existing)[1]
            if checkpoint is not None:
                versions[stage.name] = checkpoint.version
                state = COMPLETE
            elif existing:
                checkpoint = max(existing.values(), key=lambda cp: (cp.created_at, cp.version))
                state = STALE
            else:
                state = PENDING
            report[stage.name] = StageStatus(
                stage=stage.name,
                state=state,
                version=checkpoint.version if checkpoint else None,
                created_at=checkpoint.created_at if checkpoint else None,
                checkpoint=checkpoint.name if checkpoint else None,
            )
        return report

    def reset(self, stage: str | Callable[..., Any]) -> list[str]:
        """Invalidate ``stage`` and everything downstream of it (logical deletes through
        the store). Returns the names of the invalidated stages, in dependency order."""
        name = self._stage_name(stage, what="reset")
        if name not in self._stages:
            raise PipelineError(
                f"no stage {name!r} in pipeline {self.name!r}; stages: {', '.join(self._stages)}"
            )
        affected = self._downstream(name)
        listing = self._listing()
        for stage_name in affected:
            for checkpoint in listing.get(stage_name, {}).values():
                self._delete(checkpoint.name)
        logger.info(
            "pipeline %s/%s: reset %s", self.name, self.run_id, ", ".join(affected)
        )
        return affected

    def _delete(self, name: str) -> None:
        try:
            self.store.delete(name)
        except CheckpointNotFound:
            logger.debug("checkpoint %s was already deleted", name)

    def clear(self) -> None:
        """Invalidate every stage of this pipeline run (a logical delete of its namespace)."""
        self.store.clear(self.prefix)
        logger.info("pipeline %s/%s: all stage checkpoints cleared", self.name, self.run_id)
