"""``ranged_download``: a large S3 object into a seekable sink by concurrent ranged GETs,
each worker writing its own chunks, with bounded memory whatever the allocator does.

Why not s3transfer's ``download_fileobj``: its download threads read each 256 KiB chunk and
hand it through a queue to a separate I/O thread that writes and frees it (s3transfer
``download.py``, ``DownloadChunkIterator`` and the I/O executor). A chunk allocated in one
thread and freed in another stays resident in glibc's per-thread arenas once glibc has
raised its dynamic mmap threshold; a 1 GiB ``load_file`` grew the process by 93–210 MiB
that way (docs/performance.md, benchmark 5). Here each worker reads a chunk with
``StreamingBody.readinto`` into one buffer it owns and writes it itself: at most ``workers`` chunk
buffers exist, allocated once.

Ranges are GET with ``Range: bytes=a-b`` (S3 API reference, GetObject ``Range``) and the
object's ETag as ``If-Match``, so every range comes from the same object version (a 412
means it was replaced mid-download). A range whose body stream breaks (timeout, reset,
short read: the errors s3transfer retries, ``S3_RETRYABLE_DOWNLOAD_ERRORS``) is resumed
from the byte where it stopped, up to ``attempts`` times; the GET itself is retried by
botocore. The first failure stops the other workers and is raised.
"""
from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, BinaryIO, Callable

import botocore.exceptions
from s3transfer.utils import S3_RETRYABLE_DOWNLOAD_ERRORS

__all__ = ["ranged_download", "CHUNK"]

CHUNK = 1024 * 1024
_ATTEMPTS = 5


class _Stopped(Exception):
    """Another worker failed; this one stops."""


def ranged_download(client: Any, bucket: str, key: str, sink: BinaryIO, *, size: int,
                    etag: str, part_size: int, workers: int,
                    progress: Callable[[int], None] | None = None) -> None:
    """Write ``size`` bytes of ``key`` into ``sink`` (seek + write, serialised by a lock)."""
    parts = [(start, min(start + part_size, size)) for start in range(0, size, part_size)]
    lock = threading.Lock()
    stop = threading.Event()
    pending = iter(parts)
    pending_lock = threading.Lock()

    def worker() -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while not stop.is_set():
            with pending_lock:
                part = next(pending, None)
            if part is None:
                return
            _one_range(client, bucket, key, etag, part, sink, view, lock, stop, progress)

    count = max(1, min(workers, len(parts)))
    if count == 1:
        worker()
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=count,
                                               thread_name_prefix="ranged-download") as pool:
        futures = [pool.submit(worker) for _ in range(count)]
        first: BaseException | None = None
        for future in concurrent.futures.as_completed(futures):
            error = future.exception()
            if error is not None and not isinstance(error, _Stopped):
                stop.set()
                first = first or error
    if first is not None:
        raise first


def _one_range(client: Any, bucket: str, key: str, etag: str, part: tuple[int, int],
               sink: BinaryIO, view: memoryview, lock: threading.Lock, stop: threading.Event,
               progress: Callable[[int], None] | None) -> None:
    pos, end = part
    failures = 0
    while pos < end:
        body = None
        try:
            response = client.get_object(Bucket=bucket, Key=key, IfMatch=etag,
                                         Range=f"bytes={pos}-{end - 1}")
            body = response["Body"]  # botocore StreamingBody: readinto fills our buffer
            while pos < end:
                if stop.is_set():
                    raise _Stopped()
                n = body.readinto(view[:min(len(view), end - pos)])
                if not n:  # (botocore raises IncompleteReadError for a short body)
                    failures += 1
                    break
                with lock:
                    sink.seek(pos)
                    sink.write(view[:n])
                pos += n
                if progress:
                    progress(n)
        except S3_RETRYABLE_DOWNLOAD_ERRORS:
            failures += 1
            if failures >= _ATTEMPTS:
                raise
        finally:
            if body is not None:
                body.close()
        if pos < end and failures >= _ATTEMPTS:
            raise botocore.exceptions.IncompleteReadError(actual_bytes=pos - part[0],
                                                          expected_bytes=end - part[0])
