"""Asynchronous saves: the caller waits for a snapshot, not for the upload.

``save_async`` / ``save_file_async`` / ``save_items_async`` return a
``concurrent.futures.Future`` of the committed :class:`~recovery_lib.checkpoint.Checkpoint`.
Before the call returns, the data is *snapshotted*: serialized to bytes (values, arrays),
or copied to a temporary file (``save_file_async`` and file items; ``shutil.copyfile``,
which uses the kernel's in-kernel copy on Linux), so the caller may change or delete its
data right away. Hashing, upload and commit happen on background threads.

Guarantees:

- commits of one name happen in call order (each waits for the previous save of that
  name, whether it succeeded or not); different names upload concurrently;
- a failure is set on the future AND raised, once, by the next ``save_*_async`` call or
  ``wait()`` of the same saver, as :class:`AsyncSaveFailed` naming the checkpoint (its
  ``__cause__`` is the original error): an unobserved future cannot hide a lost save;
- bad input (name, metadata, serializer, a missing file) is refused synchronously with
  the usual typed error, before anything is queued;
- ``wait()`` blocks until everything queued so far is committed (or failed);
- at interpreter exit, pending saves are flushed before the thread pools shut down (a
  WARNING says how many); a save that fails then is logged at ERROR and warned about
  (``RuntimeWarning``), never dropped silently. The flush hooks into ``threading``'s
  pre-shutdown callbacks, which run before ``concurrent.futures`` (and so s3transfer)
  stops accepting work; plain ``atexit`` handlers would run too late for S3 uploads.

This is the pattern PyTorch DCP's ``async_save`` and Orbax's ``AsyncCheckpointer`` use:
block for the copy, commit in the background, surface errors on the next save.
"""
from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread  # noqa: F401  (its exit hook must be registered before ours)
import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

from . import items as items_mod
from . import serialization
from .checkpoint import Checkpoint
from .errors import AsyncSaveFailed, InvalidData
from .manifest import validate_step
from .scale_protocols import ScaleStore

__all__ = ["AsyncSaver", "AsyncSaveFailed"]

logger = logging.getLogger(__name__)

_savers: "set[AsyncSaver]" = set()
_savers_lock = threading.Lock()
_hook_installed = False


def _flush_all_at_exit() -> None:
    with _savers_lock:
        savers = list(_savers)
    for saver in savers:
        saver._flush_at_exit()


def _install_exit_hook() -> None:
    global _hook_installed
    with _savers_lock:
        if _hook_installed:
            return
        _hook_installed = True
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - CPython >= 3.9 has it
        import atexit

        atexit.register(_flush_all_at_exit)
    else:
        # threading runs these callbacks in reverse order of registration, before it joins
        # threads: ours (registered after concurrent.futures') runs while pools still work
        register(_flush_all_at_exit)


