"""What the scale modules need from a store and a pipeline, as Protocols.

:mod:`recovery_lib.items`, :mod:`recovery_lib.shards` and :mod:`recovery_lib.async_save` are
layers *of* the store (``CheckpointStore`` mixes in :class:`~recovery_lib.scale_api.ScaleOperations`),
and :mod:`recovery_lib.pipeline_executor` runs a ``Pipeline``: importing those classes
back would make import cycles. They depend on these small interfaces instead.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, TypeVar

from . import manifest as mf
from .backends.base import Backend
from .checkpoint import Checkpoint

__all__ = ["ScaleStore", "RunnablePipeline", "PipelineStage"]

T = TypeVar("T")


class ScaleStore(Protocol):
    """The parts of ``CheckpointStore`` the scale layer builds on (commit protocol,
    verified reads, per-region calls through the circuit breakers)."""

    prefix: str
    policy: Any

    def backend(self, region: str) -> Backend: ...
    def info(self, name: str, *, version: str | None = None) -> Checkpoint: ...
    def versions(self, name: str, *, include_deleted: bool = False,
                 detail: bool = False) -> list[Checkpoint]: ...
    def save_file(self, name: str, path: Any, *, metadata: Mapping[str, Any] | None = None,
                  progress: Any = None, step: int | None = None) -> Checkpoint: ...
    def _check_writable_name(self, name: str) -> None: ...
    def _save_payload(self, name: str, payload: bytes, serializer: str,
                      meta: dict[str, Any], *, step: int | None = None) -> Checkpoint: ...
    def _commit(self, name: str, put_content: Callable[[str], Any],
                make: Callable[[str, str, Any], mf.Manifest], *, deleted: bool = False,
                rollback: bool = False) -> Checkpoint: ...
    def _blob_still_there(self, checkpoint: Checkpoint,
                          put_content: Callable[[str], object]) -> Checkpoint: ...
    def _resolve(self, name: str, version: str | None,
                 fetch: Callable[[str, mf.Manifest], T]) -> tuple[T, mf.Manifest, str]: ...
    def _download(self, region: str, key: str, sink: Any, *, expected_size: int,
                  progress: Any = None) -> None: ...
    def _call(self, region: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...
    def _current(self, name: str, failed: set[str] | None = None,
                 unavailable: list[str] | None = None
                 ) -> tuple[str | None, mf.Manifest | None, str]: ...


class PipelineStage(Protocol):
    name: str
    func: Callable[..., Any]
    params: tuple[str, ...]

    @property
    def inputs(self) -> tuple[str, ...]: ...


class RunnablePipeline(Protocol):
    """The parts of ``Pipeline`` an executor run uses (layout, skip rules, the store)."""

    name: str
    run_id: str
    store: Any
    serializer: str | None

    def _order(self) -> list[Any]: ...
    def _listing(self) -> dict[str, dict[str, Any]]: ...
    def _match(self, stage: Any, versions: Mapping[str, str],
               existing: Mapping[str, Any]) -> tuple[str, Any]: ...
    def checkpoint_name(self, stage: str, digest: str) -> str: ...
    def _delete(self, name: str) -> None: ...
