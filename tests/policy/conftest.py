from __future__ import annotations

import copy
import json
from typing import Any, Callable, Optional

import pytest

from infra.mockrun import ProgramRun, Registration, run_program
from infra.policy.offline import Violation, run_pack

from ..infra.fake_aws import FakeAws


@pytest.fixture(scope="session")
def dev() -> ProgramRun:
    return run_program("dev", FakeAws())


@pytest.fixture(scope="session")
def dr() -> ProgramRun:
    return run_program("dr", FakeAws())


def mutated(run: ProgramRun, change: Callable[[ProgramRun], Any]) -> ProgramRun:
    """A deep copy of ``run`` (session fixtures stay pristine) after ``change`` edited it."""
    copy_ = copy.deepcopy(run)
    change(copy_)
    return copy_


def set_prop(registration: Registration, key: str, value: Any) -> None:
    """Change a property in the inputs (resource validations) and the outputs (stack validations)."""
    for props in (registration.inputs, registration.state):
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value


def remove(run: ProgramRun, type_: str, name: Optional[str] = None) -> None:
    run.registrations = [r for r in run.registrations if not (r.type == type_ and (name is None or r.name == name))]


def set_policy(registration: Registration, key: str, document: dict) -> None:
    set_prop(registration, key, json.dumps(document))


def violations_of(run: ProgramRun, policy: str, config: Optional[dict] = None) -> list[Violation]:
    return [v for v in run_pack(run, config=config) if v.policy == policy]
