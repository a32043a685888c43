"""A TCP proxy on 127.0.0.1 that injects network faults in front of an upstream server.

Generic: the sandbox puts one in front of each region's S3 endpoint, and any test can put one
in front of any TCP server (``FaultProxy((host, port)).start()``; threads, stopped by ``stop()``).

Modes (switch at any time with :meth:`FaultProxy.set_mode`; they also apply to
connections already open, as a real network fault would):

- ``pass``      forward bytes both ways.
- ``refuse``    nothing listens: connects fail with ECONNREFUSED.
- ``reset``     connections are accepted, then reset (RST) at once.
- ``blackhole`` connections are accepted, requests swallowed, nothing ever answered.
- ``http503``   every request is answered ``503 Service Unavailable`` (a sick server).

Usage::

    with FaultProxy(("127.0.0.1", upstream_port)) as proxy:
        client = make_client(endpoint_url=proxy.url)
        proxy.set_mode("blackhole")
"""
from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from typing import Any

__all__ = ["FaultProxy", "MODES"]

MODES = ("pass", "refuse", "reset", "blackhole", "http503")
_TICK = 0.05
_RESPONSE_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/xml\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 118\r\n\r\n"
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    b"<Error><Code>ServiceUnavailable</Code><Message>fault proxy</Message></Error>\n"
)


def _close_listener(listener: socket.socket) -> None:
    # shutdown() first: close() alone leaves the socket listening while the accept thread is
    # still polling it, so a connect in that window would still succeed.
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0,
                 mode: str = "pass") -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"FaultProxy only listens on loopback, not {host!r}")
        self.upstream = upstream
        self.host = host
        self.port = port
        self._mode = self._check(mode)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self.accepted = 0  # connections accepted, for assertions

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> "FaultProxy":
        self._open_listener()
        thread = threading.Thread(target=self._accept_loop, name="fault-proxy-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._listener is not None:
                _close_listener(self._listener)
                self._listener = None
            for conn in list(self._conns):
                _reset(conn)
            self._conns.clear()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        mode = self._check(mode)
        with self._lock:
            self._mode = mode
            if mode == "refuse" and self._listener is not None:
                _close_listener(self._listener)
                self._listener = None
        if mode != "refuse":
            self._open_listener()

    @staticmethod
    def _check(mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {MODES}")
        return mode

    def _open_listener(self) -> None:
        with self._lock:
            if self._listener is not None or self._mode == "refuse":
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(128)
            listener.settimeout(_TICK)
            self.port = listener.getsockname()[1]
            self._listener = listener

    # -- accepting ------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(_TICK)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            mode = self._mode
            if mode == "reset":
                _reset(client)
                continue
            client.setblocking(True)
            with self._lock:
                self._conns.add(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True,
                                      name="fault-proxy-conn")
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            if self._mode == "pass":
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            self._pump(client, upstream)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(client)
            for sock in (client, upstream):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _pump(self, client: socket.socket, upstream: socket.socket | None) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, "client")
        if upstream is not None:
            selector.register(upstream, selectors.EVENT_READ, "upstream")
        request = b""
        try:
            while not self._stop.is_set():
                mode = self._mode
                if mode in ("reset", "refuse"):
                    _reset(client)
                    return
                if mode != "pass" and upstream is not None:
                    selector.unregister(upstream)
                    upstream.close()
                    upstream = None
                if mode == "pass" and upstream is None:
                    return  # a connection opened during a fault stays broken; close it
                for key, _ in selector.select(timeout=_TICK):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.data == "upstream":
                        client.sendall(data)
                    elif mode == "pass" and upstream is not None:
                        upstream.sendall(data)
                    elif mode == "http503":
                        request += data
                        if b"\r\n\r\n" in request:
                            client.sendall(_RESPONSE_503)
                            client.shutdown(socket.SHUT_WR)
                            self._drain(client)
                            return
                    # blackhole: swallow
        finally:
            selector.close()

    @staticmethod
    def _drain(sock: socket.socket, limit: float = 1.0) -> None:
        sock.settimeout(0.1)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if not sock.recv(65536):
                    return
            except socket.timeout:
                continue
            except OSError:
                return
