"""The pack as the Pulumi CLI runs it: ``__main__.py`` in a subprocess, spoken to over gRPC.

The CLI starts the pack, reads the port it prints and calls the Analyzer service on
127.0.0.1. Here the requests are built from a mocked program run the way the engine builds
them (final state for AnalyzeStack, inputs for Analyze), so the engine-facing path
(protobuf deserialization, unknown-checking proxies, policy config) is exercised without the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.mockrun import ProgramRun, Registration
from infra.policy import pack

from .conftest import mutated, remove, set_prop

POLICY_DIR = Path(pack.__file__).resolve().parent


def _struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(values)))
    return struct


def _provider(run: ProgramRun, registration: Registration):
    if not registration.provider_urn:
        return None
    provider = run.by_urn(registration.provider_urn)
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=_struct(provider.inputs), urn=provider.urn, name=provider.name
    )


def _options(registration: Registration):
    return analyzer_pb2.AnalyzerResourceOptions(protect=registration.protect, parent=registration.parent)


def stack_request(run: ProgramRun) -> analyzer_pb2.AnalyzeStackRequest:
    resources = []
    for r in run.registrations:
        state = dict(r.state, id=r.id) if r.custom and r.id is not None else dict(r.state)
        resource = analyzer_pb2.AnalyzerResource(
            type=r.type, properties=_struct(state), urn=r.urn, name=r.name, options=_options(r),
            parent=r.parent, dependencies=r.dependencies,
        )
        provider = _provider(run, r)
        if provider is not None:
            resource.provider.CopyFrom(provider)
        resources.append(resource)
    return analyzer_pb2.AnalyzeStackRequest(resources=resources)


def resource_request(run: ProgramRun, r: Registration) -> analyzer_pb2.AnalyzeRequest:
    request = analyzer_pb2.AnalyzeRequest(
        type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name, options=_options(r)
    )
    provider = _provider(run, r)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


@pytest.fixture
def analyzer(dr):
    """Start the pack as the CLI does (cwd infra/policy, stack config in PULUMI_CONFIG)."""
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps({k: v if isinstance(v, str) else json.dumps(v) for k, v in dr.config.items()})
    process = subprocess.Popen(
        [sys.executable, "__main__.py"], cwd=POLICY_DIR, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _diagnostics(response) -> list[tuple[str, str, int]]:
    return [(d.policyName, d.urn, d.enforcementLevel) for d in response.diagnostics]


def test_served_pack_describes_every_rule_as_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "dr-platform-baseline"
    assert [p.name for p in info.policies] == [p.name for p in pack.POLICIES]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}
    schemas = {p.name: p.configSchema.properties for p in info.policies}
    assert list(schemas["data-protected-from-deletion"]["unprotectedStacks"]["default"]) == ["dev"]
    assert "rtoSeconds" in schemas["route53-failover-budget"]


def test_served_pack_passes_the_dr_stack_and_flags_a_broken_one(analyzer, dr):
    assert _diagnostics(analyzer.AnalyzeStack(stack_request(dr))) == []

    broken = mutated(dr, lambda r: (remove(r, "aws:s3/bucketVersioning:BucketVersioning", "primary-checkpoints-versioning"),
                                    set_prop(r.one("aws:route53/record:Record", "failover-primary"), "ttl", 600)))
    response = analyzer.AnalyzeStack(stack_request(broken))
    found = {(name, urn) for name, urn, _ in _diagnostics(response)}
    bucket = broken.one("aws:s3/bucket:Bucket", "primary-checkpoints-bucket").urn
    record = broken.one("aws:route53/record:Record", "failover-primary").urn
    assert ("s3-bucket-versioning", bucket) in found
    # The RTO target reached the pack through the stack config (PULUMI_CONFIG), as under the CLI.
    budget = [d for d in response.diagnostics if d.policyName == "route53-failover-budget"]
    assert [d.urn for d in budget] == [record]
    assert "RTO target of 300 s (stack config dr-platform:rtoSeconds)" in budget[0].message


def test_served_pack_checks_resources_and_honours_policy_config(analyzer, dr):
    key = mutated(dr, lambda r: set_prop(r.one("aws:kms/key:Key", "primary-checkpoints-key"), "enableKeyRotation", False))
    registration = key.one("aws:kms/key:Key", "primary-checkpoints-key")
    response = analyzer.Analyze(resource_request(key, registration))
    # For Analyze the engine attaches the diagnostic to the analyzed resource (urn stays empty).
    assert _diagnostics(response) == [("kms-key-rotation", "", analyzer_pb2.MANDATORY)]
    assert "enable_key_rotation=True" in response.diagnostics[0].message

    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(
        policyConfig={"kms-key-rotation": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.ADVISORY)}
    ))
    response = analyzer.Analyze(resource_request(key, registration))
    assert _diagnostics(response) == [("kms-key-rotation", "", analyzer_pb2.ADVISORY)]
    assert "'primary-checkpoints-key'" in response.diagnostics[0].message
