"""Local HTTP stand-ins for each region's application behind its load balancer.

One :class:`AppStandIn` per region listens on 127.0.0.1 (free port). The sandbox maps that
region's load balancer DNS name to it, so the health checker and anyone resolving the
failover record reach "the region's app".

``GET <any path>`` answers 200 (``{"region": ..., "role": ..., "status": "ok"}``) while the app
is up and its Auto Scaling group has at least one InService instance (an ALB with no healthy
target answers 503); 503 when the app is down (``mode = "503"``) or the group is empty; and
with ``mode = "closed"`` nothing listens at all (connection refused).

With a ``target_group`` (:class:`infra.sandbox.target_group.TargetGroupHealth`, attached by
the sandbox) the failures of the *instances* (``mode = "503"``: the app on them is down, or
no InService instance) go through the ALB's own health checks first: the stand-in keeps
serving until the target group marks its target unhealthy, and serves again only after the
target group's healthy threshold. ``closed`` and ``plain`` break the load balancer itself
and apply at once.

With ``tls`` (an ``ssl.SSLContext``, see :mod:`infra.sandbox.tls`) the stand-in speaks HTTPS,
as the load balancer's HTTPS listener does; ``mode = "plain"`` keeps the port open and
serving but drops TLS (a listener that lost its certificate): a TLS client's handshake fails.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from infra.sandbox.target_group import TargetGroupHealth

logger = logging.getLogger(__name__)

APP_MODES = ("up", "503", "closed", "plain")


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:  # noqa: N802
        app = self.server.app
        healthy, reason = app.serving()
        body = json.dumps({"region": app.region, "role": app.role,
                           "status": "ok" if healthy else "unavailable", "reason": reason}).encode()
        self.send_response(200 if healthy else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        logger.debug("app %s: " + format, self.server.app.role, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, app: "AppStandIn") -> None:
        self.app = app
        super().__init__(address, _Handler)

    def get_request(self):
        sock, address = super().get_request()
        tls = self.app.tls
        if tls is not None and self.app.mode != "plain":
            # The handshake runs in the request's own thread (_Handler.setup), not in accept().
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-answer (a probe with a short timeout) or fails the TLS
        # handshake is not an error of the stand-in.
        if isinstance(sys.exc_info()[1], (ssl.SSLError, BrokenPipeError, ConnectionResetError, TimeoutError)):
            logger.debug("client %s: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)


class AppStandIn:
    def __init__(self, role: str, region: str, *, in_service: Optional[Callable[[], int]] = None,
                 port: int = 0, cache_seconds: float = 0.25, tls: Optional[ssl.SSLContext] = None) -> None:
        self.role = role
        self.tls = tls
        self.region = region
        self.port = port
        self._in_service = in_service
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, int] = (0.0, -1)
        self._mode = "up"
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self.target_group: Optional["TargetGroupHealth"] = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://127.0.0.1:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode

    def start(self) -> "AppStandIn":
        self._listen()
        return self

    def _listen(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = _Server(("127.0.0.1", self.port), self)
            self.port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"app-{self.role}", daemon=True)
            self._thread.start()

    def _close(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def stop(self) -> None:
        self._close()

    def set_mode(self, mode: str) -> None:
        if mode not in APP_MODES:
            raise ValueError(f"unknown app mode {mode!r}; use one of {APP_MODES}")
        if self.target_group is not None:
            self.target_group.advance()  # checks due before the change saw the old state
        self._mode = mode
        if mode == "closed":
            self._close()
        else:
            self._listen()
        logger.info("app %s (%s) is now %s", self.role, self.region, mode)

    def set_up(self, up: bool) -> None:
        self.set_mode("up" if up else "503")

    def in_service(self) -> Optional[int]:
        if self._in_service is None:
            return None
        at, count = self._cached
        if count < 0 or time.monotonic() - at > self._cache_seconds:
            count = self._in_service()
            self._cached = (time.monotonic(), count)
        return count

    def target_state(self) -> tuple[bool, str]:
        """The instances behind the load balancer, as the target group's health check sees them."""
        if self._mode == "503":
            return False, "app is 503"
        count = self.in_service()
        if count is not None and count < 1:
            return False, "no InService instance in the Auto Scaling group"
        return True, "ok"

    def serving(self) -> tuple[bool, str]:
        # "plain" only breaks TLS: the app behind it still serves plain HTTP.
        if self._mode not in ("up", "plain", "503"):
            return False, f"app is {self._mode}"
        if self.target_group is None:
            return self.target_state()
        if self.target_group.advance():
            ok, why = self.target_state()
            return True, "ok" if ok else f"ok: the target group has not yet marked the target unhealthy ({why})"
        return False, f"no healthy target in the target group ({self.target_group.last_detail})"

    def status(self) -> dict:
        healthy, reason = self.serving() if self._mode != "closed" else (False, "closed")
        status = {"role": self.role, "region": self.region, "url": self.url, "mode": self._mode,
                  "in_service": self.in_service(), "healthy": healthy, "reason": reason}
        if self.target_group is not None:
            status["target_group"] = self.target_group.as_dict()
        return status


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0
