"""The sandbox's control endpoint: a JSON API on 127.0.0.1 that injects and reverts faults.

Routes (all bodies and answers JSON; times in emulated seconds; see README.md here):

    GET  /state                     everything below in one document
    GET  /time                      {"now", "time_scale"}
    GET  /health-checks             every Route 53 health check as the evaluator sees it
    GET  /dns/{record}              the caching resolver's answer (+ "authoritative")
    GET  /replication               backlog, lag, paused, replicated, failed
    GET  /apps                      each region's app stand-in
    GET  /asg/{role}                the region's Auto Scaling group (desired, in service)
    POST /faults/s3/{role}          {"mode": "pass|refuse|reset|blackhole|http503"}
    POST /faults/app/{role}         {"up": bool} or {"mode": "up|503|closed|plain"}
    POST /faults/replication        {"action": "pause|resume", "bucket"?: name} and/or {"lag_seconds": n}
    POST /faults/health-check       {"inverted"?: bool, "disabled"?: bool, "id"?: health check id}
    POST /faults/reset              every fault reverted
    POST /asg/{role}                {"desired": n}

Errors: 400 ``{"error": "..."}`` for a bad request, 404 for an unknown route.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Optional, Protocol
from urllib.parse import unquote

import botocore.exceptions

if TYPE_CHECKING:
    from infra.sandbox.apps import AppStandIn
    from infra.sandbox.clock import Clock
    from infra.sandbox.replication import ReplicationEmulator
    from infra.sandbox.route53 import DnsResolver, HealthCheckEvaluator

logger = logging.getLogger(__name__)


class Controllable(Protocol):
    """What the control endpoint reads and drives (``infra.sandbox.sandbox.Sandbox`` is one):
    declared here so that this module does not depend on the sandbox that serves it."""

    clock: Clock
    time_scale: float
    health: Optional[HealthCheckEvaluator]
    dns: Optional[DnsResolver]
    replication: Optional[ReplicationEmulator]
    apps: dict[str, AppStandIn]

    def state(self) -> dict[str, Any]: ...

    def asg(self, role: str) -> dict[str, Any]: ...

    def set_s3_fault(self, role: str, mode: str) -> None: ...

    def set_app(self, role: str, mode: str) -> None: ...

    def set_health_check(self, *, inverted: Optional[bool] = None, disabled: Optional[bool] = None,
                         check_id: Optional[str] = None) -> dict[str, Any]: ...

    def scale(self, role: str, desired: int) -> dict[str, Any]: ...

    def reset_faults(self) -> None: ...


class BadRequest(Exception):
    pass


def _bool(body: dict[str, Any], key: str) -> Optional[bool]:
    if key not in body:
        return None
    if not isinstance(body[key], bool):
        raise BadRequest(f"{key!r} must be true or false, got {body[key]!r}")
    return body[key]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        logger.debug("control: " + format, *args)

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            body = json.loads(self.rfile.read(length))
        except json.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    def _dispatch(self, method: str) -> None:
        parts = [unquote(p) for p in self.path.split("?", 1)[0].strip("/").split("/") if p]
        try:
            body = self._body() if method == "POST" else {}
            result = route(self.server.sandbox, method, parts, body)
        except BadRequest as exc:
            self._send(400, {"error": str(exc)})
            return
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        except botocore.exceptions.ClientError as exc:
            self._send(400, {"error": f"{exc.response['Error']['Code']}: {exc.response['Error'].get('Message')}"})
            return
        if result is None:
            self._send(404, {"error": f"no route {method} /{'/'.join(parts)}"})
            return
        self._send(200, result)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


def route(sandbox: Controllable, method: str, parts: list[str], body: dict[str, Any]) -> Any:
    """Answer one request; None when no route matches."""
    assert sandbox.health is not None and sandbox.dns is not None and sandbox.replication is not None
    if method == "GET":
        if parts == ["state"]:
            return sandbox.state()
        if parts == ["time"]:
            return {"now": sandbox.clock.now(), "time_scale": sandbox.time_scale}
        if parts == ["health-checks"]:
            return {"now": sandbox.clock.now(), "health_checks": sandbox.health.status()}
        if len(parts) == 2 and parts[0] == "dns":
            answer = sandbox.dns.resolve(parts[1])
            answer["authoritative"] = sandbox.dns.authoritative(parts[1])
            return answer
        if parts == ["replication"]:
            return sandbox.replication.status()
        if parts == ["apps"]:
            return {role: app.status() for role, app in sandbox.apps.items()}
        if len(parts) == 2 and parts[0] == "asg":
            return sandbox.asg(parts[1])
        return None
    if method == "POST":
        if len(parts) == 3 and parts[:2] == ["faults", "s3"]:
            mode = body.get("mode")
            if not isinstance(mode, str):
                raise BadRequest('body must be {"mode": "pass|refuse|reset|blackhole|http503"}')
            sandbox.set_s3_fault(parts[2], mode)
            return {"role": parts[2], "mode": mode, "at": sandbox.clock.now()}
        if len(parts) == 3 and parts[:2] == ["faults", "app"]:
            up = _bool(body, "up")
            mode = body.get("mode") if up is None else ("up" if up else "503")
            if not isinstance(mode, str):
                raise BadRequest('body must be {"up": true|false} or {"mode": "up|503|closed|plain"}')
            sandbox.set_app(parts[2], mode)
            return {"role": parts[2], "mode": mode, "at": sandbox.clock.now()}
        if parts == ["faults", "replication"]:
            action, bucket = body.get("action"), body.get("bucket")
            if action not in (None, "pause", "resume"):
                raise BadRequest(f"action must be 'pause' or 'resume', got {action!r}")
            if "lag_seconds" in body:
                if not isinstance(body["lag_seconds"], (int, float)) or isinstance(body["lag_seconds"], bool):
                    raise BadRequest(f"lag_seconds must be a number, got {body['lag_seconds']!r}")
                sandbox.replication.set_lag(float(body["lag_seconds"]))
            if action is None and "lag_seconds" not in body:
                raise BadRequest('body must have "action" (pause|resume) and/or "lag_seconds"')
            if action == "pause":
                sandbox.replication.pause(bucket)
            elif action == "resume":
                sandbox.replication.resume(bucket)
            return sandbox.replication.status()
        if parts == ["faults", "health-check"]:
            inverted, disabled = _bool(body, "inverted"), _bool(body, "disabled")
            if inverted is None and disabled is None:
                raise BadRequest('body must have "inverted" and/or "disabled" (booleans)')
            return sandbox.set_health_check(inverted=inverted, disabled=disabled, check_id=body.get("id"))
        if parts == ["faults", "reset"]:
            sandbox.reset_faults()
            return sandbox.state()["faults"]
        if len(parts) == 2 and parts[0] == "asg":
            desired = body.get("desired")
            if not isinstance(desired, int) or isinstance(desired, bool) or desired < 0:
                raise BadRequest(f'body must be {{"desired": n}} with n >= 0, got {desired!r}')
            return sandbox.scale(parts[1], desired)
        return None
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-answer (a probe with a short timeout) is not an error here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            logger.debug("client %s hung up", client_address)
            return
        super().handle_error(request, client_address)

    def __init__(self, address, sandbox: Controllable) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class ControlServer:
    def __init__(self, sandbox: Controllable, *, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), sandbox)
        self.port = self._server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ControlServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
