"""The store's scale operations: multi-item, sharded and asynchronous saves.

:class:`ScaleOperations` is a layer of :class:`~recovery_lib.store.CheckpointStore`; each
method delegates to the module that holds the concept:

- :mod:`recovery_lib.items`: ``save_items``, ``load_items``, ``load_item``, ``item_index``,
  ``save_dir``, ``load_dir``;
- :mod:`recovery_lib.shards`: ``save_shard``, ``commit_shards``, ``load_shard``;
- :mod:`recovery_lib.async_save`: ``save_async``, ``save_file_async``,
  ``save_items_async``, ``wait`` (one background saver per store, made on first use).
"""
from __future__ import annotations

import concurrent.futures
import os
import threading
from typing import Any, Mapping

from . import items as items_mod
from . import shards
from .async_save import AsyncSaver
from .checkpoint import Checkpoint

__all__ = ["ScaleOperations"]

_saver_lock = threading.Lock()


class ScaleOperations:
    """Multi-item, sharded and asynchronous checkpoints (mixed into CheckpointStore)."""

    # -- multi-item checkpoints ------------------------------------------------------------
    def save_items(self, name: str, items: Mapping[str, Any], *, step: int | None = None,
                   metadata: Mapping[str, Any] | None = None) -> Checkpoint:
        """Save named items (files as ``Path``, bytes, numpy arrays, dicts of arrays, JSON
        values) as ONE new version of ``name``, committed by one manifest."""
        return items_mod.save_items(self, name, items, step=step, metadata=metadata)  # type: ignore[arg-type]

    def load_items(self, name: str, names: list[str] | None = None, *,
                   version: str | None = None,
                   expect: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Items of ``name`` (all, or only ``names``: only those are read), verified."""
        return items_mod.load_items(self, name, names, version=version, expect=expect)  # type: ignore[arg-type]

    def load_item(self, name: str, item: str, dest: str | os.PathLike[str] | None = None, *,
                  version: str | None = None, expect: Any = None) -> Any:
        """One item's value, or (``dest``) its bytes written atomically to that file."""
        return items_mod.load_item(self, name, item, dest, version=version, expect=expect)  # type: ignore[arg-type]

    def item_index(self, name: str, *, version: str | None = None) -> dict[str, Any]:
        """The item index of a multi-item checkpoint (names, sizes, hashes, array specs)."""
        return items_mod.item_index(self, name, version=version)  # type: ignore[arg-type]

    def save_dir(self, name: str, directory: str | os.PathLike[str], *,
                 step: int | None = None, metadata: Mapping[str, Any] | None = None) -> Checkpoint:
        """Save a directory's regular files as one version (items keyed by relative path)."""
        return items_mod.save_dir(self, name, directory, step=step, metadata=metadata)  # type: ignore[arg-type]

    def load_dir(self, name: str, dest: str | os.PathLike[str], *,
                 version: str | None = None) -> Checkpoint:
        """Restore a :meth:`save_dir` checkpoint as the new directory ``dest``, atomically."""
        return items_mod.load_dir(self, name, dest, version=version)  # type: ignore[arg-type]

    # -- sharded checkpoints -----------------------------------------------------------------
    def save_shard(self, name: str, step: int, rank: int, data: Any, *,
                   source_check: str = "stat") -> dict[str, Any]:
        """Write ``rank``'s shard of ``step`` (committed by :meth:`commit_shards`; for a
        file, ``source_check`` is ``"stat"`` or ``"hash"``, see :mod:`recovery_lib.shards`)."""
        return shards.save_shard(self, name, step, rank, data,  # type: ignore[arg-type]
                                 source_check=source_check)

    def commit_shards(self, name: str, step: int, world_size: int, *,
                      metadata: Mapping[str, Any] | None = None,
                      verify: str = "size", records: Any = None) -> Checkpoint:
        """Commit ``step`` once all ``world_size`` shards are present and verified
        (``verify``: ``"size"`` or ``"sha256"``; ``records``: the ranks' ``save_shard``
        results, gathered by the job; see :mod:`recovery_lib.shards`)."""
        return shards.commit_shards(self, name, step, world_size, metadata=metadata,  # type: ignore[arg-type]
                                    verify=verify, records=records)

    def load_shard(self, name: str, rank: int, dest: Any = None, *, step: int | None = None,
                   version: str | None = None, expect: Any = None) -> Any:
        """``rank``'s shard of the current (or ``step``'s, or ``version``'s) checkpoint."""
        return shards.load_shard(self, name, rank, dest, step=step, version=version,  # type: ignore[arg-type]
                                 expect=expect)

    # -- asynchronous saves --------------------------------------------------------------------
    @property
    def async_saver(self) -> AsyncSaver:
        """This store's background saver (created on first use)."""
        saver = self.__dict__.get("_async_saver")
        if saver is None:
            with _saver_lock:
                saver = self.__dict__.get("_async_saver")
                if saver is None:
                    saver = self.__dict__["_async_saver"] = AsyncSaver(self)  # type: ignore[arg-type]
        return saver

    def save_async(self, name: str, data: Any, *, metadata: Mapping[str, Any] | None = None,
                   serializer: str | None = None, step: int | None = None
                   ) -> "concurrent.futures.Future[Checkpoint]":
        """:meth:`save` in the background; returns once ``data`` is serialized."""
        return self.async_saver.save(name, data, metadata=metadata, serializer=serializer,
                                     step=step)

    def save_file_async(self, name: str, path: str | os.PathLike[str], *,
                        metadata: Mapping[str, Any] | None = None, step: int | None = None
                        ) -> "concurrent.futures.Future[Checkpoint]":
        """:meth:`save_file` in the background; returns once the file is copied aside."""
        return self.async_saver.save_file(name, path, metadata=metadata, step=step)

    def save_items_async(self, name: str, items: Mapping[str, Any], *,
                         step: int | None = None, metadata: Mapping[str, Any] | None = None
                         ) -> "concurrent.futures.Future[Checkpoint]":
        """:meth:`save_items` in the background; returns once every item is snapshotted."""
        return self.async_saver.save_items(name, items, step=step, metadata=metadata)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every async save queued so far is committed; raise the first
        failure not yet reported (AsyncSaveFailed)."""
        saver = self.__dict__.get("_async_saver")
        if saver is not None:
            saver.wait(timeout)
