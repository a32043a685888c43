from __future__ import annotations

from typing import Any, Optional, Sequence

import pytest

from infra.scan.translate import Resource

ACCOUNT = "123456789012"
PROVIDER = "urn:pulumi:test::dr-platform::pulumi:providers:aws::primary"


def resource(
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    id_: Optional[str] = None,
    state: Optional[dict[str, Any]] = None,
    deps: Sequence[Resource] = (),
) -> Resource:
    """A registration as infra.mockrun records it (inputs, the mocks' state, dependencies)."""
    return Resource(
        urn=f"urn:pulumi:test::dr-platform::{type_}::{name}",
        type=type_,
        name=name,
        inputs=inputs,
        state={**inputs, **(state or {})},
        id=id_ or f"{name}-id",
        dependencies=[d.urn for d in deps],
        provider_urn=PROVIDER,
    )


def bucket(name: str) -> Resource:
    return resource("aws:s3/bucket:Bucket", name, {}, id_=name, state={"bucket": name, "arn": f"arn:aws:s3:::{name}"})


@pytest.fixture
def providers() -> dict[str, dict[str, Any]]:
    return {PROVIDER: {"region": "us-east-1", "defaultTags": '{"tags": {"project": "dr-platform"}}'}}
