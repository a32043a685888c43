"""Hedged reads: ask a second region when the first has not answered after a delay, and take
the first answer that arrives (J. Dean and L. A. Barroso, "The Tail at Scale",
Communications of the ACM 56(2), 2013: "hedged requests").

The store hedges the small read that decides what to serve (the GET of a name's head), from
the primary to the secondary, after ``S3Options.metadata_timeout``: the read timeout past
which a region "cannot answer quickly" and is treated as unavailable. A healthy primary
answers long before that and is never hedged, so hedging adds no requests in the common
case. When the primary is black-holed, the read is served by the secondary after one
timeout instead of after every retry (``max_attempts`` x the timeout). The primary's call
is not cancelled: it runs to its end in the background and its outcome alone feeds the
primary's circuit breaker, so a hedge never opens a breaker, and a primary that answers
late costs nothing but the duplicate request.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Callable, TypeVar

__all__ = ["Hedger"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Hedger:
    """Runs ``first``, and ``second`` too once ``first`` has taken ``delay`` seconds.

    ``workers`` bounds the threads (created on demand); a hedged-away call keeps its thread
    until it ends (at most the region's retries x timeout), so many concurrent readers of a
    black-holed primary share these until its breaker opens and reads skip it."""

    def __init__(self, *, workers: int = 16) -> None:
        self._workers = workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running: set[concurrent.futures.Future[object]] = set()

    def wait_idle(self) -> None:
        """Wait until every call started so far has ended (a hedged-away first call runs
        on after :meth:`run` returned)."""
        with self._lock:
            running = list(self._running)
        concurrent.futures.wait(running)

    def _submit(self, fn: Callable[[], T]) -> "concurrent.futures.Future[T]":
        future = self._executor().submit(fn)
        with self._lock:
            self._running.add(future)  # type: ignore[arg-type]
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: "concurrent.futures.Future[object]") -> None:
        with self._lock:
            self._running.discard(future)

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._workers, thread_name_prefix="recovery-hedge")
            return self._pool

    def run(self, first: Callable[[], T], second: Callable[[], T], *,
            delay: float) -> tuple[T, int]:
        """``(result, 0)`` if ``first`` answered, ``(result, 1)`` if ``second`` did. An error
        of ``first`` before ``delay`` is raised as is (no hedge: the caller's failover
        handles errors); after the hedge, an error is raised only when both failed (the
        first one's error)."""
        a = self._submit(first)
        try:
            return a.result(timeout=delay), 0
        except concurrent.futures.TimeoutError:
            pass
        b = self._submit(second)
        logger.info("no answer after %.2f s; hedging the read to the other region", delay)
        waiting = {a, b}
        while waiting:
            done, waiting = concurrent.futures.wait(
                waiting, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in (a, b):  # the first region wins a tie
                if future in done and future.exception() is None:
                    return future.result(), 0 if future is a else 1
        error = a.exception()
        assert error is not None
        raise error
