"""A moto server in its own process on 127.0.0.1 (the offline S3 of the reliability suite and the benchmarks).

Its own process, not a thread of the test process: the suite forks and SIGKILLs savers and
runs several writer processes, and a server sharing the test's GIL would skew both.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Iterator

from tests.recovery_lib.moto_helpers import FAKE_AWS_ENV

__all__ = ["MotoProcess", "moto_process", "free_port"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoProcess:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


@contextlib.contextmanager
def moto_process(*, startup: float = 30.0) -> Iterator[MotoProcess]:
    """Start ``python -m moto.server`` on a free loopback port; stop it on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **FAKE_AWS_ENV},
    )
    server = MotoProcess(proc, port)
    try:
        deadline = time.monotonic() + startup
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {proc.returncode} while starting")
            try:
                with urllib.request.urlopen(server.url + "/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not answer on {server.url} "
                                       f"within {startup:.0f} s") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
