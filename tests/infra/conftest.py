from __future__ import annotations

import json
from typing import Any, Callable, Optional

import pytest

from infra.mockrun import ProgramRun, Registration, run_program

from .fake_aws import FakeAws

RunStack = Callable[..., ProgramRun]


@pytest.fixture(scope="session")
def run_stack() -> RunStack:
    """Run the real program for a stack (optionally with config overrides) under FakeAws."""

    def run(stack: str, overrides: Optional[dict[str, Any]] = None) -> ProgramRun:
        return run_program(stack, FakeAws(), config_overrides=overrides)

    return run


@pytest.fixture(scope="session")
def dev(run_stack: RunStack) -> ProgramRun:
    return run_stack("dev")


@pytest.fixture(scope="session")
def dr(run_stack: RunStack) -> ProgramRun:
    return run_stack("dr")


def policy_of(registration: Registration, key: str = "policy") -> dict:
    value = registration.inputs[key]
    return json.loads(value) if isinstance(value, str) else value
