"""Timing, statistics, request counting and machine facts shared by the benchmarks."""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import statistics
import time
from typing import Any, Callable

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclasses.dataclass
class Result:
    bench: int
    metric: str
    library: float | None
    baseline: float | None
    unit: str
    target: str
    met: bool | None
    ratio: float | None = None
    note: str = ""


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(runs: int, library: Callable[[], Any], baseline: Callable[[], Any],
              *, before: Callable[[], Any] | None = None) -> tuple[list[float], list[float]]:
    """``runs`` timings of each, alternating, the first side swapped every run."""
    lib_times: list[float] = []
    base_times: list[float] = []
    for run in range(runs):
        order = [(library, lib_times), (baseline, base_times)]
        if run % 2:
            order.reverse()
        for fn, out in order:
            if before:
                before()
            out.append(timed(fn))
    return lib_times, base_times


class RequestCounter:
    """Counts the HTTP requests botocore sends from the clients it is attached to."""

    def __init__(self) -> None:
        self.count = 0
        self.operations: list[str] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send.s3", self._seen)

    def _seen(self, request: Any, **kwargs: Any) -> None:
        self.count += 1
        self.operations.append(f"{request.method} {request.url.split('?')[0].rsplit('/', 1)[-1][:40]}")


def rss_kib(field: str = "VmRSS") -> int:
    """This process's resident set (VmRSS) or its peak (VmHWM), from /proc/self/status."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def machine() -> dict[str, str]:
    with open("/proc/meminfo") as fh:
        total_kib = int(fh.readline().split()[1])
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    packages = {}
    for name in ("dr-platform", "boto3", "botocore", "s3transfer", "moto", "werkzeug", "flask"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{total_kib / 1024 / 1024:.1f} GiB",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        **{f"pkg {k}": v for k, v in packages.items()},
    }


def write_random_file(path: os.PathLike[str] | str, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = min(left, 16 * MiB)
            fh.write(os.urandom(chunk))
            left -= chunk
