"""``HistoryWriter``: writes a store's history records (the manifest copy written after a
head commit) in background threads, off the caller's critical path.

Why this is safe (docs/consistency.md, "The commit"): the head record is the commit point;
a committed version whose history record is missing is the state a writer killed between
its head CAS and its history write leaves, and every read handles it (``versions()``,
pinned loads and listings read it from the head; garbage collection counts heads as
references; the next writer that reads the head repairs the record). A pending write is
that state, for a moment, in this process. Two rules keep it no worse than a crash:

- **At most one pending write per key** (a name in a region): a commit of a name first
  waits for that name's pending history write (:meth:`wait_for`), so only a name's
  *current* version can lack its history record, never an older one, which no head would
  name any more.
- **Bounded**: at most ``max_pending`` writes are outstanding; a caller submitting more
  waits for the oldest first.

Interpreter exit runs the pending writes: ``concurrent.futures`` joins its worker threads
at exit after they have drained their queues (Python docs, "concurrent.futures —
ThreadPoolExecutor", https://docs.python.org/3/library/concurrent.futures.html); a write
submitted during shutdown runs synchronously. A process killed outright (SIGKILL) loses
what was pending: exactly a crash after the commit.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import weakref
from typing import Callable, Hashable

__all__ = ["HistoryWriter", "flush_all"]

logger = logging.getLogger(__name__)

_writers: "weakref.WeakSet[HistoryWriter]" = weakref.WeakSet()


def flush_all() -> None:
    """Wait for the pending history writes of every store in this process (a test that
    copies a bucket the way replication would, or a tool that hands buckets on)."""
    for writer in list(_writers):
        writer.flush()


class HistoryWriter:
    """Run ``fn()`` calls in background threads, one pending per key, bounded."""

    def __init__(self, *, name: str = "recovery-history", workers: int = 4,
                 max_pending: int = 16) -> None:
        if workers < 1 or max_pending < 1:
            raise ValueError(f"workers and max_pending must be >= 1, got {workers}, {max_pending}")
        self._name = name
        self._workers = workers
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pid = os.getpid()
        self._pending: dict[Hashable, concurrent.futures.Future[None]] = {}
        _writers.add(self)

    def submit(self, key: Hashable, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the background (synchronously during interpreter shutdown). The
        caller has waited for ``key``'s previous write (:meth:`wait_for`)."""
        self.wait_for(key)
        while True:
            with self._lock:
                self._forget_after_fork()
                self._drop_done()
                busy = self._pending.get(key)  # a concurrent commit of the same name
                if busy is None and len(self._pending) < self._max_pending:
                    if self._pool is None:
                        self._pool = concurrent.futures.ThreadPoolExecutor(
                            max_workers=self._workers, thread_name_prefix=self._name)
                    try:
                        self._pending[key] = self._pool.submit(_logged, fn)
                        return
                    except RuntimeError:  # interpreter shutdown: no new work in threads
                        break
                oldest = busy if busy is not None else next(iter(self._pending.values()))
            concurrent.futures.wait([oldest])
        _logged(fn)

    def wait_for(self, key: Hashable) -> None:
        """Wait until ``key``'s pending write (if any) has finished."""
        future = self._pending.get(key)  # no lock: the common case has nothing pending
        if future is not None:
            concurrent.futures.wait([future])

    def pending(self) -> int:
        """How many submitted writes have not finished."""
        with self._lock:
            return sum(1 for f in self._pending.values() if not f.done())

    def flush(self) -> None:
        """Wait for every write submitted so far."""
        if not self._pending:
            return
        with self._lock:
            self._forget_after_fork()
            waiting = list(self._pending.values())
        concurrent.futures.wait(waiting)
        with self._lock:
            self._drop_done()

    def close(self) -> None:
        """Flush, then stop the threads (a later ``submit`` starts new ones)."""
        self.flush()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _drop_done(self) -> None:
        for key in [k for k, f in self._pending.items() if f.done()]:
            del self._pending[key]

    def _forget_after_fork(self) -> None:
        # a forked child inherits the futures but not the threads: start afresh there
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._pool = None
            self._pending.clear()


def _logged(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # the callers handle the errors they expect; never lose the rest
        logger.exception("background history write failed")