class AsyncSaver:
    """Background saves into ``store`` (one per store: ``store.save_async`` uses it)."""

    def __init__(self, store: ScaleStore, *, max_workers: int = 4,
                 snapshot_dir: str | os.PathLike[str] | None = None) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise InvalidData(f"max_workers must be an int >= 1, got {max_workers!r}")
        self.store = store
        self.snapshot_dir = None if snapshot_dir is None else Path(snapshot_dir)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="recovery-async-save")
        self._lock = threading.Lock()
        self._last: dict[str, concurrent.futures.Future[Checkpoint]] = {}
        self._pending: set[concurrent.futures.Future[Checkpoint]] = set()
        self._failures: list[tuple[str, BaseException]] = []
        _install_exit_hook()
        with _savers_lock:
            _savers.add(self)

    # -- the calls ---------------------------------------------------------------------
    def save(self, name: str, data: Any, *, metadata: Mapping[str, Any] | None = None,
             serializer: str | None = None, step: int | None = None
             ) -> "concurrent.futures.Future[Checkpoint]":
        """Like ``store.save``; returns once ``data`` is serialized (the snapshot)."""
        self._raise_failure()
        self.store._check_writable_name(name)
        validate_step(step)
        meta = serialization.check_metadata(metadata)
        payload, used = serialization.dumps(data, serializer)
        return self._submit(name, lambda: self.store._save_payload(name, payload, used, meta,
                                                                   step=step))

    def save_file(self, name: str, path: str | os.PathLike[str], *,
                  metadata: Mapping[str, Any] | None = None, step: int | None = None
                  ) -> "concurrent.futures.Future[Checkpoint]":
        """Like ``store.save_file``; returns once the file is copied to a temporary file."""
        self._raise_failure()
        self.store._check_writable_name(name)
        validate_step(step)
        meta = serialization.check_metadata(metadata)
        snapshot = self._snapshot_file(Path(path), what=f"save_file_async({name!r})")

        def job() -> Checkpoint:
            try:
                return self.store.save_file(name, snapshot, metadata=meta, step=step)
            finally:
                snapshot.unlink(missing_ok=True)

        return self._submit(name, job, cleanup=lambda: snapshot.unlink(missing_ok=True))

    def save_items(self, name: str, items: Mapping[str, Any], *, step: int | None = None,
                   metadata: Mapping[str, Any] | None = None
                   ) -> "concurrent.futures.Future[Checkpoint]":
        """Like ``save_items``; returns once every item is serialized or its file copied."""
        self._raise_failure()
        self.store._check_writable_name(name)
        if not isinstance(items, Mapping) or not items:
            raise InvalidData(f"items must be a non-empty dict of item name to value, got "
                              f"{type(items).__name__}")
        validate_step(step)
        meta = serialization.check_metadata(metadata)
        snapshots: list[Path] = []
        ready: dict[str, Any] = {}
        try:
            for item, value in items.items():
                items_mod.check_item_name(item)
                if isinstance(value, os.PathLike):
                    snapshots.append(self._snapshot_file(Path(value), what=f"item {item!r}"))
                    ready[item] = snapshots[-1]
                else:
                    ready[item] = items_mod.prepare_item(item, value)
        except BaseException:
            for snap in snapshots:
                snap.unlink(missing_ok=True)
            raise

        def cleanup() -> None:
            for snap in snapshots:
                snap.unlink(missing_ok=True)

        def job() -> Checkpoint:
            try:
                prepared = [value if isinstance(value, items_mod.PreparedItem)
                            else items_mod.prepare_item(item, value)
                            for item, value in ready.items()]
                return items_mod.commit_prepared(self.store, name, prepared, step=step,
                                                 metadata=meta)
            finally:
                cleanup()

        return self._submit(name, job, cleanup=cleanup)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every save queued so far has committed or failed; then raise the
        first failure not yet reported (AsyncSaveFailed). TimeoutError after ``timeout``."""
        with self._lock:
            pending = list(self._pending)
        done, not_done = concurrent.futures.wait(pending, timeout=timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} async saves still pending after {timeout} s")
        self._raise_failure()

    @property
    def pending(self) -> int:
        """How many saves are queued or running."""
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        """Flush (as :meth:`wait`), then stop the worker threads."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
            with _savers_lock:
                _savers.discard(self)

    # -- machinery -----------------------------------------------------------------------
    def _snapshot_file(self, source: Path, *, what: str) -> Path:
        items_mod.stat_regular_file(what, source)
        fd, temp = tempfile.mkstemp(prefix="recovery-snapshot-", dir=self.snapshot_dir)
        os.close(fd)
        try:
            shutil.copyfile(source, temp)
        except BaseException:
            os.unlink(temp)
            raise
        return Path(temp)

    def _submit(self, name: str, job: Callable[[], Checkpoint],
                cleanup: Callable[[], None] | None = None
                ) -> "concurrent.futures.Future[Checkpoint]":
        with self._lock:
            previous = self._last.get(name)

            def ordered() -> Checkpoint:
                if previous is not None:  # submitted earlier, so already running or done
                    concurrent.futures.wait([previous])
                return job()

            try:
                future = self._pool.submit(ordered)
            except RuntimeError:
                if cleanup is not None:
                    cleanup()
                raise
            self._last[name] = future
            self._pending.add(future)
        future.add_done_callback(lambda f: self._done(name, f))
        return future

    def _done(self, name: str, future: "concurrent.futures.Future[Checkpoint]") -> None:
        error = future.exception()
        with self._lock:
            self._pending.discard(future)
            if self._last.get(name) is future:
                del self._last[name]
            if error is not None:
                self._failures.append((name, error))
        if error is not None:
            logger.error("async save of %r failed: %s: %s", name, type(error).__name__, error)

    def _raise_failure(self) -> None:
        with self._lock:
            if not self._failures:
                return
            name, error = self._failures.pop(0)
        raise AsyncSaveFailed(f"an earlier async save of {name!r} failed: "
                              f"{type(error).__name__}: {error}", name) from error

    def _flush_at_exit(self) -> None:
        with self._lock:
            pending = list(self._pending)
        if pending:
            logger.warning("interpreter exit: waiting for %d pending async save(s)", len(pending))
        concurrent.futures.wait(pending)
        with self._lock:
            failures, self._failures = self._failures, []
        for name, error in failures:
            message = (f"async save of {name!r} failed and was not reported before exit: "
                       f"{type(error).__name__}: {error}")
            logger.error("%s", message)
            warnings.warn(message, RuntimeWarning, stacklevel=1)
