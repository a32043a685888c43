"""Run the real program (``infra/__main__.py``) as ``pulumi up`` would, through Pulumi's mocks.

The stack's config is loaded the way the CLI loads it (``Pulumi.<stack>.yaml`` over the
defaults declared in ``Pulumi.yaml``); the program runs inside a stack resource, so its
exports reach the monitor as the stack's outputs exactly as they reach the engine. A
recording monitor keeps every registration request (type, name, parent, provider,
dependencies, protect, ignore-changes) and the state the mocks returned.

Used by the tests (with recording mocks) and by the sandbox (with mocks that create each
resource through the AWS API of an emulator). Never calls the Pulumi CLI.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from google.protobuf import json_format
from pulumi import runtime
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from infra import stack_config
from infra.stack_config import SecureValue
from recovery_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "infra" / "__main__.py"


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    provider: str  # "URN::ID" of the provider reference ("" for components and the default provider)
    dependencies: list[str]
    inputs: dict[str, Any]
    state: dict[str, Any]
    id: Optional[str]
    custom: bool
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class ProgramRun:
    stack: str
    config: dict[str, Any]
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # What the program (and the provider SDK, e.g. deprecation notices) logged to the engine.
    engine_log: list[tuple[str, str]] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [message for level, message in self.engine_log if level in ("WARNING", "ERROR")]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.registrations if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise LookupError(f"expected one {type_} named {name!r}, found {len(matches)}")
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        for r in self.registrations:
            if r.urn == urn:
                return r
        raise LookupError(f"no resource with URN {urn}")

    def resources(self) -> Iterator[Registration]:
        """Custom resources (not components, not providers)."""
        return (r for r in self.registrations if r.custom and not r.type.startswith("pulumi:providers:"))


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.stack_outputs: dict[str, Any] = {}
        self._stack_urn: Optional[str] = None

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self._stack_urn = response.urn
            return response
        registered = self.resources[response.urn]
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                provider=request.provider,
                dependencies=list(request.dependencies),
                inputs=rpc.deserialize_properties(request.object),
                state=dict(registered.state or {}),
                id=registered.id,
                custom=bool(request.custom),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges),
            )
        )
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802
        if self._stack_urn is not None and request.urn == self._stack_urn:
            # json_format keeps nulls (deserialize_properties drops them), as the engine's
            # state and `pulumi stack output --json` do.
            self.stack_outputs = _plain_numbers(json_format.MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)


def _plain_numbers(value: Any) -> Any:
    """The wire format carries numbers as doubles; JSON (and `pulumi stack output`) shows 1, not 1.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return value


class _EngineLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))


def load_stack_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """``Pulumi.<stack>.yaml`` over ``Pulumi.yaml``, merged and checked as the CLI does
    (required keys, declared types, secrets: see :mod:`infra.stack_config`).

    Keys come back fully qualified (``dr-platform:strategy``, ``aws:region``); values keep
    their YAML types (objects stay dicts); ``secure:`` values are :class:`SecureValue`.
    """
    return stack_config.load_stack_config(stack, root)


def _engine_value(value: Any) -> str:
    """How the engine hands config to a Python program: strings, objects as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def run_program(
    stack: str,
    mocks: pulumi_mocks.Mocks,
    *,
    config_overrides: Optional[Mapping[str, Any]] = None,
    program: Path = PROGRAM,
    project: str = "dr-platform",
) -> ProgramRun:
    """Run ``program`` for ``stack`` under ``mocks``; raise what the program raises."""
    config = load_stack_config(stack)
    secret_keys = [k for k, v in config.items() if isinstance(v, SecureValue)]
    undecryptable = sorted(k for k in secret_keys if (config_overrides or {}).get(k) is None)
    if undecryptable:
        raise ConfigError(
            f"stack {stack!r} sets {', '.join(undecryptable)} as secure values, which an offline run "
            "cannot decrypt; pass a plaintext value for each in config_overrides"
        )
    for key, value in (config_overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    runtime.set_all_config({k: _engine_value(v) for k, v in config.items()}, secret_keys)
    monitor = RecordingMonitor(mocks)
    engine_log = _EngineLog()
    logger = logging.getLogger(f"{__name__}.engine.{stack}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.handlers = [engine_log]
    runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=logger)
    # set_mocks leaves a root stack of its own; the program gets a fresh one, as under the engine.
    settings.ROOT.set(None)
    saved_env = os.environ.pop("PULUMI_CONFIG", None)
    try:
        _sync_await(run_in_stack(lambda: runpy.run_path(str(program), run_name="__main__")))
    finally:
        if saved_env is not None:
            os.environ["PULUMI_CONFIG"] = saved_env
        runtime.set_all_config({}, [])
    return ProgramRun(
        stack=stack,
        config=config,
        registrations=monitor.registrations,
        outputs=monitor.stack_outputs,
        engine_log=engine_log.records,
    )
