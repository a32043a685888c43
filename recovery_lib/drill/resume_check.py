"""The drill's pipeline check: a run interrupted before the outage resumes after it.

Before the fault a three-stage pipeline runs and "crashes" in its last stage, so its first
two stages are committed (and, once replicated, DR-safe). After the failover the same
pipeline runs again through the same store, now served by the secondary: it must skip the
two committed stages, loading their outputs from the secondary, and run only the last one.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from recovery_lib.errors import RecoveryError
from recovery_lib.pipeline import Pipeline


class SimulatedCrash(RuntimeError):
    """Raised by the last stage before the fault, as a job killed mid-run would stop."""


class ResumeCheckFailed(RecoveryError):
    pass


class _DropSimulatedCrash(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "SimulatedCrash" not in record.getMessage()


class ResumeCheck:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.calls: Counter[str] = Counter()
        self.crash = True

    def pipeline(self, store: Any) -> Pipeline:
        pipeline = Pipeline("drill-resume", store, run_id=self.run_id)

        @pipeline.stage
        def features() -> list[int]:
            self.calls["features"] += 1
            return list(range(32))

        @pipeline.stage
        def model(features: list[int]) -> dict[str, Any]:
            self.calls["model"] += 1
            return {"weights": [x * 0.5 for x in features], "epochs": 3}

        @pipeline.stage
        def evaluate(model: dict[str, Any]) -> dict[str, Any]:
            self.calls["evaluate"] += 1
            if self.crash:
                raise SimulatedCrash("job stopped before its last stage")
            return {"score": sum(model["weights"]) / len(model["weights"])}

        return pipeline

    def prepare(self, store: Any) -> list[str]:
        """Run until the simulated crash; return the names of the committed stage checkpoints."""
        pipeline = self.pipeline(store)
        pipeline_logger = logging.getLogger("recovery_lib.pipeline")
        quiet = _DropSimulatedCrash()
        pipeline_logger.addFilter(quiet)  # the crash is staged: no ERROR line for it
        try:
            pipeline.run()
            raise ResumeCheckFailed("the pipeline was expected to stop at its last stage")
        except SimulatedCrash:
            pass
        finally:
            pipeline_logger.removeFilter(quiet)
        committed = [s.checkpoint for s in pipeline.status().values() if s.complete and s.checkpoint]
        if len(committed) != 2:
            raise ResumeCheckFailed(f"expected the first two stages committed before the fault, found {committed}")
        return committed

    def resume(self, store: Any, restored: Any = None) -> dict[str, Any]:
        """Run again after the failover; the committed stages must be skipped."""
        self.crash = False
        before = dict(self.calls)
        outputs = self.pipeline(store).run()
        ran = {stage: self.calls[stage] - before.get(stage, 0) for stage in ("features", "model", "evaluate")}
        if ran != {"features": 0, "model": 0, "evaluate": 1}:
            raise ResumeCheckFailed(f"after failover the pipeline re-ran committed stages: {ran}")
        return {"skipped": ["features", "model"], "ran": ["evaluate"], "score": outputs["evaluate"]["score"]}
