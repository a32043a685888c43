"""The per-region TCP fault proxy: pass, refuse, reset, black-hole."""

from __future__ import annotations

import http.client
import socket
import time

import pytest

from infra.sandbox.fault_proxy import FaultProxy


@pytest.fixture
def proxy(app):
    with FaultProxy(("127.0.0.1", app.port)) as p:
        yield p


def _get(port: int, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


def test_pass_forwards_requests(proxy):
    assert _get(proxy.port) == 200
    assert proxy.accepted == 1


def test_refuse_closes_the_listener_so_connects_fail_fast(proxy):
    proxy.set_mode("refuse")
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    assert time.monotonic() - started < 0.5
    proxy.set_mode("pass")
    assert _get(proxy.port) == 200  # same port again once the fault is reverted


def test_reset_sends_rst(proxy):
    proxy.set_mode("reset")
    # The RST can beat the client to any of these calls (even connect()); one of them raises it.
    with pytest.raises(ConnectionResetError):
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
            time.sleep(0.1)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1024)
    assert proxy.accepted == 1


def test_blackhole_accepts_and_never_answers(proxy):
    proxy.set_mode("blackhole")
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        _get(proxy.port, timeout=0.4)
    assert 0.35 < time.monotonic() - started < 2


def test_fault_applies_to_an_open_connection(proxy):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=2)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and b'"status": "ok"' in response.read()
    proxy.set_mode("reset")
    time.sleep(0.2)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        conn.request("GET", "/healthz")
        conn.getresponse()
    conn.close()


def test_unknown_mode_is_rejected(proxy):
    with pytest.raises(ValueError, match="unknown fault mode 'flaky'"):
        proxy.set_mode("flaky")
