"""Run the pack without the Pulumi CLI, against a program run under Pulumi mocks.

``policy_resources(run)`` turns ``infra.mockrun`` registrations into the objects
pulumi_policy builds from the engine's requests: ``PolicyResource`` with the resource's
outputs (stack validations see final state, as under the engine), options, provider,
parent and dependencies, all wrapped in pulumi_policy's unknown-checking proxies. Resource
validations get ``ResourceValidationArgs`` with the inputs. ``run_pack`` evaluates every
policy with the enforcement level a policy config file would give it and collects violations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

from pulumi import runtime
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from infra.policy.pack import DEFAULT_ENFORCEMENT, POLICIES

PolicyConfig = Mapping[str, Union[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement_level: EnforcementLevel
    message: str
    urn: Optional[str]


def _options(registration: Any) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        registration.protect,
        list(registration.ignore_changes),
        None,
        [],
        PolicyCustomTimeouts(0, 0, 0),
        [],
        registration.parent or None,
    )


def _providers(run: Any) -> dict[str, PolicyProviderResource]:
    return {
        r.urn: PolicyProviderResource(r.type, unknown_checking_proxy(dict(r.inputs)), r.urn, r.name)
        for r in run.registrations
        if r.type.startswith("pulumi:providers:")
    }


def policy_resources(run: Any) -> list[PolicyResource]:
    """Every registered resource as AnalyzeStack receives it (props are the outputs)."""
    providers = _providers(run)
    resources: dict[str, PolicyResource] = {}
    for r in run.registrations:
        state = dict(r.state)
        if r.custom and r.id is not None:
            state.setdefault("id", r.id)  # bridged providers return the id among the outputs
        resources[r.urn] = PolicyResource(
            r.type, unknown_checking_proxy(state), r.urn, r.name, _options(r), providers.get(r.provider_urn), None, [], {}
        )
    for r in run.registrations:
        resource = resources[r.urn]
        resource.parent = resources.get(r.parent)
        resource.dependencies.extend(resources[d] for d in r.dependencies if d in resources)
    return list(resources.values())


def resource_args(run: Any, registration: Any, config: Optional[Mapping[str, Any]] = None) -> ResourceValidationArgs:
    """What Analyze passes a resource validation for one registration (props are the inputs)."""
    return _resource_args(registration, _providers(run), config)


def _resource_args(
    registration: Any, providers: Mapping[str, PolicyProviderResource], config: Optional[Mapping[str, Any]]
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        registration.type,
        unknown_checking_proxy(dict(registration.inputs)),
        registration.urn,
        registration.name,
        _options(registration),
        providers.get(registration.provider_urn),
        dict(config) if config else None,
    )


def _level_and_properties(policy: Policy, config: PolicyConfig) -> tuple[EnforcementLevel, dict[str, Any]]:
    """Resolve a policy config file as the CLI does: per-policy entry over "all" over the default."""
    level = policy.enforcement_level or DEFAULT_ENFORCEMENT
    properties: dict[str, Any] = {}
    for key in ("all", policy.name):
        entry = config.get(key)
        if isinstance(entry, str):
            level = EnforcementLevel(entry)
        elif isinstance(entry, Mapping):
            if "enforcementLevel" in entry:
                level = EnforcementLevel(entry["enforcementLevel"])
            if key == policy.name:
                properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
    return level, properties


def _collector(violations: list[Violation], policy: Policy, level: EnforcementLevel, urn: Optional[str] = None):
    def report_violation(message: str, reported_urn: Optional[str] = None) -> None:
        violations.append(Violation(policy.name, level, message, urn or reported_urn))

    return report_violation


def run_pack(
    run: Any,
    *,
    config: Optional[PolicyConfig] = None,
    policies: Sequence[Policy] = POLICIES,
) -> list[Violation]:
    """Every violation the pack reports for ``run`` (a ``ProgramRun``), as ``pulumi preview`` would.

    The stack's config is made visible to the policies the way the CLI passes it to a policy
    pack (``pulumi.runtime`` config), and cleared afterwards.
    """
    config = config or {}
    violations: list[Violation] = []
    custom = [r for r in run.registrations if r.custom and not r.type.startswith("pulumi:providers:")]
    providers = _providers(run)
    runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in run.config.items()}, [])
    try:
        for policy in policies:
            level, properties = _level_and_properties(policy, config)
            if level == EnforcementLevel.DISABLED:
                continue

            if isinstance(policy, StackValidationPolicy):
                policy.validate(
                    StackValidationArgs(policy_resources(run), properties or None),
                    _collector(violations, policy, level),
                )
            elif isinstance(policy, ResourceValidationPolicy):
                for registration in custom:
                    # Under the engine a resource validation's violations always carry its URN.
                    policy.validate(
                        _resource_args(registration, providers, properties),
                        _collector(violations, policy, level, urn=registration.urn),
                    )
    finally:
        runtime.set_all_config({}, [])
    return violations
