"""An HTTP-aware reverse proxy on 127.0.0.1 that answers a share of requests with S3 errors.

``tests/support/fault_proxy.py`` works at the TCP level (all requests pass or all fail);
throttling needs a per-request decision, so this proxy parses HTTP/1.1 requests, and for a
seeded random ``rate`` of them answers ``503 SlowDown`` or ``500 InternalError`` (S3's XML
error bodies) *without forwarding them*, as S3 does when it sheds load. Every other request
is forwarded to the upstream server and its response relayed.

``after_rate`` (default 0) answers ``500 InternalError`` AFTER forwarding a request, so the
request took effect but the client never learns it (an ambiguous failure).

``on_response(method, path, status)``, if given, is called after a request took effect
upstream and before its response is relayed: a test can SIGKILL the client there, which is
a crash at exactly that point of its protocol (the write happened, the writer never learnt).
``on_request(method, path)``, if given, is called before a request is forwarded and may
block (hold the request); when it returns False the request is not forwarded and answered
``500`` (a write that never took effect).
"""
from __future__ import annotations

import http.client
import http.server
import random
import threading
from collections import Counter
from typing import Any, Callable

__all__ = ["HttpFaultProxy"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-connection", "content-length"}
_ERRORS = {
    503: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
}


class HttpFaultProxy:
    def __init__(self, upstream: tuple[str, int], *, rate: float = 0.2, after_rate: float = 0.0,
                 seed: int = 0,
                 on_response: Callable[[str, str, int], None] | None = None,
                 on_request: Callable[[str, str], bool] | None = None) -> None:
        self.upstream = upstream
        self.on_response = on_response
        self.on_request = on_request
        self.rate = rate
        self.after_rate = after_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # forwarded, 503, 500, 500-after
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _error(self, status: int) -> None:
                code, message = _ERRORS[status]
                body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                        f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
                        ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._decide()
                if fault in (503, 500):
                    self._error(fault)
                    return
                if proxy.on_request is not None and not proxy.on_request(self.command, self.path):
                    self._error(500)
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    headers["Content-Length"] = str(len(body))
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    if proxy.on_response is not None:
                        proxy.on_response(self.command, self.path, response.status)
                    if fault == "after":
                        self._error(500)
                        return
                    self.send_response(response.status, response.reason)
                    for key, value in response.getheaders():
                        if key.lower() not in _HOP:
                            self.send_header(key, value)
                    if self.command == "HEAD":
                        self.send_header("Content-Length",
                                         response.getheader("Content-Length") or "0")
                    else:
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    conn.close()

            def _quiet(self) -> None:
                try:
                    self._handle()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client is gone (killed by a test)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _quiet

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="http-fault-proxy")

    def _decide(self) -> Any:
        with self._lock:
            draw = self._rng.random()
            if draw < self.rate:
                fault: Any = 503 if self._rng.random() < 0.5 else 500
            elif draw < self.rate + self.after_rate:
                fault = "after"
            else:
                fault = None
            self.counts[{503: "503", 500: "500", "after": "500-after", None: "forwarded"}[fault]] += 1
            return fault

    def start(self) -> "HttpFaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> "HttpFaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
