"""The sandbox adapter does not take the control endpoint's word for an S3 fault.

A stand-in control endpoint (stdlib HTTP server on loopback) reports the primary's S3 as
faulted; the region's ``endpoint_url`` points at a socket that either answers (the proxy
did not make the fault), swallows the connection (black hole) or is closed (refuse).
"""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from recovery_lib.drill.adapters.sandbox import SandboxAdapter
from recovery_lib.drill.plan import Fault


@contextmanager
def http_server(answer: Any) -> Iterator[str]:
    """A loopback HTTP server answering every GET with ``answer(path)`` as JSON."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = json.dumps(answer(self.path)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def black_hole() -> Iterator[str]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def reported(mode: str):
    def answer(path: str) -> Any:
        if path == "/time":
            return {"now": 0.0, "time_scale": 10.0}
        if path == "/state":
            return {"faults": {"s3": {"primary": mode, "secondary": "pass"}, "apps": {}, "replication_paused": False},
                    "health_checks": []}
        return {}
    return answer


def adapter_for(control_url: str, s3_endpoint: str) -> SandboxAdapter:
    region = {"bucket": "b", "kms_key_arn": None, "asg_name": "g"}
    return SandboxAdapter({
        "regions": {"primary": {**region, "name": "us-east-1", "endpoint_url": s3_endpoint},
                    "secondary": {**region, "name": "us-west-2", "endpoint_url": None}},
        "dns": None,
        "sandbox": {"control_url": control_url, "emulator_url": control_url},
    })


@pytest.mark.parametrize("mode", ["blackhole", "refuse", "reset"])
def test_a_fault_the_control_endpoint_reports_but_the_proxy_does_not_make_is_not_in_effect(mode):
    """Mutation: ``SandboxAdapter.is_injected`` trusting ``/state`` (drop ``and
    self._s3_endpoint_broken(fault)``, or make ``_s3_endpoint_broken`` return True). The S3
    endpoint here answers HTTP, so the fault is not in effect whatever the control says."""
    with http_server(lambda path: {"ok": True}) as s3, http_server(reported(mode)) as control:
        adapter = adapter_for(control, s3)
        assert adapter.time_scale == 10.0
        assert adapter.is_injected(Fault("s3", region="primary", mode=mode)) is False


def test_a_black_holed_endpoint_is_seen_as_a_black_hole():
    with black_hole() as s3, http_server(reported("blackhole")) as control:
        adapter = adapter_for(control, s3)
        assert adapter.is_injected(Fault("s3", region="primary", mode="blackhole")) is True
        # a swallowed connection is not what "refuse" promises
        assert adapter._s3_endpoint_broken(Fault("s3", region="primary", mode="refuse")) is False


def test_a_refusing_endpoint_is_seen_as_refusing():
    with http_server(reported("refuse")) as control:
        adapter = adapter_for(control, closed_port())
        assert adapter.is_injected(Fault("s3", region="primary", mode="refuse")) is True
        assert adapter._s3_endpoint_broken(Fault("s3", region="primary", mode="blackhole")) is False


def test_the_endpoint_broken_but_the_control_endpoint_saying_pass_is_not_our_fault():
    with black_hole() as s3, http_server(reported("pass")) as control:
        adapter = adapter_for(control, s3)
        assert adapter.is_injected(Fault("s3", region="primary", mode="blackhole")) is False
